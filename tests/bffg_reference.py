"""Independent NumPy references for Gaussian, discrete and tree smoothing
(plain NumPy, no paralens).

These are the oracles the library's BFFG (backward filtering forward guiding)
interpreter is tested against (``reference/bffg.md`` §9), and the hand-written
baseline it is benchmarked against, so this module must never import paralens.
The forms are the textbook ones: a predict/update Kalman filter, the
Rauch–Tung–Striebel smoother, the scaled forward–backward algorithm, and brute
force (one big joint Gaussian; path enumeration; grid quadrature) to check them.

Linear-Gaussian state space (``kalman_filter``, ``joint_gaussian_loglik``)
---------------------------------------------------------------------------
::

    x_0     ~ N(m0, P0)                        (the prior of x_0, before y_0 is seen)
    x_{t+1} = A_t x_t + beta_t + N(0, Q_t)     t = 0 .. T-2
    y_t     = L_t x_t + b_t    + N(0, R_t)     t = 0 .. T-1

* ``ys`` has shape ``(T, k)`` (a 1-D ``(T,)`` array means ``k = 1``), or is a
  list of ``T`` vectors of possibly different lengths (``k_t = 0`` allowed).
* Each of ``A, beta, Q`` is either constant (``(d', d)``, ``(d',)``,
  ``(d', d')``) or time-varying with a leading axis of length ``T - 1``
  (entry ``t`` is the transition ``x_t -> x_{t+1}``; a leading axis of length
  ``T`` is accepted and its last entry ignored). Each of ``L, b, R`` is
  constant or has a leading axis of length ``T``. Any of them may instead be a
  list of per-step arrays, which allows the state dimension ``d_t`` to change
  along the chain (non-square ``A_t``); the per-step outputs are then lists
  instead of stacked arrays.
* ``Q_t`` may be singular or zero and ``P0`` may be singular; every
  innovation covariance ``L P Lᵀ + R`` must be positive definite (``R_t``
  positive definite suffices), and the RTS smoother needs the predicted
  covariances ``P^p_{t+1}`` to be nonsingular.
* ``missing``: ``None`` (only NaN entries of ``ys`` are missing), a boolean
  ``(T,)`` mask (the whole observation ``y_t`` is missing: no update) or a
  boolean ``(T, k)`` mask (the observed rows of ``y_t`` update, with the
  matching rows of ``L_t, b_t`` and rows and columns of ``R_t``), or a list of
  per-step masks. NaN entries of ``ys`` are always treated as missing.

Lag-one convention: ``lag_one_covs[t] = Cov(x_t, x_{t+1} | y)`` (rows index
``x_t``, columns ``x_{t+1}``), shape ``(d_t, d_{t+1})``, which equals
``J_t P^s_{t+1}`` with ``J_t = P^f_t A_tᵀ (P^p_{t+1})⁻¹``. (Shumway–Stoffer's
``P_{t+1,t}`` is its transpose.)
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np

__all__ = [
    "gaussian_logpdf",
    "kalman_filter", "rts_smoother", "kalman_rts", "KalmanRTS",
    "joint_gaussian_loglik", "JointGaussian",
    "hmm_forward_backward", "hmm_enumerate",
    "complete_binary_tree", "tree_mrca_matrix", "tree_mrca_loglik",
    "tree_joint_gaussian", "TreePosterior",
    "grid_posterior_1d", "GridPosterior",
]

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_logpdf(y, mean, cov):
    """log N(y; mean, cov) for a positive definite ``cov`` (Cholesky); 0.0 for
    an empty vector."""
    y = np.asarray(y, float).ravel()
    if y.size == 0:
        return 0.0
    C = np.linalg.cholesky(cov)
    z = np.linalg.solve(C, y - mean)
    return float(-0.5 * z @ z - np.log(np.diag(C)).sum() - 0.5 * y.size * LOG_2PI)


# -- argument normalisation -------------------------------------------------------

def _per_step(X, n, base_ndim, name, lengths):
    """A list of ``n`` float arrays: ``X`` constant (``ndim == base_ndim``),
    stacked with a leading axis whose length is in ``lengths``, or a list of
    per-step arrays (only the first ``n`` are used)."""
    if isinstance(X, (list, tuple)) and all(np.ndim(x) == base_ndim for x in X):
        steps = [np.asarray(x, float) for x in X]
    else:
        X = np.asarray(X, float)
        if X.ndim == base_ndim:
            return [X] * n
        if X.ndim != base_ndim + 1:
            raise ValueError(f"{name}: expected {base_ndim} dimensions (constant) or "
                             f"{base_ndim + 1} (time-varying), got shape {X.shape}")
        steps = list(X)
    if len(steps) not in lengths:
        raise ValueError(f"{name}: {len(steps)} steps, expected one of {sorted(set(lengths))}")
    return steps[:n]


def _observations(ys, missing):
    """Per-step lists of observation vectors and boolean 'observed' masks."""
    if isinstance(ys, (list, tuple)):
        obs = [np.atleast_1d(np.asarray(y, float)) for y in ys]
    else:
        ys = np.asarray(ys, float)
        if ys.ndim == 1:
            ys = ys[:, None]
        if ys.ndim != 2:
            raise ValueError(f"ys: expected shape (T, k), got {ys.shape}")
        obs = list(ys)
    T = len(obs)
    seen = [~np.isnan(y) for y in obs]
    if missing is not None:
        if isinstance(missing, (list, tuple)):
            masks = [np.asarray(m, bool) for m in missing]
        else:
            missing = np.asarray(missing, bool)
            if missing.ndim not in (1, 2) or missing.shape[0] != T:
                raise ValueError(f"missing: expected shape (T,) or (T, k), got {missing.shape}")
            masks = list(missing)
        if len(masks) != T:
            raise ValueError(f"missing: {len(masks)} steps for {T} observations")
        seen = [s & ~np.broadcast_to(m, s.shape) for s, m in zip(seen, masks)]
    return obs, seen


def _model(m0, P0, A, beta, Q, L, b, R, ys, missing):
    obs, seen = _observations(ys, missing)
    T = len(obs)
    if T == 0:
        raise ValueError("ys: at least one time step is needed")
    n, trans = T - 1, (T - 1, T)
    As = _per_step(A, n, 2, "A", trans)
    betas = _per_step(beta, n, 1, "beta", trans)
    Qs = _per_step(Q, n, 2, "Q", trans)
    Ls = _per_step(L, T, 2, "L", (T,))
    bs = _per_step(b, T, 1, "b", (T,))
    Rs = _per_step(R, T, 2, "R", (T,))
    m0 = np.asarray(m0, float).ravel()
    P0 = np.asarray(P0, float).reshape(m0.size, m0.size)
    dims = [m0.size]
    for t in range(n):
        if As[t].shape[1] != dims[-1]:
            raise ValueError(f"A[{t}] has shape {As[t].shape}, state dimension is {dims[-1]}")
        dims.append(As[t].shape[0])
    for t in range(T):
        if Ls[t].shape != (obs[t].size, dims[t]):
            raise ValueError(f"L[{t}] has shape {Ls[t].shape}, expected {(obs[t].size, dims[t])}")
    return m0, P0, As, betas, Qs, Ls, bs, Rs, obs, seen, dims


def _stack(arrays):
    """np.stack when all shapes agree (a fixed state dimension), else the list."""
    if len({a.shape for a in arrays}) <= 1 and arrays:
        return np.stack(arrays)
    return list(arrays)


# -- Kalman filter and RTS smoother -----------------------------------------------

def kalman_filter(m0, P0, A, beta, Q, L, b, R, ys, missing=None):
    """The conventional predict/update Kalman filter (model and argument
    conventions in the module docstring).

    Returns ``(log_likelihood, filtered_means, filtered_covs, predicted_means,
    predicted_covs)``: ``filtered[t]`` is the law of ``x_t`` given
    ``y_0..y_t``, ``predicted[t]`` that given ``y_0..y_{t-1}`` (so
    ``predicted[0] = (m0, P0)``), arrays ``(T, d)`` and ``(T, d, d)`` (lists
    if the state dimension varies). The log-likelihood is the sum over the
    observed parts of ``log N(y_t; L m^p_t + b, L P^p_t Lᵀ + R)``. One
    Cholesky factorisation (log-determinant) and one ``np.linalg.solve`` per
    update.
    """
    m0, P0, As, betas, Qs, Ls, bs, Rs, obs, seen, dims = _model(
        m0, P0, A, beta, Q, L, b, R, ys, missing)
    T = len(obs)
    mf, Pf, mp, Pp = [], [], [], []
    m, P = m0, P0
    loglik = 0.0
    for t in range(T):
        mp.append(m)
        Pp.append(P)
        s = seen[t]
        if s.any():
            Lt, bt, Rt, y = Ls[t], bs[t], Rs[t], obs[t]
            if not s.all():
                Lt, bt, Rt, y = Lt[s], bt[s], Rt[np.ix_(s, s)], y[s]
            PLt = P @ Lt.T                                   # (d, k)
            S = Lt @ PLt + Rt                                # innovation covariance
            v = y - Lt @ m - bt                              # innovation
            C = np.linalg.cholesky(S)
            sol = np.linalg.solve(S, np.column_stack([v, PLt.T]))
            loglik += (-0.5 * v @ sol[:, 0] - np.log(np.diag(C)).sum()
                       - 0.5 * v.size * LOG_2PI)
            m = m + PLt @ sol[:, 0]
            P = P - PLt @ sol[:, 1:]
            P = 0.5 * (P + P.T)
        mf.append(m)
        Pf.append(P)
        if t < T - 1:
            m = As[t] @ m + betas[t]
            P = As[t] @ P @ As[t].T + Qs[t]
    return float(loglik), _stack(mf), _stack(Pf), _stack(mp), _stack(Pp)


def rts_smoother(A, filtered_means, filtered_covs, predicted_means, predicted_covs):
    """Rauch–Tung–Striebel smoother on the output of ``kalman_filter``.

    ``A`` as in the filter (constant, stacked over ``T - 1`` or ``T`` steps,
    or a list). With ``J_t = P^f_t A_tᵀ (P^p_{t+1})⁻¹`` (one
    ``np.linalg.solve``)::

        m^s_t = m^f_t + J_t (m^s_{t+1} - m^p_{t+1})
        P^s_t = P^f_t + J_t (P^s_{t+1} - P^p_{t+1}) J_tᵀ

    Returns ``(smoothed_means, smoothed_covs, lag_one_covs)``, with
    ``lag_one_covs[t] = Cov(x_t, x_{t+1} | y) = J_t P^s_{t+1}``, shape
    ``(T - 1, d, d)`` (rows ``x_t``, columns ``x_{t+1}``).
    """
    mf, Pf = list(filtered_means), list(filtered_covs)
    mp, Pp = list(predicted_means), list(predicted_covs)
    T = len(mf)
    As = _per_step(A, T - 1, 2, "A", (T - 1, T))
    ms, Ps, lag = [None] * T, [None] * T, [None] * (T - 1)
    ms[-1], Ps[-1] = mf[-1], Pf[-1]
    for t in range(T - 2, -1, -1):
        J = np.linalg.solve(Pp[t + 1], As[t] @ Pf[t]).T      # Pp, Pf symmetric
        ms[t] = mf[t] + J @ (ms[t + 1] - mp[t + 1])
        P = Pf[t] + J @ (Ps[t + 1] - Pp[t + 1]) @ J.T
        Ps[t] = 0.5 * (P + P.T)
        lag[t] = J @ Ps[t + 1]
    return _stack(ms), _stack(Ps), _stack(lag)


class KalmanRTS(NamedTuple):
    log_likelihood: float
    filtered_means: np.ndarray
    filtered_covs: np.ndarray
    predicted_means: np.ndarray
    predicted_covs: np.ndarray
    smoothed_means: np.ndarray
    smoothed_covs: np.ndarray
    lag_one_covs: np.ndarray


def kalman_rts(m0, P0, A, beta, Q, L, b, R, ys, missing=None):
    """``kalman_filter`` then ``rts_smoother``: a ``KalmanRTS`` named tuple
    (log-likelihood; filtered, predicted and smoothed means and covariances;
    lag-one covariances ``Cov(x_t, x_{t+1} | y)``)."""
    out = kalman_filter(m0, P0, A, beta, Q, L, b, R, ys, missing)
    return KalmanRTS(*out, *rts_smoother(A, *out[1:]))


# -- brute force: one joint Gaussian ----------------------------------------------

class JointGaussian(NamedTuple):
    log_likelihood: float
    means: np.ndarray            # E[x_t | y]               (T, d)
    covs: np.ndarray             # Cov(x_t | y)             (T, d, d)
    lag_one_covs: np.ndarray     # Cov(x_t, x_{t+1} | y)    (T-1, d, d)
    mean: np.ndarray             # E[X | y], X = (x_0, .., x_{T-1}) stacked
    cov: np.ndarray              # Cov(X | y)
    prior_mean: np.ndarray       # E[X]
    prior_cov: np.ndarray        # Cov(X)


def joint_gaussian_loglik(m0, P0, A, beta, Q, L, b, R, ys, missing=None):
    """Brute force for the state-space model (same arguments as
    ``kalman_filter``): no recursion over time.

    The states are written as one structural equation ``X = 𝒜 X + c + ε``
    for the stacked ``X = (x_0, .., x_{T-1})``, with ``𝒜`` block-subdiagonal
    (``A_t`` at block ``(t+1, t)``), ``c = (m0, beta_0, ..)`` and
    ``ε ~ N(0, blockdiag(P0, Q_0, ..))``; so ``X = (I - 𝒜)⁻¹(c + ε)``. The
    stacked observations are ``Y = 𝓛 X + b + η``, ``η ~ N(0, blockdiag(R_t))``,
    restricted to the observed rows. Then ``log p(y) = log N(y; E Y, Cov Y)``
    and the conditionals of ``X`` given ``y`` by the Gaussian conditioning
    formula. O((T d)³): for small T. A fixed start ``x_0 = x`` is
    ``m0 = x, P0 = 0``; so ``log p(y_{t:} | x_t = x)`` is this function on
    the tail of the model. Returns a ``JointGaussian`` named tuple.
    """
    m0, P0, As, betas, Qs, Ls, bs, Rs, obs, seen, dims = _model(
        m0, P0, A, beta, Q, L, b, R, ys, missing)
    T = len(obs)
    off = np.concatenate([[0], np.cumsum(dims)])
    N = off[-1]
    blk = [slice(off[t], off[t + 1]) for t in range(T)]
    calA = np.zeros((N, N))
    c = np.zeros(N)
    D = np.zeros((N, N))
    c[blk[0]], D[blk[0], blk[0]] = m0, P0
    for t in range(T - 1):
        calA[blk[t + 1], blk[t]] = As[t]
        c[blk[t + 1]] = betas[t]
        D[blk[t + 1], blk[t + 1]] = Qs[t]
    B = np.linalg.solve(np.eye(N) - calA, np.eye(N))         # X = B (c + ε)
    mx = B @ c
    Sx = B @ D @ B.T
    rows_L, rows_b, R_blocks, y = [], [], [], []
    for t in range(T):
        s = seen[t]
        Lt = np.zeros((int(s.sum()), N))
        Lt[:, blk[t]] = Ls[t][s]
        rows_L.append(Lt)
        rows_b.append(bs[t][s])
        R_blocks.append(Rs[t][np.ix_(s, s)])
        y.append(obs[t][s])
    calL = np.vstack(rows_L)
    y = np.concatenate(y)
    my = calL @ mx + np.concatenate(rows_b)
    Ry = np.zeros((y.size, y.size))
    k = 0
    for Rt in R_blocks:
        Ry[k:k + len(Rt), k:k + len(Rt)] = Rt
        k += len(Rt)
    Sy = calL @ Sx @ calL.T + Ry
    Sxy = Sx @ calL.T
    loglik = gaussian_logpdf(y, my, Sy)
    if y.size:
        G = np.linalg.solve(Sy, np.column_stack([y - my, Sxy.T]))
        mean = mx + Sxy @ G[:, 0]
        cov = Sx - Sxy @ G[:, 1:]
    else:
        mean, cov = mx.copy(), Sx.copy()
    cov = 0.5 * (cov + cov.T)
    means = _stack([mean[blk[t]] for t in range(T)])
    covs = _stack([cov[blk[t], blk[t]] for t in range(T)])
    lag = _stack([cov[blk[t], blk[t + 1]] for t in range(T - 1)])
    return JointGaussian(loglik, means, covs, lag, mean, cov, mx, Sx)


# -- discrete hidden Markov models ------------------------------------------------

def _emissions(E, ys):
    """Rows E[:, y_t].T (T, S); a negative symbol is unobserved (a row of ones)."""
    ys = np.asarray(ys, int)
    lik = E[:, np.maximum(ys, 0)].T.copy()
    lik[ys < 0] = 1.0
    return lik


def hmm_forward_backward(pi0, K, E, ys, return_messages=False):
    """Scaled forward–backward for an HMM.

    ``pi0`` (S,) is the law of x_0, ``K[x, x'] = P(x_{t+1} = x' | x_t = x)``
    (row-stochastic), ``E[x, y] = P(y_t = y | x_t = x)``, ``ys`` (T,) integer
    symbols (a negative symbol is unobserved). With ``e_t = E[:, y_t]``::

        α̂_0 ∝ pi0 ⊙ e_0,   α̂_t ∝ (α̂_{t-1} K) ⊙ e_t,   c_t the normalisers
        β̂_{T-1} = 1,       β̂_t = K (e_{t+1} ⊙ β̂_{t+1}) / c_{t+1}

    ``log p(y) = Σ log c_t`` and ``γ_t = α̂_t ⊙ β̂_t`` (rows sum to 1). Returns
    ``(log_likelihood, gamma)``, and with ``return_messages=True`` also
    ``alpha`` (α̂_t = P(x_t | y_0..y_t), (T, S)) and ``beta`` (β̂_t, the
    classical backward message p(y_{t+1:} | x_t) up to a positive factor).
    """
    pi0, K, E = (np.asarray(a, float) for a in (pi0, K, E))
    lik = _emissions(E, ys)
    T, S = lik.shape
    alpha = np.empty((T, S))
    c = np.empty(T)
    a = pi0 * lik[0]
    for t in range(T):
        if t:
            a = (alpha[t - 1] @ K) * lik[t]
        c[t] = a.sum()
        alpha[t] = a / c[t]
    beta = np.empty((T, S))
    beta[-1] = 1.0
    for t in range(T - 2, -1, -1):
        beta[t] = K @ (lik[t + 1] * beta[t + 1]) / c[t + 1]
    gamma = alpha * beta
    gamma /= gamma.sum(axis=1, keepdims=True)
    loglik = float(np.log(c).sum())
    if return_messages:
        return loglik, gamma, alpha, beta
    return loglik, gamma


def hmm_enumerate(pi0, K, E, ys):
    """Brute force over all S**T state paths (small T): the joint
    log-probability of every path and the observations, ``log p(y)`` by
    log-sum-exp, and the posterior marginals ``γ_t(s) = P(x_t = s | y)``.
    Returns ``(log_likelihood, gamma)``."""
    pi0, K, E = (np.asarray(a, float) for a in (pi0, K, E))
    lik = _emissions(E, ys)
    T, S = lik.shape
    paths = np.array(list(itertools.product(range(S), repeat=T)))   # (S**T, T)
    with np.errstate(divide="ignore"):
        lp = np.log(pi0[paths[:, 0]])
        for t in range(T):
            lp = lp + np.log(lik[t, paths[:, t]])
            if t < T - 1:
                lp = lp + np.log(K[paths[:, t], paths[:, t + 1]])
    top = lp.max()
    w = np.exp(lp - top)
    total = w.sum()
    gamma = np.stack([np.bincount(paths[:, t], weights=w, minlength=S) for t in range(T)])
    return float(top + np.log(total)), gamma / total


# -- trees of Gaussian random walks -----------------------------------------------

def complete_binary_tree(depth):
    """A complete binary tree of the given depth (depth 0: the root alone).

    Heap numbering: node 0 is the root, the children of node ``i`` are
    ``2i + 1`` and ``2i + 2``; node ``i`` has depth ``floor(log2(i + 1))``;
    there are ``2**(depth+1) - 1`` nodes and the leaves are the last level,
    nodes ``2**depth - 1 .. 2**(depth+1) - 2``, in that order.

    Returns ``(parents, leaves, K)``: ``parents[i]`` the parent of node ``i``
    (``-1`` for the root), ``leaves`` the leaf node numbers, and the
    ``(2**depth, 2**depth)`` matrix ``K[i, j] = depth(MRCA(leaf i, leaf j))``
    (``K[i, i] = depth``), from the closed form: for leaf positions ``l, l'``
    on the last level, the MRCA depth is ``depth - bit_length(l XOR l')``.
    """
    n = 2 ** (depth + 1) - 1
    parents = np.concatenate([[-1], (np.arange(1, n) - 1) // 2]).astype(int)
    leaves = np.arange(2 ** depth - 1, n)
    pos = np.arange(2 ** depth)
    bit_length = np.frexp((pos[:, None] ^ pos[None, :]).astype(float))[1]
    K = (depth - bit_length).astype(float)
    return parents, leaves, K


def _ancestor_matrix(parents, nodes):
    """Boolean (len(nodes), n): entry (a, j) iff node j is on the path from the
    root to nodes[a] (inclusive)."""
    parents = np.asarray(parents, int)
    M = np.zeros((len(nodes), len(parents)), bool)
    for a, v in enumerate(nodes):
        while v >= 0:
            M[a, v] = True
            v = parents[v]
    return M


def tree_mrca_matrix(parents, leaves, edge_lengths=None):
    """For any rooted tree given by its ``parents`` array (root ``-1``):
    ``K[i, j]`` = the length of the path from the root to MRCA(leaves[i],
    leaves[j]); unit edges by default (then the MRCA's depth).
    ``edge_lengths[v]`` is the length of the edge into node ``v`` (the root's
    entry is ignored). Computed as ``Anc diag(len) Ancᵀ`` with the ancestor
    indicator matrix."""
    n = len(parents)
    lengths = np.ones(n) if edge_lengths is None else np.asarray(edge_lengths, float).copy()
    lengths[np.asarray(parents) < 0] = 0.0
    M = _ancestor_matrix(parents, leaves).astype(float)
    return (M * lengths) @ M.T


def tree_mrca_loglik(ys, K, sigma2, tau2):
    """log N(y; 0, σ² K + τ² I): a Gaussian random walk down a tree, root at 0,
    variance ``sigma2`` per unit of edge length, observed at the leaves with
    noise variance ``tau2``; ``K`` the MRCA matrix (``tree_mrca_matrix``), or
    an int depth for ``complete_binary_tree(depth)``. ``ys`` of shape
    ``(n_leaves,)``, or ``(n_leaves, dim)`` for ``dim`` independent
    coordinates with the same ``K`` (the log-densities add). O(n³)."""
    if np.ndim(K) == 0:
        K = complete_binary_tree(int(K))[2]
    ys = np.asarray(ys, float)
    Y = ys[:, None] if ys.ndim == 1 else ys
    n, dim = Y.shape
    C = np.linalg.cholesky(sigma2 * np.asarray(K, float) + tau2 * np.eye(n))
    Z = np.linalg.solve(C, Y)
    return float(-0.5 * (Z * Z).sum() - dim * np.log(np.diag(C)).sum()
                 - 0.5 * n * dim * LOG_2PI)


class TreePosterior(NamedTuple):
    log_likelihood: float
    means: np.ndarray        # E[x_v | y]  (n_nodes,) or (n_nodes, dim)
    cov: np.ndarray          # Cov(x | y) over all nodes (n_nodes, n_nodes), per coordinate
    prior_cov: np.ndarray    # Cov(x) over all nodes


def tree_joint_gaussian(parents, leaves, ys, sigma2, tau2, edge_lengths=None):
    """Brute force for the tree random walk of ``tree_mrca_loglik``, built edge
    by edge: ``x_root = 0`` and ``x_v = x_parent(v) + N(0, σ² len_v)`` as one
    structural equation ``x = 𝒜 x + ε`` (``𝒜[v, parent(v)] = 1``), so
    ``Cov(x) = (I - 𝒜)⁻¹ D (I - 𝒜)⁻ᵀ``; ``y = x[leaves] + N(0, τ² I)``.
    Returns a ``TreePosterior``: ``log p(y)`` and the conditional means and
    covariance of every node given the leaves (``ys`` as in
    ``tree_mrca_loglik``; coordinates independent with a shared covariance).
    """
    parents = np.asarray(parents, int)
    n = len(parents)
    lengths = np.ones(n) if edge_lengths is None else np.asarray(edge_lengths, float)
    calA = np.zeros((n, n))
    D = np.zeros(n)
    for v, p in enumerate(parents):
        if p >= 0:
            calA[v, p] = 1.0
            D[v] = sigma2 * lengths[v]
    B = np.linalg.solve(np.eye(n) - calA, np.eye(n))
    Sx = (B * D) @ B.T
    ys = np.asarray(ys, float)
    Y = ys[:, None] if ys.ndim == 1 else ys
    leaves = np.asarray(leaves, int)
    Sy = Sx[np.ix_(leaves, leaves)] + tau2 * np.eye(len(leaves))
    Sxy = Sx[:, leaves]
    loglik = sum(gaussian_logpdf(Y[:, j], np.zeros(len(leaves)), Sy) for j in range(Y.shape[1]))
    G = np.linalg.solve(Sy, np.column_stack([Y, Sxy.T]))
    means = Sxy @ G[:, :Y.shape[1]]
    cov = Sx - Sxy @ G[:, Y.shape[1]:]
    return TreePosterior(float(loglik), means[:, 0] if ys.ndim == 1 else means,
                         0.5 * (cov + cov.T), Sx)


# -- grid quadrature for a nonlinear 1-D chain ------------------------------------

class GridPosterior(NamedTuple):
    log_likelihood: float
    means: np.ndarray        # E[x_t | y], t = 0 .. T   (T + 1,)
    variances: np.ndarray    # Var(x_t | y)             (T + 1,)
    grid: np.ndarray


def _normal_pdf(x, mean, var):
    return np.exp(-0.5 * (x - mean) ** 2 / var) / math.sqrt(2.0 * math.pi * var)


def grid_posterior_1d(f, q, r, ys, x0=None, prior=None, grid=None, n=None, obs_logpdf=None):
    """Grid quadrature for the nonlinear chain::

        x_0 fixed (``x0``) or x_0 ~ N(m0, v0) (``prior=(m0, v0)``), unobserved
        x_{t+1} = f(x_t) + N(0, q)            t = 0 .. T-1
        y_t     = x_t + N(0, r)               t = 1 .. T,  ys[t-1] = y_t

    ``f`` must be vectorised (it is applied to the grid). ``obs_logpdf(y, x)``
    replaces the Gaussian observation density (vectorised in ``x``); a NaN
    ``y_t`` is unobserved. Forward recursion on a uniform grid with the
    trapezoidal rule (spectrally accurate for smooth integrands that are
    negligible at the ends) and the transition matrix ``N(g_j; f(g_i), q)``;
    the step from a fixed ``x0`` uses the exact density ``N(·; f(x0), q)``,
    and a backward recursion gives the posterior moments. Rescaled at every
    step. ``grid`` (equally spaced points) or ``n`` points on a default range
    (the observations ± 12√r, ``f(x0)`` ± 12√q, the prior ± 12√v0; by
    default a step of a tenth of the smallest of √r, √q, √v0, 401 to 4001
    points): pass a grid when the states can leave that range (missing data,
    strong drift) or when a steep ``f`` (|f'| ≫ 1) needs a finer step.
    Returns a ``GridPosterior``: ``log p(y | x0)`` (or ``log p(y)``),
    ``means[t] = E[x_t | y]`` (``means[1] = E[x_1 | y]``; ``means[0] = x0``
    when fixed) and the variances. Accurate to ~1e-10 relative on smooth
    problems with a grid step below √q / 5.
    """
    if (x0 is None) == (prior is None):
        raise ValueError("give exactly one of x0 (a fixed start) and prior=(m0, v0)")
    ys = np.atleast_1d(np.asarray(ys, float))
    T = ys.size
    if grid is None:
        pts, spreads = [ys[~np.isnan(ys)]], [12 * math.sqrt(r)]
        if x0 is not None:
            pts.append(np.atleast_1d(f(np.asarray([float(x0)]))))
            spreads.append(12 * math.sqrt(q))
        else:
            pts.append(np.atleast_1d(float(prior[0])))
            spreads.append(12 * math.sqrt(prior[1]))
        lo = min(p.min() - s for p, s in zip(pts, spreads) if p.size)
        hi = max(p.max() + s for p, s in zip(pts, spreads) if p.size)
        if n is None:                       # step ≤ the smallest noise scale / 10
            sd = min(spreads) / 12
            n = int(min(max(math.ceil((hi - lo) / (sd / 10)) + 1, 401), 4001))
        grid = np.linspace(lo, hi, n)
    grid = np.asarray(grid, float)
    h = grid[1] - grid[0]
    if not np.allclose(np.diff(grid), h, rtol=1e-9, atol=0):
        raise ValueError("grid: points must be equally spaced")
    if h > math.sqrt(q) / 2:
        raise ValueError(f"grid step {h:.3g} too coarse for the transition noise sqrt(q) = {math.sqrt(q):.3g}")
    w = np.full(grid.size, h)
    w[[0, -1]] = h / 2
    if obs_logpdf is None:
        def obs_logpdf(y, x):
            return -0.5 * (y - x) ** 2 / r - 0.5 * math.log(2.0 * math.pi * r)
    lik = np.array([np.ones_like(grid) if np.isnan(y) else np.exp(obs_logpdf(y, grid))
                    for y in ys])                                   # (T, n)
    trans = _normal_pdf(grid[None, :], f(grid)[:, None], q)          # (n, n): i -> j
    # forward: alpha[t] ∝ p(x_t, y_1..y_t) on the grid, t = 0 .. T
    alpha = np.empty((T + 1, grid.size))
    logscale = 0.0
    if x0 is None:
        alpha[0] = _normal_pdf(grid, prior[0], prior[1])
    for t in range(1, T + 1):
        if t == 1 and x0 is not None:
            a = _normal_pdf(grid, float(f(np.asarray([float(x0)]))[0]), q) * lik[0]
        else:
            a = ((alpha[t - 1] * w) @ trans) * lik[t - 1]
        s = (a * w).sum()
        logscale += math.log(s)
        alpha[t] = a / s
    # backward: beta[t] ∝ p(y_{t+1}..y_T | x_t)
    beta = np.ones((T + 1, grid.size))
    for t in range(T - 1, -1, -1):
        bt = trans @ (w * lik[t] * beta[t + 1])
        beta[t] = bt / bt.max()
    means, variances = np.empty(T + 1), np.empty(T + 1)
    for t in range(T + 1):
        if t == 0 and x0 is not None:
            means[0], variances[0] = float(x0), 0.0
            continue
        p = alpha[t] * beta[t] * w
        p /= p.sum()
        means[t] = p @ grid
        variances[t] = p @ (grid - means[t]) ** 2
    return GridPosterior(float(logscale), means, variances, grid)
