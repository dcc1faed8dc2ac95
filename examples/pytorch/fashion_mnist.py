# SPDX-License-Identifier: Apache-2.0
"""Fashion-MNIST from the Debian package dataset-fashion-mnist, and the small ResNet
the training experiment and the CI test use.

The IDX files are read from /usr/share/datasets/fashion-mnist (the path
bench/data.hpp uses), or from $FASHION_MNIST_DIR.
"""
import gzip
import os
import struct

import torch
from torch import nn

DATA_DIR = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
#: Mean and standard deviation of the training images (pixel values / 255).
MEAN, STD = 0.2860, 0.3530


def _read_idx(path, magic, rank):
    with gzip.open(path, "rb") as f:
        data = f.read()
    got, = struct.unpack(">I", data[:4])
    if got != magic:
        raise ValueError(f"{path}: IDX magic {got:#x}, expected {magic:#x}")
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    body = data[4 + 4 * rank:]
    count = 1
    for d in dims:
        count *= d
    if len(body) != count:
        raise ValueError(f"{path}: {len(body)} bytes of data for dimensions {dims}")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def load(split="train", count=None):
    """(images, labels): float32 N x 1 x 28 x 28 normalised images and int64 labels
    of split "train" or "test" (the first `count` of them when given)."""
    name = {"train": "train", "test": "t10k"}[split]
    images = _read_idx(os.path.join(DATA_DIR, f"{name}-images-idx3-ubyte.gz"), 0x803, 3)
    labels = _read_idx(os.path.join(DATA_DIR, f"{name}-labels-idx1-ubyte.gz"), 0x801, 1)
    if count is not None:
        images, labels = images[:count], labels[:count]
    x = (images.float().div_(255.0).sub_(MEAN).div_(STD)).unsqueeze(1).contiguous()
    return x, labels.long()


class BasicBlock(nn.Module):
    """Two 3x3 conv + BatchNorm + ReLU layers with an identity or 1x1-conv shortcut."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relu2 = nn.ReLU()

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNet(nn.Module):
    """A CIFAR-style ResNet for 28x28 grey images: a 3x3 stem, three stages of
    `blocks` basic blocks with `width`, 2*width, 4*width channels (strides 1, 2, 2),
    global average pooling and a linear classifier. blocks=1: ResNet-8."""

    def __init__(self, blocks=1, width=16, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        layers, cin = [], width
        for stage, cout in enumerate((width, 2 * width, 4 * width)):
            for b in range(blocks):
                layers.append(BasicBlock(cin, cout, 2 if stage > 0 and b == 0 else 1))
                cin = cout
        self.stages = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))
