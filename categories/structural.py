"""The Cartesian left-additive structure: copy, discard, swap, add and zero.

Copy and add are each other's reverse derivative (transpose), and so are
discard and zero; a swap is its own. Copy, discard, swap, permutations and
zero act on Real and Bool wires alike; the addition is the wire's own (``add``
gives Add on a Real wire and XOR on a Bool wire, so over Z2 R[Copy] is XOR).
Copy, discard and swap only move values: they declare a ``wiring`` (output k is
input ``wiring[k]``), so interpreters never apply them.

>>> from paralens.categories import Real
>>> x = Real(2)
>>> Copy(x).backward() == Add(x)
True
>>> Discard(x).backward() == Zero(x)
True
>>> copy(x @ x).cod
Real(2) @ Real(2) @ Real(2) @ Real(2)
"""

from __future__ import annotations

from .adapter import Diagram, Id, Real, Ty, whole
from .adapter import Swap as _Swap
from .generator import Generator, LinearGenerator

__all__ = ["Copy", "Discard", "Swap", "Permutation", "Add", "Zero", "SumBatch", "BatchWeight",
           "copy", "discard", "add", "zero", "swap", "sum_batch"]


def _atomic(x: Ty, who: str) -> Ty:
    if not isinstance(x, Ty) or len(x) != 1:
        raise TypeError(f"{who} takes one wire, got {x!r}; use {who.lower()}(...) for a tensor of wires")
    return x


class Copy(LinearGenerator):
    """Δ: x → x ⊗ x ⊗ … (n copies). Its reverse derivative adds the cotangents."""

    over = None

    def __init__(self, x: Ty, n: int = 2):
        self.x, self.n = _atomic(x, "Copy"), whole(n, "Copy(x, n): the number of copies "
                                                      "(copy(x, n) takes any n)", 2)
        super().__init__("Copy", x, x ** n, draw_as_spider=True, color="black",
                         drawing_name="")
        self.wiring = (0, ) * n

    @classmethod
    def of(cls, x: Ty, n: int = 2) -> Diagram:
        """A tensor of wires copied n times: :func:`copy`."""
        return copy(x, n)

    def transpose(self) -> Diagram:
        return add(self.x, self.n)

    @classmethod
    def example(cls, n):
        return cls(Real(n))


class Discard(LinearGenerator):
    """!: x → I. Its reverse derivative is zero."""

    over = None

    wiring = ()

    def __init__(self, x: Ty):
        self.x = _atomic(x, "Discard")
        super().__init__("Discard", x, Ty(), draw_as_spider=True, color="black",
                         drawing_name="")

    @classmethod
    def of(cls, x: Ty) -> Diagram:
        """A tensor of wires discarded: :func:`discard`."""
        return discard(x)

    def transpose(self) -> Diagram:
        return Zero(self.x)

    @classmethod
    def example(cls, n):
        return cls(Real(n))


class Swap(_Swap, LinearGenerator):
    """σ: x ⊗ y → y ⊗ x, its own reverse derivative (up to the order of its wires)."""

    over = None

    __ambiguous_inheritance__ = (_Swap, )
    wiring = (1, 0)

    def transpose(self) -> Diagram:
        return Swap(self.right, self.left)

    @classmethod
    def example(cls, n):
        return cls(Real(n), Real(n + 1))


#: the symmetry DisCoPy's own algorithms build (``Diagram.swap``, permutations):
#: this generator, declared here and nowhere else
Diagram.braid_factory = Swap


class Permutation(LinearGenerator):
    """Reorders wires: output k is input ``order[k]``. Its transpose is the inverse order.

    ``Permutation.exchange(x, y)``, x ⊗ y → y ⊗ x, is built in constant time
    whatever the widths (its order is listed when asked; interpreters move the
    two blocks at once, by its ``rotation``)."""

    over = None
    rotation = None     # k when the order is a rotation by k wires (an exchange)

    def __init__(self, dom: Ty, order, cod: Ty = None):
        if not isinstance(dom, Ty):
            raise TypeError(f"Permutation(dom, order): dom is a type, got {dom!r}")
        try:
            self._order = tuple(order)
            ordered = sorted(self._order) == list(range(len(dom)))
        except TypeError:
            ordered = False
        if not ordered:
            raise ValueError(f"{order!r} is not a permutation of {len(dom)} wires")
        if cod is None:
            wires = dom.inside
            cod = Ty._of(tuple(wires[k] for k in self._order))
        super().__init__("Permutation", dom, cod)

    @classmethod
    def exchange(cls, x: Ty, y: Ty) -> Permutation:
        """x ⊗ y → y ⊗ x."""
        perm = cls.__new__(cls)
        perm._order, perm.rotation = None, len(x)
        LinearGenerator.__init__(perm, "Permutation", x @ y, y @ x)
        return perm

    @property
    def order(self) -> tuple:
        if self._order is None:
            n, k = len(self.dom), self.rotation
            self._order = (*range(k, n), *range(k))
        return self._order

    wiring = order

    @property
    def name(self) -> str:
        return f"Permutation{self.order}"

    @name.setter
    def name(self, _):
        pass

    def transpose(self) -> Diagram:
        inverse = [0] * len(self.order)
        for position, k in enumerate(self.order):
            inverse[k] = position
        return Permutation(self.cod, inverse)

    @classmethod
    def example(cls, n):
        return cls(Real(n) @ Real(n + 1) @ Real(n + 2), (2, 0, 1))


