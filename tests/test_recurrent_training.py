"""Training machines by BPTT, against the hand-written NumPy oracles of
``rnn_reference``: the learner's step, checkpointed BPTT (always equal to full
BPTT), truncated BPTT (equal to full when a segment covers the sequence, to a
hand-truncated reference otherwise), the truncated trainer's per-segment
updates and its resumption, streaming, and costs that never depend on T."""

import numpy as np
import pytest

from paralens.categories import Real, dense, elman, gru
from paralens.interpreters import numpy as pn
from paralens.interpreters import recurrent as rec
from paralens.interpreters.plan import flatten
from paralens.interpreters.training import Trainer, TruncatedTrainer
from paralens.lenses import R
from paralens.lenses.learner import Learner
from paralens.lenses.losses import mse
from paralens.lenses.optimisers import GD, Adam

from rnn_reference import elman_bptt, elman_forward, elman_jvp, elman_truncated_bptt

rng = np.random.default_rng(7)
B, T, N_IN, N = 3, 23, 2, 4


def _elman(seed=0):
    m = elman(N_IN, N)
    params = m.init(seed)
    return m, params, [params[p] for p in m.params]


def _data(T=T, seed=1):
    g = np.random.default_rng(seed)
    return g.normal(size=(B, T, N_IN)), g.normal(size=(B, T, N))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_one_gd_step_of_the_learner_is_hand_bptt_of_the_reduced_loss(reduction):
    """The mean is over the sequences and their steps; the sum over both."""
    m, params, (Wx, Wh, b) = _elman()
    xs, labels = _data()
    lr = 0.3
    learner = Learner(m, mse(Real(N)), GD(lr=lr), reduction=reduction)
    new_Wx, new_Wh, new_b, loss = pn.compile(learner.diagram)(Wx, Wh, b, xs, labels)
    ys, _ = elman_forward(Wx, Wh, b, np.zeros((B, N)), xs)
    weight = 1 / (B * T) if reduction == "mean" else 1
    g = elman_bptt(Wx, Wh, b, np.zeros((B, N)), xs, (ys - labels) * weight)
    assert np.abs(new_Wx - (Wx - lr * g["Wx"])).max() < 1e-10
    assert np.abs(new_Wh - (Wh - lr * g["Wh"])).max() < 1e-10
    assert np.abs(new_b - (b - lr * g["b"])).max() < 1e-10
    assert np.abs(loss - 0.5 * ((ys - labels) ** 2).sum(axis=(1, 2))).max() < 1e-10
    per_step = 0.5 * ((ys - labels) ** 2).sum(axis=2)
    expected = per_step.mean() if reduction == "mean" else per_step.sum()
    assert abs(learner.objective(loss, T) - expected) < 1e-12


@pytest.mark.parametrize("k", [1, 2, 5, T - 1, T, 100])
def test_checkpointed_bptt_is_full_bptt(k):
    m, params, values = _elman()
    xs, labels = _data()
    full = pn.compile(Learner(m, mse(Real(N)), GD(lr=0.1)).diagram)(*values, xs, labels)
    kept = pn.compile(Learner(m, mse(Real(N)), GD(lr=0.1), recompute=k).diagram)(
        *values, xs, labels)
    assert all(np.abs(a - c).max() <= 1e-12 for a, c in zip(full, kept))


def test_checkpointed_bptt_stores_the_state_every_k_steps_only():
    m, params, values = _elman()
    xs, _ = _data(T=40)
    h0 = np.zeros((B, N))
    full, kept = R(m.diagram), R(m.loop(recompute=8))
    full_out = pn.compile(full.forward)(*values, h0, xs)[:len(full.residual)]
    kept_out = pn.compile(kept.forward)(*values, h0, xs)[:len(kept.residual)]
    # full BPTT stacks residuals of every step; checkpointing stores 40/8 = 5 states
    # (the constants and inputs it keeps are the loop's own inputs, not copies)
    stacked_full = [a for a in full_out if a.ndim == 3 and a is not xs]
    stacked_kept = [a for a in kept_out if a.ndim == 3 and a is not xs]
    assert all(a.shape[1] == 40 for a in stacked_full) and stacked_full
    assert [a.shape for a in stacked_kept] == [(B, 5, N)]
    assert any(a is xs for a in kept_out)


