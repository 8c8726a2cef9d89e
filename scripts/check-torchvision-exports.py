"""Dev check (not part of npm test; the files are too big to commit): real torchvision models (weights=None, 1000
classes) exported by plain `torch.onnx.export` at 1x3x224x224 (opset 13, fixed batch of 1, no dynamic axes, no
metadata), as users bring them:

- vgg11 and resnet18 are recognised by `clafusion inspect`;
- resnet101 + resnet50 fuse in weight mode to at most 1.05x resnet101's parameters (compact Bottleneck balancing);
- resnet34 + resnet18 fuse in activation mode on 32 random 224x224 images (npy, ImageNet normalisation), and the
  fused model evaluates: the fixed batch of 1 is no obstacle to batched runs.

Prints each command's wall time and peak RSS. Run: nice /usr/bin/python3 scripts/check-torchvision-exports.py (after
`npm run build:ts`; about 1.5 GB of disk and 2 minutes on 2 cores).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "bin", "clafusion.js")

torch.set_num_threads(1)


def export(tmp, name):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    path = os.path.join(tmp, f"{name}.onnx")
    torch.onnx.export(model, torch.randn(1, 3, 224, 224), path, opset_version=13)
    return path, sum(p.numel() for p in model.parameters())


def clafusion(*args):
    """Runs the CLI under GNU time; returns (exit code, stdout, stderr, seconds, its peak RSS in GiB)."""
    start = time.monotonic()
    run = subprocess.run(["/usr/bin/time", "-f", "peak-kb %M", "node", CLI, *args], capture_output=True, text=True)
    seconds = time.monotonic() - start
    lines = run.stderr.rstrip().splitlines()
    peak = int(lines[-1].split()[1]) / 2**20 if lines and lines[-1].startswith("peak-kb") else float("nan")
    return run.returncode, run.stdout, "\n".join(lines[:-1]), seconds, peak


def check(condition, what):
    print(f"  {'ok' if condition else 'FAILED'}: {what}")
    return 0 if condition else 1


def inspect_models(tmp):
    failed = 0
    for name in ("vgg11", "resnet18"):
        path, _ = export(tmp, name)
        code, out, err, _, _ = clafusion("inspect", path)
        print(f"{name}: inspect exit {code}")
        failed += check(code == 0, f"{name} is recognised" + ("" if code == 0 else f": {err.strip()}"))
        os.remove(path)
    return failed


def fuse_weights(tmp):
    deep, deep_params = export(tmp, "resnet101")
    shallow, _ = export(tmp, "resnet50")
    out = os.path.join(tmp, "fused-101-50.onnx")
    code, stdout, err, seconds, peak = clafusion("fuse", deep, shallow, "-o", out, "--json")
    print(f"resnet101 + resnet50, weight mode: exit {code}, {seconds:.1f} s, peak RSS {peak:.2f} GiB")
    if code != 0:
        return check(False, err.strip())
    params = json.loads(stdout)["parameters"]
    failed = check(params <= 1.05 * deep_params, f"fused parameters {params} = {params / deep_params:.3f}x resnet101's")
    for path in (deep, shallow, out):
        os.remove(path)
    return failed


def fuse_activations(tmp):
    deep, _ = export(tmp, "resnet34")
    shallow, _ = export(tmp, "resnet18")
    rng = np.random.default_rng(0)
    images = os.path.join(tmp, "images.npy")
    labels = os.path.join(tmp, "labels.npy")
    np.save(images, (rng.random((32, 3, 224, 224)) * 255).astype(np.uint8))
    np.save(labels, rng.integers(0, 1000, 32).astype(np.int64))
    out = os.path.join(tmp, "fused-34-18.onnx")
    code, stdout, err, seconds, peak = clafusion(
        "fuse", deep, shallow, "-o", out, "--data", f"npy:{images}", "--samples", "32", "--normalize", "imagenet",
        "--eval-data", f"npy:{images},{labels}", "--json")
    print(f"resnet34 + resnet18, activation mode, 32 samples: exit {code}, {seconds:.1f} s, peak RSS {peak:.2f} GiB")
    if code != 0:
        return check(False, err.strip())
    result = json.loads(stdout)
    print(f"  stages (ms): {', '.join(f'{k} {v:.0f}' for k, v in result['timings'].items())}")
    validation = result.get("validation") or {}
    return check(validation.get("samples") == 32 and "fused" in validation, "the fused model evaluates on the 32 images")


def main():
    with tempfile.TemporaryDirectory(prefix="clafusion-torchvision-") as tmp:
        failed = inspect_models(tmp) + fuse_weights(tmp) + fuse_activations(tmp)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
