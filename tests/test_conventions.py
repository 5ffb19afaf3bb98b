"""The conventions of issue 15, against oracles written here in NumPy.

* **Reduction**: every loss × optimiser × reduction, a few ``Trainer.step``\\ s are the
  textbook algorithm (optax's and PyTorch's definitions, each loss's gradient by
  hand) on the mean or the sum of the examples' losses; the loss reported is that
  objective, and what GD descends is exactly what is reported (central differences).
* **Recurrent reduction**: for a machine the mean is over the sequences and their
  steps (hand-written Elman forward and BPTT).
* **Schedules and weight decay**: η_t is optax's schedule at count t = 0, 1, …; L2 is
  PyTorch's g ← g + λp (at the point the gradient is taken), AdamW decoupled.
* **Names**: every ready model's unique names in data-flow order; ``Parameters`` by
  name and by handle; names through ``fit`` and through files.

Nothing here is a number copied from the library: each expected value is computed
by the formulas in this file.
"""

import numpy as np
import pytest

from paralens.categories import (
    Para, Param, Parameters, Real, Tanh, dense, elman, function, gru, logic_gate_network,
    lookup_table, pseudo_linear)
from paralens.categories.smooth import Bias, Linear
from paralens.interpreters import checkpoints
from paralens.interpreters import numpy as interpreter
from paralens.interpreters.training import CheckpointError, Trainer
from paralens.lenses import schedules
from paralens.lenses.learner import Learner
from paralens.lenses.losses import (
    binary_cross_entropy_with_logits, hinge, huber, mse, softmax_cross_entropy)
from paralens.lenses.optimisers import GD, Adagrad, Adam, AdamW, Momentum, Nesterov


def assert_close(got, want, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol)


# -- the textbook, in NumPy -----------------------------------------------------------------

