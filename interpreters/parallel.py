"""Parallel in time: the linear-Gaussian chain filtered and smoothed by prefix products of
an associative operator (``reference/bffg.md`` §11; Särkkä & García-Fernández 2021).

The chain is the one of ``categories.chains`` (t = 0 … T − 1; x₀ the state before
y₀ is seen):

    x₀ ~ N(m0, P0),  x_{t+1} ~ N(A x_t + β, Q),  y_t ~ N(L x_t + b, R)

Each step is a **filtering element** (A, b, C, η, J): forward, x_{t−1} ↦ N(A x + b, C),
the prediction then the update by y_t alone; backward, the message exp(ηᵀx − ½xᵀJx)
that y_t puts on x_{t−1}. The first element conditions the prior on y₀ directly
(A = 0, η = 0, J = 0). The prefix a₀ • … • a_t has (b, C) = the filtered moments
of x_t. Each step is then a **smoothing element** (E, g, L) (the RTS gain and the
conditional of x_t given x_{t+1} and y_{0:t}), and the suffix a_t • … • a_{T−1}
has (g, L) = the smoothed moments. log p(y) is one batched pass over the filtered
moments: Σ_t log N(y_t; the prediction's L m + b, L P Lᵀ + R).

| function | what |
|---|---|
| ``filtering_operator(earlier, later)`` | a_i • a_j on filtering elements, M = I + C_i J_j solved |
| ``smoothing_operator(earlier, later)`` | (E_i E_j, E_i g_j + g_i, E_i L_j E_iᵀ + L_i) |
| ``associative_scan(operator, elements)`` | prefix (``reverse``: suffix) products along axis 0 in NumPy |
| ``parallel_filter(m0, P0, A, beta, Q, L, b, R, ys)`` | filtered means, covariances, log p(y) |
| ``parallel_smoother(…)`` | smoothed means, covariances, lag-one covariances, log p(y) |

The operators act on the leading axes as batch axes, with ``xp`` NumPy or
``jax.numpy``. ``associative_scan`` is work-efficient (Blelloch's up-sweep and
down-sweep, in place): ⌈log₂ T⌉ levels each way, each ONE batched array operation
over all its pairs, fewer than 2T operator applications in all.

Parameters are constant or given per step: A, β, Q, L, b, R with a leading axis
T ((T, d, d) for A), or (batch, T, …) with batched observations, as the
``varying`` sequences of ``chains.smoother``. A transition's at step t moves x_t
to x_{t+1} (the last is used only by the last lag-one covariance, P_{T−1}Aᵀ).
Observations are (T, k) or (batch, T, k), NaN missing per entry: a missing
entry's row of L and of b is dropped (masked, R's row and column replaced by the
identity's, as ``categories.messages.leaf``). Covariances are solved with, never
inverted, so Q rank-deficient or 0 and singular element covariances are exact;
the RTS gain E = P Aᵀ (A P Aᵀ + Q)⁻¹ needs the predicted covariance A P Aᵀ + Q
nonsingular (it is when P0 ≻ 0 and each A_t is invertible, whatever Q).

``xp=jax.numpy`` runs the same with ``jax.lax.associative_scan`` (``reverse=True``
for the smoother), jitted; JAX is imported on that first use only. In JAX's
32-bit mode float64 inputs are refused, as ``interpreters.jax`` refuses them.

>>> import numpy as np
>>> I = np.eye(1)
>>> ys = np.array([[1.0], [np.nan]])              # y₀ = 1, y₁ missing
>>> means, covs, lag, logp = parallel_smoother(np.zeros(1), I, I, np.zeros(1), I, I, np.zeros(1), I, ys)
>>> means[:, 0], covs[:, 0, 0]                    # x₀ | y₀ ~ N(1/2, 1/2); x₁ = x₀ + N(0, 1)
(array([0.5, 0.5]), array([0.5, 1.5]))
>>> bool(np.isclose(logp, -0.5 * np.log(2 * np.pi * 2) - 0.25))
True
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["filtering_operator", "smoothing_operator", "associative_scan", "filtering_elements",
           "smoothing_elements", "parallel_filter", "parallel_smoother"]

LOG_2PI = math.log(2 * math.pi)


# -- small batched linear algebra, for NumPy and jax.numpy alike -------------------------------

def _T(x, xp):
    return xp.swapaxes(x, -1, -2)


def _sym(x, xp):
    return 0.5 * (x + _T(x, xp))


def _mv(M, v):
    return (M @ v[..., None])[..., 0]


def _common(xp, *arrays):
    """The arrays broadcast to their common leading (batch) axes, each keeping its own last
    ``ndim`` axes: (array, event ndim) pairs."""
    lead = np.broadcast_shapes(*(a.shape[:a.ndim - n] for a, n in arrays))
    return [xp.broadcast_to(a, lead + a.shape[a.ndim - n:]) for a, n in arrays]


# -- the operators -------------------------------------------------------------------------------

def filtering_operator(earlier, later, xp=np):
    """a_i • a_j of two filtering elements (A, b, C, η, J), a_i the earlier: with
    M = I + C_i J_j (solved),

    A = A_j M⁻¹ A_i, b = A_j M⁻¹ (b_i + C_i η_j) + b_j, C = A_j M⁻¹ C_i A_jᵀ + C_j,
    η = A_iᵀ M⁻ᵀ (η_j − J_j b_i) + η_i, J = A_iᵀ M⁻ᵀ J_j A_i + J_i,

    one solve with M for all five: M⁻ᵀ = (I + J_j C_i)⁻¹ = I − J_j M⁻¹ C_i and
    M⁻ᵀ J_j = J_j M⁻¹. Leading axes are batch axes (broadcast); C_i, J_j ⪰ 0 may be
    singular or 0.

    >>> import numpy as np
    >>> one = lambda *v: tuple(np.array(x, float) for x in v)
    >>> prior = one([[0.0]], [0.5], [[0.5]], [0.0], [[0.0]])     # x₀ | y₀ ~ N(1/2, 1/2)
    >>> step = one([[1.0]], [0.0], [[1.0]], [0.0], [[0.0]])      # x₁ = x₀ + N(0, 1), y₁ missing
    >>> A, b, C, eta, J = filtering_operator(prior, step)
    >>> float(b[0]), float(C[0, 0])
    (0.5, 1.5)
    """
    A1, b1, C1, eta1, J1 = earlier
    A2, b2, C2, eta2, J2 = later
    d = C1.shape[-1]
    A1, b1, C1, eta1, J1, A2, b2, C2, eta2, J2 = _common(
        xp, (A1, 2), (b1, 1), (C1, 2), (eta1, 1), (J1, 2), (A2, 2), (b2, 1), (C2, 2), (eta2, 1),
        (J2, 2))
    M = xp.eye(d, dtype=C1.dtype) + C1 @ J2
    X = xp.linalg.solve(M, xp.concatenate([A1, (b1 + _mv(C1, eta2))[..., None], C1], -1))
    MA, MC = X[..., :d], X[..., d + 1:]             # M⁻¹A_i, M⁻¹(b_i + C_iη_j), M⁻¹C_i
    forward = A2 @ X
    w = eta2 - _mv(J2, b1)
    v = w - _mv(J2, _mv(MC, w))                     # M⁻ᵀ(η_j − J_j b_i)
    backward = _T(A1, xp) @ xp.concatenate([v[..., None], J2 @ MA], -1)
    C = _sym(forward[..., d + 1:] @ _T(A2, xp), xp) + C2
    return (forward[..., :d], forward[..., d] + b2, C, backward[..., 0] + eta1,
            _sym(backward[..., 1:], xp) + J1)


def smoothing_operator(earlier, later, xp=np):
    """(E_i, g_i, L_i) • (E_j, g_j, L_j) = (E_i E_j, E_i g_j + g_i, E_i L_j E_iᵀ + L_i), a_i
    the earlier; leading axes are batch axes.

    >>> import numpy as np
    >>> E, g, L = smoothing_operator((np.eye(1), np.ones(1), np.eye(1)),
    ...                              (2 * np.eye(1), np.ones(1), np.eye(1)))
    >>> float(E[0, 0]), float(g[0]), float(L[0, 0])
    (2.0, 2.0, 2.0)
    """
    E1, g1, L1 = earlier
    E2, g2, L2 = later
    return E1 @ E2, _mv(E1, g2) + g1, _sym(E1 @ L2 @ _T(E1, xp), xp) + L1


# -- the scan -----------------------------------------------------------------------------------

def associative_scan(operator, elements, reverse: bool = False):
    """The prefix products e₀, e₀•e₁, … of a tuple of NumPy arrays along axis 0
    (``operator(earlier, later)`` on tuples, batched over leading axes); ``reverse``:
    the suffix products …, e_{n−2}•e_{n−1}, e_{n−1}. Blelloch's work-efficient scheme,
    in place on a copy: the up-sweep leaves at each position 2s·j + 2s − 1 the product of
    its block of 2s, the down-sweep completes the prefixes at 2s·j + 3s − 1 from those
    before them; each level is one call of ``operator`` on all its pairs (strided views),
    ⌈log₂ n⌉ levels each way, fewer than 2n applications in all.

    >>> import numpy as np
    >>> associative_scan(lambda a, b: (a[0] + b[0],), (np.arange(5),))[0]
    array([ 0,  1,  3,  6, 10])
    >>> digits = lambda a, b: (a[0] * b[1] + b[0], a[1] * b[1])    # written side by side
    >>> associative_scan(digits, (np.arange(1, 4), np.full(3, 10)), reverse=True)[0]
    array([123,  23,   3])
    """
    if reverse:
        flipped = associative_scan(lambda a, b: operator(b, a), tuple(e[::-1] for e in elements))
        return tuple(e[::-1] for e in flipped)
    x = tuple(np.array(e) for e in elements)
    n = len(x[0])
    s = 1
    while 2 * s <= n:                           # up-sweep
        _combine(operator, x, s - 1, 2 * s - 1, n, s)
        s *= 2
    while s > 1:                                # down-sweep
        s //= 2
        _combine(operator, x, 2 * s - 1, 3 * s - 1, n, s)
    return x


def _combine(operator, x, left, right, n, s):
    """x[i] ← x[i − s] • x[i] at i = right, right + 2s, … < n (i − s = left, left + 2s, …)."""
    if right >= n:
        return
    new = operator(tuple(e[left:n - s:2 * s] for e in x), tuple(e[right::2 * s] for e in x))
    for e, v in zip(x, new):
        e[right::2 * s] = v


def _jax_scan(operator, elements, reverse: bool = False):
    from jax import lax, numpy as jnp
    if reverse:         # lax's reversed scan calls fn(later, earlier)
        return lax.associative_scan(lambda a, b: operator(b, a, jnp), elements, reverse=True)
    return lax.associative_scan(lambda a, b: operator(a, b, jnp), elements)


def _numpy_scan(operator, elements, reverse: bool = False):
    return associative_scan(lambda a, b: operator(a, b, np), elements, reverse)


# -- the elements -------------------------------------------------------------------------------

class _Observed:
    """The observations with their missing entries dropped, time-major (T, batch, …): the
    mask s, L with its missing rows 0, the masked residual's y part s(y − b), and R with
    the missing rows and columns the identity's."""

    def __init__(self, L, b, R, ys, xp):
        seen = ~xp.isnan(ys)
        s = seen.astype(ys.dtype)
        k = ys.shape[-1]
        self.s = s
        self.L = s[..., None] * L
        self.y = s * (xp.where(seen, ys, 0.0) - b)
        self.R = (R * (s[..., :, None] * s[..., None, :])
                  + xp.eye(k, dtype=ys.dtype) * (1 - s)[..., None, :])


