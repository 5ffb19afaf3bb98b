"""Ready models of Markov kernels, for smoothing by BFFG (``interpreters.bffg``).

Chains (one box each, whose meaning is a loop over time; ``unroll()`` draws
them as T stages):

| model | what |
|---|---|
| ``state_space(m0, P0, A, beta, Q, L, b, R, ys)`` | the linear-Gaussian state-space model (the Kalman setting) |
| ``local_level(ys, level_variance, noise_variance)`` | the random walk plus noise, e.g. the Nile flow (``lenses.datasets.nile``) |
| ``hidden_markov(p, K, E, ys)`` | a hidden Markov model on finite states |

and diagrams:

| model | what |
|---|---|
| ``binary_tree(depth, d, sigma, tau, leaves)`` | a Gaussian random walk down a complete binary tree, the leaves observed (processed level by level) |
| ``nonlinear_chain(f, q, r, ys, x0, slope, offset)`` | a 1-D chain x_{t+1} ~ N(f(x_t), q), y_t ~ N(x_t, r), from a fixed x₀, each step a ``Transition`` with the linear auxiliary N(slope·x + offset, q) |

>>> import numpy as np
>>> nile = local_level([1120.0, 1160.0, np.nan, 1210.0], 1469.1, 15099.0)
>>> nile.steps, nile.d, nile.k, float(nile.prior.m[0]), float(nile.prior.P[0, 0])
(4, 1, 1, 1120.0, 10000000.0)
>>> model = nonlinear_chain(np.sin, 0.1, 0.2, [0.3, np.nan, -0.1], x0=0.5)
>>> model.dom, model.cod, [box.name for box in model.boxes][:4]
(Ty(), Ty(), ['x0', 'f1', 'Copy', 'y1'])
>>> hidden_markov([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]], [[0.7, 0.3], [0.1, 0.9]],
...               [0, 1, None, 1]).ys.tolist()
[0, 1, -1, 1]
>>> tree = binary_tree(2, 1, sigma=1.0, tau=0.5, leaves=np.zeros((4, 1)))
>>> tree.dom, tree.cod
(Ty(), Ty())
"""

from __future__ import annotations

import numpy as np

from .adapter import Id, Real
from .kernels import Chain, Gaussian, HiddenMarkov, Observe, Prior, Transition, _real
from .structural import copy

__all__ = ["state_space", "local_level", "hidden_markov", "nonlinear_chain", "binary_tree",
           "DIFFUSE_VARIANCE"]

#: The prior variance of ``local_level``'s first level when none is given: large against
#: any observation noise, so the smoother is insensitive to the prior mean.
DIFFUSE_VARIANCE = 1e7


def _observations(ys, name: str) -> np.ndarray:
    """The observations as (T, k): a vector (T,) is read as T scalar observations."""
    ys = _real(ys, f"{name}: ys")
    if ys.ndim == 1:
        ys = ys[:, None]
    if ys.ndim != 2:
        raise ValueError(f"{name}: the observations must be (T, k) or (T,), got shape "
                         f"{ys.shape}")
    return ys


def _transitions(value, T: int, ndim: int, what: str):
    """A transition parameter (one step: ``ndim`` axes) given for the T − 1 transitions,
    padded to the chain's T steps (the last step's transition is never used)."""
    array = _real(value, what)
    if T > 1 and array.ndim == ndim + 1 and len(array) == T - 1:
        return np.concatenate([array, array[-1:]])
    return array


def state_space(m0, P0, A, beta, Q, L, b, R, ys, name: str = "StateSpace") -> Chain:
    """The linear-Gaussian state-space model as one ``Chain`` box I → I:

        x₀ ~ N(m0, P0),  x_{t+1} ~ N(A_t x_t + β_t, Q_t),  y_t ~ N(L_t x_t + b_t, R_t),

    t = 0 … T − 1. Each parameter is constant or given per step (a leading axis of
    T, or of T − 1 for the transitions A, β, Q); β and b may be None (0). ``ys`` is
    (T, k), or (T,) when k = 1; NaN entries are missing (the filter skips them).

    >>> import numpy as np
    >>> chain = state_space(np.zeros(2), np.eye(2), [[1.0, 1.0], [0.0, 1.0]], None,
    ...                     0.1 * np.eye(2), [[1.0, 0.0]], [0.5], [[0.2]], [0.1, np.nan, 0.4])
    >>> chain.steps, chain.d, chain.k
    (3, 2, 1)
    >>> state_space(np.zeros(2), np.eye(2), np.eye(2), None, np.eye(2), [[1.0, 0.0]], None,
    ...             [[1.0]], [[0.1, 0.2]])
    Traceback (most recent call last):
    ...
    ValueError: StateSpace: each observation has 2 entries, but L is (1, 2): it maps the state to 1
    """
    ys = _observations(ys, name)
    T, k = ys.shape
    L_array = _real(L, f"{name}: L")
    if L_array.ndim in (2, 3) and L_array.shape[-2] != k:
        raise ValueError(f"{name}: each observation has {k} entries, but L is "
                         f"{L_array.shape}: it maps the state to {L_array.shape[-2]}")
    beta = None if beta is None else _transitions(beta, T, 1, f"{name}: beta")
    return Chain(Prior(np.atleast_1d(_real(m0, f"{name}: m0")), P0, name=f"{name} prior"),
                 _transitions(A, T, 2, f"{name}: A"), beta, _transitions(Q, T, 2, f"{name}: Q"),
                 L_array, b, R, ys, name=name)


