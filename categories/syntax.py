"""Write a diagram as a Python function of its wires.

``function(dom, cod)`` runs a Python function on symbolic wires and returns the
string diagram it describes: every use of a wire after the first inserts a
``Copy``, every unused wire a ``Discard``, and wires are moved with swaps.
Arithmetic on wires stands for the generators (``+`` Add, ``*`` Mul, ``-`` Neg,
a number times a wire is Scale, a number alone is a Constant). On Bool wires
the ring is Z2: ``^`` and ``+`` are XOR, ``&`` and ``*`` are AND, ``~`` is NOT
(x ⊕ 1), ``|`` is OR (x ⊕ y ⊕ x∧y), and the numbers 0 and 1 are constants.

>>> from categories import Real
>>> x = Real(3)
>>> square_plus_one = function(x, x)(lambda a: a * a + 1)
>>> [box.name for box in square_plus_one.boxes]
['Copy', 'Mul', 'Constant(1)', 'Add']
>>> square_plus_one.dom, square_plus_one.cod
(Real(3), Real(3))
"""

from __future__ import annotations

from collections import Counter
from itertools import chain
from numbers import Number

from .adapter import Diagram, Ty

__all__ = ["function", "Wired"]


class Wired:
    """A wire of a diagram under construction (the argument of a traced function)."""

    def __init__(self, tape: _Tape, index: int, ty: Ty):
        self.tape, self.index, self.ty = tape, index, ty

    def __repr__(self):
        return f"Wired({self.index}: {self.ty!r})"

    @property
    def boolean(self) -> bool:
        return self.ty.inside[0].kind == "Bool"

    def _lift(self, other):
        if isinstance(other, Wired):
            return other
        if isinstance(other, Number):
            if self.boolean:
                return _bit(other, self.ty)
            from .smooth import Constant
            return Constant(float(other), self.ty)()
        return NotImplemented

    def _z2(self, op: str):
        if not self.boolean:
            raise TypeError(f"{op} acts on Bool wires, got {self.ty!r}")

    def __add__(self, other):
        if self.boolean:
            return self ^ other
        from .structural import Add
        other = self._lift(other)
        return other if other is NotImplemented else Add(self.ty)(self, other)

    __radd__ = __add__

    def __xor__(self, other):
        self._z2("^ (XOR)")
        from .boolean import Xor
        other = self._lift(other)
        return other if other is NotImplemented else Xor(self.ty)(self, other)

    __rxor__ = __xor__

    def __and__(self, other):
        self._z2("& (AND)")
        from .boolean import And
        other = self._lift(other)
        return other if other is NotImplemented else And(self.ty)(self, other)

    __rand__ = __and__

    def __invert__(self):
        self._z2("~ (NOT)")
        return self ^ 1

    def __or__(self, other):
        self._z2("| (OR)")
        other = self._lift(other)
        return other if other is NotImplemented else self ^ other ^ (self & other)

    __ror__ = __or__

    def __neg__(self):
        if self.boolean:
            return self         # −x = x in Z2
        from .smooth import Neg
        return Neg(self.ty)(self)

    def __sub__(self, other):
        other = self._lift(other)
        return other if other is NotImplemented else self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        if self.boolean:
            return self & other
        from .smooth import Mul, Scale
        if isinstance(other, Number):
            return Scale(float(other), self.ty)(self)
        return Mul(self.ty)(self, other) if isinstance(other, Wired) else NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, other):
        from .smooth import Reciprocal
        if isinstance(other, Number):
            return self * (1.0 / other)
        return self * Reciprocal(other.ty)(other) if isinstance(other, Wired) else NotImplemented


def _bit(value, ty: Ty):
    """The constant 0 or 1 on a Bool wire."""
    if value not in (0, 1):
        raise TypeError(f"a Bool wire takes the constants 0 and 1, got {value!r}")
    from .boolean import One
    from .structural import Zero
    return One(ty)() if value else Zero(ty)()


class _Tape:
    """The boxes applied so far, on numbered wires."""

    def __init__(self):
        self.types, self.ops, self.active = [], [], None

    def new(self, ty: Ty) -> Wired:
        self.types.append(ty)
        return Wired(self, len(self.types) - 1, ty)


_current: list[_Tape] = []