def filtering_elements(F, u, Q, observed, xp=np):
    """The filtering elements of steps with transition x_{t−1} ↦ N(F x + u, Q) and the
    observation of y_t (``_Observed``): S = HQHᵀ + R, K = QHᵀS⁻¹, A = (I − KH)F,
    b = u + K(y − Hu − d), C = (I − KH)Q, η = FᵀHᵀS⁻¹(y − Hu − d), J = FᵀHᵀS⁻¹HF,
    H, d, R over the observed rows. The first step is F = 0, u = m0, Q = P0 (the
    prior conditioned on y₀: A = 0, η = 0, J = 0); a missing y_t gives (F, u, Q, 0, 0)."""
    H = observed.L
    d = Q.shape[-1]
    HQ = H @ Q
    HF = H @ F
    r = observed.y - _mv(H, u)
    S = HQ @ _T(H, xp) + observed.R
    HQ, r, HF, S = _common(xp, (HQ, 2), (r, 1), (HF, 2), (S, 2))
    try:
        solved = xp.linalg.solve(S, xp.concatenate([HQ, r[..., None], HF], -1))
    except np.linalg.LinAlgError:                       # NumPy only: JAX gives inf or NaN
        raise ValueError(_not_positive(S, "L Q Lᵀ + R")) from None
    Kt, z, W = solved[..., :d], solved[..., d], solved[..., d + 1:]     # Kᵀ = S⁻¹HQ
    K = _T(Kt, xp)
    HFt = _T(HF, xp)
    return (F - K @ HF, u + _mv(_T(HQ, xp), z), _sym(Q - _T(HQ, xp) @ Kt, xp),
            _mv(HFt, z), _sym(HFt @ W, xp))