def local_level(ys, level_variance: float, noise_variance: float, m0=None, P0=None,
                name: str = "LocalLevel") -> Chain:
    """The local-level model (random walk plus noise; Durbin & Koopman, ch. 2):

        x_{t+1} = x_t + η_t, η_t ~ N(0, level_variance);  y_t = x_t + ε_t, ε_t ~ N(0, noise_variance),

    ``ys`` (T,) with NaN for a missing year. On the Nile flow the classic maximum
    likelihood estimates are noise 15099 and level 1469.1.

    The prior of the first level is nearly diffuse: by default x₀ ~ N(m0, P0) with
    m0 the first observed value and P0 = ``DIFFUSE_VARIANCE`` (10⁷). The smoothed
    levels then agree with the exact diffuse smoother to about noise/P0, and
    log p(y) = −½ log 2π(P0 + noise) + the diffuse log-likelihood (Durbin & Koopman's
    Σ over t ≥ 2, −632.54 on the Nile) up to the same order, when the first year is
    observed."""
    ys = _observations(ys, name)
    if ys.shape[1] != 1:
        raise ValueError(f"{name}: the observations must be one number per step, got shape "
                         f"{ys.shape}")
    for value, what in ((level_variance, "level_variance"), (noise_variance, "noise_variance")):
        number = _real(value, f"{name}: {what}")
        if not (number.ndim == 0 and np.isfinite(number) and number >= 0):
            raise ValueError(f"{name}: {what} must be a number ≥ 0, got {value!r}")
    if not noise_variance > 0:
        raise ValueError(f"{name}: noise_variance must be > 0, got {noise_variance!r}")
    if m0 is None:
        seen = ys[~np.isnan(ys)]
        m0 = float(seen[0]) if seen.size else 0.0
    P0 = DIFFUSE_VARIANCE if P0 is None else P0
    one = np.ones((1, 1))
    return Chain(Prior(np.reshape(_real(m0, f"{name}: m0"), (1, )),
                       np.reshape(_real(P0, f"{name}: P0"), (1, 1)), name=f"{name} prior"),
                 one, None, level_variance * one, one, None, noise_variance * one, ys,
                 name=name)


def hidden_markov(p, K, E, ys, name: str = "HiddenMarkov") -> HiddenMarkov:
    """The hidden Markov model x₀ ~ p, x_{t+1} ~ K[x_t, ·], y_t ~ E[x_t, ·] as one box
    I → I; ``ys`` the symbols, None or −1 for a missing one."""
    array = np.asarray([-1 if y is None else y for y in ys] if np.ndim(ys) == 1 else ys)
    if array.ndim == 1 and array.dtype.kind == "f" and np.all(array == np.round(array)):
        array = array.astype(int)           # whole floats, e.g. from a CSV
    return HiddenMarkov(p, K, E, array, name=name)


def _per_step(value, what: str, T: int) -> np.ndarray:
    array = _real(value, f"nonlinear_chain: {what}")
    if array.ndim == 0:
        return np.full(T, float(array))
    if array.shape != (T, ):
        raise ValueError(f"nonlinear_chain: {what} must be a number or one per step ({T}), "
                         f"got shape {array.shape}")
    return array


