"""SymPy semantics: the same plan, evaluated on symbols, one example at a time.

A wire of shape () carries a SymPy expression, of shape (n,) a column
matrix, of shape (m, n) a matrix. Constants are made exact (0.5 ↦ 1/2), so
symbolic identities can be checked by simplifying to zero.

>>> import sympy
>>> from paralens.categories import Real, Sigmoid
>>> from paralens.lenses import R
>>> x = sympy.Matrix(sympy.symbols("x0 x1"))
>>> dy = sympy.Matrix(sympy.symbols("d0 d1"))
>>> dx = evaluate(R(Sigmoid(Real(2))).put, x, dy)
>>> s = 1 / (1 + sympy.exp(-x[0]))
>>> sympy.simplify(dx[0] - dy[0] * sympy.diff(s, x[0]))
0
>>> symbols(Real(2, 2), "W")
Matrix([
[W_0_0, W_0_1],
[W_1_0, W_1_1]])
"""

from __future__ import annotations

import numpy as np
import sympy

from .numpy import reader
from .plan import RuleTable, flatten

__all__ = ["RULES", "evaluate", "check_inputs", "symbols", "exact"]


def exact(c: float):
    """A float as an exact SymPy number where it has a short rational form."""
    return sympy.nsimplify(c, rational=True)


def _map(f):
    return lambda x: x.applyfunc(f) if isinstance(x, sympy.MatrixBase) else f(x)


def _mul(a, b):
    return a.multiply_elementwise(b) if isinstance(a, sympy.MatrixBase) else a * b


def _full(shape, value):
    if not shape:
        return value
    rows, cols = (shape[0], 1) if len(shape) == 1 else shape
    return sympy.Matrix(rows, cols, [value] * (rows * cols))


def _sum(x):
    return sum(x) if isinstance(x, sympy.MatrixBase) else x


def _softmax(x):
    e = x.applyfunc(sympy.exp)
    return e / sum(e)


def _sigmoid(x):
    return 1 / (1 + sympy.exp(-x))


def _array(value, shape):
    """A wire's SymPy value as a NumPy array of its entries (dtype object)."""
    if not shape:
        return np.array(value, dtype=object)
    return np.array(list(value), dtype=object).reshape(shape)


def _value(array, shape):
    """A NumPy array of SymPy entries as the wire's SymPy value (an expression, a
    column matrix, a matrix); an empty sum, NumPy's 0, made SymPy's."""
    entries = [sympy.sympify(v) for v in np.asarray(array, dtype=object).ravel()]
    if not shape:
        return entries[0]
    rows, cols = (shape[0], 1) if len(shape) == 1 else shape
    return sympy.Matrix(rows, cols, entries)


def _einsum(box):
    """The contraction, by NumPy's einsum on arrays of SymPy entries."""
    shapes = [x.inside[0].shape for x in box.xs]
    return lambda *xs: _value(np.einsum(box.spec, *(_array(x, s) for x, s in zip(xs, shapes))),
                              box.cod.inside[0].shape)


def _logdet(M):
    """log |det M|: log det M unless det M is known to be negative (on symbols, whose
    sign is unknown, log det M, which has the same derivative M⁻ᵀ)."""
    d = M.det()
    return sympy.log(-d) if d.is_negative else sympy.log(d)


def _one_hot(y, n):
    """A symbol's flag and indicator: for a number only (a symbol's value decides it)."""
    if not getattr(y, "is_number", False):
        raise TypeError(f"OneHot: the symbol must be a number 0 … {n - 1} on SymPy, got {y}")
    return sympy.Integer(1), sympy.Matrix([[1 if y == j else 0] for j in range(n)])


#: generator name ↦ (box ↦ function on SymPy values)
RULES = RuleTable("SymPy rules", {
    "Add": lambda box: (lambda *xs: sum(xs[1:], xs[0])),
    "Zero": lambda box: (lambda: _full(box.cod.inside[0].shape, sympy.Integer(0))),
    "Neg": lambda box: (lambda x: -x),
    "Scale": lambda box: (lambda x: exact(box.c) * x),
    "Constant": lambda box: (lambda: _full(box.cod.inside[0].shape, exact(box.c))),
    "Mul": lambda box: _mul,
    "Exp": lambda box: _map(sympy.exp),
    "Log": lambda box: _map(sympy.log),
    "Reciprocal": lambda box: _map(lambda v: 1 / v),
    "Sigmoid": lambda box: _map(_sigmoid),
    "Tanh": lambda box: _map(sympy.tanh),
    "Relu": lambda box: _map(lambda v: sympy.Max(v, 0)),
    "Step": lambda box: _map(lambda v: sympy.Heaviside(v, 0)),
    "Sin": lambda box: _map(sympy.sin),
    "Cos": lambda box: _map(sympy.cos),
    "Sum": lambda box: _sum,
    "Spread": lambda box: (lambda s: _full(box.cod.inside[0].shape, s)),
    "Softmax": lambda box: _softmax,
    "Sqrt": lambda box: _map(sympy.sqrt),
    "LogSumExp": lambda box: (lambda x: sympy.log(sum(x.applyfunc(sympy.exp)))),
    "Linear": lambda box: (lambda W, x: W.T * x),
    "LinearT": lambda box: (lambda W, y: W * y),
    "Outer": lambda box: (lambda a, b: a * b.T),
    "Bias": lambda box: (lambda b, x: x + b),
    "Einsum": _einsum,
    "Solve": lambda box: (lambda M, B: M.LUsolve(B)),
    "LogDet": lambda box: _logdet,
    "Eye": lambda box: (lambda: sympy.eye(box.n)),
    "Observed": lambda box: (lambda y: (_full(box.dom.inside[0].shape, sympy.Integer(1)), y)),
    "OneHot": lambda box: (lambda y: _one_hot(y, box.n)),
    "SumBatch": lambda box: (lambda x: x),      # one example: the batch is that example
    "BatchWeight": lambda box: (lambda x: sympy.Integer(1)),    # one example: weight 1
})


