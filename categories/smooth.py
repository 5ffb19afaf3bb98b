"""The generators of the smooth array category, each with its reverse derivative.

Every class states its forward map in its docstring and its reverse
derivative, in optic form, as a diagram of other generators (written with
:func:`categories.function`). The residual is what the backward half reads:
the input for a polynomial, the output where the derivative is a function of
it (exp, sigmoid, tanh, softmax), nothing for a linear map.

>>> from paralens.categories import Real, function
>>> x = Real(3)
>>> Sigmoid(x).forward().cod          # residual y = σ(x), then the output
Real(3) @ Real(3)
>>> Tanh(x).backward().dom            # the residual, then the cotangent
Real(3) @ Real(3)
>>> Linear(4, 20).dom                 # the parameter wire comes first (Para)
Real(4, 20) @ Real(4)
"""

from __future__ import annotations

from .adapter import Diagram, Real, Ty, whole
from .generator import ConstantGenerator, Generator, LinearGenerator, as_type
from .structural import Copy, Discard, copy
from .syntax import function

__all__ = [
    "Neg", "Scale", "Constant", "Mul", "Exp", "Log", "Reciprocal", "Sigmoid",
    "Tanh", "Relu", "Step", "Sin", "Cos", "Sum", "Spread", "Softmax", "Sqrt", "LogSumExp",
    "Linear", "LinearT", "Outer", "Bias",
]


def _real(x: Ty, who: str) -> Ty:
    x = as_type(x)
    if len(x) != 1 or x.inside[0].kind != "Real":
        raise TypeError(f"{who} acts on one Real wire, got {x!r}")
    if x.inside[0].time:
        raise TypeError(f"{who} acts on one step, not on the sequence {x!r}: put it in the "
                        f"stage of a machine (categories.stateful), which runs it at every step")
    return x


def _scalar(x: Ty) -> Ty:
    return Real(dtype=x.inside[0].dtype)


class Elementwise(Generator):
    """A map applied to each entry of one Real wire."""

    abstract = True

    def __init__(self, x: Ty | int, name: str | None = None, **params):
        self.x = _real(x, type(self).__name__)
        super().__init__(name or type(self).__name__, self.x, self.x, **params)

    @classmethod
    def example(cls, n):
        return cls(Real(n))


class OutputResidual(Generator):
    """Keeps its output as the residual: forward is the box, then a copy."""

    abstract = True

    def residual(self) -> Ty:
        return self.cod

    def forward(self) -> Diagram:
        return self >> Copy(self.cod)


class Neg(Elementwise, LinearGenerator):
    """x ↦ −x."""

    def transpose(self):
        return self


class Scale(Elementwise, LinearGenerator):
    """x ↦ c·x for a scalar constant c."""

    def __init__(self, c: float, x: Ty | int):
        self.c = float(c)
        super().__init__(x, name=f"Scale({self.c:g})", data=self.c)   # data: exact equality

    def transpose(self):
        return self

    @classmethod
    def example(cls, n):
        return cls(-1.5, Real(n))


class Constant(ConstantGenerator):
    """I → x, every entry the scalar c. Its reverse derivative discards the cotangent."""

    def __init__(self, c: float, x: Ty | int):
        self.c, self.x = float(c), _real(x, "Constant")
        super().__init__(f"Constant({self.c:g})", Ty(), self.x, data=self.c)

    @classmethod
    def example(cls, n):
        return cls(0.5, Real(n))


class Mul(Generator):
    """x ⊗ y ↦ x ⊙ y, elementwise. R: (x, y, dz) ↦ (dz ⊙ y, dz ⊙ x)."""

    def __init__(self, x: Ty | int):
        self.x = _real(x, "Mul")
        super().__init__("Mul", self.x @ self.x, self.x)

    def backward(self):
        x = self.x
        return function(x @ x @ x, x @ x)(lambda a, b, dz: (dz * b, dz * a))

    @classmethod
    def example(cls, n):
        return cls(Real(n))


class Exp(OutputResidual, Elementwise):
    """x ↦ eˣ. R: (y, dy) ↦ dy ⊙ y."""

    def backward(self):
        return function(self.x @ self.x, self.x)(lambda y, dy: dy * y)


