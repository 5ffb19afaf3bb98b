"""BFFG on the ready models (``categories.markov``) against independent oracles
(``tests/bffg_reference.py``, plain NumPy; ``reference/bffg.md`` §9).

* linear-Gaussian chains: log p(y) = the Kalman filter's, the exact guided marginals
  = the RTS smoother's means, covariances and lag-one covariances (≤ 1e-10), with
  constant and time-varying parameters, partial observations with offsets, missing
  observations (whole and partial), through ``smooth_chain`` and through the
  unrolled diagram; the Nile local-level model;
* hidden Markov models: the scaled forward–backward algorithm and path enumeration
  (≤ 1e-12), through ``smooth_hmm`` and the unrolled diagram;
* the nonlinear 1-D chain: importance sampling with guided samples against grid
  quadrature (within 4 standard errors), and exact auxiliaries (log-weights 0);
* edge cases (non-square A, rank-1 Q, Q = 0, singular H) and bad input.

Each check prints the error it measured (``pytest -s`` shows them).
"""

from __future__ import annotations

import numpy as np
import pytest

from bffg_reference import (
    grid_posterior_1d, hmm_enumerate, hmm_forward_backward, joint_gaussian_loglik, kalman_filter,
    kalman_rts)
from paralens.categories import CompositionError, Real, copy
from paralens.categories.kernels import (
    Chain, Emit, Gaussian, HiddenMarkov, Observe, Prior, Stochastic)
from paralens.categories.markov import (
    DIFFUSE_VARIANCE, hidden_markov, local_level, nonlinear_chain, state_space)
from paralens.interpreters import bffg
from paralens.lenses.datasets import nile


def close(what: str, actual, expected, tol: float, relative: bool = False) -> float:
    """Assert max |actual − expected| ≤ tol: relative to max |expected| when asked, else
    relative to max(1, max |expected|) (absolute for values of order one, relative for
    large ones such as the Nile's covariances, ~10³–10⁴)."""
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    error = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    scale = float(np.max(np.abs(expected))) if expected.size else 1.0
    error /= max(scale, 1e-300) if relative else max(scale, 1.0)
    print(f"[measured] {what}: {error:.2e}{' relative' if relative else ''}")
    assert error <= tol, f"{what}: error {error:.3g} > {tol:g}"
    return error


# -- random linear-Gaussian models -------------------------------------------------------------

def _spd(rng, n, floor=0.2):
    B = rng.normal(size=(n, n))
    return 0.5 * B @ B.T / n + floor * np.eye(n)


def random_model(seed, T, d, k, varying=False):
    """(m0, P0, A, beta, Q, L, b, R) and ys simulated from them; the transitions per step
    (T − 1 of them) when ``varying``, the observation parameters per step (T)."""
    rng = np.random.default_rng(seed)

    def per(n, make):
        return np.stack([make() for _ in range(n)]) if varying else make()

    def stable():
        U, _ = np.linalg.qr(rng.normal(size=(d, d)))
        return 0.95 * U @ np.diag(rng.uniform(0.5, 1.0, d))

    m0, P0 = rng.normal(size=d), _spd(rng, d, 0.5)
    A, beta, Q = per(T - 1, stable), per(T - 1, lambda: rng.normal(size=d)), per(
        T - 1, lambda: _spd(rng, d))
    L, b, R = per(T, lambda: rng.normal(size=(k, d))), per(T, lambda: rng.normal(size=k)), per(
        T, lambda: _spd(rng, k, 0.3))

    def at(X, t):
        return X[min(t, len(X) - 1)] if varying else X

    x = rng.multivariate_normal(m0, P0)
    ys = []
    for t in range(T):
        ys.append(rng.multivariate_normal(at(L, t) @ x + at(b, t), at(R, t)))
        if t + 1 < T:
            x = rng.multivariate_normal(at(A, t) @ x + at(beta, t), at(Q, t))
    return (m0, P0, A, beta, Q, L, b, R), np.array(ys)