def smoothing_elements(means, covs, A, beta, Q, xp=np):
    """The smoothing elements of the filtered moments (time-major) under the transitions
    x_{t+1} ~ N(A_t x_t + β_t, Q_t): for t < T − 1, E = P Aᵀ(A P Aᵀ + Q)⁻¹ (solved),
    g = m − E(A m + β), L = P − E A P; at T − 1, (0, m, P)."""
    m, P = means[:-1], covs[:-1]
    A, beta, Q = A[:-1], beta[:-1], Q[:-1]
    AP = A @ P
    predicted = _sym(AP @ _T(A, xp) + Q, xp)
    AP, predicted = _common(xp, (AP, 2), (predicted, 2))
    try:
        Et = xp.linalg.solve(predicted, AP)              # Eᵀ = (A P Aᵀ + Q)⁻¹ A P
    except np.linalg.LinAlgError:                        # NumPy only: JAX gives inf or NaN
        d = predicted.shape[-1]
        t = int(np.nonzero((np.linalg.matrix_rank(predicted) < d).reshape(len(predicted), -1)
                           .any(1))[0][0])
        raise ValueError(
            f"parallel_smoother: the predicted covariance A P Aᵀ + Q of x_{t + 1} given the "
            f"data up to y_{t} is singular (x_{t + 1} is known exactly in some direction: a "
            f"singular P0 or A with a rank-deficient Q); the RTS gain (A P Aᵀ + Q)⁻¹ of the "
            f"parallel smoother needs it nonsingular. chains.smoother, whose guiding never "
            f"inverts it, smooths such a chain; parallel_filter filters it") from None
    E = _T(Et, xp)
    g = m - _mv(E, _mv(A, m) + beta)
    L = _sym(P - E @ AP, xp)
    last = (xp.zeros_like(covs[-1:]), means[-1:], covs[-1:])
    return tuple(xp.concatenate([x, y], 0) for x, y in zip((E, g, L), last))


