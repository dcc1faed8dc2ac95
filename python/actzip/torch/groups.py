# SPDX-License-Identifier: Apache-2.0
"""Groups: what each group of saves keeps, decided and made.

A group is one storage region and the saves that use it (views.py). When its first
save arrives, ``GroupStore._store`` decides its form from the roles of every site the
plan says will join it (roles.py) and makes it (storage.py's forms):

- kept raw, with a reason (``learning``, ``parameter``, ``exact_role``, ``small``,
  ``layout``, ``device``, ``dtype``, ``policy``, ``uncalibrated``, ``sensitive``,
  ``incompressible``: stats.py);
- integer and boolean: narrow integers or bits, exactly;
- floating point: a stream at the tightest of the measured bound of its kinds
  (sensitivity.py) and the policy's bound for its roles; ReLU outputs with their mask
  bits, masks with their signs, BatchNorm inputs normalised per channel.

It also keeps the step's byte accounting (each storage byte counted once) and the
records of stats.py, and rebuilds the saved views from a group's reconstruction.
``compressed_activations`` (activations.py) mixes it in.
"""
import math
import weakref

import torch

import actzip as _az

from . import tensors as _tensors
from .roles import EXACT, MASK, NORM_INPUT, POLICY_ROLE, PRIORITY, RELU_OUTPUT, UNKNOWN, VALUE_FREE
from .storage import BoundViolation, Stored, narrow_integers, normalise, pack_bits, unpack_bits
from .views import add_span

SUPPORTED = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
#: The saves of BatchNorm inputs, stored normalised per channel (storage.normalise).
BATCH_NORM_INPUTS = frozenset(f"{n}.input" for n in ("NativeBatchNormBackward", "CudnnBatchNormBackward",
                                                       "MiopenBatchNormBackward"))


def _compress_on_worker(x, params):
    """The overlap worker's job: one thread of actzip (the forward pass keeps the others)."""
    return _tensors.compress(x, params, threads=1)


