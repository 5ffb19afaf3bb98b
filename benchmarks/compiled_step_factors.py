"""Why the compiled step differs from the hand step: one factor at a time.

The source the compiler emits for the learner (``codegen.compile(learner.diagram)
.source``) is edited by text substitution into variants that each change one
thing, and every variant is timed against the conventional hand step of
``compiled_step.py`` in the same interleaved rounds, with the A/A control:

* ``compiled (checked)``: ``step(*params, x, t)``, as users call it;
* ``raw``: the emitted function itself, no ``check_inputs``;
* ``raw, without in-place updates``: the function emitted with ``Dialect.inplace`` off, the
  source the edits below start from (each row after it is that source, edited);
* ``raw, no ndim guards``: ``a @ W.T if W.ndim == 2 else linear(W, a)`` ↦ ``a @ W.T``, …;
* ``… exp sigmoid``: ``0.5 + 0.5*tanh(0.5*z)`` ↦ ``1/(1 + exp(-z))``;
* ``… wgrad (h.T @ dz).T``: the weight gradient in the conventional GEMM orientation, transposed back;
* ``… W (in, out)``: the layout changed: ``a @ W``, ``dz @ W.T``, ``h.T @ dz`` on W stored (in, out);
* ``… lr last``: the cap applied to the gradient (``W - 0.01*dW``) instead of to the output delta;
* ``all of the above``: ≈ the hand step written functionally;

and two more baselines: the hand step returning new arrays (``W - lr*dW``), and
the hand step in the library's layout (``x @ W.T``, ``dz.T @ h``). Then
microbenchmarks of the single kernels (the three GEMMs in both orientations,
the two sigmoid forms, the input check).

    python benchmarks/compiled_step_factors.py [--rounds 30] [--dtype float32] [--sizes 4-20-3,...]
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import statistics
import time

import numpy as np

from compiled_step import (LR, SIZES, hand_step, hand_step_functional, interleaved, setup, sigmoid,
                           twin)
from paralens.interpreters import codegen
from paralens.interpreters import numpy as interpreter


def hand_step_library_layout(Ws, bs, x, y, lr):
    """The hand step on W (out, in): x @ W.T, dz.T @ h, dz @ W (functional)."""
    hs = [x]
    for W, b in zip(Ws, bs):
        hs.append(sigmoid(hs[-1] @ W.T + b))
    err = hs[-1] - y
    loss = 0.5 * (err ** 2).sum(axis=1)
    d = err / len(x)
    new_W, new_b = [None] * len(Ws), [None] * len(Ws)
    for k in reversed(range(len(Ws))):
        h = hs[k + 1]
        dz = d * h * (1 - h)
        dW = dz.T @ hs[k]
        db = dz.sum(axis=0)
        if k:
            d = dz @ Ws[k]
        new_W[k] = Ws[k] - lr * dW
        new_b[k] = bs[k] - lr * db
    return new_W, new_b, loss


# -- source edits ----------------------------------------------------------------------

def no_guards(src):
    return re.sub(r" if [^\n]*\.ndim[^\n]* else [^\n]*$", "", src, flags=re.M)


def exp_sigmoid(src):
    return re.sub(r"0\.5 \+ 0\.5 \* np\.tanh\(0\.5 \* (.*)\)$", r"1.0 / (1.0 + np.exp(-\1))",
                  src, flags=re.M)


def wgrad_conventional(src):
    return re.sub(r"= (\w+)\.T @ (\w+)$", r"= (\2.T @ \1).T", src, flags=re.M)


def layout_in_out(src):
    def swap(m):
        a, W, t = m.groups()
        return f"= {a} @ {W}" if t else f"= {a} @ {W}.T"      # Linear ↦ a @ W; LinearT ↦ dz @ W.T
    src = re.sub(r"= (\w+) @ (x\d+)(\.T)?$", swap, src, flags=re.M)
    return re.sub(r"= (\w+)\.T @ (\w+)$", r"= \2.T @ \1", src, flags=re.M)        # OuterSum


def lr_last(src):
    folded = re.search(r"\(2\.0 \* \((-[0-9.e-]+) \* (v\d+)\)\)", src)  # 2·(c·w), c = −lr·½
    assert folded, "the cap is no longer folded into the delta"
    src = src.replace(folded.group(0), f"(2.0 * ({float(folded.group(1)) / -LR!r} * {folded.group(2)}))")
    return re.sub(r"(v\d+) = (x\d+) \+ (v\d+)$", rf"\1 = \2 - {LR!r} * \3", src, flags=re.M)


def variant(src, *edits):
    for edit in edits:
        new = edit(src)
        assert new != src, f"{edit.__name__} changed nothing"
        src = new
    return codegen.define(src, "diagram")


def factors(name, widths, batch, dtype, rounds, sample_s, show_source=False):
    step, params, Ws, bs, x, t = setup(widths, batch, dtype)
    src = codegen.emit(step.plan, dialect=dataclasses.replace(codegen.NUMPY, inplace=None))
    if show_source:
        print(no_guards(src).split("def diagram")[1])
    W_io = [np.ascontiguousarray(p.T) if p.ndim == 2 else p for p in params]   # W (in, out)
    raw = step.function
    variants = {
        "compiled (checked)": (step, params),
        "raw": (raw, params),
        "raw, without in-place updates": (codegen.define(src, "diagram"), params),
        "raw, no ndim guards": (variant(src, no_guards), params),
        "… + exp sigmoid": (variant(src, no_guards, exp_sigmoid), params),
        "… + wgrad (h.T @ dz).T": (variant(src, no_guards, wgrad_conventional), params),
        "… + W (in, out) layout": (variant(src, no_guards, layout_in_out), W_io),
        "… + lr last": (variant(src, no_guards, lr_last), params),
        "all of the above (no .T)": (variant(src, no_guards, exp_sigmoid, layout_in_out, lr_last),
                                     W_io),
    }
    ref = step(*params, x, t)
    for label, (f, args) in variants.items():          # every variant still computes the step
        out = f(*args, x, t)
        for k, (a, b) in enumerate(zip(out, ref)):
            a = a.T if args is W_io and a.ndim == 2 else a     # new W (in, out) ↦ (out, in)
            np.testing.assert_allclose(a, b, rtol=1e-3 if dtype == "float32" else 1e-9,
                                       atol=1e-5, err_msg=f"{label} output {k}")
    hand_copy = twin(hand_step)
    W1, b1 = [W.copy() for W in Ws], [b.copy() for b in bs]
    W2, b2 = [W.copy() for W in Ws], [b.copy() for b in bs]
    Wl, bl = [np.ascontiguousarray(W.T) for W in Ws], bs
    fns = {"hand": lambda: hand_step(W1, b1, x, t, LR),
           "hand copy (A/A)": lambda: hand_copy(W2, b2, x, t, LR),
           "hand, functional W - lr*dW": lambda: hand_step_functional(Ws, bs, x, t, LR),
           "hand, library layout, functional": lambda: hand_step_library_layout(Wl, bl, x, t, LR)}
    for label, (f, args) in variants.items():
        fns[label] = (lambda f=f, args=args: f(*args, x, t))
    times = interleaved(fns, rounds, sample_s)
    print(f"\n### {name}, batch {batch}, {dtype}\n")
    print("| variant | / hand (median) | IQR | ms |")
    print("|---|---|---|---|")
    for label in fns:
        r = sorted(a / b for a, b in zip(times[label], times["hand"]))
        q1, q3 = r[len(r) // 4], r[(3 * len(r)) // 4]
        print(f"| {label} | {statistics.median(r):.3f}× | {q1:.3f}–{q3:.3f} | "
              f"{statistics.median(times[label]) * 1e3:.3f} |")
    # the input check alone
    check = lambda: interpreter.check_inputs(step.plan, step.diagram.dom, [*params, x, t])
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        check()
    c = (time.perf_counter() - t0) / n
    print(f"\n`check_inputs` alone: {c * 1e6:.1f} µs per call "
          f"({c / statistics.median(times['hand']) * 100:.1f} % of the hand step)", flush=True)


def kernels(name, widths, batch, dtype, rounds, sample_s):
    """The single kernels of one layer of each shape, both orientations."""
    rng = np.random.default_rng(0)
    rows = []
    for n_in, n_out in zip(widths, widths[1:]):
        if (n_in, n_out) in [r[0] for r in rows]:
            continue
        h = rng.normal(size=(batch, n_in)).astype(dtype)
        dz = rng.normal(size=(batch, n_out)).astype(dtype)
        W_oi = rng.normal(size=(n_out, n_in)).astype(dtype)
        W_io = np.ascontiguousarray(W_oi.T)
        z = rng.normal(size=(batch, n_out)).astype(dtype)
        fns = {
            "fwd h @ W_io": lambda: h @ W_io,
            "fwd h @ W_oi.T": lambda: h @ W_oi.T,
            "bwd dz @ W_io.T": lambda: dz @ W_io.T,
            "bwd dz @ W_oi": lambda: dz @ W_oi,
            "wgrad h.T @ dz (in,out)": lambda: h.T @ dz,
            "wgrad dz.T @ h (out,in)": lambda: dz.T @ h,
            "wgrad (h.T @ dz).T": lambda: (h.T @ dz).T,
            "sigmoid 1/(1+exp(-z))": lambda: 1.0 / (1.0 + np.exp(-z)),
            "sigmoid 0.5+0.5*tanh(0.5z)": lambda: 0.5 + 0.5 * np.tanh(0.5 * z),
            "W + (-lr*dW) [C + C]": lambda: W_oi + (-LR) * W_oi,
            "W + F-order view": lambda: W_oi + W_io.T,
        }
        times = interleaved(fns, rounds, sample_s)
        rows.append(((n_in, n_out), {k: statistics.median(v) for k, v in times.items()}))
    print(f"\n### kernels of {name}, batch {batch}, {dtype} (µs, median; pairs to compare)\n")
    labels = list(rows[0][1])
    print("| layer (in→out) | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for shape, t in rows:
        print(f"| {shape[0]}→{shape[1]} | " + " | ".join(f"{t[k] * 1e6:.1f}" for k in labels) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--sample-ms", type=float, default=10.0)
    parser.add_argument("--sizes", default=None)
    parser.add_argument("--no-kernels", action="store_true")
    parser.add_argument("--show-source", action="store_true")
    args = parser.parse_args()
    sizes = [s for s in SIZES if args.sizes is None or s[0] in args.sizes.split(",")]
    for name, widths, batch in sizes:
        factors(name, widths, batch, args.dtype, args.rounds, args.sample_ms / 1e3, args.show_source)
        if not args.no_kernels:
            kernels(name, widths, batch, args.dtype, args.rounds, args.sample_ms / 1e3)


if __name__ == "__main__":
    main()
