"""Dev check (not part of npm test; the files are too big to commit): the real torchvision vgg11 and resnet18
(weights=None, 1000 classes) exported by plain `torch.onnx.export` at 1x3x224x224 (fixed batch, no dynamic axes, no
metadata) are recognised by `clafusion inspect`.

Run: nice /usr/bin/python3 scripts/check-torchvision-exports.py   (after `npx tsc -p tsconfig.json`; about 1 GB disk)
"""
import os
import subprocess
import sys
import tempfile

import torch
import torchvision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

torch.set_num_threads(1)


def main():
    failed = 0
    with tempfile.TemporaryDirectory(prefix="clafusion-torchvision-") as tmp:
        for name in ("vgg11", "resnet18"):
            torch.manual_seed(0)
            model = getattr(torchvision.models, name)(weights=None).eval()
            path = os.path.join(tmp, f"{name}.onnx")
            torch.onnx.export(model, torch.randn(1, 3, 224, 224), path)
            command = ["node", os.path.join(ROOT, "bin", "clafusion.js"), "inspect", path]
            run = subprocess.run(command, capture_output=True, text=True)
            lines = (run.stdout or run.stderr).strip().splitlines()
            print(f"{name}: {os.path.getsize(path) / 1e6:.1f} MB, inspect exit {run.returncode}")
            print("\n".join(f"  {line}" for line in (lines if run.returncode else lines[:3] + ["  ..."] + lines[-2:])))
            failed += run.returncode != 0
            os.remove(path)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
