#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Saved views under actzip.torch.compressed_activations (pytest, or run alone).

Autograd often saves several views of one storage: matmul on 4-D tensors saves a
3-D view of the operand, a linear layer a 2-D view of its 3-D input, mm the
transposed operand, x[:, ::2] * y a strided slice. Each test runs the same step
without the context and then inside it (step 0 keeps every tensor raw, the
later steps compress), and compares the gradients of the inputs and parameters:

- a pre-norm transformer block (LayerNorm, q/k/v linear layers, q @ k^T on
  (B, heads, T, d), softmax, @ v, GELU MLP), with its attention products stored
  raw (their default role) and compressed;
- transposed, permuted, expanded (stride 0), sliced, strided and overlapping
  views saved by ops, one tensor saved by several ops, float16 views;
- in-place ops between save and use: the same error as without the context where
  autograd refuses (but for a compressed tensor freed before the backward, whose
  version can no longer be read: the gradients of the forward as computed), the
  right gradients where it allows them;
- torch.utils.checkpoint inside the context, autocast to bfloat16 on CPU (and
  float16 where the CPU ops exist), a second backward with retain_graph=True;
- the statistics: raw_bytes counts every storage element the saved tensors reach
  once (checked against an exact count), two views of one storage are stored once;
- roles found inside composite functions (nn.MultiheadAttention, F.cross_entropy),
  and the measured bounds of every kind (the check of their sum on the probe).

