#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Tests of the PyTorch layer actzip.torch (pytest, or run alone):
- round trips of compress/decompress for every element type, a non-contiguous
  input, and the errors of bad input;
- the gradients of the first compressed step against the uncompressed ones on the
  same weights and batch;
- a hundred and twenty training steps of a small ResNet on a Fashion-MNIST subset (or
  on a seeded synthetic image set when the Debian package is absent), without
  and with compressed activations from the same seed: every saved tensor is
  decompressed and checked against its bound (verify=True), the activations must
  really shrink, and the loss must fall as far as without compression;
- the adaptive policy gets its backward statistics and computes formula bounds;
- saved views: test_torch_views.py.

Thresholds (measured on a 2-core Xeon VM, CPU PyTorch 1.13, fixed rel 1e-2,
Fashion-MNIST): relative L2 error of the first compressed step's gradients
0.055, asserted < 0.12; activation ratio 5.5x over 120 steps, asserted >= 4x; mean
loss of the last 20 steps 0.822 against 0.848 uncompressed, asserted within 0.15.
"""
import math
import os
import sys
import time
import unittest
from pathlib import Path

import torch
import torch.nn.functional as F

import actzip.torch as az

# The example's model and data loader.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "pytorch"))
from fashion_mnist import DATA_DIR, ResNet, load  # noqa: E402

torch.set_num_threads(2)

GRADIENT_TOLERANCE = 0.12   # relative L2 error of all gradients, first compressed step
RATIO_FLOOR = 4.0           # raw / stored bytes of a compressed step, fixed rel 1e-2
LOSS_TOLERANCE = 0.15       # |final loss compressed - final loss uncompressed|
STEPS = 120
BATCH = 32
WIDTH = 8


def data(count):
    """A Fashion-MNIST subset, or seeded synthetic 28x28 images with labels tied to
    their content when the dataset package is not installed."""
    if os.path.exists(os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz")):
        return load("train", count)
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 10, (count,), generator=g)
    grid = torch.linspace(-1, 1, 28)
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    freq = (labels.float() + 1).view(-1, 1, 1)
    images = torch.sin(freq * 3 * xx) * torch.cos(freq * 2 * yy) + 0.3 * torch.randn(count, 28, 28, generator=g)
    return images.unsqueeze(1), labels


def relative_error(got, want):
    num = sum(float(((a - b) ** 2).sum()) for a, b in zip(got, want))
    den = sum(float((b ** 2).sum()) for b in want)
    return math.sqrt(num / den)


def train(policy, x, y, steps, verify=True):
    """`steps` SGD steps from seed 0; returns (losses, context or None)."""
    torch.manual_seed(0)
    model = ResNet(blocks=1, width=WIDTH)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ctx = az.compressed_activations(model, policy=policy, bounds="policy", verify=verify) if policy is not None \
        else None
    losses = []
    if ctx is not None:
        ctx.__enter__()
    try:
        for step in range(steps):
            i = (step * BATCH) % (len(x) - BATCH + 1)
            loss = F.cross_entropy(model(x[i:i + BATCH]), y[i:i + BATCH])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if ctx is not None:
                ctx.end_step()
            losses.append(loss.item())
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
    return losses, ctx


class Codec(unittest.TestCase):
    def test_round_trip_every_dtype(self):
        torch.manual_seed(0)
        base = torch.relu(torch.randn(4, 8, 20, 24))
        for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
            x = base.to(dtype)
            for params in (az.Params(az.rel_bound(1e-2)), az.Params(az.abs_bound(1e-3), preserve_sign=True)):
                s = az.compress(x, params)
                self.assertEqual(s.dtype, torch.uint8)
                h = az.inspect(s)
                self.assertEqual(h["total_bytes"], s.numel())
                y = az.decompress(s, dtype, x.shape)
                self.assertEqual(y.dtype, dtype)
                self.assertEqual(y.shape, x.shape)
                err = float((x.double() - y.double()).abs().max())
                self.assertLessEqual(err, h["absolute_bound"])
                self.assertTrue(bool((y[x == 0] == 0).all()))
                if params.preserve_sign:
                    self.assertTrue(torch.equal(x > 0, y > 0))

    def test_non_contiguous_and_high_rank(self):
        x = torch.randn(6, 5, 4, 3, 10)[..., ::2].transpose(0, 1)
        self.assertFalse(x.is_contiguous())
        s = az.compress(x, az.abs_bound(1e-3))
        self.assertEqual(list(az.inspect(s)["shape"]), az.fold_shape(list(x.shape)))
        y = az.decompress(s, x.dtype, x.shape)
        self.assertLessEqual(float((x - y).abs().max()), 1e-3)

    def test_errors(self):
        s = az.compress(torch.randn(100, 100), az.abs_bound(1e-3))
        with self.assertRaisesRegex(az.Error, "element type does not match"):
            az.decompress(s, torch.float16, (100, 100))
        with self.assertRaisesRegex(az.Error, "elements"):
            az.decompress(s, torch.float32, (100, 99))
        with self.assertRaisesRegex(az.Error, "unsupported"):
            az.compress(torch.zeros(10, dtype=torch.int32), az.abs_bound(1e-3))
        with self.assertRaisesRegex(az.Error, "invalid argument"):
            az.compress(torch.zeros(10), az.rel_bound(-1.0))
        damaged = s.clone()
        damaged[-1] ^= 0xFF
        with self.assertRaises(az.Error):
            az.decompress(damaged, torch.float32, (100, 100))
        with self.assertRaisesRegex(az.Error, "not an actzip stream"):
            az.decompress(torch.zeros(200, dtype=torch.uint8), torch.float32, (10,))
        with self.assertRaises(az.Error):
            az.FixedPolicy(az.rel_bound(0.0))

    def test_mask_bits(self):
        m = torch.rand(3, 7, 11) > 0.5
        packed = az.pack_bits(m)
        self.assertEqual(packed.numel(), (m.numel() + 7) // 8)
        self.assertTrue(torch.equal(az.unpack_bits(packed, m.numel()).view(m.shape), m))


class Training(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x, cls.y = data(STEPS * BATCH // 2)

    def test_first_step_gradients(self):
        x, y = self.x[:64], self.y[:64]
        torch.manual_seed(0)
        model = ResNet(blocks=1, width=WIDTH)
        # Two uncompressed steps so the activations are not those of the initialisation.
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        for i in range(2):
            F.cross_entropy(model(self.x[64 * (i + 1):64 * (i + 2)]), self.y[64 * (i + 1):64 * (i + 2)]).backward()
            opt.step()
            opt.zero_grad()

        def gradients():
            model.zero_grad()
            F.cross_entropy(model(x), y).backward()
            return [p.grad.clone() for p in model.parameters()]

        want = gradients()
        with az.compressed_activations(model, policy=az.FixedPolicy(az.rel_bound(1e-2)), bounds="policy",
                                       verify=True) as ca:
            first = gradients()  # the first step of a context stores raw
            s0 = ca.end_step()
            got = gradients()
            s1 = ca.end_step()
        self.assertEqual(s0["compressed"], 0)
        self.assertEqual(relative_error(first, want), 0.0)
        self.assertGreater(s1["compressed"], 10)
        err = relative_error(got, want)
        print(f"\nfirst compressed step: gradient relative L2 error {err:.4f}, ratio {s1['ratio']:.2f}x")
        self.assertLess(err, GRADIENT_TOLERANCE)
        self.assertLessEqual(s1["max_error_ratio"], 1.0)
        # Every saved activation is accounted for, and ReLU outputs carry their mask bits.
        roles = {r for rec in ca.stats.records for r in rec["roles"]}
        self.assertTrue({az.LINEAR_INPUT, az.NORM_INPUT, az.RELU_OUTPUT} <= roles)
        self.assertTrue(any(rec["mask_bits"] for rec in ca.stats.records))

    def test_fixed_policy_training(self):
        t = time.time()
        base, _ = train(None, self.x, self.y, STEPS)
        t_base = time.time() - t
        t = time.time()
        comp, ctx = train(az.FixedPolicy(az.rel_bound(1e-2)), self.x, self.y, STEPS)
        t_comp = time.time() - t
        steps = ctx.stats.steps
        self.assertEqual(len(steps), STEPS)
        self.assertEqual(steps[0]["compressed"], 0)
        self.assertTrue(all(s["compressed"] > 10 for s in steps[1:]))
        # verify=True has checked every stream; the worst error stays within its bound.
        self.assertLessEqual(max(s["max_error_ratio"] for s in steps[1:]), 1.0)
        ratio = sum(s["raw_bytes"] for s in steps[1:]) / sum(s["stored_bytes"] for s in steps[1:])
        head = sum(base[:10]) / 10
        tail_base, tail_comp = sum(base[-20:]) / 20, sum(comp[-20:]) / 20
        print(f"\nfixed rel 1e-2, {STEPS} steps: ratio {ratio:.2f}x, loss {head:.3f} -> {tail_base:.3f} "
              f"(uncompressed) / {tail_comp:.3f} (compressed); {t_base:.1f} s / {t_comp:.1f} s with verify")
        self.assertGreaterEqual(ratio, RATIO_FLOOR)
        self.assertLess(tail_base, 0.7 * head)
        self.assertLess(tail_comp, 0.7 * head)
        self.assertLess(abs(tail_comp - tail_base), LOSS_TOLERANCE)

    def test_adaptive_policy_gets_feedback(self):
        policy = az.AdaptivePolicy(beta=0.1, warmup_steps=20, update_interval=10, cap_fraction=5e-2,
                                   fallback=az.rel_bound(1e-2))
        losses, ctx = train(policy, self.x, self.y, 60)
        self.assertEqual(policy.step, 60)
        self.assertFalse(policy.warming_up)
        # Formula bounds exist for the convolutions and the classifier.
        bounds = [policy.current_bound(k) for k in policy.keys()]
        self.assertGreaterEqual(len(bounds), 8)
        self.assertTrue(all(b > 0 for b in bounds))
        self.assertTrue(all(s["compressed"] == 0 for s in ctx.stats.steps[:20]))
        self.assertTrue(all(s["compressed"] > 10 for s in ctx.stats.steps[21:]))
        self.assertLessEqual(max(s["max_error_ratio"] for s in ctx.stats.steps[21:]), 1.0)
        self.assertLess(sum(losses[-10:]) / 10, sum(losses[:10]) / 10)


if __name__ == "__main__":
    unittest.main(verbosity=2)
