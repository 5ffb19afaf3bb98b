"""A loop pays for its recurrence only (``interpreters.hoist``): the stateless parts
of a loop's stage run on whole sequences before and after a core loop.

Counted, not timed: the core loop of ``elman >> dense`` (its forward, both halves of
R, its tangent, a learner's step) holds no read-out work. Differential: for random
machines, R of them and their tangents, the hoisted interpreter and the compiled
code equal the unhoisted interpreter (the stage run step by step). The forward
values are computed by the same operations on the same numbers, row by row; the
sums over the steps are not summed in the same order (one reduction over batch and
time, one matrix product of (B·T, n)ᵀ by (B·T, m), where the loop added T partial
sums), so they are equal to rounding: checked to 1e-13 relative.
"""

from __future__ import annotations

import ast

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import paralens as pl
from paralens.categories import Id, Real, Seq, Sigmoid, cells, dense, zero
from paralens.categories.strategies import machines
from paralens.interpreters import codegen, numpy as interpreter
from paralens.interpreters.hoist import OverTime, hoisted
from paralens.interpreters.numpy import RULES, Evaluator, _stepwise_loop
from paralens.interpreters.plan import RuleTable, flatten
from paralens.lenses import R
from paralens.lenses.tangent import tangent

N_IN, N, M = 3, 5, 2

#: the unhoisted interpreter: every loop's whole stage run at every step
UNHOISTED = RuleTable("unhoisted NumPy rules", dict(RULES, Loop=_stepwise_loop))


def unhoisted(diagram, summed=()):
    return Evaluator(diagram, rules=UNHOISTED, summed=summed)


def as_tuple(x):
    return x if isinstance(x, tuple) else (x, )


def assert_close(got, want, tol=1e-13):
    """Equal to rounding: |g − w| ≤ tol · (1 + max |w|), dtypes equal, shapes equal
    but for one case: a value every example shares (a sum over the steps of values
    of a state never batched, one example's shape) which the hoisted loop gives for
    each example (a batch axis in front), as the generated code always did."""
    got, want = as_tuple(got), as_tuple(want)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype, (k, g.dtype, w.dtype)
        if g.shape != w.shape:
            assert g.shape[1:] == w.shape, (k, g.shape, w.shape)
            w = np.broadcast_to(w, g.shape)
        scale = 1.0 + (np.max(np.abs(w)) if w.size else 0.0)
        assert np.all(np.abs(g - w) <= tol * scale), (k, np.max(np.abs(g - w)))


def inputs(diagram, batch, steps, rng, unbatched=()):
    out = []
    for k, w in enumerate(diagram.dom.inside):
        lead = () if k in unbatched else (batch, steps) if w.time else (batch, )
        out.append(rng.normal(size=lead + w.shape).astype(w.dtype))
    return out


def read_out_model():
    return cells.elman(N_IN, N) >> dense(N, M, Sigmoid)


def core_stages(diagram):
    """The stage plans (as the compiler optimises them) of the core loops."""
    found = []
    for eq in flatten(diagram).equations:
        if eq.kind == "Loop":
            plan = hoisted(eq.box)
            assert plan is not None, eq.box.name
            (core, ) = [e.box for e in plan.equations if e.kind == "Loop"]
            found.append((eq.box, plan, codegen.stage_plan(core)))
    return found


# -- the work: no read-out inside the loop ---------------------------------------------------

def test_the_core_forward_loop_holds_the_recurrence_only():
    model = read_out_model()
    ((box, plan, stage), ) = core_stages(model.diagram)
    assert [eq.kind for eq in plan.equations] == ["OverTime", "Loop", "OverTime"]
    assert stage.count("Sigmoid") == 0 and stage.count("Linear") == 1   # h Wh only
    assert stage.count("Tanh") == 1
    whole = codegen.stage_plan(box)             # unhoisted: the read-out, at every step
    assert whole.count("Sigmoid") == 1 and whole.count("Linear") == 3
    pre, _, post = (eq.box for eq in plan.equations)
    assert [eq.kind for eq in pre.plan.equations] == ["Linear"]        # x Wx
    assert sorted(eq.kind for eq in post.plan.equations) == ["Bias", "Linear", "Sigmoid"]


