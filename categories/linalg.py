"""Linear algebra as generators: contractions, solves and log-determinants.

Four generators, each with its reverse derivative written with the others, so
that the set is closed under R (and R of R, …):

| generator | map | R |
|---|---|---|
| ``Einsum(spec, *xs)`` | a contraction ``np.einsum(spec, …)`` on one example | each operand's cotangent is the contraction of the others with the output's cotangent |
| ``Solve(n, k)`` | M ⊗ B ↦ X = M⁻¹B (B a vector, or n × k) | B̄ = M⁻ᵀX̄, M̄ = −B̄Xᵀ |
| ``LogDet(n)`` | M ↦ log \\|det M\\| | M̄ = ȳ M⁻ᵀ |
| ``Eye(n)`` | the identity matrix, out of the unit | discards |

A matrix is solved, never inverted, and only invertible matrices are in the
domain of ``Solve`` and ``LogDet`` (they are partial, ``total = False``; their
``sample`` draws well-conditioned points for the law tests). On traced wires,
``a @ b`` is the matrix product (matrix–matrix, matrix–vector, vector–matrix,
vector–vector) and ``a.T`` the transpose (``categories.syntax``), both einsums.

>>> import numpy as np
>>> from paralens.categories import Real, function
>>> from paralens.interpreters.numpy import compile
>>> quadratic = function(Real(2, 2) @ Real(2), Real())(lambda H, x: x @ (H @ x))
>>> float(compile(quadratic)(np.array([[2.0, 0.0], [0.0, 3.0]]), np.array([1.0, 1.0])))
5.0
>>> Einsum("ij,jk->ik", Real(2, 3), Real(2, 3))
Traceback (most recent call last):
...
TypeError: Einsum(ij,jk->ik): the index j is 3 in operand 0 but 2 in operand 1
"""

from __future__ import annotations

import numpy as np

from .adapter import Real, Ty, whole
from .checking import uniform
from .generator import ConstantGenerator, Generator
from .syntax import function

__all__ = ["Einsum", "Solve", "LogDet", "Eye", "invertible"]

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def invertible(low: float = -1.0, high: float = 1.0):
    """Random points (as ``checking.uniform``) whose square matrices are strictly
    diagonally dominant, hence invertible with a positive determinant: the domain of
    ``Solve`` and ``LogDet``, for law tests and finite differences.

    >>> M = invertible()(Real(3, 3).inside[0], np.random.default_rng(0), 0)
    >>> bool(np.linalg.det(M) > 0)
    True
    """
    base = uniform(low, high)

    def sample(wire, rng, batch):
        value = base(wire, rng, batch)
        shape = wire.shape
        if len(shape) == 2 and shape[0] == shape[1] and shape[0]:
            value = value + (2 * shape[0] * max(abs(low), abs(high))) * np.eye(
                shape[0], dtype=value.dtype)
        return value
    return sample


def _wire(x, who: str) -> Ty:
    if not isinstance(x, Ty) or len(x) != 1 or x.inside[0].kind != "Real":
        raise TypeError(f"{who}: each operand is one Real wire, got {x!r}")
    if x.inside[0].time:
        raise TypeError(f"{who} acts on one step, not on the sequence {x!r}")
    return x


