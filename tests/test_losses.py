"""Losses against NumPy formulas written here (optax's and PyTorch's definitions):
their values per example, their reverse derivatives (R, then the NumPy
interpreter) against the analytic gradients and central differences, the
binary cross-entropy at large logits, and bad arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest

import paralens.interpreters.codegen as codegen
import paralens.interpreters.numpy as inp
from paralens.categories import Bool, Real, Relu, Seq, Sigmoid, Sum, dense, laws
from paralens.lenses import R
from paralens.lenses.learner import Learner
from paralens.lenses.losses import (
    binary_cross_entropy_with_logits, hinge, huber, loss, mse, softmax_cross_entropy)
from paralens.lenses.optimisers import GD

N, BATCH = 4, 7
rng = np.random.default_rng(15)


def softplus(y):
    return np.logaddexp(0.0, y)


def sigmoid(y):
    return np.where(y >= 0, 1 / (1 + np.exp(-np.abs(y))), np.exp(-np.abs(y)) / (1 + np.exp(-np.abs(y))))


def huber_np(e, delta):
    """optax.huber_loss, elementwise."""
    a = np.abs(e)
    return np.where(a <= delta, 0.5 * e * e, delta * (a - 0.5 * delta))


#: name ↦ (loss, sample targets, value Σ per example, (∂/∂t, ∂/∂y) per entry)
CASES = {
    "mse": (mse(Real(N)),
            lambda shape: rng.normal(size=shape),
            lambda t, y: 0.5 * np.sum((y - t) ** 2, axis=-1),
            lambda t, y: (t - y, y - t)),
    "softmax_cross_entropy": (
        softmax_cross_entropy(Real(N)),
        lambda shape: rng.dirichlet(np.ones(N), size=shape[0]),
        lambda t, y: -np.sum(t * (y - np.log(np.sum(np.exp(y), axis=-1, keepdims=True))), axis=-1),
        lambda t, y: (-(y - np.log(np.sum(np.exp(y), axis=-1, keepdims=True))),
                      np.exp(y) / np.sum(np.exp(y), axis=-1, keepdims=True)
                      * np.sum(t, axis=-1, keepdims=True) - t)),
    "binary_cross_entropy_with_logits": (
        binary_cross_entropy_with_logits(Real(N)),
        lambda shape: rng.uniform(size=shape),              # soft labels in [0, 1]
        lambda t, y: np.sum(softplus(y) - t * y, axis=-1),
        lambda t, y: (-y, sigmoid(y) - t)),
    "hinge": (hinge(Real(N)),
              lambda shape: rng.choice([-1.0, 1.0], size=shape),
              lambda t, y: np.sum(np.maximum(0.0, 1.0 - t * y), axis=-1),
              lambda t, y: (-y * (1 - t * y > 0), -t * (1 - t * y > 0))),
    "huber": (huber(Real(N), delta=0.7),
              lambda shape: rng.normal(size=shape),
              lambda t, y: np.sum(huber_np(y - t, 0.7), axis=-1),
              lambda t, y: (-np.clip(y - t, -0.7, 0.7), np.clip(y - t, -0.7, 0.7))),
}


def batch(name):
    _, targets, _, _ = CASES[name]
    t = targets((BATCH, N))
    y = rng.normal(scale=2.0, size=(BATCH, N))
    return t, y


@pytest.mark.parametrize("name", CASES)
def test_value_per_example_is_the_formula(name):
    f, _, value, _ = CASES[name]
    assert f.dom == Real(N) and f.cod == Real() and f.param_type == Real(N)
    t, y = batch(name)
    got = inp.compile(f.diagram)(t, y)
    assert got.shape == (BATCH, )               # one number per example, no batch reduction
    np.testing.assert_allclose(got, value(t, y), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(codegen.compile(f.diagram)(t, y), got, rtol=1e-15, atol=0)
    single = inp.compile(f.diagram)(t[0], y[0])
    assert np.shape(single) == () and np.isclose(single, got[0], rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", CASES)
def test_reverse_derivative_is_the_analytic_gradient(name):
    f, _, _, gradient = CASES[name]
    t, y = batch(name)
    alpha = rng.uniform(0.5, 2.0, size=BATCH)             # the cap's cotangent, per example
    dt, dy = inp.compile(R(f.diagram).put)(t, y, alpha)
    want_t, want_y = gradient(t, y)
    np.testing.assert_allclose(dt, alpha[:, None] * want_t, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(dy, alpha[:, None] * want_y, rtol=1e-14, atol=1e-15)


def central_differences(f, t, y, alpha, h=1e-6):
    """α ∂f/∂y, entry by entry, on one example."""
    grad = np.zeros_like(y)
    for i in range(y.size):
        plus, minus = y.copy(), y.copy()
        plus[i] += h
        minus[i] -= h
        grad[i] = alpha * (f(t, plus) - f(t, minus)) / (plus[i] - minus[i])
    return grad


@pytest.mark.parametrize("name", CASES)
def test_reverse_derivative_is_the_central_difference(name):
    f, _, _, _ = CASES[name]
    forward, put = inp.compile(f.diagram), inp.compile(R(f.diagram).put)
    t, y = batch(name)
    for e in range(BATCH):
        _, dy = put(t[e], y[e], np.array(1.5))
        np.testing.assert_allclose(dy, central_differences(forward, t[e], y[e], 1.5),
                                   rtol=1e-6, atol=1e-8)
    assert laws.check_finite_differences(f.diagram, inp.compile, seed=3).ok


@pytest.mark.parametrize("name", CASES)
def test_each_loss_closes_a_learner(name):
    f = CASES[name][0]
    learner = Learner(dense(3, N, Sigmoid), f, GD(lr=0.1))
    assert learner.loss is f


# -- binary cross-entropy: large logits, exact gradients ------------------------------------

def test_binary_cross_entropy_is_finite_at_large_logits():
    f = binary_cross_entropy_with_logits(Real(4))
    t = np.array([[1.0, 0.0, 1.0, 0.0], [0.3, 0.3, 0.5, 0.5]])
    y = np.array([[1e3, 1e3, -1e3, -1e3], [1e3, -1e3, 1e3, -1e3]])
    values = inp.compile(f.diagram)(t, y)
    np.testing.assert_array_equal(values, [0.0 + 1e3 + 1e3 + 0.0, 0.7e3 + 0.3e3 + 0.5e3 + 0.5e3])
    _, dy = inp.compile(R(f.diagram).put)(t, y, np.ones(2))
    assert np.all(np.isfinite(dy))
    np.testing.assert_array_equal(dy, (y > 0) - t)          # σ(±1e3) is 1 or 0 in float64


def test_binary_cross_entropy_gradient_is_sigmoid_minus_target():
    f = binary_cross_entropy_with_logits(Real(1))
    y = np.concatenate([np.linspace(-40, 40, 801), [-1e-300, 1e-300, -3e-8, 3e-8]])
    y = y[y != 0][:, None]                      # away from 0: the logit 0 is tested below
    for target in (0.0, 1.0, 0.25):
        t = np.full_like(y, target)
        _, dy = inp.compile(R(f.diagram).put)(t, y, np.ones(len(y)))
        exact = np.where(y >= 0, 1 / (1 + np.exp(-y)), np.exp(y) / (1 + np.exp(y))) - target
        np.testing.assert_allclose(dy, exact, rtol=1e-15, atol=1e-15)


def test_binary_cross_entropy_gradient_at_zero_logit():
    """σ(0) − t = ½ − t at the logit 0 exactly (zero-initialised heads start there)."""
    f = binary_cross_entropy_with_logits(Real(3))
    t = np.array([0.0, 1.0, 0.25])
    value = inp.compile(f.diagram)(t, np.zeros(3))
    assert value == pytest.approx(3 * math.log(2), rel=1e-15)
    _, dy = inp.compile(R(f.diagram).put)(t, np.zeros(3), np.array(1.0))
    np.testing.assert_array_equal(dy, 0.5 - t)


def test_huber_gradient_at_the_joins():
    f = huber(Real(4), delta=2.0)
    t = np.zeros(4)
    y = np.array([2.0, -2.0, 0.0, 5.0])       # at ±δ, at 0, beyond δ
    _, dy = inp.compile(R(f.diagram).put)(t, y, np.array(1.0))
    np.testing.assert_array_equal(dy, [2.0, -2.0, 0.0, 2.0])
    assert inp.compile(f.diagram)(t, y) == 2.0 + 2.0 + 0.0 + 2.0 * (5.0 - 1.0)


# -- a loss of one's own -------------------------------------------------------------------

def test_a_loss_of_ones_own():
    x = Real(3)
    absolute = loss(x, lambda t, y: Sum(x)(Relu(x)(y - t) + Relu(x)(t - y)))
    t, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    np.testing.assert_allclose(inp.compile(absolute.diagram)(t, y),
                               np.sum(np.abs(y - t), axis=-1), rtol=1e-15)
    _, dy = inp.compile(R(absolute.diagram).put)(t, y, np.ones(5))
    np.testing.assert_array_equal(dy, np.sign(y - t))


def test_float32_losses_give_float32():
    x = Real(3, dtype="float32")
    f = binary_cross_entropy_with_logits(x)
    assert f.cod == Real(dtype="float32")
    out = inp.compile(f.diagram)(np.zeros(3, np.float32), np.ones(3, np.float32))
    assert out.dtype == np.float32


# -- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("delta", [0.0, -1.0, math.nan, math.inf])
def test_huber_refuses_a_bad_delta(delta):
    with pytest.raises(ValueError, match=r"huber: delta must be finite and positive"):
        huber(Real(2), delta=delta)


@pytest.mark.parametrize("delta", ["1", None, True])
def test_huber_refuses_a_delta_that_is_not_a_number(delta):
    with pytest.raises(TypeError, match=r"huber: delta must be a real number"):
        huber(Real(2), delta=delta)


@pytest.mark.parametrize("make", [mse, softmax_cross_entropy, binary_cross_entropy_with_logits,
                                  hinge, huber])
@pytest.mark.parametrize("b", [Bool(3), Real(2) @ Real(2), Seq(Real(2))])
def test_losses_refuse_a_label_type_that_is_not_one_real_wire(make, b):
    with pytest.raises(TypeError, match=rf"{make.__name__} compares real numbers: .*got "):
        make(b)


def test_losses_refuse_a_label_that_is_not_a_type():
    with pytest.raises(TypeError, match=r"hinge: the label type must be a type"):
        hinge("Real(3)")


def test_loss_refuses_a_function_of_the_wrong_kind():
    with pytest.raises(TypeError, match=r"loss\(b, e\): e must be a function"):
        loss(Real(2), 3.0)
    with pytest.raises(TypeError, match=r"returns Real\(2\), expected Real\(\)"):
        loss(Real(2), lambda t, y: y - t)          # not summed: one number per feature
