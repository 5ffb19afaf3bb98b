"""A compiled supervised training step against the same step written by hand in NumPy.

The learner is sigmoid MLP ; MSE ; cap −ε ; gradient descent, closed into one
diagram and compiled to NumPy source (``interpreters.codegen``). The baseline
is the same step by hand: same dtype, same semantics (loss per example, the
changes of a batch's examples add, biases shaped per example). Both run in
alternating rounds in one process; the median ratio is reported. The
compiled step is called as users call it, inputs checked.

    python benchmarks/compiled_step.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from categories import Para, Real, Sigmoid, dense
from interpreters import codegen
from lenses.learner import Learner
from lenses.losses import mse
from lenses.optimisers import GD

SIZES = [("4-20-3", [4, 20, 3], 150), ("784-128-10", [784, 128, 10], 256),
         ("784-512-10", [784, 512, 10], 1024), ("33 × 20", [20] * 34, 150)]


def by_hand(Ws, bs, x, t, lr):
    hs = [x]
    for W, b in zip(Ws, bs):
        hs.append(1.0 / (1.0 + np.exp(-(hs[-1] @ W.T + b))))
    y = hs[-1]
    loss = 0.5 * ((y - t) ** 2).sum(axis=1)
    d = y - t
    new_W, new_b = [None] * len(Ws), [None] * len(Ws)
    for k in reversed(range(len(Ws))):
        h = hs[k + 1]
        dz = d * h * (1.0 - h)
        if k:
            d = dz @ Ws[k]
        new_W[k], new_b[k] = Ws[k] - lr * (dz.T @ hs[k]), bs[k] - lr * dz.sum(axis=0)
    return new_W, new_b, loss


def learner_of(widths, dtype="float64"):
    layers = [dense(a, b, Sigmoid, dtype) for a, b in zip(widths, widths[1:])]
    model = Para.id(Real(widths[0], dtype=dtype)).then(*layers)
    return Learner(model, mse(Real(widths[-1], dtype=dtype)), GD(lr=0.01))


def compare(widths, batch, rounds, dtype="float64"):
    learner = learner_of(widths, dtype)
    step = codegen.compile(learner.diagram)
    _, values = learner.init(0)
    params = [values[p] for p in learner.model.params]         # later layers first
    Ws, bs = params[0::2][::-1], params[1::2][::-1]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, widths[0])).astype(dtype)
    t = rng.uniform(size=(batch, widths[-1])).astype(dtype)
    *new, loss = step(*params, x, t)
    W_, b_, loss_ = by_hand(Ws, bs, x, t, 0.01)
    assert np.allclose(loss, loss_, rtol=1e-10)
    for ours, hand in zip(new, [v for pair in zip(W_[::-1], b_[::-1]) for v in pair]):
        assert np.allclose(ours, hand, rtol=1e-9, atol=1e-12)
    ratios, ours_t, hand_t = [], [], []
    for _ in range(rounds):
        t0 = time.perf_counter(); step(*params, x, t); t1 = time.perf_counter()
        by_hand(Ws, bs, x, t, 0.01); t2 = time.perf_counter()
        ratios.append((t1 - t0) / (t2 - t1)); ours_t.append(t1 - t0); hand_t.append(t2 - t1)
    return statistics.median(ratios), statistics.median(ours_t), statistics.median(hand_t)


def compile_time(depth, width=20):
    t = time.perf_counter()
    learner = learner_of([width] * (depth + 1))
    codegen.compile(learner.diagram)
    return time.perf_counter() - t


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print("| model | batch | compiled step / hand-written NumPy (median) | compiled ms | NumPy ms |")
    print("|---|---|---|---|---|")
    for name, widths, batch in SIZES:
        ratio, ours, hand = compare(widths, batch, args.rounds)
        print(f"| {name} sigmoid MLP | {batch} | {ratio:.2f}× | {ours * 1e3:.2f} | {hand * 1e3:.2f} |")
    print()
    print("| depth (width 20) | build the learner + R + compile to source (median of 5) |")
    print("|---|---|")
    for depth in (2, 9, 17, 33, 65):
        print(f"| {depth} | {statistics.median(compile_time(depth) for _ in range(5)) * 1e3:.1f} ms |")


if __name__ == "__main__":
    main()
