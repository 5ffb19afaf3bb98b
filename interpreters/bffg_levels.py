"""BFFG's rules batched over a leading axis: all the boxes of one level of a tree at once.

The backward filter (``interpreters.bffg``) schedules a kernel diagram by level: a box's
backward level is its distance from the leaves, its forward level its distance from the
root, and the boxes of one level and one kernel kind with equal shapes are one array
operation. The rules here are those of ``reference/bffg.md`` §3 and §6 with every array
given a leading axis of n boxes: a kernel's parameters stacked (``STACK``), messages
(c (n,), F (n, d), H (n, d, d)) on R^d and (c (n,), ĥ (n, S)) on finite spaces, marginals
(m (n, d), P (n, d, d)) and p (n, S). Solves and log-determinants broadcast over the
leading axis; H and Q are never inverted.

| table | rule |
|---|---|
| ``STACK`` | kind ↦ (key of a box: what must agree to stack, boxes ↦ stacked parameters) |
| ``BATCH_PULLBACK`` | kind ↦ (parameters, messages on the outputs) ↦ (message on the input or None, log-evidence (n,), G or None) |
| ``BATCH_GUIDE`` | kind ↦ (parameters, messages on the outputs, parent marginals, G) ↦ child marginals |
| ``BATCH_SAMPLE`` | kind ↦ (parameters, output messages, pulled messages, parent values, noise, G) ↦ (child values, log-weights (n,)) |

G = (I + QH)⁻¹ is the guiding gain of a Gaussian kernel under the message on its output.
The pullback solves with M = I + HQ = (I + QH)ᵀ anyway, so it keeps G = (M⁻¹)ᵀ from the
same solve, and guiding (marginals and samples) needs no solve at all: the residual of a
box carries what its forward pass reads.

A kind missing from a table runs box by box (its rule in ``interpreters.bffg``).

>>> import numpy as np
>>> A, beta, Q = np.eye(2)[None], np.zeros((1, 2)), np.zeros((1, 2, 2))
>>> c, F, H = gaussian_pullback(A, beta, Q, (np.zeros(1), np.ones((1, 2)), np.eye(2)[None]))
>>> c.tolist(), F.tolist()                      # Q = 0: h ∘ (A · + β) exactly
([0.0], [[1.0, 1.0]])
"""

from __future__ import annotations

import numpy as np

from ..categories import kernels as _kernels  # noqa: F401  (registers the kernels' names)
from .plan import RuleTable

__all__ = ["STACK", "BATCH_PULLBACK", "BATCH_GUIDE", "BATCH_SAMPLE", "gaussian_pullback",
           "gaussian_guide", "gaussian_log", "gaussian_draw", "discrete_normalise",
           "discrete_draw", "transition_mean"]

LOG_2PI = float(np.log(2 * np.pi))


def _T(a):
    return np.swapaxes(a, -1, -2)


def _sym(a):
    return 0.5 * (a + _T(a))


def _mv(a, x):
    """Matrix times vector over the leading axis: (n, i, j), (n, j) ↦ (n, i)."""
    return (a @ x[..., None])[..., 0]


def _dot(x, y):
    return (x * y).sum(axis=-1)


# -- Gaussian rules (reference §3) ---------------------------------------------------------

