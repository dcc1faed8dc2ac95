# SPDX-License-Identifier: Apache-2.0
"""A byte-level text corpus from the manual pages Debian installs, and the small
causal transformer the training experiment and the overlap benchmark use.

The corpus is the troff source of the English manual pages under /usr/share/man
(sections 1-8, the gzip files), or of $MAN_PAGES_DIR, read as bytes (vocabulary
256). Pages are split between training and validation by a hash of their path, so
the split does not depend on the order the file system lists them in.
"""
import gzip
import hashlib
import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

MAN_DIR = os.environ.get("MAN_PAGES_DIR", "/usr/share/man")


def load(max_bytes=8 << 20, val_share=0.05):
    """(train, val): uint8 tensors holding the concatenated pages of each split, at
    most max_bytes in all (the pages in path order until the limit)."""
    paths = sorted(p for s in range(1, 9) for p in Path(MAN_DIR, f"man{s}").glob("*.gz"))
    if not paths:
        raise FileNotFoundError(f"no manual pages under {MAN_DIR}/man1..man8 (apt-get install manpages "
                                "or set MAN_PAGES_DIR)")
    parts = {"train": [], "val": []}
    total = 0
    for p in paths:
        try:
            with gzip.open(p, "rb") as f:
                data = f.read()
        except (OSError, EOFError):
            continue  # a damaged or dangling page
        digest = hashlib.sha256(str(p.relative_to(MAN_DIR)).encode()).digest()
        split = "val" if digest[0] < 256 * val_share else "train"
        parts[split].append(data)
        total += len(data)
        if total >= max_bytes:
            break
    return tuple(torch.frombuffer(bytearray(b"".join(parts[s])), dtype=torch.uint8) for s in ("train", "val"))


def windows(data, context, batch, generator):
    """(inputs, targets): `batch` random windows of `context` bytes and the bytes that
    follow them, as int64."""
    start = torch.randint(0, len(data) - context - 1, (batch,), generator=generator)
    rows = start[:, None] + torch.arange(context + 1)
    w = data[rows].long()
    return w[:, :-1], w[:, 1:]


class Block(nn.Module):
    """Pre-norm block: attention written out (q @ k^T, softmax, @ v) on 4-D tensors,
    and a GELU MLP."""

    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        s = (q @ k.transpose(-1, -2)) * (c // self.heads) ** -0.5
        s = s.masked_fill(torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
        x = x + self.proj((torch.softmax(s, -1) @ v).transpose(1, 2).reshape(b, t, c))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Transformer(nn.Module):
    """A byte-level causal language model: token and learned position embeddings,
    `layers` pre-norm blocks of width `dim`, a final LayerNorm and a linear head."""

    def __init__(self, vocab=256, dim=128, heads=4, layers=4, context=64):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.zeros(context, dim))
        self.blocks = nn.Sequential(*[Block(dim, heads, 4 * dim) for _ in range(layers)])
        self.ln, self.head = nn.LayerNorm(dim), nn.Linear(dim, vocab)

    def forward(self, idx):
        return self.head(self.ln(self.blocks(self.emb(idx) + self.pos[: idx.shape[1]])))


def lm_loss(logits, targets):
    """Mean next-byte cross entropy (nats)."""
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())
