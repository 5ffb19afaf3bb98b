"""A recurrent model with a read-out: the compiled gradient against a practitioner's
NumPy BPTT, side by side in one process (issue 16, point 6).

The model is a tanh RNN (``elman(1, n)``) and a read-out ``dense(n, 1)``, the loss
½ Σ_t (ŷ_t − y_t)² summed over the steps (a machine ``(model ⊗ y) ; loss`` whose
loop sums its output). Measured, float64, T = 1000:

* **hoisted**: the forward and backward halves of R(loop), compiled by
  ``codegen.compile``: the gradient of every parameter, the initial state and the
  inputs; the stateless parts of each loop's stage (x_t Wx, the read-out and its
  backward, the weight cotangents) run on whole sequences (``interpreters.hoist``);
* **unhoisted**: the same, compiled with hoisting turned off (the whole stage at
  every step, as before);
* **hand**: the BPTT a practitioner writes in NumPy: the recurrence in a loop
  storing h, the read-out and its gradient applied to the whole sequence after the
  loop, the recurrent weights' gradients accumulated per step in the backward loop;
* **A/A**: the hand BPTT against a second function object with its very code.

Rounds interleave the four functions, the order rotating; printed: the median of
the per-round ratios to the hand BPTT.

BLAS runs on one thread (set here, before NumPy loads, unless the environment says
otherwise): on a machine shared with other jobs, a multithreaded BLAS's large
products of (B·T, n) arrays contend for the cores and time the contention.

    python benchmarks/rnn_readout.py [--rounds 7] [--steps 1000] [--quick]
"""

from __future__ import annotations

import os

for _threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

import argparse
import statistics
import time
import types

import numpy as np

from paralens.categories import Real, dense, elman, function
from paralens.interpreters import codegen
from paralens.lenses import R


# -- the practitioner's BPTT ------------------------------------------------------------------

def hand_gradient(Wx, Wh, b, Wo, bo, h0, xs, ys):
    """½ Σ (ŷ − y)² and its gradient: (Wx, Wh, b, Wo, bo, h0, xs, ys)."""
    B, T, _ = xs.shape
    n = Wh.shape[0]
    hs = np.empty((B, T, n))
    h = h0
    for t in range(T):
        h = np.tanh(xs[:, t] @ Wx + h @ Wh + b)
        hs[:, t] = h
    e = hs @ Wo + bo - ys                       # the read-out, on the whole sequence
    loss = 0.5 * (e * e).sum()
    dWo = hs.reshape(B * T, n).T @ e.reshape(B * T, -1)
    dbo = e.sum(axis=(0, 1))
    dhs = e @ Wo.T
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dxs = np.empty_like(xs)
    dh = np.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        h = hs[:, t]
        h_prev = hs[:, t - 1] if t else h0
        dz = (dhs[:, t] + dh) * (1.0 - h * h)
        dWx += xs[:, t].T @ dz
        dWh += h_prev.T @ dz
        db += dz.sum(axis=0)
        dxs[:, t] = dz @ Wx.T
        dh = dz @ Wh.T
    return loss, (dWx, dWh, db, dWo, dbo, dh, dxs, -e)


hand_copy = types.FunctionType(hand_gradient.__code__, hand_gradient.__globals__, "hand_copy")


# -- the library --------------------------------------------------------------------------------

def model_and_loss(n: int):
    """The machine (elman ; dense) ⊗ y ; ½ (ŷ − y)², its loop summing the loss."""
    y = Real(1)
    half_square = function(y @ y, y)(lambda p, target: 0.5 * ((p - target) * (p - target)))
    model = elman(1, n) >> dense(n, 1)
    return model, ((model @ y) >> half_square).loop(summed=True)


def without_hoisting(compile_):
    def compiled(diagram, **kwargs):
        hoisting = codegen.hoisted
        codegen.hoisted = lambda box, timed=None: None
        try:
            return compile_(diagram, **kwargs)
        finally:
            codegen.hoisted = hoisting
    return compiled


class Library:
    def __init__(self, n: int, hoist: bool = True):
        compile_ = codegen.compile if hoist else without_hoisting(codegen.compile)
        self.model, loop = model_and_loss(n)
        lens = R(loop)
        self.k = len(lens.residual)
        self.n_params = len(self.model.params)
        self.forward = compile_(lens.forward)
        self.backward = compile_(lens.backward, summed=range(self.n_params))

    def gradient(self, Wx, Wh, b, Wo, bo, h0, xs, ys):
        out = self.forward(Wx, Wh, b, Wo, bo, h0, xs, ys)
        loss = out[-1]
        grads = self.backward(*out[:self.k], np.zeros_like(h0), np.ones_like(loss))
        return loss.sum(), grads


def _time(fn, args, seconds=0.05) -> float:
    n, elapsed = 0, 0.0
    start = time.perf_counter()
    while elapsed < seconds or n < 2:
        fn(*args)
        n += 1
        elapsed = time.perf_counter() - start
    return elapsed / n


def case(n: int, T: int, batch: int, rounds: int, rng) -> dict:
    hoisted, plain = Library(n), Library(n, hoist=False)
    params = hoisted.model.init(0)
    values = [params[p] for p in hoisted.model.params]
    xs, ys = rng.normal(size=(batch, T, 1)), rng.normal(size=(batch, T, 1))
    args = tuple(values) + (np.zeros((batch, n)), xs, ys)
    loss, want = hand_gradient(*args)       # the same numbers first
    error = 0.0
    for lib in (hoisted, plain):
        got_loss, got = lib.gradient(*args)
        scale = max(1.0, abs(loss))
        error = max([error, abs(got_loss - loss) / scale] + [
            float(np.abs(g - w).max() / max(1.0, np.abs(w).max())) for g, w in zip(got, want)])
    functions = {"hoisted": hoisted.gradient, "unhoisted": plain.gradient,
                 "hand": hand_gradient, "copy": hand_copy}
    names = list(functions)
    samples = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            samples[name].append(_time(functions[name], args))
    ratio = lambda a: statistics.median(x / y for x, y in zip(samples[a], samples["hand"]))
    return {"after": ratio("hoisted"), "before": ratio("unhoisted"), "aa": ratio("copy"),
            "hand_ms": 1e3 * statistics.median(samples["hand"]), "error": error}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="hidden 32, batch 1, T = 100")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    sizes = [(32, 1)] if args.quick else [(n, batch) for n in (32, 256) for batch in (1, 32)]
    T = 100 if args.quick else args.steps
    print(f"tanh RNN + dense(n, 1) read-out, ½Σ squared loss, float64, T = {T}; "
          f"median of {args.rounds} interleaved rounds of per-round ratios to the hand BPTT")
    print(f"{'hidden':>6} {'batch':>5} | {'hoisted':>7} {'unhoisted':>9} {'A/A':>5} | "
          f"{'hand ms':>8} | max rel |Δ|")
    for n, batch in sizes:
        r = case(n, T, batch, args.rounds, rng)
        print(f"{n:>6} {batch:>5} | {r['after']:>7.3f} {r['before']:>9.3f} {r['aa']:>5.2f} | "
              f"{r['hand_ms']:>8.2f} | {r['error']:.1e}")


if __name__ == "__main__":
    main()