def gaussian_pullback(A, beta, Q, message, keep: bool = False):
    """The messages (c, F, H) pulled back through x′ ~ N(A x + β, Q), n at once: with
    M = I + HQ, Ĥ = M⁻¹H, F̂ = M⁻¹F, H⁻ = AᵀĤA, F⁻ = Aᵀ(F̂ − Ĥβ),
    c⁻ = c − ½ log det M + ½ FᵀQF̂ + βᵀF̂ − ½ βᵀĤβ. A None: out of the unit (only c⁻).
    ``keep``: also the guiding gain G = (I + QH)⁻¹ = (M⁻¹)ᵀ, from the same solve."""
    c, F, H = message
    n, d = F.shape
    if d == 0:
        c2 = np.array(c, dtype=float)
        out = (c2, None, None) if A is None else (
            c2, np.zeros((n, A.shape[-1])), np.zeros((n, A.shape[-1], A.shape[-1])))
        return out + ((np.zeros((n, 0, 0)), ) if keep else ())
    M = np.eye(d) + H @ Q
    # one LU per box: M⁻¹ (batched inverse, then products: about twice as fast as a
    # batched solve with d + 1 right-hand sides at d = 8, and it is G's transpose anyway)
    inverse = np.linalg.inv(M)
    Hh, Fh = _sym(inverse @ H), _mv(inverse, F)
    Hb = _mv(Hh, beta)
    logdet = np.linalg.slogdet(M)[1]
    c2 = c - 0.5 * logdet + 0.5 * _dot(F, _mv(Q, Fh)) + _dot(beta, Fh) - 0.5 * _dot(beta, Hb)
    kept = (_T(inverse), ) if keep else ()
    if A is None:
        return (c2, None, None) + kept
    At = _T(A)
    return (c2, _mv(At, Fh - Hb), At @ Hh @ A) + kept


def gaussian_guide(mean, Q, message, G=None):
    """The Doob h-transforms of N(μ, Q) under h, n at once: N(G(μ + QF), GQ) with
    G = (I + QH)⁻¹ (given, or solved for); returns (mean, covariance, G)."""
    _, F, H = message
    d = F.shape[-1]
    if G is None:
        G = np.linalg.solve(np.eye(d) + Q @ H, np.broadcast_to(np.eye(d), H.shape))
    return _mv(G, mean + _mv(Q, F)), _sym(G @ Q), G


def gaussian_log(message, x):
    """log h(x) = c + Fᵀx − ½ xᵀHx, n at once."""
    c, F, H = message
    return c + _dot(F, x) - 0.5 * _dot(x, _mv(H, x))


def gaussian_draw(mean, cov, z):
    """mean + cov^{1/2} z with the symmetric square root of cov ⪰ 0 (possibly singular),
    n at once: the draw is a continuous function of cov, so two schedules that compute cov
    to rounding give the same draw to rounding."""
    values, vectors = np.linalg.eigh(cov)
    return mean + _mv(vectors, _root(values) * _mv(_T(vectors), z))


def _root(values):
    """√λ of a covariance's eigenvalues, those at rounding level (≤ 1e-13 λ_max: a singular
    covariance's zeros, computed to rounding) set to 0: √ would blow their rounding up to
    ~1e-8, the one place where a draw is not a smooth function of the covariance."""
    top = np.max(np.abs(values), axis=-1, keepdims=True)
    return np.sqrt(np.where(values > 1e-13 * top, values, 0.0))


def _stack_gaussian(boxes):
    return (np.stack([b.A for b in boxes]), np.stack([b.beta for b in boxes]),
            np.stack([b.Q for b in boxes]))


def _stack_transition(boxes):
    aux = [b.auxiliary for b in boxes]
    return _stack_gaussian(aux) + (np.stack([b.Q for b in boxes]), list(boxes))


def _stack_prior(boxes):
    return np.stack([b.m for b in boxes]), np.stack([b.P for b in boxes])


def _stack_observe(boxes):
    """The leaves' messages themselves (they depend on the data only): y ~ N(Lx + b, R) over
    the observed entries, H = LᵀR⁻¹L, F = LᵀR⁻¹(y − b), c = −½ rᵀR⁻¹r − ½ log det 2πR.
    The missing entries are decoupled (their rows of L and residuals set to 0, their block
    of R to the identity), so one batched Cholesky factor serves every pattern."""
    L = np.stack([b.L for b in boxes])
    R = np.stack([b.R for b in boxes])
    y = np.stack([b.y for b in boxes])
    r = y - np.stack([b.b for b in boxes])
    seen = ~np.isnan(y)
    both = seen[:, :, None] & seen[:, None, :]
    k = y.shape[1]
    R = np.where(both, R, np.broadcast_to(np.eye(k), R.shape))
    L, r, count = np.where(seen[..., None], L, 0.0), np.where(seen, r, 0.0), seen.sum(axis=1)
    chol = np.linalg.cholesky(R)
    wL = np.linalg.solve(chol, L)
    wr = np.linalg.solve(chol, r[..., None])[..., 0]
    c = (-0.5 * _dot(wr, wr) - 0.5 * count * LOG_2PI
         - np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1))
    return c, _mv(_T(wL), wr), _T(wL) @ wL