def test_the_core_loops_of_R_hold_no_read_out_and_no_weight_cotangent():
    lens = R(read_out_model().diagram)
    forward, backward = core_stages(lens.forward), core_stages(lens.backward)
    for _, _, stage in forward + backward:
        for kind in ("Sigmoid", "Outer", "OuterSum", "SumBatch", "Exp"):
            assert stage.count(kind) == 0, kind
    (_, _, stage), = forward
    assert stage.count("Linear") == 1
    (box, plan, stage), = backward
    assert box.reverse and [kind for kind in ("LinearT", "Mul", "Add")
                            if stage.count(kind)] == ["LinearT", "Mul", "Add"]
    assert len(stage.equations) == 3          # dz = (ds + e) ⊙ (1 − h²); ds ← dz Whᵀ
    post = plan.equations[-1].box
    assert post.summed and post.plan.count("Outer") == 3   # dWx, dWh, dW_out: after


def test_the_compiled_learner_step_loops_hold_the_recurrence_only():
    learner = pl.Learner(read_out_model(), pl.mse(Real(M)), pl.GD())
    found = core_stages(learner.diagram)
    assert len(found) == 2
    for _, _, stage in found:
        assert stage.count("Sigmoid") == 0 and stage.count("OuterSum") == 0
        assert stage.count("Linear") + stage.count("LinearT") == 1
    source = codegen.compile(learner.diagram).source
    loops = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.For)]
    assert len(loops) == 2
    for loop in loops:
        body = ast.unparse(loop)
        assert "0.5 * np.tanh(0.5" not in body and ".T @ " not in body and "+=" not in body


def test_a_loop_with_no_stacked_outputs_is_left_as_it_is():
    """Forward mode and checkpointed BPTT keep memory independent of T: a loop that
    stacks nothing (its outputs summed over the steps) is not hoisted."""
    summed = cells.elman(N_IN, N).loop(summed=True)
    assert hoisted(summed) is None
    found = [eq.box for eq in flatten(tangent(summed)).equations + flatten(
        R(cells.elman(N_IN, N).loop(summed=True, recompute=3)).forward).equations
        if eq.kind == "Loop"]
    assert len(found) == 2 and all(hoisted(box) is None for box in found)


# -- the same numbers as the unhoisted interpreter ------------------------------------------

def unhoisted_source(diagram, summed=()):
    """The code generator as it was: every loop's whole stage in the ``for`` loop."""
    hoisting = codegen.hoisted
    codegen.hoisted = lambda box, timed=None: None
    try:
        return codegen.compile(diagram, summed=summed)
    finally:
        codegen.hoisted = hoisting


def check(diagram, args, summed=()):
    """Each compiler, hoisted, against itself unhoisted (the two differ already in the
    shape of an empty sum or of a sum of a constant, batched or not)."""
    want = unhoisted(diagram, summed)(*args)
    assert_close(interpreter.compile(diagram, summed=summed)(*args), want)
    compiled = codegen.compile(diagram, summed=summed)
    assert_close(compiled(*args), unhoisted_source(diagram, summed)(*args))
    return want


@pytest.mark.parametrize("batch, steps", [(4, 7), (1, 7), (3, 1), (1, 1), (2, 0)])
def test_the_read_out_model_and_its_lens_equal_the_unhoisted_interpreter(batch, steps):
    model = read_out_model()
    rng = np.random.default_rng(steps)
    init = model.init(0)
    params = [init[p] for p in model.params]
    args = params + [np.zeros(N), rng.normal(size=(batch, steps, N_IN))]
    check(model.diagram, args)
    lens = R(model.diagram)
    out = check(lens.forward, args)
    k = len(lens.residual)
    dys = rng.normal(size=(batch, steps, M))
    check(lens.backward, list(out[:k]) + [rng.normal(size=(batch, N)), dys],
          summed=range(len(params)))
    check(tangent(model.diagram), args + [rng.normal(size=a.shape) for a in args])


def test_forward_values_are_bitwise_those_of_the_unhoisted_interpreter():
    """Elementwise work on the same numbers gives the same bits; the read-out's matrix
    product of all rows at once gives the same bits as T products of B rows here
    (NumPy's matmul at these sizes; BLAS does not promise it at every size)."""
    model = read_out_model()
    rng = np.random.default_rng(0)
    init = model.init(0)
    args = [init[p] for p in model.params] + [np.zeros(N), rng.normal(size=(4, 9, N_IN))]
    want = unhoisted(model.diagram)(*args)
    for got in (interpreter.compile(model.diagram)(*args),
                codegen.compile(model.diagram)(*args)):
        assert all(np.array_equal(g, w) for g, w in zip(got, want))


