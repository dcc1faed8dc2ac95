# SPDX-License-Identifier: Apache-2.0
"""Roles: what the backward pass does with a saved tensor, found where it is saved.

A tensor autograd saves belongs to one autograd node (the backward of the op that
saved it) under one name: ``MmBackward0`` saves ``self`` and ``mat2``,
``SoftmaxBackward0`` its ``result``, a custom ``autograd.Function`` its
``saved_tensors``. That pair, the save's *kind* (``"MmBackward.self"``), says what
the backward formula reads, whatever Python code ran the op: the attention inside
``F.multi_head_attention_forward``, the ``log_softmax`` inside ``F.cross_entropy``, a
GELU written out from ``pow`` and ``tanh``. ``NODE_ROLES`` maps kinds to the roles
docs/POLICIES.md derives bounds for; every other floating-point kind is ``unknown``
and gets a measured bound (sensitivity.py). tracing.py finds the kind of each save.

Module types still matter for two things: the layer statistics of convolutions and
linear layers (the adaptive policy's feedback), and ``roles=`` overrides, which give
every save made inside a module of that type a role.
"""
import math
import re

import torch
from torch import nn

LINEAR_INPUT = "linear_input"
MASK = "mask"
RELU_OUTPUT = "relu_output"
NORM_INPUT = "norm_input"
VALUE_FREE = "value_free"
SOFTMAX_OUTPUT = "softmax_output"
NONLINEAR = "nonlinear"
EXACT = "exact"
#: Integer and boolean tensors (indices, masks): stored losslessly (bits, or the
#: narrowest integer type that holds their values).
INDEX = "index"
#: A floating-point kind outside NODE_ROLES: compressed at the bound its measured
#: sensitivity allows (sensitivity.py).
UNKNOWN = "unknown"

#: Every role a save can have.
ROLES = (LINEAR_INPUT, MASK, RELU_OUTPUT, NORM_INPUT, VALUE_FREE, SOFTMAX_OUTPUT, NONLINEAR, EXACT, INDEX, UNKNOWN)

#: The role each adapter role is given to the policy as (``actzip.TensorRole``).
POLICY_ROLE = {LINEAR_INPUT: "linear_input", MASK: "mask", RELU_OUTPUT: "mask", NORM_INPUT: "other",
               VALUE_FREE: "other", SOFTMAX_OUTPUT: "other", NONLINEAR: "other", UNKNOWN: "other"}
#: Which member of a group sets the bound: the most sensitive role first.
PRIORITY = {LINEAR_INPUT: 0, UNKNOWN: 1, SOFTMAX_OUTPUT: 1, NONLINEAR: 1, NORM_INPUT: 1, MASK: 2, RELU_OUTPUT: 2,
            VALUE_FREE: 3, INDEX: 4, EXACT: 5}


def _table():
    roles = {}

    def add(nodes, names, role):
        for node in nodes.split():
            for name in names.split():
                roles[f"{node}.{name}"] = role

    # Matrix products and convolutions: a saved operand enters only the other operand's
    # gradient (dB = A^T G), linearly.
    add("MmBackward BmmBackward", "self mat2", LINEAR_INPUT)
    add("AddmmBackward", "mat1 mat2", LINEAR_INPUT)
    add("BaddbmmBackward AddbmmBackward", "batch1 batch2", LINEAR_INPUT)
    add("ConvolutionBackward MkldnnConvolutionBackward CudnnConvolutionBackward SlowConv2DBackward "
        "ConvDepthwise2DBackward", "input self", LINEAR_INPUT)
    add("MkldnnLinearBackward", "self", LINEAR_INPUT)
    # Activations whose backward reads only a sign or a comparison.
    add("ReluBackward", "result", RELU_OUTPUT)
    add("ThresholdBackward LeakyReluBackward", "self", MASK)
    # Softmax over a row: y * (g - <g, y>).
    add("SoftmaxBackward SafeSoftmaxBackward", "result", SOFTMAX_OUTPUT)
    # Smooth activations: the gradient moves by at most max|f''| * e of its own size.
    add("GeluBackward SiluBackward MishBackward EluBackward SoftplusBackward HardswishBackward", "self", NONLINEAR)
    add("TanhBackward SigmoidBackward EluBackward", "result", NONLINEAR)
    # Normalisation inputs (their per-row statistics are exact).
    add("NativeLayerNormBackward NativeBatchNormBackward NativeGroupNormBackward CudnnBatchNormBackward "
        "MiopenBatchNormBackward FusedRmsNormBackward RmsNormBackward", "input", NORM_INPUT)
    add("NativeLayerNormBackward FusedRmsNormBackward RmsNormBackward", "result1 result2", EXACT)
    add("NativeBatchNormBackward CudnnBatchNormBackward NativeGroupNormBackward", "result1 result2 result3 "
        "running_mean running_var save_mean save_invstd", EXACT)
    # The backward reads the input's shape (and the saved indices), never its values.
    add("MaxPool1DWithIndicesBackward MaxPool2DWithIndicesBackward MaxPool3DWithIndicesBackward "
        "AvgPool2DBackward AvgPool3DBackward AdaptiveAvgPool2DBackward AdaptiveAvgPool3DBackward "
        "AdaptiveMaxPool2DBackward AdaptiveMaxPool3DBackward NllLossBackward NllLoss2DBackward", "self", VALUE_FREE)
    return roles


