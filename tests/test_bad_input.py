"""Bad input gets a clear error, at construction or at the call, naming what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

import paralens.interpreters.numpy as inp
from paralens.categories import (
    Box, CompositionError, Copy, Diagram, Linear, Mul, Real, Sigmoid, Tanh, dense,
    forward_derivative, reverse)
from paralens.lenses import R


# -- ill-typed composition raises at construction, naming both types ---------------

@pytest.mark.parametrize("build", [
    lambda: Box("f", Real(3), Real(4)) >> Box("g", Real(5), Real(2)),
    lambda: Linear(3, 4) >> Sigmoid(Real(5)),
    lambda: Diagram.id(Real(3)).then(Box("f", Real(3), Real(4)), Sigmoid(Real(5))),
    lambda: (dense(3, 4) >> dense(5, 2)).diagram,
], ids=["boxes", "generators", "then", "para"])
def test_composition_error_names_both_types(build):
    with pytest.raises(CompositionError) as error:
        build()
    message = str(error.value)
    assert "Real(4)" in message and "Real(5)" in message, message


def test_composition_error_is_a_type_error_and_names_the_dtype():
    with pytest.raises(TypeError) as error:        # CompositionError is a TypeError
        Linear(3, 4) >> Sigmoid(Real(4, dtype="float32"))
    assert isinstance(error.value, CompositionError)
    assert "Real(4, dtype='float32')" in str(error.value)


def test_lens_composition_error_names_both_types():
    with pytest.raises(TypeError) as error:
        R(Linear(3, 4)) >> R(Sigmoid(Real(5)))
    assert "Real(4)" in str(error.value) and "Real(5)" in str(error.value)


# -- arrays of the wrong shape, dtype or batch raise at the call ------------------------

def test_wrong_shape_names_wire_and_box():
    evaluator = inp.compile(Sigmoid(Real(4)))
    evaluator(np.ones(4))             # one example
    evaluator(np.ones((5, 4)))        # a batch
    for bad in (np.ones((5, 3)), np.ones(3), np.ones((2, 5, 4)), np.ones(())):
        with pytest.raises(ValueError) as error:
            evaluator(bad)
        message = str(error.value)
        assert "Real(4)" in message and "Sigmoid" in message, message
        assert str(bad.shape) in message, message


def test_wrong_shape_of_a_parameter_names_its_wire_and_box():
    evaluator = inp.compile(Linear(3, 4) >> Tanh(Real(4)))
    with pytest.raises(ValueError) as error:
        evaluator(np.ones((4, 3)), np.ones(3))      # W transposed
    assert "Real(3, 4)" in str(error.value) and "Linear" in str(error.value)
    with pytest.raises(ValueError) as error:
        evaluator(np.ones((3, 4)), np.ones((2, 4)))  # x of the output's width
    assert "Real(3)" in str(error.value) and "Linear" in str(error.value)


def test_wire_read_after_a_copy_names_the_box_that_computes_with_it():
    evaluator = inp.compile(Copy(Real(2)) >> Mul(Real(2)))
    with pytest.raises(ValueError) as error:
        evaluator(np.ones((5, 3)))
    assert "Real(2)" in str(error.value) and "Mul" in str(error.value)


@pytest.mark.parametrize("dtype", ["complex128", "complex64"])
def test_a_dtype_that_does_not_convert_exactly_is_a_type_error(dtype):
    evaluator = inp.compile(Linear(3, 4) >> Sigmoid(Real(4)))
    with pytest.raises(TypeError) as error:
        evaluator(np.ones((3, 4)), np.ones((2, 3), dtype=dtype))
    message = str(error.value)
    assert "Real(3)" in message and "Linear" in message and dtype in message, message


@pytest.mark.parametrize("dtype", ["float32", "int64", "int8", "bool"])
def test_a_dtype_that_converts_exactly_is_converted(dtype):
    evaluator = inp.compile(Linear(3, 4) >> Sigmoid(Real(4)))
    x = np.arange(6).reshape(2, 3).astype(dtype)
    np.testing.assert_array_equal(evaluator(np.ones((3, 4)), x),
                                  evaluator(np.ones((3, 4)), x.astype(np.float64)))


def test_float32_wire_rejects_float64():
    evaluator = inp.compile(Sigmoid(Real(4, dtype="float32")))
    assert evaluator(np.ones(4, dtype="float32")).dtype == np.float32
    with pytest.raises(TypeError) as error:
        evaluator(np.ones(4))
    assert "float32" in str(error.value) and "float64" in str(error.value)


def test_inconsistent_batch_sizes_raise():
    evaluator = inp.compile(Mul(Real(4)))
    evaluator(np.ones((5, 4)), np.ones(4))          # a shared value broadcasts
    with pytest.raises(ValueError) as error:
        evaluator(np.ones((5, 4)), np.ones((3, 4)))
    message = str(error.value)
    assert "5" in message and "3" in message and "Real(4)" in message, message


def test_wrong_number_of_inputs_raises():
    evaluator = inp.compile(Mul(Real(4)))
    with pytest.raises(TypeError):
        evaluator(np.ones(4))
    with pytest.raises(TypeError):
        evaluator(np.ones(4), np.ones(4), np.ones(4))


# -- a box with no meaning -------------------------------------------------------------

def opaque():
    return Box("f", Real(2), Real(2))


@pytest.mark.parametrize("diagram", [opaque(), Sigmoid(Real(2)) >> opaque()],
                         ids=["alone", "in a composite"])
def test_box_without_numpy_rule_fails_at_compile(diagram):
    with pytest.raises(NotImplementedError) as error:
        inp.compile(diagram)
    assert "f" in str(error.value) and "Real(2)" in str(error.value)


@pytest.mark.parametrize("diagram", [opaque(), Sigmoid(Real(2)) >> opaque()],
                         ids=["alone", "in a composite"])
def test_lens_of_a_box_without_reverse_derivative_is_a_type_error(diagram):
    with pytest.raises(TypeError) as error:
        R(diagram)
    assert "f: Real(2) → Real(2)" in str(error.value)


@pytest.mark.parametrize("combinator", [reverse, forward_derivative])
def test_reverse_combinator_of_a_box_without_reverse_derivative_is_a_type_error(combinator):
    """The combinator R[f] (categories.reverse) should fail as clearly as lenses.R."""
    with pytest.raises(TypeError) as error:
        combinator(Sigmoid(Real(2)) >> opaque())
    assert "f: Real(2) → Real(2)" in str(error.value)