def softmax(y):
    e = np.exp(y - y.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(y):
    shifted = y - y.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def sigmoid(y):
    return 1 / (1 + np.exp(-y))


def huber_value(e, delta=1.0):
    a = np.abs(e)
    return np.where(a <= delta, 0.5 * e * e, delta * (a - 0.5 * delta))


#: name → (library loss, activation of the model, labels from a generator,
#:         per-example loss ℓ(t, y), ∂ℓ/∂y), the textbook definitions
LOSSES = {
    "mse": (mse, Tanh, lambda g, n: g.normal(size=(n, 2)),
            lambda t, y: 0.5 * ((y - t) ** 2).sum(-1),
            lambda t, y: y - t),
    "softmax_cross_entropy": (
        softmax_cross_entropy, Tanh, lambda g, n: g.dirichlet(np.ones(2), size=n),
        lambda t, y: -(t * log_softmax(y)).sum(-1),
        lambda t, y: softmax(y) * t.sum(-1, keepdims=True) - t),
    "binary_cross_entropy_with_logits": (
        binary_cross_entropy_with_logits, Tanh, lambda g, n: g.uniform(size=(n, 2)),
        lambda t, y: (np.logaddexp(0.0, y) - t * y).sum(-1),
        lambda t, y: sigmoid(y) - t),
    "hinge": (hinge, None, lambda g, n: g.choice([-1.0, 1.0], size=(n, 2)),
              lambda t, y: np.maximum(0.0, 1 - t * y).sum(-1),
              lambda t, y: -t * (t * y < 1)),
    "huber": (huber, None, lambda g, n: 2.0 * g.normal(size=(n, 2)),
              lambda t, y: huber_value(y - t).sum(-1),
              lambda t, y: np.clip(y - t, -1.0, 1.0)),
}


def dense_forward(act, W, b, x):
    z = x @ W + b
    return np.tanh(z) if act is Tanh else z


def dense_objective(name, reduction):
    """(W, b) ↦ the mean or sum over the examples of the textbook loss."""
    _, act, _, value, _ = LOSSES[name]

    def objective(params, x, t):
        losses = value(t, dense_forward(act, *params, x))
        return losses.mean() if reduction == "mean" else losses.sum()
    return objective


def dense_gradient(name, reduction):
    """(W, b) ↦ ∇ of that objective, by the chain rule written out."""
    _, act, _, _, derivative = LOSSES[name]

    def gradient(params, x, t):
        W, b = params
        y = dense_forward(act, W, b, x)
        dz = derivative(t, y) * ((1 - y * y) if act is Tanh else 1.0)
        if reduction == "mean":
            dz = dz / len(x)
        return [x.T @ dz, dz.sum(axis=0)]
    return gradient


def textbook(name, hyper, gradient, params, steps, rate, weight_decay=0.0, point=False):
    """``steps`` updates of optimiser ``name`` from zero state, η_t = rate(t) at the count
    t = 0, 1, … (the trajectories of optax and PyTorch; Momentum and Nesterov as the
    optimisers' docstring writes them, s′ = γs − η_t g, p ← p + s′, which is PyTorch's
    SGD(momentum) for a constant rate). L2 as PyTorch applies it, g ← g + λp at the
    point the gradient is taken; AdamW p ← p − η_t(m̂/(√v̂ + δ) + λp). With ``point``,
    also the point where the next gradient is taken (Nesterov's look-ahead p + γs)."""
    params = [np.array(p, dtype=float) for p in params]
    s = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(steps):
        eta = rate(t)
        at = ([p + hyper["gamma"] * si for p, si in zip(params, s)] if name == "Nesterov"
              else params)
        g = gradient(at)
        if weight_decay and name != "AdamW":
            g = [gi + weight_decay * a for gi, a in zip(g, at)]
        for i, gi in enumerate(g):
            if name == "GD":
                params[i] = params[i] - eta * gi
            elif name in ("Momentum", "Nesterov"):
                s[i] = hyper["gamma"] * s[i] - eta * gi
                params[i] = params[i] + s[i]
            elif name == "Adagrad":
                s[i] = s[i] + gi * gi
                params[i] = params[i] - eta * gi / (hyper["delta"] + np.sqrt(s[i]))
            else:                                           # Adam, AdamW
                b1, b2 = hyper["beta1"], hyper["beta2"]
                s[i] = b1 * s[i] + (1 - b1) * gi
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                m_hat, v_hat = s[i] / (1 - b1 ** (t + 1)), v[i] / (1 - b2 ** (t + 1))
                update = m_hat / (np.sqrt(v_hat) + hyper["delta"])
                if name == "AdamW":
                    update = update + weight_decay * params[i]
                params[i] = params[i] - eta * update
    if not point:
        return params
    ahead = [p + hyper["gamma"] * si for p, si in zip(params, s)] if name == "Nesterov" \
        else params
    return params, ahead


#: name → (the library's optimiser from (lr, weight_decay), its hyper-parameters)
OPTIMISERS = {
    "GD": (lambda lr, wd: GD(lr=lr, weight_decay=wd), {}),
    "Momentum": (lambda lr, wd: Momentum(lr=lr, gamma=0.9, weight_decay=wd), {"gamma": 0.9}),
    "Nesterov": (lambda lr, wd: Nesterov(lr=lr, gamma=0.8, weight_decay=wd), {"gamma": 0.8}),
    "Adagrad": (lambda lr, wd: Adagrad(lr=lr, delta=1e-7, weight_decay=wd), {"delta": 1e-7}),
    "Adam": (lambda lr, wd: Adam(lr=lr, beta1=0.9, beta2=0.999, delta=1e-8, weight_decay=wd),
             {"beta1": 0.9, "beta2": 0.999, "delta": 1e-8}),
    "AdamW": (lambda lr, wd: AdamW(lr=lr, beta1=0.9, beta2=0.999, delta=1e-8, weight_decay=wd),
              {"beta1": 0.9, "beta2": 0.999, "delta": 1e-8}),
}
RATES = {"GD": 0.1, "Momentum": 0.1, "Nesterov": 0.1, "Adagrad": 0.1, "Adam": 0.05,
         "AdamW": 0.05}


def data_for(loss_name, n=6, seed=3):
    g = np.random.default_rng(seed)
    scale = 1.5 if LOSSES[loss_name][1] is Tanh else 3.0     # both sides of the kinks
    return scale * g.normal(size=(n, 3)), LOSSES[loss_name][2](g, n)


def dense_learner(loss_name, optimiser, reduction, dtype="float64"):
    make, act, *_ = LOSSES[loss_name]
    return Learner(dense(3, 2, act, dtype=dtype), make(Real(2, dtype=dtype)), optimiser,
                   reduction=reduction)


def away_from_kinks(loss_name, params, x, t, margin=1e-3):
    """The hinge's and Huber's kinks are far from every example (central differences
    and the textbook's masks then agree), and both sides of each are met."""
    y = dense_forward(LOSSES[loss_name][1], params["dense.W"], params["dense.b"], x)
    distance = {"hinge": 1 - t * y, "huber": np.abs(y - t) - 1.0}.get(loss_name)
    if distance is not None:
        assert np.abs(distance).min() > margin
        assert (distance > 0).any() and (distance < 0).any()


# -- 1. reduction: loss × optimiser × reduction ----------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("opt_name", sorted(OPTIMISERS))
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_steps_are_the_textbook_update_of_the_reduced_objective(loss_name, opt_name, reduction):
    """Three steps, each the textbook update; each reports the objective at the point
    its gradient is taken (Nesterov's look-ahead)."""
    make, hyper = OPTIMISERS[opt_name]
    lr = RATES[opt_name]
    wd = 0.01 if opt_name == "AdamW" else 0.0          # AdamW's own default, decoupled
    learner = dense_learner(loss_name, make(lr, wd), reduction)
    trainer = Trainer(learner)
    x, t = data_for(loss_name)
    opt_state, params = learner.init(seed=1)
    away_from_kinks(loss_name, params, x, t)
    objective = dense_objective(loss_name, reduction)
    gradient = dense_gradient(loss_name, reduction)
    start = [params["dense.W"], params["dense.b"]]
    for k in range(1, 4):
        _, at = textbook(opt_name, hyper, lambda p: gradient(p, x, t), start, k - 1,
                         lambda _: lr, wd, point=True)
        opt_state, params, loss = trainer.step(opt_state, params, x, t)
        assert isinstance(loss, float)
        assert abs(loss - objective(at, x, t)) <= 1e-12 * max(1.0, abs(loss))
        want = textbook(opt_name, hyper, lambda p: gradient(p, x, t), start, k,
                        lambda _: lr, wd)
        assert_close(params["dense.W"], want[0])
        assert_close(params["dense.b"], want[1])


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_gradient_descent_descends_exactly_the_reported_loss(loss_name, reduction):
    """The change of one GD step is −lr × the central differences of the loss the step
    reports, as a function of the parameters: what is reported is what is descended."""
    lr = 0.1
    learner = dense_learner(loss_name, GD(lr=lr), reduction)
    trainer = Trainer(learner)
    x, t = data_for(loss_name)
    opt_state, params = learner.init(seed=1)
    away_from_kinks(loss_name, params, x, t)
    _, after, _ = trainer.step(opt_state, params, x, t)

    def reported(name, index, h):
        moved = params.copy()
        value = np.array(params[name], dtype=float)
        value[index] += h
        moved[name] = value
        return trainer.step(opt_state, moved, x, t)[2]

    h = 1e-6
    for name in params:
        fd = np.zeros_like(params[name])
        for index in np.ndindex(fd.shape):
            fd[index] = (reported(name, index, h) - reported(name, index, -h)) / (2 * h)
        change = after[name] - params[name]
        np.testing.assert_allclose(change, -lr * fd, rtol=1e-6, atol=1e-9)


# -- 2. the recurrent reduction: over the sequences and their steps --------------------------

def elman_dense_forward(params, xs):
    """h_t = tanh(x_t Wx + h_{t−1} Wh + b) from h = 0; y_t = h_t W + c."""
    Wx, Wh, b, W, c = params
    h, hs = np.zeros((xs.shape[0], Wh.shape[0])), []
    for t in range(xs.shape[1]):
        h = np.tanh(xs[:, t] @ Wx + h @ Wh + b)
        hs.append(h)
    H = np.stack(hs, axis=1)
    return H, H @ W + c


def elman_dense_gradient(params, xs, labels, weight):
    """BPTT of weight · Σ_{b,t} ½‖y_bt − l_bt‖², written out."""
    Wx, Wh, b, W, c = params
    H, Y = elman_dense_forward(params, xs)
    dY = (Y - labels) * weight
    gW, gc = np.einsum("btn,bto->no", H, dY), dY.sum(axis=(0, 1))
    dH = dY @ W.T
    gWx, gWh, gb = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    carried = np.zeros((xs.shape[0], Wh.shape[0]))
    for t in reversed(range(xs.shape[1])):
        dz = (dH[:, t] + carried) * (1 - H[:, t] ** 2)
        before = H[:, t - 1] if t else np.zeros_like(H[:, 0])
        gWx += xs[:, t].T @ dz
        gWh += before.T @ dz
        gb += dz.sum(axis=0)
        carried = dz @ Wh.T
    return [gWx, gWh, gb, gW, gc]


RNN_NAMES = ("elman.Wx", "elman.Wh", "elman.b", "dense.W", "dense.b")


def rnn_data(B=3, T=7, seed=5):
    g = np.random.default_rng(seed)
    return g.normal(size=(B, T, 2)), g.normal(size=(B, T, 1))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_machines_objective_is_over_the_sequences_and_their_steps(reduction):
    lr = 0.2
    learner = Learner(elman(2, 4) >> dense(4, 1), mse(Real(1)), GD(lr=lr), reduction=reduction)
    assert learner.model.names == RNN_NAMES
    xs, labels = rnn_data()
    B, T = labels.shape[:2]
    opt_state, params = learner.init(seed=2)
    values = [params[n] for n in RNN_NAMES]
    _, Y = elman_dense_forward(values, xs)
    per_step = 0.5 * ((Y - labels) ** 2).sum(axis=-1)                 # (B, T)
    expected = per_step.mean() if reduction == "mean" else per_step.sum()

    *out, losses = interpreter.compile(learner.diagram)(*values, xs, labels)
    assert_close(losses, per_step.sum(axis=1))                        # one per sequence
    assert abs(learner.objective(losses, T) - expected) <= 1e-12 * expected

    trainer = Trainer(learner)
    _, after = trainer.fit(opt_state, params, xs, labels, steps=1, show=False)
    assert abs(trainer.history[0] - expected) <= 1e-12 * expected
    weight = 1 / (B * T) if reduction == "mean" else 1.0
    grads = elman_dense_gradient(values, xs, labels, weight)
    for name, p, g in zip(RNN_NAMES, values, grads):
        assert_close(after[name], p - lr * g)
    _, again, reported = trainer.step(opt_state, params, xs, labels)
    assert reported == trainer.history[0]
    assert all(np.array_equal(again[n], after[n]) for n in RNN_NAMES)


# -- 3. schedules and weight decay: optax's η_t, PyTorch's L2, AdamW decoupled ---------------

def optax_linear(init, end, steps, begin, t):
    count = np.clip(t - begin, 0, steps)
    return (init - end) * (1 - count / steps) + end


def optax_cosine(init, steps, alpha, t):
    count = min(t, steps)
    return init * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * count / steps)) + alpha)


