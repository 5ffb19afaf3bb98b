"""Boolean circuits: the polynomial generators over Z2 (reference §6).

Wires are ``Bool(*shape)``: arrays of bits, one per example (or shared, for a
parameter). Over Z2 the addition of the left-additive structure is XOR and the
product is AND, so the structural generators (``Copy``, ``Discard``, ``Swap``,
``Permutation``, ``Zero``) are shared with the smooth category and R[Copy] is
XOR. The generators here, with their reverse derivatives R(x, δ):

| generator | forward | R(x, δ) |
|---|---|---|
| ``And``  x ⊗ x → x | x ∧ y | (y ∧ δ, x ∧ δ) |
| ``Xor``  x ⊗ … ⊗ x → x | x ⊕ y ⊕ … | (δ, δ, …) |
| ``One``  I → x, ``Bits(c)`` I → x | 1, the pattern c | () |
| ``Parity`` Bool(*s, n) → Bool(*s) | ⊕ along the last axis | δ copied n times (``Broadcast``) |
| ``Gather(index)`` Bool(*s) → Bool(*index.shape) | picks bits by flat index | ``Scatter``: XOR of the δ sent to each bit |

NOT and OR are derived: ¬x = x ⊕ 1 and x ∨ y = x ⊕ y ⊕ (x ∧ y), so
R[¬](x, δ) = δ and R[∨](x, y, δ) = (δ ∧ ¬y, δ ∧ ¬x). In a traced function,
``^`` (or ``+``) is XOR, ``&`` (or ``*``) is AND, ``~`` is NOT and ``|`` is OR.

>>> from paralens.categories import Bool, Real, Exp, function
>>> x = Bool(3)
>>> majority = function(x @ x @ x, x)(lambda a, b, c: (a & b) ^ (a & c) ^ (b & c))
>>> sorted({box.name for box in majority.boxes if not hasattr(box, "wiring")})
['AND', 'XOR']
>>> And(x).backward().cod
Bool(3) @ Bool(3)
>>> try:
...     And(Bool(3)) >> Exp(Real(3))
... except TypeError as error:
...     print(error)
cannot compose AND: Bool(3) @ Bool(3) → Bool(3) with Exp: Real(3) → Real(3): Bool(3) ≠ Real(3)
"""

from __future__ import annotations

import numpy as np

from .adapter import Bool, Diagram, Ty, whole
from .generator import ConstantGenerator, Generator, LinearGenerator
from .structural import copy
from .syntax import function

__all__ = ["And", "Xor", "One", "Bits", "Parity", "Broadcast", "Gather", "Scatter",
           "MajorityBatch", "VoteBatch", "OracleGenerator", "BooleanDifference", "Not", "Or",
           "bool_wire"]


def bool_wire(x, who: str) -> Ty:
    """``Bool(x)`` for an int, else the one Bool wire given (an error names ``who``)."""
    x = Bool(x) if isinstance(x, int) else x
    if not isinstance(x, Ty) or len(x) != 1 or x.inside[0].kind != "Bool":
        raise TypeError(f"{who} acts on one Bool wire, got {x!r}")
    if x.inside[0].time:
        raise TypeError(f"{who} acts on one step, not on the sequence {x!r}: put it in the "
                        f"stage of a machine (categories.stateful), which runs it at every step")
    return x


class BooleanGenerator(Generator):
    """A generator of Boolean circuits: every wire is a Bool wire."""

    abstract = True
    over = "Bool"


class And(BooleanGenerator):
    """x ⊗ y ↦ x ∧ y, bitwise. R: (x, y, δ) ↦ (y ∧ δ, x ∧ δ)."""

    def __init__(self, x):
        self.x = bool_wire(x, "AND")
        super().__init__("AND", self.x @ self.x, self.x)

    def backward(self) -> Diagram:
        x = self.x
        return function(x @ x @ x, x @ x)(lambda a, b, d: (b & d, a & d))

    @classmethod
    def example(cls, n):
        return cls(Bool(n))