def nonlinear_chain(f, q: float, r: float, ys, x0: float, slope=1.0, offset=0.0):
    """A 1-D nonlinear chain from a fixed start, as a diagram I → I of T stages:

        x₀ fixed,  x_{t+1} ~ N(f(x_t), q),  y_t ~ N(x_t, r)  (t = 1 … T; ys[t − 1] = y_t),

    the root the point mass ``Prior([x0], 0)``, each step a ``Transition`` (f applied
    to the state as a vector of one) whose backward filter uses the linear auxiliary
    x_{t+1} ~ N(slope·x_t + offset, q) (slope and offset a number or one per step),
    then a copy: the ``Observe`` leaf y_t (NaN: missing) and the next step.
    Guided samples weight the mismatch between f and the auxiliary; with f affine
    and equal to it, every weight is 1."""
    if not callable(f):
        raise TypeError(f"nonlinear_chain: f must be a function of the state, got {f!r}")
    ys = _real(ys, "nonlinear_chain: ys").reshape(-1)
    T = len(ys)
    if T == 0:
        raise ValueError("nonlinear_chain: at least one observation is needed")
    slopes, offsets = _per_step(slope, "slope", T), _per_step(offset, "offset", T)
    x = Real(1)
    diagram = Prior(np.reshape(_real(x0, "nonlinear_chain: x0"), (1, )), 0.0, name="x0")
    for t in range(1, T + 1):
        auxiliary = Gaussian([[slopes[t - 1]]], [offsets[t - 1]], q, name=f"f̃{t}")
        step = Transition(f, q, auxiliary, name=f"f{t}")
        observe = Observe([[1.0]], None, r, [ys[t - 1]], name=f"y{t}")
        diagram = diagram >> step >> (copy(x) >> observe @ Real(1) if t < T else observe)
    return diagram


# -- trees ----------------------------------------------------------------------------------

def _tensor(diagrams):
    """The tensor of a list of diagrams, paired up level by level (depth log n)."""
    while len(diagrams) > 1:
        paired = [a @ b for a, b in zip(diagrams[::2], diagrams[1::2])]
        diagrams = paired + ([diagrams[-1]] if len(diagrams) % 2 else [])
    return diagrams[0]


def binary_tree(depth: int, d: int, sigma: float = 1.0, tau: float = 1.0, leaves=None,
                prior: Prior | None = None):
    """A Gaussian random walk down a complete binary tree of the given depth, with unit-length
    edges: the root x ~ ``prior`` (default: fixed at 0, ``Prior(0, 0)``), every child
    x′ ~ N(x, σ² I) of its parent (each edge a ``Gaussian(I, Q=σ² I)``), and each of the
    2^depth leaves observed as y ~ N(x, τ² I): ``leaves`` (2^depth, d), NaN entries missing
    (None: nothing observed). With the root at 0, the leaves' observations are
    y ~ N(0, σ² K + τ² I) coordinate by coordinate, K_ij the depth of the most recent
    common ancestor of leaves i and j (K_ii = depth). The leaves are numbered left to right:
    the ancestors of leaf i at level l are i >> (depth − l).

    The diagram is I → I: prior, then per level a copy of every node and two edges, then the
    observations; its 2^(depth+1) − 1 nodes are built and flattened in time linear in
    their number.
    """
    if int(depth) != depth or depth < 0:
        raise ValueError(f"binary_tree: the depth must be an int ≥ 0, got {depth!r}")
    if int(d) != d or d < 1:
        raise ValueError(f"binary_tree: the dimension must be an int ≥ 1, got {d!r}")
    depth, d, n = int(depth), int(d), 2 ** int(depth)
    for value, what in [(sigma, "sigma"), (tau, "tau")]:
        number = _real(value, f"binary_tree: {what}")
        if number.ndim or not np.isfinite(number) or number < 0:
            raise ValueError(f"binary_tree: {what} must be a finite number ≥ 0, got {value!r}")
    if not tau > 0:
        raise ValueError("binary_tree: the leaf noise tau must be > 0")
    ys = np.full((n, d), np.nan) if leaves is None else _real(leaves, "binary_tree: leaves")
    if ys.shape != (n, d):
        raise ValueError(f"binary_tree: the leaves must be ({n}, {d}) (2^depth leaves, one "
                         f"vector each), got shape {ys.shape}")
    x = Real(d)
    if prior is None:
        prior = Prior(np.zeros(d), np.zeros((d, d)), name="root")
    elif not isinstance(prior, Prior) or prior.cod != x:
        raise TypeError(f"binary_tree: the prior must be a Prior on {x!r}, got {prior!r}")
    eye, Q = np.eye(d), sigma ** 2 * np.eye(d)
    diagram = prior
    for level in range(depth):
        edge = Gaussian(eye, Q=Q, name=f"edge{level + 1}")
        branch = copy(x) >> edge @ edge
        diagram = diagram >> _tensor([branch] * 2 ** level)
    leaf = Observe(eye, None, tau ** 2 * eye, ys[0], name="y0")
    return diagram >> _tensor([leaf] + [leaf.at(ys[i], name=f"y{i}") for i in range(1, n)])
