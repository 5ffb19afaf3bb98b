"""Reverse and forward derivatives against independent oracles.

* central finite differences of the NumPy forward (vector–Jacobian and
  Jacobian–vector products), for every registered generator and for a few
  composite diagrams;
* SymPy's own ``jacobian`` of the SymPy forward, compared exactly
  (``simplify(difference) == 0``) with the lens put evaluated on symbols;
* the worked example of ``reference/lenses-and-learning.md`` §3.

The generators are read from ``Generator.registry``, so a new generator is
tested as soon as it is registered.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import sympy

import paralens.interpreters.numpy as inp
import paralens.interpreters.sympy as isp
from paralens.categories import (
    Cos, Copy, Diagram, Exp, Generator, Linear, LinearT, Log, Mul, Outer, Para, Permutation,
    Real, Sigmoid, Sin, Softmax, Spread, Sum, Tanh, dense, forward_derivative, function,
    reverse)
from paralens.categories.structural import Add
from paralens.lenses import R

H = 1e-6          # finite-difference step
RTOL = 1e-6       # central differences in float64 are good to ~1e-9 here
ATOL = 1e-7
BATCH = 3
N = 2             # generator examples on wires of size about 2

# Per-example generators; a batch-level one (SumBatch) is tested in test_plan.py.
NAMES = sorted(n for n, cls in Generator.registry.items()
               if getattr(cls, "per_example", True) and cls.over != "Bool")
SMOOTH = [name for name in NAMES if Generator.registry[name].smooth]
#: generators on a continuum (not a discrete domain such as OneHot's symbols): the ones
#: central differences and symbols apply to
CONTINUOUS = [name for name in NAMES if not getattr(Generator.registry[name], "discrete", False)]


# -- helpers -------------------------------------------------------------------

def rng_for(*keys) -> np.random.Generator:
    """A generator seeded by the test's name (stable across runs and processes)."""
    return np.random.default_rng(zlib.crc32("/".join(map(str, keys)).encode()))


def example(name: str):
    g = Generator.registry[name].example(N)
    kinds = {w.kind for w in g.dom.inside + g.cod.inside}
    if kinds - {"Real"}:
        pytest.skip(f"{name} has non-Real wires ({kinds}): no finite differences")
    return g


def sample(rng, ty, batch, positive=False, away_from_zero=False):
    """Random inputs for the wires of ``ty``, with a leading batch axis if ``batch``."""
    arrays = []
    for wire in ty.inside:
        shape = ((batch, ) if batch else ()) + wire.shape
        if positive:
            a = rng.uniform(0.5, 2.0, shape)
        elif away_from_zero:
            a = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
        else:
            a = rng.uniform(-2.0, 2.0, shape)
        arrays.append(np.asarray(a, dtype=wire.dtype))
    return arrays


def domain_sample(rng, g, ty, batch):
    """Inputs in the domain of ``g``: drawn by its own ``sample`` if it declares one
    (``Generator.sample``: invertible matrices for Solve), else positive if it is
    partial, away from 0 if it has kinks."""
    declared = type(g).sample
    if declared is not None:
        return [declared(wire, rng, batch or 0) for wire in ty.inside]
    return sample(rng, ty, batch, positive=not type(g).total,
                  away_from_zero=not type(g).smooth)


def outputs(result, n: int) -> tuple:
    """An evaluator's result as a tuple of n arrays."""
    if n == 1:
        return (np.asarray(result), )
    assert isinstance(result, tuple) and len(result) == n, result
    return tuple(np.asarray(r) for r in result)


def fd_vjp(forward, n_out, xs, dys):
    """Σ_k dy_k · ∂f_k/∂x by central differences, on one example (unbatched arrays)."""
    grads = []
    for i, x in enumerate(xs):
        grad = np.zeros_like(x)
        for j in np.ndindex(x.shape):
            plus, minus = [a.copy() for a in xs], [a.copy() for a in xs]
            plus[i][j] += H
            minus[i][j] -= H
            step = plus[i][j] - minus[i][j]          # the step actually taken
            fp, fm = outputs(forward(*plus), n_out), outputs(forward(*minus), n_out)
            grad[j] = sum(np.sum(dy * (p - m)) for dy, p, m in zip(dys, fp, fm)) / step
        grads.append(grad)
    return grads


