"""BPTT through the compiled R of an Elman RNN against hand-written NumPy BPTT.

The library's step is the compiled forward half of R(machine.diagram) (a
``for`` loop keeping each step's residuals) then its compiled backward half,
the parameters' cotangents summed over the batch (``summed=``): one call each.
The baseline is BPTT as a practitioner writes it (``h = tanh(x @ Wx + h @ Wh +
b)``, states stored, one reverse loop accumulating ``dWx += x.T @ dz``). Both
run side by side in one process, interleaved, with an A/A control (the
baseline against a copy of itself); the median ratio is reported.

    python benchmarks/compiled_recurrent.py [--rounds 15] [--steps 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from paralens.categories import cells
from paralens.interpreters import codegen
from paralens.lenses import R


def hand_bptt(Wx, Wh, b, h0, xs, dys):
    B, T, _ = xs.shape
    n = Wh.shape[0]
    hs = np.empty((B, T, n))
    h = h0
    for t in range(T):
        h = np.tanh(xs[:, t] @ Wx + h @ Wh + b)
        hs[:, t] = h
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dxs = np.empty_like(xs)
    dh = np.zeros((B, n))
    WxT, WhT = Wx.T, Wh.T
    for t in range(T - 1, -1, -1):
        dh += dys[:, t]
        h = hs[:, t]
        h_prev = hs[:, t - 1] if t > 0 else h0
        dz = dh * (1.0 - h * h)
        dWx += xs[:, t].T @ dz
        dWh += h_prev.T @ dz
        db += dz.sum(axis=0)
        dxs[:, t] = dz @ WxT
        dh = dz @ WhT
    return dWx, dWh, db, dh, dxs


def hand_bptt_copy(Wx, Wh, b, h0, xs, dys):      # the A/A control: the same code again
    B, T, _ = xs.shape
    n = Wh.shape[0]
    hs = np.empty((B, T, n))
    h = h0
    for t in range(T):
        h = np.tanh(xs[:, t] @ Wx + h @ Wh + b)
        hs[:, t] = h
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dxs = np.empty_like(xs)
    dh = np.zeros((B, n))
    WxT, WhT = Wx.T, Wh.T
    for t in range(T - 1, -1, -1):
        dh += dys[:, t]
        h = hs[:, t]
        h_prev = hs[:, t - 1] if t > 0 else h0
        dz = dh * (1.0 - h * h)
        dWx += xs[:, t].T @ dz
        dWh += h_prev.T @ dz
        db += dz.sum(axis=0)
        dxs[:, t] = dz @ WxT
        dh = dz @ WhT
    return dWx, dWh, db, dh, dxs


def library(n_in, n, check=True):
    machine = cells.elman(n_in, n)
    lens = R(machine.diagram)
    forward = codegen.compile(lens.forward, name="forward")
    backward = codegen.compile(lens.backward, summed=range(len(machine.params)), name="backward")
    run_forward = forward if check else forward.function
    run_backward = backward if check else backward.function

    def bptt(Wx, Wh, b, h0, xs, dys):
        *residual, hT, ys = run_forward(Wx, Wh, b, h0, xs)
        return run_backward(*residual, np.zeros_like(hT), dys)
    return bptt, forward, backward


def timed(fn, args, repeats):
    start = time.perf_counter()
    for _ in range(repeats):
        fn(*args)
    return (time.perf_counter() - start) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=1000)
    options = parser.parse_args()
    T, n_in = options.steps, 16
    print(f"Elman tanh RNN, n_in {n_in}, T = {T}, float64; {options.rounds} interleaved rounds; "
          f"median ratios (library / hand), A/A = hand / its copy")
    print("| hidden | batch | hand ms | library ms | library / hand | A/A | max |Δgrad| |")
    print("|---|---|---|---|---|---|---|")
    for n in (32, 256):
        for B in (1, 32):
            rng = np.random.default_rng(0)
            Wx = rng.normal(0, 1 / np.sqrt(n_in), (n_in, n))
            Wh = rng.normal(0, 1 / np.sqrt(n), (n, n))
            b = rng.normal(0, 0.1, n)
            h0 = np.zeros(n)
            xs = rng.normal(size=(B, T, n_in))
            dys = rng.normal(size=(B, T, n))
            ours, _, _ = library(n_in, n)
            got = ours(Wx, Wh, b, h0, xs, dys)
            want = hand_bptt(Wx, Wh, b, np.zeros((B, n)), xs, dys)
            error = max(float(np.max(np.abs(g - w))) for g, w in zip(got, want))
            args = (Wx, Wh, b, h0, xs, dys)
            hand_args = (Wx, Wh, b, np.zeros((B, n)), xs, dys)
            repeats = max(1, int(0.05 / timed(hand_bptt, hand_args, 1)))
            ratios, controls, hands, libs = [], [], [], []
            for _ in range(options.rounds):
                h = timed(hand_bptt, hand_args, repeats)
                o = timed(ours, args, repeats)
                c = timed(hand_bptt_copy, hand_args, repeats)
                ratios.append(o / h)
                controls.append(c / h)
                hands.append(h)
                libs.append(o)
            print(f"| {n} | {B} | {statistics.median(hands) * 1e3:.1f} | "
                  f"{statistics.median(libs) * 1e3:.1f} | {statistics.median(ratios):.3f} | "
                  f"{statistics.median(controls):.3f} | {error:.1e} |", flush=True)


if __name__ == "__main__":
    main()
