"""Chains on the IR (``categories.chains``) against statsmodels and hand-written code.

1. **chain smoother** (log p(y), smoothed means and covariances; d = 8, k = 4,
   T ∈ {10³, 10⁵}) against statsmodels' ``KalmanSmoother`` (Cython: a Kalman
   filter, then the smoother; its output restricted to what the library gives:
   the state's moments and lag-one covariances; its default steady-state
   tolerance): ``smoother(8, 4).diagram`` run by the NumPy interpreter and by the
   code generator, ``bffg.smooth_chain`` on a ``markov.state_space`` box, and,
   where ``paralens.interpreters.parallel`` is there, its NumPy
   ``parallel_smoother``. The difference is relative: |Δ log p|/|log p|, and the
   largest |Δ| of the means and of the covariances over their largest entry;
2. **gradient** of log p with respect to every parameter
   (``Likelihood(log_likelihood(8, 4), compile=codegen.compile).value_and_grad``)
   against one smoother pass (codegen), T = 10⁴; checked by central differences
   along a random direction of all the parameters;
3. **Nile fit**: ``Likelihood(local_level_likelihood(y₀, diffuse=True))`` and
   scipy's L-BFGS-B from the variances (σ²η, σ²ε) = (1000, 10000), the absolute
   time of the fit with the model compiled before (and with its compiling, in a
   warm process), beside statsmodels' ``UnobservedComponents(flow, "local
   level").fit(disp=False)`` (its default approximate diffuse prior, so its log
   p differs from the exact diffuse one; its evaluations are its optimiser's
   function calls, ``mle_retvals["fcalls"]``, its gradients numerical);
4. **HMM** S = 100, T = 10⁴: ``bffg.smooth_hmm`` against the scaled
   forward–backward of ``benchmarks/smoothing.py``;
5. **JAX** (float64 on the CPU; skipped without jax): ``jax.compile(smoother(8,
   4).diagram)`` against a ``jax.jit`` of a conventional Kalman filter (a
   ``lax.scan``) and RTS smoother (a reverse ``lax.scan``), T = 10⁵, the first
   calls excluded. It runs in a child process under a time limit: with jax
   0.10.2 on this machine the library's jitted smoother, past T ≈ 3·10⁴, can
   stop returning (the main thread waits in XLA's CPU executable, no thread
   working; ``log_likelihood``'s does not), so a case that gives no result in
   time is said so, and T = 10⁴ is run instead.

Each A/A control is the baseline against a second function object with its very
code (for JAX, jitted apart). Each function is called once untimed first (but
at T = 10⁵ in NumPy, where a first call's costs are lost in the run); then rounds
interleave the functions, the order rotating; the median of per-round ratios is
printed (Nile: the median of absolute times). BLAS runs on one thread (OPENBLAS_NUM_THREADS=1 unless set).

    python benchmarks/chains.py [--rounds 3] [--quick]

``--quick``: every T is 10³ (a check that it all runs, not timings to quote).
"""

from __future__ import annotations

import os

for _threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
import types

import numpy as np
from scipy.optimize import minimize
from statsmodels.tsa.statespace import kalman_smoother as ksm
from statsmodels.tsa.statespace.structural import UnobservedComponents

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smoothing  # noqa: E402
from smoothing import forward_backward, forward_backward_copy  # noqa: E402

from paralens.categories import chains  # noqa: E402
from paralens.categories.markov import hidden_markov, state_space  # noqa: E402
from paralens.interpreters import bffg, codegen  # noqa: E402
from paralens.interpreters import numpy as interpreter  # noqa: E402
from paralens.interpreters.likelihood import Likelihood  # noqa: E402
from paralens.lenses.datasets import nile  # noqa: E402

try:
    from paralens.interpreters import parallel
except ImportError:
    parallel = None

LOG_2PI = np.log(2 * np.pi)
D, K = 8, 4
NAMES = chains.GAUSSIAN_PARAMETERS


# -- the timing loop (benchmarks/smoothing.py's, keeping each function's last result) ----------

