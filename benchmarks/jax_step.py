"""JAX: the library's compiled train steps against a JAX practitioner's hand-written
``jax.jit(value_and_grad)`` + SGD step, side by side in one process (issue 16).

Two benchmarks (``--only mlp|rnn``, both by default):

* **mlp**: sigmoid MLPs (4-20-3 B=150; 784-128-10 B=256; 784-512-10 B=1024;
  33 layers × 20 B=150). Ours: ``paralens.interpreters.jax.compile`` of the whole
  step of ``Learner(model, mse(…), GD(lr=0.01))`` (``.function``, called with
  device arrays, its new parameters fed back). The hand step, as the JAX docs
  write it: params a list of (W (in, out), b) pairs,

      def loss(params, x, y):
          h = x
          for W, b in params:
              h = jax.nn.sigmoid(h @ W + b)
          return jnp.mean(0.5 * jnp.sum((h - y) ** 2, axis=1))

      @jax.jit
      def step(params, x, y):
          loss, grads = jax.value_and_grad(loss)(params, x, y)
          return jax.tree.map(lambda p, g: p - lr * g, params, grads), loss

  Target: ours / hand ≤ 1.1×.
* **rnn**: a tanh Elman RNN (hidden n, input ``--n-in``) with a read-out
  ``dense(n, 1)`` at every step, ½Σ(ŷ−y)² averaged over batch × time, T = 1,000,
  n ∈ {32, 256}, batch ∈ {1, 32}. Ours: the step of
  ``Learner(elman(n_in, n) >> dense(n, 1), mse(Real(1)), GD(lr))`` compiled (BPTT
  through its ``lax.scan``). The hand step: ``value_and_grad`` of a loss that
  runs the recurrence with ``lax.scan`` and the read-out on the whole stacked
  sequence, then the same SGD update. Target: ≤ 1.2×.

Buffer donation: off by default, as the JAX documentation's training loops write the
step (``--donate`` donates the parameters in both: ``donate_argnums=(0,)`` in the hand
step, the parameter arguments of ours, by jitting its ``.python`` with
``donate_argnums``).

Timing: ours, the hand step and an A/A control (the hand step's very code as a second
function object, jitted separately) run in interleaved rounds, the order rotating; each
sample is a batch of calls of about ``--sample-ms``, every call's results blocked on
(``jax.block_until_ready``) inside the sample; all three are compiled and their
values checked to agree before timing; the median over rounds of the per-round ratio
is reported with its interquartile range. The A/A ratio is the noise floor.

First call: ours is building the learner (with R), ``pj.compile`` (plan + source) and
the first call (trace + XLA compile + run); the hand step's is its first call (trace
+ compile + run) on a fresh function object. Medians of ``--first-repeats``.

    python benchmarks/jax_step.py [--device cpu|gpu|tpu] [--rounds 30] [--quick]
                                  [--only mlp|rnn] [--dtype float32|float64] [--donate]
"""

from __future__ import annotations

import argparse
import statistics
import time
import types

import numpy as np

import jax
import jax.numpy as jnp
from jax import lax

from paralens.categories import Para, Real, Sigmoid, dense, elman
from paralens.interpreters import jax as pj
from paralens.lenses.learner import Learner
from paralens.lenses.losses import mse
from paralens.lenses.optimisers import GD

LR = 0.01
MLP_SIZES = [("4-20-3", [4, 20, 3], 150), ("784-128-10", [784, 128, 10], 256),
             ("784-512-10", [784, 512, 10], 1024), ("33 × 20", [20] * 34, 150)]
MLP_QUICK = [("4-20-3", [4, 20, 3], 150), ("33 × 20", [20] * 34, 150)]
RNN_SIZES = [(n, batch, 1000) for n in (32, 256) for batch in (1, 32)]
RNN_QUICK = [(32, 1, 100), (32, 32, 100)]


def twin(f):
    """A second function object with the same code: the A/A control."""
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__ + "_copy",
                           f.__defaults__, f.__closure__)
    g.__kwdefaults__ = f.__kwdefaults__
    return g


# -- the hand-written steps -------------------------------------------------------------------

def mlp_loss(params, x, y):
    h = x
    for W, b in params:
        h = jax.nn.sigmoid(h @ W + b)
    return jnp.mean(0.5 * jnp.sum((h - y) ** 2, axis=1))


