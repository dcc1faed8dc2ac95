# SPDX-License-Identifier: Apache-2.0
"""Statistics: what compressed_activations stored, per step and per group."""


class CompressionStats:
    """What the adapter stored, per step.

    ``steps`` holds one dict per finished step:

    - ``tensors``: stored groups (saved tensors after deduplication: the views of one
      storage region count once); ``compressed``: how many were not kept raw (lossy
      streams, and integer or boolean tensors stored losslessly in fewer bytes);
      ``lossless``: how many of those were integer or boolean;
    - ``raw_bytes``: what autograd would keep without the hooks: the storage bytes the
      saved tensors other than parameters and buffers reach, each byte once per step;
    - ``stored_bytes``: what the hooks kept: streams, mask bits and narrowed integers,
      plus the storage bytes of the tensors kept raw, each once;
    - ``compressed_raw_bytes``: the part of ``raw_bytes`` that was stored in a
      compressed form; ``kept_raw_bytes`` = ``raw_bytes - compressed_raw_bytes``, the
      part kept as it was; ``raw_share`` = ``kept_raw_bytes / raw_bytes``;
    - ``ratio``: ``raw_bytes / stored_bytes``. A group is compressed only when its
      stream is smaller than the tensor (otherwise it is kept raw, reason
      ``incompressible``), so the ratio is at least 1;
    - ``raw_reasons``: {reason: bytes kept raw for it} (see below);
    - ``max_error_ratio`` (with verify): the largest |x - x'| / bound over the step.

    ``records`` holds one dict per group of the last finished step (of every step with
    ``keep_records=True``): ``site`` (the first save: module path, call and save
    number), ``kinds`` (the autograd node and saved name of every save of the group,
    e.g. ``MmBackward.self``), ``roles`` (their roles), ``form`` (raw, stream, bits,
    narrow), ``reason`` (why it was kept raw, None otherwise), shape and dtype of the
    first view, ``layout`` (dense, gapped, overlap), ``saves`` (views rebuilt from it),
    bytes and bound.

    Reasons a group is kept raw: ``parameter`` (a parameter or buffer, or a view or
    cast of one: never compressed), ``learning`` (a site seen for the first time: the
    step learns which saves belong together and which op saves them),
    ``exact_role`` (a role that needs exact values), ``small`` (fewer than
    ``min_numel`` elements), ``layout`` (elements that may repeat), ``dtype`` (a type
    actzip does not compress, e.g. complex), ``device`` (neither CPU nor CUDA),
    ``policy`` (the policy decided so), ``uncalibrated`` (a kind not measured yet: the
    next calibration measures it), ``sensitive`` (measured, and too sensitive for any
    bound), ``unmeasured`` (a kind without a role that the probe does not reach: saves
    outside the model's forward, such as a loss computed after it, when the probe
    replays the model; give ``probe=`` a callable that computes the loss too),
    ``incompressible``
    (the stream would not be smaller), ``in_backward`` (saved while the backward pass
    runs: a checkpointed region's recomputation, used at once).

    Bytes are counted exactly for dense views (the union of their spans per storage).
    A gapped or overlapping view stored on its own counts its distinct elements, exact
    unless it shares storage bytes with another group's view; then raw_bytes counts
    fewer bytes than the exact figure and stored_bytes more, so the ratio is never
    overstated.
    """

    def __init__(self, keep_records=False):
        self.keep_records = keep_records
        self.steps = []
        self.records = []
        self._current = []

    def _reset(self):
        self._current = []

    def _add(self, record):
        self._current.append(record)

    def _finish(self, step):
        recs = self._current
        raw = sum(r["raw_bytes"] for r in recs)
        stored = sum(r["stored_bytes"] for r in recs)
        comp = [r for r in recs if r["compressed"]]
        compressed_raw = sum(r["raw_bytes"] for r in comp)
        errors = [r["error_ratio"] for r in comp if r.get("error_ratio") is not None]
        reasons = {}
        for r in recs:
            if not r["compressed"]:
                reasons[r["reason"]] = reasons.get(r["reason"], 0) + r["raw_bytes"]
        summary = {
            "step": step,
            "tensors": len(recs),
            "compressed": len(comp),
            "lossless": sum(1 for r in comp if r["form"] in ("bits", "narrow")),
            "raw_bytes": raw,
            "stored_bytes": stored,
            "compressed_raw_bytes": compressed_raw,
            "kept_raw_bytes": raw - compressed_raw,
            "raw_share": (raw - compressed_raw) / raw if raw else 0.0,
            "ratio": raw / stored if stored else 1.0,
            "raw_reasons": reasons,
            "max_error_ratio": max(errors) if errors else None,
        }
        self.steps.append(summary)
        if self.keep_records:
            for r in recs:
                r["step"] = step
            self.records.extend(recs)
        else:
            self.records = recs
        self._reset()
        return summary

    def last(self):
        """The summary of the last finished step (None before the first)."""
        return self.steps[-1] if self.steps else None

    def mean(self, key, skip=0):
        """Mean of one summary field over the finished steps after the first `skip`."""
        values = [s[key] for s in self.steps[skip:] if s[key] is not None]
        return sum(values) / len(values) if values else None
