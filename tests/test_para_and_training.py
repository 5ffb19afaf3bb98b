"""Para composition, parameter initialisation, and training through the lens."""

import numpy as np
import pytest

from paralens.categories import Linear, Para, Param, Real, Sigmoid, Tanh, copy, dense, function
from paralens.categories.adapter import CompositionError
from paralens.interpreters.numpy import compile
from paralens.interpreters.training import NonFiniteLoss, Trainer, load, save
from paralens.lenses.learner import Learner
from paralens.lenses.optimisers import GD, Adam
from paralens.lenses.losses import mse


def values_of(para, values):
    return [values[p] for p in para.params]


def test_para_composition_puts_the_parameters_in_data_flow_order():
    f, g = dense(2, 3, Tanh), dense(3, 4, Sigmoid)
    h = f >> g
    assert h.params == f.params + g.params
    assert h.names == ("dense.W", "dense.b", "dense_1.W", "dense_1.b")
    assert h.diagram.dom == f.param_type @ g.param_type @ Real(2)
    values = h.init(seed=1)
    x = np.random.default_rng(0).normal(size=(5, 2))
    # (1_Q ⊗ f) ; g, evaluated by hand: f first, then g
    y_f = compile(f.diagram)(*values_of(f, values), x)
    expected = compile(g.diagram)(*values_of(g, values), y_f)
    assert np.allclose(compile(h.diagram)(*values_of(h, values), x), expected, rtol=0, atol=1e-15)


def test_long_chains_agree_with_pairwise_composition():
    layers = [dense(3, 3, Tanh) for _ in range(5)]
    chained = Para.id(Real(3)).then(*layers)
    pairwise = layers[0]
    for layer in layers[1:]:
        pairwise = pairwise >> layer
    assert chained.params == pairwise.params
    # equal up to the wiring that puts the parameters in data-flow order (the symmetry
    # 2-cells of Para): one plan, equation for equation
    from paralens.interpreters import flatten
    assert str(flatten(chained.diagram)) == str(flatten(pairwise.diagram))


def test_para_tensor_interchanges_parameters_and_inputs():
    f, g = dense(2, 3, Tanh), dense(4, 1, Sigmoid)
    h = f @ g
    assert h.params == f.params + g.params
    values = {**f.init(1).by_handle(), **g.init(2).by_handle()}
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 2)), rng.normal(size=(3, 4))
    out = compile(h.diagram)(*values_of(h, values), a, b)
    assert np.allclose(out[0], compile(f.diagram)(*values_of(f, values), a), atol=1e-15)
    assert np.allclose(out[1], compile(g.diagram)(*values_of(g, values), b), atol=1e-15)


def test_reparametrisation_commutes_with_composition():
    """Reparametrise f by α and g by β, then compose: (f ; g) reparametrised by α ⊗ β
    (data-flow order; the reference's β ⊗ α has the later map's parameters first)."""
    f, g = dense(2, 2, Tanh), dense(2, 2, Sigmoid)
    (W1, b1), (W2, b2) = f.params, g.params
    # α, β: each layer's weights tied to a shared seed matrix plus its bias
    Wt1, Wt2 = Param(W1.ty, "W̃"), Param(W2.ty, "W̃")
    alpha = function(W1.ty @ b1.ty, W1.ty @ b1.ty)(lambda w, b: (w * 2.0, b))
    beta = function(W2.ty @ b2.ty, W2.ty @ b2.ty)(lambda w, b: (-w, b + 1.0))
    left = f.reparametrise((Wt1, b1), alpha) >> g.reparametrise((Wt2, b2), beta)
    right = (f >> g).reparametrise((Wt1, b1, Wt2, b2), alpha @ beta)
    rng = np.random.default_rng(3)
    args = [rng.normal(size=p.ty.inside[0].shape) for p in left.params] + [rng.normal(size=(4, 2))]
    assert left.params == right.params
    assert np.allclose(compile(left.diagram)(*args), compile(right.diagram)(*args), atol=1e-15)