def _rounds(functions: dict, rounds: int, warm: bool = True):
    """Each function once a round, the order rotating: (times by name, last results).
    ``warm``: each called once first, untimed (imports, caches, first allocations)."""
    names = list(functions)
    samples, results = {name: [] for name in names}, {}
    for name in names if warm else ():
        fn, args = functions[name]
        fn(*args)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn, args = functions[name]
            start = time.perf_counter()
            results[name] = fn(*args)
            samples[name].append(time.perf_counter() - start)
    return samples, results


def _ratio(samples, a, b):
    return statistics.median(x / y for x, y in zip(samples[a], samples[b]))


def _copy(fn, name):
    return types.FunctionType(fn.__code__, fn.__globals__, name)


def _T(n):
    return f"10^{int(round(np.log10(n)))}"


# -- the data ---------------------------------------------------------------------------------

def chain_data(T: int, rng, d: int = D, k: int = K):
    """smoothing.py's chain and a path of it: (m0, P0, A, beta, Q, L, b, R), ys (T, k)."""
    return smoothing.chain_data(T, rng, d, k)


# -- 1. the chain smoother against statsmodels ---------------------------------------------------

def statsmodels_smoother(m0, P0, A, beta, Q, L, b, R, ys):
    """statsmodels' Kalman smoother: (log p(y), means (T, d), covariances (T, d, d))."""
    d, k = len(m0), len(b)
    model = ksm.KalmanSmoother(k_endog=k, k_states=d, k_posdef=d)
    model.bind(ys)
    model["design"], model["obs_intercept"], model["obs_cov"] = L, b, R
    model["transition"], model["state_intercept"] = A, beta
    model["selection"], model["state_cov"] = np.eye(d), Q
    model.initialize_known(m0, P0)
    model.smoother_output = ksm.SMOOTHER_STATE | ksm.SMOOTHER_STATE_COV | ksm.SMOOTHER_STATE_AUTOCOV
    smoothed = model.smooth()
    return smoothed.llf, smoothed.smoothed_state.T, np.moveaxis(smoothed.smoothed_state_cov, -1, 0)


statsmodels_smoother_copy = _copy(statsmodels_smoother, "statsmodels_smoother_copy")


def _relative(result, reference):
    (ll, ms, Ps), (ll0, ms0, Ps0) = result, reference
    return max(abs(ll - ll0) / abs(ll0), np.abs(ms - ms0).max() / np.abs(ms0).max(),
               np.abs(Ps - Ps0).max() / np.abs(Ps0).max())


def smoother_case(T: int, rounds: int, rng):
    params, ys = chain_data(T, rng)
    para = chains.smoother(D, K)
    by_interpreter, by_codegen = interpreter.compile(para.diagram), codegen.compile(para.diagram)
    box = state_space(*params, ys)
    batch = ys[None]

    def run(compiled):
        def smooth(*args):
            means, covs, _, logp = compiled(*args)
            return float(np.ravel(logp)[0]), np.asarray(means)[0], np.asarray(covs)[0]
        return smooth

    def smooth_box(box):
        smoothed = bffg.smooth_chain(box)
        return smoothed.log_evidence, smoothed.means, smoothed.covariances

    functions = {"statsmodels": (statsmodels_smoother, (*params, ys)),
                 "A/A: statsmodels copy": (statsmodels_smoother_copy, (*params, ys)),
                 "interpreter": (run(by_interpreter), (*params, batch)),
                 "codegen": (run(by_codegen), (*params, batch)),
                 "bffg.smooth_chain": (smooth_box, (box, ))}
    if parallel is not None and hasattr(parallel, "parallel_smoother"):
        def smooth_parallel(*args):
            means, covs, _, logp = parallel.parallel_smoother(*args)
            return float(np.ravel(logp)[0]), means, covs
        functions["parallel (NumPy)"] = (smooth_parallel, (*params, ys))
    return _rounds(functions, rounds, warm=T <= 10_000)


def print_smoother(T, samples, results):
    base = statistics.median(samples["statsmodels"])
    for name in samples:
        if name == "statsmodels":
            continue
        ratio = _ratio(samples, name, "statsmodels")
        error = _relative(results[name], results["statsmodels"])
        print(f"{_T(T):>6} {name:<18} | {ratio:>7.2f} | {statistics.median(samples[name]):>8.4f} "
              f"{base:>8.4f} | {error:.1e}")