def symbols(ty, prefix: str):
    """Fresh symbols for each wire of a type: ``prefix_i`` entries."""
    values = []
    for k, wire in enumerate(ty.inside):
        name = prefix if len(ty) == 1 else f"{prefix}{k}"
        if not wire.shape:
            values.append(sympy.Symbol(name, real=True))
        elif len(wire.shape) == 1:
            values.append(sympy.Matrix([sympy.Symbol(f"{name}_{i}", real=True)
                                        for i in range(wire.shape[0])]))
        else:
            rows, cols = wire.shape
            values.append(sympy.Matrix(rows, cols, lambda i, j: sympy.Symbol(
                f"{name}_{i}_{j}", real=True)))
    return values[0] if len(values) == 1 else tuple(values)


def _describe(value) -> str:
    if isinstance(value, sympy.MatrixBase):
        return f"a {value.shape[0]} × {value.shape[1]} matrix"
    if isinstance(value, sympy.Expr):
        return f"the expression {value}"
    if hasattr(value, "__array__"):
        return (f"a NumPy array of shape {getattr(value, 'shape', '?')} (this interpreter "
                f"computes on SymPy values: see paralens.interpreters.sympy.symbols)")
    if value is None or isinstance(value, (bool, str, bytes)):
        return repr(value)
    return f"a {type(value).__module__}.{type(value).__qualname__}" \
        if type(value).__module__ != "builtins" else f"a {type(value).__name__}"


def check_inputs(plan, dom, args) -> list:
    """The inputs as SymPy values of their wires' shapes, or an error naming the input,
    the wire and the box that reads it: a wire of shape () takes an expression (or a
    Python number, made a SymPy one), of shape (n,) an n × 1 matrix, of shape (m, n)
    an m × n matrix. NumPy arrays are refused: this interpreter computes on symbols.

    >>> from paralens.categories import Sigmoid, Real
    >>> evaluate(Sigmoid(Real(2)), sympy.Matrix(sympy.symbols("x0 x1 x2")))
    Traceback (most recent call last):
    ...
    ValueError: input 0 (wire Real(2)) of Sigmoid: expected a SymPy matrix of shape (2, 1), got a 3 × 1 matrix
    """
    if len(args) != len(plan.inputs):
        raise TypeError(f"{len(plan.inputs)} inputs expected ({dom!r}), got {len(args)}")
    values = []
    for k, (v, arg) in enumerate(zip(plan.inputs, args)):
        wire = plan.wires[v]
        where = f"input {k} (wire {wire!r}) of {reader(plan, v)}"
        if wire.kind != "Real":
            raise TypeError(f"{where}: the SymPy interpreter reads Real wires only")
        if not wire.shape:
            if isinstance(arg, (int, float)) and not isinstance(arg, bool):
                arg = sympy.sympify(arg)
            if not isinstance(arg, sympy.Expr):
                raise TypeError(f"{where}: expected a SymPy expression, got {_describe(arg)}")
        else:
            shape = (wire.shape[0], 1) if len(wire.shape) == 1 else wire.shape
            if not isinstance(arg, sympy.MatrixBase):
                raise TypeError(f"{where}: expected a SymPy matrix of shape {shape}, got "
                                f"{_describe(arg)}")
            if arg.shape != shape and not (shape == (0, 1) and arg.shape == (0, 0)):
                raise ValueError(f"{where}: expected a SymPy matrix of shape {shape}, got "
                                 f"{_describe(arg)}")
        values.append(arg)
    return values


def evaluate(diagram, *args):
    """Evaluate a diagram on SymPy values (one example), checked first (:func:`check_inputs`)."""
    plan = flatten(diagram)
    env = dict(zip(plan.inputs, check_inputs(plan, diagram.dom, args)))
    for eq in plan.equations:
        if eq.kind not in RULES:
            raise NotImplementedError(f"no SymPy rule for {eq.box.name} ({eq.kind})")
        result = RULES[eq.kind](eq.box)(*[env[i] for i in eq.ins])
        if len(eq.outs) == 1:
            env[eq.outs[0]] = result
        else:
            env.update(zip(eq.outs, result))
    outputs = tuple(env[v] for v in plan.outputs)
    return outputs[0] if len(outputs) == 1 else outputs
