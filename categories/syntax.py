"""Write a diagram as a Python function of its wires.

``function(dom, cod)`` runs a Python function on symbolic wires and returns the
string diagram it describes: every use of a wire after the first inserts a
``Copy``, every unused wire a ``Discard``, and wires are moved with swaps.
Arithmetic on wires stands for the generators (``+`` Add, ``*`` Mul, ``-`` Neg,
a number times a wire is Scale, a number alone is a Constant). On Bool wires
the ring is Z2: ``^`` and ``+`` are XOR, ``&`` and ``*`` are AND, ``~`` is NOT
(x ⊕ 1), ``|`` is OR (x ⊕ y ⊕ x∧y), and the numbers 0 and 1 are constants.

>>> from paralens.categories import Real
>>> x = Real(3)
>>> square_plus_one = function(x, x)(lambda a: a * a + 1)
>>> [box.name for box in square_plus_one.boxes]
['Copy', 'Mul', 'Constant(1)', 'Add']
>>> square_plus_one.dom, square_plus_one.cod
(Real(3), Real(3))
"""

from __future__ import annotations

from collections import Counter
from numbers import Number

from .adapter import Diagram, Ty, building, describe, interpret, steps, tracing
from .generator import Generator


__all__ = ["function", "Wired", "split", "as_tuple"]


def split(wires, *sizes) -> list:
    """``wires`` cut into consecutive tuples of the given sizes (numbers, or types
    whose lengths are the sizes): the arguments of a traced function, parted.

    >>> split("abcdef", 1, 2, 3)
    [('a',), ('b', 'c'), ('d', 'e', 'f')]
    """
    out, k = [], 0
    for size in sizes:
        n = size if isinstance(size, int) else len(size)
        out.append(tuple(wires[k:k + n]))
        k += n
    return out


def as_tuple(x) -> tuple:
    """What a traced diagram returns, as a tuple (one wire is returned bare).

    >>> as_tuple(1), as_tuple((1, 2))
    ((1,), (1, 2))
    """
    return x if isinstance(x, tuple) else (x, )


def _generator(name: str) -> type:
    """The generator an operator on wires stands for. The generator modules trace
    their reverse derivatives with this module, so it names them through the
    registry rather than importing them."""
    return Generator.registry[name]


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
            return _generator("Constant")(float(other), self.ty)()
        return NotImplemented

    def _z2(self, op: str):
        if not self.boolean:
            raise TypeError(f"{op} acts on Bool wires, got {self.ty!r}")

    def __add__(self, other):
        if self.boolean:
            return self ^ other
        other = self._lift(other)
        return other if other is NotImplemented else _generator("Add")(self.ty)(self, other)

    __radd__ = __add__

    def __xor__(self, other):
        self._z2("^ (XOR)")
        other = self._lift(other)
        return other if other is NotImplemented else _generator("Xor")(self.ty)(self, other)

    __rxor__ = __xor__

    def __and__(self, other):
        self._z2("& (AND)")
        other = self._lift(other)
        return other if other is NotImplemented else _generator("And")(self.ty)(self, other)

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
        return _generator("Neg")(self.ty)(self)

    def __sub__(self, other):
        other = self._lift(other)
        return other if other is NotImplemented else self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        if self.boolean:
            return self & other
        if isinstance(other, Number):
            return _generator("Scale")(float(other), self.ty)(self)
        return _generator("Mul")(self.ty)(self, other) if isinstance(other, Wired) \
            else NotImplemented

    __rmul__ = __mul__

    def __bool__(self):
        raise TypeError(f"a wire ({self.ty!r}) has no truth value while the diagram is "
                        "traced: use & and | (AND, OR) on Bool wires, not `and`, `or` or `if`")

    __array_ufunc__ = None      # np.tanh(wire) is refused: use the generator, Tanh(x)(wire)

    def __truediv__(self, other):
        if isinstance(other, Number):
            if other == 0:
                raise ZeroDivisionError(f"a wire ({self.ty!r}) divided by the number 0")
            return self * (1.0 / other)
        return self * _generator("Reciprocal")(other.ty)(other) if isinstance(other, Wired) \
            else NotImplemented

    def __rpow__(self, base):
        """number ** wire, for a positive number: exp(wire · log number)."""
        if not isinstance(base, Number) or isinstance(base, bool) or self.boolean:
            return NotImplemented
        if not base > 0:
            raise ValueError(f"{base!r} ** (a wire {self.ty!r}): the base must be positive "
                             f"(it is exp(wire · log base))")
        import math
        return _generator("Exp")(self.ty)(self * math.log(base))

    def __pow__(self, exponent):
        """wire ** n for a whole number n ≥ 0: n − 1 products."""
        if isinstance(exponent, bool) or not isinstance(exponent, int) or exponent < 0:
            raise TypeError(f"a wire ({self.ty!r}) ** {exponent!r}: only whole powers n ≥ 0 are "
                            f"products; write others with the generators (Exp, Log, Sqrt, "
                            f"Reciprocal: Exp(x)(Log(x)(w) * p))")
        result = _generator("Constant")(1.0, self.ty)() if exponent == 0 else self
        for _ in range(exponent - 1):
            result = result * self
        return result

    def __floordiv__(self, other):
        raise TypeError(f"a wire ({self.ty!r}) has no floor: the generators are smooth or "
                        f"steps (Step(x) is 1 where x > 0); for a staircase of rates use "
                        f"piecewise_constant_schedule")

    __rfloordiv__ = __mod__ = __rmod__ = __floordiv__

    def __float__(self):
        raise TypeError(f"a wire ({self.ty!r}) is not a number while the diagram is traced: "
                        f"use the generators on it (Exp(x)(w), Log(x)(w), Sqrt(x)(w), …), not "
                        f"math or numpy functions")

    def __matmul__(self, other):
        """The matrix product of matrix and vector wires (an ``Einsum``)."""
        if not isinstance(other, Wired) or self.boolean or other.boolean:
            return NotImplemented
        ranks = (len(self.ty.inside[0].shape), len(other.ty.inside[0].shape))
        spec = {(2, 2): "ij,jk->ik", (2, 1): "ij,j->i", (1, 2): "j,jk->k",
                (1, 1): "i,i->"}.get(ranks)
        if spec is None:
            raise TypeError(f"@ multiplies matrix and vector wires, got {self.ty!r} @ "
                            f"{other.ty!r}")
        return _generator("Einsum")(spec, self.ty, other.ty)(self, other)

    @property
    def T(self):
        """The transpose of a matrix wire (an ``Einsum``)."""
        if len(self.ty.inside[0].shape) != 2:
            raise TypeError(f".T transposes a matrix wire Real(m, n), got {self.ty!r}")
        return _generator("Einsum")("ij->ji", self.ty)(self)

    def __rtruediv__(self, other):
        """number / wire: the number times the wire's reciprocal."""
        if not isinstance(other, Number) or self.boolean:
            return NotImplemented
        return _generator("Reciprocal")(self.ty)(self) * float(other)