def check_chain(tag, params, ys, missing=None, tol=1e-10):
    """smooth_chain and the unrolled diagram's backward filter against Kalman + RTS."""
    chain = state_space(*params, ys)
    oracle = kalman_rts(*params, ys, missing)
    evidence, means, covs, lag = bffg.smooth_chain(chain)
    close(f"{tag}: log p(y), smooth_chain vs Kalman", evidence, oracle.log_likelihood, tol, True)
    close(f"{tag}: backward_filter(Chain).log_evidence vs Kalman",
          bffg.backward_filter(chain).log_evidence, oracle.log_likelihood, tol, True)
    close(f"{tag}: smoothed means vs RTS", means, oracle.smoothed_means, tol)
    close(f"{tag}: smoothed covariances vs RTS", covs, oracle.smoothed_covs, tol)
    close(f"{tag}: lag-one covariances vs RTS", lag, oracle.lag_one_covs, tol)
    filtered = bffg.backward_filter(chain.unroll())
    close(f"{tag}: unrolled log_evidence vs Kalman", filtered.log_evidence,
          oracle.log_likelihood, tol, True)
    marginals = filtered.marginals()
    assert len(marginals) == len(ys)
    close(f"{tag}: unrolled marginal means vs RTS", [m for m, _ in marginals],
          oracle.smoothed_means, tol)
    close(f"{tag}: unrolled marginal covariances vs RTS", [P for _, P in marginals],
          oracle.smoothed_covs, tol)
    return chain, oracle


# -- linear-Gaussian chains ----------------------------------------------------------------------

def test_chain_constant_parameters_partial_observation_with_offsets():
    """§9.1–2: d = 2, a 1-D observation with an offset (H singular at every leaf), T = 6."""
    params, ys = random_model(1, T=6, d=2, k=1)
    check_chain("constant d=2 k=1", params, ys)
    brute = joint_gaussian_loglik(*params, ys)
    close("constant d=2 k=1: log p(y) vs the joint Gaussian",
          bffg.smooth_chain(state_space(*params, ys))[0], brute.log_likelihood, 1e-10, True)


def test_chain_time_varying_parameters():
    params, ys = random_model(2, T=7, d=2, k=1, varying=True)
    assert params[0 + 2].shape == (6, 2, 2)          # A given for the T − 1 transitions
    check_chain("time-varying d=2 k=1", params, ys)
    params, ys = random_model(3, T=7, d=3, k=2, varying=True)
    check_chain("time-varying d=3 k=2", params, ys)


def test_chain_missing_whole_and_partial_observations():
    """Against a Kalman filter that skips the update (whole) or uses the observed rows
    (partial), and against the joint Gaussian of what is observed."""
    params, ys = random_model(4, T=9, d=2, k=2)
    ys[[2, 5]] = np.nan                 # whole observations missing
    ys[3, 0] = ys[7, 1] = np.nan        # partially missing vectors
    missing = np.isnan(ys)
    chain, oracle = check_chain("missing d=2 k=2", params, ys, missing)
    brute = joint_gaussian_loglik(*params, ys, missing)
    evidence, means, covs, lag = bffg.smooth_chain(chain)
    close("missing: log p(y) vs the joint Gaussian", evidence, brute.log_likelihood, 1e-10, True)
    close("missing: means vs the joint Gaussian", means, brute.means, 1e-10)
    close("missing: covariances vs the joint Gaussian", covs, brute.covs, 1e-10)
    close("missing: lag-one vs the joint Gaussian", lag, brute.lag_one_covs, 1e-10)
    # a filter that skips the whole step 2 update is a different model from one that sees it
    assert abs(oracle.log_likelihood - kalman_filter(*params, np.nan_to_num(ys))[0]) > 1.0


def test_chain_last_and_first_observation_missing():
    params, ys = random_model(5, T=5, d=2, k=1, varying=True)
    ys[0] = ys[-1] = np.nan
    check_chain("first and last missing", params, ys, np.isnan(ys))