class Add(LinearGenerator):
    """+: x ⊗ x ⊗ … → x (n summands). Its reverse derivative copies the cotangent."""

    sums_inputs = True      # its output is the sum of its inputs

    def __init__(self, x: Ty, n: int = 2):
        self.x, self.n = _atomic(x, "Add"), whole(n, "Add(x, n): the number of summands "
                                                     "(add(x, n) takes any n)", 2)
        if x.inside[0].kind != "Real":
            raise TypeError(f"Add acts on Real wires, got {x!r}: over Z2 the addition is XOR "
                            "(categories.Xor, or add(x), which chooses by the wire)")
        super().__init__("Add" if n == 2 else f"Add{n}", x ** n, x)

    def transpose(self) -> Diagram:
        return copy(self.x, self.n)

    @classmethod
    def example(cls, n):
        return cls(Real(n))


class Zero(LinearGenerator):
    """0: I → x. Its reverse derivative discards the cotangent."""

    over = None

    def __init__(self, x: Ty):
        self.x = _atomic(x, "Zero")
        super().__init__("Zero", Ty(), x)

    def transpose(self) -> Diagram:
        return Discard(self.x)

    @classmethod
    def example(cls, n):
        return cls(Real(n))


class SumBatch(LinearGenerator):
    """Σ over the examples of a batch: the reverse of sharing one value (a
    parameter) with every example. On one example it is the identity, and so
    is its transpose: an unbatched cotangent is shared with every example by
    broadcasting. Its meaning depends on the batch, so random per-example
    diagrams (``categories.strategies``) leave it out."""

    over = None

    per_example = False

    def __init__(self, x: Ty):
        self.x = _atomic(x, "SumBatch")
        self.shape = x.inside[0].shape
        super().__init__("SumBatch", x, x)

    def transpose(self) -> Diagram:
        return Id(self.x)

    @classmethod
    def example(cls, n):
        return cls(Real(n))


class BatchWeight(Generator):
    """x ↦ 1/n, the weight of one example in the mean over a batch of n examples
    (of n·T steps on a sequence wire (batch, time, …)): the mean is the sum weighted
    by it. On one example it is 1. It reads only the batch's size, never the values,
    so its reverse derivative sends every cotangent to 0. Like ``SumBatch``, its
    meaning depends on the batch, so random per-example diagrams leave it out.

    >>> BatchWeight(Real(3)).cod
    Real()
    """

    per_example = False

    def __init__(self, x: Ty):
        self.x = _atomic(x, "BatchWeight")
        wire = x.inside[0]
        if wire.kind != "Real":
            raise TypeError(f"BatchWeight reads the batch of a Real wire, got {x!r}")
        self.shape = wire.shape
        super().__init__("BatchWeight", x, Real(dtype=wire.dtype))

    def residual(self) -> Ty:
        return Ty()

    def forward(self) -> Diagram:
        return self

    def backward(self) -> Diagram:
        return Discard(self.cod) >> Zero(self.x)

    @classmethod
    def example(cls, n):
        return cls(Real(n))


def copy(x: Ty, n: int = 2) -> Diagram:
    """Copy a tensor of wires n times: x → x ⊗ … ⊗ x (copies side by side)."""
    if n == 0:
        return discard(x)
    if n == 1:
        return Id(x)
    if len(x) == 1:
        return Copy(x, n)
    if len(x) == 0:
        return Id(x)
    copies = Id().tensor(*(Copy(x[i:i + 1], n) for i in range(len(x))))
    order = [n * i + k for k in range(n) for i in range(len(x))]
    return copies >> Permutation(copies.cod, order)


def swap(x: Ty, y: Ty) -> Diagram:
    """x ⊗ y → y ⊗ x as one box: a Swap for two wires, else a Permutation."""
    if not len(x) or not len(y):
        return Id(x @ y)
    if len(x) == len(y) == 1:
        return Swap(x, y)
    return Permutation.exchange(x, y)


def sum_batch(x: Ty) -> Diagram:
    """Σ over the batch, wire by wire (the reverse of sharing parameters)."""
    return Id().tensor(*(SumBatch(x[i:i + 1]) for i in range(len(x)))) if len(x) else Id()


def discard(x: Ty) -> Diagram:
    """Discard a tensor of wires."""
    return Id().tensor(*(Discard(x[i:i + 1]) for i in range(len(x)))) if len(x) else Id()


def add(x: Ty, n: int = 2) -> Diagram:
    """Add n tensors of wires of type x, wire by wire: x^n → x."""
    if n == 0:
        return zero(x)
    if n == 1:
        return Id(x)
    if len(x) == 1:
        return _addition(x, n)
    if len(x) == 0:
        return Id(x)
    order = [len(x) * k + i for i in range(len(x)) for k in range(n)]
    return Permutation(x ** n, order) >> Id().tensor(
        *(_addition(x[i:i + 1], n) for i in range(len(x))))


def _addition(x: Ty, n: int) -> Diagram:
    """The addition of the wire's ring: Add on a Real wire, XOR on a Bool wire."""
    if x.inside[0].kind == "Bool":       # XOR, declared with the Boolean generators
        return Generator.registry["Xor"](x, n)
    return Add(x, n)


def zero(x: Ty) -> Diagram:
    """The zero of a tensor of wires."""
    return Id().tensor(*(Zero(x[i:i + 1]) for i in range(len(x)))) if len(x) else Id()
