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

**Construction is linear.** A DisCoPy layer spells out the whole type on each
side of its box, so anything that threads a growing bundle of wires through
every layer (the parameters of a Para chain, the residuals of a lens) would
cost O(n²). Here a type is a persistent concatenation (``@`` takes constant
time, its wires are listed when asked for), and ``>>``, ``@`` and traced
functions build diagrams as a tree of their parts. DisCoPy's layers are laid
out only when asked for (``inside``: drawing, equality, DisCoPy's own
algorithms); :func:`interpret` and :func:`fold` read the tree directly, in one
pass and at any depth:

>>> from paralens.categories import Tanh
>>> x = Real(2)
>>> chain = Diagram.id(x).then(*[Tanh(x)] * 10_000)
>>> chain.size, len(interpret(chain, ["a"], lambda box, ins: [box.name + "(" + ins[0] + ")"])[0])
(10000, 60001)

Diagrams pickle (a chain as a flat program, whatever its length), and DisCoPy's
own idioms work on them as on a plain DisCoPy diagram: its trees (``to_tree``,
``from_tree``, JSON ``dumps`` and ``loads``) and ``foliation``, which puts
independent boxes side by side in one layer:

>>> import pickle
>>> from discopy.utils import dumps, loads
>>> pickle.loads(pickle.dumps(chain)).size
10000
>>> d = Tanh(x) @ x >> x @ Tanh(x)
>>> loads(dumps(d)) == d, pickle.loads(pickle.dumps(d)) == d
(True, True)
>>> folded = d.foliation()
>>> print(folded)
Tanh @ Tanh
>>> len(d), len(folded), folded.size
(2, 1, 2)
"""

from __future__ import annotations

import functools
import gc
import importlib
import itertools
import numbers
import pickle
import sys
import types
from contextlib import contextmanager

import discopy
import numpy as np
from discopy import cat, monoidal, symmetric
from discopy.cat import factory
from discopy.monoidal import Category, Functor
from discopy.utils import AxiomError, factory_name, from_tree

__all__ = [
    "Wire", "Ty", "Real", "Bool", "Diagram", "Box", "Swap", "Id",
    "CompositionError", "describe", "Category", "Functor", "interpret", "fold", "building",
    "whole", "equations", "Seq", "step_of",
]


def whole(n, what: str, least: int = 0) -> int:
    """``n`` as a whole number at least ``least``, or an error naming ``what`` it is.

    >>> whole(3, "a size")
    3
    >>> whole(2.5, "Real: a size")
    Traceback (most recent call last):
    ...
    TypeError: Real: a size must be a whole number, got 2.5
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{what} must be a whole number, got {n!r}")
    if n < least:
        raise ValueError(f"{what} must be at least {least}, got {n}")
    return int(n)


#: the traced functions being run, innermost last (``categories.syntax`` pushes them)
tracing: list = []