def test_initialisation_is_seeded_and_independent_of_data():
    model = dense(4, 5, Sigmoid) >> dense(5, 3, Sigmoid)
    a, b, c = model.init(7), model.init(7), model.init(8)
    for p in model.params:
        assert np.array_equal(a[p], b[p])
        assert a[p].shape == p.ty.inside[0].shape       # never batch-shaped
    W = model.params[0]
    assert not np.array_equal(a[W], c[W])


def test_float32_end_to_end():
    model = dense(3, 2, Sigmoid, dtype="float32")
    values = model.init(0)
    assert all(v.dtype == np.float32 for v in values.values())
    out = compile(model.diagram)(*values_of(model, values), np.ones((4, 3), np.float32))
    assert out.dtype == np.float32


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_learner_step_matches_hand_written_gradient_descent(reduction):
    """One compiled step of GD through R(model ; mse) equals the textbook update on the
    mean (or the summed) loss, by hand in NumPy; the loss reported is that objective."""
    model = dense(4, 6, Sigmoid) >> dense(6, 3, Sigmoid)
    (W1, b1, W2, b2) = model.params
    values = model.init(5)
    rng = np.random.default_rng(1)
    x, t = rng.normal(size=(7, 4)), rng.uniform(size=(7, 3))
    lr = 0.3
    learner = Learner(model, mse(Real(3)), GD(lr=lr), reduction=reduction)
    _, new, loss = Trainer(learner).step([], values, x, t)

    s = lambda z: 1 / (1 + np.exp(-z))
    h = s(x @ values[W1] + values[b1])
    y = s(h @ values[W2] + values[b2])
    per_example = 0.5 * np.sum((y - t) ** 2, axis=1)
    reduce = np.mean if reduction == "mean" else np.sum
    assert np.isclose(loss, reduce(per_example), rtol=1e-13)
    dz2 = (y - t) * y * (1 - y) / (len(x) if reduction == "mean" else 1)
    dz1 = (dz2 @ values[W2].T) * h * (1 - h)
    expected = {W2: values[W2] - lr * h.T @ dz2, b2: values[b2] - lr * dz2.sum(0),
                W1: values[W1] - lr * x.T @ dz1, b1: values[b1] - lr * dz1.sum(0)}
    for p in model.params:
        assert np.allclose(new[p], expected[p], rtol=1e-12, atol=1e-14), p


def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_parameters():
    model = dense(2, 2)          # a linear model: a huge step makes the loss overflow
    values = {p: np.full(p.ty.inside[0].shape, 0.5) for p in model.params}
    x, t = np.full((3, 2), 1e100), np.zeros((3, 2))
    trainer = Trainer(Learner(model, mse(Real(2)), GD(lr=1e10)))
    with pytest.raises(NonFiniteLoss) as stopped:
        trainer.fit([], values, x, t, steps=50, show=False)
    error = stopped.value
    assert error.step > 1 and error.step == len(trainer.history) + 1
    assert f"at step {error.step}" in str(error) and f"step {error.kept}" in str(error)
    # the parameters kept are those of the last finite loss, replayed independently
    replay = values
    for _ in range(error.kept - 1):
        _, replay, _ = trainer.step([], replay, x, t)
    _, _, loss = trainer.step([], replay, x, t)
    assert np.isfinite(loss) and loss == trainer.history[error.kept - 1]
    for p in model.params:
        assert np.all(np.isfinite(error.params[p]))
        assert np.array_equal(error.params[p], replay[p])


def test_loss_must_match_the_models_output():
    with pytest.raises(CompositionError, match=r"Real\(3\).*Real\(2\)"):
        dense(4, 3, Sigmoid) >> mse(Real(2))