def rnn_loss(params, xs, ys):
    """xs (batch, T, n_in), ys (batch, T, 1); the scan runs time-major."""
    Wx, Wh, b, W, c = params

    def cell(h, x):
        h = jnp.tanh(x @ Wx + h @ Wh + b)
        return h, h
    h0 = jnp.zeros((xs.shape[0], Wh.shape[0]), xs.dtype)
    _, hs = lax.scan(cell, h0, jnp.swapaxes(xs, 0, 1))       # (T, batch, n)
    out = hs @ W + c                                          # the read-out, all steps at once
    return jnp.mean(0.5 * jnp.sum((out - jnp.swapaxes(ys, 0, 1)) ** 2, axis=-1))


def hand_step(loss, lr, donate):
    """The practitioner's jitted step for ``loss`` (a fresh function object each call,
    so each is traced and compiled on its own)."""
    def step(params, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        return jax.tree.map(lambda p, g: p - lr * g, params, grads), value
    return jax.jit(step, donate_argnums=(0,) if donate else ())


# -- the library's steps ----------------------------------------------------------------------

def mlp_learner(widths, dtype):
    layers = [dense(a, b, Sigmoid, dtype) for a, b in zip(widths, widths[1:])]
    model = Para.id(Real(widths[0], dtype=dtype)).then(*layers)
    return Learner(model, mse(Real(widths[-1], dtype=dtype)), GD(lr=LR))


def rnn_learner(n_in, n, dtype):
    model = elman(n_in, n, dtype=dtype) >> dense(n, 1, dtype=dtype)
    return Learner(model, mse(Real(1, dtype=dtype)), GD(lr=LR))


def ours(learner, donate):
    """The compiled step: (build + R, pj.compile seconds, the jitted function)."""
    start = time.perf_counter()
    learner = learner()
    built = time.perf_counter()
    compiled = pj.compile(learner.diagram)
    done = time.perf_counter()
    n_params = len(learner.model.params)
    function = (jax.jit(compiled.python, donate_argnums=tuple(range(n_params))) if donate
                else compiled.function)
    return built - start, done - built, function, learner


# -- timing -----------------------------------------------------------------------------------

def interleaved(fns: dict, rounds: int, sample_s: float) -> dict:
    """Per-call times of each function, rounds × one sample each, order rotating."""
    for f in fns.values():              # warm (compiled already; this settles caches)
        f()
        f()
    per_call = []
    for f in fns.values():
        t0 = time.perf_counter()
        f()
        per_call.append(time.perf_counter() - t0)
    number = max(1, int(sample_s / max(min(per_call), 1e-7)))
    names = list(fns)
    times = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            f = fns[name]
            t0 = time.perf_counter()
            for _ in range(number):
                f()
            times[name].append((time.perf_counter() - t0) / number)
    return times


def ratios(times, a, b):
    """The median of the per-round ratios a / b, and their interquartile range."""
    r = sorted(x / y for x, y in zip(times[a], times[b]))
    return statistics.median(r), r[len(r) // 4], r[(3 * len(r)) // 4]


def time_chained(step, hand, hand_copy, put, packed, data, args) -> dict:
    """Interleaved timings of ours, the hand step and its A/A copy, each chained (its new
    parameters fed back), every call blocked on; ``packed`` makes the hand steps' pytree
    of parameters from ours."""
    state_o, state_h, state_c = [put()], [packed(put())], [packed(put())]

    def run_ours():
        out = jax.block_until_ready(step(*state_o[0], *data))
        state_o[0] = list(out[:-1])

    def run_with(f, state):
        def run():
            out = jax.block_until_ready(f(state[0], *data))
            state[0] = out[0]
        return run
    fns = {"ours": run_ours, "hand": run_with(hand, state_h),
           "hand copy": run_with(hand_copy, state_c)}
    return interleaved(fns, args.rounds, args.sample_ms / 1e3)


def first_call(make, args, repeats):
    """Median seconds of a fresh function's first call (trace + compile + run)."""
    times = []
    for _ in range(repeats):
        f = make()
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args()))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def close(ours_new, hand_new, old, rtol, what):
    """The parameter changes agree (compared as changes, not as W ± a tiny step)."""
    for k, (a, b, o) in enumerate(zip(ours_new, hand_new, old)):
        a, b, o = np.asarray(a), np.asarray(b), np.asarray(o)
        assert a.shape == b.shape and a.dtype == b.dtype, (what, k, a.shape, b.shape, a.dtype)
        change, change_h = a - o, b - o
        scale = np.abs(change_h).max()
        np.testing.assert_allclose(change, change_h, rtol=rtol, atol=rtol * scale + 1e-30,
                                   err_msg=f"{what}: parameter {k}")


# -- the cases ----------------------------------------------------------------------------------

