# SPDX-License-Identifier: Apache-2.0
"""Tiny configurations of the model families people train, with random weights and
synthetic batches (nothing is downloaded), for the tests and benchmarks of
actzip.torch.compressed_activations on code nobody in this project wrote:

- ``gpt2``, ``llama``, ``bert``: Hugging Face ``transformers`` (causal and masked
  language models; the loss computed inside the model from ``labels``);
- ``vit``, ``resnet18``: torchvision (the loss is ``F.cross_entropy`` outside);
- ``encoder``: ``nn.TransformerEncoder`` over ``nn.MultiheadAttention`` with a linear
  head.

Each entry builds ``(model, batch, loss_of)`` where ``loss_of(model, batch)`` runs the
forward pass and returns the loss. Families whose library is not installed are
skipped by ``available()``. ``measure`` runs a few training steps with compressed
activations and compares the gradients with uncompressed ones (the test matrix,
test_torch_models.py, and bench/torch_models.py use it).
"""
import importlib.util

import torch
import torch.nn.functional as F
from torch import nn

VOCAB = 512
BATCH = 8
TOKENS = 128
WIDTH = 64


def _have(module):
    return importlib.util.find_spec(module) is not None


def _tokens(seed, vocab=VOCAB, batch=BATCH, tokens=TOKENS):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (batch, tokens), generator=g)


def _images(seed, size=32, batch=8, classes=10):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, size, size, generator=g), torch.randint(0, classes, (batch,), generator=g)


def _lm_loss(model, batch):
    return model(input_ids=batch, labels=batch).loss


def gpt2(seed=0):
    import transformers
    config = transformers.GPT2Config(vocab_size=VOCAB, n_positions=TOKENS, n_embd=WIDTH, n_layer=2, n_head=4,
                                     bos_token_id=VOCAB - 1, eos_token_id=VOCAB - 1)
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(config)
    model.loss_type = "ForCausalLM"  # named, so the loss does not warn (and break a compiled graph)
    return model, _tokens(seed), _lm_loss


def llama(seed=0):
    import transformers
    config = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=WIDTH, intermediate_size=172,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=TOKENS)
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(config)
    model.loss_type = "ForCausalLM"
    return model, _tokens(seed), _lm_loss


def bert(seed=0):
    import transformers
    config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=WIDTH, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=128, max_position_embeddings=TOKENS)
    torch.manual_seed(seed)
    model = transformers.BertForMaskedLM(config)
    model.loss_type = "ForMaskedLM"
    ids = _tokens(seed)
    g = torch.Generator().manual_seed(seed + 1)
    labels = torch.where(torch.rand(ids.shape, generator=g) < 0.15, ids, torch.full_like(ids, -100))

    def loss_of(model, batch):
        return model(input_ids=batch[0], labels=batch[1]).loss
    return model, (ids, labels), loss_of


def _image_loss(model, batch):
    return F.cross_entropy(model(batch[0]), batch[1])


def vit(seed=0):
    from torchvision.models import VisionTransformer
    torch.manual_seed(seed)
    model = VisionTransformer(image_size=32, patch_size=4, num_layers=2, num_heads=4, hidden_dim=WIDTH,
                              mlp_dim=2 * WIDTH, num_classes=10)
    return model, _images(seed), _image_loss


def resnet18(seed=0):
    from torchvision.models import resnet18 as make
    torch.manual_seed(seed)
    return make(num_classes=10), _images(seed), _image_loss


class EncoderClassifier(nn.Module):
    """nn.TransformerEncoder (post-norm, ReLU feed-forward) over token embeddings, a
    mean-pooled linear head."""

    def __init__(self, vocab=VOCAB, width=WIDTH, layers=2, heads=4, classes=10):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(width, classes)

    def forward(self, ids):
        return self.head(self.encoder(self.embed(ids)).mean(1))


def encoder(seed=0):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    return EncoderClassifier(), (_tokens(seed), torch.randint(0, 10, (BATCH,), generator=g)), _image_loss


FAMILIES = {"gpt2": gpt2, "llama": llama, "bert": bert, "vit": vit, "resnet18": resnet18, "encoder": encoder}
_NEEDS = {"gpt2": "transformers", "llama": "transformers", "bert": "transformers", "vit": "torchvision",
          "resnet18": "torchvision", "encoder": "torch"}


def available(name):
    return _have(_NEEDS[name])


def build(name, seed=0):
    return FAMILIES[name](seed)


def _gradients(model):
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).detach().double().flatten()
                      for p in model.parameters()])


def measure(name, mode="fp32", steps=3, seed=0, **options):
    """Trains `name` for `steps` SGD steps inside compressed_activations(model, **options)
    and compares each step's weight gradient with the uncompressed gradient of the same
    step (same weights, batch and random numbers). ``mode``: "fp32", "autocast"
    (torch.autocast("cpu", torch.bfloat16) around the forward) or "checkpointing"
    (transformers' gradient_checkpointing_enable(), non-reentrant). Returns a dict:
    ratio, raw_share and stats of the last step, cosine (the smallest over the
    compressed steps), seconds per step with and without compression, the context."""
    import contextlib
    import time

    import actzip.torch as az

    model, batch, loss_of = build(name, seed)
    model.train()
    if mode == "checkpointing":  # transformers' switch (renamed in 5.x), non-reentrant
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if mode == "autocast" else contextlib.nullcontext
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    ca = az.compressed_activations(model, **options)
    cosines, plain_seconds, seconds = [], 0.0, 0.0
    with ca:
        for step in range(steps):
            rng = torch.get_rng_state()
            ca._saved_hooks.__exit__(None, None, None)  # the reference: no hooks
            opt.zero_grad(set_to_none=True)
            start = time.perf_counter()
            with autocast():
                loss = loss_of(model, batch)
            loss.backward()
            plain_seconds += time.perf_counter() - start
            want = _gradients(model)
            ca._saved_hooks.__enter__()
            torch.set_rng_state(rng)
            opt.zero_grad(set_to_none=True)
            start = time.perf_counter()
            with autocast():
                loss = loss_of(model, batch)
            loss.backward()
            seconds += time.perf_counter() - start
            got = _gradients(model)
            if step:
                cosines.append(float(got @ want / (got.norm() * want.norm())))
            opt.step()
            ca.end_step()
    last = ca.stats.last()
    return {"family": name, "mode": mode, "ratio": last["ratio"], "raw_share": last["raw_share"],
            "raw_reasons": last["raw_reasons"], "cosine": min(cosines) if cosines else None,
            "seconds": seconds / steps, "plain_seconds": plain_seconds / steps, "last": last, "context": ca}