def test_nile_local_level_against_kalman_and_the_diffuse_likelihood():
    years, volumes = nile()
    assert len(years) == 100 and years[0] == 1871
    chain = local_level(volumes, 1469.1, 15099.0)
    assert chain.prior.m[0] == volumes[0] and chain.prior.P[0, 0] == DIFFUSE_VARIANCE
    params = (chain.prior.m, chain.prior.P, 1.0 * np.eye(1), np.zeros(1), 1469.1 * np.eye(1),
              np.eye(1), np.zeros(1), 15099.0 * np.eye(1))
    check_chain("Nile", params, volumes[:, None])
    gap = volumes.copy()
    gap[(years >= 1900) & (years <= 1920)] = np.nan
    check_chain("Nile, 1900–1920 missing", params, gap[:, None])
    # Durbin & Koopman's diffuse log-likelihood (−632.54): drop y₀'s own term
    evidence = bffg.smooth_chain(chain)[0]
    close("Nile: diffuse log-likelihood vs Durbin & Koopman's −632.54",
          evidence + 0.5 * np.log(2 * np.pi * (DIFFUSE_VARIANCE + 15099.0)), -632.54, 3e-5,
          relative=True)                  # 0.02 absolute: the published figure's rounding


# -- hidden Markov models ------------------------------------------------------------------------

def random_hmm(seed, S=3, symbols=4, T=8):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(S))
    K = rng.dirichlet(np.ones(S), size=S)
    E = rng.dirichlet(np.ones(symbols), size=S)
    ys = rng.integers(0, symbols, size=T)
    ys[3] = -1                              # one symbol missing
    return p, K, E, ys


def test_hmm_against_forward_backward_and_enumeration():
    p, K, E, ys = random_hmm(6)
    hmm = hidden_markov(p, K, E, [None if y < 0 else int(y) for y in ys])
    assert hmm.ys.tolist() == ys.tolist()
    evidence, marginals = bffg.smooth_hmm(hmm)
    ll, gamma = hmm_forward_backward(p, K, E, ys)
    close("HMM: log p(y) vs scaled forward", evidence, ll, 1e-12, True)
    close("HMM: marginals vs forward–backward γ", marginals, gamma, 1e-12)
    ll_paths, gamma_paths = hmm_enumerate(p, K, E, ys)
    close("HMM: log p(y) vs path enumeration", evidence, ll_paths, 1e-12, True)
    close("HMM: marginals vs path enumeration", marginals, gamma_paths, 1e-12)
    close("HMM: backward_filter(HiddenMarkov) vs scaled forward",
          bffg.backward_filter(hmm).log_evidence, ll, 1e-12, True)


def test_hmm_unrolled_diagram():
    p, K, E, ys = random_hmm(7)
    filtered = bffg.backward_filter(hidden_markov(p, K, E, ys).unroll())
    ll, gamma = hmm_forward_backward(p, K, E, ys)
    close("HMM unrolled: log_evidence vs scaled forward", filtered.log_evidence, ll, 1e-12, True)
    close("HMM unrolled: marginals vs forward–backward γ", filtered.marginals(), gamma, 1e-12)


def test_hmm_long_chain_does_not_underflow():
    p, K, E, ys = random_hmm(8, S=3, symbols=4, T=3000)
    evidence, marginals = bffg.smooth_hmm(hidden_markov(p, K, E, ys))
    ll, gamma = hmm_forward_backward(p, K, E, ys)
    close("HMM T=3000: log p(y) vs scaled forward", evidence, ll, 1e-12, True)
    close("HMM T=3000: marginals vs forward–backward γ", marginals, gamma, 1e-10)


# -- the nonlinear chain: guided samples ---------------------------------------------------------

def _simulate_1d(f, q, r, x0, T, seed):
    rng = np.random.default_rng(seed)
    x, ys = float(x0), []
    for _ in range(T):
        x = float(f(np.array([x]))[0]) + np.sqrt(q) * rng.normal()
        ys.append(x + np.sqrt(r) * rng.normal())
    return np.array(ys)


def _weights(model, n, seed):
    filtered = bffg.backward_filter(model)
    rng = np.random.default_rng(seed)
    draws = [filtered.sample(rng) for _ in range(n)]
    x1 = np.array([values[1][0] for values, _ in draws])       # x0, then x1
    log_w = np.array([w for _, w in draws])
    return filtered.log_evidence, log_w, x1