class GroupStore:
    """The storage decisions of compressed_activations (see the module comment)."""

    @staticmethod
    def _new_bytes(spans, group, upper=False):
        """Bytes of the group's first view not counted yet in `spans` (storage -> [weak
        reference to a tensor owning it, byte ranges counted]), which then include the
        view's span. A dense view counts the part of its span not counted yet (exact).
        A gapped or overlapping one counts its distinct elements, less all of its span
        counted before unless `upper`: a lower bound of the exact figure (raw_bytes),
        or with `upper` an upper bound (bytes kept raw); both exact when nothing of its
        span was counted before. Ranges counted for a storage that has been freed since
        (its address may be reused) are forgotten."""
        view = group.view
        entry = spans.get(view.storage)
        if entry is None or entry[0]() is None:
            entry = spans[view.storage] = [group.anchor, []]
        size = view.itemsize
        covered = add_span(entry[1], view.lo * size, view.hi * size)
        if view.layout == "dense":
            return (view.hi - view.lo) * size - covered
        return view.count * size if upper else max(0, view.count * size - covered)

    def _roles(self, names):
        return sorted({self.sites[n].role or UNKNOWN for n in names if n in self.sites})

    def _record(self, group, shape, dtype, raw_bytes, stored_bytes, form="raw", reason=None, bound=0.0,
                params=None, error_ratio=None, mask_bits=False):
        if self._calibrating is not None:
            return
        members = self._plan.get(group.leader) or group.members
        group.record = {
            "site": group.leader,
            "kinds": sorted({self.sites[n].kind or "unresolved" for n in members if n in self.sites}),
            "roles": self._roles(members),
            "form": form,
            "reason": reason,
            "shape": list(shape),
            "dtype": str(dtype).replace("torch.", ""),
            "layout": group.view.layout,
            "saves": len(group.members),
            "raw_bytes": raw_bytes,
            "stored_bytes": stored_bytes,
            "compressed": form != "raw",
            "absolute_bound": bound,
            "params": repr(params) if params is not None else None,
            "mask_bits": mask_bits,
            "error_ratio": error_ratio,
        }
        self.stats._add(group.record)

    def _keep_raw(self, group, t, view, reason):
        stored = Stored(group)
        stored.raw = t
        raw = self._new_bytes(self._seen_bytes, group)
        self._record(group, t.shape, t.dtype, raw, self._new_bytes(self._kept_bytes, group, upper=True),
                     reason=reason)
        return stored

    @staticmethod
    def region(t, view):
        """What a group stores of its first view `t`: a dense view's whole region in
        memory order (any view inside it is rebuilt from it with as_strided), a gapped
        view's distinct elements (rebuilt contiguous, expanded again where the view has
        stride 0)."""
        x = t.detach()
        if view.layout == "dense" and not x.is_contiguous():
            inner_first = view.dims or [(1, 1)]
            x = x.as_strided([n for s, n in reversed(inner_first)], [s for s, n in reversed(inner_first)], view.lo)
        elif view.layout == "gapped":
            shape, stride, offset = view.geometry
            x = x.as_strided([n if s != 0 else 1 for n, s in zip(shape, stride)], stride, offset).contiguous()
        return x

    def _store(self, group, t, view, members):
        """Decides and makes what a group keeps (raw, stream, bits, narrow)."""
        if members is None or any(n not in self.sites or self.sites[n].role is None for n in members):
            return self._keep_raw(group, t, view, "learning")
        sites = [self.sites[n] for n in members]
        roles = {s.role for s in sites}
        if EXACT in roles:
            return self._keep_raw(group, t, view, "parameter" if any(s.parameter for s in sites) else "exact_role")
        if view.count < self.min_numel:
            return self._keep_raw(group, t, view, "small")
        if view.layout == "overlap":
            return self._keep_raw(group, t, view, "layout")
        if t.device.type not in ("cpu", "cuda"):
            return self._keep_raw(group, t, view, "device")
        if t.dtype == torch.bool or (not t.is_floating_point() and not t.is_complex()):
            return self._store_lossless(group, t, view)
        if t.dtype not in SUPPORTED:
            return self._keep_raw(group, t, view, "dtype")
        known = [s for s in sites if s.role != UNKNOWN]
        has_unknown = len(known) < len(sites)
        # The kinds whose measured sensitivity limits the bound (a value-free save has none).
        kinds = sorted({s.kind for s in sites if s.role != VALUE_FREE})
        measured = None
        if self.bounds == "policy":
            if has_unknown:
                return self._keep_raw(group, t, view, "uncalibrated")
        elif self._calibrating is None:
            keys = self._measured_groups.get(group.leader, {})
            found = [self.kind_bounds[keys.get(k, k)] for k in kinds if keys.get(k, k) in self.kind_bounds]
            if has_unknown and len(found) < len(kinds):
                if any(n in self._unmeasurable for n in members):
                    return self._keep_raw(group, t, view, "unmeasured")  # the probe does not reach it
                self._unmeasured = True  # calibrate at the end of the step
                return self._keep_raw(group, t, view, "uncalibrated")  # not measured yet
            if any(b is None for b in found):
                return self._keep_raw(group, t, view, "sensitive")     # no bound small enough helps
            measured = min(found) if found else None
        x = self.region(t, view)
        raw_bytes = x.numel() * x.element_size()
        bits = self.mask_bits and any(s.role == RELU_OUTPUT for s in sites) and not any(s.role == MASK for s in sites)
        preserve = any(s.role in (MASK, RELU_OUTPUT) for s in sites) and not bits
        normalised = all(s.kind in BATCH_NORM_INPUTS for s in sites) and x.dim() >= 2 and t.is_contiguous()
        info = _az.TensorInfo()
        info.dtype = x.dtype
        info.count = x.numel()
        info.value_range = -1.0
        if self._needs_range or self.norm_bound is not None:
            lo, hi = torch.aminmax(x)
            if x.is_cuda:
                group.value_range = (hi.float() - lo.float())
                info.value_range = self._ranges.get(group.leader, -1.0)
            else:
                r = float(hi) - float(lo)
                info.value_range = r if math.isfinite(r) else -1.0
                group.value_range = info.value_range
        params = None
        if known and self.policy is not None:
            primary = min(known, key=lambda s: PRIORITY[s.role])
            info.key = self._key(primary.name)
            role = POLICY_ROLE[primary.role]
            if preserve and role == "linear_input":
                role = "mask"  # the formula bound of the layer, with exact signs
            info.role = getattr(_az.TensorRole, role)
            info.fan_in = primary.fan_in
            decision = self.policy.decide(info)
            if not decision.compress:
                self._policy_record(info.key, raw_bytes, raw_bytes, 0.0)
                return self._keep_raw(group, t, view, "policy")
            params = decision.params
        else:
            info.key = self._key(group.leader)
        if any(s.role == NORM_INPUT for s in sites) and self.norm_bound is not None:
            if params is None:
                params = _az.Params(self.norm_bound, codec=self._codec())
            params.bound = self._tighter(params.bound, self.norm_bound, info.value_range)
        if self._calibrating is not None and kinds:
            # Kept exact for the probe; its passes compress it at the bound they test
            # (capped by the policy's bound in the check of the sum).
            group.kinds, group.cap, group.treatment = tuple(kinds), params, (bits, preserve, normalised)
            for k in kinds:
                self._calibrating.groups.setdefault(k, []).append(group)
            return self._keep_raw(group, t, view, "uncalibrated")
        if measured is not None:
            if params is None:
                params = _az.Params(_az.rel(measured), codec=self._codec())
            else:
                params.bound = self._tighter(params.bound, _az.rel(measured), info.value_range)
        if params is None:
            return self._keep_raw(group, t, view, "uncalibrated")
        params.preserve_sign = preserve or (params.preserve_sign and not bits)
        affine = None
        if normalised:
            x, affine = normalise(x)
        return self._compress(group, t, view, x, params, info.key, raw_bytes, bits, affine)

    def _codec(self):
        return getattr(self.policy, "codec", "automatic") if self.policy is not None else "automatic"

    def _compress(self, group, t, view, x, params, key, raw_bytes, bits, affine=None):
        stored = Stored(group, "stream")
        stored.affine = affine
        stored.dtype = x.dtype
        stored.shape = tuple(x.shape)
        stored.lo = view.lo
        seen = self._new_bytes(self._seen_bytes, group)
        if bits:
            stored.bits = pack_bits(x > 0)
        if self.overlap:
            stored.order = (self._order, len(self._order))
            self._order.append(weakref.ref(stored))
        if x.is_cuda:
            if self.overlap:
                # The side stream compresses once the current stream has made x, while the
                # current stream goes on with the forward pass. x's memory is not handed to
                # another tensor before the side stream has read it (record_stream); the
                # stream buffers are the side stream's.
                side = stored.side = self._side_stream(x.device)
                side.wait_stream(torch.cuda.current_stream(x.device))
                with torch.cuda.stream(side):
                    stored.stream, stored.size = _tensors.compress_async(x, params)
                x.record_stream(side)
                stored.ready = side.record_event()
            else:
                stored.stream, stored.size = _tensors.compress_async(x, params)
        elif self._worker is not None and self._calibrating is None:
            # Overlap on the CPU: the worker compresses while the forward pass goes on
            # (actzip releases the GIL); x stays alive until it is done.
            stored.future = self._worker.submit(_compress_on_worker, x, params)
        if x.is_cuda or stored.future is not None:
            # Collected by _shrink (at the end of the forward, or once shrink_bytes are
            # pending); the tensor itself is kept only for verify.
            self._pending.append((stored, key, x if self.verify else None, params, raw_bytes, seen,
                                  None if x.is_cuda else t))
            self._pending_bytes += stored.stream.numel() if x.is_cuda else raw_bytes
            if self._pending_bytes > self.shrink_bytes:
                self._shrink()
            return stored
        stored.stream = _tensors.compress(x, params)
        if stored.nbytes() >= raw_bytes and params.bound.value > 0:
            return self._incompressible(stored, t, key, raw_bytes, seen)
        header = _tensors.inspect(stored.stream)
        error_ratio = self._check(x, stored, header, params) if self.verify else None
        self._record(group, t.shape, t.dtype, seen, stored.nbytes(), "stream", None, header["absolute_bound"], params,
                     error_ratio, stored.bits is not None)
        self._policy_record(key, raw_bytes, stored.nbytes(), header["absolute_bound"])
        return stored

    def _incompressible(self, stored, t, key, raw_bytes, seen):
        """A stream no smaller than the tensor: the group keeps the tensor instead (but
        for a bound of 0, an explicit request for the exact values as a stream)."""
        stored.form, stored.raw, stored.stream, stored.bits = "raw", t, None, None
        self._policy_record(key, raw_bytes, raw_bytes, 0.0)
        group = stored.group
        self._record(group, t.shape, t.dtype, seen, self._new_bytes(self._kept_bytes, group, upper=True),
                     reason="incompressible")
        return stored

    def _store_lossless(self, group, t, view):
        """An integer or boolean group: bits or narrow integers, when that is smaller."""
        x = self.region(t, view)
        stored = Stored(group)
        stored.dtype = x.dtype
        stored.shape = tuple(x.shape)
        stored.lo = view.lo
        if x.dtype == torch.bool:
            stored.form = "bits"
            stored.stream = pack_bits(x)
        else:
            lo, hi = torch.aminmax(x)  # on CUDA: a synchronization (integer saves are rare and small)
            narrow, offset = narrow_integers(x, int(lo), int(hi))
            if narrow is None:
                return self._keep_raw(group, t, view, "incompressible")
            stored.form = "narrow"
            stored.stream, stored.offset = narrow, offset
        seen = self._new_bytes(self._seen_bytes, group)
        self._record(group, t.shape, t.dtype, seen, stored.nbytes(), stored.form)
        return stored

    def _tighter(self, a, b, value_range):
        """The tighter of two bounds (absolute when they differ in mode and the range is known)."""
        if a.mode == b.mode:
            return a if a.value <= b.value else b
        if value_range is None or value_range < 0:
            return a if a.mode == "rel" else b  # relative is safe without a range

        def absolute(x):
            return x.value * value_range if x.mode == "rel" else x.value
        return _az.abs(min(absolute(a), absolute(b)))

    def _policy_record(self, key, raw_bytes, stored_bytes, bound):
        if self._calibrating is None and self.policy is not None:
            r = _az.TensorResult()
            r.key = key
            r.raw_bytes = raw_bytes
            r.compressed_bytes = stored_bytes
            r.absolute_bound = bound
            self.policy.record(r)

    def reconstruct(self, stored, affine=True):
        """The values a stored group holds (stored shape): decoded stream (with its
        mask bits applied and, with `affine`, its normalisation undone), bits or narrow
        integers restored."""
        if stored.form in ("bits", "narrow"):
            return stored.restore_lossless()
        if stored.future is not None:
            self._shrink()  # the backward pass needs a stream the worker may still be making
        prefetch, stored.prefetch = stored.prefetch, None
        if prefetch is None:
            y = self._decode(stored)
        elif isinstance(prefetch, tuple):  # CUDA: made on the side stream
            y, made = prefetch
            current = torch.cuda.current_stream(y.device)
            current.wait_event(made)
            y.record_stream(current)
            self.prefetched += 1
        else:
            y = prefetch.result()
            self.prefetched += 1
        if stored.bits is not None:
            # Masked values that came back <= 0 were at most the bound: the smallest
            # normal number is as close, and keeps the mask exact.
            positive = unpack_bits(stored.bits, y.numel()).view(y.shape)
            y = torch.where(positive, y.clamp_min(torch.finfo(y.dtype).tiny), y)
        if stored.affine is not None and affine:
            mean, std = stored.affine
            y = (y.float() * std + mean).to(stored.dtype)
        return y

    def probe_reconstruction(self, group, bound, capped):
        """Calibration: the group's region compressed at relative `bound` (with `capped`,
        never looser than the policy's bound) as training would store it, and decoded."""
        x = self.region(group.stored.raw, group.view)
        params = _az.Params(_az.rel(bound), codec=self._codec())
        if capped and group.cap is not None:
            cap = group.cap
            params = _az.Params(self._tighter(cap.bound, _az.rel(bound), -1.0), codec=cap.codec,
                                preserve_sign=cap.preserve_sign)
        bits, preserve, normalised = group.treatment
        params.preserve_sign = preserve or params.preserve_sign
        stored = Stored(group, "stream")
        stored.dtype, stored.shape = x.dtype, tuple(x.shape)
        if normalised:
            x, stored.affine = normalise(x)
        stored.stream = _tensors.compress(x, params)
        if bits:
            stored.bits = pack_bits(x > 0)
        return self.reconstruct(stored)

    @staticmethod
    def rebuild(y, saved):
        """The saved view, from its group's reconstruction `y`."""
        shape, stride, offset = saved.geometry
        if saved.stored.group.view.layout == "dense":
            return y.as_strided(shape, stride, offset - saved.stored.group.view.lo)
        return y.expand(shape)

    def _check(self, x, stored, header, params):
        """Decompresses a fresh stream and checks the bound, the zeros, the non-finite
        values and, with preserve_sign or mask bits, the signs (of the normalised values
        for a normalised stream). Returns max |x - x'| / bound."""
        y = self.reconstruct(stored, affine=False)
        bound = header["absolute_bound"]
        where = f"{stored.group.leader} ({params})"
        xd, yd = x.detach().double(), y.double()
        finite = torch.isfinite(xd)
        if not torch.equal(torch.isnan(xd), torch.isnan(yd)) or not torch.equal(xd[~finite & ~torch.isnan(xd)],
                                                                                yd[~finite & ~torch.isnan(xd)]):
            raise BoundViolation(f"actzip.torch: non-finite values not reproduced at {where}")
        err = (xd[finite] - yd[finite]).abs()
        max_err = float(err.max()) if err.numel() else 0.0
        if max_err > bound:
            raise BoundViolation(f"actzip.torch: |x - x'| = {max_err:.6g} > bound {bound:.6g} at {where}")
        if bool((yd[xd == 0] != 0).any()):
            raise BoundViolation(f"actzip.torch: zeros not reproduced at {where}")
        if (params.preserve_sign or stored.bits is not None) and not (torch.equal(xd > 0, yd > 0) and
                                                                      torch.equal(xd < 0, yd < 0)):
            raise BoundViolation(f"actzip.torch: signs not preserved at {where}")
        return max_err / bound if bound > 0 else 0.0
