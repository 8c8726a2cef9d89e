#!/usr/bin/env python3
"""Train and export the example model pairs and the committed Fashion-MNIST subsets (dev script, not run by tests).

Every pair holds two networks of the same family and DIFFERENT depth, the input of a cross-layer alignment:

    mlp          784-400-200-100-50-25-10  vs  784-400-200-100-10          (biases, ReLU)
    vgg          [16,16,M,32,32,M,64,64,M] vs  [16,M,32,M,64,M] + Linear(576,10)   (no biases, no BN)
    resnet       BasicBlock [3,3,3] vs [2,2,2], widths 16/32/64, BN, Linear(64,10) with bias
    resnet_nobn  the same ResNets without BN and without any bias (the paper's setting)

Inputs are x_norm = (pixel / 255 - 0.2860) / 0.3530 in float32, shape [N,1,28,28]; the model maps them to logits [N,10].
The normalisation is NOT part of the graph: it is written into each file's metadata_props
(clafusion.input_mean, clafusion.input_std, clafusion.dataset) so that readers can apply it.

Outputs (paths relative to --out, default examples/):
    data/fashion-mnist-test-2k-{images-idx3,labels-idx1}-ubyte.gz   first 2000 test images (evaluation data)
    data/fashion-mnist-train-1k-{images-idx3,labels-idx1}-ubyte.gz  1000 training images, seed TRAIN_SUBSET_SEED
    models/<name>.onnx, models/models.json, models/pairs.json, MODELS.md

Usage (2 shared cores: keep it single-threaded and niced; all pairs take about 12 minutes of one idle core):
    nice -n 10 /usr/bin/python3 scripts/train_fixtures.py [--only mlp,vgg,resnet,resnet_nobn] [--data-only]
Determinism: single thread, fixed seeds, deterministic algorithms; `--only` retrains just those pairs and merges
their entries into the existing JSON files, with the same result as a full run.
"""
import argparse
import gzip
import json
import os
import struct
import time
import warnings
from collections import OrderedDict

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.2860, 0.3530
NUM_CLASSES = 10
TEST_SUBSET_SIZE = 2000
TRAIN_SUBSET_SIZE = 1000
TRAIN_SUBSET_SEED = 20231126
BATCH_SIZE = 128
DEFAULT_OPSET = 13
DATA_DIR = "/usr/share/datasets/fashion-mnist"

# ---------------------------------------------------------------------------------------------------------------------
# IDX files


def read_idx(path):
    """Read a (gzip) IDX file: magic 0x0000 | dtype 0x08 (uint8) | ndim, then ndim big-endian int32 sizes, then data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not a uint8 IDX file")
    shape = struct.unpack(f">{ndim}i", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def write_idx(path, array):
    """Write a uint8 array as a gzip IDX file; mtime=0 and no file name in the header keep the bytes reproducible."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    tmp = path + ".tmp"
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    os.replace(tmp, path)


def load_split(data_dir, split):
    images = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"))
    return images, labels


def normalise(images):
    """uint8 [N,28,28] -> float32 [N,1,28,28], (x/255 - mean)/std: the recipe recorded in the ONNX metadata."""
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
    return (x / 255.0 - MEAN) / STD


def tensor_split(data_dir, split):
    """A split as model inputs and int64 labels."""
    images, labels = load_split(data_dir, split)
    return normalise(images), torch.from_numpy(labels.astype(np.int64))


def write_subsets(data_dir, out_dir):
    """The first TEST_SUBSET_SIZE test images, and TRAIN_SUBSET_SIZE training images drawn without replacement
    (indices sorted, so the subset keeps the original order)."""
    os.makedirs(out_dir, exist_ok=True)
    test_x, test_y = load_split(data_dir, "t10k")
    train_x, train_y = load_split(data_dir, "train")
    picked = np.sort(np.random.default_rng(TRAIN_SUBSET_SEED).choice(len(train_x), TRAIN_SUBSET_SIZE, replace=False))
    subsets = {
        "test-2k": (test_x[:TEST_SUBSET_SIZE], test_y[:TEST_SUBSET_SIZE]),
        "train-1k": (train_x[picked], train_y[picked]),
    }
    for tag, (x, y) in subsets.items():
        write_idx(os.path.join(out_dir, f"fashion-mnist-{tag}-images-idx3-ubyte.gz"), x)
        write_idx(os.path.join(out_dir, f"fashion-mnist-{tag}-labels-idx1-ubyte.gz"), y)
    return picked


