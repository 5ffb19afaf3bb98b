"""The message algebra of BFFG as diagrams of generators (``reference/bffg.md`` §2–§6).

A Gaussian message h(x) = exp(c + Fᵀx − ½ xᵀHx) on R^d is three wires,
``gaussian(d)`` = c ⊗ F ⊗ H (H possibly singular: never inverted); a message
on a finite state space of S states is two, ``discrete(S)`` = c ⊗ ĥ, the
log-scale c and ĥ normalised (Σĥ = 1, §6). The backward filter's operations
are diagrams of the generators (``categories.linalg``), so that R, the
tangent, the code generator and the JAX backend apply to them as to any
model:

| diagram | wires | rule |
|---|---|---|
| ``leaf(k, d)`` | L ⊗ b ⊗ R ⊗ y → gaussian(d) | y ~ N(Lx + b, R) observed, NaN entries missing |
| ``pullback(d, d′)`` | A ⊗ β ⊗ Q ⊗ gaussian(d′) → gaussian(d) | through x′ ~ N(Ax + β, Q), with M = I + HQ solved |
| ``evidence(d)`` | m ⊗ P ⊗ gaussian(d) → Real() | log ∫ N(x; m, P) h(x) dx: at a prior root, log p(y) |
| ``fuse(d)`` | gaussian(d) ⊗ gaussian(d) → gaussian(d) | a copy: the sum |
| ``guide(d)`` | μ ⊗ Q ⊗ F ⊗ H → mean ⊗ covariance | the guided kernel N(G(μ + QF), GQ), G = (I + QH)⁻¹ |
| ``emission(S, n)`` | E ⊗ y → discrete(S) | a symbol y ~ E[x, ·] observed (NaN: missing) |
| ``discrete_pullback(S, S′)`` | K ⊗ discrete(S′) → discrete(S) | through x′ ~ K[x, ·] |
| ``discrete_fuse(S)``, ``discrete_evidence(S)`` | | the product; log p ⋅ ĥ |

Missing entries are read by two generators: ``Observed`` (an observation's
mask and its values, 0 where missing) and ``OneHot`` (a symbol's indicator).
Both are locally constant in what they drop, so the cotangent of a missing
entry is 0, never NaN.

>>> import numpy as np
>>> from paralens.interpreters.numpy import compile
>>> message = compile(leaf(1, 1))(np.eye(1), np.zeros(1), np.eye(1), np.array([0.5]))
>>> [round(float(np.ravel(v)[0]), 6) for v in message]      # c, F, H of N(0.5; x, 1)
[-1.043939, 0.5, 1.0]
>>> round(float(compile(evidence(1))(np.zeros(1), np.eye(1), *message)), 6)  # log N(0.5; 0, 2)
-1.328012
"""

from __future__ import annotations

import math

from .adapter import Diagram, Real, Ty, whole
from .generator import Generator
from .linalg import Einsum, Eye, LogDet, Solve
from .smooth import Log, Reciprocal, Spread, Sum
from .structural import Zero, discard
from .syntax import function

__all__ = ["gaussian", "discrete", "Observed", "OneHot", "leaf", "pullback", "evidence",
           "fuse", "guide", "emission", "discrete_pullback", "discrete_fuse", "discrete_evidence",
           "LOG_2PI"]

LOG_2PI = math.log(2 * math.pi)


def _size(n, what: str) -> int:
    return whole(n, what, 1)


def gaussian(d: int) -> Ty:
    """The wires of a Gaussian message on R^d: c ⊗ F ⊗ H.

    >>> gaussian(2)
    Real() @ Real(2) @ Real(2, 2)
    """
    d = _size(d, "gaussian: d")
    return Real() @ Real(d) @ Real(d, d)


def discrete(S: int) -> Ty:
    """The wires of a message on S states: the log-scale c ⊗ the normalised ĥ.

    >>> discrete(3)
    Real() @ Real(3)
    """
    return Real() @ Real(_size(S, "discrete: S"))


class Observed(Generator):
    """y ↦ s ⊗ ỹ: the mask s (1 where y is observed, 0 where it is NaN: missing) and y
    with its missing entries 0. R: (s, s̄, ỹ̄) ↦ s ⊙ ỹ̄ (the mask is locally constant).

    >>> import numpy as np
    >>> from paralens.interpreters.numpy import compile
    >>> compile(Observed(2))(np.array([1.5, np.nan]))
    (array([1., 0.]), array([1.5, 0. ]))
    """

    def __init__(self, k: int):
        self.k = _size(k, "Observed: k")
        y = Real(self.k)
        super().__init__("Observed", y, y @ y)

    def residual(self):
        return self.dom

    def forward(self):
        y = self.dom
        return function(y, y @ y @ y)(lambda v: (lambda s, f: (s, s, f))(*self(v)))

    def backward(self):
        y = self.dom
        return function(y @ y @ y, y)(lambda s, ds, df: s * df)

    @classmethod
    def example(cls, n):
        return cls(n)


