"""Building with bad arguments: a clear error in the user's terms, never a wrong
diagram or a Python internal (issue: nothing silently wrong)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from categories import (
    Add, Bool, Copy, Diagram, Generator, Linear, Mul, Outer, Para, Real, Sigmoid, Tanh, Ty,
    dense, function)
from categories.adapter import CompositionError
from interpreters.numpy import compile
from lenses import R
from lenses.learner import Learner
from lenses.losses import mse
from lenses.optimisers import GD


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

from lenses.optimisers import RDA, Adagrad, Adam, Momentum, Nesterov  # noqa: E402

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
    code = ("import categories.adapter as a; import categories.structural as s; "
            "from categories import Real; d = a.Diagram.swap(Real(1), Real(2)); "
            "assert type(d) is s.Swap, type(d); print(d.transpose())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    import categories.adapter as adapter
    import categories.structural as structural
    assert [m for m in (adapter, structural)
            if "braid_factory" in inspect.getsource(m)] == [structural]
