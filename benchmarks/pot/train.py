"""Baseline for benchmarks/cases/train.ts: one SGD training step of an example model in torch on the CPU.

usage: python3 train.py <model name> <batch size> <threads> <repetitions>
Builds the model's architecture with the constructor of scripts/train_fixtures.py (the script that trained the
examples; weights do not matter for timing), runs one warm-up step, then times `repetitions` steps of
zero_grad + forward + cross-entropy + backward + SGD(lr 0.01, momentum 0.9, weight decay 5e-4) in train mode on random
inputs [batch, 1, 28, 28] with torch.set_num_threads(threads), and prints the median step time in ms.
"""
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import train_fixtures  # noqa: E402


def main():
    name, batch, threads, repetitions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
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
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    print(statistics.median(times), flush=True)


main()
