"""The trainers' conventions of issue 15, against oracles written here in NumPy.

* fit k + save + load (a new trainer) + resume m is fit k + m bit for bit, with a
  schedule and weight decay, on mini-batches (hypothesis draws the batch sizes,
  seeds, k and m);
* ``predict`` is the model's forward, ``evaluate`` the textbook objective and the
  argmax accuracy, ``validation_history`` the objective at the steps it names;
* a fit interrupted at step 5 resumes in another process, bit for bit, for
  ``TruncatedTrainer`` and ``Trainer``;
* the silent-wrongness classes are refused (or converted exactly) at every entry
  point: complex data, sequences with no steps, other data on resume, a checkpoint
  of the other trainer, dtypes, a label without its feature axis, options that do
  not apply to truncated BPTT.
"""

import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from paralens.categories import Real, Tanh, dense, elman
from paralens.interpreters import recurrent
from paralens.interpreters.training import CheckpointError, Trainer, TruncatedTrainer
from paralens.lenses.learner import Learner
from paralens.lenses.losses import mse, softmax_cross_entropy
from paralens.lenses.optimisers import GD, Adam, AdamW
from paralens.lenses.schedules import exponential_decay, warmup_cosine_decay_schedule


def same(a, b):
    """Bit for bit: the same dtype, shape and bytes."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def all_same(state, params, other_state, other_params):
    return (len(state) == len(other_state) and all(map(same, state, other_state))
            and list(params) == list(other_params)
            and all(same(params[n], other_params[n]) for n in params))


def log_softmax(y):
    shifted = y - y.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


rng = np.random.default_rng(11)
X = rng.normal(size=(10, 3))
T = rng.normal(size=(10, 2))
CLASSES = rng.integers(0, 3, size=10)
ONE_HOT = np.eye(3)[CLASSES]
XS = rng.normal(size=(5, 10, 2))            # sequences (examples, time, features)
LS = rng.normal(size=(5, 10, 1))


# -- fit k + save + load + resume m = fit k + m, scheduled and decayed -------------------------

SCHEDULED = {
    "Adam": lambda: Adam(lr=warmup_cosine_decay_schedule(0.0, 0.1, 3, 12, 0.01),
                         weight_decay=0.01),
    "AdamW": lambda: AdamW(lr=exponential_decay(0.05, 2, 0.7, transition_begin=1),
                           weight_decay=0.05),
    "GD": lambda: GD(lr=warmup_cosine_decay_schedule(0.0, 0.3, 3, 12, 0.01), weight_decay=0.01),
}


def scheduled_learner(name):
    return Learner(dense(3, 4, Tanh) >> dense(4, 2), mse(Real(2)), SCHEDULED[name]())


@pytest.mark.parametrize("name", sorted(SCHEDULED))
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch_size=st.integers(1, 10), seed=st.integers(0, 2 ** 16), k=st.integers(1, 8),
       m=st.integers(1, 8))
def test_fit_save_load_resume_is_one_longer_fit_bit_for_bit(name, batch_size, seed, k, m):
    straight = Trainer(scheduled_learner(name))
    want_state, want = straight.fit(*straight.learner.init(seed=1), X, T, k + m,
                                    batch_size=batch_size, seed=seed, show=False)
    first = Trainer(scheduled_learner(name))
    first.fit(*first.learner.init(seed=1), X, T, k, batch_size=batch_size, seed=seed, show=False)
    with tempfile.TemporaryDirectory() as folder:
        path = first.save(os.path.join(folder, "k"))
        second = Trainer(scheduled_learner(name))          # a new learner, built the same way
        second.load(path)
    got_state, got = second.resume(X, T, m, show=False)
    assert all_same(got_state, got, want_state, want)
    assert all(same(a, b) for a, b in zip(first.history + second.history, straight.history))


# -- predict, evaluate, validation -------------------------------------------------------------

def mlp_forward(params, x):
    return np.tanh(x @ params["dense.W"] + params["dense.b"]) @ params["dense_1.W"] \
        + params["dense_1.b"]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_predict_is_the_forward_and_evaluate_the_objective_and_accuracy(reduction):
    learner = Learner(dense(3, 4, Tanh) >> dense(4, 3), softmax_cross_entropy(Real(3)),
                      Adam(lr=0.05), reduction=reduction)
    trainer = Trainer(learner)
    opt_state, params = learner.init(seed=2)
    assert np.allclose(trainer.predict(X, params), mlp_forward(params, X), rtol=1e-13, atol=0)
    _, trained = trainer.fit(opt_state, params, X, ONE_HOT, 6, show=False)
    y = mlp_forward(trained, X)
    assert np.allclose(trainer.predict(X), y, rtol=1e-13, atol=0)     # where training stands
    losses = -(ONE_HOT * log_softmax(y)).sum(axis=-1)
    expected = losses.mean() if reduction == "mean" else losses.sum()
    evaluation = trainer.evaluate(X, ONE_HOT)
    assert abs(evaluation.loss - expected) <= 1e-12 * expected
    assert evaluation.accuracy == np.mean(np.argmax(y, axis=-1) == CLASSES)
    assert trainer.evaluate(X, ONE_HOT.astype(int)) == evaluation         # int labels converted
    at_start = trainer.evaluate(X, ONE_HOT, params=params)
    y0 = mlp_forward(params, X)
    assert at_start.accuracy == np.mean(np.argmax(y0, axis=-1) == CLASSES)


def test_evaluate_has_no_accuracy_for_real_labels():
    learner = Learner(dense(3, 2, Tanh), mse(Real(2)), GD(lr=0.1))
    _, params = learner.init(seed=0)
    evaluation = Trainer(learner).evaluate(X, T, params=params)
    y = np.tanh(X @ params["dense.W"] + params["dense.b"])
    assert abs(evaluation.loss - np.mean(0.5 * ((y - T) ** 2).sum(-1))) <= 1e-13
    assert evaluation.accuracy is None


def rnn_forward(params, xs):
    h, ys = np.zeros((xs.shape[0], 4)), []
    for t in range(xs.shape[1]):
        h = np.tanh(xs[:, t] @ params["elman.Wx"] + h @ params["elman.Wh"] + params["elman.b"])
        ys.append(h @ params["dense.W"] + params["dense.b"])
    return np.stack(ys, axis=1)


def rnn_learner(optimiser=None, reduction=None):
    return Learner(elman(2, 4) >> dense(4, 1), mse(Real(1)), optimiser or Adam(lr=0.02),
                   reduction=reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_recurrent_learners_predict_is_run_and_evaluate_the_per_step_objective(reduction):
    learner = rnn_learner(reduction=reduction)
    trainer = Trainer(learner)
    _, params = trainer.fit(*learner.init(seed=3), XS, LS, 4, show=False)
    y = rnn_forward(params, XS)
    predicted = trainer.predict(XS)
    assert np.allclose(predicted, y, rtol=1e-13, atol=1e-15)
    ran, _ = recurrent.run(learner.model, params, XS)
    assert same(predicted, ran)
    per_step = 0.5 * ((y - LS) ** 2).sum(-1)
    expected = per_step.mean() if reduction == "mean" else per_step.sum()
    evaluation = trainer.evaluate(XS, LS)
    assert abs(evaluation.loss - expected) <= 1e-12 * expected
    assert evaluation.accuracy is None


@pytest.mark.parametrize("batch_size, every, steps, recorded", [
    (3, None, 10, [3, 6, 9]),             # once an epoch: 10 // 3 = 3 steps
    (3, 4, 10, [4, 8]),
    (None, None, 4, [1, 2, 3, 4]),        # full batch: an epoch is a step
    (None, 3, 7, [3, 6]),
])
def test_validation_is_recorded_once_an_epoch_or_every_k(batch_size, every, steps, recorded):
    def learner():
        return Learner(dense(3, 4, Tanh) >> dense(4, 2), mse(Real(2)), Adam(lr=0.05))
    xv, tv = X[:6] + 0.5, T[:6] - 0.25
    trainer = Trainer(learner())
    trainer.fit(*trainer.learner.init(seed=0), X, T, steps, batch_size=batch_size, seed=5,
                validation=(xv, tv), validate_every=every, show=False)
    assert [k for k, _ in trainer.validation_history] == recorded
    for k, loss in trainer.validation_history:
        prefix = Trainer(learner())                 # the parameters after k steps
        _, params = prefix.fit(*prefix.learner.init(seed=0), X, T, k, batch_size=batch_size,
                               seed=5, show=False)
        expected = np.mean(0.5 * ((mlp_forward(params, xv) - tv) ** 2).sum(-1))
        assert abs(loss - expected) <= 1e-12 * expected


def test_recurrent_validation_is_the_per_step_objective():
    trainer = Trainer(rnn_learner())
    xv, lv = XS[:2] * 0.5, LS[:2] + 0.1
    trainer.fit(*trainer.learner.init(seed=0), XS, LS, 4, validation=(xv, lv),
                validate_every=2, show=False)
    assert [k for k, _ in trainer.validation_history] == [2, 4]
    _, params = Trainer(rnn_learner()).fit(*trainer.learner.init(seed=0), XS, LS, 4, show=False)
    expected = np.mean(0.5 * ((rnn_forward(params, xv) - lv) ** 2).sum(-1))
    assert abs(trainer.validation_history[-1][1] - expected) <= 1e-12 * expected


# -- a fit interrupted at step 5 resumes in another process ------------------------------------

BUILD = """
from paralens.categories import Real, dense, elman
from paralens.lenses.learner import Learner
from paralens.lenses.losses import mse
from paralens.lenses.optimisers import Adam
from paralens.lenses.schedules import warmup_cosine_decay_schedule
from paralens.interpreters.training import Trainer, TruncatedTrainer