class Log(Elementwise):
    """x ↦ log x (x > 0). R: (x, dy) ↦ dy / x."""

    total = False

    def backward(self):
        return function(self.x @ self.x, self.x)(lambda x, dy: dy / x)


class Reciprocal(OutputResidual, Elementwise):
    """x ↦ 1/x (x ≠ 0). R: (y, dy) ↦ −dy ⊙ y ⊙ y."""

    total = False

    def backward(self):
        return function(self.x @ self.x, self.x)(lambda y, dy: -(dy * y * y))


class Sqrt(OutputResidual, Elementwise):
    """x ↦ √x (x > 0). R: (y, dy) ↦ ½ dy / y."""

    total = False

    def backward(self):
        return function(self.x @ self.x, self.x)(lambda y, dy: 0.5 * (dy / y))


class Sigmoid(OutputResidual, Elementwise):
    """x ↦ 1/(1 + e⁻ˣ). R: (y, dy) ↦ dy ⊙ y ⊙ (1 − y)."""

    def backward(self):
        return function(self.x @ self.x, self.x)(lambda y, dy: dy * y * (1 - y))


class Tanh(OutputResidual, Elementwise):
    """x ↦ tanh x. R: (y, dy) ↦ dy ⊙ (1 − y ⊙ y)."""

    def backward(self):
        return function(self.x @ self.x, self.x)(lambda y, dy: dy * (1 - y * y))


class Step(Elementwise):
    """x ↦ 1 if x > 0 else 0 (Heaviside). Its derivative is zero away from 0."""

    smooth = False

    def residual(self):
        return Ty()

    def forward(self):
        return self

    def backward(self):
        return Discard(self.x) >> Constant(0.0, self.x)


class Relu(Elementwise):
    """x ↦ max(x, 0). The residual is the mask step(x); R: (m, dy) ↦ dy ⊙ m."""

    smooth = False

    def forward(self):
        return copy(self.x) >> Step(self.x) @ self

    def backward(self):
        return Mul(self.x)


class Sin(Elementwise):
    """x ↦ sin x. R: (x, dy) ↦ dy ⊙ cos x."""

    def backward(self):
        return function(self.x @ self.x, self.x)(lambda x, dy: dy * Cos(self.x)(x))


class Cos(Elementwise):
    """x ↦ cos x. R: (x, dy) ↦ −dy ⊙ sin x."""

    def backward(self):
        return function(self.x @ self.x, self.x)(lambda x, dy: -(dy * Sin(self.x)(x)))


class Sum(LinearGenerator):
    """Sum over the features of one example: x ↦ Σᵢ xᵢ, a scalar. R: spread."""

    def __init__(self, x: Ty | int):
        self.x = _real(x, "Sum")
        super().__init__("Sum", self.x, _scalar(self.x))

    def transpose(self):
        return Spread(self.x)

    @classmethod
    def example(cls, n):
        return cls(Real(n))


class Spread(LinearGenerator):
    """A scalar copied to every feature: s ↦ (s, …, s). R: sum."""

    def __init__(self, x: Ty | int):
        self.x = _real(x, "Spread")
        super().__init__("Spread", _scalar(self.x), self.x)

    def transpose(self):
        return Sum(self.x)

    @classmethod
    def example(cls, n):
        return cls(Real(n))


class Softmax(OutputResidual, Elementwise):
    """x ↦ eˣ / Σ eˣ over the features of a vector wire Real(n), n ≥ 1.
    R: (y, dy) ↦ y ⊙ (dy − Σ(dy ⊙ y))."""

    def __init__(self, x: Ty | int):
        x = _real(x, "Softmax")
        if len(x.inside[0].shape) != 1 or x.inside[0].shape[0] < 1:
            raise TypeError(f"Softmax acts on a vector wire Real(n) with n ≥ 1, got {x!r}")
        super().__init__(x)

    def backward(self):
        x = self.x
        return function(x @ x, x)(
            lambda y, dy: y * (dy - Spread(x)(Sum(x)(dy * y))))


