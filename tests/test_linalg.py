"""The linear-algebra generators (``categories.linalg``: Einsum, Solve, LogDet, Eye)
against plain NumPy, example by example: on one example and on batches, a matrix
shared by a batch of right-hand sides and a batch of matrices with one shared
right-hand side (a stack of vectors is never read as a matrix: the batches have
as many examples as the vectors have entries); their reverse derivatives against
central differences, alone and in composites; the generated NumPy code and the
JAX backend against the interpreter; the SymPy rules against NumPy; ``a @ b`` and
``a.T`` on traced wires; and the construction errors, word for word."""

from __future__ import annotations

import itertools
import zlib

import numpy as np
from test_oracles import fd_vjp as oracle_fd_vjp
import pytest
import sympy

from paralens.categories import (
    Einsum, Eye, LogDet, Real, Solve, function, linalg, reverse)
from paralens.interpreters import codegen
from paralens.interpreters import numpy as pn
from paralens.interpreters import sympy as isp
from paralens.lenses import R

N = 3             # the matrices are N × N; a batch of N examples is the ambiguous one
H = 1e-6          # central differences, in float64
RTOL, ATOL = 1e-6, 1e-7


def rng_for(*keys):
    return np.random.default_rng(zlib.crc32("/".join(map(str, keys)).encode()))


def draw(rng, shape, batch=None):
    """Entries uniform in [-1, 1]; a square matrix made strictly diagonally dominant
    (invertible, well conditioned) by ``linalg.invertible``, as the law tests draw."""
    return linalg.invertible()(Real(*shape).inside[0], rng, batch or 0)


def as_tuple(x):
    return x if isinstance(x, tuple) else (x, )


# -- the forward maps against NumPy, example by example --------------------------------------

def _einsum_case(spec, *shapes):
    return (Einsum(spec, *(Real(*s) for s in shapes)), list(shapes),
            lambda *xs: np.einsum(spec, *xs))


CASES = {
    "matrix product": _einsum_case("ij,jk->ik", (2, 3), (3, 4)),
    "matrix-vector": _einsum_case("ij,j->i", (2, 3), (3, )),
    "vector-matrix": _einsum_case("j,jk->k", (3, ), (3, 2)),
    "inner product": _einsum_case("i,i->", (3, ), (3, )),
    "outer product": _einsum_case("i,j->ij", (2, ), (3, )),
    "transpose": _einsum_case("ij->ji", (2, 3)),
    "three axes": _einsum_case("ijk,kj->i", (2, 3, 4), (4, 3)),
    "three operands": _einsum_case("ij,jk,k->i", (2, 3), (3, 4), (4, )),
    "scalar times matrix": _einsum_case(",ij->ji", (), (2, 3)),
    "solve, vector": (Solve(N), [(N, N), (N, )], np.linalg.solve),
    "solve, matrix": (Solve(N, 2), [(N, N), (N, 2)], np.linalg.solve),
    "solve, square matrix": (Solve(N, N), [(N, N), (N, N)], np.linalg.solve),
    "logdet": (LogDet(N), [(N, N)], lambda M: np.linalg.slogdet(M)[1]),
}


def cases_with_batches():
    """Each case with each choice of its batched inputs (none: one example)."""
    for name, (box, shapes, _) in CASES.items():
        for batched in itertools.product([False, True], repeat=len(shapes)):
            way = "".join("B" if b else "s" for b in batched)     # batched or shared
            yield pytest.param(name, batched, id=f"{name}-{way}")


def inputs(name, batched, batch, seed="forward"):
    box, shapes, _ = CASES[name]
    rng = rng_for(seed, name, batched, batch)
    return [draw(rng, s, batch if b else None) for s, b in zip(shapes, batched)]


def expected(name, args, batched, batch):
    """NumPy's own function on each example (a 1-d right-hand side is one vector)."""
    oracle = CASES[name][2]
    if not any(batched):
        return oracle(*args)
    return np.stack([oracle(*(a[e] if b else a for a, b in zip(args, batched)))
                     for e in range(batch)])