def optax_warmup_cosine(init, peak, warmup, decay_steps, end, t):
    if t < warmup:
        return optax_linear(init, peak, warmup, 0, t)
    alpha = 0.0 if peak == 0 else end / peak
    return optax_cosine(peak, decay_steps - warmup, alpha, t - warmup)


def optax_exponential(init, steps, rate, begin, end, t):
    count = t - begin
    value = init if count <= 0 else init * rate ** (count / steps)
    return value if end is None else (max(value, end) if rate < 1 else min(value, end))


def optax_piecewise(init, boundaries_and_scales, t):
    value = init
    for boundary, scale in sorted(boundaries_and_scales.items()):
        if t >= boundary:
            value *= scale
    return value


#: name → (the library's lr, η(t) written from optax's definitions)
SCHEDULES = {
    "constant": (0.1, lambda t: 0.1),
    "warmup_cosine": (schedules.warmup_cosine_decay_schedule(0.0, 0.2, 3, 10, 0.01),
                      lambda t: optax_warmup_cosine(0.0, 0.2, 3, 10, 0.01, t)),
    "cosine": (schedules.cosine_decay_schedule(0.2, 6, alpha=0.1),
               lambda t: optax_cosine(0.2, 6, 0.1, t)),
    "linear": (schedules.linear_schedule(0.2, 0.02, 5, 2),
               lambda t: optax_linear(0.2, 0.02, 5, 2, t)),
    "exponential": (schedules.exponential_decay(0.2, 3, 0.5, transition_begin=2, end_value=0.03),
                    lambda t: optax_exponential(0.2, 3, 0.5, 2, 0.03, t)),
    "piecewise": (schedules.piecewise_constant_schedule(0.2, {3: 0.5, 7: 0.2}),
                  lambda t: optax_piecewise(0.2, {3: 0.5, 7: 0.2}, t)),
    "own": (schedules.Schedule(lambda t: 0.2 / (1.0 + 0.5 * t), name="inverse"),
            lambda t: 0.2 / (1.0 + 0.5 * t)),
}


