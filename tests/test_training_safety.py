"""Training loses nothing and refuses bad input early (design principle 9).

* An interrupt or an error inside ``fit`` leaves the trainer at the last
  completed step (replayed by hand, bit for bit) and propagates.
* Checkpoints load back from the path given to save; fit k + save + load +
  resume m is fit k + m, bit for bit, full-batch and mini-batch, for every
  optimiser.
* ``load`` refuses a file for another learner, a damaged file or a foreign one
  with one ``CheckpointError`` naming what differs, and never unpickles.
* Data, step counts, batch sizes and hyper-parameters are checked before any work.
* The command line answers a user's mistake with one line and status 2.
"""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from paralens.categories import Real, Sigmoid, dense, lookup_table
from paralens.interpreters.training import CheckpointError, NonFiniteLoss, Trainer, load, save
from paralens.lenses.datasets import bits_of, one_hot, rda_iris
from paralens.lenses.learner import Learner
from paralens.lenses.losses import mse, xor
from paralens.lenses.optimisers import GD, RDA, Adagrad, Adam, Momentum, Nesterov

rng = np.random.default_rng(0)
X, T = rng.normal(size=(10, 3)), rng.uniform(size=(10, 2))

OPTIMISERS = {"GD": lambda: GD(lr=0.3), "Momentum": lambda: Momentum(lr=0.1, gamma=0.9),
              "Nesterov": lambda: Nesterov(lr=0.1, gamma=0.8), "Adagrad": lambda: Adagrad(lr=0.1),
              "Adam": lambda: Adam(lr=0.05)}


def learner_with(optimiser, model=None):
    return Learner(model or dense(3, 2, Sigmoid), mse(Real(2)), optimiser)


def batches_by_hand(n, size, seed, steps):
    """The documented order: a generator seeded once; each epoch a fresh permutation
    of the rows, cut into batches of ``size``, the partial last one left out."""
    generator, out = np.random.default_rng(seed), []
    while len(out) < steps:
        order = generator.permutation(n)
        out += [order[i:i + size] for i in range(0, n - size + 1, size)]
    return out[:steps]