# -- 2. the gradient against one smoother pass -----------------------------------------------------

def gradient_case(T: int, rounds: int, rng):
    params, ys = chain_data(T, rng)
    model = chains.log_likelihood(D, K)
    likelihood = Likelihood(model, compile=codegen.compile)
    smoother = chains.smoother(D, K).diagram
    one, other = codegen.compile(smoother), codegen.compile(smoother)
    values = dict(zip(NAMES, params))
    batch = ys[None]
    samples, results = _rounds({"value_and_grad": (likelihood.value_and_grad, (values, batch)),
                                "smoother": (one, (*params, batch)),
                                "smoother copy": (other, (*params, batch))}, rounds)
    logp, grad = results["value_and_grad"]
    # the gradient along a random direction of every parameter, by central differences
    h = 1e-5
    direction = {n: rng.normal(size=np.shape(v)) for n, v in values.items()}
    for n in ("P0", "Q", "R"):              # covariances move along symmetric directions
        direction[n] = 0.5 * (direction[n] + direction[n].T)
    shifted = [likelihood.value({n: v + s * h * direction[n] for n, v in values.items()}, batch)
               for s in (1, -1)]
    numeric = (shifted[0] - shifted[1]) / (2 * h)
    exact = sum(float(np.sum(grad[n] * direction[n])) for n in NAMES)
    errors = (abs(logp - float(np.ravel(results["smoother"][-1])[0])),
              abs(exact - numeric) / abs(numeric))
    return samples, errors


# -- 3. the Nile fit ----------------------------------------------------------------------------

START = {"log_level_variance": np.log(1000.0), "log_noise_variance": np.log(10000.0)}


def fit_nile(likelihood, flow):
    """scipy's L-BFGS-B on −log p: (σ²ε, σ²η, log p, evaluations)."""
    objective = likelihood.objective(START, flow[None, 1:, None])
    result = minimize(objective, objective.x0, jac=True, method="L-BFGS-B")
    fitted = objective.parameters(result.x)
    return (float(np.exp(fitted["log_noise_variance"])), float(np.exp(fitted["log_level_variance"])),
            -float(result.fun), objective.evaluations)


def compile_and_fit(compile, flow):
    return fit_nile(Likelihood(chains.local_level_likelihood(float(flow[0]), diffuse=True),
                               compile=compile), flow)


def statsmodels_nile(flow):
    fitted = UnobservedComponents(flow, "local level").fit(disp=False)
    noise, level = fitted.params
    return float(noise), float(level), float(fitted.llf), fitted.mle_retvals.get("fcalls", -1)


statsmodels_nile_copy = _copy(statsmodels_nile, "statsmodels_nile_copy")


def nile_case(rounds: int):
    flow = np.asarray(nile()[1], dtype=float)
    model = chains.local_level_likelihood(float(flow[0]), diffuse=True)
    interpreted = Likelihood(model)
    generated = Likelihood(model, compile=codegen.compile)
    return _rounds({"interpreter": (fit_nile, (interpreted, flow)),
                    "codegen": (fit_nile, (generated, flow)),
                    "interpreter + compile": (compile_and_fit, (None, flow)),
                    "codegen + compile": (compile_and_fit, (codegen.compile, flow)),
                    "statsmodels": (statsmodels_nile, (flow, )),
                    "statsmodels copy": (statsmodels_nile_copy, (flow, ))}, rounds)


# -- 4. the HMM ------------------------------------------------------------------------------------

def hmm_case(S: int, T: int, rounds: int, rng):
    p = rng.dirichlet(np.ones(S))
    Km = rng.dirichlet(np.ones(S), size=S)
    E = rng.dirichlet(np.ones(8), size=S)
    ys = rng.integers(0, 8, T)
    box = hidden_markov(p, Km, E, ys)
    samples, results = _rounds({"bffg": (bffg.smooth_hmm, (box, )),
                                "hand": (forward_backward, (p, Km, E, ys)),
                                "copy": (forward_backward_copy, (p, Km, E, ys))}, rounds)
    ll, gamma = results["hand"]
    smoothed = results["bffg"]
    error = max(abs(smoothed.log_evidence - ll) / abs(ll), np.abs(smoothed.marginals - gamma).max())
    return samples, error