@pytest.mark.parametrize("batch", [N, 5])
@pytest.mark.parametrize("name, batched", list(cases_with_batches()))
def test_each_generator_is_numpys_function_on_each_example(name, batched, batch):
    box = CASES[name][0]
    args = inputs(name, batched, batch)
    want = expected(name, args, batched, batch)
    assert want.shape == ((batch, ) if any(batched) else ()) + box.cod.inside[0].shape
    for build in (pn.compile, codegen.compile):
        got = build(box)(*args)
        assert np.shape(got) == want.shape and np.asarray(got).dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_a_stack_of_vectors_is_not_a_matrix():
    """A shared M and N right-hand sides b_e stacked N × N: each is solved, M⁻¹b_e (rows),
    not M⁻¹ of the stack read as one matrix (columns)."""
    M = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 4.0]])
    b = np.arange(9.0).reshape(3, 3)
    for build in (pn.compile, codegen.compile):
        got = build(Solve(3))(M, b)
        np.testing.assert_allclose(M @ got.T, b.T, rtol=1e-12, atol=1e-12)
        assert not np.allclose(got, np.linalg.solve(M, b))     # the other reading differs


def test_logdet_is_the_log_of_the_absolute_determinant():
    rng = rng_for("negative determinant")
    M = draw(rng, (N, N), 4)
    M[:, 0] *= -1                                  # det < 0
    assert np.all(np.linalg.det(M) < 0)
    want = np.log(np.abs(np.linalg.det(M)))
    for build in (pn.compile, codegen.compile):
        np.testing.assert_allclose(build(LogDet(N))(M), want, rtol=1e-12)
        dM = build(reverse(LogDet(N)))(M, np.ones(4))
        np.testing.assert_allclose(dM, np.linalg.inv(M).transpose(0, 2, 1), rtol=1e-12)


def test_eye_is_the_identity_and_shared():
    for n in (0, 1, N):
        for build in (pn.compile, codegen.compile):
            got = build(Eye(n))()
            assert got.dtype == np.float64
            np.testing.assert_array_equal(got, np.eye(n))
    shifted = function(Real(N, N), Real(N, N))(lambda M: M + Eye(N)())
    M = draw(rng_for("eye"), (N, N), 4)
    np.testing.assert_array_equal(pn.compile(shifted)(M), M + np.eye(N))
    single = Eye(2, dtype="float32")
    assert pn.compile(single)().dtype == codegen.compile(single)().dtype == np.float32


# -- reverse derivatives against central differences ----------------------------------------

def fd_vjp(f, xs, dys):
    """Σ_k dy_k · ∂f_k/∂x by central differences of f (one example): the oracle of
    ``test_oracles``."""
    return oracle_fd_vjp(f, len(dys), [np.array(x) for x in xs], dys)


def _composites():
    n, k = N, 2
    M, x, B = Real(n, n), Real(n), Real(n, k)
    yield "quadratic form", function(M @ x, Real())(lambda H_, v: v @ (H_ @ v))
    yield "gaussian log density", function(M @ x, Real())(
        lambda S, v: -0.5 * (v @ Solve(n)(S, v)) - 0.5 * LogDet(n)(S))
    yield "solve of a transpose, then a product", function(M @ B, Real(k, k))(
        lambda A, C: Solve(n, k)(A.T, C).T @ C)
    yield "shifted by the identity", function(M, Real() @ M)(
        lambda A: (LogDet(n)(A + Eye(n)()), Solve(n, n)(A + Eye(n)(), Eye(n)())))
    yield "three operands", function(Real(2, n) @ M @ x, Real(2))(
        lambda A, C, v: Einsum("ij,jk,k->i", Real(2, n), M, x)(A, C, v))


COMPOSITES = dict(_composites())
GENERATORS = {name: box for name, (box, _, _) in CASES.items()}


def vjp_cases():
    """Each generator and composite on one example, on a batch, and (with two inputs
    or more) with its first input shared by a batch of the others, or alone batched."""
    for name, f in {**GENERATORS, **COMPOSITES}.items():
        k = len(f.dom)
        ways = {"none": [False] * k, "all": [True] * k}
        if k > 1:
            ways.update({"first shared": [False] + [True] * (k - 1),
                         "first alone": [True] + [False] * (k - 1)})
        for way, flags in ways.items():
            yield pytest.param(name, flags, id=f"{name}-{way}")


