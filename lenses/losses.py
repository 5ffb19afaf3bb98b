"""Losses as Para maps whose parameter is the label (the reference, §4).

``mse(B)`` is the Para map (B, e) : B → L with e(b_t, b_p) = ½ Σᵢ (b_p,i − b_t,i)²,
one number per example; its reverse derivative is (α(b_t − b_p), α(b_p − b_t)).

>>> from categories import Real
>>> loss = mse(Real(3))
>>> loss.params[0].name, loss.dom, loss.cod
('label', Real(3), Real())
"""

from __future__ import annotations

from categories import Param, Para, Real, Sum, Ty, function

__all__ = ["mse"]


def mse(b: Ty) -> Para:
    """Mean-squared error against the label: ½ Σ (b_p − b_t)², per example."""
    scalar = Real(dtype=b.inside[0].dtype)
    label = Param(b, "label")

    @function(b @ b, scalar)
    def squared_error(target, prediction):
        d = prediction - target
        return 0.5 * Sum(b)(d * d)
    return Para((label, ), squared_error)
