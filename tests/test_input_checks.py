"""Inputs that are not plain arrays get the checks arrays get, and the SymPy
interpreter checks its inputs too: a wrong input is refused at the call, naming
the input, the wire and the box that reads it, and nothing is cast silently."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from paralens.categories import Bool, Linear, Mul, Real, Sigmoid, function
from paralens.interpreters import codegen
from paralens.interpreters import numpy as inp
from paralens.interpreters import sympy as isp
from paralens.interpreters.boolean import BitSliced, Circuit
from paralens.interpreters.boolean import compile as compile_circuit

REAL = [inp.compile, codegen.compile]
BOOL = [Circuit, BitSliced, compile_circuit]
W = np.arange(6.0).reshape(3, 2) / 10


def model():
    return Linear(3, 2) >> Sigmoid(Real(2))


def refused(step, *args, error=TypeError, says=()):
    with pytest.raises(error) as caught:
        step(*args)
    message = str(caught.value)
    for part in ("input 1 (wire Real(3)) of Linear", *says):
        assert part in message, message
    return message


# -- what a Real wire accepts: what NumPy reads exactly, of the wire's dtype -------------

@pytest.mark.parametrize("build", REAL, ids=["numpy", "codegen"])
def test_a_list_of_floats_is_the_array_it_reads_as(build):
    step = build(model())
    x = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]
    np.testing.assert_array_equal(step(W, x), step(W, np.array(x)))
    np.testing.assert_array_equal(step(W.tolist(), x[0]), step(W, np.array(x[0])))


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("build", REAL, ids=["numpy", "codegen"])
def test_a_matrix_and_a_memmap_are_read_as_the_arrays_they_view(build, tmp_path):
    step = build(model())
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
    np.testing.assert_array_equal(step(W, np.matrix(x)), step(W, x))
    mapped = np.memmap(tmp_path / "x.bin", dtype=np.float64, mode="w+", shape=x.shape)
    mapped[:] = x
    np.testing.assert_array_equal(step(W, mapped), step(W, x))
    refused(step, W, np.matrix(x, dtype=np.complex128), says=["float64", "complex128"])
    refused(step, W, np.matrix(x[:, :2]), error=ValueError, says=["(2, 2)"])


@pytest.mark.parametrize("build", REAL, ids=["numpy", "codegen"])
def test_a_masked_array_is_refused_not_unmasked(build):
    step = build(model())
    x = np.ma.masked_array(np.ones((2, 3)), mask=[[0, 1, 0], [0, 0, 0]])
    refused(step, W, x, says=["masked array", "mask"])
    refused(step, W, np.ma.masked_array(np.ones((2, 3))), says=["masked array"])


@pytest.mark.parametrize("build", REAL, ids=["numpy", "codegen"])
def test_other_ndarray_subclasses_are_refused(build):
    refused(build(model()), W, np.ones((2, 3)).view(np.recarray), says=["recarray", "subclass"])


@pytest.mark.parametrize("build", REAL, ids=["numpy", "codegen"])
@pytest.mark.parametrize("bad, error, says", [
    ([[1j, 2, 3]], TypeError, ["float64", "a list of complex128 values"]),
    ([[1.0, 2.0, 3.0], [1.0, 2.0]], ValueError, ["ragged list"]),
    ([[1.0, None, 2.0]], TypeError, ["Python objects"]),
    (np.array([[1.0, None, 2.0]]), TypeError, ["object"]),
    (None, TypeError, ["got None"]),
    ("1 2 3", TypeError, ["got '1 2 3'"]),
    ([["1", "2", "3"]], TypeError, ["a list of strings"]),
    ((1.0, 2.0), ValueError, ["(3,)", "(2,)"]),
], ids=["complex", "ragged", "None inside", "object array", "None", "str",
        "strings", "short tuple"])
def test_bad_real_inputs_are_refused_naming_input_wire_and_box(build, bad, error, says):
    refused(build(model()), W, bad, error=error, says=says)


@pytest.mark.parametrize("build", REAL, ids=["numpy", "codegen"])
@pytest.mark.parametrize("given", [[[1, 2, 3]], [np.float32(1.5)] * 3,
                                   np.array([[1, 2, 3]]), np.array([[1.5, 2, 3]], np.float32)],
                         ids=["ints", "float32s", "int array", "float32 array"])
def test_inputs_that_convert_exactly_are_converted(build, given):
    """The one rule of every entry point (interpreters.arrays): ints and float32 values
    for a float64 wire are the same numbers in float64."""
    step = build(model())
    np.testing.assert_array_equal(step(W, given), step(W, np.asarray(given, np.float64)))


def test_a_python_float_does_not_enter_a_float32_wire_cast():
    step = inp.compile(Sigmoid(Real(dtype="float32")))
    assert step(np.float32(0.0)) == np.float32(0.5)
    with pytest.raises(TypeError, match=r"input 0 \(wire .*float32.*\) of Sigmoid: "
                                        r"expected dtype float32, got a float \(float64\)"):
        step(0.0)


# -- what a Bool wire accepts: bools, as arrays or lists ----------------------------------

def inverter():
    return function(Bool(1), Bool(1))(lambda a: ~a)


@pytest.mark.parametrize("build", BOOL, ids=["circuit", "bit-sliced", "compiled"])
def test_a_bool_list_runs_like_the_bool_array(build):
    step = build(inverter())
    np.testing.assert_array_equal(step([[True], [False]]), [[False], [True]])


@pytest.mark.parametrize("build", BOOL, ids=["circuit", "bit-sliced", "compiled"])
@pytest.mark.parametrize("bad", [[[2], [0]], [[1], [0]], np.array([[1], [0]]),
                                 np.array([[1.0], [0.0]]), [[0.5], [1.0]]],
                         ids=["2 and 0", "ints 0/1", "int array", "float array", "floats"])
def test_a_bool_wire_takes_only_bools(build, bad):
    """0/1 ints are refused like int arrays are: a Bool wire reads bools only, so 2 is
    never read as True."""
    with pytest.raises(TypeError) as error:
        build(inverter())(bad)
    message = str(error.value)
    assert "input 0 (wire Bool(1)) of XOR: expected dtype bool" in message, message


# -- the SymPy interpreter checks its inputs ----------------------------------------------

def test_sympy_evaluates_checked_inputs():
    x = isp.symbols(Real(2), "x")
    y = isp.evaluate(Sigmoid(Real(2)), x)
    assert sympy.simplify(y[0] - 1 / (1 + sympy.exp(-x[0]))) == 0
    assert isp.evaluate(Sigmoid(Real()), 0) == sympy.Rational(1, 2)     # a number, made exact


@pytest.mark.parametrize("diagram, args, error, says", [
    (Sigmoid(Real(2)), [isp.symbols(Real(3), "x")], ValueError,
     "input 0 (wire Real(2)) of Sigmoid: expected a SymPy matrix of shape (2, 1), got a 3 × 1"),
    (Sigmoid(Real(2)), [sympy.Matrix([[1, 2]])], ValueError, "shape (2, 1), got a 1 × 2"),
    (Sigmoid(Real(2)), [np.ones(2)], TypeError,
     "input 0 (wire Real(2)) of Sigmoid: expected a SymPy matrix of shape (2, 1), got a NumPy"),
    (Sigmoid(Real()), [np.zeros(())], TypeError,
     "expected a SymPy expression, got a NumPy array"),
    (Sigmoid(Real()), [sympy.Matrix([1])], TypeError,
     "input 0 (wire Real()) of Sigmoid: expected a SymPy expression, got a 1 × 1 matrix"),
    (Sigmoid(Real()), ["x"], TypeError, "expected a SymPy expression, got 'x'"),
    (Sigmoid(Real(2)), [[1, 2]], TypeError, "got a list"),
    (Linear(3, 2), [isp.symbols(Real(2, 3), "W"), isp.symbols(Real(3), "x")], ValueError,
     "input 0 (wire Real(3, 2)) of Linear: expected a SymPy matrix of shape (3, 2), got a 2 × 3"),
    (Mul(Real(2)), [isp.symbols(Real(2), "x")], TypeError, "2 inputs expected"),
    (Sigmoid(Real(2)), [isp.symbols(Real(2), "x")] * 2, TypeError, "1 inputs expected"),
    (function(Bool(1), Bool(1))(lambda a: ~a), [sympy.Matrix([1])], TypeError,
     "input 0 (wire Bool(1)) of XOR: the SymPy interpreter reads Real wires only"),
], ids=["3 symbols for Real(2)", "a row", "an array", "a 0-d array", "a matrix for a scalar",
        "a str", "a list", "W transposed", "too few", "too many", "a Bool wire"])
def test_sympy_refuses_bad_inputs_naming_input_wire_and_box(diagram, args, error, says):
    with pytest.raises(error) as caught:
        isp.evaluate(diagram, *args)
    assert says in str(caught.value), str(caught.value)
