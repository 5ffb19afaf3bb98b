"""Building with bad arguments: a clear error in the user's terms, never a wrong
diagram or a Python internal (issue: nothing silently wrong)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paralens.categories import (
    Add, Bool, Copy, Diagram, Generator, Linear, Mul, Outer, Para, Real, Sigmoid, Tanh, Ty,
    dense, function)
from paralens.categories.adapter import CompositionError
from paralens.interpreters.numpy import compile
from paralens.lenses import R
from paralens.lenses.learner import Learner
from paralens.lenses.losses import mse
from paralens.lenses.optimisers import GD


@pytest.mark.parametrize("build, error, words", [
    (lambda: Real(2.5), TypeError, ["Real(2.5)", "whole number", "2.5"]),
    (lambda: Real("abc"), TypeError, ["whole number", "'abc'"]),
    (lambda: Real(True), TypeError, ["whole number", "True"]),
    (lambda: Bool(-1), ValueError, ["Bool(-1)", "at least 0"]),
    (lambda: Real(2, dtype="foo"), TypeError, ["'foo'", "dtype"]),
    (lambda: Real(2, dtype="int64"), TypeError, ["floating-point", "int64"]),
    (lambda: Linear(2.5, 3), TypeError, ["Linear", "n_in", "2.5"]),
    (lambda: Outer(2, -1), ValueError, ["Outer", "at least 0"]),
    (lambda: Copy(Real(2), -1), ValueError, ["Copy", "copies", "-1"]),
    (lambda: Add(Real(2), 0), ValueError, ["Add", "summands", "0"]),
    (lambda: dense(3, 4, "relu"), TypeError, ["dense", "activation", "'relu'"]),
    (lambda: dense(3.0, 4), TypeError, ["Linear", "n_in", "3.0"]),
    (lambda: function(Real(2), Real(2))(lambda a: 5), TypeError, ["returns 5", "not a wire"]),
])
def test_bad_arguments_are_refused_naming_what_is_wrong(build, error, words):
    with pytest.raises(error) as raised:
        build()
    for word in words:
        assert word in str(raised.value), (word, str(raised.value))


def test_a_size_is_never_truncated():
    assert Real(np.int64(3)) == Real(3)          # NumPy integers are whole numbers too
    for bad in (2.5, 3.0, "3", None, [3]):
        with pytest.raises(TypeError):
            Real(bad)


def test_composing_parts_that_do_not_fit_says_which_two_and_why():
    with pytest.raises(CompositionError) as raised:
        dense(4, 20) >> dense(30, 3)
    message = str(raised.value)
    assert "Real(4) → Real(20)" in message and "Real(30) → Real(3)" in message
    assert "Real(20) ≠ Real(30)" in message
    with pytest.raises(CompositionError) as raised:
        Learner(dense(4, 3), mse(Real(4)), GD(lr=0.1))
    assert "loss does not fit the model" in str(raised.value)
    assert "Real(3)" in str(raised.value) and "Real(4)" in str(raised.value)
    with pytest.raises(CompositionError) as raised:
        R(Linear(3, 4)) >> R(Sigmoid(Real(5)))
    assert "Real(4) ≠ Real(5)" in str(raised.value)
    assert "label" not in str(raised.value)


def test_a_wire_of_an_outer_traced_function_is_refused_inside_an_inner_one():
    x = Real(2)

    def outer(a, b):
        inner = function(x @ x, x)(lambda q, r: q * a)     # `a` belongs to the outer trace
        return inner(a, b)

    with pytest.raises(TypeError, match="another traced function"):
        function(x @ x, x)(outer)
    # passed in as an argument, the same computation is right
    ok = function(x @ x, x)(lambda a, b: function(x @ x, x)(lambda q, r: q * r)(a, b))
    u, v = np.array([2.0, 3.0]), np.array([5.0, 7.0])
    np.testing.assert_array_equal(compile(ok)(u, v), u * v)


# -- a fuzz test over the constructors ---------------------------------------------

ARGUMENTS = st.one_of(
    st.integers(-3, 5), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.none(), st.text(max_size=3), st.sampled_from([
        Real(2), Real(3), Real(2, 3), Bool(2), Bool(3), Ty(), Real(2) @ Real(2),
        Real(2, dtype="float32"), np.int64(2), np.float64(1.5), (0, 1), [1, 0], (2, 2),
        np.array([True, False]), np.zeros((2, 2)), object()]))

#: what constructors may raise on bad arguments (CompositionError is a TypeError)
DOCUMENTED = (TypeError, ValueError)

from paralens.lenses.optimisers import RDA, Adagrad, Adam, Momentum, Nesterov  # noqa: E402

CONSTRUCTORS = sorted(Generator.registry.items()) + [
    ("dense", dense), ("Real", Real), ("Bool", Bool), ("GD", GD), ("Momentum", Momentum),
    ("Nesterov", Nesterov), ("Adagrad", Adagrad), ("Adam", Adam), ("RDA", RDA)]


def _arity(constructor) -> int:
    parameters = list(inspect.signature(constructor).parameters.values())
    if parameters and parameters[0].name == "self":
        parameters = parameters[1:]
    return len([p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])


@pytest.mark.parametrize("name, constructor", CONSTRUCTORS, ids=[n for n, _ in CONSTRUCTORS])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_constructors_raise_nothing_but_documented_errors(name, constructor, data):
    n = _arity(constructor.__init__ if isinstance(constructor, type) else constructor)
    args = data.draw(st.lists(ARGUMENTS, min_size=0, max_size=max(n, 1) + 1), label="args")
    try:
        built = constructor(*args)
    except DOCUMENTED:
        return
    # what was built is well-formed: a diagram (or a Para map, or a type) whose
    # types are tensors of wires
    if isinstance(built, Para):
        built = built.diagram
    if name in ("GD", "Momentum", "Nesterov", "Adagrad", "Adam", "RDA"):
        # an optimiser built from these arguments closes a model into a learner,
        # or says clearly why not
        model = dense(2, 2, Sigmoid) if name != "RDA" else None
        if model is not None:
            try:
                Learner(model, mse(Real(2)), built)
            except DOCUMENTED:
                pass
        return
    if isinstance(built, Diagram):
        assert all(w.kind in ("Real", "Bool") for w in built.dom.inside + built.cod.inside)
    else:
        assert isinstance(built, Ty)


def test_the_symmetry_is_declared_once_whatever_the_import_order():
    """Diagram.swap builds the Swap generator (with its reverse derivative) even
    when only the adapter was imported first."""
    import subprocess
    import sys
    code = ("import paralens.categories.adapter as a; import paralens.categories.structural as s; "
            "from paralens.categories import Real; d = a.Diagram.swap(Real(1), Real(2)); "
            "assert type(d) is s.Swap, type(d); print(d.transpose())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    import paralens.categories.adapter as adapter
    import paralens.categories.structural as structural
    assert [m for m in (adapter, structural)
            if "braid_factory" in inspect.getsource(m)] == [structural]


# -- found by the adversarial pass ------------------------------------------------------

def test_and_or_if_on_wires_are_refused_not_silently_wrong():
    b = Bool(1)
    for f in (lambda p, q: p and q, lambda p, q: p or q, lambda p, q: p if q else q):
        with pytest.raises(TypeError, match="no truth value.*& and |"):
            function(b @ b, b)(f)
    with pytest.raises(TypeError, match="ufunc"):
        function(Real(2), Real(2))(lambda a: np.tanh(a))
    with pytest.raises(ZeroDivisionError, match="divided by the number 0"):
        function(Real(2), Real(2))(lambda a: a / 0)


def test_a_scalar_parameter_keeps_its_shape_and_trains():
    from paralens.categories import Param, Spread, normal
    scale, x = Param(Real(), "scale", normal(1.0)), Real(3)
    model = Para((scale, ), function(Real() @ x, x)(lambda s, v: Spread(x)(s) * v))
    value = model.init()[scale]
    assert value.shape == () and value.dtype == np.float64
    v = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(compile(model.diagram)(value, v), value * v, rtol=1e-15)
    bad = Param(Real(2), "w", lambda rng, shape: np.zeros(3))
    with pytest.raises(ValueError, match="parameter w .*shape \\(3,\\), not \\(2,\\)"):
        Para((bad, ), function(Real(2) @ Real(2), Real(2))(lambda w, a: w * a)).init()


@pytest.mark.parametrize("summed, error", [([-1], ValueError), ([True], ValueError),
                                           ([3], ValueError), (0, TypeError),
                                           (["a"], ValueError), ([1.0], ValueError)])
def test_summed_takes_output_positions_only(summed, error):
    from paralens.interpreters import codegen
    lens = R(dense(3, 2).diagram)
    for compiler in (compile, codegen.compile):
        with pytest.raises(error, match="summed"):
            compiler(lens.backward, summed=summed)


def test_a_para_map_where_a_diagram_is_expected_says_so():
    from paralens.interpreters import codegen
    for use in (compile, codegen.compile, R):
        with pytest.raises(TypeError, match="got Para .*pass its .diagram"):
            use(dense(3, 2))
    with pytest.raises(TypeError, match="expected a diagram, got int"):
        R(3)


def test_mixing_lenses_para_maps_diagrams_and_types():
    x = Real(4)
    for bad in (lambda: R(Tanh(x)) @ 3, lambda: R(Tanh(x)) >> Tanh(x),
                lambda: dense(2, 2) >> Real(2), lambda: dense(2, 2) >> 3,
                lambda: dense(2, 2) @ 3):
        with pytest.raises(TypeError):
            bad()
    assert (Sigmoid(x) >> dense(4, 2)).dom == x             # a diagram lifts to Para
    assert (Sigmoid(x) @ dense(4, 2)).dom == x @ x
    assert (Real(2) @ dense(4, 2)).dom == Real(2) @ x
    with pytest.raises(TypeError, match="Param handles"):
        Para([Real(2)], Diagram.id(Real(2)))


def test_a_handle_given_twice_to_para_is_one_parameter():
    from paralens.categories import Param, lecun
    W = Param(Real(2, 2), "W", lecun)
    two = function(Real(2, 2) @ Real(2, 2) @ Real(2), Real(2))(
        lambda w1, w2, v: Linear(2, 2)(w2, Linear(2, 2)(w1, v)))
    model = Para((W, W), two)
    assert model.params == (W, ) and model.dom == Real(2)
    w, v = model.init()[W], np.random.default_rng(1).normal(size=(3, 2))
    np.testing.assert_allclose(compile(model.diagram)(w, v), v @ w @ w, rtol=1e-14)
    Learner(model, mse(Real(2)), GD(lr=0.1))               # closes into a learner


def test_a_loss_of_two_wires_and_an_activation_that_is_not_a_generator():
    with pytest.raises(TypeError, match="one wire"):
        Learner(dense(3, 2), mse(Real(2)) @ mse(Real(2)), GD(lr=0.1))
    with pytest.raises(TypeError, match="dense: the activation .*tanh"):
        dense(2, 2, np.tanh)


def test_finite_differences_sample_inside_a_partial_generators_domain():
    from paralens.categories import Log, Sqrt, laws
    for g in (Log(Real(3)), Sqrt(Real(3))):
        assert laws.check_finite_differences(g, compile).ok
    with np.errstate(invalid="ignore"):
        with pytest.raises(ValueError, match="not finite at the sampled point"):
            laws.check_finite_differences(Log(Real(3)), compile, sample=laws.uniform(-2, -1))


def test_traced_functions_nest_to_any_depth():
    """A traced function applied inside another is inlined: no recursion in depth."""
    x = Real(2)
    f = function(x, x)(lambda a: a * 1.5)
    for _ in range(600):
        f = function(x, x)(lambda a, g=f: g(a) * 1.0)
    v = np.array([1.0, 2.0])
    np.testing.assert_array_equal(compile(f)(v), 1.5 * v)
    lens = R(f)
    assert len(lens.residual) == 0                 # scalings keep nothing
    np.testing.assert_array_equal(compile(lens.forward)(v), 1.5 * v)
    np.testing.assert_allclose(compile(lens.backward)(np.ones(2)), [1.5, 1.5])
    assert R(f) == R(f) and str(f)


def test_adam_refuses_parameters_of_two_dtypes():
    from paralens.lenses.optimisers import Adam
    with pytest.raises(TypeError, match="Adam: the parameters mix float32 and float64"):
        Adam().state(Real(2, dtype="float32") @ Real(2))
    assert Adam().state(Real(2, dtype="float32"))[-1:] == Real(dtype="float32")
