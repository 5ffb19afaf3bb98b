"""Write a diagram as a Python function of its wires.

``function(dom, cod)`` runs a Python function on symbolic wires and returns the
string diagram it describes: every use of a wire after the first inserts a
``Copy``, every unused wire a ``Discard``, and wires are moved with swaps.
Arithmetic on wires stands for the generators (``+`` Add, ``*`` Mul, ``-`` Neg,
a number times a wire is Scale, a number alone is a Constant).

>>> from categories import Real
>>> x = Real(3)
>>> square_plus_one = function(x, x)(lambda a: a * a + 1)
>>> [box.name for box in square_plus_one.boxes]
['Copy', 'Mul', 'Constant(1.0)', 'Add']
>>> square_plus_one.dom, square_plus_one.cod
(Real(3), Real(3))
"""

from __future__ import annotations

from collections import Counter
from numbers import Number

from .adapter import Diagram, Ty

__all__ = ["function", "Wired"]


class Wired:
    """A wire of a diagram under construction (the argument of a traced function)."""

    def __init__(self, tape: _Tape, index: int, ty: Ty):
        self.tape, self.index, self.ty = tape, index, ty

    def __repr__(self):
        return f"Wired({self.index}: {self.ty!r})"

    def _lift(self, other):
        if isinstance(other, Wired):
            return other
        if isinstance(other, Number):
            from .smooth import Constant
            return Constant(float(other), self.ty)()
        return NotImplemented

    def __add__(self, other):
        from .structural import Add
        other = self._lift(other)
        return other if other is NotImplemented else Add(self.ty)(self, other)

    __radd__ = __add__

    def __neg__(self):
        from .smooth import Neg
        return Neg(self.ty)(self)

    def __sub__(self, other):
        other = self._lift(other)
        return other if other is NotImplemented else self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
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
        raise TypeError(f"{diagram.name if hasattr(diagram, 'name') else diagram} expects "
                        f"wires {diagram.dom!r}, got {dom!r}")
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
    """Lay the recorded ops out as a diagram, copying, discarding and swapping wires."""
    from .structural import Copy, Discard, Permutation, Swap
    uses = Counter(i for _, ins, _ in tape.ops for i in ins) + Counter(outputs)
    stack, layers = list(inputs), []
    ty = lambda ids: Ty(*(w for i in ids for w in tape.types[i].inside))

    def put(diagram, offset):
        left, right = ty(stack[:offset]), ty(stack[offset + len(diagram.dom):])
        for layer_left, box, layer_right in diagram.inside:
            layers.append((left @ layer_left, box, layer_right @ right))

    def discard_dead():
        for position in reversed(range(len(stack))):
            if uses[stack[position]] == 0:
                put(Discard(tape.types[stack[position]]), position)
                del stack[position]

    def gather(ids):
        """Bring the wires ``ids`` side by side at the right end of the stack."""
        for i in ids:
            uses[i] -= 1
            position = stack.index(i)
            if uses[i] > 0:
                put(Copy(tape.types[i]), position)
                stack.insert(position, i)
                position += 1
            if position == len(stack) - 2:
                put(Swap(tape.types[stack[-2]], tape.types[stack[-1]]), position)
            elif position < len(stack) - 2:
                order = list(range(position, len(stack)))
                order = order[1:] + order[:1]
                put(Permutation(ty(stack[position:]), [k - position for k in order]), position)
            stack.append(stack.pop(position))

    def in_place(ids):
        """Where the wires are already side by side and used for the last time."""
        if not ids:
            return len(stack)
        if any(uses[i] != 1 for i in ids) or len(set(ids)) != len(ids):
            return None
        start = stack.index(ids[0])
        return start if stack[start:start + len(ids)] == list(ids) else None

    discard_dead()
    for box, ins, outs in tape.ops:
        offset = in_place(ins)
        if offset is None:
            gather(ins)
            offset = len(stack) - len(ins)
        else:
            for i in ins:
                uses[i] -= 1
        put(box, offset)
        stack[offset:offset + len(ins)] = outs
        discard_dead()
    gather(outputs)
    return Diagram.from_layers(dom, layers)