def fd_jvp(forward, n_out, xs, us):
    """J_f(x) u by central differences along u (batched arrays: examples are independent)."""
    plus = [x + H * u for x, u in zip(xs, us)]
    minus = [x - H * u for x, u in zip(xs, us)]
    fp, fm = outputs(forward(*plus), n_out), outputs(forward(*minus), n_out)
    return [(p - m) / (2 * H) for p, m in zip(fp, fm)]


def check_batched(got, expected, per_example_shape, batch):
    """``got`` is a batched value, or one shared by every example (then broadcast)."""
    got = np.asarray(got)
    assert got.shape in {(batch, ) + per_example_shape, per_example_shape}, got.shape
    np.testing.assert_allclose(np.broadcast_to(got, expected.shape), expected,
                               rtol=RTOL, atol=ATOL)


def check_put_against_fd(f, put, xs_batched, dys_batched):
    """put(x, dy) equals the finite-difference VJP of f, example by example,
    both batched and for one unbatched example."""
    forward = inp.compile(f)
    evaluator = inp.compile(put)
    assert put.dom == f.dom @ f.cod and put.cod == f.dom
    n_in, n_out = len(f.dom), len(f.cod)
    batched = outputs(evaluator(*xs_batched, *dys_batched), n_in) if n_in else ()
    if not n_in:
        assert evaluator(*xs_batched, *dys_batched) == ()
    for e in range(BATCH):
        xs = [np.array(x[e]) for x in xs_batched]
        dys = [np.array(d[e]) for d in dys_batched]
        expected = fd_vjp(forward, n_out, xs, dys)
        for wire, got, want in zip(f.dom.inside, batched, expected):
            got = np.asarray(got)
            assert got.shape in {(BATCH, ) + wire.shape, wire.shape}, (wire, got.shape)
            got = got[e] if got.shape == (BATCH, ) + wire.shape else got
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
        if e == 0 and n_in:     # one example without a batch axis
            single = outputs(evaluator(*xs, *dys), n_in)
            for wire, got, want in zip(f.dom.inside, single, expected):
                assert np.shape(got) == wire.shape
                np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def check_jvp_against_fd(f, derivative, xs, us):
    assert derivative.dom == f.dom @ f.dom and derivative.cod == f.cod
    got = outputs(inp.compile(derivative)(*xs, *us), len(f.cod)) if len(f.cod) else ()
    expected = fd_jvp(inp.compile(f), len(f.cod), xs, us)
    assert len(got) == len(expected)
    for wire, g, want in zip(f.cod.inside, got, expected):
        check_batched(g, want, wire.shape, BATCH)


# -- R[g] against finite differences, every generator -----------------------------

@pytest.mark.parametrize("construction", ["lens put", "combinator"])
@pytest.mark.parametrize("name", CONTINUOUS)
def test_reverse_derivative_is_the_finite_difference_vjp(name, construction):
    """Both the put of the lens R(g) and the combinator R[g] are the VJP."""
    g = example(name)
    rng = rng_for("put" if construction == "lens put" else "reverse", name)
    xs = domain_sample(rng, g, g.dom, BATCH)
    dys = sample(rng, g.cod, BATCH)
    if construction == "lens put":
        lens = R(g)
        assert lens.forward.cod == lens.residual @ g.cod
        assert lens.backward.dom == lens.residual @ g.cod and lens.backward.cod == g.dom
        check_put_against_fd(g, lens.put, xs, dys)
    else:
        check_put_against_fd(g, reverse(g), xs, dys)


# -- the NumPy and SymPy rule tables agree on every forward -------------------------

def to_sympy(array):
    array = np.asarray(array)
    if array.ndim == 0:
        return sympy.Float(float(array), 30)
    if array.ndim == 1:
        return sympy.Matrix([sympy.Float(float(v), 30) for v in array])
    return sympy.Matrix(array.shape[0], array.shape[1],
                        [sympy.Float(float(v), 30) for v in array.ravel()])


