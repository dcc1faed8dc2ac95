# SPDX-License-Identifier: Apache-2.0
"""The nested Python structure of a state (dicts, lists, numbers, tensors) as JSON,
without pickle, so that reading a checkpoint never runs code.

Every value becomes a JSON node: ``null``, ``true``/``false``, JSON integers and
strings stand for themselves; everything else is a one-key object:

    {"f": "0x1.8p+1"}                   float (exact: float.hex, also inf and nan)
    {"list": [...]}, {"tuple": [...]}   sequences
    {"dict": [[key, value], ...]}       dict (keys are nodes: str, int, float, tuple, ...)
    {"odict": [[key, value], ...], "metadata": node}
                                        OrderedDict; "metadata" holds a state_dict's
                                        ``_metadata`` (module versions) when it has one
    {"tensor": i}                       record i of the manifest (torch.Tensor)
    {"parameter": i, "requires_grad": b} the same as an nn.Parameter
    {"ndarray": i}, {"npscalar": i}     record i as a numpy array or numpy scalar
    {"bytes": "<base64>"}, {"dtype": "float32"}, {"size": [..]}, {"device": "cpu"}

A tensor reached twice (the same storage, offset, shape, strides and dtype, as a tied
embedding and output layer) is one record, and both places get the same tensor back.
"""
from __future__ import annotations

import base64
import collections

import numpy as np
import torch

from .container import CheckpointError

MAX_DEPTH = 200


def _path_text(path):
    return "state" + "".join(f"[{k!r}]" for k in path)


class Encoder:
    """Turns a state into a node tree and a list of leaves (tensors and numpy arrays) to
    be stored as records."""

    def __init__(self):
        self.leaves = []      # [(tensor or ndarray, path)]
        self.names = []       # a readable, unique name per leaf
        self._seen = {}       # sharing key -> leaf index
        self._taken = set()

    def encode(self, value, path=()):
        if len(path) > MAX_DEPTH:
            raise ValueError(f"checkpoint.save: {_path_text(path[:5])}...: nested deeper than {MAX_DEPTH} levels "
                             "(a cycle?)")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and type(value) is int:
            return value
        if isinstance(value, float) and type(value) is float:
            return {"f": value.hex()}
        if isinstance(value, torch.Tensor):
            return self._tensor(value, path)
        if isinstance(value, np.ndarray):
            return {"ndarray": self._leaf(value, path, None)}
        if isinstance(value, np.generic):
            return {"npscalar": self._leaf(np.asarray(value), path, None)}
        if isinstance(value, (bytes, bytearray)):
            return {"bytes": base64.b64encode(bytes(value)).decode("ascii")}
        if isinstance(value, torch.dtype):
            return {"dtype": str(value)[len("torch."):]}
        if isinstance(value, torch.Size):
            return {"size": [int(d) for d in value]}
        if isinstance(value, torch.device):
            return {"device": str(value)}
        if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
            items = [self.encode(v, path + (i,)) for i, v in enumerate(value)]
            return {"list": items} if isinstance(value, list) else {"tuple": items}
        if isinstance(value, dict):
            items = [[self._key(k, path), self.encode(v, path + (k,))] for k, v in value.items()]
            if isinstance(value, collections.OrderedDict):
                node = {"odict": items}
                metadata = getattr(value, "_metadata", None)
                if metadata is not None:
                    node["metadata"] = self.encode(metadata, path + ("_metadata",))
                return node
            return {"dict": items}
        raise TypeError(f"checkpoint.save: cannot store {type(value).__module__}.{type(value).__qualname__} at "
                        f"{_path_text(path)}: a checkpoint holds tensors, numpy arrays, None, bool, int, float, "
                        "str, bytes, lists, tuples, dicts, torch dtypes, sizes and devices (nothing is pickled, so "
                        "the file is safe to read)")

    def _key(self, key, path):
        if isinstance(key, (torch.Tensor, np.ndarray, dict, list)):
            raise TypeError(f"checkpoint.save: a dict key at {_path_text(path)} is a {type(key).__name__}")
        return self.encode(key, path + ("<key>",))

    def _tensor(self, t, path):
        if type(t) not in (torch.Tensor, torch.nn.Parameter):
            raise TypeError(f"checkpoint.save: {_path_text(path)} is a {type(t).__qualname__}; only plain tensors "
                            "and parameters are stored (a DTensor or ShardedTensor: save through "
                            "torch.distributed.checkpoint with actzip.torch.checkpoint.StorageWriter, or gather a "
                            "full state dict first)")
        if t.layout != torch.strided:
            raise TypeError(f"checkpoint.save: {_path_text(path)} has layout {t.layout} (only dense tensors)")
        if t.device.type == "meta":
            raise ValueError(f"checkpoint.save: {_path_text(path)} is on the meta device (it has no values)")
        if t.is_quantized:
            raise TypeError(f"checkpoint.save: {_path_text(path)} is a quantized tensor (not supported)")
        key = None
        if t.numel() > 0:
            key = (t.device, t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride()))
        index = self._seen.get(key) if key is not None else None
        if index is None:
            index = self._leaf(t, path, key)
        if isinstance(t, torch.nn.Parameter):
            return {"parameter": index, "requires_grad": bool(t.requires_grad)}
        return {"tensor": index}

    def _leaf(self, value, path, key):
        index = len(self.leaves)
        self.leaves.append((value, path))
        name = "/".join(str(k) for k in path) or "<root>"
        if name in self._taken:
            name = f"{name}#{index}"
        self._taken.add(name)
        self.names.append(name)
        if key is not None:
            self._seen[key] = index
        return index