def test_nonlinear_chain_importance_sampling_against_grid_quadrature():
    """§9.6: mean of h̃₀(x₀) Π w = p(y | x₀) and the self-normalised E[x₁ | y], within
    4 standard errors of grid quadrature, from 2000 guided samples."""
    def f(x):
        return 0.6 * x + 1.2 * np.sin(x)

    q, r, x0 = 0.4, 0.3, 0.5
    ys = _simulate_1d(f, q, r, x0, T=4, seed=9)
    model = nonlinear_chain(f, q, r, ys, x0, slope=1.0, offset=0.3)
    grid = grid_posterior_1d(f, q, r, ys, x0=x0)
    log_evidence, log_w, x1 = _weights(model, 2000, seed=10)
    assert np.std(log_w) > 0.05                     # the auxiliary is not the truth
    estimates = np.exp(log_evidence + log_w)
    estimate, se = estimates.mean(), estimates.std(ddof=1) / np.sqrt(len(estimates))
    exact = np.exp(grid.log_likelihood)
    print(f"[measured] nonlinear chain: p̂(y|x0) = {estimate:.5g} ± {se:.2g}, grid "
          f"{exact:.5g}: {abs(estimate - exact) / se:.2f} standard errors; relative SE "
          f"{se / exact:.2g}")
    assert abs(estimate - exact) <= 4 * se and se < 0.1 * exact
    w = np.exp(log_w - log_w.max())
    mean = (w * x1).sum() / w.sum()
    se_mean = np.sqrt((w ** 2 * (x1 - mean) ** 2).sum()) / w.sum()
    print(f"[measured] nonlinear chain: E[x1|y] = {mean:.5g} ± {se_mean:.2g}, grid "
          f"{grid.means[1]:.5g}: {abs(mean - grid.means[1]) / se_mean:.2f} standard errors")
    assert abs(mean - grid.means[1]) <= 4 * se_mean


def test_nonlinear_chain_with_a_missing_observation():
    def f(x):
        return np.tanh(2 * x) + 0.5 * x

    q, r, x0 = 0.5, 0.2, -0.3
    ys = _simulate_1d(f, q, r, x0, T=3, seed=11)
    ys[1] = np.nan
    model = nonlinear_chain(f, q, r, ys, x0, slope=1.2, offset=0.0)
    grid = grid_posterior_1d(f, q, r, ys, x0=x0, grid=np.linspace(-12, 12, 3001))
    log_evidence, log_w, _ = _weights(model, 2000, seed=12)
    estimates = np.exp(log_evidence + log_w)
    estimate, se = estimates.mean(), estimates.std(ddof=1) / np.sqrt(len(estimates))
    exact = np.exp(grid.log_likelihood)
    print(f"[measured] nonlinear chain, y2 missing: {abs(estimate - exact) / se:.2f} standard "
          f"errors")
    assert abs(estimate - exact) <= 4 * se


def test_exact_auxiliary_gives_zero_log_weights():
    """§9.5: f affine and equal to its auxiliary: every log-weight is 0 and
    exp(log_evidence) is p(y | x₀) (a Kalman filter started at f(x₀) with variance q)."""
    slope, offset, q, r, x0 = 0.8, 0.1, 0.3, 0.2, 0.7

    def f(x):
        return slope * x + offset

    ys = _simulate_1d(f, q, r, x0, T=5, seed=13)
    model = nonlinear_chain(f, q, r, ys, x0, slope=slope, offset=offset)
    log_evidence, log_w, _ = _weights(model, 200, seed=14)
    close("exact auxiliary (nonlinear chain): |log-weights|", log_w, np.zeros_like(log_w), 1e-12)
    ll = kalman_filter([slope * x0 + offset], [[q]], [[slope]], [offset], [[q]], [[1.0]], [0.0],
                       [[r]], ys)[0]
    close("exact auxiliary: log p(y|x0) vs Kalman", log_evidence, ll, 1e-10, True)
    # and the linear-Gaussian chain unrolled: its kernels are their own auxiliaries
    params, ys = random_model(15, T=5, d=2, k=1)
    filtered = bffg.backward_filter(state_space(*params, ys).unroll())
    rng = np.random.default_rng(16)
    log_w = np.array([filtered.sample(rng)[1] for _ in range(200)])
    close("exact auxiliary (Gaussian chain, unrolled): |log-weights|", log_w,
          np.zeros_like(log_w), 1e-12)


# -- edge cases ----------------------------------------------------------------------------------