def test_the_schedules_are_optax():
    """The oracles above against the schedules' own diagrams, at the counts trained."""
    counts = np.arange(14.0)
    for name, (lr, rate) in SCHEDULES.items():
        if name != "constant":
            got = interpreter.compile(lr.diagram)(counts)
            assert_close(got, [rate(int(t)) for t in counts], rtol=1e-14, atol=1e-17)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05], ids=["no-decay", "L2"])
@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
@pytest.mark.parametrize("opt_name", ["GD", "Momentum", "Nesterov", "Adagrad", "Adam"])
def test_scheduled_and_decayed_steps_are_the_textbook(opt_name, schedule, weight_decay):
    run_schedule(opt_name, schedule, weight_decay)


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_adamw_with_a_schedule_decays_decoupled(schedule):
    run_schedule("AdamW", schedule, 0.05)


def run_schedule(opt_name, schedule, weight_decay, steps=12):
    lr, rate = SCHEDULES[schedule]
    make, hyper = OPTIMISERS[opt_name]
    learner = dense_learner("mse", make(lr, weight_decay), "mean")
    trainer = Trainer(learner)
    x, t = data_for("mse", n=8)
    opt_state, params = learner.init(seed=4)
    start = [params["dense.W"], params["dense.b"]]
    for _ in range(steps):
        opt_state, params, _ = trainer.step(opt_state, params, x, t)
    gradient = dense_gradient("mse", "mean")
    want = textbook(opt_name, hyper, lambda p: gradient(p, x, t), start, steps, rate,
                    weight_decay)
    assert_close(params["dense.W"], want[0])
    assert_close(params["dense.b"], want[1])


