"""Losses as Para maps whose parameter is the label (the reference, §4.1).

A loss (B, e) : B → L takes the label b_t as its parameter and the prediction
b_p as its input, and gives one number per example: the sum over the
features of that example. How the examples of a batch combine is the
learner's choice, not the loss's: their mean (``Learner(..., reduction="mean")``,
the default) or their sum (``reduction="sum"``). Its reverse derivative, fed
the cap's cotangent α, is (b_t′, b_p′):

| loss | e(b_t, b_p) | R[e](b_t, b_p, α) |
|---|---|---|
| ``mse`` | ½ Σᵢ (b_p,i − b_t,i)² | (α(b_t − b_p), α(b_p − b_t)) |
| ``softmax_cross_entropy`` | −Σᵢ b_t,i log softmax(b_p)ᵢ | (−α log softmax(b_p), α(softmax(b_p)·Σb_t − b_t)) |
| ``binary_cross_entropy_with_logits`` | Σᵢ softplus(b_p,i) − b_t,i b_p,i | (−α b_p, α(σ(b_p) − b_t)) |
| ``hinge`` (b_t ∈ {−1, +1}) | Σᵢ max(0, 1 − b_t,i b_p,i) | (−α b_p m, −α b_t m), m = [b_t b_p < 1] |
| ``huber`` (δ > 0) | Σᵢ ½eᵢ² if abs(eᵢ) ≤ δ, else δ(abs(eᵢ) − ½δ); e = b_p − b_t | (−α c, α c), c = clip(e, −δ, δ) |
| ``dot`` | b_t · b_p | (α b_p, α b_t) |
| ``xor`` (Boolean) | b_t ⊕ b_p, bit by bit (L = B) | (α, α) |

The cross-entropy is computed as logsumexp(b_p)·Σb_t − b_t·b_p, with a
LogSumExp that never overflows, and the binary one as
½abs(y) + (½ − t)y + log(1 + exp(−abs(y))): logits of ±1e3 are fine in both.

>>> from paralens.categories import Real
>>> loss_fn = mse(Real(3))
>>> loss_fn.params[0].name, loss_fn.dom, loss_fn.cod
('label', Real(3), Real())

A loss of one's own is a function of the two wires (target, prediction) given
to :func:`loss`, written with the generators and arithmetic on wires
(``categories.syntax``). The log-cosh loss Σ log cosh(b_p − b_t), written
stably as Σ abs(e) + log(1 + exp(−2 abs(e))) − log 2, abs(e) = relu(e) + relu(−e):

>>> import math
>>> import numpy as np
>>> from paralens.categories import Exp, Log, Relu, Sum, laws
>>> from paralens.interpreters.numpy import compile
>>> def log_cosh(target, prediction):
...     x = target.ty
...     e = prediction - target
...     a = Relu(x)(e) + Relu(x)(-e)
...     return Sum(x)(a + Log(x)(1.0 + Exp(x)(-2.0 * a)) - math.log(2.0))
>>> log_cosh_loss = loss(Real(3), log_cosh)
>>> value = compile(log_cosh_loss.diagram)
>>> t, y = np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.0, -1.0])
>>> bool(np.isclose(value(t, y), np.sum(np.log(np.cosh(y - t)))))
True

Its reverse derivative is built by R from its generators; check it against
central differences of its forward map:

>>> laws.check_finite_differences(log_cosh_loss.diagram, compile).ok
True
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..categories import LogSumExp, Exp, Log, Param, Para, Real, Relu, Sum, Ty, function
from ..categories.generator import as_type

__all__ = ["loss", "mse", "softmax_cross_entropy", "binary_cross_entropy_with_logits",
           "hinge", "huber", "dot", "xor", "codewords", "nearest"]


def _label(b, who: str) -> Ty:
    """The label type of a loss on real numbers: one Real wire, one step."""
    if isinstance(b, bool) or not isinstance(b, (Ty, numbers.Integral)):
        raise TypeError(f"{who}: the label type must be a type such as Real(3), got {b!r}")
    b = as_type(b)
    if len(b) != 1 or b.inside[0].kind != "Real" or b.inside[0].time:
        raise TypeError(f"{who} compares real numbers: its label type must be one Real "
                        f"wire such as Real(3), got {b!r}")
    return b


def loss(b: Ty, e) -> Para:
    """The loss B → L whose value on one example is ``e(target, prediction)``, a
    Python function of two wires of type ``b`` giving one number (a wire of type
    Real() of b's dtype), written with generators and arithmetic on wires. The
    label is its parameter, named ``"label"``.

    >>> from paralens.categories import Real, Sum
    >>> absolute = loss(Real(2), lambda t, y: Sum(t.ty)(Relu(t.ty)(y - t) + Relu(t.ty)(t - y)))
    >>> absolute.dom, absolute.cod, absolute.param_type
    (Real(2), Real(), Real(2))
    """
    b = _label(b, "loss")
    if not callable(e):
        raise TypeError(f"loss(b, e): e must be a function of the wires (target, prediction), "
                        f"got {e!r}")
    scalar = Real(dtype=b.inside[0].dtype)
    return Para((Param(b, "label"), ), function(b @ b, scalar)(e))


def mse(b: Ty) -> Para:
    """½ Σ (b_p − b_t)², per example: the paper's squared error, with the ½ (the
    derivative is b_p − b_t), summed over the features; the mean over the batch
    is the learner's.

    >>> mse(Real(2)).cod
    Real()
    """
    b = _label(b, "mse")

    def squared_error(target, prediction):
        d = prediction - target
        return 0.5 * Sum(b)(d * d)
    return loss(b, squared_error)


def softmax_cross_entropy(b: Ty) -> Para:
    """−Σ b_t log softmax(b_p), per example, stable for large logits.

    >>> softmax_cross_entropy(Real(3)).dom
    Real(3)
    """
    b = _label(b, "softmax_cross_entropy")

    def cross_entropy(target, logits):
        return LogSumExp(b)(logits) * Sum(b)(target) - Sum(b)(target * logits)
    return loss(b, cross_entropy)


def binary_cross_entropy_with_logits(b: Ty) -> Para:
    """Σ softplus(y) − t·y per example, for logits y and targets t ∈ [0, 1]
    (optax's ``sigmoid_binary_cross_entropy``, PyTorch's ``BCEWithLogitsLoss``).

    Written as ½abs(y) + (½ − t)·y + log(1 + exp(−abs(y))) with abs(y) = relu(y) +
    relu(−y): this is relu(y) − t·y + log(1 + exp(−abs(y))) with relu(y) = ½(y +
    abs(y)), which nothing overflows (logits of ±1e3 give finite values and
    gradients) and whose reverse derivative is σ(y) − t everywhere, at y = 0
    too (½ − t, where relu's mask alone would give −t).

    >>> import numpy as np
    >>> from paralens.interpreters.numpy import compile
    >>> bce = compile(binary_cross_entropy_with_logits(Real(2)).diagram)
    >>> float(bce(np.array([1.0, 0.0]), np.array([1e3, -1e3])))
    0.0
    """
    b = _label(b, "binary_cross_entropy_with_logits")

    def cross_entropy(target, logits):
        magnitude = Relu(b)(logits) + Relu(b)(-logits)
        return Sum(b)(0.5 * magnitude + (0.5 - target) * logits
                      + Log(b)(1.0 + Exp(b)(-magnitude)))
    para = loss(b, cross_entropy)
    para.check_labels = probabilities
    return para


def signs(labels) -> str | None:
    """What is wrong with labels that must be −1 or +1 (``hinge``'s), or None.

    >>> signs(np.array([0.0, 1.0]))
    'hinge takes labels −1 and +1, got 0.0 (for 0/1 labels, pass 2 * label - 1)'
    """
    labels = np.asarray(labels)
    wrong = labels[(labels != 1) & (labels != -1)]
    if wrong.size:
        return (f"hinge takes labels −1 and +1, got {wrong.flat[0].item()!r}"
                + (" (for 0/1 labels, pass 2 * label - 1)" if np.all(wrong == 0) else ""))
    return None


def probabilities(labels) -> str | None:
    """What is wrong with labels that must lie in [0, 1] (binary cross-entropy's), or
    None: another label makes the loss unbounded below.

    >>> probabilities(np.array([-1.0, 1.0]))
    'binary_cross_entropy_with_logits takes labels in [0, 1], got -1.0 (for −1/+1 labels, pass (label + 1) / 2)'
    """
    labels = np.asarray(labels)
    wrong = labels[~((labels >= 0) & (labels <= 1))]
    if wrong.size:
        return (f"binary_cross_entropy_with_logits takes labels in [0, 1], got "
                f"{wrong.flat[0].item()!r}" + (" (for −1/+1 labels, pass (label + 1) / 2)"
                                        if np.all(wrong == -1) else ""))
    return None


def hinge(b: Ty) -> Para:
    """Σ max(0, 1 − t·y) per example, for scores y and targets t ∈ {−1, +1}
    (optax's ``hinge_loss``, summed over the features).

    >>> import numpy as np
    >>> from paralens.interpreters.numpy import compile
    >>> float(compile(hinge(Real(2)).diagram)(np.array([1.0, -1.0]), np.array([0.5, 2.0])))
    3.5
    """
    b = _label(b, "hinge")
    para = loss(b, lambda target, scores: Sum(b)(Relu(b)(1.0 - target * scores)))
    para.check_labels = signs
    return para


def huber(b: Ty, delta: float = 1.0) -> Para:
    """Σ huberδ(b_p − b_t) per example: ½e² where abs(e) ≤ δ, δ(abs(e) − ½δ) elsewhere
    (optax's ``huber_loss``: with q = min(abs(e), δ), ½q² + δ(abs(e) − q)). Its derivative
    is e clipped to [−δ, δ].

    >>> import numpy as np
    >>> from paralens.interpreters.numpy import compile
    >>> float(compile(huber(Real(2), delta=1.0).diagram)(np.zeros(2), np.array([0.5, 3.0])))
    2.625
    >>> huber(Real(2), delta=0.0)
    Traceback (most recent call last):
    ...
    ValueError: huber: delta must be finite and positive, got 0.0
    """
    b = _label(b, "huber")
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real):
        raise TypeError(f"huber: delta must be a real number, got {delta!r} "
                        f"({type(delta).__name__})")
    if not 0 < float(delta) < math.inf:
        raise ValueError(f"huber: delta must be finite and positive, got {delta!r}")
    delta = float(delta)

    def huber_loss(target, prediction):
        e = prediction - target
        magnitude = Relu(b)(e) + Relu(b)(-e)
        linear = Relu(b)(magnitude - delta)             # abs(e) − min(abs(e), δ)
        quadratic = magnitude - linear                  # min(abs(e), δ)
        return Sum(b)(0.5 * (quadratic * quadratic) + delta * linear)
    return loss(b, huber_loss)


def dot(b: Ty) -> Para:
    """b_t · b_p, per example (with a positive cap: ascent, as in deep dreaming).

    >>> dot(Real(3)).cod
    Real()
    """
    b = _label(b, "dot")
    return loss(b, lambda target, prediction: Sum(b)(target * prediction))


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