@pytest.mark.parametrize("name, flags", list(vjp_cases()))
def test_reverse_derivative_is_the_central_difference_vjp(name, flags):
    f = GENERATORS.get(name) or COMPOSITES[name]
    rng = rng_for("vjp", name, flags)
    batch = N
    xs = [draw(rng, w.shape, batch if b else None) for w, b in zip(f.dom.inside, flags)]
    dys = [draw(rng, w.shape, batch if any(flags) else None) for w in f.cod.inside]
    forward = pn.compile(f)
    examples = range(batch) if any(flags) else [None]        # None: the one example

    def pick(a, b, e):
        return a[e] if b and e is not None else a
    wants = [fd_vjp(forward, [pick(x, b, e) for x, b in zip(xs, flags)],
                    [pick(d, True, e) for d in dys]) for e in examples]
    for put in (reverse(f), R(f).put):
        for build in (pn.compile, codegen.compile):
            got = as_tuple(build(put)(*xs, *dys))
            assert len(got) == len(f.dom)
            for e, want in zip(examples, wants):
                for wire, g, w in zip(f.dom.inside, got, want):
                    g = np.asarray(g)
                    assert g.shape in {wire.shape, (batch, ) + wire.shape}
                    g = g[e] if e is not None and g.shape == (batch, ) + wire.shape else g
                    np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


def test_the_finite_difference_law_draws_with_a_declared_sample(monkeypatch):
    """``laws.check_finite_differences`` samples a diagram holding a Solve and a LogDet
    with their own ``sample`` (invertible matrices), unless told otherwise."""
    from paralens.categories import laws
    drawn = []

    def spy(wire, rng, batch):
        drawn.append(wire)
        return linalg.invertible()(wire, rng, batch)
    for cls in (Solve, LogDet):
        monkeypatch.setattr(cls, "sample", staticmethod(spy))
    f = COMPOSITES["gaussian log density"]
    laws.check_finite_differences(f, pn.compile).assert_ok()
    assert drawn and set(drawn) == {Real(N, N).inside[0], Real(N).inside[0], Real().inside[0]}
    drawn.clear()
    laws.check_finite_differences(f, pn.compile, sample=linalg.invertible()).assert_ok()
    assert not drawn
    for box in (Solve(N), Solve(N, 2), LogDet(N), Einsum("ij,jk->ik", Real(2, 3), Real(3, 2))):
        laws.check_finite_differences(box, pn.compile).assert_ok()


# -- the JAX backend against NumPy ------------------------------------------------------------

@pytest.fixture(scope="module")
def pj():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    from paralens.interpreters import jax as backend
    return backend


@pytest.mark.parametrize("name, batched", list(cases_with_batches()))
def test_jax_computes_what_numpy_computes(pj, name, batched):
    box, batch = CASES[name][0], N            # N examples of N-vectors: the ambiguous stack
    args = inputs(name, batched, batch)
    want = expected(name, args, batched, batch)
    got = np.asarray(pj.compile(box)(*args))
    assert got.shape == want.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    dys = [draw(rng_for("jax cotangent", name), box.cod.inside[0].shape,
                batch if any(batched) else None)]
    backward = reverse(box)
    for g, w in zip(as_tuple(pj.compile(backward)(*args, *dys)),
                    as_tuple(pn.compile(backward)(*args, *dys))):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("name", list(COMPOSITES))
def test_jax_composites_and_their_derivatives(pj, name):
    f = COMPOSITES[name]
    rng = rng_for("jax composite", name)
    xs = [draw(rng, w.shape, 4) for w in f.dom.inside]
    dys = [draw(rng, w.shape, 4) for w in f.cod.inside]
    for d, args in ((f, xs), (reverse(f), xs + dys)):
        for g, w in zip(as_tuple(pj.compile(d)(*args)), as_tuple(pn.compile(d)(*args))):
            assert np.shape(g) == np.shape(w)
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-11, atol=1e-12)
    eye = np.asarray(pj.compile(Eye(N))())
    np.testing.assert_array_equal(eye, np.eye(N))


def test_jax_logdet_of_a_negative_determinant(pj):
    M = np.diag([-2.0, 3.0, 0.5])
    assert float(pj.compile(LogDet(3))(M)) == pytest.approx(np.log(3.0), rel=1e-14)