def mlp_case(widths, batch, dtype, device, args):
    """(ours / hand, A/A, ms ours, ms hand, first calls, build + R, codegen)."""
    build, codegen, step, learner = ours(lambda: mlp_learner(widths, dtype), args.donate)
    _, values = learner.init(0)
    rng = np.random.default_rng(1)
    params = []
    for p in learner.model.params:                  # W, b of the first layer first
        v = values[p]
        if p.name == "b":                           # not zeros: check the bias paths
            v = rng.normal(0.0, 0.1, size=v.shape)
        params.append(np.asarray(v, dtype=dtype))
    x = jax.device_put(rng.normal(size=(batch, widths[0])).astype(dtype), device)
    y = jax.device_put(rng.uniform(size=(batch, widths[-1])).astype(dtype), device)
    put = lambda: [jax.device_put(p, device) for p in params]
    pairs = lambda ps: [(W, b) for W, b in zip(ps[0::2], ps[1::2])]

    hand, hand_copy = hand_step(mlp_loss, LR, args.donate), \
        hand_step(twin(mlp_loss), LR, args.donate)
    # the values agree before timing
    rtol = 2e-3 if dtype == "float32" else 1e-9
    *new, losses = step(*put(), x, y)
    new_h, loss_h = hand(pairs(put()), x, y)
    new_c, loss_c = hand_copy(pairs(put()), x, y)
    assert losses.shape == (batch,) and losses.dtype == np.dtype(dtype), losses
    np.testing.assert_allclose(float(np.mean(np.asarray(losses, dtype="float64"))),
                               float(loss_h), rtol=rtol)
    flat = lambda pp: [v for W_b in pp for v in W_b]
    close(new, flat(new_h), params, rtol, "ours vs hand")
    close(flat(new_c), flat(new_h), params, 0, "A/A")

    times = time_chained(step, hand, hand_copy, put, pairs, (x, y), args)

    first_ours = first_call(
        lambda: ours(lambda: mlp_learner(widths, dtype), args.donate)[2],
        lambda: put() + [x, y], args.first_repeats) if args.first_repeats else float("nan")
    first_ours_total = first_ours + build + codegen
    first_hand = first_call(lambda: hand_step(twin(mlp_loss), LR, args.donate),
                            lambda: (pairs(put()), x, y), args.first_repeats) \
        if args.first_repeats else float("nan")
    return (ratios(times, "ours", "hand"), ratios(times, "hand copy", "hand"),
            statistics.median(times["ours"]), statistics.median(times["hand"]),
            first_ours_total, first_hand, build, codegen)


def rnn_case(n, batch, T, dtype, device, args):
    n_in = args.n_in
    build, codegen, step, learner = ours(lambda: rnn_learner(n_in, n, dtype), args.donate)
    _, values = learner.init(0)
    rng = np.random.default_rng(2)
    params = []
    for p in learner.model.params:                  # Wx, Wh, b, W, c
        v = values[p]
        if p.name == "b":
            v = rng.normal(0.0, 0.1, size=v.shape)
        params.append(np.asarray(v, dtype=dtype))
    xs = jax.device_put(rng.normal(size=(batch, T, n_in)).astype(dtype), device)
    ys = jax.device_put(rng.normal(size=(batch, T, 1)).astype(dtype), device)
    put = lambda: [jax.device_put(p, device) for p in params]

    hand, hand_copy = hand_step(rnn_loss, LR, args.donate), \
        hand_step(twin(rnn_loss), LR, args.donate)
    rtol = 2e-3 if dtype == "float32" else 1e-9
    *new, losses = step(*put(), xs, ys)
    new_h, loss_h = hand(tuple(put()), xs, ys)
    new_c, loss_c = hand_copy(tuple(put()), xs, ys)
    assert losses.shape == (batch,) and losses.dtype == np.dtype(dtype), losses
    # ours gives each sequence's loss (summed over its steps); the objective is their
    # mean over batch × time
    np.testing.assert_allclose(float(np.sum(np.asarray(losses, dtype="float64"))) / (batch * T),
                               float(loss_h), rtol=rtol)
    close(new, new_h, params, 10 * rtol if dtype == "float32" else rtol, "ours vs hand")
    close(new_c, new_h, params, 0, "A/A")

    times = time_chained(step, hand, hand_copy, put, tuple, (xs, ys), args)

    first_ours = first_call(
        lambda: ours(lambda: rnn_learner(n_in, n, dtype), args.donate)[2],
        lambda: put() + [xs, ys], args.first_repeats) if args.first_repeats else float("nan")
    first_hand = first_call(lambda: hand_step(twin(rnn_loss), LR, args.donate),
                            lambda: (tuple(put()), xs, ys), args.first_repeats) \
        if args.first_repeats else float("nan")
    return (ratios(times, "ours", "hand"), ratios(times, "hand copy", "hand"),
            statistics.median(times["ours"]), statistics.median(times["hand"]),
            first_ours + build + codegen, first_hand, build, codegen)


