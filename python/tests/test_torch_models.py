# SPDX-License-Identifier: Apache-2.0
"""compressed_activations with its defaults on model code nobody in this project wrote
(pytest; needs PyTorch 2.x, transformers and torchvision, from PyPI; each family is
skipped when its library is missing).

Tiny configurations of transformers GPT-2, Llama and BERT, torchvision ViT and
ResNet-18, and nn.TransformerEncoder (model_zoo.py), with random weights and
synthetic batches. Three SGD steps each: the first learns the plan and ends with the
calibration of the measured bounds, the next two are compressed. Each step's weight
gradient is compared with the uncompressed gradient of the same step (same weights,
batch and dropout masks). Asserted with the package's defaults:

- the activation ratio of the last step (raw bytes / stored bytes) >= 5 in float32,
  >= 3.5 under torch.autocast to bfloat16 (against the bfloat16 bytes autograd keeps);
- at most 10 % of the bytes kept raw (parameters' autocast copies count as raw);
- the weight-gradient cosine >= 0.99 against uncompressed, >= 0.999 under autocast;
- under autocast no weight copy is compressed (the records of parameter copies are raw);
- with transformers' gradient checkpointing, the saves that remain (the blocks'
  inputs) are compressed.

Measured on the 2-core VM, PyTorch 2.15 (CPU): bench/results/torch-models-*.md.
"""
import pytest

torch = pytest.importorskip("torch")
if tuple(int(v) for v in torch.__version__.split(".")[:2]) < (2, 0):
    pytest.skip("the model families need PyTorch 2.x", allow_module_level=True)

import model_zoo  # noqa: E402

torch.set_num_threads(2)

FP32 = [("gpt2", 5.0), ("llama", 5.0), ("bert", 5.0), ("vit", 5.0), ("resnet18", 5.0), ("encoder", 5.0)]


def _check(result, ratio, cosine):
    summary = (f"{result['family']} {result['mode']}: ratio {result['ratio']:.2f}, raw share "
               f"{result['raw_share']:.3f} {result['raw_reasons']}, cosine {result['cosine']:.5f}")
    print("\n  " + summary, end="")
    assert result["ratio"] >= ratio, summary
    assert result["raw_share"] <= 0.10, summary
    assert result["cosine"] >= cosine, summary


@pytest.mark.parametrize("name,ratio", FP32, ids=[n for n, _ in FP32])
def test_float32_defaults(name, ratio):
    if not model_zoo.available(name):
        pytest.skip(f"{name} needs {model_zoo._NEEDS[name]}")
    _check(model_zoo.measure(name), ratio, 0.99)


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_autocast_bfloat16(name):
    if not model_zoo.available(name):
        pytest.skip(f"{name} needs transformers")
    result = model_zoo.measure(name, "autocast")
    _check(result, 3.5, 0.999)
    records = result["context"].stats.records
    assert any(r["dtype"] == "bfloat16" and r["compressed"] for r in records)   # in their own type
    copies = [r for r in records if r["reason"] == "parameter"]
    assert copies and all(r["dtype"] == "bfloat16" and not r["compressed"] for r in copies), copies


def test_gradient_checkpointing():
    if not model_zoo.available("gpt2"):
        pytest.skip("gpt2 needs transformers")
    result = model_zoo.measure("gpt2", "checkpointing")
    _check(result, 5.0, 0.99)
    kinds = {k for r in result["context"].stats.records if r["compressed"] for k in r["kinds"]}
    assert "checkpoint.inputs" in kinds or any(k.startswith("CheckpointFunction") for k in kinds), kinds