class Xor(BooleanGenerator, LinearGenerator):
    """x ⊗ y ⊗ … ↦ x ⊕ y ⊕ …, bitwise (n inputs): the addition of Z2. R copies δ."""

    def __init__(self, x, n: int = 2):
        self.x, self.n = bool_wire(x, "XOR"), whole(n, "XOR: the number of inputs")
        if self.n < 1:
            raise ValueError(f"XOR takes at least one input, got n = {n}")
        super().__init__("XOR" if n == 2 else f"XOR{n}", self.x ** n, self.x)

    def transpose(self) -> Diagram:
        return copy(self.x, self.n)

    @classmethod
    def example(cls, n):
        return cls(Bool(n))


class Bits(BooleanGenerator, ConstantGenerator):
    """I → x, the constant bit pattern c (of the wire's shape). R discards δ."""

    def __init__(self, c, x=None):
        c = np.asarray(c)
        if c.dtype != bool and not np.isin(c, (0, 1)).all():
            raise ValueError(f"Bits takes 0s and 1s, got {c!r}")
        self.c = c.astype(bool)
        self.x = bool_wire(x if x is not None else Bool(*self.c.shape), "Bits")
        shape = self.x.inside[0].shape
        try:
            self.c = np.broadcast_to(self.c, shape)
        except ValueError:
            raise ValueError(f"Bits: a pattern of shape {self.c.shape} does not fit the wire "
                             f"{self.x!r}") from None
        self.c.setflags(write=False)
        super().__init__(self._name(), Ty(), self.x, data=tuple(self.c.ravel().tolist()))

    def _name(self) -> str:
        bits = "".join("1" if b else "0" for b in self.c.ravel()[:16])
        return f"Bits({bits}{'…' if self.c.size > 16 else ''})"

    @classmethod
    def example(cls, n):
        return cls(np.arange(n) % 2 == 0)


class One(Bits):
    """I → x, every bit 1. R discards δ."""

    def __init__(self, x):
        x = bool_wire(x, "ONE")
        super().__init__(np.ones(x.inside[0].shape, bool), x)

    def _name(self):
        return "ONE"

    @classmethod
    def example(cls, n):
        return cls(Bool(n))


class Parity(BooleanGenerator, LinearGenerator):
    """Bool(*s, n) → Bool(*s): the XOR of the bits along the last axis. R: ``Broadcast``."""

    def __init__(self, x):
        self.x = bool_wire(x, "Parity")
        shape = self.x.inside[0].shape
        if not shape:
            raise TypeError(f"Parity needs a wire with at least one axis, got {self.x!r}")
        self.n = shape[-1]
        super().__init__("PARITY", self.x, Bool(*shape[:-1]))

    def transpose(self):
        return Broadcast(self.cod, self.n)

    @classmethod
    def example(cls, n):
        return cls(Bool(n))


class Broadcast(BooleanGenerator, LinearGenerator):
    """Bool(*s) → Bool(*s, n): each bit copied n times along a new last axis. R: ``Parity``."""

    def __init__(self, x, n: int):
        self.x, self.n = bool_wire(x, "Broadcast"), int(n)
        super().__init__(f"Broadcast({self.n})", self.x, Bool(*self.x.inside[0].shape, self.n))

    def transpose(self):
        return Parity(self.cod)

    @classmethod
    def example(cls, n):
        return cls(Bool(n), 2)


def _index(index, size: int, who: str) -> np.ndarray:
    index = np.asarray(index)
    if index.dtype.kind not in "iu" or (index.size and (index.min() < 0 or index.max() >= size)):
        raise ValueError(f"{who}: an index must hold integers in [0, {size}), got {index!r}")
    index = index.astype(np.intp)
    index.setflags(write=False)
    return index


class Gather(BooleanGenerator, LinearGenerator):
    """Bool(*s) → Bool(*index.shape): output k is input bit ``index[k]`` (flat
    index into the input). Fixed wiring at the bit level; R: ``Scatter``."""

    def __init__(self, x, index):
        self.x = bool_wire(x, "Gather")
        self.flat_size = self.x.inside[0].size
        self.index = _index(index, self.flat_size, "Gather")
        super().__init__("Gather", self.x, Bool(*self.index.shape),
                         data=(self.x.inside[0].shape, self.index.shape, self.index.tobytes()))

    def transpose(self):
        return Scatter(self.cod, self.index, self.x)

    @classmethod
    def example(cls, n):
        return cls(Bool(n), [(k * 7 + 1) % n for k in range(n + 1)])