# ---------------------------------------------------------------------------------------------------------------------
# Architectures (module names become the ONNX initializer names, e.g. "layer2.0.shortcut.0.weight")


def make_mlp(hidden):
    layers = [("flatten", nn.Flatten())]
    widths = [28 * 28] + list(hidden)
    for i in range(len(hidden)):
        layers += [(f"fc{i + 1}", nn.Linear(widths[i], widths[i + 1])), (f"relu{i + 1}", nn.ReLU())]
    layers.append((f"fc{len(hidden) + 1}", nn.Linear(widths[-1], NUM_CLASSES)))
    return nn.Sequential(OrderedDict(layers))


class VGG(nn.Module):
    """conv3x3(pad 1) + ReLU per number in cfg, MaxPool 2 per "M"; Flatten; one Linear classifier. No biases unless
    `bias` (then every conv and the classifier have one)."""

    def __init__(self, cfg, bias=False):
        super().__init__()
        layers, channels = [], 1
        for item in cfg:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(channels, item, 3, padding=1, bias=bias), nn.ReLU()]
                channels = item
        self.features = nn.Sequential(*layers)
        side = 28 // 2 ** cfg.count("M")
        self.classifier = nn.Linear(channels * side * side, NUM_CLASSES, bias=bias)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut x); the shortcut is conv1x1+BN when the shape changes.
    Parameter order conv1, bn1, conv2, bn2, shortcut matches the kuangliu ResNets of the reference code."""

    def __init__(self, cin, cout, stride, bn):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout) if bn else nn.Identity()
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            projection = [nn.Conv2d(cin, cout, 1, stride=stride, bias=False)]
            self.shortcut = nn.Sequential(*projection, *([nn.BatchNorm2d(cout)] if bn else []))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """3x3 stem (16 ch), stages of BasicBlocks (widths 16/32/64, stride 2 at stages 2-3), global average pool,
    Linear(64, 10). Without BN every layer is bias-free, as in the paper's resnet*_nobias_nobn."""

    WIDTHS = (16, 32, 64)

    def __init__(self, blocks, bn):
        super().__init__()
        self.conv1 = nn.Conv2d(1, self.WIDTHS[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(self.WIDTHS[0]) if bn else nn.Identity()
        channels = self.WIDTHS[0]
        for stage, (width, count) in enumerate(zip(self.WIDTHS, blocks)):
            stage_blocks = []
            for i in range(count):
                stride = 2 if stage > 0 and i == 0 else 1
                stage_blocks.append(BasicBlock(channels, width, stride, bn))
                channels = width
            setattr(self, f"layer{stage + 1}", nn.Sequential(*stage_blocks))
        self.linear = nn.Linear(channels, NUM_CLASSES, bias=bn)
        if not bn:
            self._init_without_bn(sum(blocks))

    def _init_without_bn(self, total_blocks):
        """Without BN nothing rescales the signal. torch's default conv init shrinks the variance at every layer
        (the logits start near 0.02 and training crawls), so use He init, Var(w) = 2 / fan_in, which keeps the
        variance through conv + ReLU; each residual branch then adds about the stream's variance, so scale the last
        conv of every branch by total_blocks^-1/2 (Fixup-style) to keep the stream bounded: prod(1 + 1/L) <= e."""
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            for module in self.modules():
                if isinstance(module, BasicBlock):
                    module.conv2.weight.mul_(total_blocks**-0.5)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


VGG_DEEP = [16, 16, "M", 32, 32, "M", 64, 64, "M"]
VGG_SHALLOW = [16, "M", 32, "M", 64, "M"]

# name -> (pair, seed, epochs, opset, constructor, machine-readable architecture)
MODELS = OrderedDict(
    [
        ("mlp_deep", ("mlp", 11, 3, DEFAULT_OPSET, lambda: make_mlp([400, 200, 100, 50, 25]),
                      {"type": "mlp", "layers": [784, 400, 200, 100, 50, 25, 10], "bias": True, "bn": False})),
        ("mlp_shallow", ("mlp", 12, 3, 11, lambda: make_mlp([400, 200, 100]),
                         {"type": "mlp", "layers": [784, 400, 200, 100, 10], "bias": True, "bn": False})),
        ("vgg_deep", ("vgg", 21, 2, DEFAULT_OPSET, lambda: VGG(VGG_DEEP),
                      {"type": "vgg", "cfg": VGG_DEEP, "classifier": [576, 10], "bias": False, "bn": False})),
        ("vgg_shallow", ("vgg", 22, 2, DEFAULT_OPSET, lambda: VGG(VGG_SHALLOW),
                         {"type": "vgg", "cfg": VGG_SHALLOW, "classifier": [576, 10], "bias": False, "bn": False})),
        ("resnet_deep", ("resnet", 31, 1, 17, lambda: ResNet([3, 3, 3], bn=True),
                         {"type": "resnet", "block": "basic", "blocks": [3, 3, 3], "widths": [16, 32, 64],
                          "stem": 16, "classifier": [64, 10], "bias": False, "fc_bias": True, "bn": True})),
        ("resnet_shallow", ("resnet", 32, 1, DEFAULT_OPSET, lambda: ResNet([2, 2, 2], bn=True),
                            {"type": "resnet", "block": "basic", "blocks": [2, 2, 2], "widths": [16, 32, 64],
                             "stem": 16, "classifier": [64, 10], "bias": False, "fc_bias": True, "bn": True})),
        ("resnet_nobn_deep", ("resnet_nobn", 41, 2, DEFAULT_OPSET, lambda: ResNet([3, 3, 3], bn=False),
                              {"type": "resnet", "block": "basic", "blocks": [3, 3, 3], "widths": [16, 32, 64],
                               "stem": 16, "classifier": [64, 10], "bias": False, "fc_bias": False, "bn": False})),
        ("resnet_nobn_shallow", ("resnet_nobn", 42, 2, DEFAULT_OPSET, lambda: ResNet([2, 2, 2], bn=False),
                                 {"type": "resnet", "block": "basic", "blocks": [2, 2, 2], "widths": [16, 32, 64],
                                  "stem": 16, "classifier": [64, 10], "bias": False, "fc_bias": False, "bn": False})),
    ]
)
PAIRS = OrderedDict((pair, [n for n, spec in MODELS.items() if spec[0] == pair]) for pair in
                    ("mlp", "vgg", "resnet", "resnet_nobn"))

# ---------------------------------------------------------------------------------------------------------------------
# Training and evaluation


def train(model, x, y, epochs, seed):
    """Adam (lr 1e-3) with a cosine decay to 0 over all steps, batch 128, reshuffled each epoch from a seeded
    generator; gradient norm clipped at 5 as a guard for the BN-free nets."""
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = (len(x) + BATCH_SIZE - 1) // BATCH_SIZE
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=epochs * steps_per_epoch)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for step in range(steps_per_epoch):
            idx = order[step * BATCH_SIZE : (step + 1) * BATCH_SIZE]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            schedule.step()
            total += loss.item()
        print(f"    epoch {epoch + 1}/{epochs}: mean loss {total / steps_per_epoch:.4f}", flush=True)
    model.eval()


@torch.no_grad()
def logits_of(model, x):
    return torch.cat([model(x[i : i + 1000]) for i in range(0, len(x), 1000)])


def accuracy(logits, y):
    correct = int((logits.argmax(1) == y).sum())
    return correct, correct / len(y)


# ---------------------------------------------------------------------------------------------------------------------
# ONNX export


def export_onnx(model, path, opset):
    """Export in eval mode with BatchNormalization kept as its own node: TrainingMode.EVAL would run the eval
    peephole pass that folds BN into the preceding conv, so use PRESERVE on a model already in eval mode. Constant
    folding stays on (the exporter's default, so the files look like users' files): it only turns the Transpose of a
    bias-free Linear's weight into a [in, out] MatMul initializer; BN has a data input and is never folded.
    The exporter also stores bit-equal parameters once and aliases the copy with an Identity node: in the BN ResNets
    the bn2 and shortcut-BN biases of each projection block sum into the same output, get equal gradients from an
    equal (zero) start and so stay equal. Batch axis dynamic; input "input" [N,1,28,28], output "logits" [N,10]."""
    tmp = path + ".tmp"
    with warnings.catch_warnings():
        # The exporter warns that folding may alter parameters of a model in TRAINING mode; ours is in eval mode.
        warnings.filterwarnings("ignore", message="It is recommended that constant folding be turned off")
        torch.onnx.export(
            model, torch.zeros(1, 1, 28, 28), tmp, opset_version=opset, input_names=["input"],
            output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
            training=torch.onnx.TrainingMode.PRESERVE,
        )
    proto = onnx.load(tmp)
    metadata = {"clafusion.input_mean": f"{MEAN:.4f}", "clafusion.input_std": f"{STD:.4f}",
                "clafusion.dataset": "fashion-mnist"}
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, tmp)
    os.replace(tmp, path)
    return proto


