"""A compiled supervised training step against the conventional hand-written NumPy step.

The learner is sigmoid MLP ; MSE ; cap −ε ; gradient descent, closed into one
diagram (``paralens.lenses.learner.Learner``) and compiled to NumPy source
(``paralens.interpreters.codegen``). It is called as users call it, ``step(*params, x,
t)`` (the inputs checked), and its new parameters are fed back as the next
call's parameters, as in a training loop.

The baseline is the step as a NumPy user writes it, in the field's conventional
form (W of shape (in, out), the library's layout too; b of shape (out,)),

    h = 1 / (1 + np.exp(-(h @ W + b)))           forward, per layer
    loss = 0.5 * (err ** 2).sum(axis=1)          ½ Σ (ŷ − y)², per example
    d = err / n                                  the mean over the batch (the default)
    dz = d * h * (1 - h);  dW = h_in.T @ dz;  db = dz.sum(axis=0);  d = dz @ W.T
    W -= lr * dW;  b -= lr * db                  plain SGD, in place

(the gradient of the batch mean, the learner's default ``reduction="mean"``). ``--update functional`` makes it return
``W - lr * dW`` instead, new arrays like the compiled step. Before timing, the
two are checked to give the same per-example losses and the same parameter
changes.

Timing: the compiled step, the hand step and an A/A control (a second function
object with the hand step's very code) run in interleaved rounds in one
process, the order rotating every round; each sample is a batch of calls of
about ``--sample-ms``; the median over rounds of the per-round ratio is
reported. The A/A ratio is the noise floor: a compiled/hand ratio within it
of 1.00 is not a difference.

    python benchmarks/compiled_step.py [--rounds 30] [--dtype float32|float64|both]
    OPENBLAS_NUM_THREADS=1 python benchmarks/compiled_step.py --clock thread
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
import types

import numpy as np

from paralens.categories import Para, Real, Sigmoid, dense
from paralens.interpreters import codegen
from paralens.interpreters import numpy as interpreter
from paralens.lenses.learner import Learner
from paralens.lenses.losses import mse
from paralens.lenses.optimisers import GD

LR = 0.01
SIZES = [("4-20-3", [4, 20, 3], 150), ("784-128-10", [784, 128, 10], 256),
         ("784-512-10", [784, 512, 10], 1024), ("33 × 20", [20] * 34, 150)]


# -- the conventional hand-written step ------------------------------------------------

def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def hand_step(Ws, bs, x, y, lr):
    """One SGD step of a sigmoid MLP with MSE, W (in, out); updates Ws, bs in place."""
    hs = [x]
    for W, b in zip(Ws, bs):
        hs.append(sigmoid(hs[-1] @ W + b))
    err = hs[-1] - y
    loss = 0.5 * (err ** 2).sum(axis=1)
    d = err / len(x)
    for k in reversed(range(len(Ws))):
        h = hs[k + 1]
        dz = d * h * (1 - h)
        dW = hs[k].T @ dz
        db = dz.sum(axis=0)
        if k:
            d = dz @ Ws[k].T
        Ws[k] -= lr * dW
        bs[k] -= lr * db
    return loss


def hand_step_functional(Ws, bs, x, y, lr):
    """The same step returning new parameters: (new Ws, new bs, loss)."""
    hs = [x]
    for W, b in zip(Ws, bs):
        hs.append(sigmoid(hs[-1] @ W + b))
    err = hs[-1] - y
    loss = 0.5 * (err ** 2).sum(axis=1)
    d = err / len(x)
    new_W, new_b = [None] * len(Ws), [None] * len(Ws)
    for k in reversed(range(len(Ws))):
        h = hs[k + 1]
        dz = d * h * (1 - h)
        dW = hs[k].T @ dz
        db = dz.sum(axis=0)
        if k:
            d = dz @ Ws[k].T
        new_W[k] = Ws[k] - lr * dW
        new_b[k] = bs[k] - lr * db
    return new_W, new_b, loss


def twin(f):
    """A second function object with the same code: the A/A control."""
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__ + "_copy",
                           f.__defaults__, f.__closure__)
    g.__kwdefaults__ = f.__kwdefaults__
    return g


# -- the learner -----------------------------------------------------------------------

def learner_of(widths, dtype="float32"):
    layers = [dense(a, b, Sigmoid, dtype) for a, b in zip(widths, widths[1:])]
    model = Para.id(Real(widths[0], dtype=dtype)).then(*layers)
    return Learner(model, mse(Real(widths[-1], dtype=dtype)), GD(lr=LR))


def setup(widths, batch, dtype):
    """The compiled step, its parameters (library order: the last layer's first), the
    data, and the same parameters as the hand step takes them (lists of W, b)."""
    learner = learner_of(widths, dtype)
    step = codegen.compile(learner.diagram)
    _, values = learner.init(0)
    rng = np.random.default_rng(1)
    params = []
    for p in learner.model.params:                          # W, b of the first layer first
        v = values[p]
        if p.name == "b":                                   # not zeros: check the bias paths
            v = rng.normal(0.0, 0.1, size=v.shape).astype(dtype)
        params.append(np.ascontiguousarray(v, dtype=dtype))
    Ws = [W.copy() for W in params[0::2]]                          # first layer first
    bs = [b.copy() for b in params[1::2]]
    x = rng.normal(size=(batch, widths[0])).astype(dtype)
    t = rng.uniform(size=(batch, widths[-1])).astype(dtype)
    return step, params, Ws, bs, x, t


def check(step, params, Ws, bs, x, t, dtype):
    """The compiled step and the hand step agree: per-example loss, parameter changes."""
    rtol = 2e-3 if dtype == "float32" else 1e-9
    given = [p.copy() for p in params]
    *new, loss = step(*params, x, t)
    for p, q in zip(params, given):                         # the caller's arrays are not written
        np.testing.assert_array_equal(p, q)
    Wh, bh = [W.copy() for W in Ws], [b.copy() for b in bs]
    loss_h = hand_step(Wh, bh, x, t, LR)
    assert loss.shape == loss_h.shape == (x.shape[0], ), (loss.shape, loss_h.shape)
    assert loss.dtype == loss_h.dtype == np.dtype(dtype), (loss.dtype, loss_h.dtype)
    np.testing.assert_allclose(loss, loss_h, rtol=rtol, atol=rtol * np.abs(loss_h).max())
    hand_new = [v for W, b in zip(Wh, bh) for v in (W, b)]        # library order
    hand_old = [v for W, b in zip(Ws, bs) for v in (W, b)]
    for k, (ours, hand, old) in enumerate(zip(new, hand_new, hand_old)):
        assert ours.shape == hand.shape and ours.dtype == hand.dtype, (k, ours.shape, hand.shape)
        change, change_h = ours - old, hand - old           # compare the changes, not W ± tiny
        scale = np.abs(change_h).max()
        np.testing.assert_allclose(change, change_h, rtol=rtol, atol=rtol * scale + 1e-30,
                                   err_msg=f"parameter {k}")
    Wf, bf, loss_f = hand_step_functional(Ws, bs, x, t, LR)
    np.testing.assert_array_equal(loss_f, loss_h)
    for a, b in zip(Wf + bf, Wh + bh):
        np.testing.assert_array_equal(a, b)


#: the clock samples are timed with (``--clock``)
CLOCK = time.perf_counter


def interleaved(fns: dict, rounds: int, sample_s: float) -> dict:
    """Per-call times of each function, rounds × one sample each, order rotating."""
    for f in fns.values():          # warm up
        f()
    t0 = CLOCK()
    first = next(iter(fns.values()))
    for _ in range(3):
        first()
    per_call = (CLOCK() - t0) / 3
    number = max(1, int(sample_s / max(per_call, 1e-7)))
    names = list(fns)
    times = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            f = fns[name]
            t0 = CLOCK()
            for _ in range(number):
                f()
            times[name].append((CLOCK() - t0) / number)
    return times


def ratios(times, a, b):
    """The median of the per-round ratios a / b, and their interquartile range."""
    r = sorted(x / y for x, y in zip(times[a], times[b]))
    return statistics.median(r), r[len(r) // 4], r[(3 * len(r)) // 4]


def without_inplace(step):
    """The compiled step as it was before in-place updates (``Dialect.inplace`` off),
    its inputs checked the same way."""
    dialect = dataclasses.replace(codegen.NUMPY, inplace=None)
    function = codegen.define(codegen.emit(step.plan, dialect=dialect), "diagram")
    return lambda *args: function(*interpreter.check_inputs(step.plan, step.diagram.dom, args))


def compare(widths, batch, dtype, rounds, sample_s, update="inplace"):
    step, params, Ws, bs, x, t = setup(widths, batch, dtype)
    check(step, params, Ws, bs, x, t, dtype)
    plain = without_inplace(step)
    check(plain, params, Ws, bs, x, t, dtype)
    for ours, theirs in zip(step(*params, x, t), plain(*params, x, t)):   # the same numbers
        np.testing.assert_array_equal(ours, theirs)

    state, plain_state = list(params), list(params)

    def compiled():
        *state[:], loss = step(*state, x, t)
        return loss

    def compiled_plain():
        *plain_state[:], loss = plain(*plain_state, x, t)
        return loss

    if update == "inplace":
        hand, hand_copy = hand_step, twin(hand_step)
        W1, b1 = [W.copy() for W in Ws], [b.copy() for b in bs]
        W2, b2 = [W.copy() for W in Ws], [b.copy() for b in bs]
        fns = {"compiled": compiled, "without in-place": compiled_plain,
               "hand": lambda: hand(W1, b1, x, t, LR),
               "hand copy": lambda: hand_copy(W2, b2, x, t, LR)}
    else:
        hand, hand_copy = hand_step_functional, twin(hand_step_functional)
        s1, s2 = [list(Ws), list(bs)], [list(Ws), list(bs)]

        def run(f, s):
            s[0], s[1], loss = f(s[0], s[1], x, t, LR)
            return loss
        fns = {"compiled": compiled, "without in-place": compiled_plain,
               "hand": lambda: run(hand, s1),
               "hand copy": lambda: run(hand_copy, s2)}
    times = interleaved(fns, rounds, sample_s)
    return (ratios(times, "compiled", "hand"), ratios(times, "hand copy", "hand"),
            statistics.median(times["compiled"]), statistics.median(times["hand"]),
            ratios(times, "without in-place", "hand"))


def compile_time(depth, width=20, dtype="float32"):
    t = time.perf_counter()
    learner = learner_of([width] * (depth + 1), dtype)
    codegen.compile(learner.diagram)
    return time.perf_counter() - t


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--dtype", choices=["float32", "float64", "both"], default="float32")
    parser.add_argument("--update", choices=["inplace", "functional"], default="inplace",
                        help="the hand step's SGD update: W -= lr*dW (default) or W - lr*dW")
    parser.add_argument("--sample-ms", type=float, default=10.0,
                        help="approximate length of one timed sample (calls batched up to it)")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated model names to run (default all)")
    parser.add_argument("--no-compile-table", action="store_true")
    parser.add_argument("--clock", choices=["wall", "thread"], default="wall",
                        help="wall-clock time (default), or the main thread's CPU time "
                             "(time.thread_time: not moved by waiting for a shared core; "
                             "run with OPENBLAS_NUM_THREADS=1, or the BLAS threads' work is lost)")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.perf_counter if args.clock == "wall" else time.thread_time
    dtypes = ["float32", "float64"] if args.dtype == "both" else [args.dtype]
    sizes = [s for s in SIZES if args.sizes is None or s[0] in args.sizes.split(",")]
    print(f"hand step: conventional layout W (in, out), sigmoid 1/(1+exp(-z)), "
          f"SGD {'W -= lr*dW in place' if args.update == 'inplace' else 'W - lr*dW'}; "
          f"{args.rounds} interleaved rounds, median; clock: {args.clock}")
    print()
    print("| model | batch | dtype | compiled / hand, median (IQR) | A/A: hand copy / hand, median (IQR) | "
          "compiled without in-place updates / hand | compiled ms | hand ms |")
    print("|---|---|---|---|---|---|---|---|")
    for dtype in dtypes:
        for name, widths, batch in sizes:
            ratio, aa, ours, hand, plain = compare(widths, batch, dtype, args.rounds,
                                                   args.sample_ms / 1e3, args.update)
            print(f"| {name} sigmoid MLP | {batch} | {dtype} | {ratio[0]:.3f}× ({ratio[1]:.2f}–{ratio[2]:.2f}) | "
                  f"{aa[0]:.3f}× ({aa[1]:.2f}–{aa[2]:.2f}) | {plain[0]:.3f}× ({plain[1]:.2f}–{plain[2]:.2f}) | "
                  f"{ours * 1e3:.3f} | {hand * 1e3:.3f} |", flush=True)
    if args.no_compile_table:
        return
    print()
    print("| depth (width 20) | build the learner + R + compile to source (median of 5) | per layer |")
    print("|---|---|---|")
    for depth in (2, 9, 17, 33, 65):
        t = statistics.median(compile_time(depth) for _ in range(5))
        print(f"| {depth} | {t * 1e3:.1f} ms | {t / depth * 1e3:.2f} ms |", flush=True)


if __name__ == "__main__":
    main()