@contextmanager
def building():
    """Pause Python's cyclic garbage collector while a large structure is built.

    Construction makes many small objects and no garbage cycles; left running,
    the collector rescans the growing heap and makes linear construction
    measurably superlinear. Re-entrant; the collector's state is restored."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Wire(cat.Ob):
    """An atomic wire: a kind, the shape of one example and a dtype.

    >>> w = Real(2, 3).inside[0]
    >>> w.kind, w.shape, w.dtype, w.size
    ('Real', (2, 3), dtype('float64'), 6)
    """

    def __init__(self, kind: str, shape: tuple = (), dtype="float64", time: bool = False):
        self.kind = kind
        self.shape = tuple(whole(n, f"{kind}({', '.join(map(repr, shape))}): a size")
                           for n in shape)
        self.dtype = _dtype(dtype, kind)
        self.time = bool(time)
        words = [str(n) for n in self.shape]
        if self.dtype != DEFAULT_DTYPE[kind]:
            words.append(f"dtype='{self.dtype}'")
        name = f"{kind}({', '.join(words)})"
        super().__init__(f"Seq({name})" if self.time else name)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=int))

    def over_time(self, time: bool = True) -> Wire:
        """The same wire carrying a sequence (``time=True``) or one step of it."""
        return self if self.time == time else Wire(self.kind, self.shape, self.dtype, time)

    def __eq__(self, other):
        return self is other or isinstance(other, Wire) and (
            self.kind, self.shape, self.dtype, self.time) == (
            other.kind, other.shape, other.dtype, other.time)

    def __hash__(self):
        return hash((self.kind, self.shape, self.dtype, self.time))

    def __repr__(self):
        return self.name

    def to_tree(self) -> dict:
        """DisCoPy's tree of the wire: its kind, shape, dtype and whether it is a sequence.

        >>> w = Real(2, 3, dtype="float32").inside[0]
        >>> Wire.from_tree(w.to_tree()) == w
        True
        """
        tree = {"factory": factory_name(type(self)), "name": self.name, "kind": self.kind,
                "shape": list(self.shape), "dtype": str(self.dtype)}
        if self.time:
            tree["time"] = True
        return tree

    @classmethod
    def from_tree(cls, tree: dict) -> Wire:
        return cls(tree["kind"], tuple(tree["shape"]), tree["dtype"], tree.get("time", False))


DEFAULT_DTYPE = {"Real": np.dtype("float64"), "Bool": np.dtype("bool"),
                 "Finite": np.dtype("int64")}


def _dtype(dtype, kind: str) -> np.dtype:
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{kind}: {dtype!r} is not a NumPy dtype") from None


@factory
class Ty(symmetric.Ty):
    """A type: a tensor (list) of wires. ``Ty()`` is the monoidal unit.

    ``@`` is a persistent concatenation taking constant time; ``len`` is
    constant time too, and the wires (``inside``) are listed once, when asked.

    >>> x, y = Real(1), Real(2)
    >>> t = x @ y @ x
    >>> len(t), t[1:], t[:1] == x
    (3, Real(2) @ Real(1), True)
    """

    ob_factory = Wire

    def __init__(self, *inside: Wire):
        for obj in inside:
            if type(obj) is not Wire:
                raise TypeError(f"a type is a tensor of wires, got {obj!r}")
        self._inside, self._parts, self._len = inside, None, len(inside)

    @classmethod
    def _of(cls, inside: tuple) -> Ty:
        """A type of wires already checked (the fast path of tensor and slicing)."""
        ty = object.__new__(cls)
        ty._inside, ty._parts, ty._len = inside, None, len(inside)
        return ty

    @classmethod
    def _join(cls, left: Ty, right: Ty) -> Ty:
        """left @ right in constant time."""
        if not right._len:
            return left
        if not left._len:
            return right
        ty = object.__new__(cls)
        ty._inside, ty._parts, ty._len = None, (left, right), left._len + right._len
        return ty

    @property
    def inside(self) -> tuple:
        if self._inside is None:
            wires, pending = [], [self]
            while pending:
                ty = pending.pop()
                if ty._inside is not None:
                    wires.extend(ty._inside)
                else:
                    pending += ty._parts[::-1]
            self._inside = tuple(wires)
        return self._inside

    @inside.setter
    def inside(self, value):
        self._inside, self._parts = tuple(value), None
        self._len = len(self._inside)

    @property
    def name(self) -> str:
        return str(self)

    @name.setter
    def name(self, _):
        pass

    def __len__(self):
        return self._len

    def tensor(self, *others: Ty) -> Ty:
        result = self
        for other in others:
            if not isinstance(other, Ty):
                return NotImplemented
            result = Ty._join(result, other)
        return result

    def __getitem__(self, key):
        if not isinstance(key, slice):
            return super().__getitem__(key)
        start, stop, step = key.indices(self._len)
        if step != 1:
            return Ty._of(self.inside[key])
        ty = self
        while True:         # descend while the slice lies inside one part
            if start <= 0 and stop >= ty._len:
                return ty
            if start >= stop:
                return Ty()
            if ty._inside is not None:
                return Ty._of(ty._inside[start:stop])
            left, right = ty._parts
            if stop <= left._len:
                ty = left
            elif start >= left._len:
                ty, start, stop = right, start - left._len, stop - left._len
            else:
                return Ty._of(ty.inside[start:stop])

    def __eq__(self, other):
        if self is other:
            return True
        if not isinstance(other, Ty) or self._len != other._len:
            return False
        pairs = [(self, other)]
        while pairs:        # shared parts are equal without listing their wires
            a, b = pairs.pop()
            if a is b:
                continue
            if a._len != b._len:
                return False
            if a._inside is None and b._inside is None and a._parts[0]._len == b._parts[0]._len:
                pairs += zip(a._parts, b._parts)
            elif a.inside != b.inside:
                return False
        return True

    def __hash__(self):
        return hash(self.inside)

    def __repr__(self):
        return " @ ".join(map(repr, self.inside)) or "Ty()"

    def __str__(self):
        return repr(self)

    def __iter__(self):
        for wire in self.inside:
            yield Ty._of((wire, ))

    def __getstate__(self):
        return {"_inside": self.inside, "_parts": None, "_len": self._len}


def Real(*shape: int, dtype="float64") -> Ty:
    """The type of real arrays of the given per-example shape."""
    if _dtype(dtype, "Real").kind != "f":
        raise TypeError(f"Real wires hold floating-point arrays, not {np.dtype(dtype)}")
    return Ty(Wire("Real", shape, dtype))


def Bool(*shape: int) -> Ty:
    """The type of Boolean arrays (elements of Z2) of the given per-example shape."""
    return Ty(Wire("Bool", shape, "bool"))


def Seq(x: Ty) -> Ty:
    """The type of sequences of ``x``: each wire carries arrays (batch, time, *shape),
    the time axis explicit and second. Only wirings and loops (``categories.stateful``)
    act on sequence wires; a generator acts on one step.

    >>> Seq(Real(3) @ Real(2))
    Seq(Real(3)) @ Seq(Real(2))
    >>> Seq(Real(3)) == Real(3), step_of(Seq(Real(3))) == Real(3)
    (False, True)
    """
    return Ty._of(tuple(w.over_time(True) for w in _ty(x, "Seq").inside))


def step_of(x: Ty) -> Ty:
    """The type of one step of sequences of ``x`` (the inverse of :func:`Seq`)."""
    return Ty._of(tuple(w.over_time(False) for w in _ty(x, "step_of").inside))


def _ty(x, what: str) -> Ty:
    if not isinstance(x, Ty):
        raise TypeError(f"{what}: expected a type such as Real(3), got {x!r}")
    return x


class CompositionError(AxiomError, TypeError):
    """Raised when two diagrams are composed along mismatched types."""


def describe(diagram) -> str:
    """``name: dom → cod``, the way error messages name a diagram."""
    if isinstance(diagram, cat.Box):
        name = diagram.name
    elif not diagram.size:
        name = "Id"
    else:
        name = str(diagram) if diagram.size <= 3 else f"a diagram of {diagram.size} boxes"
    return f"{name}: {diagram.dom!r} → {diagram.cod!r}"


# -- diagrams as a tree of their parts ------------------------------------------------
#
# A diagram is one of: a box; DisCoPy layers (``inside``, as DisCoPy builds them);
# ``then`` or ``tensor`` of two diagrams; a traced function (``trace``, see
# ``categories.syntax``). Only the first two are DisCoPy's own; the others lay
# their layers out when ``inside`` is first read.

@factory
class Diagram(symmetric.Diagram):
    """A string diagram of paralens generators.

    ``>>`` composes in diagrammatic order (``f >> g`` runs f first), ``@``
    tensors; both take constant time.
    """

    ty_factory = Ty
    _kind, _parts, _layers = "layers", None, ()

    #: what a diagram may keep in its ``__dict__`` that is derived from the rest
    #: (functions interpreters compiled from it, DisCoPy's free symbols): never pickled;
    #: a subclass adds its own
    _caches = ("_compiled_by", "free_symbols")

    @property
    def inside(self) -> tuple:
        if self._layers is None:
            self._layers = _lay_out(self)
        return self._layers

    @inside.setter
    def inside(self, layers):
        self._layers, self._parts = layers, None
        if self._kind != "box":
            self._kind = "layers"

    @classmethod
    def _node(cls, kind: str, parts, dom: Ty, cod: Ty) -> Diagram:
        diagram = object.__new__(Diagram)
        diagram.dom, diagram.cod = dom, cod
        diagram._kind, diagram._parts, diagram._layers = kind, parts, None
        return diagram

    @property
    def is_id(self) -> bool:
        return self._kind == "layers" and not self._layers

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
            left = left._then(other)
        return left

    def __rshift__(self, other):
        return self.then(other) if isinstance(other, Diagram) else NotImplemented

    def _then(self, other: Diagram) -> Diagram:
        """self >> other, for types known to fit."""
        if other.is_id:
            return self
        if self.is_id:
            return other
        return Diagram._node("then", (self, other), self.dom, other.cod)

    def tensor(self, other=None, *others):
        if other is None:
            return self
        result = self
        for other in (other, ) + others:
            if isinstance(other, Ty):
                other = Diagram.id(other)
            if not isinstance(other, Diagram):
                return NotImplemented
            result = result._tensor(other)
        return result

    def _tensor(self, other: Diagram) -> Diagram:
        if other.is_id and not len(other.dom):
            return self
        if self.is_id and not len(self.dom):
            return other
        return Diagram._node("tensor", (self, other), self.dom @ other.dom, self.cod @ other.cod)

    def __matmul__(self, other):
        return self.tensor(other)

    def __rmatmul__(self, other):
        if isinstance(other, Ty):
            return Diagram.id(other).tensor(self)
        return NotImplemented

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
        if not tracing:
            raise TypeError(f"{describe(self)} applied to wires outside of a traced function")
        return tracing[-1].apply(self, *wires)

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
        """The number of boxes (swaps included), counted without laying layers out."""
        return sum(1 for _ in steps(self))

    def __len__(self):
        """The number of layers, as DisCoPy counts them: one box each, until
        ``foliation`` puts boxes side by side in one layer."""
        return len(self.inside) if self._kind == "layers" else self.size

    def __eq__(self, other):
        return self is other or super().__eq__(other)

    __hash__ = symmetric.Diagram.__hash__

    # -- pickling: see "Pickling and DisCoPy's trees" below --------------------------
    def __reduce_ex__(self, protocol):
        if self._kind in ("then", "tensor"):    # a tree of parts: pickled as a flat program
            return _from_postfix, (_postfix(self), )
        return super().__reduce_ex__(protocol)

    def __getstate__(self) -> dict:
        state = _state(self)
        for key, value in state.items():
            _refuse_unnamed(value, lambda: f"cannot pickle the "
                            f"{'box' if self._kind == 'box' else 'diagram'} {describe(self)}: "
                            f"its {key}")
        return {key: pickled(value) for key, value in state.items()}

    def __setstate__(self, state: dict):
        self.__dict__.update(state)
        if self._kind != "layers":
            self._layers = None         # laid out again when asked


def _leaves(diagram: Diagram):
    """The boxes, traced functions and DisCoPy-layered diagrams of a diagram's tree
    of parts, in order, each with its offset (the number of wires on its left)."""
    pending = [(diagram, 0)]
    while pending:
        d, offset = pending.pop()
        kind = d._kind
        if kind == "then":
            first, second = d._parts
            pending += [(second, offset), (first, offset)]
        elif kind == "tensor":
            first, second = d._parts
            pending += [(second, offset + len(first.cod)), (first, offset)]
        else:
            yield offset, d


def steps(diagram: Diagram):
    """The boxes of a diagram in order, each with its offset, read from the tree of
    parts without laying layers out (a traced function's boxes from its layout)."""
    for offset, d in _leaves(diagram):
        if d._kind == "box":
            yield offset, d
        elif d._kind == "trace":
            for k, box in d._parts.layout():
                yield offset + k, box
        else:
            for layer in d.inside:
                for k, box in _in_layer(layer):
                    yield offset + k, box


def _in_layer(layer):
    """The boxes of a DisCoPy layer, each with its offset, to apply one after the
    other. A layer is ``left, box, right``, or after ``foliation`` boxes side by side,
    ``left, box, middle, box, …, right``: a box's offset counts the outputs of the
    boxes on its left, applied before it."""
    items = tuple(layer)
    k = len(items[0])
    for box, between in zip(items[1::2], items[2::2]):
        yield k, box
        k += len(box.cod) + len(between)


def _lay_out(diagram: Diagram) -> tuple:
    """DisCoPy's layers: each box with the whole types on either side of it."""
    wires, layers = list(diagram.dom.inside), []
    for offset, box in steps(diagram):
        k = len(box.dom)
        left, right = Ty._of(tuple(wires[:offset])), Ty._of(tuple(wires[offset + k:]))
        layers.append(_Layer.of(left, box, right))
        wires[offset:offset + k] = box.cod.inside
    return tuple(layers)


def interpret(diagram: Diagram, values: list, apply) -> list:
    """Run a diagram on one value per input wire: ``apply(box, ins)`` returns the
    values of each box's outputs, wirings (boxes that declare ``wiring``) only
    move values, and a traced function runs op by op on its own values. One
    pass, no recursion in the depth of the diagram; returns the output values."""
    _diagram(diagram)
    with building():
        return _interpret(diagram, values, apply)


def equations(diagram: Diagram) -> tuple:
    """``(equations, outputs)``: the boxes a diagram applies, as ``(box, ins, outs)``
    on values numbered in order (its inputs first), and the values it returns."""
    found, count = [], itertools.count(len(diagram.dom))

    def apply(box, ins):
        outs = tuple(next(count) for _ in range(len(box.cod)))
        found.append((box, tuple(ins), outs))
        return outs

    outputs = interpret(diagram, list(range(len(diagram.dom))), apply)
    return tuple(found), tuple(outputs)


def _interpret(diagram: Diagram, values: list, apply) -> list:
    stack = list(values)

    def run(box, offset):
        k = len(box.dom)
        ins = stack[offset:offset + k]
        rotation = getattr(box, "rotation", None)
        if rotation is not None:
            stack[offset:offset + k] = ins[rotation:] + ins[:rotation]
            return
        wiring = getattr(box, "wiring", None)
        stack[offset:offset + k] = [ins[j] for j in wiring] if wiring is not None \
            else apply(box, ins)

    for offset, d in _leaves(diagram):
        if d._kind == "box":
            run(d, offset)
        elif d._kind == "trace":
            k = len(d.dom)
            stack[offset:offset + k] = d._parts.interpret(stack[offset:offset + k], apply)
        else:
            for layer in d.inside:
                for k, box in _in_layer(layer):
                    run(box, offset + k)
    return stack


def fold(diagram: Diagram, box, then, tensor, trace, identity):
    """Apply a monoidal functor structurally: ``box(b)`` on boxes, ``then(F(f), F(g))``
    and ``tensor(F(f), F(g))`` on composites, ``trace(t)`` on traced functions and
    ``identity(x)`` on identities (DisCoPy layers are read as whiskered boxes).
    Iterative: any depth."""
    _diagram(diagram)
    with building():
        return _fold(diagram, box, then, tensor, trace, identity)


def _diagram(diagram):
    """Refuse what is not a diagram, saying what it is (a Para map: its .diagram)."""
    if not isinstance(diagram, Diagram):
        hint = "; pass its .diagram" if isinstance(getattr(diagram, "diagram", None), Diagram) \
            else ""
        raise TypeError(f"expected a diagram, got {type(diagram).__name__} {diagram!r}{hint}")


def _fold(diagram, box, then, tensor, trace, identity):
    done, pending = [], [(diagram, False)]
    while pending:
        d, ready = pending.pop()
        kind = d._kind
        if kind == "box":
            done.append(box(d))
        elif kind in ("then", "tensor"):
            if ready:
                second, first = done.pop(), done.pop()
                done.append((then if kind == "then" else tensor)(first, second))
            else:
                pending += [(d, True), (d._parts[1], False), (d._parts[0], False)]
        elif kind == "trace":
            done.append(trace(d._parts))
        elif not d.inside:
            done.append(identity(d.dom))
        else:
            result = None
            for items in map(tuple, d.inside):  # left, box, right (foliated: …, box, middle, …)
                layer = identity(items[0])
                for k in range(1, len(items), 2):
                    layer = tensor(tensor(layer, box(items[k])), identity(items[k + 1]))
                result = layer if result is None else then(result, layer)
            done.append(result)
    return done.pop()


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
    _kind = "box"

    def __init__(self, name: str, dom: Ty, cod: Ty, **params):
        for attr in monoidal.DRAWING_ATTRIBUTES:
            if attr in params:
                setattr(self, attr, params.pop(attr))
        cat.Box.__init__(self, name, dom, cod, **params)   # its one layer is made when asked

    @property
    def inside(self) -> tuple:
        if self._layers is None or self._layers == (self, ):
            self._layers = (_Layer.of(Ty(), self, Ty()), )
        return self._layers

    @inside.setter
    def inside(self, layers):
        self._layers = layers

    @property
    def size(self) -> int:
        return 1

    def __hash__(self):
        return hash((type(self).__name__, self.name, self.dom, self.cod))

    __setstate__ = Diagram.__setstate__      # not DisCoPy's, which reads older pickles

    def to_tree(self) -> dict:
        """DisCoPy's tree of the box: its class, name and types, and its own
        attributes as data (arrays, numbers, types, diagrams, functions by name).

        >>> from paralens.categories import Constant
        >>> tree = Constant(2.0, Real(3)).to_tree()
        >>> tree["factory"], tree["name"], tree["state"]["c"]
        ('paralens.categories.smooth.Constant', 'Constant(2)', 2.0)
        >>> from_tree(tree) == Constant(2.0, Real(3))
        True
        """
        tree = {"factory": factory_name(type(self)), "name": self.name,
                "dom": self.dom.to_tree(), "cod": self.cod.to_tree()}
        state = {k: v for k, v in _state(self).items() if k not in ("name", "dom", "cod")}
        tree["state"] = {k: _tree_of(v, lambda: f"to_tree: {describe(self)}: its {k}")
                         for k, v in state.items()}
        return tree

    @classmethod
    def from_tree(cls, tree: dict) -> Box:
        state = tree.get("state", {"data": tree.get("data"),
                                   "is_dagger": tree.get("is_dagger", False)})
        box = object.__new__(cls)
        named = {} if isinstance(getattr(cls, "name", None), property) else {"name": tree["name"]}
        box.__setstate__({**named, "dom": from_tree(tree["dom"]), "cod": from_tree(tree["cod"]),
                          **{k: _value_of(v) for k, v in state.items()}})
        return box


class Swap(symmetric.Swap, Box):
    """The symmetry on two atomic types."""

    __ambiguous_inheritance__ = (symmetric.Swap, )


Id = Diagram.id


# -- pickling and DisCoPy's trees ----------------------------------------------------------
#
# A diagram pickles as its parts: a tree of ``then`` and ``tensor`` nodes as a flat
# postfix program (pickling recurses in the nesting of boxes inside boxes, never in the
# length of a chain), a box as its attributes less the caches it keeps (``_caches``), its
# NumPy arrays as they were (``pickled``), and a function it holds only if pickle can
# find it again by name (a lambda is refused, naming the box).
#
# DisCoPy's ``to_tree`` names each class by its module path, and its ``from_tree`` looks
# that path up from the ``discopy`` package: this package is made one of its names (its
# modules imported when first named), so that ``paralens.categories.smooth.Tanh`` is found.

def _state(diagram) -> dict:
    """A diagram's attributes, less its caches (and its layers, unless they are its content)."""
    state = {k: v for k, v in diagram.__dict__.items() if k not in diagram._caches}
    if diagram._kind != "layers":
        state.pop("_layers", None)
    return state


def pickled(value):
    """``value`` with its read-only NumPy arrays (inside tuples and lists too) set to
    pickle as they are: read-only, and an array repeated along its first axis (stride
    0, from ``np.broadcast_to``) still repeated, its repeats not stored. Plain pickling
    gives back a writeable copy of every entry.

    >>> a = np.broadcast_to(np.eye(2), (1000, 2, 2))
    >>> b = pickle.loads(pickle.dumps(pickled(a)))
    >>> b.strides[0], b.flags.writeable, bool(np.array_equal(a, b))
    (0, False, True)
    """
    if isinstance(value, np.ndarray):
        return value if value.flags.writeable else _Array(value)
    if type(value) in (tuple, list):
        items = [pickled(v) for v in value]
        if any(a is not b for a, b in zip(items, value)):
            return type(value)(items)
    return value


class _Array:
    """A read-only NumPy array in a pickle (see :func:`pickled`)."""

    __slots__ = ("array", )

    def __init__(self, array: np.ndarray):
        self.array = array

    def __reduce__(self):
        a = self.array
        if a.ndim and len(a) > 1 and a.strides[0] == 0:
            return _array, (a[:1], a.shape)
        return _array, (a, None)


def _array(data: np.ndarray, shape) -> np.ndarray:
    array = data if shape is None else np.broadcast_to(data[0], shape)
    array.setflags(write=False)
    return array


def _found_by_name(obj) -> bool:
    """Whether pickle finds ``obj`` again by its module and qualified name."""
    found = sys.modules.get(getattr(obj, "__module__", None) or "")
    for part in getattr(obj, "__qualname__", "<unnamed>").split("."):
        found = getattr(found, part, None)
    return found is obj


def _unnamed(value):
    """The first function or class in ``value`` (looking inside its tuples, lists,
    sets, dicts and partials) that pickle cannot find again by name, or None."""
    pending, seen = [value], {}
    while pending:
        v = pending.pop()
        if id(v) in seen:
            continue
        seen[id(v)] = v
        if isinstance(v, (tuple, list, set, frozenset)):
            pending.extend(v)
        elif isinstance(v, dict):
            pending.extend(v.items())
        elif isinstance(v, functools.partial):
            pending += [v.func, v.args, v.keywords]
        elif isinstance(v, (types.FunctionType, type)) and not _found_by_name(v):
            return v
    return None


def _refuse_unnamed(value, where, by: str = "pickle", error=pickle.PicklingError):
    """Raise ``error``, saying ``where()``, if ``value`` holds a function that ``by``
    (pickle, or a tree) cannot store (:func:`_unnamed`)."""
    found = _unnamed(value)
    if found is not None:
        what = "class" if isinstance(found, type) else "function"
        raise error(
            f"{where()} is the {what} {found.__module__}.{found.__qualname__}, which {by} "
            f"cannot store: it stores a {what} by its module and name, and a lambda or a "
            f"{what} defined inside a function cannot be found again by them; define it with "
            f"{'class' if what == 'class' else 'def'} at the top level of a module")


def check_picklable(value, what: str):
    """Raise ``pickle.PicklingError`` naming ``what`` if ``value`` holds a function
    pickle cannot store (a lambda, a function defined inside another).

    >>> check_picklable((np.sin, lambda x: x), "the map f")
    Traceback (most recent call last):
    ...
    _pickle.PicklingError: the map f is the function paralens.categories.adapter.<lambda>, which pickle cannot store: it stores a function by its module and name, and a lambda or a function defined inside a function cannot be found again by them; define it with def at the top level of a module
    """
    _refuse_unnamed(value, lambda: what)


def _postfix(diagram: Diagram) -> list:
    """A tree of parts as a postfix program: each entry a leaf (a box, a traced
    function, DisCoPy layers) or ``(kind, i, j)``, the ``then`` or ``tensor`` of
    entries i and j; a part met twice is one entry. The last entry is the diagram."""
    program, index, pending = [], {}, [(diagram, False)]
    while pending:
        d, ready = pending.pop()
        if id(d) in index:
            continue
        if d._kind not in ("then", "tensor"):
            index[id(d)] = len(program)
            program.append(d)
        elif ready:
            first, second = d._parts
            index[id(d)] = len(program)
            program.append((d._kind, index[id(first)], index[id(second)]))
        else:
            pending += [(d, True), (d._parts[1], False), (d._parts[0], False)]
    return program


def _from_postfix(program: list) -> Diagram:
    built = []
    for entry in program:
        if isinstance(entry, tuple):
            kind, i, j = entry
            a, b = built[i], built[j]
            entry = Diagram._node("then", (a, b), a.dom, b.cod) if kind == "then" else \
                Diagram._node("tensor", (a, b), a.dom @ b.dom, a.cod @ b.cod)
        built.append(entry)
    return built[-1]


def _tree_of(value, where):
    """A box's attribute as JSON data: DisCoPy objects as their trees, NumPy arrays
    and scalars with their dtype, tuples and dicts tagged, functions by name."""
    if isinstance(value, np.generic):
        return {"type": "scalar", "dtype": str(value.dtype), "value": value.item()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (cat.Ob, cat.Arrow)):
        return value.to_tree()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        repeated = value.ndim > 0 and len(value) > 1 and value.strides[0] == 0
        tree = {"type": "ndarray", "dtype": str(value.dtype), "shape": list(value.shape),
                "data": (value[:1] if repeated else value).ravel().tolist()}
        if repeated:
            tree["repeated"] = True
        if not value.flags.writeable:
            tree["writeable"] = False
        return tree
    if isinstance(value, np.dtype):
        return {"type": "dtype", "dtype": str(value)}
    if isinstance(value, bytes):
        return {"type": "bytes", "hex": value.hex()}
    if isinstance(value, list):
        return [_tree_of(v, where) for v in value]
    if isinstance(value, tuple):
        return {"type": "tuple", "items": [_tree_of(v, where) for v in value]}
    if isinstance(value, dict):
        return {"type": "dict", "items": [[_tree_of(k, where), _tree_of(v, where)]
                                          for k, v in value.items()]}
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type, np.ufunc)):
        _refuse_unnamed(value, where, "a tree", TypeError)
        return {"type": "function", "module": value.__module__, "name": value.__qualname__}
    raise TypeError(f"{where()} is {type(value).__name__} {value!r:.80}, which has no tree "
                    f"form (a tree holds types, diagrams, numbers, strings, bytes, arrays, "
                    f"tuples, lists, dicts and functions by name)")