def _not_positive(S, what):
    """The message for an observation's covariance S (time-major) that is not ≻ 0."""
    eigenvalues = np.linalg.eigvalsh(S).reshape(len(S), -1)
    t = int(np.nonzero((eigenvalues <= 0).any(1))[0][0]) if (eigenvalues <= 0).any() else 0
    return (f"the covariance {what} of y_{t} (over its observed entries) is not positive "
            f"definite (a positive definite R makes it so)")


def _log_evidence(F, u, Q, observed, means, covs, xp):
    """Σ_t log N(y_t; H m⁻ + d, H P⁻ Hᵀ + R) over the observed entries, with the
    predictions m⁻ = F m_{t−1} + u, P⁻ = F P_{t−1} Fᵀ + Q (F = 0 at t = 0): one pass."""
    m_prev = xp.concatenate([xp.zeros_like(means[:1]), means[:-1]], 0)
    P_prev = xp.concatenate([xp.zeros_like(covs[:1]), covs[:-1]], 0)
    H = observed.L
    m_pred = _mv(F, m_prev) + u
    P_pred = F @ P_prev @ _T(F, xp) + Q
    r = observed.y - _mv(H, m_pred)
    S = _sym(H @ P_pred @ _T(H, xp) + observed.R, xp)
    r, S = _common(xp, (r, 1), (S, 2))
    try:
        root = xp.linalg.cholesky(S)                    # S = CCᵀ ≻ 0 (R ≻ 0)
    except np.linalg.LinAlgError:                       # NumPy only: JAX gives NaN
        raise ValueError(_not_positive(S, "L P Lᵀ + R")) from None
    z = xp.linalg.solve(root, r[..., None])[..., 0]     # C⁻¹r
    logdet = 2 * xp.log(xp.diagonal(root, axis1=-2, axis2=-1)).sum(-1)
    terms = -0.5 * ((z * z).sum(-1) + logdet + LOG_2PI * observed.s.sum(-1))
    return terms.sum(0)


