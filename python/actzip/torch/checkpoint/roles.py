# SPDX-License-Identifier: Apache-2.0
"""What each tensor of a state is, and so how it is stored.

- ``value``: parameters, buffers and any floating tensor without a role: a bound
  relative to the tensor's value range, ``|x' - x| <= bound * (max - min)``.
- ``exp_avg_sq``: an Adam-family second moment v (``exp_avg_sq``,
  ``max_exp_avg_sq``). The update divides by ``sqrt(v) + eps``, so what matters is
  that denominator's *relative* error. It is stored as ``log(1 + sqrt(v) / floor)``
  (``log(sqrt(v) + floor)`` shifted so that zeros stay zeros) with an absolute bound b,
  so ``(sqrt(v') + floor) / (sqrt(v) + floor)`` lies in ``[exp(-b), exp(b)]`` for every
  element, small ones included.
- ``exp_avg``: the first moment m of the same parameter, stored divided by the
  reconstructed denominator ``sqrt(v') + floor`` with an absolute bound b, so
  ``|m' - m| <= b * (sqrt(v') + floor)``: each element's next update moves by at most
  b of Adam's unit step (the error then decays as beta1^k).
- ``exact``: integers, booleans, other types, floating tensors with fewer than
  ``min_numel`` elements, and optimizer state this module has no rule for.

``floor`` is the optimizer's eps times ``sqrt(1 - beta2^step)``: with bias
correction, Adam's denominator is ``(sqrt(v) + floor) / sqrt(1 - beta2^step)``, so
the bound holds for the denominator the optimizer really uses. It is read from the
optimizer state dict (``param_groups``: ``eps``, ``betas``; the parameter's ``step``);
moments found outside one use ``DEFAULT_EPS``.
"""
from __future__ import annotations

import math

import torch

LOSSY_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
DEFAULT_EPS = 1e-8
#: The smallest floor: keeps sqrt(v) / floor and m / (sqrt(v') + floor) finite.
MIN_FLOOR = 1e-30
#: Names of the optimizer state kept with the same bound as parameters (a numerator
#: of the update, like the weights).
VALUE_STATE = ("momentum_buffer",)
SECOND_MOMENTS = ("exp_avg_sq", "max_exp_avg_sq")


def assign(leaves, state, *, min_numel, moments):
    """A dict per leaf index: {"role": ..., "floor": float, "scale": index of the
    exp_avg_sq leaf (exp_avg only)}."""
    by_id = {}
    for i, (value, _) in enumerate(leaves):
        by_id.setdefault(id(value), i)
    roles = [None] * len(leaves)

    def lossy_ok(t):
        return isinstance(t, torch.Tensor) and t.dtype in LOSSY_DTYPES and t.numel() >= min_numel

    if moments == "adam":
        for owner, key, param_state in _optimizer_states(state):
            if not isinstance(param_state, dict):
                continue
            group = _group_of(owner, key)
            floor = _floor(group, param_state)
            for name, value in param_state.items():
                i = by_id.get(id(value))
                if i is None or roles[i] is not None:
                    continue
                if not lossy_ok(value):
                    roles[i] = {"role": "exact"}
                elif name in SECOND_MOMENTS and _non_negative(value):
                    roles[i] = {"role": "exp_avg_sq", "floor": floor}
                elif name == "exp_avg":
                    v = param_state.get("exp_avg_sq")
                    j = by_id.get(id(v))
                    if (j is not None and lossy_ok(v) and v.shape == value.shape and v.dtype == value.dtype
                            and _non_negative(v)):
                        roles[i] = {"role": "exp_avg", "floor": floor, "scale": j}
                    else:
                        roles[i] = {"role": "value"}
                elif name in VALUE_STATE:
                    roles[i] = {"role": "value"}
                else:
                    roles[i] = {"role": "exact"}  # no rule for it: kept as it is
    for i, (value, _) in enumerate(leaves):
        if roles[i] is None:
            roles[i] = {"role": "value"} if lossy_ok(value) else {"role": "exact"}
    # An exp_avg whose exp_avg_sq lost its role (shared with another place) is a value.
    for r in roles:
        if r["role"] == "exp_avg" and roles[r["scale"]]["role"] != "exp_avg_sq":
            r.clear()
            r["role"] = "value"
    return roles


def _optimizer_states(state, depth=0):
    """(optimizer state dict, parameter key, that parameter's state) for every
    optimizer state dict in ``state`` ({"state": {...}, "param_groups": [...]}), and
    (None, None, d) for other dicts holding both Adam moments."""
    if depth > 64:
        return
    if isinstance(state, dict):
        inner = state.get("state")
        if isinstance(inner, dict) and isinstance(state.get("param_groups"), list):
            for key, param_state in inner.items():
                yield state, key, param_state
            return
        if isinstance(state.get("exp_avg"), torch.Tensor) and isinstance(state.get("exp_avg_sq"), torch.Tensor):
            yield None, None, state
            return
        for value in state.values():
            yield from _optimizer_states(value, depth + 1)
    elif isinstance(state, (list, tuple)):
        for value in state:
            yield from _optimizer_states(value, depth + 1)


def _group_of(owner, key):
    if owner is None:
        return None
    for group in owner["param_groups"]:
        if isinstance(group, dict) and key in group.get("params", ()):
            return group
    return None


def _number(value):
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.item())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _floor(group, param_state):
    eps = _number(group.get("eps")) if group else None
    if eps is None:
        eps = DEFAULT_EPS
    betas = group.get("betas") if group else None
    step = _number(param_state.get("step"))
    beta2 = _number(betas[1]) if isinstance(betas, (list, tuple)) and len(betas) == 2 else None
    floor = eps
    if step is not None and beta2 is not None and step >= 1 and 0 <= beta2 < 1:
        floor = eps * math.sqrt(1.0 - beta2 ** step)
    return max(floor, MIN_FLOOR) if math.isfinite(floor) else DEFAULT_EPS


def _non_negative(t):
    return not bool((t < 0).any())