def _pull_gaussian(params, outs):
    A, beta, Q = params[:3]
    *message, G = gaussian_pullback(A, beta, Q, outs, keep=True)
    return tuple(message), 0.0, G


def _pull_transition(params, outs):
    A, beta, Q = params[:3]
    return gaussian_pullback(A, beta, Q, outs), 0.0, None    # G is the auxiliary's


def _pull_prior(params, outs):
    m, P = params
    c, _, _, G = gaussian_pullback(None, m, P, outs, keep=True)
    return None, c, G


def _pull_observe(params, outs):
    """The leaves' messages, made once with the stacked parameters (``_stack_observe``)."""
    return params, 0.0, None


def _guide_gaussian(params, message, parents, G):
    A, beta, Q = params
    m, P = parents
    mean, cov, G = gaussian_guide(_mv(A, m) + beta, Q, message, G)
    GA = G @ A
    return mean, _sym(GA @ P @ _T(GA)) + cov


def _guide_prior(params, message, parents, G):
    m, P = params
    mean, cov, _ = gaussian_guide(m, P, message, G)
    return mean, cov


def _sample_gaussian(params, message, pulled, x, z, G):
    """A linear-Gaussian kernel is its own auxiliary: its log-weight
    ℓ(Ax + β, Q) − log h⁻(x) is 0 identically (h⁻ is that very pullback), so it is 0 here;
    the reference rule computes it, to rounding."""
    A, beta, Q = params
    mean, cov, _ = gaussian_guide(_mv(A, x) + beta, Q, message, G)
    return gaussian_draw(mean, cov, z), 0.0


def transition_mean(box, x) -> np.ndarray:
    """f(x) of a ``Transition`` box, checked: the state's shape, real (an exact conversion
    to float64: a complex value's imaginary part is never dropped) and finite. Both
    schedules of guided sampling call it, so that they refuse the same f alike.

    >>> from paralens.categories.kernels import Gaussian, Transition
    >>> box = Transition(lambda x: x + 1j, 1.0, Gaussian([[1.0]], Q=1.0), name="f1")
    >>> transition_mean(box, np.zeros(1))
    Traceback (most recent call last):
    ...
    TypeError: Transition f1: f returned [0.+1.j] at [0.]: complex128, whose imaginary part would be lost
    """
    value = np.asarray(box.f(x))
    d = box.cod.inside[0].shape[0]
    if value.dtype.kind == "c" or not np.can_cast(value.dtype, np.float64, "safe"):
        lost = "whose imaginary part would be lost" if value.dtype.kind == "c" else \
            "not real numbers that convert exactly to float64"
        raise TypeError(f"Transition {box.name}: f returned {value} at {x}: {value.dtype}, "
                        f"{lost}")
    mu = value.astype(float)
    if mu.shape != (d, ):
        raise ValueError(f"Transition {box.name}: f returned shape {mu.shape}, expected "
                         f"{(d, )}")
    if not np.all(np.isfinite(mu)):
        raise ValueError(f"Transition {box.name}: f returned {mu} at {x}: not finite")
    return mu


def _sample_transition(params, message, pulled, x, z, G):
    Q, boxes = params[3:]
    mu = np.stack([transition_mean(box, xi) for box, xi in zip(boxes, x)])
    mean, cov, _ = gaussian_guide(mu, Q, message)
    weight = gaussian_pullback(None, mu, Q, message)[0] - gaussian_log(pulled, x)
    return gaussian_draw(mean, cov, z), weight


def _sample_prior(params, message, pulled, x, z, G):
    m, P = params
    mean, cov, _ = gaussian_guide(m, P, message, G)
    return gaussian_draw(mean, cov, z), 0.0


# -- discrete rules (reference §6) -----------------------------------------------------------

def discrete_normalise(c, u):
    """(c + log Σu, u / Σu) row by row; a row with Σu = 0 (impossible) gets c = −∞."""
    total = u.sum(axis=1)
    bad = ~(total > 0)
    safe = np.where(bad, 1.0, total)
    return np.where(bad, -np.inf, c + np.log(safe)), u / safe[:, None]