class Scatter(BooleanGenerator, LinearGenerator):
    """Bool(*index.shape) → x: bit j of the output is the XOR of the inputs k with
    ``index[k] = j`` (0 where there are none). The transpose of ``Gather``."""

    def __init__(self, y, index, x):
        self.y, self.x = bool_wire(y, "Scatter"), bool_wire(x, "Scatter")
        self.flat_size = self.x.inside[0].size
        self.index = _index(index, self.flat_size, "Scatter")
        if self.index.shape != self.y.inside[0].shape:
            raise ValueError(f"Scatter: index of shape {self.index.shape} for a wire {self.y!r}")
        super().__init__("Scatter", self.y, self.x,
                         data=(self.x.inside[0].shape, self.index.shape, self.index.tobytes()))

    def transpose(self):
        return Gather(self.x, self.index)

    @classmethod
    def example(cls, n):
        return Gather.example(n).transpose()


class VoteBatch(BooleanGenerator):
    """A batch-level vote of two counts: bit k of the output is 1 when more
    examples of the batch have bit k set in the first input than in the second.
    RDA's ``vote`` update flips a parameter bit when more examples would be
    corrected by the flip (R at the error δ) than broken by it (R at ¬δ, the
    outputs that are right). Not linear, and not differentiated."""

    per_example = False

    def __init__(self, x):
        self.x = bool_wire(x, "VoteBatch")
        super().__init__("VoteBatch", self.x @ self.x, self.x)

    def backward(self):
        raise TypeError("VoteBatch is an update rule, not a map to differentiate")

    @classmethod
    def example(cls, n):
        return cls(Bool(n))


class OracleGenerator(BooleanGenerator):
    """A Boolean generator known only by its forward rule (an interpreter rule
    on bits); its reverse derivative is the brute-force Boolean difference
    (``BooleanDifference``), n + 1 evaluations of the rule for n input bits.
    Subclasses set ``bits(*arrays)``: the function on bool arrays with a
    leading batch axis."""

    abstract = True

    def backward(self):
        return BooleanDifference(self)

    @staticmethod
    def bits(*arrays):
        raise NotImplementedError


class BooleanDifference(BooleanGenerator):
    """x ⊗ δ ↦ ⊕_j δ_j ∧ (f_j(x) ⊕ f_j(x ⊕ e_i)) for each input bit i: the reverse
    derivative of an ``OracleGenerator`` f, by brute force."""

    def __init__(self, of: OracleGenerator):
        if not isinstance(of, OracleGenerator):
            raise TypeError(f"BooleanDifference is the derivative of an oracle generator, "
                            f"got {of!r}")
        self.of = of
        super().__init__(f"∂{of.name}", of.dom @ of.cod, of.dom, data=of)

    def backward(self):
        raise TypeError(f"{self.name}: no second derivative of an oracle generator")


def Not(x) -> Diagram:
    """¬x = x ⊕ 1 (derived). R[¬](x, δ) = δ."""
    x = bool_wire(x, "NOT")
    return function(x, x)(lambda a: ~a)


def MajorityBatch(x) -> Diagram:
    """A batch-level vote (derived): bit k is 1 when more than half of the batch's
    examples have bit k set, i.e. when more have it set than clear,
    ``VoteBatch(x, ¬x)``. RDA's majority update uses it in place of the XOR over
    the batch (``SumBatch`` on a Bool wire)."""
    x = bool_wire(x, "MajorityBatch")
    return function(x, x)(lambda c: VoteBatch(x)(c, ~c))


def Or(x) -> Diagram:
    """x ∨ y = x ⊕ y ⊕ (x ∧ y) (derived). R[∨](x, y, δ) = (δ ∧ ¬y, δ ∧ ¬x)."""
    x = bool_wire(x, "OR")
    return function(x @ x, x)(lambda a, b: a | b)