def from_sympy(value):
    if isinstance(value, sympy.MatrixBase):
        array = np.array(value.evalf(), dtype=float)
        return array[:, 0] if value.shape[1] == 1 else array
    return np.array(float(value))


@pytest.mark.parametrize("name", CONTINUOUS)
def test_numpy_and_sympy_forwards_agree(name):
    """The FD oracle differentiates the NumPy forward; tie it to the textbook
    formulas of the SymPy rule table (and vice versa)."""
    g = example(name)
    xs = domain_sample(rng_for("forward", name), g, g.dom, None)
    got = outputs(inp.compile(g)(*xs), len(g.cod)) if len(g.cod) else ()
    symbolic = isp.evaluate(g, *map(to_sympy, xs))
    symbolic = (symbolic, ) if len(g.cod) == 1 else symbolic
    assert len(got) == len(symbolic) == len(g.cod)
    for wire, a, s in zip(g.cod.inside, got, symbolic):
        b = from_sympy(s)
        assert np.shape(a) == b.shape == wire.shape
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)


# -- R[g] on symbols equals SymPy's Jacobian transpose, exactly -------------------

def flat(value) -> list:
    """A SymPy wire value as a list of entries (matrices row-major)."""
    return list(value) if isinstance(value, sympy.MatrixBase) else [value]


def sym_wires(ty, prefix):
    values = isp.symbols(ty, prefix)
    return (values, ) if len(ty) == 1 else tuple(values)


@pytest.mark.parametrize("name", SMOOTH)
def test_lens_put_is_sympy_jacobian_transpose_exactly(name):
    g = example(name)
    xs, dys = sym_wires(g.dom, "x"), sym_wires(g.cod, "d")
    X = [v for x in xs for v in flat(x)]
    dY = [v for d in dys for v in flat(d)]
    assert len(X) == sum(w.size for w in g.dom.inside)
    assert len(dY) == sum(w.size for w in g.cod.inside)

    forward = isp.evaluate(g, *xs)
    forward = (forward, ) if len(g.cod) == 1 else forward
    F = [v for y in forward for v in flat(y)]
    assert len(F) == len(dY)
    # (Jᵀ dy)_i = Σ_k dy_k ∂F_k/∂X_i, with SymPy's own differentiation
    if X and F:
        J = sympy.Matrix(F).jacobian(sympy.Matrix(X))
        expected = list(J.T * sympy.Matrix(dY))
    else:
        expected = [sympy.Integer(0)] * len(X)

    got = isp.evaluate(R(g).put, *xs, *dys)
    got = (got, ) if len(g.dom) == 1 else got
    assert len(got) == len(g.dom)
    got = [v for dx in got for v in flat(dx)]
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected)):
        assert sympy.simplify(a - b) == 0, (name, X[i], a, b)


# -- D[f] against finite differences ----------------------------------------------

@pytest.mark.parametrize("name", [n for n in NAMES if Generator.registry[n].total])
def test_forward_derivative_is_the_finite_difference_jvp(name):
    g = example(name)
    rng = rng_for("jvp", name)
    xs = domain_sample(rng, g, g.dom, BATCH)
    us = sample(rng, g.dom, BATCH)
    check_jvp_against_fd(g, forward_derivative(g), xs, us)


def worked_example(x=Real()):
    """f(x1, x2) = (x1³ + 2 x1 x2, x2, sin x1), reference §3."""
    return function(x @ x, x @ x @ x)(lambda a, b: (a * a * a + 2 * a * b, b, Sin(x)(a)))