#: {kind: role} for kinds "<node name without its number>.<saved name>" whose
#: backward formula docs/POLICIES.md derives a bound for. Kinds outside it are
#: ``unknown`` when floating point.
NODE_ROLES = _table()

#: Role of every save made inside a module of a type, by module type: ``linear``
#: marks the layers whose weight-gradient statistics feed the adaptive policy; the
#: entries a user passes as ``roles=`` (``"linear"``, ``"norm"``, ``"mask"``,
#: ``"value_free"``, ``"exact"``) override the kinds' roles of the saves made inside.
DEFAULT_ROLES = {nn.Conv1d: "linear", nn.Conv2d: "linear", nn.Conv3d: "linear", nn.Linear: "linear"}
#: Roles a ``roles=`` entry may give.
MODULE_ROLES = ("linear", "norm", MASK, RELU_OUTPUT, VALUE_FREE, EXACT)

# Nodes that are views or casts of their input: a saved tensor reached from a
# parameter through these alone is the parameter (autocast's weight copies,
# transposed weights, .to() copies) and is kept exact.
_VIEW_OR_CAST = frozenset(
    "ToCopyBackward TBackward ViewBackward UnsafeViewBackward ReshapeAliasBackward PermuteBackward TransposeBackward "
    "ExpandBackward AsStridedBackward SliceBackward SelectBackward UnsqueezeBackward SqueezeBackward CloneBackward "
    "AliasBackward DetachBackward NarrowBackward CopyBackwards ContiguousBackward UnbindBackward SplitBackward "
    "SplitWithSizesBackward ChunkBackward IndexSelectBackward ValuesBackward UnfoldBackward MkldnnReorderBackward "
    "ViewAsRealBackward ViewAsComplexBackward ConjBackward NegViewBackward _ToCopyBackward".split())
_NUMBER = re.compile(r"\d+$")


def node_name(node):
    """A node's name without its trailing number (``MmBackward0`` -> ``MmBackward``)."""
    return _NUMBER.sub("", node.name())


def kind_role(kind, dtype):
    """The role of a save of this kind and dtype."""
    if not dtype.is_floating_point:
        return INDEX
    return NODE_ROLES.get(kind, UNKNOWN)


def parameter_derived(t, parameters):
    """Whether `t` is a parameter seen through views and casts only: its grad_fn chain
    of view/cast nodes ends at the AccumulateGrad of a tensor in `parameters` (a set
    of ids). Autocast's bf16/fp16 copies of a weight, its transpose, a .to() copy."""
    node = t.grad_fn
    for _ in range(16):
        if node is None:
            return False
        name = type(node).__name__
        if name == "AccumulateGrad":
            return id(node.variable) in parameters
        if _NUMBER.sub("", node.name()) not in _VIEW_OR_CAST:
            return False
        edges = [n for n, _ in node.next_functions if n is not None]
        if len(edges) != 1:
            return False
        node = edges[0]
    return False


#: Ops whose output is a view or a cast of their first input (aten overload packet
#: names): with a parameter (or its view or cast) as that input, the output is
#: parameter-derived too. What tracing.py uses for tensors without a grad_fn
#: (weights that do not require grad).
VIEW_OR_CAST_OPS = frozenset(
    "_to_copy to clone contiguous t transpose permute view reshape _unsafe_view _reshape_alias expand detach alias "
    "slice select unsqueeze squeeze as_strided narrow lift_fresh _to_dense numpy_T mT mH adjoint unfold split "
    "split_with_sizes chunk unbind view_as_real view_as_complex _conj _neg_view conj resolve_conj resolve_neg "
    "expand_as reshape_as view_as".split())


def contracted_length(kind, tensor, node=None):
    """fan_in of a saved linear input: the length its product sums over (C_in/groups
    * prod(kernel) for a convolution, read from the node's saved weight)."""
    if kind.startswith(("ConvolutionBackward", "MkldnnConvolution", "CudnnConvolution", "SlowConv2D",
                        "ConvDepthwise2D")):
        weight = getattr(node, "_saved_weight", None) if node is not None else None
        return int(math.prod(weight.shape[1:])) if isinstance(weight, torch.Tensor) and weight.dim() > 1 else 0
    if tensor.dim() == 0:
        return 0
    name = kind.rsplit(".", 1)[-1]
    # The second operand of a product (mat2, batch2) contracts over its rows.
    if name in ("mat2", "batch2") and tensor.dim() >= 2:
        return int(tensor.shape[-2])
    return int(tensor.shape[-1])


def fan_in(module):
    """C_in/groups * prod(kernel) for a convolution, in_features for a linear layer, else 0."""
    if isinstance(module, nn.Linear):
        return int(module.in_features)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return int(module.in_channels // module.groups * math.prod(module.kernel_size))
    return 0
