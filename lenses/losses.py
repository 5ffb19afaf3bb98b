"""Losses as Para maps whose parameter is the label (the reference, §4.1).

A loss (B, e) : B → L takes the label b_t as its parameter and the prediction
b_p as its input, and gives one number per example. Its reverse derivative,
fed the cap's cotangent α, is (b_t′, b_p′):

| loss | e(b_t, b_p) | R[e](b_t, b_p, α) |
|---|---|---|
| ``mse`` | ½ Σᵢ (b_p,i − b_t,i)² | (α(b_t − b_p), α(b_p − b_t)) |
| ``softmax_cross_entropy`` | −Σᵢ b_t,i log softmax(b_p)ᵢ | (−α log softmax(b_p), α(softmax(b_p)·Σb_t − b_t)) |
| ``dot`` | b_t · b_p | (α b_p, α b_t) |
| ``xor`` (Boolean) | b_t ⊕ b_p, bit by bit (L = B) | (α, α) |

The cross-entropy is computed as logsumexp(b_p)·Σb_t − b_t·b_p, with a
LogSumExp that never overflows (logits of ±1e3 are fine).

>>> from paralens.categories import Real
>>> loss = mse(Real(3))
>>> loss.params[0].name, loss.dom, loss.cod
('label', Real(3), Real())
"""

from __future__ import annotations

import numpy as np

from ..categories import LogSumExp, Param, Para, Real, Sum, Ty, function

__all__ = ["mse", "softmax_cross_entropy", "dot", "xor", "codewords", "nearest"]


def _loss(b: Ty, e) -> Para:
    scalar = Real(dtype=b.inside[0].dtype)
    return Para((Param(b, "label"), ), function(b @ b, scalar)(e))


def mse(b: Ty) -> Para:
    """½ Σ (b_p − b_t)², per example."""
    def squared_error(target, prediction):
        d = prediction - target
        return 0.5 * Sum(b)(d * d)
    return _loss(b, squared_error)


def softmax_cross_entropy(b: Ty) -> Para:
    """−Σ b_t log softmax(b_p), per example, stable for large logits."""
    def cross_entropy(target, logits):
        return LogSumExp(b)(logits) * Sum(b)(target) - Sum(b)(target * logits)
    return _loss(b, cross_entropy)


def dot(b: Ty) -> Para:
    """b_t · b_p, per example (with a positive cap: ascent, as in deep dreaming)."""
    return _loss(b, lambda target, prediction: Sum(b)(target * prediction))


def xor(b: Ty) -> Para:
    """The error b_t ⊕ b_p of a Boolean prediction, bit by bit (RDA's loss)."""
    return Para((Param(b, "label"), ), function(b @ b, b)(lambda target, prediction: target ^ prediction))


def codewords(classes: int, bits: int, kind: str = "groups", seed: int = 0) -> np.ndarray:
    """Bool (classes, bits): the output bits a Boolean classifier is trained to
    give for each class. ``"groups"``: class c owns bits [c·k, (c+1)·k) (k =
    bits / classes), one-hot by groups; ``"random"``: independent fair bits, an
    error-correcting output code whose bits are each set for about half the
    examples (sparse one-hot targets let RDA settle on all zeros)."""
    if kind == "groups":
        if bits % classes:
            raise ValueError(f"{bits} bits do not split into {classes} equal groups")
        return np.repeat(np.eye(classes, dtype=bool), bits // classes, axis=1)
    if kind == "random":
        return np.random.default_rng(seed).integers(0, 2, (classes, bits)).astype(bool)
    raise ValueError(f"codewords kind is 'groups' or 'random', got {kind!r}")


def nearest(outputs: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The class whose code word is nearest (Hamming) to each row of outputs."""
    return np.argmin((outputs[:, None, :] != codes[None]).sum(axis=-1), axis=1)