def _value_of(tree):
    """The value :func:`_tree_of` made ``tree`` of."""
    if isinstance(tree, list):
        return [_value_of(t) for t in tree]
    if not isinstance(tree, dict):
        return tree
    if "factory" in tree:
        return from_tree(tree)
    kind = tree.get("type")
    if kind == "ndarray":
        shape = tuple(tree["shape"])
        data = np.array(tree["data"], dtype=tree["dtype"])
        if tree.get("repeated"):
            return np.broadcast_to(data.reshape(shape[1:]), shape)
        array = data.reshape(shape)
        array.setflags(write=tree.get("writeable", True))
        return array
    if kind == "scalar":
        return np.dtype(tree["dtype"]).type(tree["value"])
    if kind == "dtype":
        return np.dtype(tree["dtype"])
    if kind == "bytes":
        return bytes.fromhex(tree["hex"])
    if kind == "tuple":
        return tuple(_value_of(t) for t in tree["items"])
    if kind == "dict":
        return {_value_of(k): _value_of(v) for k, v in tree["items"]}
    if kind == "function":
        found = importlib.import_module(tree["module"])
        for part in tree["name"].split("."):
            found = getattr(found, part)
        return found
    raise ValueError(f"from_tree: {tree!r} is not the tree of a value")


class _Modules:
    """A package's modules as attributes, imported when first named: what DisCoPy's
    ``from_tree`` walks, from the ``discopy`` package, to find a class by its path."""

    def __init__(self, path: str):
        self._path = path

    def __getattr__(self, name: str):
        module = importlib.import_module(self._path)
        found = getattr(module, name, None)
        if found is None or isinstance(found, types.ModuleType):
            try:
                importlib.import_module(f"{self._path}.{name}")
            except ModuleNotFoundError:
                raise AttributeError(f"module {self._path!r} has no attribute {name!r}") from None
            return _Modules(f"{self._path}.{name}")
        return found

    def __repr__(self):
        return f"<the modules of {self._path}, for DisCoPy's from_tree>"


