# SPDX-License-Identifier: Apache-2.0
"""Error-bounded training checkpoints: model and optimizer state, full or as deltas
against an earlier checkpoint's reconstruction.

    from actzip.torch import checkpoint as ckpt
    state = {"model": model.state_dict(), "optim": opt.state_dict(), "step": step,
             "rng": torch.get_rng_state()}
    ckpt.save(state, "ckpt-1000.azc")                           # full
    ckpt.save(state, "ckpt-1200.azc", base="ckpt-1000.azc")     # delta
    state = ckpt.load("ckpt-1200.azc")                          # resolves the chain

Floating tensors are stored within a bound (relative to each tensor's value range;
Adam's moments through transforms that bound what their errors do to the update, see
``roles``); everything else exactly. A delta stores the difference from the base's
*reconstruction*, so errors never accumulate along a chain. One file per checkpoint
(a JSON manifest and one actzip stream per tensor, docs/CHECKPOINT.md), written
atomically, read without pickle; a damaged or truncated file, or a missing or wrong
base, raises CheckpointError.

The modules, by job: ``container`` (the file: atomic writes, checked reads), ``tree``
(Python values as JSON), ``roles`` (what each tensor is and how it is bounded),
``records`` (one tensor as one record: exact, lossy, delta), ``api`` (save, load,
inspect, verify) and ``distributed`` (a torch.distributed.checkpoint storage writer
and reader, PyTorch 2.x).
"""
from .api import (DEFAULT_BOUND, DEFAULT_CODEC, DEFAULT_EXP_AVG_BOUND, DEFAULT_EXP_AVG_SQ_BOUND, DEFAULT_MIN_NUMEL,
                  inspect, load, save, verify)
from .container import BaseCheckpointError, CheckpointError

__all__ = [
    "save", "load", "inspect", "verify", "CheckpointError", "BaseCheckpointError", "DEFAULT_BOUND",
    "DEFAULT_EXP_AVG_BOUND", "DEFAULT_EXP_AVG_SQ_BOUND", "DEFAULT_MIN_NUMEL", "DEFAULT_CODEC",
]


def __getattr__(name):
    # The DCP storage writer and reader import torch.distributed.checkpoint (PyTorch 2.x)
    # only when they are asked for.
    if name in ("StorageWriter", "StorageReader"):
        from . import distributed
        return getattr(distributed, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
