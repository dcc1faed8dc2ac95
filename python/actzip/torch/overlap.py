# SPDX-License-Identifier: Apache-2.0
"""Overlap: compression and decompression off the critical path, and the collection of
streams that were made asynchronously.

- CPU (``overlap=True``): one worker thread compresses while the forward pass goes on
  (actzip releases the GIL); the streams are collected at the end of the model's
  forward, once ``shrink_bytes`` of raw tensors are pending, or when the backward pass
  needs one.
- CUDA: streams are made at ``max_compressed_bytes`` capacity without a host
  synchronization, on the current stream or (overlap) on a side stream per device
  that first waits for the current one; the saved tensor is ``record_stream``-ed onto
  it, its buffers are allocated while it is current, and an event after its last
  write orders each stream's decompression. The sizes of all pending streams are read
  back with one copy and the buffers trimmed.
- Backward (overlap): autograd unpacks in about the reverse order of the saves, so
  when a stream is unpacked, the one saved just before it starts decompressing ahead,
  on the worker or the side stream.

``compressed_activations`` (activations.py) mixes ``Pipeline`` in.
"""
import contextlib

import torch

import actzip as _az

from . import tensors as _tensors


class Pipeline:
    """The asynchronous paths of compressed_activations (see the module comment)."""

    def _side_stream(self, device):
        index = device.index if device.index is not None else torch.cuda.current_device()
        side = self._side.get(index)
        if side is None:
            side = self._side[index] = torch.cuda.Stream(device=index)
        return side

    def _decode(self, stored):
        """The stream's values as a new tensor (no mask). CUDA with overlap: on the
        current stream, after the side stream's writes to the stream buffer."""
        if stored.side is not None:
            current = torch.cuda.current_stream(stored.stream.device)
            current.wait_event(stored.ready)
            stored.stream.record_stream(current)  # a side-stream buffer read here
        return _tensors.decompress(stored.stream, stored.dtype, list(stored.shape))

    def _start_prefetch(self, stored):
        """Overlap, in the backward pass: starts reconstructing the stream saved just
        before `stored` (autograd unpacks roughly in the reverse order of the saves) on
        the worker (CPU) or the side stream (CUDA), unless it is started or cached."""
        if stored.order is None:
            return
        order, index = stored.order
        ahead = order[index - 1]() if index > 0 else None
        if ahead is None or ahead.prefetch is not None or ahead.cache is not None or ahead.uses <= 0 \
                or ahead.future is not None or ahead.size is not None or ahead.form != "stream":
            return  # nothing there, already under way, or a stream not collected yet
        if ahead.side is not None:
            side = ahead.side
            side.wait_stream(torch.cuda.current_stream(ahead.stream.device))
            ahead.stream.record_stream(side)
            with torch.cuda.stream(side):
                y = _tensors.decompress(ahead.stream, ahead.dtype, list(ahead.shape))
            ahead.prefetch = (y, side.record_event())
        elif self._worker is not None:
            ahead.prefetch = self._worker.submit(_tensors.decompress, ahead.stream, ahead.dtype, list(ahead.shape),
                                                 threads=1)

    def _shrink(self):
        """Collects the pending streams. CUDA: reads their sizes in one copy and trims
        the buffers. CPU with overlap: waits for the worker's streams."""
        if not self._pending:
            return
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        background = [p for p in pending if p[0].future is not None]
        pending = [p for p in pending if p[0].future is None]
        for stored, key, x, params, raw_bytes, seen, t in background:
            stored.stream = stored.future.result()
            stored.future = None
            if stored.nbytes() >= raw_bytes and params.bound.value > 0:
                self._incompressible(stored, t, key, raw_bytes, seen)
                continue
            header = _tensors.inspect(stored.stream)
            error_ratio = self._check(x, stored, header, params) if self.verify else None
            self._record(stored.group, stored.group.view.geometry[0], stored.dtype, seen, stored.nbytes(), "stream",
                         None, header["absolute_bound"], params, error_ratio, stored.bits is not None)
            self._policy_record(key, raw_bytes, stored.nbytes(), header["absolute_bound"])
        if not pending:
            return
        # Overlap: the streams were made on a side stream, which collects them too (the
        # current stream goes on); streams of several devices' side streams are
        # collected on the current stream once it has waited for them.
        sides = {id(p[0].side): p[0].side for p in pending if p[0].side is not None}
        place = contextlib.nullcontext()
        if len(sides) == 1 and all(p[0].side is not None for p in pending):
            place = torch.cuda.stream(next(iter(sides.values())))
        else:
            for side in sides.values():
                torch.cuda.current_stream(side.device).wait_stream(side)
        with place:
            self._collect(pending)

    def _collect(self, pending):
        sizes = torch.cat([p[0].size.view(1) for p in pending]).cpu().tolist()  # waits for the kernels
        # The headers (for the statistics) in one more copy.
        heads = torch.stack([p[0].stream[:_az.HEADER_BYTES] for p in pending]).cpu()
        for (stored, key, x, params, raw_bytes, seen, _), size, head in zip(pending, sizes, heads):
            stored.stream = stored.stream[:size].clone()
            stored.size = None
            if stored.side is not None:
                stored.ready = torch.cuda.current_stream(stored.stream.device).record_event()
            group = stored.group
            header = _tensors.inspect(head, size)
            if isinstance(group.value_range, torch.Tensor):
                group.value_range = float(group.value_range)
                self._ranges[group.leader] = group.value_range
            error_ratio = self._check(x, stored, header, params) if self.verify else None
            self._record(group, group.view.geometry[0], stored.dtype, seen, stored.nbytes(), "stream", None,
                         header["absolute_bound"], params, error_ratio, stored.bits is not None)
            self._policy_record(key, raw_bytes, stored.nbytes(), header["absolute_bound"])