def _symbols(wire, rng, batch):
    """Symbols 0 or 1: inside the domain of every OneHot (n ≥ 2), for the law tests (whose
    cotangent wires are drawn by the same sampler, so none is NaN)."""
    shape = (batch, *wire.shape) if batch else wire.shape
    return rng.integers(0, 2, size=shape).astype(wire.dtype)


class OneHot(Generator):
    """A symbol y (a number 0 … n − 1, NaN: missing) ↦ s ⊗ e: s = 1 if it is observed,
    else 0, and e its indicator vector (0 if missing). Locally constant: R is 0. Its
    domain is the symbols (``total = False``): any other number is refused at the call.

    >>> import numpy as np
    >>> from paralens.interpreters.numpy import compile
    >>> compile(OneHot(3))(np.array([2.0, np.nan]))
    (array([1., 0.]), array([[0., 0., 1.],
           [0., 0., 0.]]))
    """

    smooth = False
    total = False
    discrete = True         # a discrete domain: no central differences, no symbols
    sample = staticmethod(_symbols)

    def __init__(self, n: int):
        self.n = _size(n, "OneHot: n (the symbols)")
        super().__init__("OneHot", Real(), Real() @ Real(self.n))

    def residual(self):
        return Ty()

    def forward(self):
        return self

    def backward(self):
        return discard(self.cod) >> Zero(self.dom)

    @classmethod
    def example(cls, n):
        return cls(n + 1)


def _pulled(d, beta, Q, c, F, H):
    """The pullback before the map A: (c⁻, F̂ − Ĥβ, Ĥ, M⁻¹), Ĥ = M⁻¹H, F̂ = M⁻¹F, M = I + HQ
    (M⁻¹ transposed is guiding's gain (I + QH)⁻¹)."""
    M = Eye(d)() + H @ Q
    G = Solve(d, d)(M, Eye(d)())            # M⁻¹: one solve serves Ĥ and F̂
    Hh = G @ H
    Hh = 0.5 * (Hh + Hh.T)
    Fh = G @ F
    Hb = Hh @ beta
    c_new = c - 0.5 * LogDet(d)(M) + 0.5 * (F @ (Q @ Fh)) + beta @ Fh - 0.5 * (beta @ Hb)
    return c_new, Fh - Hb, Hh, G


def pullback(d: int, d_out: int | None = None) -> Diagram:
    """A ⊗ β ⊗ Q ⊗ (c, F, H) on R^d′ ↦ the message on R^d pulled back through
    x′ ~ N(Ax + β, Q) (A: d′ × d, Q ⪰ 0, possibly singular or 0): with M = I + HQ,
    Ĥ = M⁻¹H, F̂ = M⁻¹F, H⁻ = AᵀĤA, F⁻ = Aᵀ(F̂ − Ĥβ), c⁻ = c − ½ log det M +
    ½ FᵀQF̂ + βᵀF̂ − ½ βᵀĤβ (§3).

    >>> pullback(2, 3).dom
    Real(3, 2) @ Real(3) @ Real(3, 3) @ Real() @ Real(3) @ Real(3, 3)
    """
    d = _size(d, "pullback: d")
    e = d if d_out is None else _size(d_out, "pullback: d_out")

    @function(Real(e, d) @ Real(e) @ Real(e, e) @ gaussian(e), gaussian(d))
    def pulled(A, beta, Q, c, F, H):
        c_new, G, Hh, _ = _pulled(e, beta, Q, c, F, H)
        return c_new, A.T @ G, A.T @ (Hh @ A)
    return pulled


def evidence(d: int) -> Diagram:
    """m ⊗ P ⊗ (c, F, H) ↦ log ∫ N(x; m, P) h(x) dx: the pullback through the prior, a
    kernel out of the unit; at the root of a model, log p(y).

    >>> evidence(2).cod
    Real()
    """
    d = _size(d, "evidence: d")

    @function(Real(d) @ Real(d, d) @ gaussian(d), Real())
    def root(m, P, c, F, H):
        return _pulled(d, m, P, c, F, H)[0]
    return root


def fuse(d: int) -> Diagram:
    """Two messages on one wire fused (a copy of the wire): their sum.

    >>> fuse(2).dom == gaussian(2) @ gaussian(2)
    True
    """
    g = gaussian(d)
    return function(g @ g, g)(lambda c1, F1, H1, c2, F2, H2: (c1 + c2, F1 + F2, H1 + H2))


