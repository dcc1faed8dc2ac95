# SPDX-License-Identifier: Apache-2.0
"""A torch.distributed.checkpoint (DCP) storage writer and reader that store each
rank's items as one actzip checkpoint (PyTorch 2.x).

    import torch.distributed.checkpoint as dcp
    from actzip.torch.checkpoint import StorageReader, StorageWriter
    dcp.save(state, storage_writer=StorageWriter("ckpt/step-1000"))
    dcp.save(state, storage_writer=StorageWriter("ckpt/step-1200", base="ckpt/step-1000"))
    dcp.load(state, storage_reader=StorageReader("ckpt/step-1200"))

A checkpoint is a directory: ``__<i>.azc``, the items the i-th rank wrote (its shards
of sharded tensors, its tensors and DCP's serialized non-tensor values) in one
container each, and ``.metadata.json``, DCP's metadata (the global plan) as JSON,
written by the coordinator last and atomically. With ``base``, each rank's file is a
delta against the same rank's file of the base directory (deltas need the same world
size as their base; loading may use any). Floating items get the bounds of
``checkpoint.save`` (keyword arguments), and optimizer items whose names end in
``exp_avg`` / ``exp_avg_sq`` (DCP's flattened optimizer state) the moments' transforms
with ``eps`` (and ``betas`` when given, for Adam's bias correction) as the optimizer's:
pass your optimizer's.
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import uuid
import torch

try:
    from torch.distributed import checkpoint as _dcp
    from torch.distributed.checkpoint.metadata import (BytesStorageMetadata, ChunkStorageMetadata, Metadata,
                                                       MetadataIndex, TensorProperties, TensorStorageMetadata)
    from torch.distributed.checkpoint.planner import LoadItemType, WriteItemType
    from torch.distributed.checkpoint.storage import WriteResult
except ImportError as error:  # PyTorch without torch.distributed.checkpoint (1.13)
    raise ImportError(f"actzip.torch.checkpoint's storage writer needs torch.distributed.checkpoint (PyTorch 2.x); "
                      f"this is PyTorch {torch.__version__}: use checkpoint.save on a full state dict instead") \
        from error

from . import api
from .container import CheckpointError
from .roles import DEFAULT_EPS, SECOND_MOMENTS
from .tree import Encoder, decode

METADATA = ".metadata.json"
_MOMENTS = ("exp_avg",) + SECOND_MOMENTS


def _key(index):
    """An item's name in its file: its fully qualified name and, for a shard, its offset."""
    return index.fqn if index.offset is None else f"{index.fqn}@{','.join(str(int(o)) for o in index.offset)}"


def _done(value):
    future = torch.futures.Future()
    future.set_result(value)
    return future


def _rank_file(index):
    return f"__{index}.azc"