def test_non_square_A_and_rank_one_Q_in_an_unrolled_diagram():
    """Real(2) → Real(3) by x₁ ~ N(A x₀ + β, v vᵀ), observed at both ends."""
    rng = np.random.default_rng(17)
    m0, P0 = rng.normal(size=2), _spd(rng, 2, 0.5)
    A, beta, v = rng.normal(size=(3, 2)), rng.normal(size=3), rng.normal(size=3)
    Q = np.outer(v, v)
    L0, b0, R0, y0 = rng.normal(size=(1, 2)), [0.3], [[0.4]], [0.2]
    L1, b1, R1, y1 = rng.normal(size=(2, 3)), [0.0, -0.5], _spd(rng, 2), [1.0, -0.4]
    model = (Prior(m0, P0) >> copy(Real(2))
             >> Observe(L0, b0, R0, y0, name="y0") @ Gaussian(A, beta, Q, name="κ")
             >> Observe(L1, b1, R1, y1, name="y1"))
    args = (m0, P0, [A], [beta], [Q], [L0, L1], [b0, b1], [R0, R1], [y0, y1])
    filtered = bffg.backward_filter(model)
    close("non-square A, rank-1 Q: log_evidence vs Kalman", filtered.log_evidence,
          kalman_filter(*args)[0], 1e-10, True)
    brute = joint_gaussian_loglik(*args)
    close("non-square A, rank-1 Q: log_evidence vs the joint Gaussian", filtered.log_evidence,
          brute.log_likelihood, 1e-10, True)
    (m_0, P_0), (m_1, P_1) = filtered.marginals()
    close("non-square A, rank-1 Q: marginal means vs the joint Gaussian",
          np.concatenate([m_0, m_1]), brute.mean, 1e-10)
    close("non-square A, rank-1 Q: marginal covariance of x0 vs the joint Gaussian",
          P_0, brute.cov[:2, :2], 1e-10)
    close("non-square A, rank-1 Q: marginal covariance of x1 vs the joint Gaussian",
          P_1, brute.cov[2:, 2:], 1e-10)
    # guided samples: x₁ − A x₀ − β lies on the line of v, the weights are 0, and the
    # sample mean is the exact marginal mean (Monte Carlo, 4 standard errors)
    draws = [filtered.sample(rng) for _ in range(2000)]
    noise = np.array([x1 - A @ x0 - beta for (x0, x1), _ in draws])
    off_line = noise - np.outer(noise @ v / (v @ v), v)
    # (about √ε: the guided sampler draws from the eigen-decomposition of GQ, whose null
    # eigenvalues come out ~1e-16, not from a factor of Q; reported)
    close("rank-1 Q: guided noise off the line of v", off_line, np.zeros_like(off_line), 1e-6)
    close("rank-1 Q: |log-weights|", [w for _, w in draws], np.zeros(len(draws)), 1e-12)
    x1s = np.array([x1 for (_, x1), _ in draws])
    z = (x1s.mean(axis=0) - m_1) / (x1s.std(axis=0, ddof=1) / np.sqrt(len(x1s)))
    print(f"[measured] rank-1 Q: guided sample mean of x1 off by {np.abs(z).max():.2f} SE")
    assert np.all(np.abs(z) <= 4)


def test_Q_zero_pullback_is_exactly_composition_with_the_affine_map():
    rng = np.random.default_rng(18)
    A, beta = rng.normal(size=(3, 2)), rng.normal(size=3)
    G = rng.normal(size=(1, 3))                         # a singular H (rank 1)
    message = bffg.GaussianMessage(-0.7, rng.normal(size=3), G.T @ G)
    pulled = bffg.pullback(A, beta, np.zeros((3, 3)), message)
    xs = rng.normal(size=(20, 2))
    close("Q = 0: h⁻(x) vs h(Ax + β)", [pulled.log(x) for x in xs],
          [message.log(A @ x + beta) for x in xs], 1e-12, True)
    # a chain with deterministic dynamics
    params, ys = random_model(19, T=6, d=2, k=1)
    m0, P0, A, beta, Q, L, b, R = params
    params = (m0, P0, A, beta, np.zeros((2, 2)), L, b, R)
    check_chain("Q = 0 chain", params, ys)
    brute = joint_gaussian_loglik(*params, ys)
    evidence, means, covs, _ = bffg.smooth_chain(state_space(*params, ys))
    close("Q = 0 chain: means vs the joint Gaussian", means, brute.means, 1e-10)


