"""Baseline for benchmarks/cases/train.ts: one SGD training step of an example model in torch on the CPU.

usage: python3 train.py <model name> <batch size> <threads>
Builds the model's architecture with the constructor of scripts/train_fixtures.py (the script that trained the
examples; weights do not matter for timing) and runs one warm-up step, prints "ready", then serves one timing per
stdin line: zero_grad + forward + cross-entropy + backward + SGD(lr 0.01, momentum 0.9, weight decay 5e-4) in train
mode on random inputs [batch, 1, 28, 28] with torch.set_num_threads(threads); the reply is the step's wall time in
ms. The case interleaves these with its own steps, so load from other jobs hits both sides alike. EOF ends it.
"""
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import train_fixtures  # noqa: E402


def main():
    name, batch, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = train_fixtures.MODELS[name][4]()
    model.train()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def step():
        optimiser.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimiser.step()

    step()
    print("ready", flush=True)
    for _ in sys.stdin:
        start = time.perf_counter()
        step()
        print((time.perf_counter() - start) * 1e3, flush=True)


main()
