"""In-place updates of the generated code (``interpreters.inplace``) against the
same code without them (the NumPy dialect with ``inplace=None``): the same bits,
the same dtypes and shapes; no argument written; no two results, and no result
and argument, sharing memory unless they did without them. The cases where
writing into a temporary would be wrong are each built on purpose: a value a
view may be taken of (a sum over the batch of one example is the value itself),
a value returned beside another made from it, a value made from inputs that
may be unbatched where another operand is batched (each combination called),
and values read by loops over time (zero steps: the state is the argument)."""

from __future__ import annotations

import ast
import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paralens.categories import (Exp, Id, Para, Real, Relu, Seq, Sigmoid, SumBatch, Tanh, Zero,
                                 cells, delay, dense, function, laws)
from paralens.categories.strategies import diagrams
from paralens.interpreters import codegen, inplace, numpy as interpreter
from paralens.lenses import R
from paralens.lenses.learner import Learner
from paralens.lenses.losses import mse, softmax_cross_entropy
from paralens.lenses.optimisers import GD, Adagrad, Adam, Momentum, Nesterov

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
PLAIN = dataclasses.replace(codegen.NUMPY, inplace=None)
X = Real(3)


def as_tuple(x):
    return x if isinstance(x, tuple) else (x, )


def without_inplace(compiled):
    """The function the compiler wrote before in-place updates, from the same plan."""
    return codegen.define(codegen.emit(compiled.plan, dialect=PLAIN), "diagram")


