"""Overhead of the NumPy interpreter against plain NumPy, side by side in one process.

A 100-layer sigmoid MLP (dense = linear ; bias ; sigmoid) is evaluated

* forward: ``paralens.interpreters.numpy.compile(model.diagram)`` vs a hand-written loop,
* forward + backward through the lens R(model): both halves vs hand-written
  backpropagation (per-example parameter cotangents summed over the batch),

interleaving the two in repeated rounds and reporting the median ratio, so
that the noise of a shared machine hits both alike.

    python benchmarks/interpreter_overhead.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
import types

import numpy as np

from paralens.categories import Para, Real, Sigmoid, dense
from paralens.interpreters.numpy import compile
from paralens.lenses import R


def sigmoid(x):
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def hand_forward(weights, x):
    for W, b in weights:
        x = sigmoid(x @ W + b)
    return x


def hand_backward(weights, x, dy):
    activations = [x]
    for W, b in weights:
        x = sigmoid(x @ W + b)
        activations.append(x)
    grads = []
    for (W, b), a_in, a_out in zip(reversed(weights), reversed(activations[:-1]),
                                   reversed(activations[1:])):
        dz = dy * a_out * (1 - a_out)
        grads.append((a_in.T @ dz, dz.sum(0)))
        dy = dz @ W.T
    return grads


def median_ratio(ours, baseline, rounds):
    """Median of per-round ratios, the order of the two alternating every round."""
    ratios, times = [], []
    for r in range(rounds):
        if r % 2:
            t0 = time.perf_counter(); baseline(); t1 = time.perf_counter()
            ours(); t2 = time.perf_counter()
            mine, theirs = t2 - t1, t1 - t0
        else:
            t0 = time.perf_counter(); ours(); t1 = time.perf_counter()
            baseline(); t2 = time.perf_counter()
            mine, theirs = t1 - t0, t2 - t1
        ratios.append(mine / theirs)
        times.append((mine, theirs))
    return statistics.median(ratios), statistics.median(t for t, _ in times), \
        statistics.median(t for _, t in times)


def _copy(f):
    """A second function object with f's very code: the A/A control."""
    return types.FunctionType(f.__code__, f.__globals__, f.__name__ + "_copy", f.__defaults__,
                              f.__closure__)


hand_forward_copy, hand_backward_copy = _copy(hand_forward), _copy(hand_backward)


def run(depth=100, width=20, batch=150, rounds=30):
    model = Para.id(Real(width)).then(*[dense(width, width, Sigmoid) for _ in range(depth)])
    values = model.init(0)
    args = [values[p] for p in model.params]
    # model.params in data-flow order: (W_1, b_1, ..., W_depth, b_depth)
    layers = [(values[model.params[2 * k]], values[model.params[2 * k + 1]])
              for k in range(depth)]
    x = np.random.default_rng(0).normal(size=(batch, width))
    dy = np.ones((batch, width))

    t = time.perf_counter()
    forward = compile(model.diagram)
    lens = R(model.diagram)
    lens_forward = compile(lens.forward)
    lens_backward = compile(lens.backward, summed=range(len(model.params)))
    build = time.perf_counter() - t

    assert np.allclose(forward(*args, x), hand_forward(layers, x), rtol=1e-12, atol=1e-12)

    def ours_train():
        *residual, y = lens_forward(*args, x)
        return lens_backward(*residual, dy)

    ours = ours_train()
    hand = hand_backward(layers, x, dy)
    for k, (dW, db) in enumerate(hand):      # hand is later-first too
        assert np.allclose(ours[2 * k], dW, rtol=1e-9, atol=1e-12)
        assert np.allclose(ours[2 * k + 1], db, rtol=1e-9, atol=1e-12)

    from paralens.interpreters import codegen
    compiled_forward = codegen.compile(lens.forward)
    compiled_backward = codegen.compile(lens.backward, summed=range(len(model.params)))

    def compiled_train():
        *residual, y = compiled_forward(*args, x)
        return compiled_backward(*residual, dy)

    for ours_, hand_ in zip(compiled_train(), ours_train()):
        assert np.allclose(ours_, hand_, rtol=1e-12, atol=1e-12)

    rows = [("forward", *median_ratio(lambda: forward(*args, x), lambda: hand_forward(layers, x), rounds)),
            ("forward + backward (lens)", *median_ratio(ours_train, lambda: hand_backward(layers, x, dy), rounds)),
            ("forward + backward, compiled to NumPy source (paralens.interpreters.codegen)",
             *median_ratio(compiled_train, lambda: hand_backward(layers, x, dy), rounds)),
            ("A/A: the hand forward against a copy of itself",
             *median_ratio(lambda: hand_forward_copy(layers, x), lambda: hand_forward(layers, x),
                           rounds)),
            ("A/A: the hand backprop against a copy of itself",
             *median_ratio(lambda: hand_backward_copy(layers, x, dy),
                           lambda: hand_backward(layers, x, dy), rounds))]
    return build, rows


def build_time(depth, width=20):
    """Seconds to chain ``depth`` dense layers, apply R and flatten both halves."""
    t = time.perf_counter()
    model = Para.id(Real(width)).then(*[dense(width, width, Sigmoid) for _ in range(depth)])
    lens = R(model.diagram)
    compile(lens.forward), compile(lens.backward, summed=range(len(model.params)))
    return time.perf_counter() - t


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print("| model | what | paralens / plain NumPy (median) | paralens ms | NumPy ms |")
    print("|---|---|---|---|---|")
    for depth, width, batch in [(100, 20, 150), (100, 256, 256)]:
        build, rows = run(depth, width, batch, args.rounds)
        for what, ratio, ours, hand in rows:
            print(f"| {depth} layers × {width}, batch {batch} | {what} | {ratio:.2f}× | "
                  f"{ours * 1e3:.2f} | {hand * 1e3:.2f} |")
        print(f"| {depth} layers × {width} | build: Para chain + R + flatten both halves | "
              f"{build * 1e3:.0f} ms | | |")
    print()
    print("| depth (width 20) | build: Para chain + R + flatten both halves (median of 5) |")
    print("|---|---|")
    for depth in (2, 9, 17, 33, 65, 129):
        print(f"| {depth} | {statistics.median(build_time(depth) for _ in range(5)) * 1e3:.1f} ms |")


if __name__ == "__main__":
    main()