def build(kind):
    learner = Learner(elman(2, 4) >> dense(4, 1), mse(Real(1)),
                      Adam(lr=warmup_cosine_decay_schedule(0.0, 0.05, 2, 12), weight_decay=0.01))
    return TruncatedTrainer(learner, 4) if kind == "truncated" else Trainer(learner)


def write(folder, opt_state, params, history):
    import os
    import numpy as np
    for name in params:
        np.save(os.path.join(folder, "param_" + name + ".npy"), params[name])
    for i, s in enumerate(opt_state):
        np.save(os.path.join(folder, "opt_state%d.npy" % i), s)
    np.save(os.path.join(folder, "history.npy"), np.array(history))
"""

CHILD = BUILD + """
import sys
import numpy as np
kind, checkpoint, data, folder, m = sys.argv[1:]
trainer = build(kind)
trainer.load(checkpoint)
arrays = np.load(data)
opt_state, params = trainer.resume(arrays["x"], arrays["label"], int(m), show=False)
write(folder, opt_state, params, trainer.history)
"""

FIT = {"truncated": {}, "trainer": {"batch_size": 2, "seed": 3}}


@pytest.mark.parametrize("kind", ["truncated", "trainer"])
def test_an_interrupted_fit_resumes_in_another_process_bit_for_bit(kind, tmp_path):
    """Interrupted at its 5th step (T = 10 in segments of 4: mid-pass, a state carried),
    saved, loaded in a fresh process into a trainer of a learner built the same way and
    resumed m steps: the parameters, state and losses of one fit of 4 + m here."""
    space = {}
    exec(BUILD, space)
    m = 5
    trainer = space["build"](kind)
    calls, step = [0], trainer.step_function

    def failing(*args):
        calls[0] += 1
        if calls[0] == 5:
            raise RuntimeError("stopped at the 5th step")
        return step(*args)
    trainer.step_function = failing
    with pytest.raises(RuntimeError, match="5th"):
        trainer.fit(*trainer.learner.init(seed=0), XS, LS, 4 + m, show=False, **FIT[kind])
    assert trainer.checkpoint.step == 4 and len(trainer.history) == 4
    if kind == "truncated":
        assert trainer.checkpoint.state is not None          # mid-pass: a state carried
    checkpoint = trainer.save(tmp_path / "checkpoint")
    np.savez(tmp_path / "data.npz", x=XS, label=LS)
    there, here = tmp_path / "there", tmp_path / "here"
    there.mkdir(), here.mkdir()
    done = subprocess.run([sys.executable, "-c", CHILD, kind, checkpoint,
                           str(tmp_path / "data.npz"), str(there), str(m)],
                          env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    straight = space["build"](kind)
    opt_state, params = straight.fit(*straight.learner.init(seed=0), XS, LS, 4 + m, show=False,
                                     **FIT[kind])
    space["write"](str(here), opt_state, params, straight.history[4:])
    names = sorted(os.listdir(here))
    assert names == sorted(os.listdir(there))
    assert len(names) == len(params) + len(opt_state) + 1
    for name in names:
        assert (here / name).read_bytes() == (there / name).read_bytes(), name


# -- the silent-wrongness classes, at every entry point ---------------------------------------

def dense_trainer():
    return Trainer(Learner(dense(3, 2, Tanh), mse(Real(2)), Adam(lr=0.05)))


def fitted(trainer, x, label, **options):
    trainer.fit(*trainer.learner.init(seed=0), x, label, 2, show=False, **options)
    return trainer


def refused(call, trainer, error, *fragments):
    """``call()`` raises ``error`` naming every fragment, and the trainer is untouched."""
    before, history = trainer.checkpoint, list(trainer.history)
    with pytest.raises(error) as raised:
        call()
    for fragment in fragments:
        assert fragment in str(raised.value), (fragment, str(raised.value))
    assert trainer.checkpoint is before and trainer.history == history


def entry_points(data, fresh):
    """name → (the trainer, the call with x and label replaced by ``data``'s)."""
    def fit():
        t = fresh()
        return t, lambda x, y: t.fit(*t.learner.init(seed=0), x, y, 2, show=False)

    def resume():
        t = fitted(fresh(), *data)
        return t, lambda x, y: t.resume(x, y, 2, show=False)

    def predict():
        t = fitted(fresh(), *data)
        return t, lambda x, y: t.predict(x)

    def evaluate():
        t = fitted(fresh(), *data)
        return t, lambda x, y: t.evaluate(x, y)
    return {"fit": fit, "resume": resume, "predict": predict, "evaluate": evaluate}


def truncated_trainer():
    return TruncatedTrainer(rnn_learner(), 4)


#: (entry point, the argument made bad): predict takes no label
ENTRIES = [(entry, which) for entry in ("fit", "resume", "predict", "evaluate")
           for which in ("x", "label") if (entry, which) != ("predict", "label")]

CASES = {"dense": ((X, T), dense_trainer), "recurrent": ((XS, LS), lambda: Trainer(rnn_learner())),
         "truncated": ((XS, LS), truncated_trainer)}


@pytest.mark.parametrize("entry, which", ENTRIES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_complex_data_is_refused_naming_the_argument_and_the_imaginary_part(case, entry, which):
    data, fresh = CASES[case]
    trainer, call = entry_points(data, fresh)[entry]()
    x, label = data
    bad = (x + 0.5j, label) if which == "x" else (x, label - 0.25j)
    refused(lambda: call(*bad), trainer, TypeError, f"{which} (", "complex", "imaginary part")


@pytest.mark.parametrize("entry", ["fit", "resume", "evaluate"])
@pytest.mark.parametrize("case", ["recurrent", "truncated"])
def test_sequences_with_no_steps_are_refused(case, entry):
    data, fresh = CASES[case]
    trainer, call = entry_points(data, fresh)[entry]()
    refused(lambda: call(XS[:, :0], LS[:, :0]), trainer, ValueError, "no steps")


@pytest.mark.parametrize("changed", ["x", "label"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_resume_on_other_data_is_refused(case, changed):
    (x, label), fresh = CASES[case]
    trainer = fitted(fresh(), x, label)
    other = (x.copy(), label.copy())
    other[changed == "label"].flat[7] += 1e-9               # the same shape, one value changed
    refused(lambda: trainer.resume(*other, 2, show=False), trainer, ValueError, "not the data")


def test_a_checkpoint_of_the_other_trainer_is_refused_through_a_file(tmp_path):
    whole = fitted(Trainer(rnn_learner()), XS, LS)
    truncated = fitted(truncated_trainer(), XS, LS)
    with pytest.raises(CheckpointError):
        Trainer(rnn_learner()).load(truncated.save(tmp_path / "truncated"))
    with pytest.raises(CheckpointError, match="TruncatedTrainer"):
        truncated_trainer().load(whole.save(tmp_path / "whole"))


def test_the_refusal_of_a_truncated_bptt_file_says_which_trainer_wrote_it(tmp_path):
    """In the user's terms: the file is a TruncatedTrainer's (the machine does carry a
    state; it is the Trainer that carries none between steps)."""
    truncated = fitted(truncated_trainer(), XS, LS)
    with pytest.raises(CheckpointError) as raised:
        Trainer(rnn_learner()).load(truncated.save(tmp_path / "truncated"))
    assert "TruncatedTrainer" in str(raised.value)


@pytest.mark.parametrize("direction", ["truncated-into-trainer", "trainer-into-truncated"])
def test_a_checkpoint_of_the_other_trainer_is_refused_by_resume(direction):
    """The same refusal as through a file: continuing a truncated-BPTT trajectory with
    full BPTT (or the reverse) is neither trainer's fit k + m."""
    whole = fitted(Trainer(rnn_learner()), XS, LS)
    truncated = fitted(truncated_trainer(), XS, LS)
    source, target = (truncated, Trainer(rnn_learner())) \
        if direction == "truncated-into-trainer" else (whole, truncated_trainer())
    refused(lambda: target.resume(XS, LS, 2, show=False, checkpoint=source.checkpoint), target,
            (ValueError, CheckpointError), "TruncatedTrainer")


@pytest.mark.parametrize("case", sorted(CASES))
def test_int_labels_and_float32_data_are_converted_exactly(case):
    (x, label), fresh = CASES[case]
    x32 = x.astype(np.float32)
    exact = x32.astype(np.float64)
    ints = np.round(3 * label).astype(np.int64)
    want = fresh()
    want_state, want_params = want.fit(*want.learner.init(seed=0), exact, ints.astype(float), 3,
                                       show=False)
    got = fresh()
    got_state, got_params = got.fit(*got.learner.init(seed=0), x32, ints, 2, show=False)
    got_state, got_params = got.resume(exact, ints.astype(float), 1, show=False)  # the same data
    assert all_same(got_state, got_params, want_state, want_params)
    assert same(got.predict(x32), want.predict(exact))
    assert got.evaluate(x32, ints) == want.evaluate(exact, ints.astype(float))


FLOAT32 = {
    "dense": ((X, T), lambda: Trainer(Learner(dense(3, 2, Tanh, dtype="float32"),
                                              mse(Real(2, dtype="float32")), GD(lr=0.1)))),
    "recurrent": ((XS, LS), lambda: Trainer(Learner(
        elman(2, 4, dtype="float32") >> dense(4, 1, dtype="float32"),
        mse(Real(1, dtype="float32")), GD(lr=0.1)))),
    "truncated": ((XS, LS), lambda: TruncatedTrainer(Learner(
        elman(2, 4, dtype="float32") >> dense(4, 1, dtype="float32"),
        mse(Real(1, dtype="float32")), GD(lr=0.1)), 4)),
}


@pytest.mark.parametrize("entry, which", ENTRIES)
@pytest.mark.parametrize("case", sorted(FLOAT32))
def test_float64_data_for_a_float32_learner_is_refused_with_the_conversion(case, entry, which):
    (x, label), fresh = FLOAT32[case]
    x32, label32 = x.astype(np.float32), label.astype(np.float32)
    trainer, call = entry_points((x32, label32), fresh)[entry]()
    bad = (x, label32) if which == "x" else (x32, label)
    refused(lambda: call(*bad), trainer, TypeError, f"{which}.astype(np.float32)")


@pytest.mark.parametrize("entry", ["fit", "resume", "evaluate"])
@pytest.mark.parametrize("case", ["dense", "recurrent", "truncated"])
def test_a_label_without_its_feature_axis_is_refused_with_the_hint(case, entry):
    if case == "dense":
        data = (X, T[:, :1])
        fresh = lambda: Trainer(Learner(dense(3, 1), mse(Real(1)), GD(lr=0.1)))  # noqa: E731
    else:
        data, fresh = CASES[case]
    trainer, call = entry_points(data, fresh)[entry]()
    x, label = data
    refused(lambda: call(x, label[..., 0]), trainer, ValueError, "label[..., None]")


@pytest.mark.parametrize("option, value", [("batch_size", 2), ("seed", 0), ("shuffle", False)])
def test_options_that_do_not_apply_to_truncated_bptt_are_refused(option, value):
    trainer = truncated_trainer()
    refused(lambda: trainer.fit(*trainer.learner.init(seed=0), XS, LS, 2, show=False,
                                **{option: value}),
            trainer, ValueError, option, "does not apply")