def same(a, b):
    """Bit for bit: the same dtype, shape and bytes."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_same_values(state, params, other_state, other_params):
    assert len(state) == len(other_state)
    assert all(same(a, b) for a, b in zip(state, other_state))
    assert params.keys() == other_params.keys()
    assert all(same(params[p], other_params[p]) for p in params)


# -- 1. an interrupt keeps the last completed step --------------------------------------

@pytest.mark.parametrize("batch_size", [None, 4], ids=["full-batch", "mini-batch"])
@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_an_interrupt_keeps_the_last_completed_step_and_propagates(batch_size, when, error):
    """Step 6 is interrupted before or after its arithmetic: the trainer holds the
    values of step 5, as a hand replay of five steps gives them, and resuming gives
    the uninterrupted run."""
    learner = learner_with(Adam(lr=0.05))
    trainer = Trainer(learner)
    compiled, calls = trainer.step_function, []

    def step_function(*args):
        calls.append(None)
        if len(calls) == 6 and when == "before":
            raise error("interrupted")
        out = compiled(*args)
        if len(calls) == 6:
            raise error("interrupted")
        return out

    trainer.step_function = step_function
    with pytest.raises(error, match="interrupted"):
        trainer.fit(*learner.init(0), X, T, steps=20, batch_size=batch_size, seed=3, show=False)

    state, params = learner.init(0)
    rows = batches_by_hand(10, batch_size, 3, 5) if batch_size else [slice(None)] * 5
    losses = []
    for r in rows:
        *out, loss = compiled(*state, *[params[p] for p in learner.model.params], X[r], T[r])
        state, params = out[:len(state)], learner.model.parameters(list(out[len(state):]))
        losses.append(float(np.mean(loss)))
    checkpoint = trainer.checkpoint
    assert checkpoint.step == 5 and trainer.history == losses
    assert_same_values(checkpoint.opt_state, checkpoint.params, state, params)

    trainer.step_function = compiled
    state, params = trainer.resume(X, T, steps=15, show=False)
    straight = Trainer(learner)
    expected = straight.fit(*learner.init(0), X, T, steps=20, batch_size=batch_size, seed=3,
                            show=False)
    assert_same_values(state, params, *expected)
    assert trainer.history == straight.history and trainer.checkpoint.step == 20


def test_a_non_finite_loss_leaves_the_checkpoint_at_the_values_the_error_keeps():
    model = dense(2, 2)
    values = {p: np.full(p.ty.inside[0].shape, 0.5) for p in model.params}
    x, t = np.full((3, 2), 1e100), np.zeros((3, 2))
    trainer = Trainer(Learner(model, mse(Real(2)), GD(lr=1e10)))
    with pytest.raises(NonFiniteLoss) as stopped:
        trainer.fit([], values, x, t, steps=50, show=False)
    error = stopped.value
    assert trainer.checkpoint.params is error.params
    assert trainer.checkpoint.step == error.kept - 1      # the parameters evaluated at step kept
    assert len(trainer.history) == error.step - 1


# -- 2, 3. checkpoints load back, and resume exactly --------------------------------------

def test_load_accepts_the_path_save_was_given(tmp_path):
    learner = learner_with(Momentum(lr=0.1))
    state, params = Trainer(learner).fit(*learner.init(1), X, T, steps=3, show=False)
    written = save(tmp_path / "ckpt", learner, state, params)
    assert written == str(tmp_path / "ckpt.npz") and os.path.exists(written)
    assert not os.path.exists(tmp_path / "ckpt")
    for path in (tmp_path / "ckpt", str(tmp_path / "ckpt"), tmp_path / "ckpt.npz"):
        assert_same_values(*load(path, learner), state, params)
    with pytest.raises(FileNotFoundError, match="other"):
        load(tmp_path / "other", learner)


@pytest.mark.parametrize("batch_size", [None, 4], ids=["full-batch", "mini-batch"])
@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_fit_save_load_resume_is_one_longer_fit_bit_for_bit(tmp_path, name, batch_size):
    learner = learner_with(OPTIMISERS[name]())
    straight = Trainer(learner)
    expected = straight.fit(*learner.init(2), X, T, steps=12, batch_size=batch_size, seed=5,
                            show=False)

    first = Trainer(learner)
    first.fit(*learner.init(2), X, T, steps=7, batch_size=batch_size, seed=5, show=False)
    path = first.save(tmp_path / "ckpt")
    second = Trainer(learner)
    loaded = second.load(tmp_path / "ckpt")
    assert loaded.step == 7 and second.checkpoint is loaded
    state, params = second.resume(X, T, steps=5, show=False)
    assert_same_values(state, params, *expected)
    assert first.history + second.history == straight.history
    assert second.checkpoint.step == 12

    in_memory = first.resume(X, T, steps=5, show=False)          # and without the file
    assert_same_values(*in_memory, *expected)
    assert path.endswith("ckpt.npz")


def test_mini_batches_follow_the_documented_order():
    """Twelve steps of GD on batches of 4 from 10 rows equal GD on the batches drawn
    by hand (three epochs of two batches, each from its own permutation)."""
    learner = learner_with(GD(lr=0.3))
    trainer = Trainer(learner)
    state, params = trainer.fit(*learner.init(2), X, T, steps=12, batch_size=4, seed=5,
                                show=False)
    s, p = learner.init(2)
    for rows in batches_by_hand(10, 4, 5, 12):
        s, p, _ = trainer.step(s, p, X[rows], T[rows])
    assert_same_values(state, params, s, p)


def test_rda_resumes_exactly_in_the_datas_own_order(tmp_path):
    x, y, _, _ = rda_iris(3, "one-hot")
    model = lookup_table(4, y.shape[1])
    learner = Learner(model, xor(model.cod), RDA())
    straight = Trainer(learner)
    expected = straight.fit(*learner.init(), x, y, steps=100, batch_size=1, shuffle=False,
                            show=False)
    first = Trainer(learner)
    first.fit(*learner.init(), x, y, steps=40, batch_size=1, shuffle=False, show=False)
    first.save(tmp_path / "rda")
    second = Trainer(learner)
    second.load(tmp_path / "rda")
    assert_same_values(*second.resume(x, y, steps=60, show=False), *expected)


def test_a_parameters_only_file_is_not_a_place_to_resume_from(tmp_path):
    learner = learner_with(GD())
    save(tmp_path / "p", learner, *learner.init(0))
    with pytest.raises(CheckpointError, match="not where training stands"):
        Trainer(learner).load(tmp_path / "p")


def test_resume_refuses_other_data_and_needs_a_checkpoint():
    learner = learner_with(GD())
    trainer = Trainer(learner)
    with pytest.raises(ValueError, match="nothing to resume"):
        trainer.resume(X, T, steps=2)
    trainer.fit(*learner.init(0), X, T, steps=2, batch_size=5, show=False)
    with pytest.raises(ValueError, match="for 10 examples, but x has 8"):
        trainer.resume(X[:8], T[:8], steps=2)


# -- 4. load checks the file against the learner -------------------------------------------

def saved(tmp_path, learner, name="ckpt", steps=2):
    trainer = Trainer(learner)
    trainer.fit(*learner.init(0), X[:, :learner.model.dom.inside[0].shape[0]], T, steps=steps,
                batch_size=4, show=False)
    return trainer.save(tmp_path / name)


def refused(path, learner, *fragments):
    """load and Trainer.load both raise one CheckpointError naming the file and each fragment."""
    for read in (lambda: load(path, learner), lambda: Trainer(learner).load(path)):
        with pytest.raises(CheckpointError) as error:
            read()
        message = str(error.value)
        assert isinstance(error.value, ValueError) and str(path) in message
        for fragment in fragments:
            assert fragment in message, (fragment, message)


def test_a_file_for_other_shapes_is_refused_naming_the_wire(tmp_path):
    path = saved(tmp_path, learner_with(GD(), dense(3, 2, Sigmoid)))
    other = Learner(dense(3, 4, Sigmoid), mse(Real(4)), GD())
    refused(path, other, "params['dense.W'] is Real(3, 4)", "shape (3, 2)", "params['dense.b']")


def test_float32_into_a_float64_learner_is_refused(tmp_path):
    model32 = dense(3, 2, Sigmoid, dtype="float32")
    learner32 = Learner(model32, mse(Real(2, dtype="float32")), GD())
    state, params = learner32.init(0)
    path = save(tmp_path / "f32", learner32, state, params)
    refused(path, learner_with(GD()), "params['dense.W']", "float64", "float32")


@pytest.mark.parametrize("written, reading", [("Momentum", "Adagrad"), ("Adam", "GD"),
                                              ("GD", "Adam")])
def test_a_file_for_another_optimiser_is_refused(tmp_path, written, reading):
    path = saved(tmp_path, learner_with(OPTIMISERS[written]()))
    refused(path, learner_with(OPTIMISERS[reading]()), f"optimiser {written}", reading)


def test_another_state_layout_is_refused_even_without_the_optimisers_name(tmp_path):
    learner = learner_with(Adam())
    state, params = learner.init(0)
    W, b = (params[p] for p in learner.model.params)
    weights = {"param0_dense.W": W, "param1_dense.b": b}
    np.savez(tmp_path / "old", **weights, opt_state0=state[0], opt_state1=state[1])
    refused(tmp_path / "old.npz", learner, "2 optimiser state wires", "Adam", "has 5")
    np.savez(tmp_path / "swapped", **weights, opt_state0=state[1], opt_state1=state[0],
             opt_state2=state[2], opt_state3=state[3], opt_state4=state[4])
    refused(tmp_path / "swapped.npz", learner, "optimiser state wire 0 (Adam) is Real(3, 2)",
            "shape (2,)")


def test_a_file_with_another_number_of_parameters_is_refused(tmp_path):
    path = saved(tmp_path, learner_with(GD(), dense(3, 3, Sigmoid) >> dense(3, 2, Sigmoid)))
    refused(path, learner_with(GD()), "4 parameters (dense.W, dense.b, dense_1.W, dense_1.b)",
            "the model 2 (dense.W, dense.b)")


@pytest.mark.parametrize("damage", ["half", "last bytes", "a flipped byte"])
def test_a_truncated_or_damaged_file_is_refused(tmp_path, damage):
    learner = learner_with(Adam())
    path = saved(tmp_path, learner)
    data = bytearray(open(path, "rb").read())
    if damage == "half":
        data = data[:len(data) // 2]
    elif damage == "last bytes":
        data = data[:-10]
    else:
        data[200] ^= 0xFF                   # inside the first array's bytes: a bad CRC
    open(path, "wb").write(bytes(data))
    refused(path, learner, "truncated or damaged")


def test_foreign_files_are_refused_and_nothing_is_unpickled(tmp_path):
    learner = learner_with(GD())
    (tmp_path / "text.npz").write_text("W,b\n1,2\n")
    refused(tmp_path / "text.npz", learner, "not an .npz archive")

    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return open, (str(marker), "w")
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(Payload()))
    refused(tmp_path / "model.pkl", learner, "a pickle")
    np.savez(tmp_path / "objects", param0_W=np.array([Payload()], dtype=object),
             param1_b=np.zeros(2))
    refused(tmp_path / "objects.npz", learner, "Python objects")
    assert not marker.exists()

    np.savez(tmp_path / "other", weights=np.zeros(3), bias=np.zeros(1))
    refused(tmp_path / "other.npz", learner, "not a paralens checkpoint", "bias, weights")
    np.save(tmp_path / "one.npy", np.zeros(3))
    refused(tmp_path / "one.npy", learner, "a single .npy array")


def test_a_damaged_data_order_is_refused(tmp_path):
    learner = learner_with(GD())
    path = saved(tmp_path, learner)
    with np.load(path) as data:
        arrays = dict(data)
    np.savez(tmp_path / "rng", **{**arrays, "rng": np.str_("{not json")})
    with pytest.raises(CheckpointError, match="'rng'"):
        Trainer(learner).load(tmp_path / "rng")
    np.savez(tmp_path / "order", **{**arrays, "order": np.zeros(10, dtype=np.int64)})
    with pytest.raises(CheckpointError, match="'order'"):
        Trainer(learner).load(tmp_path / "order")


# -- 5. training inputs are checked before any work -----------------------------------------

@pytest.fixture
def untouched():
    """A trainer whose step must never run, and the values to start from."""
    learner = learner_with(GD())
    trainer = Trainer(learner)

    def never(*args):
        raise AssertionError("a step ran")
    trainer.step_function = never
    yield trainer, learner.init(0)
    assert trainer.history == [] and trainer.checkpoint is None


@pytest.mark.parametrize("kwargs, error, fragments", [
    (dict(steps=-3), ValueError, ["steps", "-3"]),
    (dict(steps=0), ValueError, ["steps", "0"]),
    (dict(steps=2.5), TypeError, ["steps", "2.5"]),
    (dict(steps=True), TypeError, ["steps", "True"]),
    (dict(steps="5"), TypeError, ["steps", "'5'"]),
    (dict(batch_size=2.5), TypeError, ["batch_size", "2.5"]),
    (dict(batch_size=0), ValueError, ["batch_size", "10 examples", "0"]),
    (dict(batch_size=True), TypeError, ["batch_size", "True"]),
    (dict(batch_size=11), ValueError, ["batch_size", "10 examples", "11"]),
])
def test_bad_step_counts_and_batch_sizes_are_refused(untouched, kwargs, error, fragments):
    trainer, (state, params) = untouched
    with pytest.raises(error) as raised:
        trainer.fit(state, params, X, T, **{"steps": 3, "show": False, **kwargs})
    assert all(f in str(raised.value) for f in fragments), str(raised.value)


def test_inputs_and_labels_of_different_lengths_or_none_are_refused(untouched):
    trainer, (state, params) = untouched
    with pytest.raises(ValueError, match="x has 10 examples but label 9"):
        trainer.fit(state, params, X, T[:9], steps=3, show=False)
    with pytest.raises(ValueError, match="no examples"):
        trainer.fit(state, params, X[:0], T[:0], steps=3, show=False)
    with pytest.raises(ValueError, match="no examples"):
        trainer.fit(state, params, X[:0], T[:0], steps=3, batch_size=1, show=False)
    with pytest.raises(ValueError, match=r"no value for params\['dense.b'\]"):
        trainer.fit(state, {k: v for k, v in params.items() if k.endswith("W")}, X, T, steps=3)


@pytest.mark.parametrize("optimiser", sorted(OPTIMISERS))
@pytest.mark.parametrize("value, error", [
    (float("nan"), ValueError), ("0.1", TypeError), (True, TypeError), (None, TypeError)])
def test_a_learning_rate_must_be_a_real_number(optimiser, value, error):
    cls = type(OPTIMISERS[optimiser]())
    with pytest.raises(error) as raised:
        cls(lr=value)
    assert f"{cls.__name__}: lr" in str(raised.value) and repr(value) in str(raised.value)


@pytest.mark.parametrize("optimiser", sorted(OPTIMISERS))
@pytest.mark.parametrize("value", [-0.5, 0, 0.0, float("inf"), -float("inf")])
def test_training_needs_a_finite_positive_learning_rate(optimiser, value):
    """A negative rate climbs the loss (deep dreaming uses it, test_learners), an
    infinite one is a diagram the code generator must emit (test_codegen_robust):
    both are optimisers, and training refuses them, before compiling."""
    cls = type(OPTIMISERS[optimiser]())
    with pytest.raises(ValueError) as raised:
        Trainer(learner_with(cls(lr=value)))
    assert f"{cls.__name__}: lr must be a finite positive number to train, got {value!r}" \
        in str(raised.value)


@pytest.mark.parametrize("cls, name, value", [
    (Momentum, "gamma", 1.0), (Momentum, "gamma", -0.1), (Nesterov, "gamma", 1.5),
    (Adam, "beta1", 1.5), (Adam, "beta1", 1.0), (Adam, "beta2", -0.1), (Adam, "beta2", 1.0),
    (Adam, "delta", 0.0), (Adam, "delta", -1e-8), (Adagrad, "delta", 0.0),
    (Adam, "beta1", float("nan")), (Adam, "delta", float("inf"))])
def test_decays_lie_in_the_unit_interval_and_epsilons_are_positive(cls, name, value):
    with pytest.raises(ValueError) as raised:
        cls(**{name: value})
    assert f"{cls.__name__}: {name}" in str(raised.value) and repr(value) in str(raised.value)


def textbook_adam(W, b, lr, beta1, beta2, delta, steps):
    """Adam as Kingma and Ba write it, on the mean over the examples of ½‖σ(x W + b) − t‖²."""
    params, m, v = [W.copy(), b.copy()], [0.0, 0.0], [0.0, 0.0]
    for t in range(1, steps + 1):
        y = 1 / (1 + np.exp(-(X @ params[0] + params[1])))
        dz = (y - T) * y * (1 - y) / len(X)
        for i, g in enumerate((X.T @ dz, dz.sum(axis=0))):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            m_hat, v_hat = m[i] / (1 - beta1 ** t), v[i] / (1 - beta2 ** t)
            params[i] = params[i] - lr * m_hat / (np.sqrt(v_hat) + delta)
    return params


@pytest.mark.parametrize("beta1, beta2", [(0.0, 0.999), (0.9, 0.0), (0.0, 0.0)])
def test_adam_with_a_zero_beta_follows_the_textbook(beta1, beta2):
    learner = learner_with(Adam(lr=0.05, beta1=beta1, beta2=beta2))
    state, values = learner.init(1)
    W, b = (values[p] for p in learner.model.params)
    _, params = Trainer(learner).fit(state, values, X, T, steps=6, show=False)
    for got, want in zip((params[p] for p in learner.model.params),
                         textbook_adam(W, b, 0.05, beta1, beta2, 1e-8, 6)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)


def test_labels_for_one_hot_and_bits_are_checked():
    np.testing.assert_array_equal(one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match=r"class index -1 .* 0 to 2"):
        one_hot(np.array([0, -1]), 3)         # once silently the last class
    with pytest.raises(ValueError, match=r"class index 3 .* 0 to 2"):
        one_hot(np.array([3]), 3)
    with pytest.raises(TypeError, match="whole numbers"):
        one_hot(np.array([True, False]), 2)   # once a mask: one row for two labels
    with pytest.raises(TypeError, match="whole numbers"):
        one_hot(np.array([0.5]), 2)
    with pytest.raises(ValueError, match=r"class index 4 .* 2 bits"):
        bits_of(np.array([1, 4]), 2)


# -- 6. the command line answers a mistake in one line, status 2, before any work -------------

MODELS = '''\
open("imported", "a").close()
from paralens.categories import Real, Sigmoid, dense
from paralens.lenses.learner import Learner
from paralens.lenses.losses import mse
from paralens.lenses.optimisers import GD
learner = Learner(dense(4, 3, Sigmoid), mse(Real(3)), GD())
number = 3


def make():
    open("called", "w").close()
    return learner
'''

#: (arguments, what the one line names); each run in its own folder holding models.py,
#: broken.py (raises on import) and a file named "taken"
MISTAKES = {
    "steps -3": (["demo", "--steps", "-3"], ["--steps", "-3"]),
    "steps 2.5": (["demo", "--steps", "2.5"], ["--steps", "'2.5'"]),
    "lr nan": (["demo", "--lr", "nan"], ["--lr", "nan"]),
    "lr -1": (["demo", "--lr", "-1"], ["--lr", "-1"]),
    "lr 0": (["demo", "--lr", "0"], ["--lr", "0"]),
    "out is a file": (["demo", "--out", "taken"], ["--out taken", "not a folder"]),
    "digits steps 0": (["digits", "--steps", "0"], ["--steps", "0"]),
    "circuits seed -1": (["circuits", "--seed", "-1"], ["--seed", "-1"]),
    "no module": (["compile", "no_such_models:learner", "-o", "step.py"],
                  ["no module named 'no_such_models'"]),
    "no attribute": (["compile", "models:lerner", "-o", "step.py"],
                     ["models has no attribute 'lerner'", "it has: learner"]),
    "a function": (["compile", "models:make", "-o", "step.py"],
                   ["models:make is a function", "not called"]),
    "a number": (["compile", "models:number", "-o", "step.py"], ["models:number is of type int"]),
    "no folder": (["compile", "models:learner", "-o", os.path.join("no", "such", "step.py")],
                  ["-o " + os.path.join("no", "such", "step.py"), "cannot write"]),
    "a folder": (["compile", "models:learner", "-o", "."], ["-o .", "is a folder"]),
    "import fails": (["compile", "broken:x", "-o", "step.py"],
                     ["importing broken failed", "ZeroDivisionError", "broken.py, line 2"]),
    "no colon": (["compile", "models", "-o", "step.py"], ["module:attribute", "'models'"]),
    "bad name": (["compile", "models:learner", "-o", "step.py", "--name", "class"], ["--name"]),
}


@pytest.fixture(scope="module")
def command_runs(tmp_path_factory):
    """Every mistake, and one good compile, run at once in separate processes."""
    runs = {}
    for key, (args, _) in {**MISTAKES, "good": (["compile", "models:learner", "-o", "step.py"],
                                                None)}.items():
        folder = tmp_path_factory.mktemp("cli")
        (folder / "models.py").write_text(MODELS)
        (folder / "broken.py").write_text("x = 1\ny = 1 / 0\n")
        (folder / "taken").write_text("keep me")
        process = subprocess.Popen([sys.executable, "-m", "paralens.interpreters.cli", *args], cwd=folder,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        runs[key] = folder, process
    done = {}
    for key, (folder, process) in runs.items():
        out, err = process.communicate(timeout=300)
        done[key] = folder, process.returncode, out, err
    return done


def test_the_good_compile_imports_the_module_and_writes(command_runs):
    folder, status, out, err = command_runs["good"]
    assert status == 0, err
    assert (folder / "imported").exists() and (folder / "step.py").stat().st_size > 0


@pytest.mark.parametrize("key", sorted(MISTAKES))
def test_a_mistake_on_the_command_line_is_one_line_and_status_2(command_runs, key):
    folder, status, out, err = command_runs[key]
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("paralens "), lines
    for fragment in MISTAKES[key][1]:
        assert fragment in lines[0], (fragment, lines[0])
    assert out == ""                                   # nothing started
    assert (folder / "taken").read_text() == "keep me"
    assert not (folder / "called").exists()            # a function is never called
    assert not (folder / "step.py").exists() and not (folder / "paralens-output").exists()
    if key in ("no folder", "a folder", "no colon", "bad name"):
        assert not (folder / "imported").exists()      # refused before importing anything


def test_resuming_after_a_non_finite_loss_keeps_one_loss_per_step():
    """The history after a NaN holds the loss of the kept parameters; resuming runs
    that step again, and the history still has exactly one loss per step done."""
    from paralens.categories import Real, dense
    from paralens.interpreters.training import NonFiniteLoss, Trainer
    from paralens.lenses.learner import Learner
    from paralens.lenses.losses import mse
    from paralens.lenses.optimisers import GD
    rng = np.random.default_rng(0)
    X, T = 100 * rng.normal(size=(8, 3)), rng.uniform(size=(8, 2))
    trainer = Trainer(Learner(dense(3, 2), mse(Real(2)), GD(lr=1e3)))
    state, params = trainer.learner.init(0)
    with pytest.raises(NonFiniteLoss) as raised:
        trainer.fit(state, params, X, T, steps=200, show=False)
    k = raised.value.step
    assert len(trainer.history) == k - 1 and trainer.checkpoint.step == k - 2
    kept_loss = trainer.history[-1]              # the loss of the parameters kept
    trainer.resume(X, T, steps=1, show=False)    # runs step k − 1 again, from them
    assert trainer.checkpoint.step == k - 1 and len(trainer.history) == k - 1
    assert trainer.history[-1] == kept_loss


def test_fit_takes_lists_with_mini_batches_and_refuses_swapped_arguments():
    from paralens.categories import Real, dense
    from paralens.interpreters.training import Trainer
    from paralens.lenses.learner import Learner
    from paralens.lenses.losses import mse
    from paralens.lenses.optimisers import GD, Adam
    rng = np.random.default_rng(1)
    X, T = rng.normal(size=(10, 3)), rng.uniform(size=(10, 2))
    trainer = Trainer(Learner(dense(3, 2), mse(Real(2)), Adam()))
    state, params = trainer.learner.init(0)
    from_lists = trainer.fit(state, params, X.tolist(), T.tolist(), steps=3, batch_size=5,
                             show=False)
    again = Trainer(trainer.learner).fit(state, params, X, T, steps=3, batch_size=5, show=False)
    for a, b in zip(from_lists[1].values(), again[1].values()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="params must be the parameters' values keyed by name"):
        trainer.fit(state, list(params.values()), X, T, steps=2, show=False)
    with pytest.raises(TypeError, match="keyed by name.*fit takes \\(opt_state, params"):
        trainer.fit(params, state, X, T, steps=2, show=False)
    with pytest.raises(TypeError, match="opt_state must be the list"):
        trainer.fit(None, params, X, T, steps=2, show=False)
    for seed in ("a", 1.5, -1, True):
        with pytest.raises(TypeError, match="seed"):
            trainer.fit(state, params, X, T, steps=2, batch_size=5, seed=seed, show=False)
    with pytest.raises(ValueError, match="too large"):
        GD(lr=10 ** 400)


def test_checkpoints_of_a_learner_without_parameters_and_of_odd_names_load_back(tmp_path):
    from paralens.categories import Linear, Para, Param, Real, Sigmoid, function, lecun
    from paralens.interpreters.training import Trainer
    from paralens.lenses.learner import Learner
    from paralens.lenses.losses import mse
    from paralens.lenses.optimisers import GD
    W = Param(Real(2, 2), "W\nweird name", lecun)
    tied = Para((W, ), function(Real(2, 2) @ Real(2), Real(2))(lambda w, v: Linear(2, 2)(w, v)))
    for model in (Para.lift(Sigmoid(Real(2))), tied):
        learner = Learner(model, mse(Real(2)), GD(lr=0.1))
        trainer = Trainer(learner)
        trainer.fit(*learner.init(), np.ones((4, 2)), np.zeros((4, 2)), steps=2, show=False)
        back = Trainer(learner).load(trainer.save(tmp_path / "ckpt"))
        assert back.step == 2
        for p in model.params:
            np.testing.assert_array_equal(back.params[p], trainer.checkpoint.params[p])


def test_the_demo_refuses_bad_steps_before_any_work(tmp_path):
    from paralens.interpreters.cli import demo
    for steps in (-3, 0, 2.5, True):
        with pytest.raises(ValueError, match="steps must be a whole number"):
            demo(out=str(tmp_path / "never"), steps=steps)
    assert not (tmp_path / "never").exists()