# -- the inputs --------------------------------------------------------------------------------

_BASE = {"m0": ("d", ), "P0": ("d", "d"), "A": ("d", "d"), "beta": ("d", ), "Q": ("d", "d"),
         "L": ("k", "d"), "b": ("k", ), "R": ("k", "k")}
_NAMES = tuple(_BASE)


def _time_major(who, name, x, d, k, T, batch, xp):
    """A parameter as (T or 1, batch or 1, …): constant, (T, …) per step, or (batch, T, …)."""
    sizes = {"d": d, "k": k}
    base = tuple(sizes[s] for s in _BASE[name])
    shape = tuple(x.shape)
    if shape == base:
        return x[None, None]
    if name not in ("m0", "P0"):
        if shape == (T, ) + base:
            return x[:, None]
        if batch is not None and shape == (batch, T) + base:
            return xp.swapaxes(x, 0, 1)
    names = "×".join(_BASE[name])
    if name in ("m0", "P0"):
        wanted = f"{base} ({names}, constant)"
    else:
        wanted = (f"{base} ({names}, constant), {(T, ) + base} per step"
                  + (f" or {(batch, T) + base} per series and step" if batch is not None else ""))
    raise ValueError(f"{who}: {name} has shape {shape}; expected {wanted}, with d = {d} the "
                     f"state's size (from m0), k = {k} an observation's (from ys), T = {T} steps")


def _inputs(who, params, ys, xp):
    """(time-major parameters by name, ys time-major (T, batch, k), batched?)."""
    if ys.ndim not in (2, 3):
        raise ValueError(f"{who}: ys has shape {tuple(ys.shape)}; expected (T, k) or "
                         f"(batch, T, k), NaN where an entry is missing")
    batched = ys.ndim == 3
    T, k = ys.shape[-2:]
    if T < 1:
        raise ValueError(f"{who}: ys has no steps (shape {tuple(ys.shape)})")
    m0 = params["m0"]
    if m0.ndim != 1:
        raise ValueError(f"{who}: m0 has shape {tuple(m0.shape)}; expected (d,), the prior mean")
    d = m0.shape[0]
    batch = ys.shape[0] if batched else None
    named = {n: _time_major(who, n, params[n], d, k, T, batch, xp) for n in _NAMES}
    ys = xp.swapaxes(ys, 0, 1) if batched else ys[:, None]
    return named, ys, batched


def _filtered(p, ys, xp, scan):
    """The filtered moments (time-major), the steps' (F, u, Q) and the observed data."""
    T = ys.shape[0]
    d = p["m0"].shape[-1]

    def shifted(first, x):          # step t reads the transition of step t − 1
        x = xp.broadcast_to(x, (T, ) + x.shape[1:])[:-1]
        first = xp.broadcast_to(first, (1, ) + x.shape[1:])
        return xp.concatenate([first, x], 0)
    A = p["A"]
    F = shifted(xp.zeros((1, 1, d, d), dtype=ys.dtype), A)
    u = shifted(p["m0"], p["beta"])
    Q = shifted(p["P0"], p["Q"])
    observed = _Observed(p["L"], p["b"], p["R"], ys, xp)
    elements = filtering_elements(F, u, Q, observed, xp)
    elements = _common(xp, *zip(elements, (2, 1, 2, 1, 2)))
    _, means, covs, _, _ = scan(filtering_operator, elements)
    return means, covs, F, u, Q, observed


def _moments(who, xp, scan, args):
    """The inputs read, the filtered moments and log p(y): (parameters, ys, batched, means,
    covariances, log p), time-major."""
    params, ys, batched = _inputs(who, dict(zip(_NAMES, args)), ys=args[-1], xp=xp)
    try:
        means, covs, F, u, Q, observed = _filtered(params, ys, xp, scan)
        logp = _log_evidence(F, u, Q, observed, means, covs, xp)
    except ValueError as error:                 # an observation's covariance, by its step
        raise ValueError(f"{who}: {error}") from None
    return params, ys, batched, means, covs, logp


def _filter(xp, scan, *args):
    _, _, batched, means, covs, logp = _moments("parallel_filter", xp, scan, args)
    return _series((means, covs), logp, batched, xp)


