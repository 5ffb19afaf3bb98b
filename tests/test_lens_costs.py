"""The cost of lenses: no forward work in the backward half, and deep diagrams.

* The backward half of R(33-layer sigmoid MLP) applies no Linear, Bias or
  Sigmoid (the forward half keeps what it needs as residuals), and the
  gradients it computes equal a hand-written NumPy backprop of the same MLP.
* A 1,000-box diagram flattens and evaluates without RecursionError, and so
  does its lens, matching plain NumPy loops.
"""

from __future__ import annotations

import numpy as np
import pytest

import paralens.interpreters.numpy as inp
from paralens.categories import Diagram, Neg, Para, Real, Sigmoid, Tanh, dense
from paralens.interpreters.numpy import unbroadcast
from paralens.lenses import R

DEPTH, WIDTH, BATCH = 33, 20, 5


@pytest.fixture(scope="module")
def mlp():
    layers = [dense(WIDTH, WIDTH, Sigmoid) for _ in range(DEPTH)]
    model = Para.id(Real(WIDTH)).then(*layers)
    lens = R(model.diagram)
    return layers, model, lens, inp.compile(lens.forward), inp.compile(lens.backward)


def test_mlp_backward_half_recomputes_nothing(mlp):
    _, model, lens, forward, backward = mlp
    assert model.diagram.dom == model.param_type @ Real(WIDTH)
    for name in ("Linear", "Bias", "Sigmoid"):
        assert forward.plan.count(name) == DEPTH, name
        assert backward.plan.count(name) == 0, name
    # the backward half is made of the declared reverse derivatives
    assert backward.plan.count("LinearT") == DEPTH
    assert backward.plan.count("Outer") == DEPTH
    # and the forward half does nothing but the forward pass
    assert len(forward.plan.equations) == 3 * DEPTH


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _hand_backprop(Ws, bs, x, dy):
    """Textbook backprop of a_l = σ(a_{l-1} W_l + b_l), batch in rows, W_l (in, out)."""
    activations = [x]
    for W, b in zip(Ws, bs):
        activations.append(_sigmoid(activations[-1] @ W + b))
    dWs, dbs, delta = [], [], dy
    for W, a_in, a_out in zip(reversed(Ws), reversed(activations[:-1]), reversed(activations[1:])):
        dz = delta * a_out * (1.0 - a_out)
        dWs.append(a_in.T @ dz)
        dbs.append(dz.sum(axis=0))
        delta = dz @ W.T
    return activations[-1], dWs[::-1], dbs[::-1], delta


def test_mlp_lens_gradients_equal_hand_written_backprop(mlp):
    layers, model, lens, forward, backward = mlp
    rng = np.random.default_rng(33)
    values = model.init(seed=7)
    # non-zero biases, so that a mixed-up bias would show
    for layer in layers:
        values[layer.params[1]] = rng.normal(0.0, 0.5, WIDTH)
    x = rng.normal(size=(BATCH, WIDTH))
    dy = rng.normal(size=(BATCH, WIDTH))

    params = [values[p] for p in model.params]
    result = forward(*params, x)
    n_res = len(lens.residual)
    assert len(result) == n_res + 1
    residuals, y = result[:n_res], result[n_res]
    grads = backward(*residuals, dy)
    assert len(grads) == len(model.params) + 1

    Ws = [values[layer.params[0]] for layer in layers]
    bs = [values[layer.params[1]] for layer in layers]
    y_ref, dWs, dbs, dx_ref = _hand_backprop(Ws, bs, x, dy)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-15)

    by_param = dict(zip(model.params, grads[:-1]))
    for depth, (layer, dW, db) in enumerate(zip(layers, dWs, dbs)):
        W, b = layer.params
        got_W = unbroadcast(by_param[W], W.ty.inside[0].shape)
        got_b = unbroadcast(by_param[b], b.ty.inside[0].shape)
        assert got_W.shape == (WIDTH, WIDTH) and got_b.shape == (WIDTH, )
        # gradients shrink by ~4 per sigmoid layer: compare relative to each layer's scale
        for got, want in ((got_W, dW), (got_b, db)):
            scale = np.abs(want).max()
            assert scale > 0
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * scale,
                                       err_msg=f"layer {depth}")
    dx = grads[-1]
    assert dx.shape == (BATCH, WIDTH)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-9, atol=1e-12 * np.abs(dx_ref).max())


# -- deep diagrams ------------------------------------------------------------------

BOXES = 1000
KINDS = (Sigmoid, Tanh, Neg)
NUMPY = {Sigmoid: _sigmoid, Tanh: np.tanh, Neg: np.negative}


@pytest.fixture(scope="module")
def deep():
    x = Real(4)
    kinds = [KINDS[i % 3] for i in range(BOXES)]
    return kinds, Diagram.id(x).then(*(kind(x) for kind in kinds))


def test_deep_diagram_flattens_and_evaluates(deep):
    kinds, diagram = deep
    assert diagram.size == BOXES
    evaluator = inp.compile(diagram)
    assert len(evaluator.plan.equations) == BOXES
    x = np.random.default_rng(1000).normal(size=(3, 4))
    expected = x
    for kind in kinds:
        expected = NUMPY[kind](expected)
    np.testing.assert_allclose(evaluator(x), expected, rtol=1e-12, atol=1e-15)


def test_deep_diagram_lens_recomputes_nothing_and_matches_a_numpy_loop(deep):
    kinds, diagram = deep
    lens = R(diagram)
    forward, backward = inp.compile(lens.forward), inp.compile(lens.backward)
    for kind in (Sigmoid, Tanh):
        assert backward.plan.count(kind.__name__) == 0
        assert forward.plan.count(kind.__name__) == kinds.count(kind)
    rng = np.random.default_rng(1001)
    x, dy = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    *residuals, y = forward(x)
    dx = backward(*residuals, dy)

    values = [x]
    for kind in kinds:
        values.append(NUMPY[kind](values[-1]))
    delta = dy
    for kind, out in zip(reversed(kinds), reversed(values[1:])):
        if kind is Sigmoid:
            delta = delta * out * (1.0 - out)
        elif kind is Tanh:
            delta = delta * (1.0 - out * out)
        else:
            delta = -delta
    np.testing.assert_allclose(y, values[-1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dx, delta, rtol=1e-9, atol=1e-12 * np.abs(delta).max())