@pytest.mark.parametrize("k", [1, 3, 7, 11])
def test_truncated_bptt_is_the_hand_truncated_reference(k):
    m, params, (Wx, Wh, b) = _elman()
    xs, w = _data()
    h0 = rng.normal(size=(B, N))
    g = rec.gradient(m, params, xs, w, state=h0, truncate=k)
    ref = elman_truncated_bptt(Wx, Wh, b, h0, xs, w, k)
    for p, name in zip(m.params, ["Wx", "Wh", "b"]):
        assert np.abs(g[p] - ref[name]).max() < 1e-10
    full = elman_bptt(Wx, Wh, b, h0, xs, w)
    assert max(np.abs(g[p] - full[n]).max() for p, n in zip(m.params, ["Wx", "Wh"])) > 1e-6


@pytest.mark.parametrize("k", [T, T + 5])
def test_truncated_bptt_with_one_segment_is_full_bptt(k):
    m, params, (Wx, Wh, b) = _elman()
    xs, w = _data()
    g = rec.gradient(m, params, xs, w, truncate=k)
    full = elman_bptt(Wx, Wh, b, np.zeros((B, N)), xs, w)
    for p, name in zip(m.params, ["Wx", "Wh", "b"]):
        assert np.abs(g[p] - full[name]).max() < 1e-10
    assert np.abs(g["xs"] - full["xs"]).max() < 1e-10


