"""Recurrent models: BPTT and forward mode through the library's loops, against
hand-written NumPy of a tanh RNN, side by side in one process.

The model is the Elman RNN h_t = tanh(x_t Wx + h_{t−1} Wh + b)
(``paralens.categories.elman``), weights (in, out). Measured:

* **BPTT**: the whole gradient (Wx, Wh, b, h₀, xs) of ⟨w, y⟩ for a cotangent w
  of the output sequence: the library's lens R(machine), its two halves
  compiled (``--compile codegen``, the default, or ``numpy``), against the
  conventional hand-written BPTT (forward storing every h, backward loop
  accumulating per step);
* **forward mode**: one directional derivative (a tangent of every input and
  parameter) by the loop of the stage's tangent, against the hand forward
  pass (the target: ≤ 3× the plain forward pass);
* **A/A**: the hand BPTT against a second function object with its very code:
  the noise floor of the machine.

Rounds interleave the functions, the order rotating; the median of per-round
ratios is printed. Peak memory (tracemalloc) of forward mode, BPTT and
checkpointed BPTT is printed for T = 10², 10³, 10⁴, and the build + compile
time, which nothing about T enters.

    python benchmarks/recurrent.py [--rounds 7] [--compile codegen|numpy] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
import types

import numpy as np

from paralens.categories import elman
from paralens.interpreters import codegen, numpy as interpreter
from paralens.lenses import R, tangent


# -- the conventional hand-written tanh RNN -----------------------------------------------

def hand_forward(Wx, Wh, b, h0, xs):
    B, T, _ = xs.shape
    hs = np.empty((B, T, Wh.shape[0]))
    h = h0
    for t in range(T):
        h = np.tanh(xs[:, t] @ Wx + h @ Wh + b)
        hs[:, t] = h
    return hs, h


def hand_bptt(Wx, Wh, b, h0, xs, dys):
    """Forward storing every h, then the backward loop, gradients accumulated per step."""
    B, T, _ = xs.shape
    hs, _ = hand_forward(Wx, Wh, b, h0, xs)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dxs = np.empty_like(xs)
    dh = np.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        h = hs[:, t]
        h_prev = hs[:, t - 1] if t else h0
        dz = (dys[:, t] + dh) * (1.0 - h * h)
        dWx += xs[:, t].T @ dz
        dWh += h_prev.T @ dz
        db += dz.sum(axis=0)
        dxs[:, t] = dz @ Wx.T
        dh = dz @ Wh.T
    return dWx, dWh, db, dh, dxs


hand_bptt_copy = types.FunctionType(hand_bptt.__code__, hand_bptt.__globals__, "hand_bptt_copy")


# -- the library ----------------------------------------------------------------------------

class Library:
    def __init__(self, n_in: int, n: int, compile):
        start = time.perf_counter()
        self.machine = m = elman(n_in, n)
        lens = R(m.diagram)
        self.forward = compile(lens.forward)
        self.backward = compile(lens.backward, summed=range(len(m.params)))
        self.n_residual = len(lens.residual)
        self.tangent = compile(tangent(m.diagram))
        self.build_seconds = time.perf_counter() - start

    def bptt(self, Wx, Wh, b, h0, xs, dys):
        out = self.forward(Wx, Wh, b, h0, xs)
        return self.backward(*out[:self.n_residual], np.zeros_like(h0), dys)

    def jvp(self, Wx, Wh, b, h0, xs, dWx, dWh, db, dh0, dxs):
        return self.tangent(Wx, Wh, b, h0, xs, dWx, dWh, db, dh0, dxs)


def _time(fn, args, seconds=0.05) -> float:
    """Seconds per call, over a batch of calls of about ``seconds``."""
    n, elapsed = 0, 0.0
    start = time.perf_counter()
    while elapsed < seconds or n < 2:
        fn(*args)
        n += 1
        elapsed = time.perf_counter() - start
    return elapsed / n


def ratios(functions: dict, rounds: int) -> dict:
    names = list(functions)
    samples = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            fn, args = functions[name]
            samples[name].append(_time(fn, args))
    return samples


def case(n: int, T: int, batch: int, compile, rounds: int, rng) -> dict:
    lib = Library(3, n, compile)
    params = lib.machine.init(0)
    Wx, Wh, b = [params[p] for p in lib.machine.params]
    xs = rng.normal(size=(batch, T, 3))
    h0 = np.zeros((batch, n))
    dys = rng.normal(size=(batch, T, n))
    # the same numbers first
    mine, hand = lib.bptt(Wx, Wh, b, h0, xs, dys), hand_bptt(Wx, Wh, b, h0, xs, dys)
    error = max(float(np.abs(np.asarray(a) - c).max()) for a, c in zip(mine, hand))
    direction = [rng.normal(size=a.shape) for a in (Wx, Wh, b, h0, xs)]
    tangent_out = lib.jvp(Wx, Wh, b, h0, xs, *direction)
    dy = tangent_out[3]
    adjoint = sum((g * d).sum() for g, d in zip(hand, direction))
    jvp_error = abs(float((dys * dy).sum()) - float(adjoint)) / max(1.0, abs(float(adjoint)))
    args = (Wx, Wh, b, h0, xs, dys)
    samples = ratios({"library": (lib.bptt, args), "hand": (hand_bptt, args),
                      "copy": (hand_bptt_copy, args),
                      "jvp": (lib.jvp, (Wx, Wh, b, h0, xs, *direction)),
                      "forward": (hand_forward, (Wx, Wh, b, h0, xs))}, rounds)
    ratio = lambda a, c: statistics.median(x / y for x, y in zip(samples[a], samples[c]))
    return {"bptt": ratio("library", "hand"), "aa": ratio("copy", "hand"),
            "jvp": ratio("jvp", "forward"), "hand_ms": 1e3 * statistics.median(samples["hand"]),
            "error": error, "jvp_error": jvp_error, "build": lib.build_seconds}


def peak_memory(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()


def memory_table(compile, n: int = 32, batch: int = 1, lengths=(100, 1000, 10000)):
    """Peak memory of the derivatives of Σ_t y_t (the outputs summed over the steps, as
    a loss is), so that only what a method keeps grows with T; the cotangent of the
    inputs, (batch, T, 1), is written by both reverse modes."""
    m = elman(1, n)
    params = m.init(0)
    values = [params[p] for p in m.params]
    summed = m.loop(summed=True)
    forward_mode = compile(tangent(summed))
    full, kept = R(summed), R(m.loop(summed=True, recompute=32))
    # checkpointed BPTT's backward half (Recompute) runs in the NumPy interpreter
    # (codegen.compiler_for chooses it), its forward half is compiled
    chosen = lambda d: codegen.compiler_for(d) if compile is codegen.compile else compile
    halves = [(compile(lens.forward), chosen(lens.backward)(lens.backward,
                                                              summed=range(len(m.params))),
               len(lens.residual)) for lens in (full, kept)]
    rows = []
    rng = np.random.default_rng(0)
    for T in lengths:
        xs = rng.normal(size=(batch, T, 1))
        h0, dh, dy = np.zeros((batch, n)), np.zeros((batch, n)), np.ones((batch, n))
        zeros = [np.zeros_like(v) for v in values]

        def jvp():
            forward_mode(*values, h0, xs, *zeros, np.zeros_like(h0), xs)

        def reverse(which):
            forward, backward, k = halves[which]
            out = forward(*values, h0, xs)
            backward(*out[:k], dh, dy)
        rows.append((T, xs.nbytes / 2 ** 20, peak_memory(jvp), peak_memory(lambda: reverse(0)),
                     peak_memory(lambda: reverse(1))))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--compile", choices=["codegen", "numpy"], default="codegen")
    parser.add_argument("--quick", action="store_true", help="hidden 32, T = 100 only")
    parser.add_argument("--memory-only", action="store_true", help="only the memory table")
    args = parser.parse_args(argv)
    compile = codegen.compile if args.compile == "codegen" else interpreter.compile
    rng = np.random.default_rng(0)
    sizes = [(32, 100, 1)] if args.quick else [
        (n, T, batch) for n in (32, 256) for T in (100, 1000) for batch in (1, 32)]
    print(f"tanh RNN, float64, compiled by {args.compile}; median of {args.rounds} "
          f"interleaved rounds")
    print(f"{'hidden':>6} {'T':>5} {'batch':>5} | {'BPTT/hand':>9} {'A/A':>5} | "
          f"{'JVP/forward':>11} | {'hand BPTT ms':>12} | {'max |Δ|':>8} {'adjoint':>8} | build s")
    for n, T, batch in ([] if args.memory_only else sizes):
        r = case(n, T, batch, compile, args.rounds, rng)
        print(f"{n:>6} {T:>5} {batch:>5} | {r['bptt']:>9.3f} {r['aa']:>5.2f} | "
              f"{r['jvp']:>11.3f} | {r['hand_ms']:>12.2f} | {r['error']:>8.1e} "
              f"{r['jvp_error']:>8.1e} | {r['build']:.3f}")
    print()
    print("peak memory allocated during the derivative of Σ_t y_t (MiB, tracemalloc; hidden 32, "
          "batch 1, one input wire; the input sequence, allocated before, beside):")
    print(f"{'T':>6} | {'inputs':>7} | {'forward mode':>12} | {'BPTT':>8} | {'checkpointed (k=32)':>19}")
    for T, inputs, jvp, bptt, kept in memory_table(compile):
        print(f"{T:>6} | {inputs:>7.2f} | {jvp:>12.2f} | {bptt:>8.2f} | {kept:>19.2f}")


if __name__ == "__main__":
    main()