class StorageWriter(_dcp.StorageWriter):
    """Writes a DCP checkpoint to directory ``path`` with actzip checkpoints.

    ``base``: the directory of an earlier checkpoint written by this writer (deltas);
    ``eps``, ``betas``: the optimizer's (the moments' floor); other keyword arguments go
    to ``checkpoint.save`` (bound, exp_avg_bound, exp_avg_sq_bound, codec, min_numel,
    moments)."""

    def __init__(self, path, *, base=None, eps=DEFAULT_EPS, betas=None, **save_kwargs):
        super().__init__()
        self.path = os.fspath(path)
        self.base = None if base is None else os.fspath(base)
        self.eps, self.betas = eps, betas
        self.save_kwargs = save_kwargs
        self.save_id = uuid.uuid4().hex
        self.is_coordinator = False

    def reset(self, checkpoint_id=None):
        if checkpoint_id:
            self.path = os.fspath(checkpoint_id)
        self.save_id = uuid.uuid4().hex

    def set_up_storage_writer(self, is_coordinator, *args, **kwargs):
        self.is_coordinator = is_coordinator

    def prepare_local_plan(self, plan):
        os.makedirs(self.path, exist_ok=True)
        return plan

    def prepare_global_plan(self, plans):
        return [dataclasses.replace(plan, storage_data=i) for i, plan in enumerate(plans)]

    def write_data(self, plan, planner):
        name = _rank_file(plan.storage_data)
        tensors, blobs, moments, by_fqn = {}, {}, {}, {}
        results = []
        for item in plan.items:
            key = _key(item.index)
            data = planner.resolve_data(item)
            if item.type == WriteItemType.BYTE_IO:
                blobs[key] = bytes(data.getbuffer())
                size = len(blobs[key])
            else:
                t = data.detach()
                size = t.numel() * t.element_size()
                fqn = item.index.fqn
                head, _, leaf = fqn.rpartition(".")
                if leaf in _MOMENTS and head:
                    moments.setdefault(head + key[len(fqn):], {})[leaf] = t
                else:
                    tensors[key] = by_fqn[fqn] = t
            results.append(WriteResult(index=item.index, size_in_bytes=size,
                                       storage_data={"file": name, "key": key}))
        for group_key, group in moments.items():
            step = by_fqn.get(group_key.split("@")[0] + ".step")
            if step is not None:
                group["step"] = step  # the same tensor: one record, for the floor's bias correction
        # An optimizer-shaped dict, so that the moments get their roles and the floor.
        group = {"params": list(moments), "eps": self.eps}
        if self.betas is not None:
            group["betas"] = tuple(self.betas)
        state = {"tensors": tensors, "bytes": blobs,
                 "moments": {"state": moments, "param_groups": [group]}}
        base = None
        if self.base is not None and os.path.exists(os.path.join(self.base, name)):
            base = os.path.join(self.base, name)
        api.save(state, os.path.join(self.path, name), base=base, **self.save_kwargs)
        return _done(results)

    def finish(self, metadata, results):
        storage = {}
        for rank_results in results:
            for r in rank_results:
                storage[r.index] = r.storage_data
        body = _metadata_json(metadata, storage)
        temp = os.path.join(self.path, f".{METADATA}.{uuid.uuid4().hex[:12]}.partial")
        with open(temp, "w", encoding="utf-8") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, os.path.join(self.path, METADATA))

    def storage_meta(self):
        from torch.distributed.checkpoint.metadata import StorageMeta
        return StorageMeta(checkpoint_id=self.path, save_id=self.save_id)

    @classmethod
    def validate_checkpoint_id(cls, checkpoint_id):
        return isinstance(checkpoint_id, (str, os.PathLike))