# -- SymPy rules against NumPy ------------------------------------------------------------------

def to_sympy(a):
    a = np.asarray(a)
    if a.ndim == 0:
        return sympy.Float(float(a), 30)
    if a.ndim == 1:
        return sympy.Matrix([sympy.Float(float(v), 30) for v in a])
    return sympy.Matrix(*a.shape, [sympy.Float(float(v), 30) for v in a.ravel()])


def from_sympy(value, shape):
    if isinstance(value, sympy.MatrixBase):
        return np.array(value.evalf(), dtype=float).reshape(shape)
    return np.array(float(value))


@pytest.mark.parametrize("name", [n for n in CASES if n != "three axes"])   # SymPy: ≤ 2 axes
def test_sympy_rules_are_numpys_functions(name):
    box, shapes, oracle = CASES[name]
    args = inputs(name, (False, ) * len(shapes), None, seed="sympy")
    got = isp.evaluate(box, *map(to_sympy, args))
    np.testing.assert_allclose(from_sympy(got, box.cod.inside[0].shape), oracle(*args),
                               rtol=1e-13, atol=1e-14)


def test_sympy_logdet_and_eye():
    M = np.diag([-2.0, 3.0, 0.5]) + 0.1
    assert float(isp.evaluate(LogDet(3), to_sympy(M))) == pytest.approx(
        np.linalg.slogdet(M)[1], rel=1e-14)                     # log |det M|, not complex
    assert isp.evaluate(Eye(3)) == sympy.eye(3)
    X = isp.symbols(Real(2, 2), "M")
    assert sympy.simplify(isp.evaluate(LogDet(2), X) - sympy.log(X.det())) == 0
    empty = isp.evaluate(Einsum("ij,j->i", Real(2, 0), Real(0)), sympy.zeros(2, 0),
                         sympy.zeros(0, 0))
    assert empty == sympy.zeros(2, 1)             # an empty sum is SymPy's 0


# -- a @ b and a.T on traced wires -------------------------------------------------------------

@pytest.mark.parametrize("left, right, spec", [
    ((2, 3), (3, 4), "ij,jk->ik"), ((2, 3), (3, ), "ij,j->i"), ((3, ), (3, 4), "j,jk->k"),
    ((3, ), (3, ), "i,i->")])
def test_matmul_on_wires_is_numpys(left, right, spec):
    a, b = Real(*left), Real(*right)
    product = np.ones(left) @ np.ones(right)
    f = function(a @ b, Real(*np.shape(product)))(lambda u, v: u @ v)
    assert [box.name for box in f.boxes if box.name.startswith("Einsum")] == [f"Einsum({spec})"]
    rng = rng_for("matmul", spec)
    for batch in (None, 4):
        x, y = draw(rng, left, batch), draw(rng, right, batch)
        want = x @ y if batch is None else np.stack([x[e] @ y[e] for e in range(batch)])
        for build in (pn.compile, codegen.compile):
            np.testing.assert_allclose(build(f)(x, y), want, rtol=1e-13, atol=1e-14)


def test_transpose_on_wires():
    f = function(Real(2, 3), Real(3, 2))(lambda a: a.T)
    x = draw(rng_for("transpose"), (2, 3), 4)
    for build in (pn.compile, codegen.compile):
        np.testing.assert_array_equal(build(f)(x), x.transpose(0, 2, 1))
    assert [box.name for box in f.boxes] == ["Einsum(ij->ji)"]


def test_a_transpose_is_never_written_into():
    """An einsum of one operand is a view of it: the generated code's in-place updates
    must not take it for a fresh array (the caller's array, or a value read later)."""
    from paralens.categories import Tanh
    m = Real(2, 2)
    scaled = function(m, m)(lambda a: Tanh(m)(a.T * 2.0))
    x = np.arange(4.0).reshape(2, 2)
    kept = x.copy()
    np.testing.assert_array_equal(codegen.compile(scaled)(x), np.tanh(2 * x.T))
    np.testing.assert_array_equal(x, kept)
    both = function(m, m @ m)(lambda a: (lambda t: (Tanh(m)(t.T), t))(Tanh(m)(a)))
    for g, w in zip(codegen.compile(both)(x), (np.tanh(np.tanh(x).T), np.tanh(x))):
        np.testing.assert_array_equal(g, w)