def check_graph(proto, has_bn):
    """Fail if the exporter folded BN into the convs of a BN model (or BN shows up in a BN-free one); return the
    sorted op types for models.json."""
    ops = [node.op_type for node in proto.graph.node]
    bn_nodes = ops.count("BatchNormalization")
    if has_bn and bn_nodes == 0:
        raise RuntimeError("BatchNormalization nodes were folded away")
    if not has_bn and bn_nodes:
        raise RuntimeError("unexpected BatchNormalization nodes")
    return sorted(set(ops))


# ---------------------------------------------------------------------------------------------------------------------


def write_json(path, value):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def write_models_md(path, models, pairs, train_indices_seed):
    lines = [
        "# Example models (Fashion-MNIST)",
        "",
        "Made by `nice -n 10 /usr/bin/python3 scripts/train_fixtures.py` (torch 1.13, CPU, one thread, fixed seeds).",
        "Input: `[N,1,28,28]` float32, `x = (pixel/255 - 0.2860) / 0.3530` (also in each file's metadata_props as",
        "`clafusion.input_mean`, `clafusion.input_std`, `clafusion.dataset`); output `logits` `[N,10]`; batch axis dynamic.",
        "Accuracies are computed in torch on `data/fashion-mnist-test-2k-*` (the first 2000 test images) and on the full",
        "10k test set. `models/models.json` holds the same figures machine-readably; `models/pairs.json` the pairs.",
        "",
        "| model | file | opset | architecture | params | acc test2k | acc test10k |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in models.items():
        lines.append(f"| {name} | `models/{m['file']}` | {m['opset']} | {m['description']} | {m['params']} | "
                     f"{m['accuracy_test2k']:.4f} ({m['correct_test2k']}/2000) | {m['accuracy_test10k']:.4f} |")
    lines += [
        "",
        "Pairs (different depths, so weight averaging is undefined; the prediction ensemble averages the logits):",
        "",
        "| pair | deep | shallow | ensemble acc test2k |",
        "|---|---|---|---|",
    ]
    for pair, p in pairs.items():
        lines.append(f"| {pair} | {p['deep']} | {p['shallow']} | "
                     f"{p['ensemble_accuracy_test2k']:.4f} ({p['ensemble_correct_test2k']}/2000) |")
    lines += [
        "",
        "Data: `data/fashion-mnist-test-2k-{images-idx3,labels-idx1}-ubyte.gz` = the first 2000 images of t10k",
        "(evaluation); `data/fashion-mnist-train-1k-*` = 1000 training images drawn without replacement with",
        f"`numpy.random.default_rng({train_indices_seed}).choice(60000, 1000, replace=False)`, sorted (activation",
        "samples for fusion). Standard gzip IDX files.",
        "",
        "Graph patterns a reader meets (torch 1.13 exporter, constant folding on): the MLP and BN-ResNet classifiers",
        "are `Gemm` (transB=1); the bias-free VGG / BN-free ResNet classifiers are `MatMul` with a `[in, out]`",
        "initializer named `onnx::MatMul_*`; BN ResNets keep `BatchNormalization` nodes (not folded into the convs)",
        "and start with `Identity` nodes that alias bit-equal initializers (the exporter stores the bn2 and shortcut-BN",
        "biases of each projection block once: they get equal gradients from an equal start); ResNet shortcuts are",
        "`Add` nodes; pooling is `MaxPool` (VGG) and `GlobalAveragePool` + `Flatten` (ResNet).",
        "",
    ]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines))
    os.replace(tmp, path)