_PACKAGE = __name__.split(".")[0]
if not hasattr(discopy, _PACKAGE):
    setattr(discopy, _PACKAGE, _Modules(_PACKAGE))

__all__ += ["pickled", "check_picklable"]


# -- reading DisCoPy's feedback diagrams (discopy.feedback) ------------------------------
#
# The one place that looks inside ``discopy.feedback``: a feedback diagram is read into
# plain data (its wires with their delays, its layers as nodes), which
# ``categories.feedback`` translates into a machine.

class StreamWire:
    """One wire of a feedback diagram: ``base`` its object at time step 0 (a
    ``discopy.feedback.Ty`` of one object, the key of an object map), ``time`` the
    number of delays on it, ``head`` whether it is the head (the first value) of a
    stream; ``name`` as DisCoPy prints it (``X.d``)."""

    __slots__ = ("base", "time", "head", "name")

    def __init__(self, base, time: int, head: bool, name: str):
        self.base, self.time, self.head, self.name = base, time, head, name

    def __repr__(self):
        return self.name


class StreamNode:
    """One layer of a feedback diagram: ``kind`` one of "box", "swap", "copy",
    "followed_by", "feedback"; the box (reset to time step 0, the key of an arrow
    map) and its name as printed; the wires it reads and writes, ``offset`` the
    number of wires on its left; for a swap, ``left`` the number of wires crossing
    from the left; for a feedback, ``body`` the diagram read inside it and ``mem``
    its number of memory wires (the last outputs of the body, fed back delayed as
    its last inputs)."""

    __slots__ = ("kind", "box", "name", "offset", "dom", "cod", "left", "body", "mem")

    def __init__(self, kind, box, name, offset, dom, cod, left=0, body=None, mem=0):
        self.kind, self.box, self.name, self.offset = kind, box, name, offset
        self.dom, self.cod, self.left, self.body, self.mem = dom, cod, left, body, mem

    def __repr__(self):
        return f"{self.kind} {self.name}: {self.dom} → {self.cod}"


