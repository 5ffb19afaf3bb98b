"""Generators: boxes that declare their meaning once.

A generator carries its type and its reverse derivative in optic form, as two
diagrams of generators:

* ``forward()``:  A → M ⊗ B, the box itself plus the residual M it keeps,
* ``backward()``: M ⊗ B′ → A′, the reverse derivative read off the residual,

so that R[f](a, b′) = backward(π_M forward(a), b′) and no forward work is ever
redone in the backward half. Linear generators keep no residual (M = I).

Every concrete generator class is registered in ``Generator.registry`` (by its
name); interpreters keep one rule per registered name, and the law tests draw
from the registry, so a new generator is picked up everywhere.

>>> from categories import Sigmoid, Real
>>> s = Sigmoid(Real(3))
>>> s.residual()
Real(3)
>>> [box.name for box in s.backward().boxes if not hasattr(box, "wiring")]
['Mul', 'Neg', 'Constant(1)', 'Add', 'Mul']
"""

from __future__ import annotations

from .adapter import Box, Diagram, Ty

__all__ = ["Generator", "LinearGenerator", "ConstantGenerator", "as_type"]


def as_type(x, dtype="float64") -> Ty:
    """``Real(x)`` for an int, the type itself for a type."""
    if isinstance(x, Ty):
        return x
    from .adapter import Real
    return Real(x, dtype=dtype)


class Generator(Box):
    """A box whose reverse derivative is declared as a lens of diagrams.

    Subclasses set ``smooth`` (differentiable everywhere on its domain),
    ``total`` (defined on every real input) and implement ``backward``; the
    default forward keeps the whole input as the residual.
    """

    registry: dict[str, type] = {}
    smooth = True
    total = True
    over = "Real"       # the wires it acts on: "Real", "Bool", or None for both

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("abstract", False):
            Generator.registry[cls.__name__] = cls

    abstract = True

    # -- the reverse derivative, in optic form -------------------------------
    def residual(self) -> Ty:
        """M, the type of what the forward half keeps for the backward half."""
        return self.dom

    def forward(self) -> Diagram:
        """A → M ⊗ B: run the box and keep the residual (by default, its input)."""
        from .structural import copy
        return copy(self.dom) >> self.dom @ self

    def backward(self) -> Diagram:
        """M ⊗ B′ → A′: the reverse derivative, from the residual and the cotangent."""
        raise NotImplementedError(f"{type(self).__name__} declares no reverse derivative")

    @classmethod
    def example(cls, n: int) -> Generator:
        """An instance on wires of size about n, for law tests and strategies."""
        raise NotImplementedError

    def dagger(self):
        raise TypeError(f"{self.name}: generators of a Cartesian category have no dagger")


class LinearGenerator(Generator):
    """A generator that is linear in its input: no residual, backward is its transpose."""

    abstract = True

    def residual(self) -> Ty:
        return Ty()

    def forward(self) -> Diagram:
        return self

    def transpose(self) -> Diagram:
        raise NotImplementedError

    def backward(self) -> Diagram:
        return self.transpose()


class ConstantGenerator(Generator):
    """A constant I → x: it keeps no residual, and R discards the cotangent."""

    abstract = True

    def residual(self) -> Ty:
        return Ty()

    def forward(self) -> Diagram:
        return self

    def backward(self) -> Diagram:
        from .structural import discard
        return discard(self.cod)
