#!/usr/bin/env python3
"""Train the fixture families of the quality harness (benchmarks/quality; dev script, not run by tests).

Each family has two seeds ("a", "b") of its deep architecture and one of its shallow architecture, so the harness
can compare, on the same family, the heterogeneous fusions deep_a + shallow_a and deep_b + shallow_a with the
homogeneous fusion deep_a + deep_b:

    mlp          784-200-200-100-100-50-10  vs  784-200-100-50-10         (biases, ReLU)
    vgg          [8,8,M,16,16,M,32,32,M] vs [8,M,16,M,32,M] + Linear(288,10), no biases
    vgg_bias     the same VGGs with a bias in every conv and in the classifier
    resnet       BasicBlock [3,3,3] vs [2,2,2], widths 8/16/32, BN, Linear(32,10) with bias
    resnet_nobn  the same ResNets without BN and without any bias (the paper's setting)
    bottleneck   Bottleneck [2,2,2] vs [1,1,1], inner widths 8/16/32, expansion 4, BN, Linear(128,10) with bias
    vgg_wide     vgg at twice the widths ([16,16,M,32,32,M,64,64,M] vs [16,M,32,M,64,M]), trained longer
    resnet_wide  resnet at twice the widths (16/32/64, train_fixtures' ResNet), trained longer

Same conventions as scripts/train_fixtures.py (whose architectures, training loop and ONNX export this reuses):
inputs x = (pixel/255 - 0.2860)/0.3530, [N,1,28,28] float32, logits [N,10], the normalisation in the metadata_props.
Each model trains on the first N images of a seeded permutation of the 60k training split (its own seed; N =
30000 for the MLPs, 12000 for the CNNs, or --train-size), Adam + cosine, batch 128; accuracies are measured in
torch on the full 10k test split.

Outputs (git-ignored, default .fixtures/families/): <family>_<deep|shallow>_<a|b>.onnx and families.json
(models: file, family, role, seed, epochs, params, accuracy_test10k; pairs: the harness's pairs).

Usage (2 shared cores: one thread, niced; all families take about 15 minutes of one idle core, an hour on a
loaded machine):
    nice -n 10 /usr/bin/python3 scripts/train_families.py [--only mlp,vgg,...] [--members deep_a,...] [--out DIR]
        [--train-size N]
Determinism: single thread, fixed seeds, deterministic algorithms; --only retrains those families and merges their
entries into families.json.
"""
import argparse
import os
import sys
import time
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_fixtures import (  # noqa: E402  (the sibling script is the library of the conventions)
    DATA_DIR, DEFAULT_OPSET, NUM_CLASSES, ResNet, VGG, accuracy, check_graph, export_onnx, logits_of, make_mlp,
    read_json, tensor_split, train, write_json,
)

WIDTHS = (8, 16, 32)


class NarrowResNet(ResNet):
    """train_fixtures' BasicBlock ResNet at widths 8/16/32 (stem 8)."""

    WIDTHS = WIDTHS


class Bottleneck(nn.Module):
    """relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1 x)))))) + shortcut x): 1x1 (width) -> 3x3 (width, stride) ->
    1x1 (4 x width); the shortcut is conv1x1+BN when the shape changes (torchvision's ResNet-50 block, stride on
    the 3x3)."""

    EXPANSION = 4

    def __init__(self, cin, width, stride):
        super().__init__()
        cout = width * self.EXPANSION
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return F.relu(self.bn3(self.conv3(out)) + self.shortcut(x))