class StreamReading:
    """A feedback diagram read as data: its wires in and out, and its nodes in order."""

    __slots__ = ("dom", "cod", "nodes", "name")

    def __init__(self, dom, cod, nodes, name):
        self.dom, self.cod, self.nodes, self.name = dom, cod, nodes, name


def read_feedback(diagram) -> StreamReading:
    """Read a ``discopy.feedback.Diagram`` into a :class:`StreamReading`. Merges,
    head and tail bubbles, the inverse of FollowedBy and non-constant objects'
    tails are refused, naming the box or wire."""
    from discopy import feedback as fb
    if not isinstance(diagram, fb.Diagram):
        raise TypeError(f"read_feedback: expected a discopy.feedback.Diagram, got "
                        f"{type(diagram).__name__} {diagram!r}")

    def wire(ob, where: str) -> StreamWire:
        if isinstance(ob, fb.TailOb):
            raise NotImplementedError(f"{where}: the wire {ob} is the tail of a non-constant "
                                      f"object; only constant objects' streams are read")
        if isinstance(ob, fb.HeadOb):
            return StreamWire(fb.Ty(ob.arg.reset()), ob.time_step, True, str(ob))
        return StreamWire(fb.Ty(ob.reset()), ob.time_step, False, str(ob))

    def wires(ty, where: str) -> tuple:
        return tuple(wire(ob, where) for ob in ty.inside)

    def read(d) -> StreamReading:
        nodes = []
        for left, box, _ in d.inside:
            where, name = f"box {box}", str(box)
            dom, cod = wires(box.dom, where), wires(box.cod, where)
            offset = len(left)
            if isinstance(box, fb.Feedback):
                nodes.append(StreamNode("feedback", box, name, offset, dom, cod,
                                        body=read(box.arg), mem=len(box.mem)))
            elif isinstance(box, fb.Swap):
                nodes.append(StreamNode("swap", box, name, offset, dom, cod,
                                        left=len(box.left)))
            elif isinstance(box, fb.Copy):
                nodes.append(StreamNode("copy", box, name, offset, dom, cod))
            elif isinstance(box, fb.FollowedBy):
                if box.is_dagger:
                    raise NotImplementedError(f"{where}: the inverse of FollowedBy (splitting "
                                              f"a stream into its head and tail) is not read")
                nodes.append(StreamNode("followed_by", box, name, offset, dom, cod))
            elif isinstance(box, (fb.Merge, fb.Head, fb.Tail)) or not isinstance(box, fb.Box):
                raise NotImplementedError(f"{where}: {type(box).__name__} boxes are not read "
                                          f"(boxes, swaps, copies, FollowedBy and feedback are)")
            else:
                nodes.append(StreamNode("box", box.reset(), name, offset, dom, cod))
        return StreamReading(wires(d.dom, "the diagram's inputs"),
                             wires(d.cod, "the diagram's outputs"), tuple(nodes), str(d))
    return read(diagram)


__all__ += ["StreamWire", "StreamNode", "StreamReading", "read_feedback"]


def feedback_drawing(name: str, dom: Ty, cod: Ty, state: Ty):
    """A machine drawn as DisCoPy draws feedback: its stage one box X ⊗ S.d → Y ⊗ S
    closed by ``.feedback()``, S drawn as one wire (the state, however many wires)."""
    from discopy import feedback as fb
    wires = lambda ty: fb.Ty(*[repr(w) for w in ty.inside])
    memory = fb.Ty(repr(state)) if len(state) else fb.Ty()
    box = fb.Box(name, wires(dom) @ memory.d, wires(cod) @ memory)
    return box.feedback() if len(state) else box


__all__ += ["feedback_drawing"]