# -- 4. names ----------------------------------------------------------------------------------

def gate_names(layers):
    return tuple(f"{layer}.t{k}" for layer in layers for k in range(4))


def tied():
    layer = dense(3, 3, Tanh)
    return layer >> layer, [layer]


def composite(*layers):
    model = layers[0]
    for layer in layers[1:]:
        model = model >> layer
    return model, list(layers)


GRU = ("Wz", "Uz", "bz", "Wr", "Ur", "br", "Wc", "Uc", "bc")
#: model → (model, its layers in data-flow order), the documented names
MODELS = {
    "dense": (lambda: composite(dense(3, 2)), ("dense.W", "dense.b")),
    "elman": (lambda: composite(elman(2, 4)), ("elman.Wx", "elman.Wh", "elman.b")),
    "gru": (lambda: composite(gru(2, 3)), tuple(f"gru.{n}" for n in GRU)),
    "lookup_table": (lambda: composite(lookup_table(2, 1)), ("lookup_table.table", )),
    "pseudo_linear": (lambda: composite(pseudo_linear(4)), ("pseudo_linear.p", )),
    "logic_gate_network": (lambda: (logic_gate_network(4, [3, 2]), None),
                           gate_names(["gate_layer", "gate_layer_1"])),
    "dense>>dense>>dense": (
        lambda: composite(dense(3, 4, Tanh), dense(4, 4, Tanh), dense(4, 2)),
        ("dense.W", "dense.b", "dense_1.W", "dense_1.b", "dense_2.W", "dense_2.b")),
    "gru>>gru>>dense": (
        lambda: composite(gru(2, 3), gru(3, 3), dense(3, 1)),
        tuple(f"gru.{n}" for n in GRU) + tuple(f"gru_1.{n}" for n in GRU)
        + ("dense.W", "dense.b")),
    "elman@elman": (lambda: (lambda a, b: (a @ b, [a, b]))(elman(2, 3), elman(1, 2)),
                    ("elman.Wx", "elman.Wh", "elman.b", "elman_1.Wx", "elman_1.Wh",
                     "elman_1.b")),
    "tied": (tied, ("dense.W", "dense.b")),
}