def written(source: str) -> set:
    """The names the source writes into: ``out=`` targets, ``x op= y`` targets."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg == "out":    # out=v or out=v if … else None
            target = node.value.body if isinstance(node.value, ast.IfExp) else node.value
            names.add(target.id)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def check_invisible(diagram, args, summed=()):
    """The compiled function (in place) and the one without in-place updates agree bit
    for bit on ``args``; neither writes its arguments; results share memory with each
    other or with an argument only where they did without in-place updates."""
    compiled = codegen.compile(diagram, summed=summed)
    ours = interpreter.check_inputs(compiled.plan, diagram.dom, args)
    theirs = [a.copy() for a in ours]
    kept = [a.copy() for a in ours]
    got = as_tuple(compiled.function(*ours))
    want = as_tuple(without_inplace(compiled)(*theirs))
    for k, (a, b) in enumerate(zip(ours, kept)):
        np.testing.assert_array_equal(a, b, err_msg=f"argument {k} was written")
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert type(g) is type(w) and np.shape(g) == np.shape(w), k
        assert np.asarray(g).dtype == np.asarray(w).dtype, k
        np.testing.assert_array_equal(g, w, err_msg=f"result {k}")
    for i, g in enumerate(got):
        for j, h in enumerate(got[:i]):
            if np.shares_memory(g, h):
                assert np.shares_memory(want[i], want[j]), f"results {j} and {i} share memory"
        for k, a in enumerate(ours):
            if np.shares_memory(g, a):
                assert np.shares_memory(want[i], theirs[k]), f"result {i} is argument {k}"
    return compiled


def inputs(diagram, batched, seed=0, batch=4, low=-1.0):
    """Random inputs in [low, 1], wire k batched when ``batched[k]`` (cycled)."""
    rng = np.random.default_rng(seed)
    sample = laws.uniform(low, 1.0)
    return [sample(w, rng, batch if batched[k % len(batched)] else None)
            for k, w in enumerate(diagram.dom.inside)]


@settings(max_examples=100, **SETTINGS)
@given(diagrams(max_boxes=6), st.lists(st.booleans(), min_size=1, max_size=4))
def test_random_diagrams_and_their_lens_halves_compute_the_same_bits(d, batched):
    check_invisible(d, inputs(d, batched))
    lens = R(d)
    check_invisible(lens.forward, inputs(lens.forward, batched))
    check_invisible(lens.backward, inputs(lens.backward, batched), summed=range(len(d.dom)))


OPTIMISERS = [GD(lr=0.1), Momentum(), Nesterov(), Adagrad(), Adam()]


@pytest.mark.parametrize("optimiser", OPTIMISERS, ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("loss", [mse, softmax_cross_entropy])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_training_step_writes_only_its_own_temporaries(optimiser, loss, dtype):
    """The parameters and optimiser state given are never written (the trainer keeps
    them to roll back a step that is not finite); per-example parameters (batched,
    as the input checks allow) make the guarded updates take new arrays."""
    model = Para.id(Real(4, dtype=dtype)).then(dense(4, 5, Sigmoid, dtype),
                                               dense(5, 3, Relu, dtype))
    learner = Learner(model, loss(Real(3, dtype=dtype)), optimiser)
    d = learner.diagram
    n = len(d.dom.inside)
    for batched in ([False] * (n - 2) + [True, True], [True] * n, [False] * n,
                    [True, False] * n):
        compiled = check_invisible(d, inputs(d, batched[:n], seed=len(batched), low=0.0))
    assert written(compiled.source) - {f"v{k}" for k in range(len(compiled.plan.wires))} == set()
    assert "out=" in compiled.source           # the pass did something here


def test_a_value_a_view_may_be_taken_of_is_not_written():
    """On one example the sum over the batch is the value itself (``unbroadcast``
    returns it): the value read last by ``a + x`` after it must keep its memory."""
    @function(X, X @ X)
    def f(x):
        a = Tanh(X)(x) * x
        return SumBatch(X)(a), a + x
    for batch in (4, None):
        compiled = check_invisible(f, [laws.uniform()(X.inside[0], np.random.default_rng(0),
                                                      batch)])
    tree = ast.parse(compiled.source)
    summed = next(node.targets[0].id for node in ast.walk(tree) if isinstance(node, ast.Assign)
                  and "unbroadcast(" in ast.unparse(node.value))
    viewed = next(n.id for n in ast.walk(ast.parse(compiled.source))
                  if isinstance(n, ast.Assign) and n.targets[0].id == summed
                  for n in ast.walk(n.value) if isinstance(n, ast.Name) and n.id.startswith("v"))
    assert viewed not in written(compiled.source)


def test_a_value_returned_is_not_written_for_another_result():
    @function(X, X @ X @ X)
    def f(x):
        a = Tanh(X)(x)
        b = a * x
        return a, b, Exp(X)(b) + a
    compiled = check_invisible(f, [np.linspace(-1, 1, 12).reshape(4, 3)])
    returned = ast.parse(compiled.source).body[-1].body[-1].value
    assert not written(compiled.source) & {n.id for n in ast.walk(returned)
                                           if isinstance(n, ast.Name)} - {"np"}


@pytest.mark.parametrize("w_batched", [False, True])
@pytest.mark.parametrize("x_batched", [False, True])
def test_an_operand_that_may_broadcast_is_guarded(w_batched, x_batched):
    """a = tanh(w)·w is made from w alone; a + x widens it where x is batched and w is
    not: the update is guarded by x being unbatched, else it takes a new array."""
    @function(X @ X, X)
    def g(w, x):
        return Sigmoid(X)(Tanh(X)(w) * w + x)
    rng = np.random.default_rng(1)
    sample = laws.uniform()
    compiled = check_invisible(g, [sample(X.inside[0], rng, 4 if w_batched else None),
                                   sample(X.inside[0], rng, 4 if x_batched else None)])
    assert "if x1.ndim == 1 else None" in compiled.source


@pytest.mark.parametrize("cell", [cells.elman, cells.gru])
@pytest.mark.parametrize("batch, steps", [(4, 7), (1, 3), (2, 0)])
def test_loops_over_time_and_their_lens_halves(cell, batch, steps):
    """Nothing read or bound by a loop is written into; with zero steps the final
    state is the initial state given, which must not be written either."""
    machine = cell(2, 3)
    init = machine.init(0)
    rng = np.random.default_rng(2)
    args = [init[p] for p in machine.params] + [rng.normal(size=(batch, 3)),
                                                rng.normal(size=(batch, steps, 2))]
    check_invisible(machine.diagram, args)
    lens = R(machine.diagram)
    out = codegen.compile(lens.forward)(*args)
    check_invisible(lens.forward, args)
    cotangents = [rng.normal(size=(batch, 3)), rng.normal(size=(batch, steps, 3))]
    check_invisible(lens.backward, list(out[:-2]) + cotangents,
                    summed=range(len(machine.params)))


def test_a_state_a_loop_leaves_as_a_view_of_its_input_is_not_written():
    """A delay register's state after the loop is the last input step, a view of the
    argument (``v = x[:, t]``), though the state before the loop is a new array."""
    d = (Zero(X) @ Id(Seq(X))) >> delay(X).diagram >> (Sigmoid(X) @ Id(Seq(X)))
    compiled = check_invisible(d, [np.arange(24.0).reshape(2, 4, 3) / 24])
    assert len([n for n in ast.walk(ast.parse(compiled.source)) if isinstance(n, ast.For)]) == 1


def test_a_recurrent_learners_step():
    model = cells.elman(1, 4) >> dense(4, 1)
    learner = Learner(model, mse(Real(1)), Adam(lr=0.01))
    d = learner.diagram
    rng = np.random.default_rng(3)
    args = [rng.uniform(0.0, 1.0, size=w.shape) for w in d.dom.inside[:-2]] + \
        [rng.normal(size=(4, 6, 1)), rng.normal(size=(4, 6, 1))]
    check_invisible(d, args)


def test_what_makes_a_new_array():
    fresh = lambda text: inplace.fresh(ast.parse(text, mode="eval").body)
    assert fresh("a * b") and fresh("np.tanh(a)") and fresh("a.sum(axis=0)")
    assert fresh("x @ W if W.ndim == 2 else linear(W, x)")
    for view in ("a", "a.T", "a[:, 0]", "np.broadcast_to(a, (3, 4))", "np.asarray(a)",
                 "unbroadcast(a, (3,))", "a if c else b * 2", "np.add(a, b, out=b)",
                 "a.astype(d, copy=False)"):
        assert not fresh(view), view
