"""Learners as one diagram: optimisers and losses against hand-written NumPy."""

import numpy as np
import pytest
import sympy

from paralens.categories import Real, Sigmoid, dense, laws
from paralens.interpreters import codegen, numpy as interpreter
from paralens.interpreters import sympy as symbolic
from paralens.lenses import R
from paralens.lenses.learner import Learner, dreamer
from paralens.lenses.losses import dot, mse, softmax_cross_entropy
from paralens.lenses.optimisers import GD, Adagrad, Adam, Momentum, Nesterov

rng = np.random.default_rng(0)
X, T = rng.normal(size=(6, 3)), rng.uniform(size=(6, 2))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def gradient(W, b, x, t, reduction="sum"):
    """∇ of Σ_examples ½‖σ(x W + b) − t‖² (or of its mean over the examples), by hand."""
    y = sigmoid(x @ W + b)
    dz = (y - t) * y * (1 - y)
    if reduction == "mean":
        dz = dz / len(x)
    return x.T @ dz, dz.sum(axis=0)


def textbook(name, opt, steps, W, b, reduction="sum"):
    """The standard algorithms, written out (gradients g = ∇, not changes)."""
    params, state = [W.copy(), b.copy()], {}
    for t in range(1, steps + 1):
        if name == "Nesterov":
            look = [p + opt.gamma * state.get(i, 0) for i, p in enumerate(params)]
            grads = gradient(*look, X, T, reduction)
        else:
            grads = gradient(*params, X, T, reduction)
        for i, g in enumerate(grads):
            if name == "GD":
                params[i] = params[i] - opt.lr * g
            elif name in ("Momentum", "Nesterov"):
                state[i] = opt.gamma * state.get(i, 0) - opt.lr * g
                params[i] = params[i] + state[i]
            elif name == "Adagrad":
                state[i] = state.get(i, 0) + g * g
                params[i] = params[i] - opt.lr * g / (opt.delta + np.sqrt(state[i]))
            elif name == "Adam":
                m, v = state.get(i, (0, 0))
                m, v = opt.beta1 * m + (1 - opt.beta1) * g, opt.beta2 * v + (1 - opt.beta2) * g * g
                state[i] = (m, v)
                m_hat, v_hat = m / (1 - opt.beta1 ** t), v / (1 - opt.beta2 ** t)
                params[i] = params[i] - opt.lr * m_hat / (opt.delta + np.sqrt(v_hat))
    return params


OPTIMISERS = {"GD": GD(lr=0.3), "Momentum": Momentum(lr=0.1, gamma=0.9),
              "Nesterov": Nesterov(lr=0.1, gamma=0.8), "Adagrad": Adagrad(lr=0.1),
              "Adam": Adam(lr=0.05)}


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("compile", [interpreter.compile, codegen.compile], ids=["interpreted", "compiled"])
@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_each_optimiser_follows_the_textbook_algorithm(name, compile, reduction):
    model = dense(3, 2, Sigmoid)
    learner = Learner(model, mse(Real(2)), OPTIMISERS[name], reduction=reduction)
    step = compile(learner.diagram)
    state, values = learner.init(seed=1)
    params = [values[p] for p in model.params]
    expected = textbook(name, OPTIMISERS[name], 5, *params, reduction=reduction)
    for _ in range(5):
        *out, loss = step(*state, *params, X, T)
        state, params = out[:len(state)], out[len(state):]
    for got, want in zip(params, expected):
        assert np.allclose(got, want, rtol=1e-10, atol=1e-12)


def test_the_default_reduction_is_the_mean():
    assert Learner(dense(3, 2, Sigmoid), mse(Real(2)), GD()).reduction == "mean"
    with pytest.raises(ValueError, match="'mean' or 'sum'"):
        Learner(dense(3, 2, Sigmoid), mse(Real(2)), GD(), reduction="average")


def test_the_learner_is_one_diagram_whose_loss_type_must_match():
    from paralens.categories import CompositionError
    with pytest.raises(CompositionError, match=r"Real\(2\).*Real\(3\)"):
        Learner(dense(3, 2, Sigmoid), mse(Real(3)), GD())


def test_the_input_cotangent_is_dead_code_in_the_compiled_step():
    learner = Learner(dense(3, 2, Sigmoid), mse(Real(2)), GD())
    interpreted = interpreter.compile(learner.diagram).plan
    compiled = codegen.compile(learner.diagram).plan
    assert interpreted.count("LinearT") == 1 and compiled.count("LinearT") == 0


@pytest.mark.parametrize("loss", [mse, softmax_cross_entropy, dot])
def test_each_loss_reverse_map_is_the_finite_difference_vjp(loss):
    laws.check_finite_differences(loss(Real(3)).diagram, interpreter.compile).assert_ok()


def test_softmax_cross_entropy_matches_the_reference_exactly():
    """R[e](b_t, b_p, α) = (−α log softmax(b_p), α(softmax(b_p)·Σb_t − b_t)), in SymPy."""
    e = softmax_cross_entropy(Real(3)).diagram
    t, p = symbolic.symbols(Real(3), "t"), symbolic.symbols(Real(3), "p")
    alpha = sympy.Symbol("alpha", real=True)
    dt, dp = symbolic.evaluate(R(e).put, t, p, alpha)
    softmax = p.applyfunc(sympy.exp) / sum(p.applyfunc(sympy.exp))
    for i in range(3):
        assert sympy.simplify(dt[i] + alpha * sympy.log(softmax[i])) == 0
        assert sympy.simplify(dp[i] - alpha * (softmax[i] * sum(t) - t[i])) == 0