def _composites():
    x2, x3 = Real(2), Real(3)
    yield "worked example", worked_example(Real(1))
    yield "dense tanh", dense(3, 2, Tanh).diagram
    yield "mlp softmax", Para.id(x3).then(dense(3, 4, Sigmoid), dense(4, 3, Softmax)).diagram
    yield "sum spread exp log reciprocal", function(x3 @ x3, x3)(
        lambda a, b: Spread(x3)(Sum(x3)(a * b)) / (Exp(x3)(a) + 1)
        + Log(x3)(Exp(x3)(b) + 1) - 0.5 * Cos(x3)(a))
    yield "wirings", (Permutation(x2 @ x2 @ x2, (2, 0, 1)) >> Copy(x2, 3) @ x2 @ x2
                      >> Sin(x2) @ Mul(x2) @ Mul(x2)
                      >> Add(x2, 3))
    yield "outer linear-transpose", function(x3 @ x2, x2 @ Real(3, 2))(
        lambda a, b: (Tanh(x2)(LinearT(2, 3)(Outer(2, 3)(b, a), a)), Outer(3, 2)(a, b * b)))
    yield "linear of a computed matrix", function(Real(3, 2) @ x3, x2)(
        lambda W, a: Linear(3, 2)(W * W, Sin(x3)(a)))


COMPOSITES = dict(_composites())


@pytest.mark.parametrize("name", list(COMPOSITES))
def test_forward_derivative_of_composites_is_the_finite_difference_jvp(name):
    f = COMPOSITES[name]
    rng = rng_for("jvp composite", name)
    xs, us = sample(rng, f.dom, BATCH), sample(rng, f.dom, BATCH)
    check_jvp_against_fd(f, forward_derivative(f), xs, us)


@pytest.mark.parametrize("name", list(COMPOSITES))
def test_lens_put_of_composites_is_the_finite_difference_vjp(name):
    f = COMPOSITES[name]
    rng = rng_for("vjp composite", name)
    xs, dys = sample(rng, f.dom, BATCH), sample(rng, f.cod, BATCH)
    check_put_against_fd(f, R(f).put, xs, dys)
    check_put_against_fd(f, reverse(f), xs, dys)


# -- the worked example of reference §3 ---------------------------------------------

@pytest.mark.parametrize("x", [Real(), Real(1)], ids=["Real()", "Real(1)"])
def test_worked_example_fixture(x):
    f = worked_example(x)
    assert {box.name for box in f.boxes} >= {"Mul", "Add", "Sin"}
    point = [np.full(x.inside[0].shape, 1.0), np.full(x.inside[0].shape, 2.0)]
    ones = lambda k: [np.full(x.inside[0].shape, 1.0)] * k

    expected_r = [7.540302305868140, 3.0]
    for put in (R(f).put, reverse(f)):
        got = outputs(inp.compile(put)(*point, *ones(3)), 2)
        for g, want in zip(got, expected_r):
            assert g.shape == x.inside[0].shape
            assert abs(float(g.ravel()[0]) - want) <= 1e-12

    got = outputs(inp.compile(forward_derivative(f))(*point, *ones(2)), 3)
    for g, want in zip(got, [9.0, 1.0, 0.5403023058681398]):
        assert np.shape(g) == x.inside[0].shape
        assert abs(float(np.ravel(g)[0]) - want) <= 1e-12


def test_worked_example_symbolic_reverse_derivative_is_the_reference_formula():
    f = worked_example(Real())
    x1, x2, v1, v2, v3 = sympy.symbols("x1 x2 v1 v2 v3", real=True)
    expected = ((3 * x1**2 + 2 * x2) * v1 + sympy.cos(x1) * v3, 2 * x1 * v1 + v2)
    for put in (R(f).put, reverse(f)):
        got = isp.evaluate(put, x1, x2, v1, v2, v3)
        assert len(got) == 2
        for a, b in zip(got, expected):
            assert sympy.expand(a - b) == 0, (a, b)
    u1, u2 = sympy.symbols("u1 u2", real=True)
    expected_d = ((3 * x1**2 + 2 * x2) * u1 + 2 * x1 * u2, u2, sympy.cos(x1) * u1)
    got = isp.evaluate(forward_derivative(f), x1, x2, u1, u2)
    assert len(got) == 3
    for a, b in zip(got, expected_d):
        assert sympy.simplify(a - b) == 0, (a, b)
