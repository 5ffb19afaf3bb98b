"""The one adapter between paralens and DisCoPy.

Everything else in paralens speaks of wires, types, boxes and diagrams through
this module; nothing else reaches into DisCoPy.

A **wire** is an atomic object carrying a kind (``Real`` or ``Bool``), the shape
of one example and a dtype. The batch axis is implicit: a wire of shape
``(4,)`` carries arrays of shape ``(4,)`` (one example, or a parameter shared by
every example) or ``(batch, 4)``.

>>> Real(4)
Real(4)
>>> Real(4) @ Real(20, 4)
Real(4) @ Real(20, 4)
>>> Real(4) == Real(4) and Real(4) != Real(4, dtype="float32")
True
>>> Real(3, dtype="float32").inside[0].dtype
dtype('float32')

Composition is checked when the diagram is built, naming both sides:

>>> f = Box("f", Real(3), Real(4))
>>> g = Box("g", Real(5), Real(5))
>>> try:
...     f >> g
... except CompositionError as error:
...     print(error)
cannot compose f: Real(3) → Real(4) with g: Real(5) → Real(5): Real(4) ≠ Real(5)
"""

from __future__ import annotations

import itertools

import numpy as np
from discopy import cat, monoidal, symmetric
from discopy.cat import factory
from discopy.monoidal import Category, Functor
from discopy.utils import AxiomError

__all__ = [
    "Wire", "Ty", "Real", "Bool", "Diagram", "Box", "Swap", "Id",
    "CompositionError", "describe", "Category", "Functor",
]


class Wire(cat.Ob):
    """An atomic wire: a kind, the shape of one example and a dtype.

    >>> w = Real(2, 3).inside[0]
    >>> w.kind, w.shape, w.dtype, w.size
    ('Real', (2, 3), dtype('float64'), 6)
    """

    def __init__(self, kind: str, shape: tuple = (), dtype="float64"):
        self.kind = kind
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        if any(n < 0 for n in self.shape):
            raise ValueError(f"a wire's shape must be non-negative, got {shape}")
        suffix = "" if self.dtype == DEFAULT_DTYPE[kind] else f", dtype='{self.dtype}'"
        super().__init__(f"{kind}({', '.join(map(str, self.shape))}{suffix})")

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=int))

    def __eq__(self, other):
        return isinstance(other, Wire) and (self.kind, self.shape, self.dtype) == (
            other.kind, other.shape, other.dtype)

    def __hash__(self):
        return hash((self.kind, self.shape, self.dtype))

    def __repr__(self):
        return self.name


DEFAULT_DTYPE = {"Real": np.dtype("float64"), "Bool": np.dtype("bool")}


@factory
class Ty(symmetric.Ty):
    """A type: a tensor (list) of wires. ``Ty()`` is the monoidal unit."""

    ob_factory = Wire

    def __init__(self, *inside: Wire):
        # DisCoPy's Ty checks and names every object on each tensor, which
        # makes building wide diagrams quadratic; wires are checked once here
        # and the name is computed when asked for.
        for obj in inside:
            if type(obj) is not Wire:
                raise TypeError(f"a type is a tensor of wires, got {obj!r}")
        self.inside = inside

    @property
    def name(self) -> str:
        return str(self)

    @name.setter
    def name(self, _):
        pass

    @classmethod
    def _of(cls, inside: tuple) -> Ty:
        """A type of wires already checked (the fast path of tensor and slicing)."""
        ty = object.__new__(cls)
        ty.inside = inside
        return ty

    def tensor(self, *others: Ty) -> Ty:
        inside = self.inside
        for other in others:
            if not isinstance(other, Ty):
                return NotImplemented
            inside = inside + other.inside
        return Ty._of(inside)

    def __getitem__(self, key):
        if isinstance(key, slice):
            return Ty._of(self.inside[key])
        return super().__getitem__(key)

    def __eq__(self, other):
        return isinstance(other, Ty) and self.inside == other.inside

    def __hash__(self):
        return hash(self.inside)

    def __repr__(self):
        return " @ ".join(map(repr, self.inside)) or "Ty()"


def Real(*shape: int, dtype="float64") -> Ty:
    """The type of real arrays of the given per-example shape."""
    if np.dtype(dtype).kind != "f":
        raise TypeError(f"Real wires hold floating-point arrays, not {np.dtype(dtype)}")
    return Ty(Wire("Real", shape, dtype))


