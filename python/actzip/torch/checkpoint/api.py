# SPDX-License-Identifier: Apache-2.0
"""save, load, inspect and verify: a state as one checkpoint file, full or as a delta
against the reconstruction of an earlier one."""
from __future__ import annotations

import datetime
import math
import os
import sys
import time

import numpy as np
import torch

import actzip as _az

from . import records as _rec
from .container import BaseCheckpointError, CheckpointError, Reader, Writer, new_id
from .roles import MIN_FLOOR, assign
from .tree import Encoder, decode

#: Parameters, buffers and any floating tensor without a role: |x' - x| <= bound * (max - min).
DEFAULT_BOUND = 1e-2
#: Adam's first moment: |m' - m| <= bound * (sqrt(v') + floor), in units of Adam's step.
DEFAULT_EXP_AVG_BOUND = 0.1
#: Adam's second moment: (sqrt(v') + floor) / (sqrt(v) + floor) within exp(+-bound).
DEFAULT_EXP_AVG_SQ_BOUND = 0.1
#: Floating tensors with fewer elements are stored exactly.
DEFAULT_MIN_NUMEL = 4096
DEFAULT_CODEC = "huffman"
MAX_CHAIN = 4096
_TRANSFORMS = {"value": "identity", "exp_avg_sq": "log1p_sqrt", "exp_avg": "scaled"}
_ROLES = ("value", "exp_avg_sq", "exp_avg", "exact")


