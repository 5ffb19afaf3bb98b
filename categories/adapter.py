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
"""

from __future__ import annotations

import gc
import itertools
import numbers
from contextlib import contextmanager

import numpy as np
from discopy import cat, monoidal, symmetric
from discopy.cat import factory
from discopy.monoidal import Category, Functor
from discopy.utils import AxiomError

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
        return self.size

    def __eq__(self, other):
        return self is other or super().__eq__(other)

    __hash__ = symmetric.Diagram.__hash__


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
            for left, box, _ in d.inside:
                yield offset + len(left), box


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
            for left, box, _ in d.inside:
                run(box, offset + len(left))
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
            for left, b, right in d.inside:
                layer = tensor(tensor(identity(left), box(b)), identity(right))
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


class Swap(symmetric.Swap, Box):
    """The symmetry on two atomic types."""

    __ambiguous_inheritance__ = (symmetric.Swap, )


Id = Diagram.id


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