def _bit(value, ty: Ty):
    """The constant 0 or 1 on a Bool wire."""
    if value not in (0, 1):
        raise TypeError(f"a Bool wire takes the constants 0 and 1, got {value!r}")
    return _generator("One")(ty)() if value else _generator("Zero")(ty)()


class _Tape:
    """The boxes applied so far, on numbered wires."""

    def __init__(self):
        self.types, self.ops = [], []

    def new(self, ty: Ty) -> Wired:
        self.types.append(ty)
        return Wired(self, len(self.types) - 1, ty)

    def apply(self, diagram: Diagram, *args: Wired):
        """Record ``diagram`` applied to wires; returns its output wire(s)."""
        return _record(self, diagram, args)


def _record(tape: _Tape, diagram: Diagram, args):
    if len(args) == 1 and isinstance(args[0], tuple):
        args = args[0]
    for k, a in enumerate(args):
        if not isinstance(a, Wired):
            raise TypeError(f"{describe(diagram)}: argument {k} is {a!r}, not a wire of "
                            "the traced function")
        if a.tape is not tape:
            raise TypeError(f"{describe(diagram)}: argument {k} ({a.ty!r}) is a wire of "
                            "another traced function; pass it in as an argument instead")
    wires = diagram.dom.inside
    if len(args) != len(wires) or any(a.ty.inside[0] != w for a, w in zip(args, wires)):
        dom = Ty._of(tuple(a.ty.inside[0] for a in args))
        wrong = next((f"; argument {k} is {a.ty!r}, expected {Ty._of((w, ))!r}"
                      for k, (a, w) in enumerate(zip(args, wires))
                      if len(args) == len(wires) and a.ty.inside[0] != w), "")
        raise TypeError(f"{describe(diagram)} applied to wires {dom!r}{wrong}")
    if diagram._kind == "trace":      # a traced function applied here: its ops, inlined
        outs = _inline(tape, diagram._parts, args)
    else:
        outs = tuple(tape.new(Ty._of((w, ))) for w in diagram.cod.inside)
        tape.ops.append((diagram, tuple(a.index for a in args), tuple(o.index for o in outs)))
    return outs[0] if len(outs) == 1 else outs