def test_the_demo_reaches_95_percent_held_out_and_draws(tmp_path):
    from paralens.interpreters.cli import demo
    result = demo(out=str(tmp_path), draw=True)
    assert result["stopped"] is None
    assert result["accuracy"]["held-out"] >= 0.95
    for name in ("model", "lens-forward", "lens-backward"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000


def test_the_demo_stops_on_a_non_finite_loss_keeping_the_last_good_parameters(
        monkeypatch, capsys, tmp_path):
    """Make the third evaluation of the loss NaN: the demo stops at step 3 and keeps
    the parameters evaluated at step 2 (whose loss was finite)."""
    from paralens.interpreters import cli, training
    seen, real_call = [], training.Trainer._call         # the loop's call of the step function

    def call(self, *args):
        nO = len(self.learner.state_type)
        values = args[nO:nO + len(self.learner.model.params)]
        seen.append(dict(zip(self.learner.model.names, values)))
        out, finite = real_call(self, *args)
        if len(seen) == 3:
            out = out[:-1] + (np.full_like(out[-1], np.nan), )
        return out, finite

    monkeypatch.setattr(training.Trainer, "_call", call)
    assert cli.main(["demo", "--steps", "10", "--out", str(tmp_path)]) == 1
    assert "the loss is nan at step 3" in capsys.readouterr().err
    seen.clear()
    result = cli.demo(steps=10, draw=False)
    assert result["stopped"] == 3
    kept = seen[-2]                     # the parameters evaluated at step 2
    assert all(np.array_equal(result["params"][p], kept[p]) for p in kept)
    assert len(result["history"]) == 2


def test_saved_parameters_and_optimiser_state_round_trip_bit_for_bit(tmp_path):
    model = dense(3, 2, Sigmoid)
    learner = Learner(model, mse(Real(2)), Adam(lr=0.1))
    trainer = Trainer(learner)
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(8, 3)), rng.uniform(size=(8, 2))
    state, params = trainer.fit(*learner.init(0), x, t, steps=3, show=False)
    save(tmp_path / "checkpoint.npz", learner, state, params)
    state2, params2 = load(tmp_path / "checkpoint.npz", learner)
    assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(state, state2))
    assert all(np.array_equal(params[p], params2[p]) for p in model.params)
    # and training resumes exactly where it stopped
    a = trainer.step(state, params, x, t)
    b = trainer.step(state2, params2, x, t)
    assert all(np.array_equal(u, v) for u, v in zip(a[0], b[0]))
    assert all(np.array_equal(a[1][p], b[1][p]) for p in model.params)


def test_the_digits_demo_reaches_95_percent_held_out():
    from paralens.interpreters.cli import digits
    result = digits()
    assert result["accuracy"]["held-out"] >= 0.95


def test_tied_weights_are_one_parameter_receiving_the_sum_of_their_cotangents():
    """layer >> layer uses W and b twice: they are one parameter each, and the
    gradient is the sum over both uses (checked against central differences)."""
    from paralens.lenses import R
    layer = dense(3, 3, Tanh)
    model = layer >> layer
    assert model.params == layer.params
    values = model.init(seed=3)
    assert len(values) == 2
    rng = np.random.default_rng(4)
    x, dy = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    f = compile(model.diagram)
    lens = R(model.diagram)
    *residual, y = compile(lens.forward)(*values_of(model, values), x)
    np.testing.assert_allclose(y, f(*values_of(model, values), x), rtol=1e-14)
    grads = compile(lens.backward, summed=range(2))(*residual, dy)

    def objective(W, b):
        return float((f(W, b, x) * dy).sum())

    W, b = values_of(model, values)
    h = 1e-6
    for k, value in enumerate((W, b)):
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            up, down = [W.copy(), b.copy()], [W.copy(), b.copy()]
            up[k][index] += h
            down[k][index] -= h
            numeric[index] = (objective(*up) - objective(*down)) / (2 * h)
        np.testing.assert_allclose(grads[k], numeric, rtol=1e-6, atol=1e-8)


def test_a_shared_parameter_in_a_tensor_is_one_wire():
    layer = dense(2, 2, Sigmoid)
    both = layer @ layer
    assert both.params == layer.params and both.dom == Real(2) @ Real(2)
    values = both.init(seed=0)
    x = np.random.default_rng(1).normal(size=(4, 2))
    one = compile(layer.diagram)(*values_of(layer, values), x)
    got = compile(both.diagram)(*values_of(both, values), x, 2 * x)
    np.testing.assert_allclose(got[0], one, rtol=1e-15)
    np.testing.assert_allclose(got[1], compile(layer.diagram)(*values_of(layer, values), 2 * x),
                               rtol=1e-15)
