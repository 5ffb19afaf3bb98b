"""The laws of BFFG on the IR: smoothing is a functor, stated as pairs of diagrams.

Backward filtering forward guiding sends each linear-Gaussian kernel to an optic
(``reference/bffg.md`` §8): backward, the pullback of a message; forward, the
guided kernel. That it is a functor, optic(κ₁ ; κ₂) = optic(κ₁) ; optic(κ₂), is
two laws on the message algebra of ``categories.messages``, with the composite
kernel x₂ ~ N(A₂A₁x + A₂β₁ + β₂, A₂Q₁A₂ᵀ + Q₂):

* ``pullback_composition``: pulling back through the composite is pulling back
  through κ₂, then κ₁ (the backward half);
* ``guide_composition``: from x ~ N(m, P), the law of x₂ under the composite's
  guided kernel is that of guiding x₁ under the pulled-back message, then x₂ (the
  forward half; the marginals, which the guided samples follow);

and the evidence at a root, ``evidence_composition``: a prior pushed through a
kernel then met with h is the prior met with the pulled-back h. Their inputs are
matrices that must be covariances where they stand for one: check them with
:func:`covariances`, which draws every square matrix positive semi-definite.

>>> from paralens.categories import laws
>>> from paralens.interpreters.numpy import compile
>>> laws.check(pullback_composition(2, 3, 1), compile, sample=covariances()).ok
True
"""

from __future__ import annotations

import numpy as np

from .adapter import Real
from .checking import Law, uniform
from .messages import evidence, gaussian, pullback
from .linalg import Eye, Solve
from .syntax import function

__all__ = ["pullback_composition", "guide_composition", "evidence_composition",
           "kernel_laws", "covariances"]


def covariances(low: float = -1.0, high: float = 1.0):
    """Random points (as ``checking.uniform``) whose square matrices are positive
    semi-definite (X Xᵀ / n of a uniform X): kernels' covariances and messages' H.

    >>> M = covariances()(Real(2, 2).inside[0], np.random.default_rng(0), 0)
    >>> bool(np.linalg.eigvalsh(M).min() >= 0)
    True
    """
    base = uniform(low, high)

    def sample(wire, rng, batch):
        value = base(wire, rng, batch)
        shape = wire.shape
        if len(shape) == 2 and shape[0] == shape[1]:
            value = np.einsum("...ij,...kj->...ik", value, value) / max(shape[0], 1)
        return value
    return sample


def _kernel(d_in, d_out):
    return Real(d_out, d_in) @ Real(d_out) @ Real(d_out, d_out)


def _composite(A1, b1, Q1, A2, b2, Q2):
    """(A₂A₁, A₂β₁ + β₂, A₂Q₁A₂ᵀ + Q₂): the kernel κ₁ ; κ₂."""
    return A2 @ A1, A2 @ b1 + b2, A2 @ (Q1 @ A2.T) + Q2


def pullback_composition(d0: int, d1: int, d2: int) -> list[Law]:
    """The pullback through κ₁ ; κ₂ (R^d0 → R^d1 → R^d2) of a message on R^d2 is the
    pullback through κ₂, then through κ₁.

    >>> [law.name for law in pullback_composition(1, 2, 1)]
    ['BFFG preserves composition (backward: pullback)']
    """
    dom = _kernel(d0, d1) @ _kernel(d1, d2) @ gaussian(d2)

    @function(dom, gaussian(d0))
    def whole(A1, b1, Q1, A2, b2, Q2, c, F, H):
        return pullback(d0, d2)(*_composite(A1, b1, Q1, A2, b2, Q2), c, F, H)

    @function(dom, gaussian(d0))
    def parts(A1, b1, Q1, A2, b2, Q2, c, F, H):
        return pullback(d0, d1)(A1, b1, Q1, *pullback(d1, d2)(A2, b2, Q2, c, F, H))
    return [Law("BFFG preserves composition (backward: pullback)", whole, parts)]


def _guided_step(d_in, d_out):
    """m ⊗ P (the law of x) ⊗ A ⊗ β ⊗ Q ⊗ F ⊗ H (the message on x′) ↦ the law of x′ under
    the guided kernel N(G(Ax + β + QF), GQ), G = (I + QH)⁻¹: N(G(Am + β + QF),
    G A P Aᵀ Gᵀ + GQ)."""
    dom = Real(d_in) @ Real(d_in, d_in) @ _kernel(d_in, d_out) @ Real(d_out) @ Real(d_out, d_out)

    @function(dom, Real(d_out) @ Real(d_out, d_out))
    def step(m, P, A, b, Q, F, H):
        G = Solve(d_out, d_out)(Eye(d_out)() + Q @ H, Eye(d_out)())
        GA = G @ A
        cov = GA @ (P @ GA.T) + G @ Q
        return GA @ m + G @ (b + Q @ F), 0.5 * (cov + cov.T)
    return step


def guide_composition(d0: int, d1: int, d2: int) -> list[Law]:
    """From x ~ N(m, P) on R^d0, guiding by a message h on R^d2 through κ₁ ; κ₂ gives x₂ the
    same law as guiding x₁ under h pulled back through κ₂, then x₂ under h.

    >>> guide_composition(2, 1, 2)[0].lhs.cod
    Real(2) @ Real(2, 2)
    """
    dom = Real(d0) @ Real(d0, d0) @ _kernel(d0, d1) @ _kernel(d1, d2) @ gaussian(d2)
    out = Real(d2) @ Real(d2, d2)

    @function(dom, out)
    def whole(m, P, A1, b1, Q1, A2, b2, Q2, c, F, H):
        return _guided_step(d0, d2)(m, P, *_composite(A1, b1, Q1, A2, b2, Q2), F, H)

    @function(dom, out)
    def parts(m, P, A1, b1, Q1, A2, b2, Q2, c, F, H):
        _, F1, H1 = pullback(d1, d2)(A2, b2, Q2, c, F, H)
        m1, P1 = _guided_step(d0, d1)(m, P, A1, b1, Q1, F1, H1)
        return _guided_step(d1, d2)(m1, P1, A2, b2, Q2, F, H)
    return [Law("BFFG preserves composition (forward: guiding)", whole, parts)]


def evidence_composition(d0: int, d1: int) -> list[Law]:
    """A prior N(m, P) on R^d0 pushed through κ and met with h on R^d1 is the prior met with
    h pulled back through κ: log ∫∫ N(x; m, P) κ(x, dx′) h(x′) both ways.

    >>> evidence_composition(1, 2)[0].lhs.cod
    Real()
    """
    dom = Real(d0) @ Real(d0, d0) @ _kernel(d0, d1) @ gaussian(d1)

    @function(dom, Real())
    def pushed(m, P, A, b, Q, c, F, H):
        return evidence(d1)(A @ m + b, A @ (P @ A.T) + Q, c, F, H)

    @function(dom, Real())
    def pulled(m, P, A, b, Q, c, F, H):
        return evidence(d0)(m, P, *pullback(d0, d1)(A, b, Q, c, F, H))
    return [Law("the evidence of a pushed prior is that of the pulled-back message", pushed,
                pulled)]


def kernel_laws(d0: int, d1: int, d2: int) -> list[Law]:
    """Every law above, on R^d0 → R^d1 → R^d2.

    >>> len(kernel_laws(1, 1, 1))
    3
    """
    return (pullback_composition(d0, d1, d2) + guide_composition(d0, d1, d2)
            + evidence_composition(d0, d1))