def discrete_draw(p, u):
    """The index drawn from each row of probabilities p by the uniform u (inverse CDF)."""
    cdf = np.cumsum(p, axis=1)
    cdf /= cdf[:, -1:]
    return (cdf <= u[:, None]).sum(axis=1).astype(np.int64)


def _stack_stochastic(boxes):
    return (np.stack([b.K for b in boxes]), )


def _stack_categorical(boxes):
    return (np.stack([b.p for b in boxes]), )


def _stack_emit(boxes):
    E = np.stack([b.E for b in boxes])
    missing = np.array([b.y is None for b in boxes])
    ys = np.array([0 if b.y is None else b.y for b in boxes])
    u = np.where(missing[:, None], 1.0, E[np.arange(len(boxes)), :, ys])
    return (u, )


def _pull_stochastic(params, outs):
    (K, ) = params
    c, h = outs
    return discrete_normalise(c, _mv(K, h)), 0.0, None


def _pull_categorical(params, outs):
    (p, ) = params
    c, h = outs
    with np.errstate(divide="ignore"):       # an impossible observation: −∞, refused above
        return None, c + np.log(_dot(p, h)), None


def _pull_emit(params, outs):
    (u, ) = params
    return discrete_normalise(np.zeros(len(u)), u), 0.0, None


def _guide_stochastic(params, message, parents, G):
    (K, ) = params
    _, h = message
    joint = parents[:, :, None] * K * h[:, None, :]
    rows = _mv(K, h)
    joint = np.divide(joint, rows[:, :, None], out=np.zeros_like(joint),
                      where=rows[:, :, None] > 0)
    return joint.sum(axis=1)


def _guide_categorical(params, message, parents, G):
    (p, ) = params
    p = p * message[1]
    return p / p.sum(axis=1, keepdims=True)


def _sample_stochastic(params, message, pulled, x, u, G):
    (K, ) = params
    c, h = message
    row = K[np.arange(len(x)), x] * h
    total = row.sum(axis=1)
    weight = np.log(total) + c - (pulled[0] + np.log(pulled[1][np.arange(len(x)), x]))
    return discrete_draw(row / total[:, None], u), weight


def _sample_categorical(params, message, pulled, x, u, G):
    (p, ) = params
    p = p * message[1]
    return discrete_draw(p / p.sum(axis=1, keepdims=True), u), 0.0


def _shapes(*names):
    return lambda box: tuple(getattr(box, name).shape for name in names)


STACK = RuleTable("BFFG stacked parameters", {
    "Gaussian": (_shapes("A"), _stack_gaussian),
    "Transition": (_shapes("Q"), _stack_transition),
    "Prior": (_shapes("m"), _stack_prior),
    "Observe": (_shapes("L"), _stack_observe),
    "Stochastic": (_shapes("K"), _stack_stochastic),
    "Categorical": (_shapes("p"), _stack_categorical),
    "Emit": (_shapes("E"), _stack_emit),
})

BATCH_PULLBACK = RuleTable("BFFG level-batched pullbacks", {
    "Gaussian": _pull_gaussian,
    "Transition": _pull_transition,
    "Prior": _pull_prior,
    "Observe": _pull_observe,
    "Stochastic": _pull_stochastic,
    "Categorical": _pull_categorical,
    "Emit": _pull_emit,
})

#: None: the kind makes no value (a leaf): nothing to do going forward
BATCH_GUIDE = RuleTable("BFFG level-batched guides", {
    "Gaussian": _guide_gaussian,
    "Prior": _guide_prior,
    "Observe": None,
    "Stochastic": _guide_stochastic,
    "Categorical": _guide_categorical,
    "Emit": None,
})

BATCH_SAMPLE = RuleTable("BFFG level-batched guided samples", {
    "Gaussian": _sample_gaussian,
    "Transition": _sample_transition,
    "Prior": _sample_prior,
    "Observe": None,
    "Stochastic": _sample_stochastic,
    "Categorical": _sample_categorical,
    "Emit": None,
})
