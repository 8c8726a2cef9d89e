#!/usr/bin/env python3
"""Train and export the narrow, shallow student models of the teacher-student compression (spec §4.2; dev script,
not run by tests). Each student pairs with the wide, deep model of its family in examples/models as the teacher:

    mlp_student          784-100-50-25-10                 teacher mlp_deep     784-400-200-100-50-25-10
    vgg_student          [8,M,16,M,32,M] + Linear(288,10)   teacher vgg_deep     [16,16,M,32,32,M,64,64,M]
    resnet_student       BasicBlock [2,2,2] x 8/16/32, BN  teacher resnet_deep  BasicBlock [3,3,3] x 16/32/64, BN

Same data, normalisation, recipe (Adam + cosine, the family's epochs), export and metadata as
scripts/train_fixtures.py, whose helpers this imports. Writes examples/models/<name>.onnx, students.json and
examples/STUDENTS.md.

Usage: nice -n 10 /usr/bin/python3 scripts/train_students.py   (a few minutes of one core)
"""
import json
import os
import sys
import time
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
import train_fixtures as fx  # noqa: E402


class NarrowResNet(fx.ResNet):
    WIDTHS = (8, 16, 32)


VGG_STUDENT = [8, "M", 16, "M", 32, "M"]

# name -> (teacher, seed, epochs, opset, constructor, description)
STUDENTS = OrderedDict(
    [
        ("mlp_student", ("mlp_deep", 13, 3, fx.DEFAULT_OPSET, lambda: fx.make_mlp([100, 50, 25]),
                         "MLP 784-100-50-25-10, biases")),
        ("vgg_student", ("vgg_deep", 23, 2, fx.DEFAULT_OPSET, lambda: fx.VGG(VGG_STUDENT),
                         "VGG [8,M,16,M,32,M] + FC 288-10, no bias")),
        ("resnet_student", ("resnet_deep", 33, 1, fx.DEFAULT_OPSET, lambda: NarrowResNet([2, 2, 2], bn=True),
                            "ResNet BasicBlock [2, 2, 2] x 8/16/32, GAP, FC 32-10, BN, bias in FC only")),
    ]
)


def write_students_md(path, students):
    lines = [
        "# Student models (teacher-student compression, Fashion-MNIST)",
        "",
        "Made by `nice -n 10 /usr/bin/python3 scripts/train_students.py` with the recipe, normalisation and export of",
        "`scripts/train_fixtures.py` (see MODELS.md). Each student is narrow and shallow; its teacher is the wide, deep",
        "model of its family. `models/students.json` holds the same figures machine-readably.",
        "",
        "| student | teacher | architecture | params | acc test2k | acc test10k |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in students.items():
        lines.append(f"| {name} | {s['teacher']} | {s['description']} | {s['params']} | "
                     f"{s['accuracy_test2k']:.4f} ({s['correct_test2k']}/2000) | {s['accuracy_test10k']:.4f} |")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "examples"))
    train_x, train_y = fx.load_split(fx.DATA_DIR, "train")
    test_x, test_y = fx.load_split(fx.DATA_DIR, "t10k")
    train_x, train_y = fx.normalise(train_x), torch.from_numpy(train_y.astype(np.int64))
    test_x, test_y = fx.normalise(test_x), torch.from_numpy(test_y.astype(np.int64))
    students = OrderedDict()
    for name, (teacher, seed, epochs, opset, build, description) in STUDENTS.items():
        torch.manual_seed(seed)
        model = build()
        started = time.time()
        print(f"{name}: training {epochs} epoch(s)", flush=True)
        fx.train(model, train_x, train_y, epochs, seed)
        logits = fx.logits_of(model, test_x)
        correct2k, acc2k = fx.accuracy(logits[: fx.TEST_SUBSET_SIZE], test_y[: fx.TEST_SUBSET_SIZE])
        _, acc10k = fx.accuracy(logits, test_y)
        fx.export_onnx(model, os.path.join(out, "models", f"{name}.onnx"), opset)
        students[name] = {"file": f"{name}.onnx", "teacher": teacher, "description": description,
                          "params": sum(p.numel() for p in model.parameters()), "accuracy_test2k": acc2k,
                          "correct_test2k": correct2k, "accuracy_test10k": acc10k, "seed": seed, "epochs": epochs}
        print(f"  {name}: test2k {acc2k:.4f}, test10k {acc10k:.4f}, {time.time() - started:.0f}s", flush=True)
    path = os.path.join(out, "models", "students.json")
    with open(path + ".tmp", "w") as f:
        json.dump(students, f, indent=2)
        f.write("\n")
    os.replace(path + ".tmp", path)
    write_students_md(os.path.join(out, "STUDENTS.md"), students)


if __name__ == "__main__":
    main()