def describe(arch):
    if arch["type"] == "mlp":
        return "MLP " + "-".join(map(str, arch["layers"])) + ", biases"
    if arch["type"] == "vgg":
        return "VGG " + str(arch["cfg"]).replace("'", "").replace(" ", "") + " + FC 576-10, no bias"
    bn = "BN, bias in FC only" if arch["bn"] else "no BN, no bias"
    return f"ResNet BasicBlock {arch['blocks']} x 16/32/64, GAP, FC 64-10, {bn}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=DATA_DIR)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "examples"))
    parser.add_argument("--only", default=",".join(PAIRS), help="comma-separated pairs to (re)train")
    parser.add_argument("--data-only", action="store_true", help="only write the data subsets")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out = os.path.abspath(args.out)
    write_subsets(args.data_dir, os.path.join(out, "data"))
    if args.data_only:
        return
    models_dir = os.path.join(out, "models")
    os.makedirs(models_dir, exist_ok=True)

    (train_x, train_y), (test_x, test_y) = tensor_split(args.data_dir, "train"), tensor_split(args.data_dir, "t10k")

    models_json_path = os.path.join(models_dir, "models.json")
    pairs_json_path = os.path.join(models_dir, "pairs.json")
    models_json, pairs_json = read_json(models_json_path), read_json(pairs_json_path)
    for pair in args.only.split(","):
        if pair not in PAIRS:
            parser.error(f"unknown pair {pair!r}; choose from {', '.join(PAIRS)}")
        logits2k = {}
        for name in PAIRS[pair]:
            _, seed, epochs, opset, build, arch = MODELS[name]
            torch.manual_seed(seed)
            model = build()
            started = time.time()
            print(f"{name}: training {epochs} epoch(s)", flush=True)
            train(model, train_x, train_y, epochs, seed)
            logits = logits_of(model, test_x)
            logits2k[name] = logits[:TEST_SUBSET_SIZE]
            correct2k, acc2k = accuracy(logits2k[name], test_y[:TEST_SUBSET_SIZE])
            _, acc10k = accuracy(logits, test_y)
            proto = export_onnx(model, os.path.join(models_dir, f"{name}.onnx"), opset)
            ops = check_graph(proto, arch["bn"])
            models_json[name] = {
                "file": f"{name}.onnx", "accuracy_test2k": acc2k, "correct_test2k": correct2k,
                "accuracy_test10k": acc10k, "params": sum(p.numel() for p in model.parameters()), "arch": arch,
                "description": describe(arch), "pair": pair, "opset": opset, "seed": seed, "epochs": epochs,
                "onnx_ops": ops,
            }
            print(f"  {name}: test2k {acc2k:.4f}, test10k {acc10k:.4f}, {time.time() - started:.0f}s", flush=True)
        deep, shallow = PAIRS[pair]
        correct, acc = accuracy((logits2k[deep] + logits2k[shallow]) / 2, test_y[:TEST_SUBSET_SIZE])
        pairs_json[pair] = {"deep": deep, "shallow": shallow, "ensemble_accuracy_test2k": acc,
                            "ensemble_correct_test2k": correct}
        print(f"  {pair} ensemble test2k {acc:.4f}", flush=True)

    ordered = OrderedDict((n, models_json[n]) for n in MODELS if n in models_json)
    ordered_pairs = OrderedDict((p, pairs_json[p]) for p in PAIRS if p in pairs_json)
    write_json(models_json_path, ordered)
    write_json(pairs_json_path, ordered_pairs)
    write_models_md(os.path.join(out, "MODELS.md"), ordered, ordered_pairs, TRAIN_SUBSET_SEED)


if __name__ == "__main__":
    main()
