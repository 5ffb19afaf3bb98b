"""The flat IR and its batch-sum pass."""

import numpy as np
import pytest

from paralens.categories import Copy, Linear, Mul, Outer, Real, Sigmoid, copy, dense, function
from paralens.interpreters.numpy import compile
from paralens.interpreters.plan import flatten, last_uses, sum_over_batch
from paralens.lenses import R


def test_wirings_leave_no_equation():
    x = Real(2)
    plan = flatten(copy(x) >> Mul(x) >> Copy(x) >> Mul(x))
    assert [eq.kind for eq in plan.equations] == ["Mul", "Mul"]
    first, second = plan.equations
    assert first.ins == (0, 0) and second.ins == (first.outs[0], first.outs[0])


def test_last_uses_free_every_intermediate_but_the_outputs():
    x = Real(2)
    plan = flatten(Sigmoid(x) >> Sigmoid(x) >> Sigmoid(x))
    dead = last_uses(plan)
    assert dead == [(0, ), (1, ), (2, )]          # each value dies where it is read


def shared_weight_model():
    """One weight matrix used by two layers: W ⊗ x ↦ σ(W σ(W x))."""
    W, x = Real(3, 3), Real(3)
    return function(W @ x, x)(
        lambda w, a: Sigmoid(x)(Linear(3, 3)(w, Sigmoid(x)(Linear(3, 3)(w, a)))))


def test_batch_sums_are_fused_into_outer_products_even_for_shared_parameters():
    lens = R(shared_weight_model())
    plain, summed = compile(lens.backward), compile(lens.backward, summed=[0])
    assert summed.plan.count("Outer") == 0 and summed.plan.count("OuterSum") == 2
    assert summed.plan.count("SumBatch") == 0
    rng = np.random.default_rng(0)
    W, x, dy = rng.normal(size=(3, 3)), rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    *residual, _ = compile(lens.forward)(W, x)
    dW_per_example, dx = plain(*residual, dy)
    dW, dx_summed_plan = summed(*residual, dy)
    assert dW_per_example.shape == (6, 3, 3) and dW.shape == (3, 3)
    assert np.allclose(dW, dW_per_example.sum(axis=0), rtol=1e-13, atol=1e-14)
    assert np.allclose(dx, dx_summed_plan, rtol=0, atol=0)


def test_batch_sum_of_a_bias_and_of_an_unbatched_value():
    model = dense(2, 2, Sigmoid)
    lens = R(model.diagram)
    backward = compile(lens.backward, summed=[0, 1])
    assert backward.plan.count("SumBatch") == 1       # the bias cotangent
    values = model.init(0)
    x = np.random.default_rng(1).normal(size=(4, 2))
    *residual, y = compile(lens.forward)(values[model.params[0]], values[model.params[1]], x)
    dW, db, dx = backward(*residual, np.ones_like(y))
    s = y * (1 - y)
    assert np.allclose(db, s.sum(axis=0), rtol=1e-13)
    assert np.allclose(dW, x.T @ s, rtol=1e-13)
    # one example, no batch axis: the sum over the batch is the identity
    *residual, y = compile(lens.forward)(values[model.params[0]], values[model.params[1]], x[0])
    dW1, db1, _ = backward(*residual, np.ones_like(y))
    assert np.allclose(db1, s[0], rtol=1e-13) and np.allclose(dW1, np.outer(x[0], s[0]), rtol=1e-13)


def test_sum_over_batch_keeps_the_plan_it_was_given():
    lens = R(shared_weight_model())
    plan = flatten(lens.backward)
    before = [eq.kind for eq in plan.equations]
    sum_over_batch(plan, [0])
    assert [eq.kind for eq in plan.equations] == before


def test_a_parameter_used_twice_through_products_is_summed_in_order():
    """Each batch sum comes right after the value it sums (regression: it used to
    be appended at the end of the plan, after the Add that reads it)."""
    x = Real(3)
    f = function(x @ x, x)(lambda q, a: q * a + q * a)     # f(q, a) = 2 q ⊙ a
    lens = R(f)
    backward = compile(lens.backward, summed=[0])
    rng = np.random.default_rng(2)
    q, a, dy = rng.normal(size=3), rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    *residual, _ = compile(lens.forward)(q, a)
    dq, da = backward(*residual, dy)
    assert np.allclose(dq, 2 * (dy * a).sum(axis=0), rtol=1e-13)
    assert np.allclose(da, 2 * dy * q, rtol=1e-13)


def test_constants_are_shared_read_only():
    from paralens.categories import Constant
    c = compile(Constant(1.0, Real(2)))
    with pytest.raises(ValueError):
        c()[0] = 5.0
    assert np.array_equal(c(), [1.0, 1.0])


def test_zero_width_wires_train():
    from paralens.interpreters.training import Trainer
    from paralens.lenses.learner import Learner
    from paralens.lenses.losses import mse
    from paralens.lenses.optimisers import GD
    model = dense(0, 3, Sigmoid)
    _, new, loss = Trainer(Learner(model, mse(Real(3)), GD(lr=0.5))).step(
        [], model.init(0), np.ones((4, 0)), np.ones((4, 3)))
    assert new[model.params[0]].shape == (0, 3) and np.isclose(loss, 3 * 0.5 * 0.25)


def test_sum_batch_in_a_diagram_sums_the_examples_and_its_reverse_shares_back():
    from paralens.categories import SumBatch, sum_batch
    x = Real(3)
    rng = np.random.default_rng(4)
    a, dy = rng.normal(size=(5, 3)), rng.normal(size=3)
    assert np.allclose(compile(SumBatch(x))(a), a.sum(axis=0), rtol=1e-14)
    assert np.array_equal(compile(SumBatch(x))(a[0]), a[0])            # one example
    put = compile(R(SumBatch(x)).put)(a, dy)
    assert np.array_equal(np.broadcast_to(put, a.shape), np.broadcast_to(dy, a.shape))
    # in a diagram, a batch sum after an outer product is one matrix product
    d = Outer(3, 2) >> sum_batch(Real(3, 2))
    plan = compile(d).plan
    assert plan.count("Outer") == 0 and plan.count("OuterSum") == 1 and plan.count("SumBatch") == 0
    u, v = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    assert np.allclose(compile(d)(u, v), u.T @ v, rtol=1e-13)