def _check_bound(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
        raise ValueError(f"checkpoint.save: {name} must be a positive number or None (exact), not {value!r}")
    return float(value)


def save(state, path, *, base=None, bound=DEFAULT_BOUND, exp_avg_bound=DEFAULT_EXP_AVG_BOUND,
         exp_avg_sq_bound=DEFAULT_EXP_AVG_SQ_BOUND, codec=DEFAULT_CODEC, min_numel=DEFAULT_MIN_NUMEL,
         moments="adam"):
    """Writes ``state`` (any nesting of dicts, lists and tuples holding tensors, numpy
    arrays and plain Python values) to ``path`` as one checkpoint, atomically.

    Floating tensors (float32, float64, float16, bfloat16) of at least ``min_numel``
    elements are stored within a bound: ``bound`` relative to each tensor's value
    range for parameters, buffers and anything without a role; Adam's moments
    (``exp_avg``, ``exp_avg_sq`` in an optimizer's state dict) with their own bounds
    (``exp_avg_bound``: in units of the element's Adam denominator; ``exp_avg_sq_bound``:
    the denominator's relative error, as a log). ``None`` stores that kind exactly.
    ``moments="plain"`` treats the moments as any other tensor (the bound relative to
    their range; not recommended). Everything else is stored exactly.

    ``base``: the path of an earlier checkpoint (full or itself a delta) of the same
    state; floating tensors are then stored as the difference from the base's
    reconstruction when that is smaller, so every reconstruction along a chain is within
    one bound of the state saved, and ``load`` needs the base at the same relative
    path. ``codec``: actzip's "huffman" (smallest), "automatic" or "bitplane" (fastest).

    Returns a dict: path, id, digest, base, depth, bytes (file size), tensor_bytes (the
    tensors' own bytes), records, seconds, and per role the tensors' and the stored bytes.
    """
    started = time.perf_counter()
    if sys.byteorder != "little":
        raise NotImplementedError("checkpoint.save: big-endian hosts are not supported")
    bounds = {"value": _check_bound("bound", bound), "exp_avg": _check_bound("exp_avg_bound", exp_avg_bound),
              "exp_avg_sq": _check_bound("exp_avg_sq_bound", exp_avg_sq_bound)}
    if codec not in _rec.CODECS:
        raise ValueError(f"checkpoint.save: codec must be one of {_rec.CODECS}, not {codec!r}")
    if moments not in ("adam", "plain"):
        raise ValueError(f"checkpoint.save: moments must be 'adam' or 'plain', not {moments!r}")
    if isinstance(min_numel, bool) or not isinstance(min_numel, int) or min_numel < 0:
        raise ValueError(f"checkpoint.save: min_numel must be a non-negative int, not {min_numel!r}")
    path = os.path.abspath(os.fspath(path))
    encoder = Encoder()
    tree = encoder.encode(state)
    roles = assign(encoder.leaves, state, min_numel=max(min_numel, 1), moments=moments)
    chain = _Chain(base) if base is not None else None
    try:
        if chain is not None:
            for reader in chain.readers:
                if os.path.exists(path) and os.path.samefile(path, reader.path):
                    raise ValueError(f"checkpoint.save: {path} is the base (or a base of the base) of this save; "
                                     "writing over it would break the chain")
        with Writer(path, new_id()) as writer:
            metas, stats = _write_leaves(writer, encoder, roles, bounds, codec, chain)
            manifest = {
                "format": "actzip.checkpoint", "version": 1, "id": writer.id.hex(),
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "library": {"actzip": _az.__version__, "torch": torch.__version__},
                "settings": {"bound": bound, "exp_avg_bound": exp_avg_bound, "exp_avg_sq_bound": exp_avg_sq_bound,
                             "codec": codec, "min_numel": min_numel, "moments": moments},
                "base": None, "depth": 0, "state": tree, "records": metas,
            }
            if chain is not None:
                top = chain.readers[0]
                try:
                    relative = os.path.relpath(top.path, os.path.dirname(path))
                except ValueError:  # another drive
                    relative = top.path
                manifest["base"] = {"id": top.id, "digest": top.digest, "path": relative}
                manifest["depth"] = len(chain.readers)
            digest = writer.commit(manifest)
    finally:
        if chain is not None:
            chain.close()
    return {"path": path, "id": manifest["id"], "digest": digest, "base": manifest["base"],
            "depth": manifest["depth"], "bytes": os.path.getsize(path), "tensor_bytes": stats["tensor_bytes"],
            "records": len(metas), "roles": stats["roles"], "seconds": time.perf_counter() - started}


def _order(scale_of):
    """Leaf indices in writing (reading) order: each exp_avg_sq just before the first
    exp_avg it scales, so that its reconstruction is held only that long."""
    order, placed = [], set()
    dependents = set(j for j in scale_of if j is not None)
    for i, j in enumerate(scale_of):
        if i in dependents:
            continue  # placed by its first exp_avg
        if j is not None and j not in placed:
            order.append(j)
            placed.add(j)
        order.append(i)
        placed.add(i)
    order += [i for i in range(len(scale_of)) if i not in placed]
    return order


def _write_leaves(writer, encoder, roles, bounds, codec, chain):
    metas = [None] * len(encoder.leaves)
    scale_of = [r["scale"] if r["role"] == "exp_avg" else None for r in roles]
    remaining = {}
    for j in scale_of:
        if j is not None:
            remaining[j] = remaining.get(j, 0) + 1
    scales = {}  # exp_avg_sq leaf -> its reconstructed domain, until its last exp_avg is written
    stats = {"tensor_bytes": 0, "roles": {}}
    for i in _order(scale_of):
        value, _ = encoder.leaves[i]
        meta, parts, domain = _encode_leaf(value, encoder.names[i], roles[i], bounds, codec, chain, scales)
        meta.update(writer.add(parts))
        metas[i] = meta
        del parts
        if i in remaining and meta.get("transform") == "log1p_sqrt":
            scales[i] = domain
        j = scale_of[i]
        if j is not None:
            remaining[j] -= 1
            if remaining[j] == 0:
                scales.pop(j, None)
        raw = int(np.prod(meta["shape"])) * _itemsize(value)
        stats["tensor_bytes"] += raw
        entry = stats["roles"].setdefault(meta["role"], {"tensors": 0, "tensor_bytes": 0, "stored_bytes": 0})
        entry["tensors"] += 1
        entry["tensor_bytes"] += raw
        entry["stored_bytes"] += meta["length"]
    return metas, stats


def _itemsize(value):
    return value.itemsize if isinstance(value, np.ndarray) else value.element_size()


def _encode_leaf(value, name, role, bounds, codec, chain, scales):
    """(manifest entry without its position, payload parts, reconstructed domain)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _rec.NUMPY_KINDS or value.dtype.hasobject:
            raise TypeError(f"checkpoint.save: numpy array {name} of dtype {value.dtype} (only bool, integer, float "
                            "and complex arrays)")
        data = value if value.flags.c_contiguous else value.copy(order="C")
        meta = {"name": name, "leaf": "ndarray", "dtype": data.dtype.str, "shape": list(data.shape),
                "role": "exact", "kind": "exact", "encoding": "raw"}
        return meta, [data.reshape(-1).view(np.uint8)], None
    t = value.detach()
    meta = {"name": name, "leaf": "tensor", "dtype": _rec.dtype_name(t.dtype), "shape": list(t.shape),
            "device": str(t.device), "role": role["role"]}
    t = t.cpu()
    kind = role["role"]
    if kind == "exp_avg" and role["scale"] not in scales:
        kind = "value"  # its exp_avg_sq is not stored through the log transform
    bound = bounds.get(kind)
    if kind != "exact" and bound is not None:
        encoded = _encode_bounded(t, name, kind, bound, role, codec, chain, scales)
        if encoded is None and kind != "value" and bounds["value"] is not None:
            kind, bound = "value", bounds["value"]
            encoded = _encode_bounded(t, name, kind, bound, role, codec, chain, scales)
        if encoded is not None:
            fields, parts, domain = encoded
            meta.update(fields)
            return meta, parts, domain
    parts, fields = _rec.encode_exact(t)
    meta.update(fields)
    return meta, parts, None


def _encode_bounded(t, name, kind, bound, role, codec, chain, scales):
    transform = _TRANSFORMS[kind]
    floor = role.get("floor", 0.0) if transform != "identity" else 0.0
    scale = scales.get(role.get("scale")) if transform == "scaled" else None
    domain = _rec.forward(t, transform, floor, scale)
    eb = bound * _rec.finite_range(domain) if transform == "identity" else bound
    if not (0 < eb < math.inf) or eb < torch.finfo(domain.dtype).tiny:
        return None  # a constant tensor (or no finite value): stored exactly
    references = [None]
    if chain is not None and transform != "scaled":  # a first moment forgets in ~1/(1-beta1) steps
        j, reference = chain.reference(name, transform, domain)
        if reference is not None:
            references.append(reference)
    best = None
    for reference in references:
        result = _rec.encode_lossy(domain, eb, reference, codec)
        if result is None:
            continue
        size = sum(memoryview(p).nbytes for p in result[0])
        if best is None or size < best[0]:
            best = (size, result, reference is not None)
    if best is None:
        return None
    _, (parts, fields, rec), delta = best
    if transform != "identity":
        back = _rec.inverse(rec, transform, floor, scale, t.dtype)
        if not _rec.holds(t.reshape(-1), back, transform, bound, floor, scale):
            return None
    fields.update({"transform": transform, "bound": bound})
    if transform != "identity":
        fields["floor"] = float(floor).hex()
    if transform == "scaled":
        fields["scale"] = role["scale"]
    if delta:
        fields["reference"] = j
    return fields, parts, rec


class _Chain:
    """A checkpoint and its bases, open and checked (ids and digests)."""

    def __init__(self, path):
        self.readers = []
        try:
            reader = Reader(path)
            seen = set()
            while True:
                if reader.id in seen or len(self.readers) >= MAX_CHAIN:
                    raise CheckpointError(f"{reader.path}: a chain of bases that loops or is longer than {MAX_CHAIN}")
                seen.add(reader.id)
                self.readers.append(reader)
                _check_records(reader)
                base = reader.manifest.get("base")
                if base is None:
                    break
                reader = _open_base(reader, base)
            for level in range(len(self.readers) - 1):
                _check_references(self.readers[level], self.readers[level + 1])
            self._names = [None] * len(self.readers)
        except BaseException:
            self.close()
            raise

    def close(self):
        for reader in self.readers:
            reader.close()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, trace):
        self.close()
        return False

    def reference(self, name, transform, domain):
        """(record index, reconstructed domain) of the record named ``name`` in the top
        checkpoint when it can predict ``domain`` (same transform, dtype and size)."""
        if self._names[0] is None:
            self._names[0] = {r["name"]: i for i, r in enumerate(self.readers[0].records)}
        j = self._names[0].get(name)
        if j is None:
            return None, None
        meta = self.readers[0].records[j]
        if (meta["leaf"] != "tensor" or _record_transform(meta) != transform
                or _record_domain(meta) != domain.dtype or int(np.prod(meta["shape"])) != domain.numel()):
            return None, None
        return j, self.domain(0, j)

    def domain(self, level, index):
        """The reconstructed domain (flat) of record ``index`` of checkpoint ``level``."""
        steps = []
        while True:
            meta = self.readers[level].records[index]
            steps.append((level, index))
            if meta["kind"] == "lossy" and "reference" in meta:
                level, index = level + 1, meta["reference"]
                continue
            break
        result = None
        for level, index in reversed(steps):
            reader = self.readers[level]
            meta = reader.records[index]
            try:
                payload = reader.record(index)
            except CheckpointError as error:
                if level == 0:
                    raise
                raise BaseCheckpointError(f"{self.readers[level - 1].path}: its base {reader.path} cannot be read: "
                                          f"{error}") from None
            count = int(np.prod(meta["shape"]))
            if meta["kind"] == "exact":
                result = _rec.decode_exact(meta, payload, _rec.DTYPES[meta["dtype"]], [count])
            else:
                result = _rec.decode_lossy(meta, payload, result, count)
        return result


def _open_base(reader, base):
    if (not isinstance(base, dict) or not isinstance(base.get("path"), str) or not isinstance(base.get("id"), str)
            or not isinstance(base.get("digest"), str)):
        raise CheckpointError(f"{reader.path}: damaged manifest: a malformed base reference")
    where = os.path.join(os.path.dirname(reader.path), base["path"])
    if not os.path.exists(where):
        raise BaseCheckpointError(f"{reader.path} is a delta against {base['path']} (id {base['id']}), which is "
                                  f"missing: expected at {where} (keep a chain's files together, with the same "
                                  "relative paths)")
    try:
        found = Reader(where)
    except CheckpointError as error:
        raise BaseCheckpointError(f"{reader.path}: its base {where} cannot be read: {error}") from None
    if found.id != base["id"] or found.digest != base["digest"]:
        found.close()
        raise BaseCheckpointError(f"{reader.path}: {where} is not the base it was saved against (found id "
                                  f"{found.id}, digest {found.digest[:16]}...; expected id {base['id']}, digest "
                                  f"{base['digest'][:16]}...): another checkpoint was written to that path")
    return found


def _record_transform(meta):
    if meta["kind"] == "exact":
        return "identity" if _rec.DTYPES[meta["dtype"]] in _rec.LOSSY_DTYPES else None
    return meta["transform"]


def _record_domain(meta):
    if meta["kind"] == "exact":
        return _rec.DTYPES[meta["dtype"]]
    return _rec.DTYPES[meta["domain"]]


def _check_records(reader):
    """Validates every manifest entry's fields (types, names, ranges) before any is used."""
    records = reader.records

    def bad(i, what):
        raise CheckpointError(f"{reader.path}: damaged manifest: record {i} {what}")

    for i, m in enumerate(records):
        if not isinstance(m.get("name"), str) or m.get("leaf") not in ("tensor", "ndarray"):
            bad(i, "has no name or leaf type")
        shape = m.get("shape")
        if (not isinstance(shape, list) or len(shape) > 64
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
                or math.prod(shape) >= 1 << 60):
            bad(i, "has no valid shape")
        if m.get("kind") not in ("exact", "lossy") or m.get("role") not in _ROLES:
            bad(i, "has no valid kind or role")
        if m["leaf"] == "ndarray":
            try:
                dt = np.dtype(m.get("dtype"))
            except TypeError:
                bad(i, "has an unknown numpy dtype")
            if dt.kind not in _rec.NUMPY_KINDS or dt.hasobject or m["kind"] != "exact" or m.get("encoding") != "raw":
                bad(i, "is not a plain numpy array")
            continue
        if m.get("dtype") not in _rec.DTYPES or not isinstance(m.get("device"), str):
            bad(i, "has no valid dtype or device")
        if m["kind"] == "exact":
            continue
        transform = m.get("transform")
        if (transform not in ("identity", "log1p_sqrt", "scaled") or m.get("domain") not in _rec.DTYPES
                or _rec.DTYPES[m["domain"]] != _rec.domain_dtype(_rec.DTYPES[m["dtype"]], transform)):
            bad(i, "has no valid transform or domain")
        if transform != "identity":
            try:
                floor = float.fromhex(m.get("floor"))
            except (TypeError, ValueError):
                bad(i, "has no valid floor")
            if not (MIN_FLOOR <= floor < math.inf):
                bad(i, "has no valid floor")
            m["_floor"] = floor
        if transform == "scaled":
            j = m.get("scale")
            if (not isinstance(j, int) or isinstance(j, bool) or not 0 <= j < len(records)
                    or records[j].get("transform") != "log1p_sqrt" or records[j].get("kind") != "lossy"
                    or records[j].get("shape") != shape or records[j].get("dtype") != m["dtype"]):
                bad(i, "names no valid scale record")
        if "reference" in m:
            j = m["reference"]
            if reader.manifest.get("base") is None or not isinstance(j, int) or isinstance(j, bool) or j < 0:
                bad(i, "names a base record but there is no base")


def _check_references(reader, base):
    for i, m in enumerate(reader.records):
        if m["kind"] != "lossy" or "reference" not in m:
            continue
        j = m["reference"]
        if j >= len(base.records):
            raise CheckpointError(f"{reader.path}: damaged manifest: record {i} names base record {j}, which "
                                  f"{base.path} does not have")
        b = base.records[j]
        if (b["leaf"] != "tensor" or _record_transform(b) != m["transform"] or _record_domain(b) != _rec.DTYPES[
                m["domain"]] or math.prod(b["shape"]) != math.prod(m["shape"])):
            raise BaseCheckpointError(f"{reader.path}: record {i} ({m['name']}) is a delta against base record {j} "
                                      f"({b['name']}) of {base.path}, which does not match it")


def _place(t, device, map_location):
    if map_location is None:
        target = device
    elif callable(map_location):
        return map_location(t, device)
    elif isinstance(map_location, dict):
        target = map_location.get(device, device)
    else:
        target = map_location
    target = torch.device(target)
    return t if target.type == "cpu" else t.to(target)


def load(path, map_location=None):
    """The state saved at ``path``, with the same nesting and types; tensors are
    contiguous. A delta's bases are read from the paths relative to it that were
    recorded when it was saved, and each must be the exact checkpoint it was saved
    against (its id and digest).

    ``map_location``: None (each tensor on the device it was saved from), a device (or
    its name) for every tensor, a dict {saved device name: device name}, or a callable
    ``(cpu tensor, saved device name) -> tensor``.

    Raises CheckpointError for a file that is not a checkpoint, damaged or truncated,
    and BaseCheckpointError (a CheckpointError) for a missing or wrong base."""
    with _Chain(path) as chain:
        top = chain.readers[0]
        metas = top.records
        scale_of = [m["scale"] if m["kind"] == "lossy" and m["transform"] == "scaled" else None for m in metas]
        needed = {}
        for j in scale_of:
            if j is not None:
                needed[j] = needed.get(j, 0) + 1
        leaves = [None] * len(metas)
        kinds = [m["leaf"] for m in metas]
        scales = {}
        for i in _order(scale_of):
            m = metas[i]
            if m["leaf"] == "ndarray":
                data = top.record(i)
                dt = np.dtype(m["dtype"])
                if len(data) != math.prod(m["shape"]) * dt.itemsize:
                    raise CheckpointError(f"{top.path}: damaged record {i}: wrong size for its array")
                leaves[i] = np.frombuffer(data, dtype=dt).reshape(m["shape"])
                continue
            dtype = _rec.DTYPES[m["dtype"]]
            domain = chain.domain(0, i)
            if m["kind"] == "exact":
                value = domain.reshape(m["shape"])
            else:
                scale = None
                if m["transform"] == "scaled":
                    scale = scales[m["scale"]]
                    needed[m["scale"]] -= 1
                    if needed[m["scale"]] == 0:
                        del scales[m["scale"]]
                value = _rec.inverse(domain, m["transform"], m.get("_floor", 0.0), scale, dtype).reshape(m["shape"])
                if i in needed:
                    scales[i] = domain
            leaves[i] = _place(value, m["device"], map_location)
        return decode(top.manifest.get("state"), leaves, kinds)


def inspect(path):
    """The manifest of the checkpoint at ``path`` (checked, nothing decoded): id, digest,
    bytes, base, depth, created, library, settings and the records (name, dtype, shape,
    role, kind, transform, bound, reference, length)."""
    with Reader(path) as reader:
        _check_records(reader)
        records = [{k: v for k, v in r.items() if not k.startswith("_") and k != "sha256"} for r in reader.records]
        m = reader.manifest
        return {"path": reader.path, "id": reader.id, "digest": reader.digest, "bytes": reader.size,
                "base": m.get("base"), "depth": m.get("depth"), "created": m.get("created"),
                "library": m.get("library"), "settings": m.get("settings"), "records": records}


def verify(path):
    """Checks the checkpoint at ``path`` and every base of its chain: structure, ids,
    digests of the manifests and of every record (each record is read, none is
    decoded). Returns the chain's paths, the checkpoint first; raises CheckpointError."""
    with _Chain(path) as chain:
        for reader in chain.readers:
            for i in range(len(reader.records)):
                reader.record(i)
        return [reader.path for reader in chain.readers]