class Einsum(Generator):
    """A contraction of its operands, ``spec`` in NumPy's notation without the batch
    (``"ij,jk->ik"``: a matrix product), the output explicit (``->``). An index
    appears at most once in an operand and in the output, and every index of an
    operand also appears in another operand or in the output (a sum over an index
    of one operand alone is ``Sum``'s): so each cotangent is again an einsum.
    With one operand it is linear (a transpose or a reshuffle of axes).

    >>> e = Einsum("ij,j->i", Real(2, 3), Real(3))
    >>> e.dom, e.cod, e.name
    (Real(2, 3) @ Real(3), Real(2), 'Einsum(ij,j->i)')
    >>> [box.name for box in e.backward().boxes if box.name.startswith("Einsum")]
    ['Einsum(j,i->ij)', 'Einsum(ij,i->j)']
    """

    def __init__(self, spec: str, *xs: Ty):
        if not isinstance(spec, str):
            raise TypeError(f"Einsum: the spec must be a string such as 'ij,jk->ik', got "
                            f"{spec!r}")
        who = f"Einsum({spec})"
        if spec.count("->") != 1:
            raise ValueError(f"{who}: the spec names its output after '->', as 'ij,jk->ik'")
        left, out = spec.replace(" ", "").split("->")
        ins = left.split(",")
        if len(ins) != len(xs):
            raise TypeError(f"{who}: the spec has {len(ins)} operand"
                            f"{'s' if len(ins) != 1 else ''} but {len(xs)} wire"
                            f"{'s were' if len(xs) != 1 else ' was'} given")
        xs = tuple(_wire(x, who) for x in xs)
        sizes = {}
        for k, (indices, x) in enumerate(zip(ins, xs)):
            shape = x.inside[0].shape
            if not all(c in _LETTERS for c in indices) or len(set(indices)) != len(indices):
                raise ValueError(f"{who}: operand {k} must be distinct letters, got "
                                 f"{indices!r} (a diagonal is not an einsum here)")
            if len(indices) != len(shape):
                raise TypeError(f"{who}: operand {k} has {len(indices)} indices but the wire "
                                f"{x!r} has {len(shape)} axes")
            for c, n in zip(indices, shape):
                if sizes.setdefault(c, (n, k))[0] != n:
                    raise TypeError(f"{who}: the index {c} is {sizes[c][0]} in operand "
                                    f"{sizes[c][1]} but {n} in operand {k}")
        if len(set(out)) != len(out) or any(c not in sizes for c in out):
            raise ValueError(f"{who}: the output's indices must be distinct and each "
                             f"appear in an operand, got {out!r}")
        for k, indices in enumerate(ins):
            others = "".join(ins[:k] + ins[k + 1:]) + out
            lonely = [c for c in indices if c not in others]
            if lonely:
                raise ValueError(f"{who}: the index {lonely[0]} of operand {k} appears "
                                 f"nowhere else; sum it first (Sum), so that every "
                                 f"cotangent is an einsum")
        dtypes = {x.inside[0].dtype for x in xs}
        if len(dtypes) > 1:
            raise TypeError(f"{who}: the operands have different dtypes {sorted(map(str, dtypes))}")
        dtype = xs[0].inside[0].dtype if xs else np.dtype("float64")
        self.spec, self.ins, self.out, self.xs = f"{','.join(ins)}->{out}", tuple(ins), out, xs
        self.linear = len(xs) == 1
        cod = Real(*(sizes[c][0] for c in out), dtype=dtype)
        dom = Ty()
        for x in xs:
            dom = dom @ x
        super().__init__(f"Einsum({self.spec})", dom, cod, data=self.spec)

    def residual(self) -> Ty:
        return Ty() if self.linear else self.dom

    def forward(self):
        return self if self.linear else super().forward()

    def backward(self):
        ins, out, xs, y = self.ins, self.out, self.xs, self.cod
        if self.linear:
            return Einsum(f"{out}->{ins[0]}", y)
        grads = [Einsum(",".join(ins[:k] + ins[k + 1:] + (out, )) + "->" + ins[k],
                        *(xs[:k] + xs[k + 1:] + (y, ))) for k in range(len(ins))]

        def reverse(*wires):
            operands, dy = wires[:-1], wires[-1]
            return tuple(grads[k](*(operands[:k] + operands[k + 1:] + (dy, )))
                         for k in range(len(ins)))
        return function(self.dom @ y, self.dom)(reverse)

    @classmethod
    def example(cls, n):
        return cls("ij,jk->ik", Real(n, n + 1), Real(n + 1, n))


def _square(n, who: str) -> int:
    return whole(n, f"{who}: n (the matrix is n × n)", 1)


class Solve(Generator):
    """M ⊗ B ↦ X = M⁻¹B for an invertible n × n matrix M and B a vector Real(n)
    (k None) or a matrix Real(n, k). The residual is M and X;
    R: (M, X, X̄) ↦ (−B̄Xᵀ, B̄) with B̄ = M⁻ᵀX̄ (a solve with Mᵀ).

    >>> Solve(2).dom, Solve(2, 3).cod
    (Real(2, 2) @ Real(2), Real(2, 3))
    """

    total = False

    def __init__(self, n: int, k: int | None = None, dtype="float64"):
        self.n = _square(n, "Solve")
        self.k = None if k is None else whole(k, "Solve: k (the columns of B)", 1)
        b = Real(self.n, dtype=dtype) if self.k is None else Real(self.n, self.k, dtype=dtype)
        super().__init__("Solve", Real(self.n, self.n, dtype=dtype) @ b, b)

    sample = staticmethod(invertible())

    def residual(self):
        return self.dom

    def forward(self):
        return function(self.dom, self.dom @ self.cod)(
            lambda M, B: (lambda X: (M, X, X))(self(M, B)))

    def backward(self):
        m, x = self.dom[:1], self.cod
        outer = "i,j->ij" if self.k is None else "ik,jk->ij"

        def reverse(M, X, dX):
            dB = self(M.T, dX)
            return -Einsum(outer, x, x)(dB, X), dB
        return function(m @ x @ x, self.dom)(reverse)

    @classmethod
    def example(cls, n):
        return cls(n)


class LogDet(Generator):
    """M ↦ log |det M| for an invertible n × n matrix M, a scalar.
    R: (M, ȳ) ↦ ȳ M⁻ᵀ (a solve of the identity with Mᵀ).

    >>> LogDet(3).dom, LogDet(3).cod
    (Real(3, 3), Real())
    """

    total = False

    def __init__(self, n: int, dtype="float64"):
        self.n = _square(n, "LogDet")
        super().__init__("LogDet", Real(self.n, self.n, dtype=dtype), Real(dtype=dtype))

    sample = staticmethod(invertible())

    def backward(self):
        m, dtype = self.dom, self.dom.inside[0].dtype
        solve, eye = Solve(self.n, self.n, dtype), Eye(self.n, dtype)

        def reverse(M, dy):
            return Einsum(",ij->ij", self.cod, m)(dy, solve(M.T, eye()))
        return function(m @ self.cod, m)(reverse)

    @classmethod
    def example(cls, n):
        return cls(n)


class Eye(ConstantGenerator):
    """The n × n identity matrix, I → Real(n, n).

    >>> Eye(2).cod
    Real(2, 2)
    """

    def __init__(self, n: int, dtype="float64"):
        self.n = whole(n, "Eye: n", 0)
        super().__init__("Eye", Ty(), Real(self.n, self.n, dtype=dtype))

    @classmethod
    def example(cls, n):
        return cls(n)
