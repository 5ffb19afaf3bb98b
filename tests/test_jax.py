"""The JAX compiler against the NumPy interpreter (float64, ≤ 1e-12; float32 ≤ 1e-5
relative): every registered Real generator and its lens halves, random diagrams,
learners (every optimiser, loss, reduction and schedule), machines through
``lax.scan`` (forward, BPTT, checkpointed BPTT, truncated segments, forward mode),
and the size of the lowered program, which does not grow with the steps."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

from paralens.categories import Real, Sigmoid, Tanh, cells, dense, laws   # noqa: E402
from paralens.categories.strategies import _pool, diagrams, machines       # noqa: E402
from paralens.interpreters import jax as pj, numpy as pn                  # noqa: E402
from paralens.lenses import R, schedules                                   # noqa: E402
from paralens.lenses.learner import Learner                                # noqa: E402
from paralens.lenses import losses, optimisers                             # noqa: E402
from paralens.lenses.tangent import tangent                                # noqa: E402

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def as_tuple(x):
    return x if isinstance(x, tuple) else (x, )


def inputs(diagram, seed=0, batch=4, steps=6):
    rng = np.random.default_rng(seed)
    out = []
    for w in diagram.dom.inside:
        if w.time:
            out.append(rng.uniform(-1, 1, (batch, steps) + w.shape).astype(w.dtype))
        else:
            out.append(laws.uniform()(w, rng, batch))
    return out


def assert_close(got, want, tol=1e-12):
    got, want = as_tuple(got), as_tuple(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = np.asarray(g)
        w = np.asarray(w)
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        assert np.broadcast_shapes(g.shape, w.shape) == np.shape(w) or g.shape == w.shape, \
            (g.shape, w.shape)
        scale = max(1.0, float(np.max(np.abs(w)))) if w.size else 1.0
        assert np.allclose(g, w, rtol=tol, atol=tol * scale, equal_nan=True), \
            np.max(np.abs(g - w))


def same(diagram, args, summed=(), tol=1e-12):
    want = pn.compile(diagram, summed=summed)(*args)
    got = pj.compile(diagram, summed=summed)(*args)
    assert_close(got, want, tol)
    return got


# -- generators, diagrams, lens halves ---------------------------------------------------------

POOL = _pool(3, smooth=False, total=True)


@pytest.mark.parametrize("box", POOL, ids=[type(b).__name__ for b in POOL])
def test_every_real_generator_and_its_lens_halves(box):
    args = inputs(box)
    same(box, args)
    lens = R(box)
    out = as_tuple(pn.compile(lens.forward)(*args))
    same(lens.forward, args)
    residual = list(out[:len(lens.forward.cod) - len(box.cod)])
    cotangents = inputs(_id(box.cod), seed=1)
    same(lens.backward, residual + cotangents)


def _id(ty):
    from paralens.categories import Id
    return Id(ty)


@settings(max_examples=40, **SETTINGS)
@given(diagrams(max_boxes=5))
def test_random_diagrams(d):
    same(d, inputs(d))


@settings(max_examples=30, **SETTINGS)
@given(diagrams(max_boxes=4))
def test_random_lens_halves(d):
    lens = R(d)
    args = inputs(d)
    out = as_tuple(pn.compile(lens.forward)(*args))
    same(lens.forward, args)
    residual = list(out[:len(lens.forward.cod) - len(d.cod)])
    same(lens.backward, residual + inputs(_id(d.cod), seed=2), summed=())


# -- learners ------------------------------------------------------------------------------------

def mlp(dtype="float64"):
    return dense(4, 6, Sigmoid, dtype=dtype) >> dense(6, 3, Tanh, dtype=dtype)


OPTIMISERS = [optimisers.GD(lr=0.1), optimisers.Momentum(lr=0.1), optimisers.Nesterov(lr=0.1),
              optimisers.Adagrad(lr=0.1), optimisers.Adam(lr=0.01),
              optimisers.AdamW(lr=0.01, weight_decay=0.1),
              optimisers.GD(lr=schedules.cosine_decay_schedule(0.1, 50)),
              optimisers.Adam(lr=schedules.warmup_cosine_decay_schedule(0.0, 0.01, 5, 50)),
              optimisers.GD(lr=0.1, weight_decay=0.01)]


def data(n=8, seed=3, dtype="float64"):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(dtype)
    label = np.eye(3, dtype=dtype)[rng.integers(0, 3, n)]
    return x, label


@pytest.mark.parametrize("optimiser", OPTIMISERS, ids=repr)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_learner_steps_equal_the_interpreter(optimiser, reduction):
    learner = Learner(mlp(), losses.mse(Real(3)), optimiser, reduction=reduction)
    opt_state, params = learner.init(0)
    x, label = data()
    args = list(opt_state) + list(params.values()) + [x, label]
    numpy_step, jax_step = pn.compile(learner.diagram), pj.compile(learner.diagram)
    for _ in range(3):                 # chained: the state each step leaves feeds the next
        want, got = numpy_step(*args), jax_step(*args)
        assert_close(got, want)
        args = list(want) [:-1] + [x, label]


@pytest.mark.parametrize("loss", [losses.mse(Real(3)), losses.softmax_cross_entropy(Real(3)),
                                  losses.huber(Real(3)), losses.hinge(Real(3)),
                                  losses.binary_cross_entropy_with_logits(Real(3))], ids=repr)
def test_every_loss(loss):
    learner = Learner(mlp(), loss, optimisers.Adam(lr=0.01))
    opt_state, params = learner.init(0)
    x, label = data()
    if "hinge" in repr(loss):
        label = 2 * label - 1
    same(learner.diagram, list(opt_state) + list(params.values()) + [x, label])


def test_float32_learner_within_float32_precision():
    learner = Learner(mlp("float32"), losses.mse(Real(3, dtype="float32")),
                      optimisers.Adam(lr=0.01))
    opt_state, params = learner.init(0)
    x, label = data(dtype="float32")
    args = list(opt_state) + list(params.values()) + [x, label]
    got = pj.compile(learner.diagram)(*args)
    want = pn.compile(learner.diagram)(*args)
    for g, w in zip(got, want):
        assert np.asarray(g).dtype == np.float32
        assert np.allclose(g, w, rtol=1e-5, atol=1e-6)


# -- machines through lax.scan --------------------------------------------------------------------

N_IN, N = 3, 5


def machine_args(m, batch, steps, seed=4):
    rng = np.random.default_rng(seed)
    return list(m.init(0).values()) + [rng.normal(size=(batch, N)),
                                       rng.normal(size=(batch, steps, N_IN))]


@pytest.mark.parametrize("cell", [cells.elman, cells.gru])
@pytest.mark.parametrize("batch, steps", [(4, 7), (1, 7), (3, 1), (2, 0)])
def test_machines_forward_and_both_halves_of_R(cell, batch, steps):
    m = cell(N_IN, N)
    args = machine_args(m, batch, steps)
    same(m.diagram, args)
    lens = R(m.diagram)
    out = as_tuple(pn.compile(lens.forward)(*args))
    same(lens.forward, args)
    residual = list(out[:-2])
    rng = np.random.default_rng(5)
    cot = [rng.normal(size=(batch, N)), rng.normal(size=(batch, steps, N))]
    same(lens.backward, residual + cot, summed=range(len(m.params)))


@pytest.mark.parametrize("cell", [cells.elman, cells.gru])
def test_forward_mode_through_scan(cell):
    m = cell(N_IN, N)
    T = tangent(m.diagram)
    args = machine_args(m, 3, 6)
    dargs = machine_args(m, 3, 6, seed=9)
    same(T, args + dargs)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 7, 8])
def test_checkpointed_bptt_through_scan(k):
    m = cells.elman(N_IN, N)
    learner = Learner(m, losses.mse(Real(N)), optimisers.Adam(lr=0.01), recompute=k)
    plain = Learner(m, losses.mse(Real(N)), optimisers.Adam(lr=0.01))
    opt_state, params = learner.init(0)
    rng = np.random.default_rng(6)
    xs, labels = rng.normal(size=(2, 7, N_IN)), rng.normal(size=(2, 7, N))
    args = list(opt_state) + list(params.values()) + [xs, labels]
    got = same(learner.diagram, args)
    assert_close(got, pn.compile(plain.diagram)(*args))


def test_truncated_segment_through_scan():
    m = cells.elman(N_IN, N)
    learner = Learner(m, losses.mse(Real(N)), optimisers.GD(lr=0.1))
    opt_state, params = learner.init(0)
    rng = np.random.default_rng(8)
    args = list(opt_state) + list(params.values()) + [rng.normal(size=(2, N)),
                                                      rng.normal(size=(2, 4, N_IN)),
                                                      rng.normal(size=(2, 4, N))]
    same(learner.segment, args)


@settings(max_examples=15, **SETTINGS)
@given(machines(max_boxes=2))
def test_random_machines_and_their_R(m):
    d = m.diagram
    args = inputs(d, batch=3, steps=5)
    same(d, args)
    lens = R(d)
    out = as_tuple(pn.compile(lens.forward)(*args))
    same(lens.forward, args)
    residual = list(out[:len(lens.forward.cod) - len(d.cod)])
    same(lens.backward, residual + inputs(_id(d.cod), seed=3, batch=3, steps=5),
         summed=range(len(m.params)))


def _equations(jaxpr) -> int:
    """Equations of a closed jaxpr, those of the jaxprs it holds (scan bodies) too."""
    count = 0
    for eq in jaxpr.eqns:
        count += 1
        for value in eq.params.values():
            for sub in (value if isinstance(value, (tuple, list)) else (value, )):
                inner = getattr(sub, "jaxpr", None)
                if inner is not None:
                    count += _equations(inner if hasattr(inner, "eqns") else inner.jaxpr)
    return count


def test_the_lowered_program_does_not_grow_with_the_steps():
    m = cells.gru(N_IN, N)
    learner = Learner(m, losses.mse(Real(N)), optimisers.Adam(lr=0.01))
    step = pj.compile(learner.diagram)
    opt_state, params = learner.init(0)
    sizes = []
    for steps in (10, 10_000):
        args = list(opt_state) + list(params.values()) + [np.zeros((2, steps, N_IN)),
                                                          np.zeros((2, steps, N))]
        sizes.append(_equations(jax.make_jaxpr(step.python)(*args).jaxpr))
    assert sizes[0] == sizes[1]
    assert sizes[0] < 1000


def test_the_source_imports_only_jax_and_runs_alone(tmp_path):
    import importlib.util
    lens = R((dense(4, 5, Sigmoid) >> dense(5, 3, Tanh)).diagram)
    step = pj.compile(lens.backward, summed=range(4), name="backward")
    imports = set(re.findall(r"^(?:import|from) ([\w.]+)", step.source, flags=re.M))
    assert imports <= {"jax", "jax.numpy", "math"}
    path = tmp_path / "backward_jax.py"
    step.save(str(path))
    spec = importlib.util.spec_from_file_location("backward_jax", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert not re.search(r"^(import|from) paralens", step.source, flags=re.M)
    rng = np.random.default_rng(0)
    model = dense(4, 5, Sigmoid) >> dense(5, 3, Tanh)
    args = list(as_tuple(pn.compile(lens.forward)(*model.init(0).values(),
                                                    rng.normal(size=(6, 4)))))[:-1]
    args.append(rng.normal(size=(6, 3)))
    assert_close(jax.jit(module.backward)(*args),
                 pn.compile(lens.backward, summed=range(4))(*args))


def test_parameters_are_arguments_never_constants():
    model = dense(4, 3, Sigmoid)
    step = pj.compile(model.diagram)
    x = np.ones((2, 4))
    first = step(*model.init(0).values(), x)
    second = step(*model.init(1).values(), x)
    assert not np.allclose(first, second)
    assert step.function._cache_size() == 1


def test_bad_inputs_are_refused_in_the_users_words():
    step = pj.compile(dense(4, 3).diagram, arguments=["dense.W", "dense.b", "x"])
    W, b = dense(4, 3).init(0).values()
    with pytest.raises(ValueError, match=r"x \(input 2, wire Real\(4\)"):
        step(W, b, np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"dense.W"):
        step(jax.numpy.ones((3, 3)), b, np.ones((2, 4)))


def test_float64_without_64_bit_mode_is_refused_and_jax_is_optional():
    code = """