@st.composite
def composites(draw):
    """A random machine, then a random stateless one (a read-out) after it."""
    m = draw(machines(max_boxes=2))
    readout = draw(machines(dom=m.cod, stateful=False, max_boxes=2))
    return m >> readout


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(composites(), st.integers(1, 3), st.integers(0, 4), st.integers(0, 2 ** 16))
def test_random_machines_their_lenses_and_tangents_equal_the_unhoisted_interpreter(
        m, batch, steps, seed):
    rng = np.random.default_rng(seed)
    d = m.diagram
    params = m.init(seed)
    values = [params[p] for p in m.params]
    args = values + [np.asarray(v) for v in m.initial] + inputs(d, batch, steps, rng)[
        len(values) + len(m.initial):]
    check(d, args)
    lens = R(d)
    out = as_tuple(check(lens.forward, args))
    k = len(lens.residual)
    cotangents = inputs(lens.backward, batch, steps, rng)[k:]
    check(lens.backward, list(out[:k]) + cotangents, summed=range(len(values)))
    check(tangent(d), args + [rng.normal(size=np.shape(a)) for a in args])
    summed = m.loop(summed=True)
    check(summed, args)
    check(R(summed).forward, args)


# -- edge cases -----------------------------------------------------------------------------

def test_a_zero_cotangent_that_is_one_number():
    lens = R(read_out_model().diagram)
    back = lens.backward                      # residuals ⊗ S′ ⊗ Seq(Y′) → …
    d = (Id(back.dom[:-2]) @ zero(Real(N)) @ zero(Seq(Real(M)))) >> back
    rng = np.random.default_rng(3)
    args = inputs(d, 2, 5, rng)
    got = check(d, args, summed=range(5))
    assert not any(np.any(g) for g in got)


def test_a_checkpointed_loop_and_two_loops_in_one_function():
    model = read_out_model()
    init = model.init(0)
    rng = np.random.default_rng(4)
    args = [init[p] for p in model.params] + [rng.normal(size=(2, N)),
                                              rng.normal(size=(2, 7, N_IN))]
    lens = R(model.loop(recompute=3))         # the forward loop stores snapshots
    out = check(lens.forward, args)
    assert out[-3].shape == (2, 3, N)
    (plan, ) = [hoisted(eq.box) for eq in flatten(lens.forward).equations
                if eq.kind == "Loop"]
    assert [eq.box.snapshots for eq in plan.equations if eq.kind == "Loop"] == [3]
    k = len(lens.residual)                    # Recompute (the backward half): unhoisted
    back_args = list(out[:k]) + [rng.normal(size=(2, N)), rng.normal(size=(2, 7, M))]
    assert_close(interpreter.compile(lens.backward, summed=range(5))(*back_args),
                 unhoisted(lens.backward, range(5))(*back_args))
    full = R(model.diagram)                   # two loops in one function
    check(full.forward >> full.backward, args, summed=range(5))


def test_constants_given_for_every_example():
    """A parameter with a batch axis (one per example) is repeated for every step."""
    model = read_out_model()
    init = model.init(0)
    rng = np.random.default_rng(5)
    params = [np.broadcast_to(init[p], (3, ) + init[p].shape)
              + 0.1 * rng.normal(size=(3, ) + init[p].shape) for p in model.params]
    check(model.diagram, params + [np.zeros((3, N)), rng.normal(size=(3, 4, N_IN))])


def test_sequences_of_two_lengths_are_refused():
    back = R(read_out_model().diagram).backward
    rng = np.random.default_rng(6)
    args = inputs(back, 2, 5, rng)
    args[-1] = rng.normal(size=(2, 4, M))
    for compile_ in (interpreter.compile, codegen.compile):
        with pytest.raises(ValueError, match="4 steps, other sequences have 5"):
            compile_(back)(*args)


def test_over_time_is_a_plan_level_operation():
    assert "OverTime" in RULES and "OverTime" in codegen.EMITTERS
    with pytest.raises(TypeError, match="expected a loop"):
        hoisted(dense(2, 2).diagram)
    assert OverTime.name == "OverTime"
