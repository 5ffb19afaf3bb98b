"""The reverse-derivative combinator R and the forward derivative D.

For f : A → B, ``reverse(f)`` is the diagram R[f] : A ⊗ B′ → A′. On a
generator it is read off the generator's own optic (forward with residual,
then backward); on a composite it is the chain rule RD.5,

    R[f ; g](a, c′) = R[f](a, R[g](f(a), c′)),

laid out once: the forward pass keeps the input of every layer, and the
backward pass runs the layers' reverse derivatives in the opposite order. A
layer L ⊗ g ⊗ K passes the cotangents of L and K through untouched.

This is the combinator of a reverse-derivative category, built independently
of the lenses of ``lenses.R`` (whose put must equal it: a law). It is meant
for laws and higher derivatives (R[R[f]], D[D[f]]): each R[g] recomputes its
generator's residual. To train, use the lens R(f), whose backward half reads
the residuals its forward half kept.

``forward_derivative(f)`` is D[f] = (ι0 × 1) ; R[R[f]] ; π1 : A ⊗ A → B, the
Jacobian–vector product recovered by reverse-over-reverse.

>>> from paralens.categories import Real, Sigmoid, Mul, copy
>>> x = Real(2)
>>> reverse(Sigmoid(x)).dom, reverse(Sigmoid(x)).cod
(Real(2) @ Real(2), Real(2))
>>> square = copy(x) >> Mul(x)
>>> forward_derivative(square).dom, forward_derivative(square).cod
(Real(2) @ Real(2), Real(2))
"""

from __future__ import annotations

from .adapter import Diagram, Ty, describe, steps
from .structural import add, discard, zero
from .syntax import function
from .syntax import as_tuple as _as_tuple

__all__ = ["reverse", "forward_derivative", "reverse_of_generator"]


def reverse_of_generator(box) -> Diagram:
    """R[g] = (forward ; M ⊗ !B) ⊗ B′ ; backward, from the generator's optic."""
    if not hasattr(box, "backward"):
        raise TypeError(f"{describe(box)} is not a generator: it declares no reverse derivative")
    keep = box.forward() >> box.residual() @ discard(box.cod)
    return keep @ box.cod >> box.backward()


def _split(wires, n):
    return tuple(wires[:n]), tuple(wires[n:])


def reverse(f: Diagram) -> Diagram:
    """R[f] : A ⊗ B′ → A′, by the chain rule over the layers of f."""
    dom, cod = f.dom, f.cod

    @function(dom @ cod, dom)
    def R(*wires):
        x, cotangent = _split(wires, len(dom))
        inputs, layers = [], list(steps(f))
        for i, box in layers:
            inputs.append(x)
            k = len(box.dom)
            x = x[:i] + _apply(box, x[i:i + k]) + x[i + k:]
        dy = cotangent
        for (i, box), x in zip(reversed(layers), reversed(inputs)):
            k, n = len(box.dom), len(box.cod)
            dy = dy[:i] + _reverse_apply(box, x[i:i + k], dy[i:i + n]) + dy[i + n:]
        return dy
    return R


def _apply(box, x):
    wiring = getattr(box, "wiring", None)
    return tuple(x[k] for k in wiring) if wiring is not None else _as_tuple(box(*x))


def _reverse_apply(box, x, dy):
    """The cotangents of the inputs of ``box``. A wiring (copy, discard, swap) is
    transposed in place: each input receives the sum of its outputs' cotangents."""
    wiring = getattr(box, "wiring", None)
    if wiring is None:
        return _as_tuple(reverse_of_generator(box)(*x, *dy))
    sums = []
    for j in range(len(box.dom)):
        terms = [d for d, source in zip(dy, wiring) if source == j]
        sums.append(add(box.dom[j:j + 1], len(terms))(*terms))
    return tuple(sums)


def forward_derivative(f: Diagram) -> Diagram:
    """D[f] : A ⊗ A → B, D[f](a, v) = J_f(a) v, as (ι0 × 1) ; R[R[f]] ; π1."""
    dom, cod = f.dom, f.cod
    rr = reverse(reverse(f))

    @function(dom @ dom, cod)
    def D(*wires):
        a, v = _split(wires, len(dom))
        zeros = _as_tuple(zero(cod)())
        out = _as_tuple(rr(*a, *zeros, *v))
        return out[len(dom):]
    return D