# -- 5. JAX, in a child process ----------------------------------------------------------------

def kalman_rts_jax(m0, P0, A, beta, Q, L, b, R, ys):
    """The hand-written JAX smoother: a Kalman filter (a scan: update by y_t, then predict),
    then RTS (a reverse scan); ``jnp`` and ``lax`` are set when the JAX case imports jax."""
    k = L.shape[0]

    def filtering(carry, y):
        m, P, ll = carry
        LP = L @ P
        S = LP @ L.T + R
        r = y - L @ m - b
        gain = jnp.linalg.solve(S, LP).T
        ll = ll - 0.5 * (r @ jnp.linalg.solve(S, r) + jnp.linalg.slogdet(S)[1] + k * LOG_2PI)
        mf, Pf = m + gain @ r, P - gain @ LP
        return (A @ mf + beta, A @ Pf @ A.T + Q, ll), (mf, Pf, m, P)
    (_, _, ll), (mf, Pf, mp, Pp) = lax.scan(filtering, (m0, P0, jnp.zeros((), m0.dtype)), ys)

    def rts(carry, step):
        ms, Ps = carry
        mf_t, Pf_t, mp_next, Pp_next = step
        J = jnp.linalg.solve(Pp_next, A @ Pf_t).T
        ms = mf_t + J @ (ms - mp_next)
        Ps = Pf_t + J @ (Ps - Pp_next) @ J.T
        return (ms, Ps), (ms, Ps)
    _, (ms, Ps) = lax.scan(rts, (mf[-1], Pf[-1]), (mf[:-1], Pf[:-1], mp[1:], Pp[1:]),
                           reverse=True)
    return ll, jnp.concatenate([ms, mf[-1:]]), jnp.concatenate([Ps, Pf[-1:]])


kalman_rts_jax_copy = _copy(kalman_rts_jax, "kalman_rts_jax_copy")


def jax_case(T: int, rounds: int, seed: int) -> dict:
    """The JAX case (run by the child): the times, the ratios and the differences."""
    global jnp, lax
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax import lax

    from paralens.interpreters import jax as pj

    rng = np.random.default_rng(seed)
    params, ys = chain_data(T, rng)
    args = [jnp.asarray(a) for a in (*params, ys)]
    hand, copy = jax.jit(kalman_rts_jax), jax.jit(kalman_rts_jax_copy)
    library = pj.compile(chains.smoother(D, K).diagram)

    def blocking(fn, *extra):
        def call(*a):
            return jax.block_until_ready(fn(*a, *extra))
        return call

    functions = {"hand": (blocking(hand), args), "copy": (blocking(copy), args),
                 "library": (blocking(library), (*args[:-1], args[-1][None]))}
    first = {}
    for name, (fn, a) in functions.items():          # the first calls (compiling), excluded
        start = time.perf_counter()
        fn(*a)
        first[name] = time.perf_counter() - start
        print(f"first call {name}: {first[name]:.2f} s", file=sys.stderr, flush=True)
    samples, results = _rounds(functions, rounds, warm=False)
    means, covs, _, logp = results["library"]
    ll, ms, Ps = results["hand"]
    error = max(abs(float(logp[0]) - float(ll)) / abs(float(ll)),
                float(jnp.abs(means[0] - ms).max()), float(jnp.abs(covs[0] - Ps).max()))
    return {"T": T, "ratio": _ratio(samples, "library", "hand"), "aa": _ratio(samples, "copy", "hand"),
            "library_s": statistics.median(samples["library"]),
            "hand_s": statistics.median(samples["hand"]), "first": first, "error": error,
            "device": str(jax.devices()[0])}