def _smooth(xp, scan, *args):
    params, ys, batched, means, covs, logp = _moments("parallel_smoother", xp, scan, args)
    T = ys.shape[0]
    A, beta, Q = (xp.broadcast_to(params[n], (T, ) + params[n].shape[1:])
                  for n in ("A", "beta", "Q"))
    elements = smoothing_elements(means, covs, A, beta, Q, xp)
    elements = _common(xp, *zip(elements, (2, 1, 2)))
    _, ms, Ps = scan(smoothing_operator, elements, reverse=True)
    E = elements[0]
    last = Ps[-1:] @ _T(xp.broadcast_to(A[-1:], Ps[-1:].shape), xp)     # Cov(x_{T−1}, x_T | y)
    lag = xp.concatenate([E[:-1] @ Ps[1:], last], 0)
    return _series((ms, Ps, lag), logp, batched, xp)


def _series(sequences, logp, batched, xp):
    """Time-major (T, batch, …) back to (batch, T, …), or (T, …) and a number unbatched."""
    if batched:
        return tuple(xp.swapaxes(s, 0, 1) for s in sequences) + (logp, )
    return tuple(s[:, 0] for s in sequences) + (logp[0], )


# -- the entry points ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _jitted(which):
    import jax
    from jax import numpy as jnp
    return jax.jit(functools.partial(which, jnp, _jax_scan))


def _run(which, who, args, xp):
    if xp is np:
        arrays = [np.asarray(a) for a in args]
        dtype = np.result_type(*(a.dtype for a in arrays), np.float32)
        return which(np, _numpy_scan, *(a.astype(dtype, copy=False) for a in arrays))
    if getattr(xp, "__name__", None) != "jax.numpy":
        raise TypeError(f"{who}: xp is NumPy or jax.numpy, got {xp!r}")
    import jax
    dtypes = [a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype for a in args]
    dtype = np.result_type(*dtypes, np.float32)
    if dtype == np.float64 and not jax.config.jax_enable_x64:
        raise TypeError(f"{who}: the inputs are float64, but JAX is in 32-bit mode and would "
                        f"compute in 32 bits; turn on 64-bit mode first "
                        f"(jax.config.update(\"jax_enable_x64\", True)), or pass float32 arrays")
    return _jitted(which)(*(xp.asarray(a, dtype=dtype) for a in args))


def parallel_filter(m0, P0, A, beta, Q, L, b, R, ys, xp=np):
    """The filtered means (…, T, d) and covariances (…, T, d, d) of p(x_t | y_{0:t}) and log p(y)
    (one per series) of the linear-Gaussian chain (the module's docstring), by the prefix
    products of the filtering elements; ``xp``: NumPy or jax.numpy.

    >>> import numpy as np
    >>> I = np.eye(1)
    >>> means, covs, logp = parallel_filter(np.zeros(1), I, I, np.zeros(1), I, I, np.zeros(1), I,
    ...                                     np.array([[1.0], [1.0]]))
    >>> means[:, 0], covs[:, 0, 0]           # 1/2, then (1/2 + 3/2 · 1)/(1 + 3/2) = 4/5
    (array([0.5, 0.8]), array([0.5, 0.6]))
    """
    return _run(_filter, "parallel_filter", (m0, P0, A, beta, Q, L, b, R, ys), xp)


def parallel_smoother(m0, P0, A, beta, Q, L, b, R, ys, xp=np):
    """The smoothed means (…, T, d), covariances (…, T, d, d), lag-one covariances
    Cov(x_t, x_{t+1} | y) (…, T, d, d; at the last step with the state x_T after the data,
    P_{T−1}Aᵀ) and log p(y) of the linear-Gaussian chain, as ``chains.smoother`` gives
    them: the filter's prefix products, then the suffix products of the smoothing
    elements; ``xp``: NumPy or jax.numpy.

    >>> I = np.eye(1)
    >>> means, covs, lag, logp = parallel_smoother(np.zeros(1), I, I, np.zeros(1), I, I,
    ...                                            np.zeros(1), I, np.array([[2.0]]))
    >>> means.tolist(), covs.tolist()                 # x₀ | y₀ = 2 ~ N(1, 1/2)
    ([[1.0]], [[[0.5]]])
    """
    return _run(_smooth, "parallel_smoother", (m0, P0, A, beta, Q, L, b, R, ys), xp)