# -- construction errors, word for word --------------------------------------------------------

@pytest.mark.parametrize("build, error, message", [
    (lambda: Einsum(3, Real(2)), TypeError,
     "Einsum: the spec must be a string such as 'ij,jk->ik', got 3"),
    (lambda: Einsum("ij,jk", Real(2, 2), Real(2, 2)), ValueError,
     "Einsum(ij,jk): the spec names its output after '->', as 'ij,jk->ik'"),
    (lambda: Einsum("ij->ji", Real(2, 2), Real(2, 2)), TypeError,
     "Einsum(ij->ji): the spec has 1 operand but 2 wires were given"),
    (lambda: Einsum("ii->i", Real(2, 2)), ValueError,
     "Einsum(ii->i): operand 0 must be distinct letters, got 'ii' (a diagonal is not an "
     "einsum here)"),
    (lambda: Einsum("ij->ji", Real(2)), TypeError,
     "Einsum(ij->ji): operand 0 has 2 indices but the wire Real(2) has 1 axes"),
    (lambda: Einsum("ij,jk->ik", Real(2, 3), Real(2, 3)), TypeError,
     "Einsum(ij,jk->ik): the index j is 3 in operand 0 but 2 in operand 1"),
    (lambda: Einsum("ij->k", Real(2, 2)), ValueError,
     "Einsum(ij->k): the output's indices must be distinct and each appear in an operand, "
     "got 'k'"),
    (lambda: Einsum("ij,j->j", Real(2, 3), Real(3)), ValueError,
     "Einsum(ij,j->j): the index i of operand 0 appears nowhere else; sum it first (Sum), "
     "so that every cotangent is an einsum"),
    (lambda: Einsum("i,i->", Real(2), Real(2, dtype="float32")), TypeError,
     "Einsum(i,i->): the operands have different dtypes ['float32', 'float64']"),
    (lambda: Einsum("i->i", Real(2) @ Real(2)), TypeError,
     "Einsum(i->i): each operand is one Real wire, got Real(2) @ Real(2)"),
    (lambda: Solve(0), ValueError, "Solve: n (the matrix is n × n) must be at least 1, got 0"),
    (lambda: Solve(2.5), TypeError,
     "Solve: n (the matrix is n × n) must be a whole number, got 2.5"),
    (lambda: Solve(2, 0), ValueError, "Solve: k (the columns of B) must be at least 1, got 0"),
    (lambda: LogDet(-1), ValueError,
     "LogDet: n (the matrix is n × n) must be at least 1, got -1"),
    (lambda: Eye(-1), ValueError, "Eye: n must be at least 0, got -1"),
    (lambda: function(Real(3, 3) @ Real(2), Real(2))(lambda M, b: Solve(2)(M, b)), TypeError,
     "Solve: Real(2, 2) @ Real(2) → Real(2) applied to wires Real(3, 3) @ Real(2); "
     "argument 0 is Real(3, 3), expected Real(2, 2)"),
    (lambda: function(Real(2, 3) @ Real(2, 3), Real(2, 3))(lambda a, b: a @ b), TypeError,
     "Einsum(ij,jk->ik): the index j is 3 in operand 0 but 2 in operand 1"),
    (lambda: function(Real() @ Real(2), Real(2))(lambda a, b: a @ b), TypeError,
     "@ multiplies matrix and vector wires, got Real() @ Real(2)"),
    (lambda: function(Real(3), Real(3))(lambda a: a.T), TypeError,
     ".T transposes a matrix wire Real(m, n), got Real(3)"),
], ids=["spec not a string", "no output", "operand count", "diagonal", "rank",
        "mismatched sizes", "unknown output index", "lonely index", "dtypes", "two wires",
        "Solve n = 0", "Solve n = 2.5", "Solve k = 0", "LogDet n < 0", "Eye n < 0",
        "Solve on a wrong wire", "@ of mismatched sizes", "@ of a scalar", ".T of a vector"])
def test_construction_errors_say_what_is_wrong(build, error, message):
    with pytest.raises(error) as raised:
        build()
    assert str(raised.value) == message