def run_jax_child(T: int, rounds: int, seed: int, limit: float):
    """The JAX case in a child process: its result, or why there is none."""
    command = [sys.executable, os.path.abspath(__file__), "--jax-child", str(T), "--rounds",
               str(rounds), "--seed", str(seed)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired as expired:
        said = (expired.stderr or b"")
        said = said.decode() if isinstance(said, bytes) else said
        return None, f"no result in {limit:.0f} s; the child had said: {said.strip() or 'nothing'}"
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        return None, f"the child failed (exit {done.returncode}): {done.stderr.strip()[-400:]}"
    return json.loads(lines[-1]), None


# -- main ------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="every T 10³ (a check that it runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jax-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.jax_child is not None:
        print(json.dumps(jax_case(args.jax_child, args.rounds, args.seed)), flush=True)
        return
    rng = np.random.default_rng(args.seed)
    rounds = args.rounds
    quick = args.quick
    start = time.perf_counter()
    print(f"median of {rounds} interleaved rounds; OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS')}")

    print(f"\n1. chain smoother, d = {D}, k = {K}: library / statsmodels KalmanSmoother"
          f"{'' if parallel is not None else ' (paralens.interpreters.parallel: not importable)'}")
    print(f"{'T':>6} {'library':<18} | {'ratio':>7} | {'lib s':>8} {'sm s':>8} | max rel. diff vs sm")
    for T in ((1000, ) if quick else (1000, 100_000)):
        samples, results = smoother_case(T, rounds, rng)
        print_smoother(T, samples, results)

    T = 1000 if quick else 10_000
    samples, (dlogp, dgrad) = gradient_case(T, rounds, rng)
    print(f"\n2. gradient of log p w.r.t. all 8 parameters (codegen) / one smoother pass (codegen), "
          f"T = {_T(T)}, d = {D}, k = {K}")
    print(f"   ratio {_ratio(samples, 'value_and_grad', 'smoother'):.2f} (target <= 3)   "
          f"A/A {_ratio(samples, 'smoother copy', 'smoother'):.2f}   "
          f"value_and_grad {statistics.median(samples['value_and_grad']):.3f} s   smoother "
          f"{statistics.median(samples['smoother']):.3f} s")
    print(f"   |log p - smoother's log p| {dlogp:.1e}   directional derivative vs central "
          f"differences (rel.) {dgrad:.1e}")

    samples, results = nile_case(rounds)
    print("\n3. Nile, local level, L-BFGS-B from (sigma2_eta, sigma2_eps) = (1000, 10000): "
          "absolute wall time (median; target <= 0.2 s)")
    print(f"   {'':<22} | {'s':>7} | {'evals':>5} | {'sigma2_eps':>10} {'sigma2_eta':>10} "
          f"{'log p':>10}")
    for name in samples:
        eps, eta, logp, evaluations = results[name]
        print(f"   {name:<22} | {statistics.median(samples[name]):>7.3f} | {evaluations:>5} | "
              f"{eps:>10.1f} {eta:>10.2f} {logp:>10.4f}")
    print(f"   A/A (statsmodels copy / statsmodels) {_ratio(samples, 'statsmodels copy', 'statsmodels'):.2f}"
          f"; codegen / statsmodels {_ratio(samples, 'codegen', 'statsmodels'):.2f}")

    T = 1000 if quick else 10_000
    samples, error = hmm_case(100, T, rounds, rng)
    print(f"\n4. HMM, S = 100, T = {_T(T)}, 8 symbols: bffg.smooth_hmm / scaled forward-backward")
    print(f"   ratio {_ratio(samples, 'bffg', 'hand'):.3f}   A/A {_ratio(samples, 'copy', 'hand'):.2f}"
          f"   hand {statistics.median(samples['hand']):.3f} s   max diff {error:.1e}")

    print(f"\n5. JAX (float64, CPU, first calls excluded): jax.compile(smoother({D}, {K}).diagram) / "
          f"jax.jit Kalman filter + RTS (lax.scan)")
    if importlib.util.find_spec("jax") is None:
        print("   skipped: jax is not installed")
    else:
        for T, limit in (((1000, 120), ) if quick else ((100_000, 90), (10_000, 90))):
            result, why = run_jax_child(T, rounds, args.seed, limit)
            if result is None:
                print(f"   T = {_T(T)}: {why}")
                continue
            first = ", ".join(f"{n} {s:.2f}" for n, s in result["first"].items())
            print(f"   T = {_T(T)}: ratio {result['ratio']:.3f}   A/A {result['aa']:.2f}   library "
                  f"{result['library_s']:.3f} s   hand {result['hand_s']:.3f} s   max diff "
                  f"{result['error']:.1e}   ({result['device']}; first calls s: {first})")
            break
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