def test_the_truncated_trainer_updates_after_every_segment_from_the_carried_state():
    m, params, (Wx, Wh, b) = _elman()
    xs, labels = _data()
    k, lr = 5, 0.05
    learner = Learner(m, mse(Real(N)), GD(lr=lr))
    trainer = TruncatedTrainer(learner, k, compile=pn.compile)
    segments = -(-T // k)
    _, trained = trainer.fit([], params, xs, labels, segments + 2)     # into the second epoch
    h, W = np.zeros((B, N)), [Wx, Wh, b]
    for n in range(segments + 2):
        start = (n % segments) * k
        if start == 0:
            h = np.zeros((B, N))
        x, lab = xs[:, start:start + k], labels[:, start:start + k]
        ys, h_end = elman_forward(*W, h, x)
        g = elman_bptt(*W, h, x, (ys - lab) / (B * x.shape[1]))     # the mean of the segment
        W = [W[0] - lr * g["Wx"], W[1] - lr * g["Wh"], W[2] - lr * g["b"]]
        h = h_end
    for p, ref in zip(m.params, W):
        assert np.abs(trained[p] - ref).max() < 1e-10
    assert len(trainer.history) == segments + 2


def test_the_truncated_trainer_resumes_exactly():
    m, params, _ = _elman()
    xs, labels = _data()
    learner = Learner(m, mse(Real(N)), Adam(lr=0.01))
    whole = TruncatedTrainer(learner, 4, compile=pn.compile)
    _, straight = whole.fit(*learner.init(0), xs, labels, 9)
    parts = TruncatedTrainer(learner, 4, compile=pn.compile)
    parts.fit(*learner.init(0), xs, labels, 4)
    _, resumed = parts.resume(xs, labels, 5)
    assert all(np.array_equal(straight[p], resumed[p]) for p in m.params)
    assert parts.checkpoint.step == 9


def test_the_trainer_trains_a_recurrent_learner():
    g = np.random.default_rng(3)
    t = np.arange(40)
    phase = g.uniform(0, 2 * np.pi, size=(32, 1))
    signal = np.sin(0.3 * t + phase)[..., None]
    xs, labels = signal[:, :-1], signal[:, 1:]
    model = gru(1, 8) >> dense(8, 1)
    learner = Learner(model, mse(Real(1)), Adam(lr=0.02))
    trainer = Trainer(learner, compile=pn.compile)
    trainer.fit(*learner.init(0), xs, labels, 60, show=False)
    assert trainer.history[-1] < 0.2 * trainer.history[0]


def test_streaming_continues_the_state():
    m, params, _ = _elman()
    xs, _ = _data()
    ys, last = rec.run(m, params, xs)
    first, middle = rec.run(m, params, xs[:, :9])
    rest, end = rec.run(m, params, xs[:, 9:], state=middle)
    assert np.array_equal(np.concatenate([first, rest], axis=1), ys)
    assert np.array_equal(end, last)


def test_forward_mode_and_bptt_against_the_hand_oracles():
    m, params, (Wx, Wh, b) = _elman()
    xs, w = _data()
    h0 = rng.normal(size=(B, N))
    d = {p: rng.normal(size=params[p].shape) for p in m.params}
    dxs, dh0 = rng.normal(size=xs.shape), rng.normal(size=h0.shape)
    _, dys = rec.jvp(m, params, xs, dxs, d, state=h0, dstate=dh0)
    _, ref = elman_jvp(Wx, Wh, b, h0, xs, *[d[p] for p in m.params], dh0, dxs)
    assert np.abs(dys - ref).max() < 1e-12
    g = rec.gradient(m, params, xs, w, state=h0)
    adjoint = sum((g[p] * d[p]).sum() for p in m.params) + (g["state"] * dh0).sum() + \
        (g["xs"] * dxs).sum()
    assert abs(adjoint - (w * dys).sum()) < 1e-10 * max(1.0, abs(adjoint))


def test_building_and_compiling_do_not_depend_on_the_length():
    m, params, values = _elman()
    learner = Learner(m, mse(Real(N)), GD(lr=0.1))
    plan = flatten(learner.diagram)
    step = pn.compile(learner.diagram)
    for steps in (1, 10, 300):      # one compiled step, any length: nothing knows T
        xs, labels = _data(T=steps)
        out = step(*values, xs, labels)
        assert out[-1].shape == (B, )
    assert plan.count("Loop") == 2 and len(plan.equations) < 40


def test_a_loop_refuses_sequences_of_different_lengths():
    m, params, values = _elman()
    learner = Learner(m, mse(Real(N)), GD(lr=0.1))
    xs, labels = _data()
    with pytest.raises(ValueError, match=r"steps, other sequences have"):
        pn.compile(learner.diagram)(*values, xs, labels[:, :-1])


# -- regressions from the adversarial review ---------------------------------------------------

def test_jvp_refuses_a_direction_keyed_by_something_else_than_a_handle():
    m, params, _ = _elman()
    xs, _ = _data()
    with pytest.raises(ValueError, match=r"dparams: 'Wh' is not one of the machine's parameter"):
        rec.jvp(m, params, xs, dparams={"Wh": np.ones((N, N))})


def test_partial_directions_are_zero_where_none():
    from paralens.categories import Real, Tanh, dtrace, function
    x = Real()
    m = dtrace(function(x @ x @ x, x @ x @ x)(lambda s, a, b: (Tanh(x)(s * a), s + b, s)), 0.0)
    g = np.random.default_rng(0)
    a, b, v = g.normal(size=(3, 6)), g.normal(size=(3, 6)), g.normal(size=(3, 6))
    _, with_none = rec.jvp(m, {}, [a, b], dxs=[v, None])
    _, with_zero = rec.jvp(m, {}, [a, b], dxs=[v, np.zeros_like(b)])
    assert all(np.array_equal(p, q) for p, q in zip(with_none, with_zero))
    with pytest.raises(TypeError, match=r"dxs: 1 given for the 2 wires"):
        rec.jvp(m, {}, [a, b], dxs=[v])


def test_the_cotangent_of_a_shared_initial_state_is_summed_over_the_batch():
    m, params, _ = _elman()
    xs, w = _data()
    shared = rec.gradient(m, params, xs, w)["state"]
    each = rec.gradient(m, params, xs, w, state=np.zeros((B, N)))["state"]
    assert shared.shape == (N, ) and np.allclose(shared, each.sum(axis=0), atol=1e-14)


def test_the_truncated_trainer_checks_its_inputs():
    m, params, _ = _elman()
    learner = Learner(m >> dense(N, 1), mse(Real(1)), Adam(lr=0.01))
    trainer = TruncatedTrainer(learner, 3, compile=pn.compile)
    with pytest.raises(ValueError, match="no steps"):
        trainer.fit(*learner.init(0), np.zeros((4, 0, N_IN)), np.zeros((4, 0, 1)), 1)
    with pytest.raises(ValueError, match=r"no value for params\['elman.Wx'\]"):
        trainer.fit(learner.init(0)[0], {}, np.ones((4, 7, N_IN)), np.ones((4, 7, 1)), 1)


def test_checkpoint_is_refused_for_a_model_without_a_loop():
    with pytest.raises(TypeError, match="checkpointed BPTT is for a machine's loop"):
        Learner(dense(2, 3), mse(Real(3)), GD(lr=0.1), recompute=4)


def test_a_clocked_machine_runs_from_a_batched_state():
    from paralens.categories import Real, dtrace, function
    x = Real()
    counter = dtrace(function(x, x @ x)(lambda s: (s + 1, s)), 5.0)
    ys, last = rec.run(counter, {}, 4, state=np.array([1.0, 2.0, 3.0]))
    assert ys.tolist() == [[1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 6]] and last.tolist() == [5, 6, 7]
    clock = np.zeros((2, 3, 0))
    assert rec.run(counter, {}, clock)[0].tolist() == [[5, 6, 7], [5, 6, 7]]


@pytest.mark.parametrize("x, label, message", [
    (np.zeros((4, 5, N_IN), complex), np.zeros((4, 5, 1)), "x .*expected float64, got complex128: its imaginary part"),
    (np.zeros((4, 5, 1), np.float32), np.zeros((4, 5, 1)), r"x \(Real\(2\)\): expected shape \(examples, time, 2\)"),
    (np.zeros((4, 5)), np.zeros((4, 5, 1)), r"x \(Real\(2\)\): expected shape \(examples, time, 2\)"),
    (np.zeros((4, 5, N_IN)), np.zeros((4, 5)), r"label \(Real\(1\)\): expected shape \(examples, time, 1\), got \(4, 5\); for one number per step pass label\[\.\.\., None\]"),
    (np.zeros((4, 5, N_IN)), np.zeros((4, 6, 1)), "different lengths|same batch and length"),
])
def test_training_data_errors_speak_of_sequences(x, label, message):
    m, _, _ = _elman()
    learner = Learner(m >> dense(N, 1), mse(Real(1)), Adam(lr=0.01))
    for trainer in (Trainer(learner, compile=pn.compile),
                    TruncatedTrainer(learner, 3, compile=pn.compile)):
        with pytest.raises((TypeError, ValueError), match=message):
            trainer.fit(*learner.init(0), x, label, 1, **({"show": False}))


def test_a_state_for_another_batch_is_named_as_the_state():
    m, params, _ = _elman()
    xs, _ = _data()
    with pytest.raises(ValueError, match=r"state \(Real\(4\)\): expected shape \(4,\) \(one "
                                         r"example's, shared by the batch\) or \(batch, 4\) = "
                                         r"\(3, 4\), got \(2, 4\)"):
        rec.run(m, params, xs, state=np.zeros((2, N)))