def Bool(*shape: int) -> Ty:
    """The type of Boolean arrays (elements of Z2) of the given per-example shape."""
    return Ty(Wire("Bool", shape, "bool"))


class CompositionError(AxiomError, TypeError):
    """Raised when two diagrams are composed along mismatched types."""


def describe(diagram) -> str:
    """``name: dom → cod``, the way error messages name a diagram."""
    if isinstance(diagram, cat.Box):
        name = diagram.name
    elif not diagram.inside:
        name = "Id"
    else:
        name = str(diagram) if len(diagram.inside) <= 3 else f"a diagram of {len(diagram.inside)} boxes"
    return f"{name}: {diagram.dom!r} → {diagram.cod!r}"


@factory
class Diagram(symmetric.Diagram):
    """A string diagram of paralens generators.

    ``>>`` composes in diagrammatic order (``f >> g`` runs f first), ``@``
    tensors. ``Diagram.id(x).then(*many)`` builds long chains in linear time.
    """

    ty_factory = Ty

    def then(self, *others):
        left = self
        for other in others:
            if not isinstance(other, Diagram):
                raise TypeError(f"cannot compose {describe(left)} with {other!r}: "
                                "not a paralens diagram")
            if left.cod != other.dom:
                raise CompositionError(
                    f"cannot compose {describe(left)} with {describe(other)}: "
                    f"{left.cod!r} ≠ {other.dom!r}")
            left = other
        inside = tuple(itertools.chain(self.inside, *(o.inside for o in others)))
        cod = others[-1].cod if others else self.cod
        return self.factory(inside, self.dom, cod, _scan=False)

    @classmethod
    def swap(cls, left: Ty, right: Ty) -> Diagram:
        return symmetric.Diagram.swap.__func__(cls, left, right)

    @classmethod
    def permutation(cls, xs, dom=None) -> Diagram:
        return symmetric.Diagram.permutation.__func__(cls, xs, dom)

    def draw(self, **params):
        """Draw with DisCoPy, with margins so the boundary wire labels show."""
        params.setdefault("margins", (0.05, 0.08))
        return super().draw(**params)

    def __call__(self, *wires):
        """Apply the diagram to wires inside a function traced by ``categories.function``."""
        from .syntax import apply
        return apply(self, *wires)

    @classmethod
    def from_layers(cls, dom: Ty, layers) -> Diagram:
        """The diagram of ``(left, box, right)`` layers, built in one step (no copying)."""
        inside, cod = [], dom
        for left, box, right in layers:
            if left @ box.dom @ right != cod:
                raise CompositionError(
                    f"cannot apply {describe(box)} to {cod!r} at offset {len(left)}")
            inside.append(_Layer.of(left, box, right))
            cod = left @ box.cod @ right
        return cls.factory(tuple(inside), dom, cod, _scan=False)

    @property
    def size(self) -> int:
        """The number of boxes (swaps included)."""
        return len(self.inside)


class _Layer(monoidal.Layer):
    """A DisCoPy layer built in constant time from checked parts: its name, which
    spells out every wire on both sides, is written only when asked for."""

    @classmethod
    def of(cls, left: Ty, box, right: Ty) -> _Layer:
        layer = object.__new__(cls)
        layer.boxes_or_types = (left, box, right)
        layer.dom, layer.cod = left @ box.dom @ right, left @ box.cod @ right
        layer.inside, layer.data, layer.is_dagger = (layer, ), None, False
        return layer

    @property
    def name(self) -> str:
        return " @ ".join(str(x) for x in self.boxes_or_types if not isinstance(x, Ty) or x.inside)

    @name.setter
    def name(self, _):
        pass

    def __eq__(self, other):
        return isinstance(other, monoidal.Layer) and tuple(self) == tuple(other)

    __hash__ = monoidal.Layer.__hash__


class Box(symmetric.Box, Diagram):
    """A box, with DisCoPy's constructor signature ``Box(name, dom, cod, **params)``."""

    __ambiguous_inheritance__ = (symmetric.Box, )


class Swap(symmetric.Swap, Box):
    """The symmetry on two atomic types."""

    __ambiguous_inheritance__ = (symmetric.Swap, )


Diagram.braid_factory = Swap
Id = Diagram.id
