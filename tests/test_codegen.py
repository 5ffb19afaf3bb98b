"""The NumPy compiler: generated source against the interpreter, and its passes."""

import importlib.util
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from paralens.categories import Real, Sigmoid, Tanh, copy, dense, discard, laws
from paralens.categories.strategies import diagrams
from paralens.interpreters import codegen, numpy as interpreter
from paralens.lenses import R

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def random_inputs(diagram, seed=0, batch=4):
    rng = np.random.default_rng(seed)
    return [laws.uniform()(w, rng, batch) for w in diagram.dom.inside]


def assert_same(d, summed=()):
    args = random_inputs(d)
    expected = interpreter.compile(d, summed=summed)(*args)
    got = codegen.compile(d, summed=summed)(*args)
    expected = expected if isinstance(expected, tuple) else (expected, )
    got = got if isinstance(got, tuple) else (got, )
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert np.shape(np.broadcast_to(g, np.shape(e))) == np.shape(e)
        assert np.allclose(g, e, rtol=1e-12, atol=1e-12)


@settings(max_examples=150, **SETTINGS)
@given(diagrams(max_boxes=6))
def test_compiled_diagrams_equal_the_interpreter(d):
    assert_same(d)


@settings(max_examples=100, **SETTINGS)
@given(diagrams(max_boxes=4))
def test_compiled_lens_halves_equal_the_interpreter(d):
    lens = R(d)
    assert_same(lens.forward)
    assert_same(lens.backward, summed=range(len(d.dom)))


def test_the_generated_module_needs_only_numpy(tmp_path):
    model = dense(4, 5, Sigmoid) >> dense(5, 3, Tanh)
    lens = R(model.diagram)
    step = codegen.compile(lens.backward, summed=range(len(model.params)), name="backward")
    imports = set(re.findall(r"^(?:import|from) (\w+)", step.source, flags=re.M))
    assert imports == {"math", "numpy"}
    path = tmp_path / "backward_module.py"
    step.save(str(path))
    spec = importlib.util.spec_from_file_location("backward_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    values = model.init(0)
    x = np.random.default_rng(1).normal(size=(6, 4))
    *residual, y = interpreter.compile(lens.forward)(*[values[p] for p in model.params], x)
    dy = np.ones_like(y)
    for a, b in zip(module.backward(*residual, dy), step(*residual, dy)):
        assert np.array_equal(a, b)


def test_dead_code_is_not_computed():
    x = Real(3)
    d = copy(x) >> Sigmoid(x) @ Tanh(x) >> x @ discard(x)
    step = codegen.compile(d)
    assert step.plan.count("Tanh") == 0 and "tanh(" in step.source   # sigmoid is tanh-based
    assert interpreter.compile(d).plan.count("Tanh") == 1


def test_common_subexpressions_run_once():
    x = Real(3)
    d = copy(x) >> Sigmoid(x) @ Sigmoid(x)
    step = codegen.compile(d)
    assert step.plan.count("Sigmoid") == 1
    a, b = step(np.ones((2, 3)))
    assert a is b


def test_constants_stay_scalars():
    step = codegen.compile(R(Sigmoid(Real(3))).backward)
    assert "1.0 - " in step.source and "np.full" not in step.source
    assert step.plan.count("Constant") == 1       # kept in the plan, emitted as a literal


def test_single_precision_end_to_end():
    model = dense(3, 2, Sigmoid, dtype="float32")
    lens = R(model.diagram)
    values = model.init(0)
    x = np.ones((4, 3), np.float32)
    *residual, y = codegen.compile(lens.forward)(*[values[p] for p in model.params], x)
    assert y.dtype == np.float32
    changes = codegen.compile(lens.backward, summed=[0, 1])(*residual, np.ones_like(y))
    assert all(c.dtype == np.float32 for c in changes)


def test_wrong_inputs_are_refused_before_computing():
    step = codegen.compile(dense(4, 3, Sigmoid).diagram)
    with pytest.raises(ValueError, match=r"wire Real\(4\)\) of Linear"):
        step(np.ones((4, 3)), np.ones(3), np.ones((5, 6)))