@pytest.mark.parametrize("which", list(MODELS))
def test_every_ready_model_has_unique_names_in_data_flow_order(which):
    build, names = MODELS[which]
    model, layers = build()
    assert model.names == names
    assert len(set(model.names)) == len(model.names) == len(model.params)
    if layers is not None:              # data-flow order: the first layer's handles first
        assert model.params == tuple(p for layer in layers for p in dict.fromkeys(layer.params))
    values = model.init(seed=0)
    assert isinstance(values, Parameters)
    assert list(values) == list(names) and len(values) == len(names)
    for name, handle in zip(names, model.params):
        assert values[handle] is values[name]
        assert model.param(name) is handle
        assert values[name].shape == handle.ty.inside[0].shape
    # set by name, read by handle
    first, handle = names[0], model.params[0]
    replacement = np.ones_like(values[first])
    values[first] = replacement
    assert values[handle] is replacement
    # unknown names are refused, listing the names
    with pytest.raises(KeyError) as refused:
        values["nonexistent.W"]
    assert all(n in str(refused.value) for n in names)
    with pytest.raises(KeyError):
        values["nonexistent.W"] = replacement
    with pytest.raises(KeyError) as refused:
        model.param("nonexistent.W")
    assert all(n in str(refused.value) for n in names)
    # one parameter given twice, by name and by handle, is refused
    twice = dict(values.items())
    twice[handle] = replacement
    with pytest.raises(KeyError, match="twice"):
        model.parameters(twice)


def test_a_tied_layer_is_one_parameter_pair():
    model, (layer, ) = tied()
    assert model.params == layer.params


def test_fit_takes_a_dict_keyed_by_names_and_refuses_a_parameter_given_twice():
    learner = Learner(dense(3, 4, Tanh) >> dense(4, 2), mse(Real(2)), Adam(lr=0.05))
    x, t = data_for("mse", n=8)
    opt_state, params = learner.init(seed=0)
    by_name = {name: np.array(params[name]) for name in reversed(list(params))}
    _, from_parameters = Trainer(learner).fit(opt_state, params, x, t, 5, show=False)
    _, from_dict = Trainer(learner).fit(opt_state, by_name, x, t, 5, show=False)
    assert list(from_dict) == list(learner.model.names)
    assert all(np.array_equal(from_dict[n], from_parameters[n]) for n in params)
    twice = dict(by_name)
    twice[learner.model.params[2]] = params["dense_1.W"]
    trainer = Trainer(learner)
    with pytest.raises((KeyError, ValueError), match="twice"):
        trainer.fit(opt_state, twice, x, t, 5, show=False)
    assert trainer.checkpoint is None and trainer.history == []
    unknown = dict(by_name, **{"dense_9.W": params["dense.W"]})
    with pytest.raises((KeyError, ValueError), match="dense_9.W") as refused:
        trainer.fit(opt_state, unknown, x, t, 5, show=False)
    assert all(n in str(refused.value) for n in learner.model.names)


def test_files_keep_the_values_under_their_names(tmp_path):
    model = dense(3, 4, Tanh) >> dense(4, 2)
    learner = Learner(model, mse(Real(2)), Adam(lr=0.05))
    x, t = data_for("mse", n=8)
    trainer = Trainer(learner)
    opt_state, params = trainer.fit(*learner.init(seed=0), x, t, 3, show=False)
    path = checkpoints.save(tmp_path / "values", learner, opt_state, params)
    loaded_state, loaded = checkpoints.load(path, learner)
    assert list(loaded) == list(model.names)
    for name in model.names:
        a, b = loaded[name], params[name]
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    assert all(np.array_equal(a, b) for a, b in zip(loaded_state, opt_state))
    assert list(np.load(path).files)[:len(model.names)] == [
        f"param{i}_{n}" for i, n in enumerate(model.names)]
    trainer.save(tmp_path / "trainer")
    again = Trainer(learner).load(tmp_path / "trainer")
    assert list(again.params) == list(model.names)
    assert all(np.array_equal(again.params[n], params[n]) for n in model.names)