def test_rank_one_Q_chain():
    params, ys = random_model(20, T=6, d=2, k=2)
    m0, P0, A, beta, Q, L, b, R = params
    v = np.array([1.0, -0.5])
    params = (m0, P0, A, beta, np.outer(v, v), L, b, R)
    check_chain("rank-1 Q chain", params, ys)


def test_singular_H_fails_nowhere():
    """Partial observations everywhere (H of rank 1 on R², or 0 where missing): the
    pullback, the guided kernel and the weights all work, and agree with the oracle."""
    params, ys = random_model(21, T=6, d=2, k=1, varying=True)
    ys[2] = np.nan
    filtered = bffg.backward_filter(state_space(*params, ys).unroll())
    H = filtered.residuals[1][1][0].H                  # the leaf y0's message on x0
    assert np.linalg.matrix_rank(H) == 1
    values, weight = filtered.sample(np.random.default_rng(22))
    assert all(np.all(np.isfinite(x)) for x in values) and abs(weight) < 1e-12
    brute = joint_gaussian_loglik(*params, ys)
    close("singular H: log_evidence vs the joint Gaussian", filtered.log_evidence,
          brute.log_likelihood, 1e-10, True)
    close("singular H: marginal means vs the joint Gaussian",
          [m for m, _ in filtered.marginals()], brute.means, 1e-10)
    mean, cov, G = bffg.guided_kernel(np.zeros(2), np.eye(2), bffg.GaussianMessage(0.0, np.zeros(2), H))
    assert np.all(np.isfinite(cov)) and np.all(np.isfinite(G))


# -- bad input: a clear error naming the box -----------------------------------------------------

I2 = np.eye(2)
K2 = [[0.9, 0.1], [0.2, 0.8]]


def _chain(**change):
    args = dict(prior=Prior(np.zeros(2), I2), A=I2, beta=None, Q=I2, L=[[1.0, 0.0]], b=None,
                R=[[1.0]], ys=np.zeros((4, 1)))
    args.update(change)
    return Chain(**args, name="Chain")