class _Bad(Exception):
    pass


def decode(node, leaves, kinds):
    """The value of ``node``; ``leaves[i]`` is record i decoded (a tensor), ``kinds[i]``
    what the record holds ("tensor" or "ndarray"). Raises CheckpointError for a
    malformed tree."""
    try:
        return _decode(node, leaves, kinds, 0)
    except (_Bad, TypeError, ValueError, KeyError, IndexError, OverflowError, RecursionError) as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"damaged manifest: the state tree is malformed ({error})") from None


def _decode(node, leaves, kinds, depth):
    if depth > MAX_DEPTH + 2:
        raise _Bad("nested too deep")
    if node is None or isinstance(node, (bool, str)):
        return node
    if isinstance(node, int):
        return node
    if not isinstance(node, dict) or not node:
        raise _Bad(f"unexpected node {type(node).__name__}")
    (tag, payload), *rest = node.items()
    d = depth + 1
    if tag == "f" and not rest:
        return float.fromhex(payload)
    if tag in ("list", "tuple") and not rest:
        items = [_decode(v, leaves, kinds, d) for v in _list(payload)]
        return items if tag == "list" else tuple(items)
    if tag in ("dict", "odict"):
        out = {} if tag == "dict" else collections.OrderedDict()
        for pair in _list(payload):
            if not isinstance(pair, list) or len(pair) != 2:
                raise _Bad("a dict item is not a pair")
            key = _decode(pair[0], leaves, kinds, d)
            if isinstance(key, list):
                raise _Bad("a list as a dict key")
            out[key] = _decode(pair[1], leaves, kinds, d)
        for extra, value in rest:
            if tag != "odict" or extra != "metadata":
                raise _Bad(f"unexpected field {extra!r}")
            out._metadata = _decode(value, leaves, kinds, d)
        return out
    if tag in ("tensor", "parameter"):
        t = leaves[_index(payload, leaves)]
        if kinds[payload] != "tensor":
            raise _Bad("a tensor node names a numpy record")
        if tag == "parameter":
            fields = dict(rest)
            if set(fields) != {"requires_grad"} or not isinstance(fields["requires_grad"], bool):
                raise _Bad("a parameter node without requires_grad")
            return torch.nn.Parameter(t, requires_grad=fields["requires_grad"])
        if rest:
            raise _Bad("unexpected fields of a tensor node")
        return t
    if tag in ("ndarray", "npscalar") and not rest:
        t = leaves[_index(payload, leaves)]
        if kinds[payload] != "ndarray":
            raise _Bad("a numpy node names a tensor record")
        return t if tag == "ndarray" else t[()]
    if tag == "bytes" and not rest:
        return base64.b64decode(payload.encode("ascii"), validate=True)
    if tag == "dtype" and not rest:
        dtype = getattr(torch, payload, None) if isinstance(payload, str) else None
        if not isinstance(dtype, torch.dtype):
            raise _Bad(f"unknown dtype {payload!r}")
        return dtype
    if tag == "size" and not rest:
        return torch.Size([_count(v) for v in _list(payload)])
    if tag == "device" and not rest:
        return torch.device(payload)
    raise _Bad(f"unknown node {tag!r}")


def _list(value):
    if not isinstance(value, list):
        raise _Bad("expected a list")
    return value


def _count(value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _Bad("expected a non-negative integer")
    return value


def _index(value, leaves):
    if _count(value) >= len(leaves):
        raise _Bad(f"record {value} does not exist")
    return value