def test_a_file_refuses_a_model_whose_names_differ(tmp_path):
    """Same shapes, same optimiser, other names: refused naming the parameter."""
    learner = Learner(dense(3, 2), mse(Real(2)), GD(lr=0.1))
    path = checkpoints.save(tmp_path / "dense", learner, *learner.init(seed=0))
    W, b = Param(Real(3, 2), "weights"), Param(Real(2), "bias")
    x = Real(3)
    mine = Para((W, b), function(W.ty @ b.ty @ x, Real(2))(
        lambda w, c, a: Bias(Real(2))(c, Linear(3, 2)(w, a))))
    assert mine.names == ("weights", "bias")
    other = Learner(mine, mse(Real(2)), GD(lr=0.1))
    with pytest.raises(CheckpointError, match="weights"):
        checkpoints.load(path, other)
    trainer = Trainer(learner)
    trainer.fit(*learner.init(seed=0), *data_for("mse", n=4), 1, show=False)
    with pytest.raises(CheckpointError, match="weights"):
        Trainer(other).load(trainer.save(tmp_path / "trainer"))
    deeper = Learner(dense(3, 2) >> dense(2, 2), mse(Real(2)), GD(lr=0.1))
    with pytest.raises(CheckpointError, match=r"dense_1\.W"):
        checkpoints.load(path, deeper)



def test_gradient_and_repr_speak_the_unique_names():
    """recurrent.gradient's cotangents are keyed by the parameters' names (handles find
    them too); a model prints its parameters by name."""
    from paralens.interpreters import recurrent
    m = elman(2, 3) >> dense(3, 1)
    params = m.init(0)
    xs = np.random.default_rng(0).normal(size=(2, 4, 2))
    g = recurrent.gradient(m, params, xs, np.ones((2, 4, 1)))
    assert list(g)[:5] == list(m.names) and g["elman.Wx"] is g[m.params[0]]
    assert m.params[3] in g and "state" in g and "xs" in g
    assert repr(dense(2, 3) >> dense(3, 1)).startswith(
        "Para(dense.W: Real(2, 3), dense.b: Real(3), dense_1.W: Real(3, 1), dense_1.b: Real(1);")
    assert "elman.Wx: Real(2, 3)" in repr(m)


# -- the adversarial review's findings, each a regression test ---------------------------------

def test_a_free_parameter_never_takes_a_layer_s_generated_name():
    from paralens.categories import Para, Param, Bias
    free = Para((Param(Real(2), "dense_1.b"), ), Bias(Real(2)))
    m = dense(2, 2) >> free >> dense(2, 2)
    assert m.names == ("dense.W", "dense.b", "dense_1.b", "dense_2.W", "dense_2.b")
    assert m.param("dense_1.b") is free.params[0]


def test_gradient_refuses_a_parameter_named_as_its_other_cotangents():
    from paralens.categories import Machine, Para, Param, function
    from paralens.interpreters import recurrent
    x = Real()
    p = Param(x, "xs")
    m = Machine.lift(Para((p, ), function(x @ x, x)(lambda a, b: a * b)))
    with pytest.raises(ValueError, match="a parameter is named 'xs'"):
        recurrent.gradient(m, {"xs": np.ones(())}, np.ones((1, 3)), np.ones((1, 3)))


def test_one_sequence_is_told_to_gain_a_batch_axis():
    learner = Learner(elman(1, 3) >> dense(3, 1), mse(Real(1)), GD(lr=0.1))
    trainer = Trainer(learner)
    _, params = learner.init(0)
    with pytest.raises(ValueError, match=r"got \(10, 1\); for a single sequence pass x\[None\]"):
        trainer.predict(np.zeros((10, 1)), params)


@pytest.mark.parametrize("make, labels, fragment", [
    (hinge, np.array([[0.0], [1.0]]), r"hinge takes labels −1 and \+1, got 0.0 \(for 0/1 labels, pass 2 \* label - 1\)"),
    (binary_cross_entropy_with_logits, np.array([[-1.0], [1.0]]), r"binary_cross_entropy_with_logits takes labels in \[0, 1\], got -1.0"),
])
def test_labels_outside_a_loss_s_domain_are_refused(make, labels, fragment):
    learner = Learner(dense(2, 1), make(Real(1)), GD(lr=0.1))
    with pytest.raises(ValueError, match="label: " + fragment):
        Trainer(learner).fit(*learner.init(0), np.zeros((2, 2)), labels, 1, show=False)


