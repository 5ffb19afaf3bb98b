"""The linear-Gaussian chain smoothed parallel in time against the sequential smoothers.

One chain, T = 10⁵ steps, d = 8, k = 4 (``--steps``, ``--d``, ``--k`` to change), smoothed by

* **parallel**: ``interpreters.parallel.parallel_smoother`` in NumPy (prefix products of
  the filtering operator, suffix products of the smoothing operator, each level of the
  work-efficient scan one batched array operation; ``reference/bffg.md`` §11);
* **IR numpy**: ``categories.chains.smoother`` run by the NumPy interpreter (the
  backward filter a reverse loop, guiding a forward loop, step by step);
* **IR codegen**: the same diagram compiled by ``interpreters.codegen.compile``;
* **bffg**: ``interpreters.bffg.smooth_chain``, the hand-written loop (backward filter,
  then guided marginals);
* **A/A**: a second function object with the very code of ``parallel_smoother``;
* **jax** (with ``--jax``): ``parallel_smoother(…, xp=jax.numpy)``, jitted (compiled before
  the rounds), waited for. On a CPU, XLA's runtime was seen to hang at T = 10⁵ (every
  worker thread idle, in ``block_until_ready``; the same with slogdet and solve of one
  batch of 10⁵ matrices in one jit); ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false``
  avoided it in the runs tried.

Rounds interleave the functions, in an order drawn afresh each round (a rotation keeps each
function after the same one, and what the one before left in memory shows in the
timings: measured here as an A/A of 1.3 under rotation); each is timed against the parallel
smoother of its round and the median of those ratios printed (> 1: slower than the
parallel smoother), with the median seconds and the largest difference of each result
from the parallel smoother's (log p relative; means, covariances, lag-one absolute).

    python benchmarks/parallel_chain.py [--rounds 5] [--quick] [--jax]
"""

from __future__ import annotations

import argparse
import statistics
import time
import types

import numpy as np

from paralens.categories.chains import smoother
from paralens.categories.kernels import Chain, Prior
from paralens.interpreters import bffg, codegen, numpy as interpreter
from smoothing import chain_data
from paralens.interpreters.parallel import parallel_smoother

parallel_copy = types.FunctionType(parallel_smoother.__code__, parallel_smoother.__globals__,
                                   "parallel_copy", parallel_smoother.__defaults__)


def chain(T: int, d: int, k: int, rng):
    """A stable random chain and its data, as ``benchmarks/smoothing.py`` makes them."""
    return chain_data(T, rng, d, k)


def _time(fn, args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def _rounds(functions: dict, rounds: int, rng) -> dict:
    """Each round runs every function once, in an order drawn afresh: a rotation would keep
    each function after the same one (whose freed memory the next run finds)."""
    names, samples = list(functions), {name: [] for name in functions}
    for _ in range(rounds):
        for i in rng.permutation(len(names)):
            fn, args = functions[names[i]]
            samples[names[i]].append(_time(fn, args))
    return samples


def _results(name, fn, args):
    """(means, covariances, lag-one (T − 1), log p) of one series, whichever the smoother."""
    out = fn(*args)
    if name == "bffg":
        return out.means, out.covariances, out.lag_one, out.log_evidence
    means, covs, lag, logp = (np.asarray(x) for x in out)
    if name.startswith("IR"):
        means, covs, lag, logp = means[0], covs[0], lag[0], logp[0]
    return means, covs, lag[:-1], float(logp)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=8)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="T = 10³")
    parser.add_argument("--jax", action="store_true", help="the JAX version too (float64)")
    args = parser.parse_args(argv)
    T = 1000 if args.quick else args.steps
    params, ys = chain(T, args.d, args.k, np.random.default_rng(0))
    diagram = smoother(args.d, args.k).diagram
    functions = {
        "parallel": (parallel_smoother, (*params, ys)),
        "IR numpy": (interpreter.compile(diagram), (*params, ys[None])),
        "IR codegen": (codegen.compile(diagram), (*params, ys[None])),
        "bffg": (bffg.smooth_chain, (Chain(Prior(params[0], params[1]), *params[2:], ys), )),
        "A/A": (parallel_copy, (*params, ys)),
    }
    if args.jax:
        import jax
        jax.config.update("jax_enable_x64", True)

        def jitted(*arrays):
            return jax.block_until_ready(parallel_smoother(*arrays, xp=jax.numpy))
        functions["jax"] = (jitted, (*params, ys))
    reference = _results("parallel", *functions["parallel"])
    errors = {}
    for name, (fn, fargs) in functions.items():
        got = _results(name, fn, fargs)
        errors[name] = (abs(got[3] - reference[3]) / abs(reference[3]),
                        max(float(np.abs(g - w).max()) for g, w in zip(got[:3], reference[:3])))
    samples = _rounds(functions, args.rounds, np.random.default_rng(1))
    print(f"T = {T}, d = {args.d}, k = {args.k}; median of {args.rounds} interleaved rounds")
    print(f"{'':>10} | {'/parallel':>9} | {'seconds':>8} | {'log p rel':>9} {'moments':>8}")
    for name in functions:
        ratio = statistics.median(x / y for x, y in zip(samples[name], samples["parallel"]))
        print(f"{name:>10} | {ratio:>9.3f} | {statistics.median(samples[name]):>8.3f} | "
              f"{errors[name][0]:>9.1e} {errors[name][1]:>8.1e}")


if __name__ == "__main__":
    main()
