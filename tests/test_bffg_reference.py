"""The smoothing oracles of ``bffg_reference`` checked against each other, in
float64 (``reference/bffg.md`` §9).

* Kalman filter / RTS smoother against one brute-force joint Gaussian
  (log-likelihood; filtered, predicted, smoothed and lag-one moments), on
  models with a non-square L, offsets, time-varying parameters, rank-1 Q,
  Q = 0, a fixed start (P0 = 0), a state dimension that changes along the chain
  (non-square A), and missing or partially missing observations;
* HMM scaled forward–backward against path enumeration;
* the tree MRCA closed form against a joint Gaussian built edge by edge;
* grid quadrature against the Kalman filter on a linear 1-D chain.

Tolerances: ``EXACT`` between two exact computations of the same quantity
(rounding only; the observed differences are ~1e-14), ``GRID`` for the
trapezoidal quadrature, whose error on these smooth integrands is far below
rounding (observed ~1e-13; the brief asks for 1e-6).
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

from bffg_reference import (
    complete_binary_tree, gaussian_logpdf, grid_posterior_1d, hmm_enumerate,
    hmm_forward_backward, joint_gaussian_loglik, kalman_filter, kalman_rts,
    rts_smoother, tree_joint_gaussian, tree_mrca_loglik, tree_mrca_matrix)

EXACT = 1e-10
HMM_EXACT = 1e-12
GRID = 1e-9


def test_the_oracles_are_plain_numpy():
    """bffg_reference imports only NumPy and the standard library: never paralens."""
    tree = ast.parse((Path(__file__).parent / "bffg_reference.py").read_text())
    names = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    names |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module}
    assert names <= {"__future__", "itertools", "math", "typing", "numpy"}, names


def spd(rng, n, scale=1.0):
    M = rng.normal(size=(n, n))
    return scale * (M @ M.T / n + 0.3 * np.eye(n))


def close(a, b, tol=EXACT):
    """Max absolute difference over per-step arrays (stacked or lists)."""
    if isinstance(a, list) or isinstance(b, list):
        assert len(a) == len(b)
        return all(close(x, y, tol) for x, y in zip(a, b))
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    err = np.max(np.abs(a - b), initial=0.0)
    assert err <= tol, err
    return True


# -- the models --------------------------------------------------------------------

def model_partial_obs(seed=0, T=6):
    """§9.1: d = 2, a 1-D observation of both coordinates (L is 1×2), offsets."""
    rng = np.random.default_rng(seed)
    return dict(m0=np.array([0.5, -1.0]), P0=np.array([[1.0, 0.2], [0.2, 0.5]]),
                A=np.array([[0.9, 0.2], [-0.1, 0.8]]), beta=np.array([0.1, -0.2]),
                Q=np.array([[0.3, 0.05], [0.05, 0.2]]),
                L=np.array([[1.0, 0.5]]), b=np.array([0.3]), R=np.array([[0.4]]),
                ys=rng.normal(size=(T, 1)))


def model_time_varying(seed=1, T=5, d=3, k=2):
    """Every parameter time-varying (stacked, leading axis T - 1 or T)."""
    rng = np.random.default_rng(seed)
    return dict(m0=rng.normal(size=d), P0=spd(rng, d),
                A=rng.normal(size=(T - 1, d, d)) * 0.6, beta=rng.normal(size=(T - 1, d)),
                Q=np.stack([spd(rng, d, 0.3) for _ in range(T - 1)]),
                L=rng.normal(size=(T, k, d)), b=rng.normal(size=(T, k)),
                R=np.stack([spd(rng, k, 0.5) for _ in range(T)]),
                ys=rng.normal(size=(T, k)))


def model_rank1_Q(seed=2, T=6, d=3):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(d, 1))
    return dict(m0=rng.normal(size=d), P0=spd(rng, d),
                A=np.eye(d) + 0.2 * rng.normal(size=(d, d)), beta=rng.normal(size=d) * 0.1,
                Q=u @ u.T * 0.5, L=rng.normal(size=(1, d)), b=np.array([0.2]),
                R=np.array([[0.3]]), ys=rng.normal(size=(T, 1)))


def model_zero_Q(seed=3, T=6, d=2):
    """Deterministic dynamics: a rotation-like A (invertible), Q = 0."""
    rng = np.random.default_rng(seed)
    c, s = math.cos(0.4), math.sin(0.4)
    return dict(m0=rng.normal(size=d), P0=spd(rng, d),
                A=0.95 * np.array([[c, -s], [s, c]]), beta=np.array([0.1, 0.0]),
                Q=np.zeros((d, d)), L=np.array([[1.0, 0.0]]), b=np.array([-0.1]),
                R=np.array([[0.2]]), ys=rng.normal(size=(T, 1)))


def model_fixed_start(seed=4, T=5):
    """x_0 known (P0 = 0): log p(y | x_0)."""
    m = model_partial_obs(seed, T)
    m["P0"] = np.zeros((2, 2))
    return m


def model_varying_dims(seed=5):
    """The state dimension changes along the chain: d = 2, 3, 1, 2 (non-square
    A_t), observation dimensions 1, 2, 0 (nothing observed), 1; per-step lists."""
    rng = np.random.default_rng(seed)
    dims, ks = [2, 3, 1, 2], [1, 2, 0, 1]
    T = len(dims)
    return dict(m0=rng.normal(size=2), P0=spd(rng, 2),
                A=[rng.normal(size=(dims[t + 1], dims[t])) for t in range(T - 1)],
                beta=[rng.normal(size=dims[t + 1]) for t in range(T - 1)],
                Q=[spd(rng, dims[t + 1], 0.3) for t in range(T - 1)],
                L=[rng.normal(size=(ks[t], dims[t])) for t in range(T)],
                b=[rng.normal(size=ks[t]) for t in range(T)],
                R=[spd(rng, ks[t], 0.5) for t in range(T)],
                ys=[rng.normal(size=ks[t]) for t in range(T)])


MODELS = {f.__name__[6:]: f for f in (model_partial_obs, model_time_varying, model_rank1_Q,
                                      model_zero_Q, model_fixed_start, model_varying_dims)}


# -- Kalman filter and RTS smoother against the joint Gaussian ----------------------

@pytest.mark.parametrize("name", MODELS)
def test_kalman_loglik_is_the_joint_gaussian(name):
    m = MODELS[name]()
    ll = kalman_filter(**m)[0]
    bf = joint_gaussian_loglik(**m)
    assert abs(ll - bf.log_likelihood) <= EXACT, (ll, bf.log_likelihood)


@pytest.mark.parametrize("name", MODELS)
def test_rts_moments_are_the_joint_gaussian_conditionals(name):
    m = MODELS[name]()
    kf = kalman_rts(**m)
    bf = joint_gaussian_loglik(**m)
    close(kf.smoothed_means, bf.means)
    close(kf.smoothed_covs, bf.covs)
    close(kf.lag_one_covs, bf.lag_one_covs)


def test_lag_one_convention():
    """lag_one_covs[t] = Cov(x_t, x_{t+1} | y) (rows x_t), = J_t P^s_{t+1},
    J_t = P^f_t Aᵀ (P^p_{t+1})⁻¹; with a non-symmetric A it is not its transpose."""
    m = model_partial_obs()
    kf = kalman_rts(**m)
    for t in range(len(m["ys"]) - 1):
        J = kf.filtered_covs[t] @ m["A"].T @ np.linalg.inv(kf.predicted_covs[t + 1])
        close(kf.lag_one_covs[t], J @ kf.smoothed_covs[t + 1])
    bf = joint_gaussian_loglik(**m)
    d = 2
    close(bf.lag_one_covs[0], bf.cov[:d, d:2 * d])
    assert np.max(np.abs(bf.lag_one_covs[0] - bf.lag_one_covs[0].T)) > 1e-3


@pytest.mark.parametrize("name", ["partial_obs", "time_varying", "rank1_Q", "zero_Q"])
def test_filtered_and_predicted_are_conditionals_on_the_past(name):
    """filtered[t] = law of x_t | y_0..y_t and predicted[t] = x_t | y_0..y_{t-1}:
    the brute force with the later observations missing."""
    m = MODELS[name]()
    _, mf, Pf, mp, Pp = kalman_filter(**m)
    T = len(m["ys"])
    for t in range(T):
        for later, (mean, cov) in ((t + 1, (mf, Pf)), (t, (mp, Pp))):
            missing = np.arange(T) >= later
            bf = joint_gaussian_loglik(**m, missing=missing)
            close(mean[t], bf.means[t])
            close(cov[t], bf.covs[t])


def test_time_varying_transitions_accept_a_leading_axis_of_length_T():
    m = model_time_varying()
    T = len(m["ys"])
    rng = np.random.default_rng(9)
    longer = dict(m, A=np.concatenate([m["A"], rng.normal(size=(1, 3, 3))]),
                  beta=np.concatenate([m["beta"], rng.normal(size=(1, 3))]),
                  Q=np.concatenate([m["Q"], np.eye(3)[None]]))
    a, b = kalman_rts(**m), kalman_rts(**longer)
    assert a.log_likelihood == b.log_likelihood
    close(a.smoothed_covs, b.smoothed_covs, 0.0)
    assert np.shape(b.smoothed_means) == (T, 3)


def test_constant_and_stacked_parameters_agree():
    m = model_partial_obs()
    T = len(m["ys"])
    stacked = dict(m, A=np.repeat(m["A"][None], T - 1, 0), beta=np.repeat(m["beta"][None], T - 1, 0),
                   Q=np.repeat(m["Q"][None], T - 1, 0), L=np.repeat(m["L"][None], T, 0),
                   b=np.repeat(m["b"][None], T, 0), R=np.repeat(m["R"][None], T, 0))
    a, b = kalman_rts(**m), kalman_rts(**stacked)
    assert a.log_likelihood == b.log_likelihood
    close(a.lag_one_covs, b.lag_one_covs, 0.0)


def test_a_single_time_step_is_one_gaussian_update():
    m = model_partial_obs(T=1)
    kf = kalman_rts(**m)
    S = m["L"] @ m["P0"] @ m["L"].T + m["R"]
    expected = gaussian_logpdf(m["ys"][0], m["L"] @ m["m0"] + m["b"], S)
    assert abs(kf.log_likelihood - expected) <= EXACT
    close(kf.smoothed_means, kf.filtered_means, 0.0)
    assert np.shape(kf.lag_one_covs) == (0,)


# -- missing and partially missing observations -------------------------------------

def removed(m, keep):
    """The model with only the rows ``keep[t]`` of each observation, as ragged
    per-step lists (an observation with no rows is k_t = 0): an independent
    way of writing missing data, with no mask."""
    T = len(m["ys"])
    per = {k: [np.asarray(m[k])] * T if np.ndim(m[k]) == base else list(m[k])
           for k, base in (("L", 2), ("b", 1), ("R", 2), ("ys", 2))}
    per["ys"] = [np.atleast_1d(y) for y in np.asarray(m["ys"])]
    out = dict(m)
    out["L"] = [per["L"][t][keep[t]] for t in range(T)]
    out["b"] = [per["b"][t][keep[t]] for t in range(T)]
    out["R"] = [per["R"][t][np.ix_(keep[t], keep[t])] for t in range(T)]
    out["ys"] = [per["ys"][t][keep[t]] for t in range(T)]
    return out


def test_wholly_missing_observations():
    m = model_time_varying(T=6)
    T, k = np.shape(m["ys"])
    missing = np.array([False, True, False, False, True, False])
    keep = [np.full(k, not mis) for mis in missing]
    kf = kalman_rts(**m, missing=missing)
    ref = removed(m, keep)
    bf = joint_gaussian_loglik(**ref)
    assert abs(kf.log_likelihood - bf.log_likelihood) <= EXACT
    close(kf.smoothed_means, bf.means)
    close(kf.smoothed_covs, bf.covs)
    close(kf.lag_one_covs, bf.lag_one_covs)
    # the ragged filter, the masked brute force and NaN observations agree too
    kr = kalman_rts(**ref)
    assert abs(kr.log_likelihood - kf.log_likelihood) <= EXACT
    close(kr.smoothed_covs, kf.smoothed_covs)
    bm = joint_gaussian_loglik(**m, missing=missing)
    assert abs(bm.log_likelihood - bf.log_likelihood) <= EXACT
    ys = np.array(m["ys"], float)
    ys[missing] = np.nan
    kn = kalman_rts(**dict(m, ys=ys))
    assert kn.log_likelihood == kf.log_likelihood
    close(kn.smoothed_means, kf.smoothed_means, 0.0)
    # a missing step is no update
    close(kf.filtered_means[1], kf.predicted_means[1], 0.0)


def test_partially_missing_observations():
    rng = np.random.default_rng(11)
    m = model_time_varying(T=6, d=3, k=3)
    T, k = np.shape(m["ys"])
    missing = rng.random((T, k)) < 0.4
    missing[2] = True                        # one wholly missing step
    missing[3] = False                       # one fully observed step
    assert missing.any(axis=1).sum() >= 3 and not missing.all(axis=1)[[0, 1, 4, 5]].any()
    kf = kalman_rts(**m, missing=missing)
    bf = joint_gaussian_loglik(**removed(m, list(~missing)))
    assert abs(kf.log_likelihood - bf.log_likelihood) <= EXACT
    close(kf.smoothed_means, bf.means)
    close(kf.smoothed_covs, bf.covs)
    close(kf.lag_one_covs, bf.lag_one_covs)
    ys = np.array(m["ys"], float)
    ys[missing] = np.nan
    kn = kalman_rts(**dict(m, ys=ys))
    assert kn.log_likelihood == kf.log_likelihood


def test_nothing_observed_gives_the_prior():
    m = model_rank1_Q()
    T = len(m["ys"])
    kf = kalman_rts(**m, missing=np.ones(T, bool))
    assert kf.log_likelihood == 0.0
    bf = joint_gaussian_loglik(**m, missing=np.ones(T, bool))
    assert bf.log_likelihood == 0.0
    close(kf.smoothed_means, kf.predicted_means)
    close(kf.smoothed_covs, kf.predicted_covs)
    d = len(m["m0"])
    close(bf.cov, bf.prior_cov)
    close(kf.smoothed_covs[-1], bf.prior_cov[-d:, -d:])


def test_fixed_start_is_the_tail_of_the_joint():
    """log p(y_{t:} | x_t = x) (the BFFG message semantics, §9.3) by the brute
    force on the tail with m0 = x, P0 = 0, against the chain rule
    log p(y) = log p(y_{<t}) + log ∫ p(x_t | y_{<t}) p(y_{t:} | x_t) dx_t,
    the integral by the Gaussian identity for a quadratic log-message."""
    m = model_partial_obs(T=6)
    t = 3
    tail = dict(m, ys=m["ys"][t:])
    # h(x) = exp(c + Fᵀx - ½xᵀHx), recovered from the brute force at points
    d = 2
    f = lambda x: joint_gaussian_loglik(**dict(tail, m0=x, P0=np.zeros((d, d)))).log_likelihood
    c = f(np.zeros(d))
    e = np.eye(d)
    H = np.empty((d, d))
    for i in range(d):
        for j in range(d):
            H[i, j] = -(f(e[i] + e[j]) - f(e[i]) - f(e[j]) + c)
    F = np.array([f(e[i]) - c + 0.5 * H[i, i] for i in range(d)])
    x = np.array([0.3, -0.7])
    assert abs(f(x) - (c + F @ x - 0.5 * x @ H @ x)) <= 1e-9
    _, _, _, mp, Pp = kalman_filter(**m)
    head = joint_gaussian_loglik(**dict(m, ys=m["ys"][:t])).log_likelihood
    # log ∫ N(x; μ, P) h(x) dx
    mu, P = mp[t], Pp[t]
    M = np.eye(d) + H @ P
    Fh = np.linalg.solve(M, F - H @ mu)
    integral = (c + F @ mu - 0.5 * mu @ H @ mu - 0.5 * np.linalg.slogdet(M)[1]
                + 0.5 * (F - H @ mu) @ P @ Fh)
    total = kalman_filter(**m)[0]
    assert abs(head + integral - total) <= 1e-9


# -- HMM ---------------------------------------------------------------------------

def hmm(seed=0, S=3, V=4, T=8, sparse=False):
    rng = np.random.default_rng(seed)
    pi0 = rng.dirichlet(np.ones(S))
    K = rng.dirichlet(np.ones(S), size=S)
    if sparse:                               # some impossible transitions
        K[0, 1] = K[2, 0] = 0.0
        K /= K.sum(1, keepdims=True)
    E = rng.dirichlet(np.ones(V), size=S)
    return pi0, K, E, rng.integers(0, V, size=T)


@pytest.mark.parametrize("sparse", [False, True])
def test_hmm_forward_backward_is_enumeration(sparse):
    pi0, K, E, ys = hmm(sparse=sparse)
    ll, gamma = hmm_forward_backward(pi0, K, E, ys)
    ll_e, gamma_e = hmm_enumerate(pi0, K, E, ys)
    assert abs(ll - ll_e) <= HMM_EXACT, (ll, ll_e)
    close(gamma, gamma_e, HMM_EXACT)
    close(gamma.sum(1), np.ones(len(ys)), HMM_EXACT)


def test_hmm_unobserved_symbols():
    pi0, K, E, ys = hmm(seed=1)
    ys = ys.copy()
    ys[[0, 3, 4]] = -1
    ll, gamma = hmm_forward_backward(pi0, K, E, ys)
    ll_e, gamma_e = hmm_enumerate(pi0, K, E, ys)
    assert abs(ll - ll_e) <= HMM_EXACT
    close(gamma, gamma_e, HMM_EXACT)
    # nothing observed: log p = 0 and the prior marginals pi0 K^t
    ll0, g0 = hmm_forward_backward(pi0, K, E, -np.ones(5, int))
    assert abs(ll0) <= HMM_EXACT
    close(g0[4], pi0 @ np.linalg.matrix_power(K, 4), HMM_EXACT)


def test_hmm_messages():
    """α̂_t = P(x_t | y_0..y_t), and E[:, y_t] ⊙ β̂_t ∝ p(y_{t:} | x_t) (the BFFG
    message h_t of §9.7), both by enumeration."""
    pi0, K, E, ys = hmm(seed=2, T=7)
    T, S = len(ys), len(pi0)
    _, _, alpha, beta = hmm_forward_backward(pi0, K, E, ys, return_messages=True)
    for t in range(T):
        past = ys.copy()
        past[t + 1:] = -1
        close(alpha[t], hmm_enumerate(pi0, K, E, past)[1][t], HMM_EXACT)
        h = np.array([math.exp(hmm_enumerate(np.eye(S)[x], K, E, ys[t:])[0]) for x in range(S)])
        u = E[:, ys[t]] * beta[t]
        close(u / u.sum(), h / h.sum(), HMM_EXACT)


def test_hmm_long_chain_against_log_space_forward():
    """T = 2000: the unscaled probabilities underflow; the scaled recursion
    equals a log-space forward (log-sum-exp), to rounding accumulated over T."""
    pi0, K, E, ys = hmm(seed=3, S=4, V=5, T=2000)
    ll, gamma = hmm_forward_backward(pi0, K, E, ys)
    la = np.log(pi0) + np.log(E[:, ys[0]])
    for y in ys[1:]:
        z = la[:, None] + np.log(K)
        top = z.max(0)
        la = top + np.log(np.exp(z - top).sum(0)) + np.log(E[:, y])
    top = la.max()
    ll_log = top + math.log(np.exp(la - top).sum())
    assert ll < -1000
    assert abs(ll - ll_log) <= 1e-12 * abs(ll), (ll, ll_log)
    assert np.all(np.isfinite(gamma))


# -- trees -------------------------------------------------------------------------

def mrca_depth_by_walking(parents, i, j):
    def path(v):
        out = []
        while v >= 0:
            out.append(v)
            v = parents[v]
        return out
    anc = set(path(i))
    v = next(u for u in path(j) if u in anc)
    return len(path(v)) - 1


def test_complete_binary_tree_numbering_and_mrca():
    depth = 3
    parents, leaves, K = complete_binary_tree(depth)
    assert len(parents) == 15 and parents[0] == -1
    assert list(leaves) == list(range(7, 15))
    for i in range(1, 15):
        assert i in (2 * parents[i] + 1, 2 * parents[i] + 2)
    expected = np.array([[mrca_depth_by_walking(parents, i, j) for j in leaves] for i in leaves])
    close(K, expected, 0.0)
    close(np.diag(K), np.full(8, depth), 0.0)
    close(tree_mrca_matrix(parents, leaves), K, 0.0)
    # depth 0: the root alone is the leaf
    p0, l0, K0 = complete_binary_tree(0)
    assert list(p0) == [-1] and list(l0) == [0] and K0.tolist() == [[0.0]]


@pytest.mark.parametrize("dim", [1, 3])
def test_tree_mrca_closed_form_is_the_edge_by_edge_joint(dim):
    rng = np.random.default_rng(20 + dim)
    depth, sigma2, tau2 = 3, 0.7, 0.2
    parents, leaves, K = complete_binary_tree(depth)
    ys = rng.normal(size=(len(leaves), dim)) * 1.5
    if dim == 1:
        ys = ys[:, 0]
    closed = tree_mrca_loglik(ys, K, sigma2, tau2)
    assert tree_mrca_loglik(ys, depth, sigma2, tau2) == closed
    joint = tree_joint_gaussian(parents, leaves, ys, sigma2, tau2)
    assert abs(closed - joint.log_likelihood) <= EXACT, (closed, joint.log_likelihood)
    close(joint.prior_cov[np.ix_(leaves, leaves)], sigma2 * K)
    # the root is fixed at 0
    assert np.all(joint.means[0] == 0) and abs(joint.cov[0, 0]) <= EXACT
    if dim > 1:                              # independent coordinates add
        per = sum(tree_mrca_loglik(ys[:, j], K, sigma2, tau2) for j in range(dim))
        assert abs(closed - per) <= EXACT
        for j in range(dim):
            close(joint.means[:, j], tree_joint_gaussian(parents, leaves, ys[:, j], sigma2, tau2).means)


def test_tree_with_a_three_way_copy_node_and_edge_lengths():
    """§9.4: a root with a three-way branch point (one child a further
    branch), edge lengths, leaves at different depths; the MRCA form against
    the edge-by-edge joint and, for the one-leaf path, N(0, σ² len + τ²)."""
    parents = np.array([-1, 0, 1, 1, 1, 4, 4])     # node 1 the copy node; 2, 3, 5, 6 leaves
    leaves = np.array([2, 3, 5, 6])
    lengths = np.array([0.0, 0.5, 1.0, 2.0, 0.3, 0.7, 1.1])
    sigma2, tau2 = 0.9, 0.1
    K = tree_mrca_matrix(parents, leaves, lengths)
    assert K[0, 1] == 0.5 and K[2, 3] == 0.8 and K[3, 3] == 0.5 + 0.3 + 1.1
    ys = np.array([0.3, -0.4, 1.0, 0.2])
    joint = tree_joint_gaussian(parents, leaves, ys, sigma2, tau2, lengths)
    assert abs(tree_mrca_loglik(ys, K, sigma2, tau2) - joint.log_likelihood) <= EXACT
    path = tree_joint_gaussian([-1, 0, 1], [2], [0.4], sigma2, tau2, [0.0, 1.0, 2.0])
    expected = -0.5 * 0.4 ** 2 / (3 * sigma2 + tau2) - 0.5 * math.log(2 * math.pi * (3 * sigma2 + tau2))
    assert abs(path.log_likelihood - expected) <= EXACT


def test_tree_root_chain_is_a_kalman_filter():
    """A path tree root → 1 → 2 (leaf 2 observed) is a 1-D chain with a fixed
    start observed at its end: the posterior of the middle node equals RTS."""
    sigma2, tau2, y = 0.6, 0.25, 1.3
    joint = tree_joint_gaussian([-1, 0, 1], [2], [y], sigma2, tau2)
    kf = kalman_rts([0.0], [[sigma2]], [[1.0]], [0.0], [[sigma2]], [[1.0]], [0.0], [[tau2]],
                    [[np.nan], [y]])
    assert abs(kf.log_likelihood - joint.log_likelihood) <= EXACT
    close(kf.smoothed_means[:, 0], joint.means[1:])
    close(kf.smoothed_covs[:, 0, 0], np.diag(joint.cov)[1:])


# -- grid quadrature ----------------------------------------------------------------

A_LIN, Q1, R1 = 0.9, 0.5, 0.3
YS = np.array([0.5, 1.2, -0.3, 0.8, 0.1])


def kalman_1d(m1, P1, ys):
    """The chain x_1 ~ N(m1, P1), x_{t+1} = a x_t + N(0, q), y_t = x_t + N(0, r)."""
    return kalman_rts([m1], [[P1]], [[A_LIN]], [0.0], [[Q1]], [[1.0]], [0.0], [[R1]], ys[:, None])


@pytest.mark.parametrize("T", [1, 3, 5])
def test_grid_fixed_start_is_kalman_on_a_linear_chain(T):
    x0 = 0.7
    g = grid_posterior_1d(lambda x: A_LIN * x, Q1, R1, YS[:T], x0=x0)
    kf = kalman_1d(A_LIN * x0, Q1, YS[:T])
    assert abs(g.log_likelihood - kf.log_likelihood) <= GRID, g.log_likelihood - kf.log_likelihood
    assert g.means[0] == x0
    close(g.means[1:], kf.smoothed_means[:, 0], GRID)
    close(g.variances[1:], kf.smoothed_covs[:, 0, 0], GRID)


def test_grid_prior_start_and_missing_observation():
    m0, v0 = 0.3, 0.8
    ys = YS.copy()
    ys[2] = np.nan
    g = grid_posterior_1d(lambda x: A_LIN * x, Q1, R1, ys, prior=(m0, v0))
    kf = kalman_1d(A_LIN * m0, A_LIN ** 2 * v0 + Q1, ys)
    assert abs(g.log_likelihood - kf.log_likelihood) <= GRID
    close(g.means[1:], kf.smoothed_means[:, 0], GRID)
    # x_0 | y: the RTS step back to the (unobserved) x_0
    J = v0 * A_LIN / (A_LIN ** 2 * v0 + Q1)
    m0s = m0 + J * (kf.smoothed_means[0, 0] - A_LIN * m0)
    assert abs(g.means[0] - m0s) <= GRID


def test_grid_nonlinear_one_step_closed_form():
    """T = 1 from a fixed x_0: f enters only through f(x_0), so
    p(y_1 | x_0) = N(y_1; f(x_0), q + r) and E[x_1 | y] is one Gaussian update."""
    f = lambda x: x + 0.8 * np.sin(2 * x)
    x0, y = 0.4, 1.7
    g = grid_posterior_1d(f, Q1, R1, [y], x0=x0)
    fx = float(f(np.array(x0)))
    assert abs(g.log_likelihood - gaussian_logpdf([y], [fx], [[Q1 + R1]])) <= GRID
    assert abs(g.means[1] - (fx + Q1 / (Q1 + R1) * (y - fx))) <= GRID


def test_grid_nonlinear_chain_converges():
    """T = 5, f(x) = x + 0.8 sin 2x (|f'| ≤ 2.6): the default grid (step
    ≈ 0.037) and one three times finer on a wider range agree, so the default
    is accurate far beyond 1e-6."""
    f = lambda x: x + 0.8 * np.sin(2 * x)
    coarse = grid_posterior_1d(f, Q1, R1, YS, x0=0.4)
    lo, hi = coarse.grid[0] - 2, coarse.grid[-1] + 2
    h = coarse.grid[1] - coarse.grid[0]
    fine = grid_posterior_1d(f, Q1, R1, YS, x0=0.4, grid=np.arange(lo, hi, h / 3))
    assert abs(coarse.log_likelihood - fine.log_likelihood) <= GRID
    close(coarse.means, fine.means, GRID)
    # and the nonlinearity matters: the linearised chain answers differently
    lin = grid_posterior_1d(lambda x: x, Q1, R1, YS, x0=0.4)
    assert abs(lin.log_likelihood - fine.log_likelihood) > 1e-2


def test_grid_nonlinear_chain_against_monte_carlo():
    """T = 3, nonlinear f: p(y | x_0) = E[∏ N(y_t; x_t, r)] over 2·10⁵ prior
    paths, within 4 standard errors (and E[x_1 | y] by self-normalised
    weights, within 4 of its delta-method standard errors)."""
    f = lambda x: x + 0.8 * np.sin(2 * x)
    x0, ys = 0.4, YS[:3]
    g = grid_posterior_1d(f, Q1, R1, ys, x0=x0)
    rng = np.random.default_rng(7)
    x = np.full(200_000, x0)
    logw = np.zeros_like(x)
    for t, y in enumerate(ys):
        x = f(x) + math.sqrt(Q1) * rng.normal(size=x.size)
        if t == 0:
            x1 = x
        logw += -0.5 * (y - x) ** 2 / R1 - 0.5 * math.log(2 * math.pi * R1)
    w = np.exp(logw)
    p, se = w.mean(), w.std() / math.sqrt(w.size)
    assert abs(p - math.exp(g.log_likelihood)) <= 4 * se, (p, math.exp(g.log_likelihood), se)
    m1 = (w * x1).sum() / w.sum()
    se1 = math.sqrt(np.sum((w / w.sum()) ** 2 * (x1 - m1) ** 2))
    assert abs(m1 - g.means[1]) <= 4 * se1, (m1, g.means[1], se1)


def test_grid_custom_observation_density():
    """obs_logpdf replaces the Gaussian leaf: a Gaussian of another variance
    through it equals the default with that variance."""
    r2 = 0.7
    f = lambda x: 0.5 * x + np.tanh(x)
    custom = grid_posterior_1d(f, Q1, R1, YS[:3], x0=0.1,
                               obs_logpdf=lambda y, x: -0.5 * (y - x) ** 2 / r2
                               - 0.5 * math.log(2 * math.pi * r2))
    default = grid_posterior_1d(f, Q1, r2, YS[:3], x0=0.1, grid=custom.grid)
    assert abs(custom.log_likelihood - default.log_likelihood) <= 1e-12
    close(custom.means, default.means, 1e-12)


def test_grid_rejects_a_coarse_grid():
    with pytest.raises(ValueError, match="too coarse"):
        grid_posterior_1d(lambda x: x, 0.01, R1, YS, x0=0.0, n=101)