class StorageReader(_dcp.StorageReader):
    """Reads a DCP checkpoint that StorageWriter wrote to directory ``path`` (any world
    size: each rank decodes the files that hold the items it asks for)."""

    def __init__(self, path, map_location="cpu"):
        super().__init__()
        self.path = os.fspath(path)
        self.map_location = map_location
        self.storage_data = None

    def reset(self, checkpoint_id=None):
        if checkpoint_id:
            self.path = os.fspath(checkpoint_id)

    def read_metadata(self, *args, **kwargs):
        where = os.path.join(self.path, METADATA)
        try:
            with open(where, encoding="utf-8") as f:
                return _metadata_of(json.load(f))
        except (ValueError, KeyError, TypeError, IndexError) as error:
            raise CheckpointError(f"{where}: not the metadata of an actzip DCP checkpoint ({error})") from None

    def set_up_storage_reader(self, metadata, is_coordinator, *args, **kwargs):
        self.storage_data = metadata.storage_data

    def prepare_local_plan(self, plan):
        return plan

    def prepare_global_plan(self, plans):
        return plans

    def read_data(self, plan, planner):
        by_file = {}
        for item in plan.items:
            info = self.storage_data[item.storage_index]
            by_file.setdefault(info["file"], []).append((item, info["key"]))
        for name, items in by_file.items():
            if os.path.basename(name) != name:
                raise CheckpointError(f"{self.path}: the metadata names a file outside the checkpoint: {name!r}")
            state = api.load(os.path.join(self.path, name), map_location=self.map_location)
            found = dict(state["tensors"])
            found.update(state["bytes"])
            for group_key, group in state["moments"]["state"].items():
                head, at, offset = group_key.partition("@")
                for leaf, t in group.items():
                    if leaf != "step":
                        found[f"{head}.{leaf}{at}{offset}"] = t
            for item, key in items:
                if key not in found:
                    raise CheckpointError(f"{os.path.join(self.path, name)}: item {key!r} is missing")
                value = found[key]
                if item.type == LoadItemType.BYTE_IO:
                    planner.load_bytes(item, io.BytesIO(value))
                    continue
                for dim, (offset, length) in enumerate(zip(item.storage_offsets, item.lengths)):
                    value = value.narrow(dim, int(offset), int(length))
                target = planner.resolve_tensor(item).detach()
                if target.shape != value.shape:
                    raise CheckpointError(f"{self.path}: item {key!r} has shape {tuple(value.shape)}, the plan "
                                          f"asks for {tuple(target.shape)}")
                target.copy_(value)
                planner.commit_tensor(item, target)
        return _done(None)

    @classmethod
    def validate_checkpoint_id(cls, checkpoint_id):
        return isinstance(checkpoint_id, (str, os.PathLike))


def _dtype_name(dtype):
    return str(dtype)[len("torch."):]


def _metadata_json(metadata, storage):
    entries = {}
    for fqn, md in metadata.state_dict_metadata.items():
        if isinstance(md, BytesStorageMetadata):
            entries[fqn] = {"type": "bytes"}
        else:
            entries[fqn] = {"type": "tensor", "dtype": _dtype_name(md.properties.dtype),
                            "requires_grad": bool(md.properties.requires_grad), "size": list(md.size),
                            "chunks": [{"offsets": list(c.offsets), "sizes": list(c.sizes)} for c in md.chunks]}
    planner = Encoder()
    planner_data = planner.encode(metadata.planner_data)
    if planner.leaves:
        raise TypeError("StorageWriter: the planner's data holds tensors or arrays")
    return json.dumps({
        "format": "actzip.dcp", "version": 1, "dcp_version": getattr(metadata, "version", None),
        "state_dict_metadata": entries, "planner_data": planner_data,
        "storage_data": [{"fqn": i.fqn, "offset": None if i.offset is None else list(i.offset), "index": i.index,
                          "file": d["file"], "key": d["key"]} for i, d in storage.items()],
    })


def _metadata_of(doc):
    if doc.get("format") != "actzip.dcp" or doc.get("version") != 1:
        raise ValueError("unknown format or version")
    entries = {}
    for fqn, e in doc["state_dict_metadata"].items():
        if e["type"] == "bytes":
            entries[fqn] = BytesStorageMetadata()
            continue
        dtype = getattr(torch, e["dtype"])
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"unknown dtype {e['dtype']!r}")
        entries[fqn] = TensorStorageMetadata(
            properties=TensorProperties(dtype=dtype, requires_grad=bool(e["requires_grad"])),
            size=torch.Size(e["size"]),
            chunks=[ChunkStorageMetadata(offsets=torch.Size(c["offsets"]), sizes=torch.Size(c["sizes"]))
                    for c in e["chunks"]])
    storage = {}
    for s in doc["storage_data"]:
        index = MetadataIndex(fqn=s["fqn"], offset=None if s["offset"] is None else torch.Size(s["offset"]),
                              index=s["index"])
        storage[index] = {"file": str(s["file"]), "key": str(s["key"])}
    metadata = Metadata(state_dict_metadata=entries, planner_data=decode(doc["planner_data"], [], []),
                        storage_data=storage)
    if doc.get("dcp_version") is not None:
        metadata.version = doc["dcp_version"]
    return metadata