class LogSumExp(Generator):
    """x ↦ log Σᵢ exp xᵢ over a vector wire Real(n), computed without overflow.
    The residual is softmax(x); R: (s, dy) ↦ dy · s."""

    def __init__(self, x: Ty | int):
        self.x = _real(x, "LogSumExp")
        if len(self.x.inside[0].shape) != 1 or self.x.inside[0].shape[0] < 1:
            raise TypeError(f"LogSumExp acts on a vector wire Real(n) with n ≥ 1, got {self.x!r}")
        super().__init__("LogSumExp", self.x, _scalar(self.x))

    def residual(self):
        return self.x

    def forward(self):
        return copy(self.x) >> Softmax(self.x) @ self

    def backward(self):
        x = self.x
        return function(x @ self.cod, x)(lambda s, dy: Spread(x)(dy) * s)

    @classmethod
    def example(cls, n):
        return cls(Real(n))


class Linear(Generator):
    """The linear map of a matrix parameter: W ⊗ x ↦ x W, W: Real(n_in, n_out)
    (``x @ W``, the layout of a hand-written NumPy network).

    R: (W, x, dy) ↦ (x ⊗ dy, W dy), an outer product and the transposed map.
    """

    def __init__(self, n_in: int, n_out: int, dtype="float64"):
        self.n_in = whole(n_in, f"{type(self).__name__}: n_in")
        self.n_out = whole(n_out, f"{type(self).__name__}: n_out")
        w, x, y = Real(n_in, n_out, dtype=dtype), Real(n_in, dtype=dtype), Real(n_out, dtype=dtype)
        super().__init__("Linear", w @ x, y)

    def backward(self):
        w, x, y = self.dom[:1], self.dom[1:], self.cod
        dtype = w.inside[0].dtype
        lt, outer = LinearT(self.n_in, self.n_out, dtype), Outer(self.n_in, self.n_out, dtype)
        return function(w @ x @ y, w @ x)(lambda W, a, dy: (outer(a, dy), lt(W, dy)))

    @classmethod
    def example(cls, n):
        return cls(n, n + 1)


class LinearT(Generator):
    """The transposed map: W ⊗ y ↦ W y (``y @ W.T``), W: Real(n_in, n_out).

    R: (W, y, dx) ↦ (dx ⊗ y, dx W).
    """

    def __init__(self, n_in: int, n_out: int, dtype="float64"):
        self.n_in = whole(n_in, f"{type(self).__name__}: n_in")
        self.n_out = whole(n_out, f"{type(self).__name__}: n_out")
        w, x, y = Real(n_in, n_out, dtype=dtype), Real(n_in, dtype=dtype), Real(n_out, dtype=dtype)
        super().__init__("LinearT", w @ y, x)

    def backward(self):
        w, y, x = self.dom[:1], self.dom[1:], self.cod
        dtype = w.inside[0].dtype
        linear, outer = Linear(self.n_in, self.n_out, dtype), Outer(self.n_in, self.n_out, dtype)
        return function(w @ y @ x, w @ y)(lambda W, b, dx: (outer(dx, b), linear(W, dx)))

    @classmethod
    def example(cls, n):
        return cls(n, n + 1)


class Outer(Generator):
    """The outer product: a ⊗ b ↦ a bᵀ, Real(m) ⊗ Real(n) → Real(m, n).

    R: (a, b, dZ) ↦ (dZ b, a dZ).
    """

    def __init__(self, m: int, n: int, dtype="float64"):
        self.m, self.n = whole(m, "Outer: m"), whole(n, "Outer: n")
        super().__init__("Outer", Real(m, dtype=dtype) @ Real(n, dtype=dtype),
                         Real(m, n, dtype=dtype))

    def backward(self):
        a, b, z = self.dom[:1], self.dom[1:], self.cod
        dtype = z.inside[0].dtype
        linear, lt = Linear(self.m, self.n, dtype), LinearT(self.m, self.n, dtype)
        return function(a @ b @ z, a @ b)(lambda u, v, dZ: (lt(dZ, v), linear(dZ, u)))

    @classmethod
    def example(cls, n):
        return cls(n, n + 1)


class Bias(LinearGenerator):
    """Adds a bias parameter: b ⊗ x ↦ x + b. R copies the cotangent to both."""

    sums_inputs = True

    def __init__(self, x: Ty | int):
        self.x = _real(x, "Bias")
        super().__init__("Bias", self.x @ self.x, self.x)

    def transpose(self):
        return Copy(self.x)

    @classmethod
    def example(cls, n):
        return cls(Real(n))