def leaf(k: int, d: int) -> Diagram:
    """L ⊗ b ⊗ R ⊗ y ↦ the message of the observation y ~ N(Lx + b, R), R ≻ 0, over its
    observed entries (NaN: missing): H = LᵀR⁻¹L, F = LᵀR⁻¹(y − b), c = −½ rᵀR⁻¹r −
    ½ log det 2πR. A missing entry's row of L and of b is masked and its row and column
    of R replaced by the identity's, so that one diagram serves every pattern.

    >>> leaf(2, 3).dom
    Real(2, 3) @ Real(2) @ Real(2, 2) @ Real(2)
    """
    k, d = _size(k, "leaf: k"), _size(d, "leaf: d")
    rows = Einsum("i,ij->ij", Real(k), Real(k, k))

    @function(Real(k, d) @ Real(k) @ Real(k, k) @ Real(k), gaussian(d))
    def observation(L, b, R, y):
        s, y0 = Observed(k)(y)
        Ls = Einsum("i,ij->ij", Real(k), Real(k, d))(s, L)
        r = s * (y0 - b)
        Rs = R * Einsum("i,j->ij", Real(k), Real(k))(s, s) + rows(1.0 - s, Eye(k)())
        X, z = Solve(k, d)(Rs, Ls), Solve(k)(Rs, r)
        c = -0.5 * (r @ z) - 0.5 * LogDet(k)(Rs) - (0.5 * LOG_2PI) * Sum(Real(k))(s)
        return c, Ls.T @ z, Ls.T @ X
    return observation


# -- finite state spaces ----------------------------------------------------------------------

def _normalised(S, c, u):
    """(c + log Σu, u / Σu)."""
    total = Sum(Real(S))(u)
    scaled = u * Spread(Real(S))(Reciprocal(Real())(total))
    logged = Log(Real())(total)
    return (logged if c is None else c + logged), scaled


def emission(S: int, n: int) -> Diagram:
    """E ⊗ y ↦ the message of a symbol y ~ E[x, ·] (S states, n symbols), NaN missing:
    ĥ ∝ E[:, y] (1 if missing).

    >>> emission(3, 4).dom
    Real(3, 4) @ Real()
    """
    S, n = _size(S, "emission: S"), _size(n, "emission: n")

    @function(Real(S, n) @ Real(), discrete(S))
    def emitted(E, y):
        seen, e = OneHot(n)(y)
        u = Spread(Real(S))(seen) * (E @ e) + Spread(Real(S))(1.0 - seen)
        return _normalised(S, None, u)
    return emitted


def discrete_pullback(S: int, S_out: int | None = None) -> Diagram:
    """K ⊗ (c, ĥ) ↦ (c + log Σ Kĥ, Kĥ / Σ Kĥ): through x′ ~ K[x, ·], K (S, S′).

    >>> discrete_pullback(2, 3).dom
    Real(2, 3) @ Real() @ Real(3)
    """
    S = _size(S, "discrete_pullback: S")
    e = S if S_out is None else _size(S_out, "discrete_pullback: S_out")
    return function(Real(S, e) @ discrete(e), discrete(S))(
        lambda K, c, h: _normalised(S, c, K @ h))


def discrete_fuse(S: int) -> Diagram:
    """Two messages on one finite wire fused: the product, normalised.

    >>> discrete_fuse(2).cod
    Real() @ Real(2)
    """
    g = discrete(S)
    return function(g @ g, g)(lambda c1, h1, c2, h2: _normalised(S, c1 + c2, h1 * h2))


def discrete_evidence(S: int) -> Diagram:
    """p ⊗ (c, ĥ) ↦ c + log p·ĥ: at a root x ~ p, log p(y).

    >>> discrete_evidence(2).dom
    Real(2) @ Real() @ Real(2)
    """
    S = _size(S, "discrete_evidence: S")
    return function(Real(S) @ discrete(S), Real())(lambda p, c, h: c + Log(Real())(p @ h))


def guide(d: int) -> Diagram:
    """μ ⊗ Q ⊗ (F, H) ↦ the Doob h-transform of N(μ, Q) under h: N(G(μ + QF), GQ) with
    G = (I + QH)⁻¹ (solved), a mean and a covariance (§3, the guided kernel). At a
    root N(m, P) under the fused message, the smoothed marginal; under an
    observation's message, the filtered one.

    >>> guide(2).cod
    Real(2) @ Real(2, 2)
    """
    d = _size(d, "guide: d")

    @function(Real(d) @ Real(d, d) @ Real(d) @ Real(d, d), Real(d) @ Real(d, d))
    def guided(mu, Q, F, H):
        G = Solve(d, d)(Eye(d)() + Q @ H, Eye(d)())
        cov = G @ Q
        return G @ (mu + Q @ F), 0.5 * (cov + cov.T)
    return guided