BAD = {
    "Gaussian Q not PSD": (lambda: Gaussian(I2, None, -I2, name="κ3"), ValueError,
                           r"κ3: Q is not positive semi-definite"),
    "Observe R not PD": (lambda: Observe([[1.0, 0.0]], None, [[0.0]], [0.0], name="y3"),
                         ValueError, r"y3: R is not positive definite"),
    "state_space Q not PSD": (
        lambda: state_space(np.zeros(2), I2, I2, None, -I2, [[1.0, 0.0]], None, [[1.0]],
                            np.zeros(3)), ValueError, r"StateSpace: Q at step 0 is not positive"),
    "state_space R not PD": (
        lambda: state_space(np.zeros(2), I2, I2, None, I2, [[1.0, 0.0]], None, [[-1.0]],
                            np.zeros(3)), ValueError, r"StateSpace: R at step 0 is not positive"),
    "Chain time-varying Q not PSD in the middle": (
        lambda: _chain(Q=np.stack([I2, I2, -I2, I2])), ValueError,
        r"Chain: Q at step 2 is not positive semi-definite"),
    "Chain time-varying R not PD in the middle": (
        lambda: _chain(R=np.array([[[1.0]], [[0.0]], [[1.0]], [[1.0]]])), ValueError,
        r"Chain: R at step 1 is not positive definite"),
    "Gaussian beta of the wrong shape": (
        lambda: Gaussian(np.ones((3, 2)), np.zeros(2), name="κ"), ValueError,
        r"κ: beta must be a vector of 3"),
    "Chain A of the wrong shape": (lambda: _chain(A=np.ones((2, 3))), ValueError,
                                   r"Chain: A must have shape \(2, 2\)"),
    "ill-typed composition": (
        lambda: Prior(np.zeros(2), I2) >> Gaussian(np.ones((3, 2)), None, np.eye(3))
        >> Observe(np.ones((1, 2)), None, 1.0, [0.0]), CompositionError,
        r"Gaussian: .*Real\(3\).*Observe: Real\(2\).*Real\(3\) ≠ Real\(2\)"),
    "Stochastic K not stochastic": (lambda: Stochastic([[0.5, 0.4], [0.5, 0.5]], name="K1"),
                                    ValueError, r"K1: K is not stochastic.*row sums \[0\.9, 1\.0\]"),
    "Stochastic K negative": (lambda: Stochastic([[1.5, -0.5], [0.5, 0.5]], name="K1"),
                              ValueError, r"K1: K is not stochastic"),
    "HiddenMarkov K not stochastic": (
        lambda: hidden_markov([0.5, 0.5], [[0.5, 0.4], [0.5, 0.5]], K2, [0, 1]), ValueError,
        r"HiddenMarkov: K is not stochastic"),
    "HiddenMarkov p not stochastic": (
        lambda: hidden_markov([0.5, 0.4], K2, K2, [0, 1]), ValueError,
        r"HiddenMarkov: p is not stochastic"),
    "HiddenMarkov symbol out of range": (lambda: hidden_markov([0.5, 0.5], K2, K2, [0, 2]),
                                         ValueError, r"HiddenMarkov: the symbols must be"),
    "Emit symbol out of range": (lambda: Emit(K2, 2, name="y0"), ValueError,
                                 r"y0: the symbol must be one of 0 … 1, got 2"),
    "Observe y of the wrong dimension": (
        lambda: Observe([[1.0, 0.0]], None, [[1.0]], [0.0, 1.0], name="y3"), ValueError,
        r"y3: the observation must be a vector of 1, got shape \(2,\)"),
    "state_space ys of the wrong dimension": (
        lambda: state_space(np.zeros(2), I2, I2, None, I2, [[1.0, 0.0]], None, [[1.0]],
                            np.zeros((3, 2))), ValueError,
        r"StateSpace: each observation has 2 entries, but L is \(1, 2\)"),
    "Chain ys of the wrong dimension": (
        lambda: _chain(ys=np.zeros((4, 2))), ValueError,
        r"Chain: each observation has 2 entries, but L is \(1, 2\)"),
    "Observe y infinite": (lambda: Observe([[1.0, 0.0]], None, [[1.0]], [np.inf], name="y3"),
                           ValueError, r"y3: the observation has entries that are infinite"),
    "Chain ys infinite": (lambda: _chain(ys=[[0.0], [np.inf], [0.0], [0.0]]), ValueError,
                          r"Chain: the observations have entries that are infinite \(at step 1;"),
    "Chain A not finite": (lambda: _chain(A=np.stack([I2, I2 * np.nan, I2, I2])), ValueError,
                           r"Chain: A has entries that are not finite \(at step 1\)"),
    "local_level negative variance": (lambda: local_level([1.0, 2.0], -1.0, 1.0), ValueError,
                                      r"LocalLevel: level_variance must be a number ≥ 0"),
    "nonlinear_chain q negative": (lambda: nonlinear_chain(np.sin, -0.1, 0.1, [0.1], 0.0),
                                   ValueError, r"f̃1: Q is not positive semi-definite"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gets_a_clear_error_naming_the_box(case):
    build, error, message = BAD[case]
    with pytest.raises(error, match=message):
        build()


def test_impossible_symbols_are_named():
    hmm = hidden_markov([1.0, 0.0], [[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]], [0, 1])
    with pytest.raises(ValueError, match=r"HiddenMarkov: the symbols are impossible"):
        bffg.smooth_hmm(hmm)


def test_marginals_of_a_chain_box_are_refused_clearly():
    filtered = bffg.backward_filter(_chain())
    with pytest.raises(NotImplementedError, match=r"Chain.*smooth_chain"):
        filtered.marginals()


def test_an_empty_chain_has_evidence_zero():
    chain = _chain(ys=np.zeros((0, 1)))
    evidence, means, covs, lag = bffg.smooth_chain(chain)
    assert evidence == 0.0 and means.shape == (0, 2)


# -- the demo ------------------------------------------------------------------------------------

def test_the_smoothing_demo_prints_oracle_values_and_draws(tmp_path, capsys):
    from paralens.interpreters.cli import demo_smoothing, main
    result = demo_smoothing(out=str(tmp_path), missing=(1900, 1920), draw=True)
    years, volumes = nile()
    gap = np.where((years >= 1900) & (years <= 1920), np.nan, volumes)
    # the variances it fitted by gradient are Durbin & Koopman's maximum-likelihood ones
    assert abs(result["noise_variance"] / 15099.0 - 1) < 1e-3
    assert abs(result["level_variance"] / 1469.1 - 1) < 1e-3
    assert abs(-result["fit_history"][-1] - (-632.54)) < 0.01
    args = ([volumes[0]], [[DIFFUSE_VARIANCE]], [[1.0]], [0.0], [[result["level_variance"]]],
            [[1.0]], [0.0], [[result["noise_variance"]]])
    oracle = kalman_rts(*args, gap[:, None])
    close("demo: log p(y), 1900–1920 missing, vs Kalman", result["log_evidence"],
          oracle.log_likelihood, 1e-10, True)
    close("demo: log p(y), every year, vs Kalman", result["log_evidence_all_years"],
          kalman_filter(*args, volumes[:, None])[0], 1e-10, True)
    close("demo: smoothed level vs RTS", result["means"], oracle.smoothed_means[:, 0], 1e-10)
    close("demo: band (sd) vs RTS", result["sd"], np.sqrt(oracle.smoothed_covs[:, 0, 0]), 1e-10)
    assert result["missing"].sum() == 21
    printed = capsys.readouterr().out
    assert f"{result['log_evidence']:.3f}" in printed and "1910:" in printed
    for name in ("nile-smoothing.png", "nile-model.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    assert main(["demo", "smoothing", "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "nile-smoothing.png").exists()


# -- regressions from the adversarial review ---------------------------------------------------

def test_a_composed_optic_draws_independent_noise_for_each_part():
    from paralens.categories.kernels import Gaussian, Prior
    from paralens.interpreters.bffg import optic
    p, g = Prior([0.0], [[1.0]]), Gaussian([[1.0]], Q=[[1.0]])
    composed = optic(p) >> optic(g)
    residual, _ = composed.backward()
    draws = [composed.forward(residual, None, rng=seed).x[0] for seed in range(3000)]
    assert 1.8 < np.var(draws) < 2.2            # x₁ = x₀ + ε: variance 2, not (2z)² = 4


def test_hmm_marginals_with_structural_zeros():
    K = [[0.0, 1, 0], [0, 0, 1], [1, 0, 0]]
    E = [[1.0, 0], [0, 1], [0.5, 0.5]]
    model = hidden_markov([1.0, 0, 0], K, E, [0, 1, 0, 0])
    _, marginals = bffg.smooth_hmm(model)
    assert np.array_equal(marginals, np.eye(3)[[0, 1, 2, 0]])
    assert np.allclose(bffg.backward_filter(model.unroll()).marginals(), marginals)


def test_observations_impossible_at_the_root_are_refused():
    from paralens.categories.kernels import Categorical, Emit
    E = [[0.0, 1], [1, 0], [0.5, 0.5]]
    with pytest.raises(ValueError, match="impossible"):
        bffg.backward_filter(Categorical([0.0, 1, 0]) >> Emit(E, 1))
    with pytest.raises(ValueError, match="impossible"):
        bffg.smooth_hmm(hidden_markov([0, 1, 0], np.eye(3), E, [1]))


def test_infinite_data_and_bad_transitions_are_refused():
    from paralens.categories.kernels import Observe
    with pytest.raises(ValueError, match="infinite"):
        Observe(np.eye(1), None, np.eye(1), [0.0]).at([np.inf])
    model = nonlinear_chain(lambda x: np.array([x[0], x[0]]), 0.1, 0.1, [0.1, 0.2], 0.0)
    with pytest.raises(ValueError, match=r"Transition f1: f returned shape \(2,\), expected \(1,\)"):
        bffg.backward_filter(model).sample(0)


def test_per_edge_log_weights_sum_to_the_total_and_the_sample_is_the_same():
    model = nonlinear_chain(np.sin, 0.1, 0.2, [0.3, np.nan, -0.1, 0.4], x0=0.5)
    filtered = bffg.backward_filter(model)
    values, total, edges = filtered.sample(11, edges=True)
    again, same_total = filtered.sample(11)
    assert abs(sum(w for _, w in edges) - total) < 1e-14 and same_total == total
    assert all(np.array_equal(a, b) for a, b in zip(values, again))
    assert [box.name for box, w in edges if w != 0.0] and all(
        w == 0.0 for box, w in edges if box.name.startswith(("x", "y")))