class BottleneckResNet(ResNet):
    """3x3 stem (8 ch) + BN, stages of Bottlenecks (inner widths 8/16/32, stride 2 at stages 2-3), global average
    pool, Linear(128, 10) with bias; ResNet's forward."""

    def __init__(self, blocks):
        nn.Module.__init__(self)  # ResNet's own __init__ builds BasicBlocks
        self.conv1 = nn.Conv2d(1, WIDTHS[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(WIDTHS[0])
        channels = WIDTHS[0]
        for stage, (width, count) in enumerate(zip(WIDTHS, blocks)):
            stage_blocks = []
            for i in range(count):
                stage_blocks.append(Bottleneck(channels, width, 2 if stage > 0 and i == 0 else 1))
                channels = width * Bottleneck.EXPANSION
            setattr(self, f"layer{stage + 1}", nn.Sequential(*stage_blocks))
        self.linear = nn.Linear(channels, NUM_CLASSES)


VGG_DEEP = [8, 8, "M", 16, 16, "M", 32, 32, "M"]
VGG_SHALLOW = [8, "M", 16, "M", 32, "M"]
VGG_WIDE_DEEP = [16, 16, "M", 32, 32, "M", 64, 64, "M"]
VGG_WIDE_SHALLOW = [16, "M", 32, "M", 64, "M"]
# The wide families: closer to what users fuse (wider, better trained), at what two shared cores allow.
WIDE_TRAIN_SIZE = 30000


CNN_TRAIN_SIZE = 12000


def family(has_bn, epochs, deep, shallow, deep_text, shallow_text, train_size=CNN_TRAIN_SIZE):
    """has BN, epochs, training images, {role: constructor}, {role: architecture text}."""
    return has_bn, epochs, train_size, {"deep": deep, "shallow": shallow}, {"deep": deep_text, "shallow": shallow_text}


FAMILIES = OrderedDict(
    [
        ("mlp", family(False, 3, lambda: make_mlp([200, 200, 100, 100, 50]), lambda: make_mlp([200, 100, 50]),
                       "MLP 784-200-200-100-100-50-10", "MLP 784-200-100-50-10", train_size=30000)),
        ("vgg", family(False, 2, lambda: VGG(VGG_DEEP), lambda: VGG(VGG_SHALLOW),
                       "VGG [8,8,M,16,16,M,32,32,M], no bias", "VGG [8,M,16,M,32,M], no bias")),
        ("vgg_bias", family(False, 2, lambda: VGG(VGG_DEEP, bias=True), lambda: VGG(VGG_SHALLOW, bias=True),
                            "VGG [8,8,M,16,16,M,32,32,M], biases", "VGG [8,M,16,M,32,M], biases")),
        ("resnet", family(True, 2, lambda: NarrowResNet([3, 3, 3], bn=True), lambda: NarrowResNet([2, 2, 2], bn=True),
                          "ResNet BasicBlock [3,3,3] x 8/16/32, BN", "ResNet BasicBlock [2,2,2] x 8/16/32, BN")),
        ("resnet_nobn", family(False, 2, lambda: NarrowResNet([3, 3, 3], bn=False),
                               lambda: NarrowResNet([2, 2, 2], bn=False),
                               "ResNet BasicBlock [3,3,3] x 8/16/32, no BN, no bias",
                               "ResNet BasicBlock [2,2,2] x 8/16/32, no BN, no bias")),
        ("bottleneck", family(True, 2, lambda: BottleneckResNet([2, 2, 2]), lambda: BottleneckResNet([1, 1, 1]),
                              "ResNet Bottleneck [2,2,2] x 8/16/32 (x4), BN",
                              "ResNet Bottleneck [1,1,1] x 8/16/32 (x4), BN")),
        ("vgg_wide", family(False, 4, lambda: VGG(VGG_WIDE_DEEP), lambda: VGG(VGG_WIDE_SHALLOW),
                            "VGG [16,16,M,32,32,M,64,64,M], no bias", "VGG [16,M,32,M,64,M], no bias",
                            train_size=WIDE_TRAIN_SIZE)),
        ("resnet_wide", family(True, 3, lambda: ResNet([3, 3, 3], bn=True), lambda: ResNet([2, 2, 2], bn=True),
                               "ResNet BasicBlock [3,3,3] x 16/32/64, BN", "ResNet BasicBlock [2,2,2] x 16/32/64, BN",
                               train_size=WIDE_TRAIN_SIZE)),
    ]
)
# (role, seed tag): the models of every family; seeds differ per family so that no two models share a start.
MEMBERS = (("deep", "a"), ("deep", "b"), ("shallow", "a"))


def member_seed(family_index, role, tag):
    return 1000 + 100 * family_index + (0 if role == "deep" else 10) + (1 if tag == "a" else 2)


def family_pairs(name):
    """Pairs of the harness: each deep seed with the shallow one (heterogeneous), the deep seeds (homogeneous)."""
    def pair(kind, first, second):
        return {"name": f"{name} {first}+{second}", "family": name, "kind": kind,
                "models": [f"{name}_{first}", f"{name}_{second}"]}

    return [pair("heterogeneous", "deep_a", "shallow_a"), pair("heterogeneous", "deep_b", "shallow_a"),
            pair("homogeneous", "deep_a", "deep_b")]


def train_subset(train_x, train_y, size, seed):
    picked = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))[:size]
    return train_x[picked], train_y[picked]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=DATA_DIR)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", ".fixtures", "families"))
    parser.add_argument("--only", default=",".join(FAMILIES), help="comma-separated families to (re)train")
    parser.add_argument("--train-size", type=int, help="training images per model (of 60000), for every family")
    parser.add_argument("--members", default=",".join(f"{role}_{tag}" for role, tag in MEMBERS),
                        help="comma-separated members to (re)train, e.g. deep_a,shallow_a")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    (train_x, train_y), (test_x, test_y) = tensor_split(args.data_dir, "train"), tensor_split(args.data_dir, "t10k")

    index_path = os.path.join(out, "families.json")
    index = read_json(index_path) or {"models": {}, "pairs": []}
    families = args.only.split(",")
    for family_name in families:
        if family_name not in FAMILIES:
            parser.error(f"unknown family {family_name!r}; choose from {', '.join(FAMILIES)}")
        has_bn, epochs, train_size, builders, texts = FAMILIES[family_name]
        train_size = args.train_size or train_size
        for role, tag in MEMBERS:
            if f"{role}_{tag}" not in args.members.split(","):
                continue
            name = f"{family_name}_{role}_{tag}"
            seed = member_seed(list(FAMILIES).index(family_name), role, tag)
            torch.manual_seed(seed)
            model = builders[role]()
            started = time.time()
            print(f"{name}: training {epochs} epoch(s) on {train_size} images", flush=True)
            train(model, *train_subset(train_x, train_y, train_size, seed), epochs, seed)
            _, acc = accuracy(logits_of(model, test_x), test_y)
            check_graph(export_onnx(model, os.path.join(out, f"{name}.onnx"), DEFAULT_OPSET), has_bn)
            index["models"][name] = {
                "file": f"{name}.onnx", "family": family_name, "role": role, "seed": seed, "epochs": epochs,
                "train_size": train_size, "params": sum(p.numel() for p in model.parameters()),
                "architecture": texts[role], "accuracy_test10k": acc,
            }
            print(f"  {name}: test10k {acc:.4f}, {time.time() - started:.0f}s", flush=True)
            write_index(index_path, index)


def write_index(path, index):
    """families.json with the models in family order and the pairs whose models are all there."""
    index["pairs"] = [pair for family_name in FAMILIES for pair in family_pairs(family_name)
                      if all(m in index["models"] for m in pair["models"])]
    order = list(FAMILIES)
    index["models"] = OrderedDict(sorted(index["models"].items(), key=lambda kv: (order.index(kv[1]["family"]), kv[0])))
    write_json(path, index)


if __name__ == "__main__":
    main()
