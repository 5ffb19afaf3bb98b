"""BFFG smoothing against hand-written NumPy: a Kalman filter + RTS smoother on
linear-Gaussian chains, scaled forward–backward on hidden Markov chains.

* **chains**: ``bffg.smooth_chain`` (the backward filter, then the exact guided
  marginals: log p(y), smoothed means and covariances) against the
  conventional Kalman filter + RTS smoother (predict, update with a solve, the
  log-likelihood from the innovations; then the backward RTS recursion), the
  observation of dimension d/2, T ∈ {10³, 10⁵}, d ∈ {2, 8, 32};
* **HMMs**: ``bffg.smooth_hmm`` against the scaled forward–backward algorithm
  (S ∈ {3, 100}, T = 10⁴);
* **A/A**: each baseline against a second function object with its very code.

Rounds interleave the functions, the order rotating; the median of per-round
ratios is printed, with the largest difference of the results.

    python benchmarks/smoothing.py [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
import types

import numpy as np

from paralens.categories.kernels import Chain, HiddenMarkov, Prior
from paralens.interpreters import bffg

LOG_2PI = np.log(2 * np.pi)


# -- the conventional hand-written smoothers --------------------------------------------------

def kalman_rts(m0, P0, A, beta, Q, L, b, R, ys):
    """Kalman filter (log-likelihood, filtered and predicted moments), then RTS."""
    T, d, k = len(ys), len(m0), L.shape[0]
    mf, Pf = np.empty((T, d)), np.empty((T, d, d))
    mp, Pp = np.empty((T, d)), np.empty((T, d, d))
    m, P, ll = m0, P0, 0.0
    for t in range(T):
        if t:
            m = A @ m + beta
            P = A @ P @ A.T + Q
        mp[t], Pp[t] = m, P
        S = L @ P @ L.T + R
        r = ys[t] - L @ m - b
        K = np.linalg.solve(S, L @ P).T
        ll -= 0.5 * (r @ np.linalg.solve(S, r) + np.linalg.slogdet(S)[1] + k * LOG_2PI)
        m = m + K @ r
        P = P - K @ L @ P
        mf[t], Pf[t] = m, P
    ms, Ps = mf.copy(), Pf.copy()
    for t in range(T - 2, -1, -1):
        J = np.linalg.solve(Pp[t + 1], A @ Pf[t]).T
        ms[t] = mf[t] + J @ (ms[t + 1] - mp[t + 1])
        Ps[t] = Pf[t] + J @ (Ps[t + 1] - Pp[t + 1]) @ J.T
    return ll, ms, Ps


def forward_backward(p, K, E, ys):
    """Scaled forward–backward: log p(y) and the posterior marginals."""
    T, S = len(ys), len(p)
    alpha, scale = np.empty((T, S)), np.empty(T)
    a = p * E[:, ys[0]]
    scale[0] = a.sum()
    alpha[0] = a / scale[0]
    for t in range(1, T):
        a = (alpha[t - 1] @ K) * E[:, ys[t]]
        scale[t] = a.sum()
        alpha[t] = a / scale[t]
    beta = np.ones(S)
    gamma = np.empty((T, S))
    gamma[T - 1] = alpha[T - 1]
    for t in range(T - 2, -1, -1):
        beta = K @ (E[:, ys[t + 1]] * beta) / scale[t + 1]
        g = alpha[t] * beta
        gamma[t] = g / g.sum()
    return np.log(scale).sum(), gamma


kalman_rts_copy = types.FunctionType(kalman_rts.__code__, kalman_rts.__globals__, "kalman_rts_copy")
forward_backward_copy = types.FunctionType(forward_backward.__code__, forward_backward.__globals__,
                                           "forward_backward_copy")


def _time(fn, args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def _rounds(functions: dict, rounds: int) -> dict:
    names, samples = list(functions), {name: [] for name in functions}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn, args = functions[name]
            samples[name].append(_time(fn, args))
    return samples


def chain_data(T: int, rng, d: int, k: int):
    """A stable random chain (a rotation damped to 0.95, Q and R positive definite) and a
    path of it, the noise drawn in bulk: ((m0, P0, A, beta, Q, L, b, R), ys (T, k)); the
    chains of every smoothing benchmark."""
    A = 0.95 * np.linalg.qr(rng.normal(size=(d, d)))[0]
    beta = 0.1 * rng.normal(size=d)
    B = rng.normal(size=(d, d)) / np.sqrt(d)
    Q = 0.1 * B @ B.T + 0.05 * np.eye(d)
    L = rng.normal(size=(k, d)) / np.sqrt(d)
    b = 0.1 * rng.normal(size=k)
    R = 0.2 * np.eye(k)
    m0, P0 = np.zeros(d), np.eye(d)
    eta = rng.normal(size=(T, d)) @ np.linalg.cholesky(Q).T
    eps = rng.normal(size=(T, k)) @ np.linalg.cholesky(R).T
    x, ys = m0 + rng.normal(size=d), np.empty((T, k))
    for t in range(T):
        ys[t] = L @ x + b + eps[t]
        x = A @ x + beta + eta[t]
    return (m0, P0, A, beta, Q, L, b, R), ys


def chain_case(T: int, d: int, rounds: int, rng):
    (m0, P0, A, beta, Q, L, b, R), ys = chain_data(T, rng, d, max(d // 2, 1))
    chain = Chain(Prior(m0, P0), A, beta, Q, L, b, R, ys)
    ll, ms, Ps = kalman_rts(m0, P0, A, beta, Q, L, b, R, ys)
    evidence, means, covs, _ = bffg.smooth_chain(chain)
    error = max(abs(evidence - ll) / abs(ll), np.abs(means - ms).max(), np.abs(covs - Ps).max())
    args = (m0, P0, A, beta, Q, L, b, R, ys)
    samples = _rounds({"bffg": (bffg.smooth_chain, (chain, )), "hand": (kalman_rts, args),
                       "copy": (kalman_rts_copy, args)}, rounds)
    return samples, error


def hmm_case(S: int, T: int, rounds: int, rng):
    p = rng.dirichlet(np.ones(S))
    K = rng.dirichlet(np.ones(S), size=S)
    E = rng.dirichlet(np.ones(8), size=S)
    ys = rng.integers(0, 8, T)
    hmm = HiddenMarkov(p, K, E, ys)
    ll, gamma = forward_backward(p, K, E, ys)
    evidence, marginals = bffg.smooth_hmm(hmm)
    error = max(abs(evidence - ll) / abs(ll), np.abs(marginals - gamma).max())
    samples = _rounds({"bffg": (bffg.smooth_hmm, (hmm, )), "hand": (forward_backward, (p, K, E, ys)),
                       "copy": (forward_backward_copy, (p, K, E, ys))}, rounds)
    return samples, error


def _ratio(samples, a, b):
    return statistics.median(x / y for x, y in zip(samples[a], samples[b]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="T = 10³ chains and S = 3 only")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"median of {args.rounds} interleaved rounds")
    print(f"{'chain':>8} {'T':>7} {'d':>3} | {'BFFG/hand':>9} {'A/A':>5} | {'hand s':>7} | max error")
    for T in ((1000, ) if args.quick else (1000, 100_000)):
        for d in (2, 8, 32):
            samples, error = chain_case(T, d, args.rounds, rng)
            print(f"{'':>8} {T:>7} {d:>3} | {_ratio(samples, 'bffg', 'hand'):>9.3f} "
                  f"{_ratio(samples, 'copy', 'hand'):>5.2f} | "
                  f"{statistics.median(samples['hand']):>7.3f} | {error:.1e}")
    print(f"{'HMM':>8} {'T':>7} {'S':>3} |")
    for S in ((3, ) if args.quick else (3, 100)):
        samples, error = hmm_case(S, 10_000, args.rounds, rng)
        print(f"{'':>8} {10_000:>7} {S:>3} | {_ratio(samples, 'bffg', 'hand'):>9.3f} "
              f"{_ratio(samples, 'copy', 'hand'):>5.2f} | "
              f"{statistics.median(samples['hand']):>7.3f} | {error:.1e}")


if __name__ == "__main__":
    main()
