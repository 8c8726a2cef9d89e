"""Plain `torch.onnx.export` fixtures (test/fixtures/exports/): models exported the way a user exports them, with a
fixed batch of 1, no dynamic axes, no metadata and torch's default opset and names.

Run: nice /usr/bin/python3 scripts/make_export_fixtures.py   (Debian's torch 1.13 / torchvision 0.14, CPU)

- plain_deep.onnx / plain_shallow.onnx: a pair of CNNs of different depth trained briefly (one epoch on 12k images)
  on Fashion-MNIST (/usr/share/datasets/fashion-mnist) with inputs x = (pixel/255 - 0.2860)/0.3530, which the files
  do not record: a user has to say --normalize fashion-mnist.
- tv_vgg_bn.onnx: torchvision.models.VGG with make_layers (batch norm) at reduced width on 3x28x28, so the features
  end at 7x7 and AdaptiveAvgPool2d((7, 7)) exports as the 1x1 stride-1 AveragePool of the real vgg11; the classifier
  keeps torchvision's Linear-ReLU-Dropout x2 structure, narrower.
- tv_resnet.onnx: torchvision.models.ResNet with BasicBlocks [2, 2, 2, 2] (resnet18's layout) at widths 4-32, built
  by the class's own _make_layer, on 3x32x32.
- act_leaky.onnx, act_gelu.onnx, act_silu.onnx, act_tanh.onnx, act_sigmoid.onnx: small CNNs (conv, BN, pool, a
  residual block, dense layers) whose hidden activations are LeakyReLU(0.1), GELU (exported as its erf pattern below
  opset 20), SiLU (Sigmoid * Mul), Tanh and Sigmoid.

The untrained models have seeded random weights and randomised BN statistics; they come out bit for bit the same on
every run. The trained pair is deterministic for a given BLAS build and thread count (BLAS threads are pinned to one
here); another machine's BLAS gives a pair of about the same accuracy (78-83 %) with other bytes, which the tests
accept (they check relations, not recorded numbers).
"""
import gzip
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy/torch load BLAS: its reductions depend on threads

import numpy as np
import torch
import torch.nn as nn
import torchvision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "fixtures", "graph"))
from make_fixtures import randomise_bn  # noqa: E402  (BN statistics randomised so BN is not a no-op)
OUT = os.path.join(ROOT, "test", "fixtures", "exports")
DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530

torch.set_num_threads(1)


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def export(model, shape, name):
    model.eval()
    path = os.path.join(OUT, name)
    torch.onnx.export(model, torch.randn(*shape), path)  # fixed batch, no dynamic axes, no metadata
    print(f"{name}: {os.path.getsize(path)} bytes")


# --- the trained plain pair ------------------------------------------------------------------------------------

class PlainCnn(nn.Module):
    """conv blocks (Conv-ReLU, a MaxPool after each stage), x.view(x.size(0), -1), one Linear."""

    def __init__(self, stages):
        super().__init__()
        layers, channels = [], 1
        for stage in stages:
            for width in stage:
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels * 7 * 7, 10)

    def forward(self, x):
        x = self.features(x)
        return self.fc(x.view(x.size(0), -1))


def train(model, images, labels, seed):
    torch.manual_seed(seed)
    x = (torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1) - MEAN) / STD
    y = torch.from_numpy(labels.astype(np.int64))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    order = torch.randperm(len(y))
    for start in range(0, len(y), 64):
        batch = order[start:start + 64]
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        loss.backward()
        optimiser.step()
    model.eval()
    return model


def accuracy(model, images, labels):
    x = (torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1) - MEAN) / STD
    with torch.no_grad():
        return (model(x).argmax(1).numpy() == labels).mean()


def plain_pair():
    images, labels = read_idx("train-images-idx3-ubyte.gz")[:12000], read_idx("train-labels-idx1-ubyte.gz")[:12000]
    test_images = read_idx("t10k-images-idx3-ubyte.gz")[:2000]
    test_labels = read_idx("t10k-labels-idx1-ubyte.gz")[:2000]
    for name, stages, seed in (("plain_deep.onnx", [[8], [16, 16]], 1), ("plain_shallow.onnx", [[8], [16]], 2)):
        torch.manual_seed(seed)
        model = train(PlainCnn(stages), images, labels, seed)
        print(f"{name}: accuracy {accuracy(model, test_images, test_labels):.4f} on the first 2000 test images")
        export(model, (1, 1, 28, 28), name)


# --- torchvision structures at reduced width -------------------------------------------------------------------

def tv_vgg():
    torch.manual_seed(3)
    features = torchvision.models.vgg.make_layers([8, "M", 16, 16, "M"], batch_norm=True)
    model = torchvision.models.VGG(features, num_classes=10)
    model.classifier = nn.Sequential(
        nn.Linear(16 * 7 * 7, 32), nn.ReLU(True), nn.Dropout(),
        nn.Linear(32, 32), nn.ReLU(True), nn.Dropout(),
        nn.Linear(32, 10))
    randomise_bn(model, 3)
    export(model, (1, 3, 28, 28), "tv_vgg_bn.onnx")


def tv_resnet():
    torch.manual_seed(4)
    block = torchvision.models.resnet.BasicBlock
    model = torchvision.models.ResNet(block, [2, 2, 2, 2], num_classes=10)
    model.inplanes = 4
    model.conv1 = nn.Conv2d(3, 4, kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = nn.BatchNorm2d(4)
    model.layer1 = model._make_layer(block, 4, 2)
    model.layer2 = model._make_layer(block, 8, 2, stride=2)
    model.layer3 = model._make_layer(block, 16, 2, stride=2)
    model.layer4 = model._make_layer(block, 32, 2, stride=2)
    model.fc = nn.Linear(32, 10)
    randomise_bn(model, 4)
    export(model, (1, 3, 32, 32), "tv_resnet.onnx")


# --- elementwise activations -----------------------------------------------------------------------------------

class ActBlock(nn.Module):
    def __init__(self, width, act):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.act = act()

    def forward(self, x):
        return self.act(self.bn2(self.conv2(self.act(self.bn1(self.conv1(x))))) + x)


class ActNet(nn.Module):
    """Conv-BN-act-MaxPool, a residual block, Conv-act-MaxPool, flatten, Linear-act, Linear."""

    def __init__(self, act):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), act(), nn.MaxPool2d(2))
        self.block = ActBlock(6, act)
        self.conv = nn.Sequential(nn.Conv2d(6, 8, 3, padding=1), act(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 7 * 7, 16), act(), nn.Linear(16, 10))

    def forward(self, x):
        return self.head(self.conv(self.block(self.stem(x))))


def activation_nets():
    acts = {
        "act_leaky.onnx": lambda: nn.LeakyReLU(0.1),
        "act_gelu.onnx": nn.GELU,
        "act_silu.onnx": nn.SiLU,
        "act_tanh.onnx": nn.Tanh,
        "act_sigmoid.onnx": nn.Sigmoid,
    }
    for seed, (name, act) in enumerate(acts.items(), start=10):
        torch.manual_seed(seed)
        model = ActNet(act)
        randomise_bn(model, seed)
        export(model, (1, 1, 28, 28), name)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    plain_pair()
    tv_vgg()
    tv_resnet()
    activation_nets()