def test_a_schedule_that_turns_negative_is_refused_before_any_step():
    learner = Learner(dense(2, 1), mse(Real(1)), GD(lr=schedules.linear_schedule(0.1, -0.5, 5)))
    trainer = Trainer(learner)
    with pytest.raises(ValueError, match=r"gives -0.02.* at update 1 \(step 2\)"):
        trainer.fit(*learner.init(0), np.zeros((4, 2)), np.zeros((4, 1)), 12, show=False)
    assert trainer.history == []


def test_ready_schedules_learners_with_them_and_trainers_pickle():
    import pickle
    ready = [schedules.constant_schedule(0.1), schedules.linear_schedule(1.0, 0.0, 4),
             schedules.exponential_decay(0.1, 10, 0.5), schedules.cosine_decay_schedule(0.1, 4),
             schedules.warmup_cosine_decay_schedule(0.0, 0.1, 2, 8),
             schedules.piecewise_constant_schedule(0.1, {3: 0.5})]
    counts = np.arange(12.0)
    for s in ready:
        again = pickle.loads(pickle.dumps(s))
        assert repr(again) == repr(s)
        assert np.array_equal(np.broadcast_to(interpreter.compile(again.diagram)(counts), counts.shape),
                              np.broadcast_to(interpreter.compile(s.diagram)(counts), counts.shape))
    learner = Learner(dense(2, 1), mse(Real(1)), AdamW(lr=ready[4]))
    x, t = np.random.default_rng(0).normal(size=(6, 2)), np.ones((6, 1))
    trainer = Trainer(learner)
    copy = pickle.loads(pickle.dumps(trainer))
    _, mine = trainer.fit(*learner.init(0), x, t, 5, show=False)
    _, theirs = copy.fit(*copy.learner.init(0), x, t, 5, show=False)
    assert all(np.array_equal(mine[n], theirs[n]) for n in mine)


def test_the_public_step_checks_what_it_is_given():
    learner = Learner(dense(2, 1), mse(Real(1)), GD(lr=0.1))
    with pytest.raises(ValueError, match=r"label \(Real\(1\)\): expected shape \(examples, 1\), got \(3,\)"):
        Trainer(learner).step([], learner.init(0)[1], np.zeros((3, 2)), np.zeros(3))


def test_a_file_of_another_reduction_is_refused(tmp_path):
    x, t = np.zeros((4, 2)), np.zeros((4, 1))
    mean = Learner(dense(2, 1), mse(Real(1)), GD(lr=0.1))
    trainer = Trainer(mean)
    trainer.fit(*mean.init(0), x, t, 1, show=False)
    path = trainer.save(tmp_path / "mean")
    summed = Learner(dense(2, 1), mse(Real(1)), GD(lr=0.1), reduction="sum")
    with pytest.raises(CheckpointError, match="reduction='mean', this learner's is 'sum'"):
        Trainer(summed).load(path)


def test_a_model_of_several_input_wires_is_refused_by_the_trainer():
    from paralens.categories import Add
    model = (dense(2, 1) @ dense(3, 1)) >> Add(Real(1))
    with pytest.raises(TypeError, match="one input wire"):
        Trainer(Learner(model, mse(Real(1)), GD(lr=0.1)))


def test_a_power_of_a_number_is_a_schedule():
    s = schedules.Schedule(lambda t: 0.1 * 0.9 ** t)
    counts = np.arange(30.0)
    np.testing.assert_allclose(interpreter.compile(s.diagram)(counts), 0.1 * 0.9 ** counts,
                               rtol=1e-14)


def test_para_maps_and_machines_name_their_wires_as_learners_do():
    """arguments/results, one convention: parameters by name, then x (x0, …) / state, xs."""
    from paralens.interpreters import codegen
    model = dense(4, 3) >> dense(3, 2)
    assert model.arguments == ["dense.W", "dense.b", "dense_1.W", "dense_1.b", "x"]
    assert model.results == ["y"]
    m = elman(2, 3)
    assert m.arguments == ["elman.Wx", "elman.Wh", "elman.b", "state", "xs"]
    assert m.results == ["state", "ys"]
    step = codegen.compile(m.diagram, name="step", arguments=m.arguments, results=m.results)
    assert "def step(elman_Wx, elman_Wh, elman_b, state, xs)" in step.source