import jax
from paralens.categories import dense
from paralens.interpreters import jax as pj
try:
    pj.compile(dense(4, 3).diagram)
except TypeError as error:
    print("refused:", error)
print(pj.compile(dense(4, 3, dtype="float32").diagram).source.count("def "))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "refused:" in out and "jax_enable_x64" in out
    code = """
import sys
sys.modules["jax"] = None
import paralens as pl
from paralens.categories import dense
print(pl.compile(dense(4, 3).diagram).source.count("def "))
try:
    import paralens.interpreters.jax
except ImportError as error:
    print("install:", error)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert 'pip install "paralens[jax]"' in out


def test_the_command_writes_a_jax_module(tmp_path, monkeypatch, capsys):
    from paralens.interpreters.cli import main
    (tmp_path / "jax_target.py").write_text(
        "from paralens.categories import Real, Sigmoid, cells\n"
        "d = Sigmoid(Real(3))\nm = cells.elman(2, 3)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path) + [str(tmp_path)])
    assert main(["compile", "jax_target:d", "-o", "step.py", "--backend", "jax"]) == 0
    namespace = {}
    exec((tmp_path / "step.py").read_text(), namespace)
    x = np.array([[0.0, 1.0, -1.0]])
    np.testing.assert_allclose(namespace["step"](x), 1 / (1 + np.exp(-x)), rtol=1e-15)
    assert main(["compile", "jax_target:m", "-o", "rnn.py", "--backend", "jax"]) == 0
    text = (tmp_path / "rnn.py").read_text()
    assert "lax.scan" in text and "import numpy" not in text


def _stacked(jaxpr) -> int:
    """The elements of what the top-level scans of a jaxpr stack over their steps (their
    outputs past the carry): what a loop keeps for every step (or segment)."""
    total = 0
    for eq in jaxpr.eqns:
        if eq.primitive.name == "scan":
            for v in eq.outvars[eq.params["num_carry"]:]:
                total += int(np.prod(v.aval.shape, dtype=np.int64))
    return total


def test_checkpointed_bptt_keeps_no_per_step_sequence_of_states():
    """With recompute=k the top-level loops stack the state every k steps (and the
    inputs' cotangents), never the per-step residuals (counted in the jaxpr, not
    timed); full BPTT stacks its residuals at every step."""
    m = cells.gru(N_IN, N)
    T, batch, k = 400, 2, 20
    stacked = {}
    for recompute in (None, k):
        learner = Learner(m, losses.mse(Real(N)), optimisers.GD(lr=0.1), recompute=recompute)
        opt_state, params = learner.init(0)
        args = list(opt_state) + list(params.values()) + [np.zeros((batch, T, N_IN)),
                                                          np.zeros((batch, T, N))]
        stacked[recompute] = _stacked(jax.make_jaxpr(pj.compile(learner.diagram).python)(*args).jaxpr)
    assert stacked[None] >= 3 * T * batch * N
    assert stacked[k] <= T // k * batch * N        # the stored states, nothing per step