Gradients are compared with `close`: |got - want| <= (K * bound + 1e-5) * scale
with scale = max(1, max |want|) per tensor, K = 32 (a bound-sized error in a
saved activation reaches a gradient through sums of a few dozen products of
factors below 1; the errors seen are below 0.5 * bound), and 1e-5 for float32
rounding that may differ when a reconstructed view has other strides than the
original. A view handed the wrong values or shape fails by orders of magnitude.
abs(0) (lossless) is used where the test is about placing values (the errors are
then exactly 0), abs(1e-6) elsewhere (1e-3 for float16).
"""
import sys
import time
import unittest
import warnings

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

import actzip.torch as az

BOUND = 1e-6
K = 32.0


def policy(bound):
    return az.FixedPolicy(az.abs_bound(bound), min_elements=0)


def gradients(model, inputs, loss_fn):
    """Loss, and gradients of the inputs that require grad and of the parameters."""
    model.zero_grad(set_to_none=True)
    xs = [x.detach().clone().requires_grad_(x.requires_grad) for x in inputs]
    loss = loss_fn(model, *xs)
    loss.backward()
    return loss.detach(), [x.grad for x in xs if x.requires_grad] + [p.grad for p in model.parameters()]


def max_error(got, want):
    """max over tensors of max |got - want| / max(1, max |want|)."""
    worst = 0.0
    for g, w in zip(got, want):
        if w is None:
            assert g is None
            continue
        scale = max(1.0, float(w.detach().abs().max()))
        worst = max(worst, float((g.double() - w.double()).abs().max()) / scale)
    return worst


class Case(unittest.TestCase):
    def close(self, got, want, bound, what=""):
        self.assertEqual(len(got), len(want))
        err = max_error(got, want)
        tol = K * bound + 1e-5
        self.assertLessEqual(err, tol, f"{what}: gradient error {err:.3g} > {tol:.3g}")
        return err

    def compare(self, model, inputs, loss_fn, bound=BOUND, steps=3, roles=None, what=""):
        """The gradients of `steps` identical steps inside the context (the policy's
        bound for every known role) against those without it; returns the context."""
        want_loss, want = gradients(model, inputs, loss_fn)
        with az.compressed_activations(model, policy=policy(bound), bounds="policy", min_numel=0, verify=True,
                                       roles=roles) as ca:
            for step in range(steps):
                loss, got = gradients(model, inputs, loss_fn)
                summary = ca.end_step()
                self.assertEqual(float(loss), float(want_loss))
                err = self.close(got, want, bound if step else 0.0, f"{what} step {step}")
                if step == 0:
                    self.assertEqual(summary["compressed"], 0)
                    # Equal unless gapped views share storage bytes (then raw_bytes is a
                    # lower bound and stored_bytes an upper one).
                    self.assertLessEqual(summary["raw_bytes"], summary["stored_bytes"])
                else:
                    self.assertGreater(summary["compressed"], 0, what)
                    self.assertLessEqual(summary["max_error_ratio"], 1.0)
        print(f"\n  {what}: {ca.stats.last()['compressed']}/{ca.stats.last()['tensors']} stored compressed, "
              f"gradient error {err:.2g} (bound {bound:g})", end="")
        return ca


# ---- compression on a worker thread (overlap) --------------------------------------------

class Overlap(unittest.TestCase):
    def run_steps(self, model, x, overlap, steps=4, verify=True):
        grads, stats = [], []
        with az.compressed_activations(model, policy=policy(1e-3), bounds="policy", min_numel=0, overlap=overlap,
                                       verify=verify) as ca:
            for _ in range(steps):
                grads.append(gradients(model, [x], block_loss)[1])
                summary = ca.end_step()
                stats.append((summary["raw_bytes"], summary["stored_bytes"], summary["compressed"]))
        self.prefetched = ca.prefetched
        return grads, stats

    def test_backward_reconstructs_ahead(self):
        # The backward unpacks in about the reverse order of the saves: with overlap the
        # worker reconstructs the stream saved before the one being unpacked, and the
        # gradients are those of the reconstructions made in place.
        torch.manual_seed(1)
        model = Block(dim=64, heads=4, hidden=128)
        x = torch.randn(4, 32, 64, requires_grad=True)
        want, _ = self.run_steps(model, x, overlap=False, verify=False)
        self.assertEqual(self.prefetched, 0)
        got, stats = self.run_steps(model, x, overlap=True, verify=False)
        compressed = sum(s[2] for s in stats)
        self.assertGreater(self.prefetched, compressed // 3, (self.prefetched, compressed))
        for g_step, w_step in zip(got, want):
            for g, w in zip(g_step, w_step):
                self.assertTrue(torch.equal(g, w))

    def test_overlap_gives_the_same_gradients_and_bytes(self):
        torch.manual_seed(0)
        model = Block(dim=64, heads=4, hidden=128)
        x = torch.randn(4, 32, 64, requires_grad=True)
        want_grads, want_stats = self.run_steps(model, x, overlap=False)
        got_grads, got_stats = self.run_steps(model, x, overlap=True)
        self.assertEqual(got_stats, want_stats)
        self.assertGreater(got_stats[-1][2], 0)
        for got, want in zip(got_grads, want_grads):
            for g, w in zip(got, want):
                self.assertTrue(torch.equal(g, w))

    def test_small_shrink_bytes_collects_while_running(self):
        torch.manual_seed(0)
        model = Block(dim=64, heads=4, hidden=128)
        x = torch.randn(4, 32, 64, requires_grad=True)
        want, _ = self.run_steps(model, x, overlap=False, steps=3)
        with az.compressed_activations(model, policy=policy(1e-3), bounds="policy", min_numel=0, overlap=True,
                                       shrink_bytes=1) as ca:
            for step in range(3):
                got = gradients(model, [x], block_loss)[1]
                ca.end_step()
                for g, w in zip(got, want[step]):
                    self.assertTrue(torch.equal(g, w))


# ---- a transformer block ---------------------------------------------------------------

class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = (m(x).view(b, t, self.heads, c // self.heads).transpose(1, 2) for m in (self.q, self.k, self.v))
        a = (q @ k.transpose(-1, -2) * (c // self.heads) ** -0.5).softmax(-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    """Pre-norm: x + attn(ln1(x)), then + mlp(ln2(x)), GELU MLP."""

    def __init__(self, dim=32, heads=4, hidden=64):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


def block_loss(model, x):
    return model(x).square().mean()


# ---- roles of functional ops -----------------------------------------------------------

class FunctionalBlock(nn.Module):
    """A transformer block written with functional ops only (no nn.Linear, nn.GELU,
    nn.LayerNorm): every saved tensor's role comes from the autograd node that saves it."""

    def __init__(self, dim=32, heads=4, hidden=64, act="gelu", attention="explicit"):
        super().__init__()
        self.heads, self.act, self.attention = heads, act, attention
        self.w_qkv = nn.Parameter(torch.randn(3 * dim, dim) * dim ** -0.5)
        self.w_out = nn.Parameter(torch.randn(dim, dim) * dim ** -0.5)
        self.w1 = nn.Parameter(torch.randn(hidden, dim) * dim ** -0.5)
        self.w2 = nn.Parameter(torch.randn(dim, hidden) * hidden ** -0.5)
        self.g1, self.g2 = nn.Parameter(torch.ones(dim)), nn.Parameter(torch.ones(dim))

    def forward(self, x):
        b, t, c = x.shape
        h = F.layer_norm(x, (c,), self.g1)
        q, k, v = F.linear(h, self.w_qkv).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        if self.attention == "sdpa":
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            s = torch.matmul(q, k.transpose(-1, -2)) * (c // self.heads) ** -0.5
            a = torch.softmax(s, dim=-1) @ v
        x = x + F.linear(a.transpose(1, 2).reshape(b, t, c), self.w_out)
        h = F.layer_norm(x, (c,), self.g2)
        u = F.linear(h, self.w1)
        u = F.gelu(u) if self.act == "gelu" else F.silu(u)
        return x + torch.einsum("bth,ch->btc", u, self.w2)


class OpRoles(Case):
    def setUp(self):
        torch.manual_seed(0)
        self.x = torch.randn(2, 16, 32, requires_grad=True)

    def roles_of(self, ca):
        return {r for rec in ca.stats.records if rec["compressed"] for r in rec["roles"]}

    def test_functional_block(self):
        for act in ("gelu", "silu"):
            model = FunctionalBlock(act=act)
            ca = self.compare(model, [self.x], block_loss, what=f"functional block ({act})")
            self.assertEqual(self.roles_of(ca), {az.LINEAR_INPUT, az.SOFTMAX_OUTPUT, az.NONLINEAR, az.NORM_INPUT})
            raw = sum(rec["raw_bytes"] for rec in ca.stats.records if not rec["compressed"])
            total = sum(rec["raw_bytes"] for rec in ca.stats.records)
            # Left raw: LayerNorm statistics, the scalar and the loss's own input.
            self.assertLess(raw / total, 0.15, f"{raw} of {total} bytes raw")

    def test_roles_inside_composite_functions(self):
        # nn.MultiheadAttention runs F.multi_head_attention_forward, and F.cross_entropy
        # a log_softmax: the nodes inside them give the kinds, whatever Python ran them.
        class Attn(nn.Module):
            def __init__(self):
                super().__init__()
                self.mha = nn.MultiheadAttention(32, 4, batch_first=True)
                self.head = nn.Linear(32, 10)

            def forward(self, x):
                return self.head(F.relu(self.mha(x, x, x, need_weights=False)[0]))

        torch.manual_seed(0)
        target = torch.randint(0, 10, (2, 16))
        ca = self.compare(Attn(), [self.x], lambda m, x: F.cross_entropy(m(x).transpose(1, 2), target),
                          what="nn.MultiheadAttention and F.cross_entropy")
        kinds = {k for rec in ca.stats.records for k in rec["kinds"]}
        self.assertIn("ReluBackward.result", kinds)               # F.relu
        self.assertIn("LogSoftmaxBackward.result", kinds)         # inside F.cross_entropy
        # The attention: written out (bmm, softmax) or fused (PyTorch 2.x's SDPA).
        fused = {k for k in kinds if k.startswith("ScaledDotProduct")}
        if fused:
            self.assertTrue({k.split(".")[1] for k in fused} >= {"query", "key", "value", "output"}, fused)
        else:
            self.assertTrue({"SoftmaxBackward.result", "BmmBackward.self", "BmmBackward.mat2"} <= kinds, kinds)
        roles = self.roles_of(ca)
        self.assertTrue({az.LINEAR_INPUT, az.RELU_OUTPUT} <= roles, roles)
        # The int64 targets nll_loss saves are stored losslessly in one byte each.
        index = [rec for rec in ca.stats.records if rec["dtype"] == "int64"]
        self.assertTrue(index and all(rec["roles"] == [az.INDEX] for rec in index), index)

    @unittest.skipUnless(hasattr(F, "scaled_dot_product_attention"), "PyTorch 2.0 and later")
    def test_scaled_dot_product_attention(self):
        ca = self.compare(FunctionalBlock(attention="sdpa"), [self.x], block_loss, what="functional block, sdpa")
        self.assertIn(az.LINEAR_INPUT, self.roles_of(ca))

    def test_module_block_attention_products(self):
        ca = self.compare(Block(), [self.x], block_loss, what="module block, op roles")
        roles = self.roles_of(ca)
        self.assertTrue({az.LINEAR_INPUT, az.SOFTMAX_OUTPUT, az.NONLINEAR, az.NORM_INPUT} <= roles, roles)




def storage_of(t):
    """(address, element count) of a tensor's storage (untyped storages on PyTorch 2.x)."""
    if hasattr(t, "untyped_storage"):
        s = t.untyped_storage()
        return s.data_ptr(), s.nbytes() // t.element_size()
    return t.storage().data_ptr(), t.storage().size()


def footprint_bytes(model, fn, inputs=()):
    """Runs fn() under a plain saved-tensor hook and counts exactly the distinct storage
    bytes the saved tensors (but parameters and the model's inputs) reach, by
    enumerating their elements."""
    skip = {storage_of(p)[0] for p in list(model.parameters()) + list(inputs)}
    elements = {}

    def pack(t):
        ptr, size = storage_of(t)
        if ptr not in skip and t.numel():
            index = torch.arange(size, dtype=torch.int64)
            reached = index.as_strided(t.shape, t.stride(), t.storage_offset()).reshape(-1)
            elements.setdefault((ptr, t.element_size()), set()).update(reached.tolist())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(size * len(e) for (ptr, size), e in elements.items())


class TransformerBlock(Case):
    def setUp(self):
        torch.manual_seed(0)
        self.model = Block()
        self.x = torch.randn(2, 16, 32, requires_grad=True)

    def test_attention_products_by_their_nodes(self):
        # The attention products get the roles of the nodes saving them (bmm operands,
        # the softmax output); q @ k^T saves 3-D views of 4-D tensors, each rebuilt as
        # its own view. LayerNorm's statistics stay exact.
        ca = self.compare(self.model, [self.x], block_loss, what="transformer block, node roles")
        roles = {r for rec in ca.stats.records for r in rec["roles"]}
        self.assertTrue({az.LINEAR_INPUT, az.NORM_INPUT, az.SOFTMAX_OUTPUT, az.NONLINEAR, az.EXACT} <= roles, roles)
        # q, k and v read one LayerNorm output (as 2-D views): one stream.
        shared = [rec for rec in ca.stats.records if rec["saves"] == 3 and rec["compressed"]]
        self.assertEqual(len(shared), 1)
        self.assertEqual(shared[0]["roles"], [az.LINEAR_INPUT])

    def test_attention_products_compressed(self):
        ca = self.compare(self.model, [self.x], block_loss, roles={Attention: az.VALUE_FREE, nn.GELU: az.VALUE_FREE},
                          what="transformer block, everything compressed")
        # The softmax output is saved by softmax (4-D) and by the bmm of a @ v (3-D view):
        # one stream, both views rebuilt from it.
        shapes = [rec["shape"] for rec in ca.stats.records if rec["saves"] == 2 and rec["compressed"]]
        self.assertIn([2, 4, 16, 16], shapes)

    def test_lossless_is_exact(self):
        # abs(0): the reconstruction is the tensor, in the same strides for dense views,
        # so the gradients are those without compression up to float32 rounding.
        self.compare(self.model, [self.x], block_loss, bound=0.0, roles={Attention: az.VALUE_FREE},
                     what="transformer block, lossless")

    def test_raw_bytes_count_each_storage_element_once(self):
        want = footprint_bytes(self.model, lambda: block_loss(self.model, self.x), [self.x])
        with az.compressed_activations(self.model, policy=policy(BOUND), bounds="policy", min_numel=0,
                                       roles={Attention: az.VALUE_FREE}) as ca:
            for _ in range(2):
                block_loss(self.model, self.x).backward()
                ca.end_step()
        raw, compressed = ca.stats.steps
        self.assertEqual(raw["raw_bytes"], want)
        self.assertEqual(raw["stored_bytes"], want)
        self.assertEqual(compressed["raw_bytes"], want)
        self.assertLess(compressed["stored_bytes"], want)


# ---- views saved by ops ------------------------------------------------------------------

class Views(nn.Module):
    """Ops that save views of the input x (N, M) and of an intermediate h."""

    def __init__(self, n=24, m=16):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n, 8) / n ** 0.5)
        self.w3 = nn.Parameter(torch.randn(3, n, m))
        self.ws = nn.Parameter(torch.randn(n, m // 2))
        self.wr = nn.Parameter(torch.randn(n // 2, m))
        self.wo = nn.Parameter(torch.randn(n * m // 4 - 3, 8))
        self.wp = nn.Parameter(torch.randn(m, 4) / m ** 0.5)

    def forward(self, x):
        n, m = x.shape
        k = n * m // 4 - 3
        h = x * 1.5 + 0.25  # first saved whole (h.t()): the later views of h are rebuilt from its stream
        g = x + 1.0         # first saved as a stepped slice: each view of g stored on its own
        o = x - 1.0         # first saved as overlapping windows: kept raw
        terms = [
            (h.t() @ self.w).sum(),                                  # transposed: dense, strides (1, M)
            (h.expand(3, n, m) * self.w3).sum(),                     # expanded: stride 0
            (h[:, 1::2] * self.ws).sum(),                            # stepped slice
            (h.reshape(-1).as_strided((k, 8), (4, 1)) @ self.wo.t()).square().sum(),  # overlapping windows
            (h.view(n // 4, 4, m).permute(2, 0, 1) @ self.wp[:, :, None]).square().sum(),  # permuted 3-D
            (g[:, 1::2] * self.ws).sum(),                            # gapped
            (g.as_strided((n // 2, m), (2 * m, 1), 0) * self.wr).sum(),  # every other row: gapped
            (g[2:-2, 3:] * g[2:-2, 3:]).sum(),                       # narrowed: gapped, saved twice
            (g.t() @ self.w).sum(),                                  # all of g: dense
            (o.reshape(-1).as_strided((k, 8), (4, 1)) @ self.wo.t()).square().sum(),  # overlapping
            (o * self.w3[0]).sum(),                                  # all of o: dense
        ]
        return sum(terms)


def views_loss(model, x):
    return model(x)


class SavedViews(Case):
    def setUp(self):
        torch.manual_seed(1)
        self.model = Views()
        self.x = torch.randn(24, 16, requires_grad=True)
        self.roles = {Views: az.VALUE_FREE}

    def test_views_lossless(self):
        ca = self.compare(self.model, [self.x], views_loss, bound=0.0, roles=self.roles, what="saved views, lossless")
        layouts = {rec["layout"]: rec for rec in ca.stats.records}
        self.assertEqual(set(layouts), {"dense", "gapped", "overlap"})
        self.assertFalse(layouts["overlap"]["compressed"])  # overlapping windows stay raw
        # raw_bytes never overstates what autograd keeps (g's gapped views share bytes).
        exact = footprint_bytes(self.model, lambda: views_loss(self.model, self.x), [self.x])
        self.assertTrue(all(0 < s["raw_bytes"] <= exact for s in ca.stats.steps))
        # h.t() first, then h's expanded, sliced, overlapping and permuted views: one stream.
        h = max(ca.stats.records, key=lambda rec: rec["saves"])
        self.assertEqual((h["shape"], h["layout"], h["saves"], h["compressed"]), ([16, 24], "dense", 5, True))
        # g's narrowed view, saved twice (both operands of g' * g'): one stream.
        narrowed = [rec for rec in ca.stats.records if rec["shape"] == [20, 13]]
        self.assertEqual([(rec["layout"], rec["saves"]) for rec in narrowed], [("gapped", 2)])

    def test_views_bounded(self):
        self.compare(self.model, [self.x], views_loss, roles=self.roles, what="saved views, abs 1e-6")

    def test_float16_views(self):
        # CPU float16: elementwise products only (torch 1.13 has no CPU half matmul).
        class Half(nn.Module):
            def __init__(self):
                super().__init__()
                self.w = nn.Parameter(torch.randn(64, 32, dtype=torch.float16))

            def forward(self, x):
                h = x * 0.5
                return ((h.t() * self.w.t()).float().sum() + (h[:, ::2] * h[:, 1::2]).float().sum()
                        + (h.expand(2, 64, 32) * self.w).float().sum())

        torch.manual_seed(2)
        model = Half()
        x = torch.randn(64, 32, dtype=torch.float16, requires_grad=True)
        # float16 has ~4e-3 relative spacing: a bound of 1e-3 is a real loss here.
        self.compare(model, [x], lambda m, x: m(x), bound=1e-3, roles={Half: az.VALUE_FREE},
                     what="float16 views, abs 1e-3")

    def test_one_tensor_saved_by_several_ops(self):
        class Several(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(16, 32)
                self.w = nn.Parameter(torch.randn(32, 8))

            def forward(self, x):
                h = self.lin(x)
                return (h.sin() * h.cos() + h * h + torch.tanh(h)).sum() + (h @ self.w).square().sum() \
                    + (h.t() @ h).sum()

        torch.manual_seed(3)
        model = Several()
        x = torch.randn(64, 16, requires_grad=True)
        ca = self.compare(model, [x], lambda m, x: m(x), roles={Several: az.VALUE_FREE},
                          what="one tensor saved by several ops")
        # h: saved by sin, cos, h * h (twice), h @ w, h.t() @ h (twice): one stream.
        h = max(ca.stats.records, key=lambda rec: rec["saves"])
        self.assertEqual((h["shape"], h["saves"], h["compressed"]), ([64, 32], 7, True))


# ---- in-place ops --------------------------------------------------------------------------

class InPlace(Case):
    class Model(nn.Module):
        def __init__(self, mode, keep=True):
            super().__init__()
            self.mode, self.keep = mode, keep
            self.w = nn.Parameter(torch.randn(32, 32))
            self.w2 = nn.Parameter(torch.randn(32, 32))
            self.kept = None

        def forward(self, x):
            y = x * 2.0
            if self.keep:
                self.kept = y                # y outlives the forward (the caller holds it)
            if self.mode == "modify_saved":
                out = (y * self.w).sum()
                y.add_(1.0)                  # y was saved at version 0
            elif self.mode == "modify_view_of_saved":
                out = (y * self.w).sum()
                y[0].zero_()                 # a view shares y's version counter
            elif self.mode == "modify_then_save":
                y.relu_()                    # saves y after the change
                out = (y * self.w).sum()
            elif self.mode == "saved_at_two_versions":
                unused = (y * self.w2).sum()  # saves y at version 0; never backpropagated
                y.mul_(3.0)
                out = (y * self.w).sum() + 0.0 * unused.detach()   # saves y at version 1
            else:                            # "unmodified"
                out = (y * self.w).sum()
            return out

    def setUp(self):
        torch.manual_seed(4)
        self.x = torch.randn(32, 32, requires_grad=True)

    def refused(self, mode):
        model = self.Model(mode)
        with self.assertRaisesRegex(RuntimeError, "modified by an inplace operation") as plain:
            gradients(model, [self.x], lambda m, x: m(x))
        want = str(plain.exception)
        with az.compressed_activations(model, policy=policy(BOUND), bounds="policy", min_numel=0,
                                       roles={self.Model: az.VALUE_FREE}) as ca:
            for step in range(2):
                with self.assertRaises(RuntimeError) as got:
                    gradients(model, [self.x], lambda m, x: m(x))
                # The unpack hook's error reaches the caller through the engine, which
                # adds the exception's type before and the Python stack after it.
                self.assertEqual(str(got.exception).replace("RuntimeError: ", "", 1).split("\n\nAt:")[0], want)
                ca.end_step()
        self.assertGreater(ca.stats.last()["compressed"], 0)

    def test_modified_saved_tensor_is_refused(self):
        self.refused("modify_saved")

    def test_modified_view_of_saved_tensor_is_refused(self):
        self.refused("modify_view_of_saved")

    def test_allowed_inplace(self):
        for mode in ("modify_then_save", "saved_at_two_versions"):
            self.compare(self.Model(mode), [self.x], lambda m, x: m(x), roles={self.Model: az.VALUE_FREE},
                         what=f"in-place, {mode}")

    def test_modified_tensor_gone_before_backward(self):
        # y is modified after its save and freed with the forward. Stored raw (step 0),
        # it is refused as without the context. Compressed, nothing is left to tell
        # its version: the stream holds the values the product used, and the gradients
        # are those of the forward as computed (the unmodified model's).
        model = self.Model("modify_saved", keep=False)
        reference = self.Model("unmodified", keep=False)
        reference.load_state_dict(model.state_dict())
        _, want = gradients(reference, [self.x], lambda m, x: m(x))
        with az.compressed_activations(model, policy=policy(BOUND), bounds="policy", min_numel=0,
                                       roles={self.Model: az.VALUE_FREE}) as ca:
            with self.assertRaisesRegex(RuntimeError, "modified by an inplace operation"):
                gradients(model, [self.x], lambda m, x: m(x))
            ca.end_step()
            _, got = gradients(model, [self.x], lambda m, x: m(x))
            self.assertGreater(ca.end_step()["compressed"], 0)
        self.close(got, want, BOUND, "in-place on a freed tensor")


# ---- checkpoint, autocast, retain_graph ---------------------------------------------------

class Checkpointed(nn.Module):
    def __init__(self, reentrant):
        super().__init__()
        self.reentrant = reentrant
        self.embed = nn.Linear(32, 32)
        self.block = Block()
        self.head = nn.Linear(32, 8)

    def forward(self, x):
        h = self.embed(x)
        h = torch.utils.checkpoint.checkpoint(self.block, h, use_reentrant=self.reentrant)
        return self.head(F.gelu(h))


class TrainingFeatures(Case):
    def setUp(self):
        torch.manual_seed(5)
        self.x = torch.randn(2, 16, 32, requires_grad=True)

    def test_checkpoint(self):
        for reentrant in (False, True):
            torch.manual_seed(6)
            self.compare(Checkpointed(reentrant), [self.x], block_loss, roles={Attention: az.VALUE_FREE},
                         what=f"checkpoint (use_reentrant={reentrant})")

    def autocast(self, dtype, bound):
        torch.manual_seed(7)
        model = Block()

        def loss_fn(m, x):
            with torch.autocast("cpu", dtype=dtype):
                y = m(x)
            return y.float().square().mean()

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "In CPU autocast, but the target dtype is not supported"
                gradients(model, [self.x], loss_fn)
        except RuntimeError as e:
            print(f"\n  skipped autocast to {dtype} on CPU: {str(e).splitlines()[0]}", end="")
            return None
        ca = self.compare(model, [self.x], loss_fn, bound=bound, roles={Attention: az.VALUE_FREE},
                          what=f"autocast {dtype}, abs {bound:g}")
        self.assertIn(str(dtype).replace("torch.", ""), {rec["dtype"] for rec in ca.stats.records if rec["compressed"]})
        return ca

    # A bound of the order of the type's own resolution (bfloat16: 2^-8 relative): below
    # it every value is stored as it is, a stream no smaller than the tensor, kept raw.
    def test_autocast_bfloat16(self):
        self.assertIsNotNone(self.autocast(torch.bfloat16, 1e-2))

    def test_autocast_float16(self):
        self.autocast(torch.float16, 1e-3)  # CPU autocast of torch 1.13 supports bfloat16 only: skipped there

    def test_retain_graph(self):
        torch.manual_seed(8)
        model = Block()

        def twice(m, x):
            loss = block_loss(m, x)
            loss.backward(retain_graph=True)
            return loss

        self.compare(model, [self.x], twice, roles={Attention: az.VALUE_FREE}, what="second backward, retain_graph")


# ---- measured bounds: every kind, and the kinds no formula covers --------------------------

class Gated(nn.Module):
    """Saves float tensors through nodes without a role (mul, exp, pow) beside linear
    layers, a BatchNorm (buffers) and dropout (random numbers)."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(32, 64), nn.Linear(32, 64), nn.Linear(64, 10)
        self.norm = nn.BatchNorm1d(64)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        h = self.a(x) * torch.exp(-self.b(x).pow(2))
        return self.out(self.drop(self.norm(h)))


class MeasuredBounds(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(3)
        self.x = torch.randn(64, 32)
        self.y = torch.randint(0, 10, (64,))
        self.model = Gated()

    def loss(self):
        return F.cross_entropy(self.model(self.x), self.y)

    def run_steps(self, steps=3, **kwargs):
        """`steps` steps without optimizer (the same parameters, the same dropout masks);
        the gradients of the last one and the context."""
        with az.compressed_activations(self.model, min_numel=0, verify=True, **kwargs) as ca:
            for _ in range(steps):
                torch.manual_seed(11)
                self.model.zero_grad(set_to_none=True)
                self.loss().backward()
                ca.end_step()
        return torch.cat([q.grad.flatten().double() for q in self.model.parameters()]), ca

    @staticmethod
    def unknown_records(ca):
        return [r for r in ca.stats.records if az.UNKNOWN in r["roles"]]

    def test_unknown_kinds_raw_with_policy_bounds(self):
        _, ca = self.run_steps(policy=az.FixedPolicy(az.rel_bound(1e-3)), bounds="policy")
        unknown = self.unknown_records(ca)
        kinds = {k for r in unknown for k in r["kinds"]}
        self.assertTrue({"MulBackward.self", "MulBackward.other", "ExpBackward.result", "PowBackward.self"} & kinds,
                        kinds)
        self.assertTrue(unknown and not any(r["compressed"] for r in unknown), unknown)
        self.assertEqual({r["reason"] for r in unknown}, {"uncalibrated"})
        self.assertIsNone(ca.calibration)

    def test_measured_bounds_hold_on_the_probe(self):
        torch.manual_seed(11)
        self.model.zero_grad(set_to_none=True)
        self.loss().backward()  # without the context
        raw = torch.cat([q.grad.flatten().double() for q in self.model.parameters()])
        tolerance = 0.02
        got, ca = self.run_steps(probe=lambda: (torch.manual_seed(11), self.loss())[1], tolerance=tolerance)
        cal = ca.calibration
        kinds = cal["kinds"]
        self.assertIn("AddmmBackward.mat1", kinds)        # known roles are measured too
        self.assertTrue(any(k.startswith(("MulBackward", "ExpBackward", "PowBackward")) for k in kinds), kinds)
        self.assertTrue(all(k["bound"] is None or az.MIN_BOUND <= k["bound"] <= az.MAX_BOUND for k in kinds.values()))
        self.assertTrue(cal["final_measured"])
        self.assertLessEqual(cal["checks"][-1], 1.25 * tolerance)
        unknown = [r for r in self.unknown_records(ca) if r["raw_bytes"] >= 1024]  # not the loss's scalar
        self.assertTrue(unknown and all(r["compressed"] for r in unknown), unknown)
        # The probe is the training batch with the training step's dropout masks, and the
        # parameters do not move: the gradient change of the compressed step is the one
        # the last check measured.
        change = float((got - raw).norm() / raw.norm())
        self.assertAlmostEqual(change, cal["checks"][-1], delta=1e-9)

    def test_default_probe_replays_the_training_step(self):
        # No probe: the first step is kept for the replay, and its end calibrates.
        with az.compressed_activations(self.model, min_numel=0) as ca:
            self.loss().backward()
            self.assertEqual(ca.end_step()["compressed"], 0)  # the first step learns
            self.assertIsNotNone(ca.calibration)
            self.assertGreaterEqual(ca.calibration["passes"], 1 + len(ca.calibration["kinds"]))
            self.loss().backward()
            summary = ca.end_step()
        self.assertGreater(summary["compressed"], 0)
        self.assertLessEqual(summary["raw_share"], 0.1, summary)

    def test_tiny_tolerance_keeps_sensitive_kinds_raw(self):
        _, ca = self.run_steps(probe=self.loss, tolerance=1e-9)
        self.assertTrue(all(k["bound"] is None for k in ca.calibration["kinds"].values() if k["sensitivity"] > 0))
        self.assertTrue(any(r["reason"] == "sensitive" for r in ca.stats.records))

    def test_calibration_leaves_training_state_alone(self):
        with az.compressed_activations(self.model, min_numel=0, probe=self.loss) as ca:
            self.loss().backward()
            ca.end_step()
            self.loss().backward()
            grads = [q.grad.clone() for q in self.model.parameters()]
            buffers = [b.clone() for b in self.model.buffers()]
            rng = torch.get_rng_state()
            records = len(ca.stats.records)
            cal = ca.calibrate(self.loss)
            self.assertGreaterEqual(cal["passes"], 3)
            for q, g in zip(self.model.parameters(), grads):
                self.assertTrue(torch.equal(q.grad, g))
            for b, want in zip(self.model.buffers(), buffers):
                self.assertTrue(torch.equal(b, want))
            self.assertTrue(torch.equal(torch.get_rng_state(), rng))
            self.assertEqual(len(ca.stats.records), records)  # the probe records nothing
            summary = ca.end_step()
            self.assertGreater(summary["tensors"], 0)  # the step's own saves are still there

    def test_refusals(self):
        with self.assertRaisesRegex(ValueError, "bounds must be"):
            az.compressed_activations(self.model, bounds="lossy")
        with self.assertRaisesRegex(ValueError, "tolerance"):
            az.compressed_activations(self.model, tolerance=0.0)
        ca = az.compressed_activations(self.model, bounds="policy")
        with self.assertRaisesRegex(RuntimeError, "inside the context"):
            ca.calibrate(self.loss)
        with ca:
            with self.assertRaisesRegex(RuntimeError, "finished step"):
                ca.calibrate(self.loss)
            self.loss().backward()
            ca.end_step()
            with self.assertRaisesRegex(ValueError, "no probe"):
                ca.calibrate()


if __name__ == "__main__":
    t0 = time.time()
    result = unittest.main(exit=False, verbosity=2).result
    print(f"total {time.time() - t0:.1f} s")
    sys.exit(0 if result.wasSuccessful() else 1)
