"""The category of lenses in optic form, and the reverse-derivative functor R.

A lens (A, A′) → (B, B′) is a pair of diagrams with an explicit residual M:

* ``forward``:  A → M ⊗ B
* ``backward``: M ⊗ B′ → A′

so the backward half reads what the forward half kept and never recomputes
it. Lenses compose and tensor like this (diagrammatic order):

* (f ; g).forward  = f.forward ; (M_f ⊗ g.forward)          residual M_f ⊗ M_g
* (f ; g).backward = (M_f ⊗ g.backward) ; f.backward
* (f ⊗ g) interleaves the residuals first: M_f ⊗ M_g ⊗ B ⊗ D.

``R`` is a DisCoPy functor from diagrams to this category: a generator goes to
the lens it declares, a composite to the composite of lenses. Halves are kept
as lists of layers and built once, so R of a deep diagram costs linear time.

>>> from categories import Real, Sigmoid, Linear, Mul, copy
>>> x = Real(3)
>>> f, g = Sigmoid(x), copy(x) >> Mul(x)
>>> R(f >> g) == R(f) >> R(g)
True
>>> lens = R(f >> g)
>>> lens.residual
Real(3) @ Real(3) @ Real(3)
>>> lens.forward.cod == lens.residual @ x and lens.backward.dom == lens.residual @ x
True
"""

from __future__ import annotations

from functools import cached_property

from categories import Diagram, Ty, describe, discard, swap
from categories.adapter import Category, Functor

__all__ = ["Lens", "R"]


class Lens:
    """A lens in optic form: forward A → M ⊗ B, backward M ⊗ B′ → A′."""

    def __init__(self, dom: Ty, cod: Ty, residual: Ty, forward_layers=(), backward_layers=()):
        # Each half is kept as (left, box, right) layers and built once, on demand.
        self.dom, self.cod, self.residual = dom, cod, residual
        self.forward_layers = tuple(forward_layers)
        self.backward_layers = tuple(backward_layers)

    @classmethod
    def of(cls, forward: Diagram, backward: Diagram, residual: Ty, name: str = "") -> Lens:
        """The lens with the given halves; checks that their types fit."""
        n = len(residual)
        dom, cod = forward.dom, forward.cod[n:]
        if forward.cod[:n] != residual or backward.dom != residual @ cod or backward.cod != dom:
            raise TypeError(
                f"{name + ': ' if name else ''}not a lens: forward {forward.dom!r} → "
                f"{forward.cod!r} and backward "
                f"{backward.dom!r} → {backward.cod!r} with residual {residual!r}")
        return cls(dom, cod, residual, _layers(forward), _layers(backward))

    @cached_property
    def forward(self) -> Diagram:
        """A → M ⊗ B."""
        return Diagram.from_layers(self.dom, self.forward_layers)

    @cached_property
    def backward(self) -> Diagram:
        """M ⊗ B′ → A′."""
        return Diagram.from_layers(self.residual @ self.cod, self.backward_layers)

    @cached_property
    def put(self) -> Diagram:
        """The put as one diagram A ⊗ B′ → A′: R[f] when the lens is R(f)."""
        keep = self.forward >> self.residual @ discard(self.cod)
        return keep @ self.cod >> self.backward

    @cached_property
    def get(self) -> Diagram:
        """The get A → B, the forward half with its residual discarded."""
        return self.forward >> discard(self.residual) @ self.cod

    @classmethod
    def id(cls, x: Ty = None) -> Lens:
        x = Ty() if x is None else x
        return cls(x, x, Ty())

    def then(self, *others: Lens) -> Lens:
        result = self
        for other in others:
            if result.cod != other.dom:
                raise TypeError(f"cannot compose lenses {result.dom!r} → {result.cod!r} "
                                f"and {other.dom!r} → {other.cod!r}: {result.cod!r} ≠ {other.dom!r}")
            M = result.residual
            result = Lens(
                result.dom, other.cod, M @ other.residual,
                result.forward_layers + _whisker(other.forward_layers, M, Ty()),
                _whisker(other.backward_layers, M, Ty()) + result.backward_layers)
        return result

    def __rshift__(self, other):
        return self.then(other)

    def tensor(self, other: Lens | Ty) -> Lens:
        if isinstance(other, Ty):
            return self.whisker(Ty(), other)
        M, B, N, D = self.residual, self.cod, other.residual, other.cod
        forward = _whisker(self.forward_layers, Ty(), other.dom) \
            + _whisker(other.forward_layers, M @ B, Ty()) \
            + _whisker(_layers(swap(B, N)), M, D)
        backward = _whisker(_layers(swap(N, B)), M, D) \
            + _whisker(other.backward_layers, M @ B, Ty()) \
            + _whisker(self.backward_layers, Ty(), other.dom)
        return Lens(self.dom @ other.dom, B @ D, M @ N, forward, backward)

    def whisker(self, left: Ty, right: Ty) -> Lens:
        """left ⊗ self ⊗ right, the residual moved to the front."""
        M, B = self.residual, self.cod
        forward = _whisker(self.forward_layers, left, right)
        backward = _whisker(self.backward_layers, left, right)
        if len(left) and len(M):
            forward += _whisker(_layers(swap(left, M)), Ty(), B @ right)
            backward = _whisker(_layers(swap(M, left)), Ty(), B @ right) + backward
        return Lens(left @ self.dom @ right, left @ B @ right, M, forward, backward)

    def __matmul__(self, other):
        return self.tensor(other)

    def __rmatmul__(self, other):
        if isinstance(other, Ty):
            return self.whisker(other, Ty())
        return NotImplemented

    def __eq__(self, other):
        return isinstance(other, Lens) and (self.dom, self.cod, self.residual) == (
            other.dom, other.cod, other.residual) and self.forward == other.forward \
            and self.backward == other.backward

    def __hash__(self):
        return hash((self.dom, self.cod, self.residual))

    def __repr__(self):
        return (f"Lens({self.dom!r} → {self.cod!r}, residual {self.residual!r}, "
                f"{self.forward.size} + {self.backward.size} boxes)")


def _layers(diagram: Diagram) -> tuple:
    return tuple(tuple(layer) for layer in diagram.inside)


def _whisker(layers, left: Ty, right: Ty) -> tuple:
    if not len(left) and not len(right):
        return layers
    return tuple((left @ l, box, r @ right) for l, box, r in layers)


_generator_lenses: dict = {}     # equal generators have equal lenses: build each once


def _lens_of(box) -> Lens:
    if not hasattr(box, "backward"):
        raise TypeError(f"{describe(box)} is not a generator: it declares no reverse derivative")
    lens = _generator_lenses.get(box)
    if lens is None:
        lens = Lens.of(box.forward(), box.backward(), box.residual(), describe(box))
        if len(_generator_lenses) < 10_000:
            _generator_lenses[box] = lens
    return lens


class ReverseDerivative(Functor):
    """The functor R : diagrams → lenses, A ↦ (A, A) on objects, a generator
    to the lens it declares. Types are mapped to themselves at once (DisCoPy
    would rebuild them wire by wire)."""

    def __call__(self, other):
        if isinstance(other, Ty):
            return other
        return super().__call__(other)


#: The reverse-derivative functor R : diagrams → lenses.
R = ReverseDerivative(ob=lambda x: x, ar=_lens_of,
                      dom=Category(Ty, Diagram), cod=Category(Ty, Lens))
