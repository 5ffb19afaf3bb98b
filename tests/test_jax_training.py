"""Training on JAX devices: the trainer's guarantees on the device path (its values
kept on the device, verified every ``sync_every`` steps): the same training as
NumPy's, an exact non-finite stop found by replay, Ctrl-C at a step's boundary,
checkpoints that round-trip bit for bit and cross backends, resumption equal to
uninterrupted training; data-parallel sharding on 8 virtual CPU devices (in a
subprocess, whose XLA flags are set before JAX starts); the recurrent entry points."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

from paralens.categories import Real, Sigmoid, Tanh, cells, dense    # noqa: E402
from paralens.interpreters import jax as pj, recurrent as rec        # noqa: E402
from paralens.interpreters.training import (NonFiniteLoss, Trainer,  # noqa: E402
                                            TruncatedTrainer)
from paralens.lenses import losses, optimisers                      # noqa: E402
from paralens.lenses.learner import Learner                         # noqa: E402


def mlp_learner(optimiser=None, dtype="float64"):
    model = dense(4, 6, Sigmoid, dtype=dtype) >> dense(6, 3, Tanh, dtype=dtype)
    return Learner(model, losses.mse(Real(3, dtype=dtype)), optimiser or optimisers.Adam(lr=0.01))


def data(n=32, seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype(dtype), rng.normal(size=(n, 3)).astype(dtype)


def close(a, b, tol=1e-12):
    return all(np.allclose(a[k], b[k], rtol=tol, atol=tol) for k in a.keys())


def identical(a, b):
    return all(np.array_equal(a[k], b[k]) and np.asarray(a[k]).dtype == np.asarray(b[k]).dtype
               for k in a.keys())


def test_training_on_the_device_is_numpy_training():
    learner = mlp_learner()
    x, t = data()
    numpy_trainer = Trainer(learner)
    device_trainer = Trainer(learner, compile=pj.compile, sync_every=7)
    s1, p1 = numpy_trainer.fit(*learner.init(0), x, t, steps=30, batch_size=8, show=False)
    s2, p2 = device_trainer.fit(*learner.init(0), x, t, steps=30, batch_size=8, show=False)
    assert close(p1, p2) and all(np.allclose(a, b, rtol=1e-12) for a, b in zip(s1, s2))
    assert np.allclose(numpy_trainer.history, device_trainer.history, rtol=1e-12)
    assert len(device_trainer.history) == 30 and device_trainer.checkpoint.step == 30
    assert all(type(v) is np.ndarray for v in [*p2.values(), *s2])   # the checkpoint: host
    assert np.isclose(device_trainer.evaluate(x, t).loss, numpy_trainer.evaluate(x, t).loss)


def test_values_stay_on_the_device_between_verifications(monkeypatch):
    """The host reads the devices once per ``sync_every`` steps, never per step."""
    learner = mlp_learner()
    x, t = data()
    trainer = Trainer(learner, compile=pj.compile, sync_every=5)
    reads, real_get = [], pj.Devices.get

    def get(values):
        reads.append(1)
        return real_get(values)
    monkeypatch.setattr(pj.Devices, "get", staticmethod(get))
    calls, real_call = [], Trainer._call

    def call(self, *args):
        calls.append([type(a).__name__ for a in args])
        return real_call(self, *args)
    monkeypatch.setattr(Trainer, "_call", call)
    trainer.fit(*learner.init(0), x, t, steps=20, batch_size=8, show=False)
    assert len(calls) == 20
    # each verification reads the losses and flags once, the checkpoint once: 4 × 2
    assert len(reads) == 2 * 4
    kept = len(learner.state_type) + len(learner.model.params)
    assert all(name == "ArrayImpl" for c in calls[1:] for name in c[:kept])


def exploding(dtype="float32"):
    """A linear model and a rate that overflow after a few steps."""
    model = dense(4, 3, dtype=dtype)
    return Learner(model, losses.mse(Real(3, dtype=dtype)), optimisers.GD(lr=40.0))


@pytest.mark.parametrize("sync", [1, 3, 4, 50])
def test_a_non_finite_step_is_found_exactly_and_the_last_good_values_kept(sync):
    learner = exploding()
    x, t = data(dtype="float32")
    x *= 3
    with pytest.raises(NonFiniteLoss) as numpy_stop:
        Trainer(learner).fit(*learner.init(0), x, t, steps=200, show=False)
    device = Trainer(learner, compile=pj.compile, sync_every=sync)
    with pytest.raises(NonFiniteLoss) as device_stop:
        device.fit(*learner.init(0), x, t, steps=200, show=False)
    one_by_one = Trainer(learner, compile=pj.compile, sync_every=1)
    with pytest.raises(NonFiniteLoss) as reference:
        one_by_one.fit(*learner.init(0), x, t, steps=200, show=False)
    a, b = device_stop.value, reference.value
    assert a.step == b.step == numpy_stop.value.step > 3
    assert a.kept == b.kept == numpy_stop.value.kept
    assert identical(a.params, b.params) and identical(device.checkpoint.params, b.params)
    assert device.checkpoint.step == a.kept - 1 if "loss" in str(a) else a.kept
    assert device.history == one_by_one.history and len(device.history) == a.step - 1


def test_ctrl_c_stops_at_a_step_boundary_keeping_the_last_completed_step(monkeypatch):
    learner = mlp_learner()
    x, t = data()
    trainer = Trainer(learner, compile=pj.compile, sync_every=10)
    calls, real_call = [], Trainer._call

    def call(self, *args):
        calls.append(1)
        out = real_call(self, *args)
        if len(calls) == 4:
            os.kill(os.getpid(), signal.SIGINT)        # Ctrl-C during step 4
        return out
    monkeypatch.setattr(Trainer, "_call", call)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(*learner.init(0), x, t, steps=12, batch_size=8, show=False)
    assert trainer.checkpoint.step == 4 and len(trainer.history) == 4
    monkeypatch.setattr(Trainer, "_call", real_call)
    trainer.resume(x, t, steps=8, show=False)
    straight = Trainer(learner, compile=pj.compile, sync_every=10)
    straight.fit(*learner.init(0), x, t, steps=12, batch_size=8, show=False)
    assert identical(trainer.checkpoint.params, straight.checkpoint.params)
    assert trainer.history == straight.history


def test_checkpoints_round_trip_bit_for_bit_and_cross_backends(tmp_path):
    learner = mlp_learner()
    x, t = data()
    device = Trainer(learner, compile=pj.compile, sync_every=4)
    device.fit(*learner.init(0), x, t, steps=6, batch_size=8, show=False)
    path = device.save(tmp_path / "device")
    again = Trainer(learner, compile=pj.compile)
    loaded = again.load(path)
    assert identical(loaded.params, device.checkpoint.params)
    assert all(np.array_equal(a, b) for a, b in zip(loaded.opt_state, device.checkpoint.opt_state))
    # resume on the device equals uninterrupted device training, bit for bit
    again.resume(x, t, steps=5, show=False)
    straight = Trainer(learner, compile=pj.compile, sync_every=4)
    straight.fit(*learner.init(0), x, t, steps=11, batch_size=8, show=False)
    assert identical(again.checkpoint.params, straight.checkpoint.params)
    # the file loads into a NumPy trainer, which resumes from it
    numpy_trainer = Trainer(learner)
    numpy_trainer.load(path)
    numpy_trainer.resume(x, t, steps=5, show=False)
    assert close(numpy_trainer.checkpoint.params, straight.checkpoint.params)
    # and a NumPy checkpoint into a device trainer
    numpy_path = numpy_trainer.save(tmp_path / "numpy")
    third = Trainer(learner, compile=pj.compile)
    assert identical(third.load(numpy_path).params, numpy_trainer.checkpoint.params)


def test_truncated_bptt_on_the_device_is_numpy_truncated_bptt():
    m = cells.elman(2, 4)
    learner = Learner(m, losses.mse(Real(4)), optimisers.Adam(lr=0.01))
    rng = np.random.default_rng(1)
    xs, ys = rng.normal(size=(4, 10, 2)), rng.normal(size=(4, 10, 4))
    numpy_trainer = TruncatedTrainer(learner, 3)
    device = TruncatedTrainer(learner, 3, compile=pj.compile, sync_every=3)
    numpy_trainer.fit(*learner.init(0), xs, ys, steps=9, show=False)
    device.fit(*learner.init(0), xs, ys, steps=9, show=False)
    assert close(numpy_trainer.checkpoint.params, device.checkpoint.params)
    assert all(np.allclose(a, b, rtol=1e-12) for a, b in
               zip(numpy_trainer.checkpoint.state, device.checkpoint.state))
    assert np.allclose(numpy_trainer.history, device.history, rtol=1e-12)


def test_the_recurrent_entry_points_take_the_jax_compiler():
    m = cells.gru(2, 3)
    params = m.init(0)
    rng = np.random.default_rng(2)
    xs, dys = rng.normal(size=(3, 8, 2)), rng.normal(size=(3, 8, 3))
    for a, b in zip(rec.run(m, params, xs), rec.run(m, params, xs, compile=pj.compile)):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-12)
    for kwargs in ({}, {"recompute": 3}, {"truncate": 3}):
        g1 = rec.gradient(m, params, xs, dys, **kwargs)
        g2 = rec.gradient(m, params, xs, dys, compile=pj.compile, **kwargs)
        assert g1.keys() == g2.keys()
        assert all(np.allclose(g1[k], g2[k], rtol=1e-11, atol=1e-12) for k in g1.keys())
    tangents = {name: np.ones_like(v) for name, v in params.items()}
    j1 = rec.jvp(m, params, xs, dxs=dys[..., :2], dparams=tangents)
    j2 = rec.jvp(m, params, xs, dxs=dys[..., :2], dparams=tangents, compile=pj.compile)
    for a, b in zip(j1, j2):
        a, b = (a, ) if isinstance(a, np.ndarray) else a, (b, ) if hasattr(b, "shape") else b
        assert all(np.allclose(u, v, rtol=1e-12, atol=1e-12) for u, v in zip(a, b))


def test_devices_need_the_jax_compiler_and_a_shareable_batch():
    learner = mlp_learner()
    with pytest.raises(TypeError, match="compile=paralens.interpreters.jax.compile"):
        Trainer(learner, devices=jax.devices())
    with pytest.raises(TypeError, match="devices"):
        Trainer(learner, compile=pj.compile, devices=["cpu"])


SHARDED = textwrap.dedent("""
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from paralens.categories import Real, Sigmoid, Tanh, dense
    from paralens.interpreters import jax as pj
    from paralens.interpreters.training import Trainer
    from paralens.lenses import losses, optimisers
    from paralens.lenses.learner import Learner
    assert len(jax.devices()) == 8
    model = dense(4, 6, Sigmoid) >> dense(6, 3, Tanh)
    learner = Learner(model, losses.mse(Real(3)), optimisers.Adam(lr=0.01))
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(64, 4)), rng.normal(size=(64, 3))
    one = Trainer(learner, compile=pj.compile)
    eight = Trainer(learner, compile=pj.compile, devices=jax.devices())
    one.fit(*learner.init(0), x, t, steps=10, batch_size=16, show=False)
    eight.fit(*learner.init(0), x, t, steps=10, batch_size=16, show=False)
    worst = max(np.max(np.abs(one.checkpoint.params[k] - eight.checkpoint.params[k]))
                for k in one.checkpoint.params.keys())
    print("worst", worst)
    print("history", max(abs(a - b) for a, b in zip(one.history, eight.history)))
    # one step by hand: the parameters replicated, the batch sharded
    opt_state, params = learner.init(0)
    start = eight._to_devices(__import__("paralens.interpreters.training",
                                         fromlist=["Checkpoint"]).Checkpoint(opt_state, params))
    xb, tb = eight.devices.put([x[:16], t[:16]], batched=True)
    out, finite = eight.step_function(*start.opt_state, *start.params, xb, tb)
    kept = len(opt_state) + len(params)
    print("replicated", all(v.sharding.is_fully_replicated for v in out[:kept]))
    print("batch_devices", len(out[-1].sharding.device_set), out[-1].sharding.spec)
    print("x_devices", len(xb.addressable_shards), xb.addressable_shards[0].data.shape)
    try:
        eight.fit(*learner.init(0), x, t, steps=1, batch_size=12, show=False)
    except ValueError as error:
        print("refused", error)
""")


def test_data_parallel_training_on_8_devices_equals_one_device():
    out = subprocess.run([sys.executable, "-c", SHARDED], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
    assert float(lines["worst"]) < 1e-12 and float(lines["history"]) < 1e-12
    assert lines["replicated"] == "True"
    assert lines["batch_devices"].startswith("8 ")
    assert lines["x_devices"] == "8 (2, 4)"
    assert "multiple of 8" in lines["refused"]