def test_softmax_cross_entropy_does_not_overflow():
    e = codegen.compile(softmax_cross_entropy(Real(3)).diagram)
    logits = np.array([[1e3, -1e3, 0.0], [-1e3, 1e3, 0.0]])
    labels = np.eye(3)[[0, 0]]
    loss = e(labels, logits)
    assert np.all(np.isfinite(loss)) and np.allclose(loss, [0.0, 2e3])


def test_deep_dreaming_ascends_the_dot_product():
    """With the dot loss and a positive cap (GD with lr = −ε), the input moves by
    ε · π_A R[f](p, a, b_t): ascent on b_t · f(p, a)."""
    model = dense(3, 2, Sigmoid)
    values = model.init(2)
    eps = 0.5
    dream = interpreter.compile(dreamer(model, dot(Real(2)), GD(lr=-eps)))
    W, b = (values[p] for p in model.params)
    a, target = X[:2], np.array([[1.0, 0.0], [0.0, 1.0]])
    new_a, score = dream(a, W, b, target)
    y = sigmoid(a @ W + b)
    assert np.allclose(score, (target * y).sum(axis=1))
    assert np.allclose(new_a, a + eps * (target * y * (1 - y)) @ W.T, rtol=1e-12)
    assert np.all((target * sigmoid(new_a @ W + b)).sum(axis=1) > score)


@pytest.mark.parametrize("loss", [mse, dot])
def test_mse_and_dot_reverse_maps_match_the_reference_exactly(loss):
    e = loss(Real(3)).diagram
    t, p = symbolic.symbols(Real(3), "t"), symbolic.symbols(Real(3), "p")
    alpha = sympy.Symbol("alpha", real=True)
    dt, dp = symbolic.evaluate(R(e).put, t, p, alpha)
    expected = {mse: (alpha * (t - p), alpha * (p - t)), dot: (alpha * p, alpha * t)}[loss]
    for got, want in zip((dt, dp), expected):
        assert all(sympy.simplify(g - w) == 0 for g, w in zip(got, want))


from hypothesis import HealthCheck, assume, given, settings, strategies as st  # noqa: E402

from paralens.categories import Param, Para  # noqa: E402
from paralens.categories.strategies import diagrams  # noqa: E402


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(diagrams(n=3, max_boxes=5), st.sampled_from(sorted(OPTIMISERS)), st.booleans())
def test_compiled_random_learners_equal_the_interpreter(d, name, squared):
    """Any diagram whose first wire is a parameter and whose output is one vector
    wire, closed with a loss and an optimiser: compiled step = interpreted step."""
    assume(len(d.dom) >= 2 and len(d.cod) == 1 and len(d.cod.inside[0].shape) == 1)
    model = Para((Param(d.dom[:1], "p"), ), d)
    learner = Learner(model, (mse if squared else dot)(d.cod), OPTIMISERS[name])
    state, _ = learner.init()
    rng = np.random.default_rng(0)
    inputs = [laws.uniform()(w, rng, 0 if k == 0 else 5)
              for k, w in enumerate(learner.diagram.dom.inside[len(state):])]
    expected = interpreter.compile(learner.diagram)(*state, *inputs)
    got = codegen.compile(learner.diagram)(*state, *inputs)
    for g, e in zip(got, expected):
        assert np.allclose(g, e, rtol=1e-12, atol=1e-12)


def test_paralens_compile_writes_a_module_that_imports_only_numpy(tmp_path, monkeypatch):
    import importlib.util
    import re

    from paralens.interpreters.cli import main
    (tmp_path / "my_models.py").write_text(
        "from paralens.categories import Real, Sigmoid, dense\n"
        "from paralens.lenses.learner import Learner\n"
        "from paralens.lenses.losses import mse\n"
        "from paralens.lenses.optimisers import Adam\n"
        "learner = Learner(dense(4, 3, Sigmoid), mse(Real(3)), Adam())\n")
    monkeypatch.chdir(tmp_path)
    assert main(["compile", "my_models:learner", "-o", "step.py"]) == 0
    source = (tmp_path / "step.py").read_text()
    assert set(re.findall(r"^(?:import|from) (\w+)", source, flags=re.M)) == {"math", "numpy"}
    spec = importlib.util.spec_from_file_location("step", tmp_path / "step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from my_models import learner
    state, values = learner.init(0)
    args = [*state, *[values[p] for p in learner.model.params], X[:, :3].repeat(2, axis=1)[:, :4],
            np.eye(3)[[0, 1, 2, 0, 1, 2]]]
    for a, b in zip(module.step(*args), interpreter.compile(learner.diagram)(*args)):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-14)


def test_the_outline_shows_the_four_parts_with_the_steps_type():
    learner = Learner(dense(3, 2, Sigmoid), mse(Real(2)), Momentum(lr=0.1))
    outline = learner.outline()
    assert (outline.dom, outline.cod) == (learner.diagram.dom, learner.diagram.cod)
    names = {box.name for box in outline.boxes}
    assert {"get (Momentum)", "model ; loss (forward)", "cap -0.1", "model ; loss (backward)",
            "Σ batch", "put (Momentum)"} <= names