def apply(diagram: Diagram, *args: Wired):
    """Record ``diagram`` applied to wires; returns its output wire(s)."""
    if not _current:
        raise TypeError(f"{diagram} applied to wires outside of a traced function")
    tape = _current[-1]
    if len(args) == 1 and isinstance(args[0], tuple):
        args = args[0]
    dom = Ty().tensor(*(a.ty for a in args))
    if dom != diagram.dom:
        from .adapter import describe
        wrong = next((f"; argument {k} is {a.ty!r}, expected {diagram.dom[k:k + 1]!r}"
                      for k, a in enumerate(args)
                      if len(dom) == len(diagram.dom) and a.ty != diagram.dom[k:k + 1]), "")
        raise TypeError(f"{describe(diagram)} applied to wires {dom!r}{wrong}")
    outs = tuple(tape.new(diagram.cod[i:i + 1]) for i in range(len(diagram.cod)))
    tape.ops.append((diagram, tuple(a.index for a in args), tuple(o.index for o in outs)))
    return outs[0] if len(outs) == 1 else outs


def function(dom: Ty, cod: Ty):
    """Decorator: the diagram ``dom → cod`` that a Python function of wires describes."""
    def decorator(fn) -> Diagram:
        tape = _Tape()
        _current.append(tape)
        try:
            inputs = [tape.new(dom[i:i + 1]) for i in range(len(dom))]
            result = fn(*inputs)
        finally:
            _current.pop()
        outputs = result if isinstance(result, tuple) else (result, )
        outputs = tuple(o for o in outputs if o is not None)
        got = Ty().tensor(*(o.ty for o in outputs))
        if got != cod:
            raise TypeError(f"{getattr(fn, '__name__', fn)} returns {got!r}, expected {cod!r}")
        return _layout(tape, [i.index for i in inputs], [o.index for o in outputs], dom)
    return decorator


def _layout(tape: _Tape, inputs: list[int], outputs: list[int], dom: Ty) -> Diagram:
    """Lay the recorded ops out as a diagram, copying, discarding and moving wires.

    The stack holds one entry per wire, ``(value, token)``; an op is applied
    where its first input sits, after its other inputs are moved beside it.
    """
    from .structural import Copy, Discard, Permutation, Swap
    uses = Counter(i for _, ins, _ in tape.ops for i in ins) + Counter(outputs)
    tokens = iter(range(1 << 62))
    stack = [(v, next(tokens)) for v in inputs]
    layers = []
    wires = [t.inside for t in tape.types]
    ty = lambda entries: Ty._of(tuple(chain.from_iterable([wires[v] for v, _ in entries])))

    def put(diagram, offset):
        left, right = ty(stack[:offset]), ty(stack[offset + len(diagram.dom):])
        for layer_left, box, layer_right in diagram.inside:
            layers.append((left @ layer_left, box, layer_right @ right))

    def discard_dead():
        for position in reversed(range(len(stack))):
            if uses[stack[position][0]] == 0:
                put(Discard(tape.types[stack[position][0]]), position)
                del stack[position]

    def take(value, taken):
        """An entry of ``value`` to consume; copied (the left copy consumed) if needed again."""
        uses[value] -= 1
        position = max(k for k, e in enumerate(stack) if e[0] == value and e not in taken)
        if uses[value] > 0:
            put(Copy(tape.types[value]), position)
            stack.insert(position, (value, next(tokens)))
        return stack[position]

    def permute(lo, order):
        """Reorder stack[lo:lo + len(order)]: new k-th entry is old ``order[k]``."""
        region = stack[lo:lo + len(order)]
        if len(order) == 2:
            put(Swap(ty(region[:1]), ty(region[1:])), lo)
        else:
            put(Permutation(ty(region), order), lo)
        stack[lo:lo + len(order)] = [region[k] for k in order]

    def place_after(entry, previous):
        p, q = stack.index(entry), stack.index(previous)
        if p == q + 1:
            return
        if p > q:   # move left, to q + 1
            permute(q + 1, [p - q - 1] + list(range(p - q - 1)))
        else:       # move right, past previous
            permute(p, list(range(1, q - p + 1)) + [0])

    def gather(values):
        taken = []
        for value in values:
            taken.append(take(value, taken))
        for previous, entry in zip(taken, taken[1:]):
            place_after(entry, previous)
        return stack.index(taken[0]) if taken else len(stack)

    discard_dead()
    for box, ins, outs in tape.ops:
        offset = gather(ins)
        put(box, offset)
        stack[offset:offset + len(ins)] = [(v, next(tokens)) for v in outs]
        discard_dead()
    offset = gather(outputs)
    if offset:
        permute(0, list(range(offset, len(stack))) + list(range(offset)))
    return Diagram.from_layers(dom, layers)