def _inline(tape: _Tape, inner: Trace, args) -> tuple:
    """Record the ops of a traced function on the tape's own wires, so that traced
    functions never nest (however deep their definitions go)."""
    wired = {i: a for i, a in zip(inner.inputs, args)}
    for diagram, ins, outs in inner.ops:
        news = [tape.new(Ty._of((inner.wires[o], ))) for o in outs]
        tape.ops.append((diagram, tuple(wired[i].index for i in ins), tuple(n.index for n in news)))
        wired.update(zip(outs, news))
    return tuple(wired[o] for o in inner.outputs)


def function(dom: Ty, cod: Ty):
    """Decorator: the diagram ``dom → cod`` that a Python function of wires describes."""
    def decorator(fn) -> Diagram:
        tape = _Tape()
        tracing.append(tape)
        try:
            with building():
                inputs = [tape.new(Ty._of((w, ))) for w in dom.inside]
                result = fn(*inputs)
        finally:
            tracing.pop()
        outputs = result if isinstance(result, tuple) else (result, )
        outputs = tuple(o for o in outputs if o is not None)
        for k, o in enumerate(outputs):
            if not isinstance(o, Wired) or o.tape is not tape:
                raise TypeError(f"{getattr(fn, '__name__', fn)} returns {o!r} as output {k}: "
                                "not a wire of this traced function")
        got = Ty._of(tuple(o.ty.inside[0] for o in outputs))
        if got != cod:
            raise TypeError(f"{getattr(fn, '__name__', fn)} returns {got!r}, expected {cod!r}")
        return Trace(dom, cod, [t.inside[0] for t in tape.types], tape.ops,
                     [i.index for i in inputs], [o.index for o in outputs]).diagram()
    return decorator


class Trace:
    """A traced function: ops ``(diagram, ins, outs)`` on numbered wires, with the
    wires that are its inputs and outputs. A wire may be read any number of times
    (copy) or never (discard): its diagram (``layout``) inserts those boxes, but
    interpreters run the ops on values directly (``interpret``)."""

    def __init__(self, dom: Ty, cod: Ty, wires: list, ops: list, inputs: list, outputs: list):
        self.dom, self.cod, self.wires = dom, cod, wires
        self.ops, self.inputs, self.outputs = ops, inputs, outputs
        self._layout = None

    def diagram(self) -> Diagram:
        return Diagram._node("trace", self, self.dom, self.cod)

    def interpret(self, values: list, apply) -> list:
        """The values of the outputs, given those of the inputs (see ``adapter.interpret``)."""
        env = [None] * len(self.wires)
        for i, v in zip(self.inputs, values):
            env[i] = v
        for diagram, ins, outs in self.ops:
            for o, v in zip(outs, interpret(diagram, [env[i] for i in ins], apply)):
                env[o] = v
        return [env[o] for o in self.outputs]

    def layout(self) -> list:
        """The boxes of its diagram, each with its offset, copies, discards and
        moves inserted (computed once, for drawing and DisCoPy)."""
        if self._layout is None:
            self._layout = _layout(self)
        return self._layout

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_layout": None}     # its layout is computed again when asked


def _layout(trace: Trace) -> list:
    """Lay the recorded ops out as ``(offset, box)`` steps, copying, discarding and
    moving wires.

    The stack holds one entry per wire, ``(value, token)``; an op is applied
    where its first input sits, after its other inputs are moved beside it.
    """
    Copy, Discard, Permutation, Swap = map(_generator, ("Copy", "Discard", "Permutation", "Swap"))
    uses = Counter(i for _, ins, _ in trace.ops for i in ins) + Counter(trace.outputs)
    tokens = iter(range(1 << 62))
    stack = [(v, next(tokens)) for v in trace.inputs]
    layout = []
    one = lambda v: Ty._of((trace.wires[v], ))
    ty = lambda entries: Ty._of(tuple(trace.wires[v] for v, _ in entries))

    def put(diagram, offset):
        layout.extend((offset + k, box) for k, box in steps(diagram))

    def discard_dead():
        for position in reversed(range(len(stack))):
            if uses[stack[position][0]] == 0:
                put(Discard(one(stack[position][0])), position)
                del stack[position]

    def take(value, taken):
        """An entry of ``value`` to consume; copied (the left copy consumed) if needed again."""
        uses[value] -= 1
        position = max(k for k, e in enumerate(stack) if e[0] == value and e not in taken)
        if uses[value] > 0:
            put(Copy(one(value)), position)
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
    for box, ins, outs in trace.ops:
        offset = gather(ins)
        put(box, offset)
        stack[offset:offset + len(ins)] = [(v, next(tokens)) for v in outs]
        discard_dead()
    offset = gather(trace.outputs)
    if offset:
        permute(0, list(range(offset, len(stack))) + list(range(offset)))
    return layout