def library_time(depth, width=20, dtype="float32", repeats=7):
    """Seconds (median, fastest) to build the learner (with R) and compile it to JAX
    source (no tracing: jax.jit traces on the first call); the fastest is the
    figure least disturbed by a shared machine."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pj.compile(mlp_learner([width] * (depth + 1), dtype).diagram)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def row(name, r):
    ratio, aa, t_ours, t_hand, first_o, first_h, build, codegen = r
    return (f"| {name} | {ratio[0]:.3f}× ({ratio[1]:.2f}–{ratio[2]:.2f}) | "
            f"{aa[0]:.3f}× ({aa[1]:.2f}–{aa[2]:.2f}) | {t_ours * 1e3:.3f} | {t_hand * 1e3:.3f} | "
            f"{first_o:.2f} s ({build + codegen:.3f} s build + R + codegen) | {first_h:.2f} s |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "gpu", "tpu"], default=None,
                        help="the backend to run on (default: JAX's default backend)")
    parser.add_argument("--rounds", type=int, default=None, help="default 30 (5 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, few rounds: a smoke run")
    parser.add_argument("--only", choices=["mlp", "rnn"], default=None)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--donate", action="store_true",
                        help="donate the parameters' buffers (in both steps)")
    parser.add_argument("--sample-ms", type=float, default=20.0,
                        help="approximate length of one timed sample (calls batched up to it)")
    parser.add_argument("--first-repeats", type=int, default=None,
                        help="fresh first calls timed per case (median); default 3 (1 with --quick)")
    parser.add_argument("--n-in", type=int, default=8, help="the RNN's input width")
    parser.add_argument("--T", type=int, default=None, help="the RNN's sequence length")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 5 if args.quick else 30
    if args.first_repeats is None:
        args.first_repeats = 1 if args.quick else 3
    if args.dtype == "float64":
        pj.enable_x64()
    device = jax.devices(args.device)[0] if args.device else jax.devices()[0]
    print(f"device: {device} ({device.platform}; jax {jax.__version__}); {args.dtype}; "
          f"donation {'on' if args.donate else 'off'}; {args.rounds} interleaved rounds, "
          f"median of per-round ratios (IQR)")
    with jax.default_device(device):
        jax.block_until_ready(jax.jit(lambda a: a + 1)(jnp.zeros(3)))     # backend up
        if args.only in (None, "mlp"):
            print()
            print("MLP train step (sigmoid, ½Σ(ŷ−y)² mean over the batch, SGD lr 0.01), "
                  "ours = pj.compile(learner.diagram).function; target ≤ 1.1×")
            print()
            print("| model, batch | ours / hand (IQR) | A/A: hand copy / hand (IQR) | "
                  "ours ms | hand ms | ours first call | hand first call |")
            print("|---|---|---|---|---|---|---|")
            for name, widths, batch in MLP_QUICK if args.quick else MLP_SIZES:
                r = mlp_case(widths, batch, args.dtype, device, args)
                print(row(f"{name}, B={batch}", r), flush=True)
            print()
            print("build the learner (with R) + pj.compile (plan + JAX source), width 20, "
                  "median (fastest) of 7: " + ", ".join(
                      f"{d} layers {t[0] * 1e3:.1f} ms ({t[1] * 1e3:.1f} ms)"
                      for d, t in ((d, library_time(d, dtype=args.dtype)) for d in (2, 33))))
        if args.only in (None, "rnn"):
            print()
            print(f"tanh RNN (Elman, input {args.n_in}) >> dense(n, 1), BPTT train step "
                  f"(½Σ(ŷ−y)² mean over batch × time, SGD); ours = lax.scan from "
                  f"pj.compile; target ≤ 1.2×")
            print()
            print("| hidden n, batch, T | ours / hand (IQR) | A/A: hand copy / hand (IQR) | "
                  "ours ms | hand ms | ours first call | hand first call |")
            print("|---|---|---|---|---|---|---|")
            for n, batch, T in RNN_QUICK if args.quick else RNN_SIZES:
                T = args.T or T
                r = rnn_case(n, batch, T, args.dtype, device, args)
                print(row(f"n={n}, B={batch}, T={T}", r), flush=True)


if __name__ == "__main__":
    main()
