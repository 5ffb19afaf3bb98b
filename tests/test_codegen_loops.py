"""The NumPy compiler on loops over time: the generated ``for`` loop against the
NumPy interpreter (``interpreters.numpy``, whose rule runs the once-compiled
stage in a Python loop) and against the independent oracles of
``rnn_reference`` (hand-written Elman forward, BPTT and JVP, a GRU forward)."""

from __future__ import annotations

import ast
import importlib.util

import numpy as np
import pytest

from paralens.categories import (Id, Linear, Loop, Machine, Para, Param, Real, Seq, Tanh, Ty,
                                 cells, delay, function, lecun, zero)
from paralens.interpreters import codegen, numpy as interpreter
from paralens.lenses import R
from paralens.lenses.tangent import tangent

from rnn_reference import elman_bptt, elman_forward, elman_jvp, gru_forward

N_IN, N = 3, 5


def values(machine, seed=0):
    init = machine.init(seed)
    return [init[p] for p in machine.params]


def sequences(diagram, batch=4, steps=7, seed=1, dtype=None):
    """Random inputs of every wire of a diagram: sequences (batch, steps, *shape),
    the rest (batch, *shape)."""
    rng = np.random.default_rng(seed)
    out = []
    for w in diagram.dom.inside:
        shape = (batch, steps) + w.shape if w.time else (batch, ) + w.shape
        out.append(rng.normal(size=shape).astype(dtype or w.dtype))
    return out


def as_tuple(x):
    return x if isinstance(x, tuple) else (x, )


def assert_same(got, want, tol=1e-12):
    got, want = as_tuple(got), as_tuple(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert np.shape(g) == np.shape(w)
        assert g.dtype == w.dtype
        assert np.allclose(g, w, rtol=tol, atol=tol), np.max(np.abs(g - w))


def both(diagram, args, summed=()):
    compiled = codegen.compile(diagram, summed=summed)
    return compiled(*args), interpreter.compile(diagram, summed=summed)(*args), compiled


def loops(source):
    return [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.For)]


# -- the machine's diagram: forward -------------------------------------------------------

@pytest.mark.parametrize("cell", [cells.elman, cells.gru])
@pytest.mark.parametrize("batch, steps", [(4, 7), (1, 7), (4, 1), (1, 1), (4, 0)])
def test_a_compiled_machine_equals_the_interpreter(cell, batch, steps):
    machine = cell(N_IN, N)
    d = machine.diagram
    args = values(machine) + [np.zeros(N)] + sequences(d, batch, steps)[-1:]
    got, want, compiled = both(d, args)
    assert_same(got, want)
    assert len(loops(compiled.source)) == 1


def test_the_compiled_elman_forward_is_the_oracle():
    machine = cells.elman(N_IN, N)
    Wx, Wh, b = values(machine)
    rng = np.random.default_rng(2)
    h0, xs = rng.normal(size=(4, N)), rng.normal(size=(4, 9, N_IN))
    hT, ys = codegen.compile(machine.diagram)(Wx, Wh, b, h0, xs)
    ys_ref, hT_ref = elman_forward(Wx, Wh, b, h0, xs)
    assert np.allclose(ys, ys_ref, rtol=1e-12, atol=1e-12)
    assert np.allclose(hT, hT_ref, rtol=1e-12, atol=1e-12)


def test_the_compiled_gru_forward_is_the_oracle():
    machine = cells.gru(N_IN, N)
    params = dict(zip((p.name for p in machine.params), values(machine)))
    rng = np.random.default_rng(3)
    h0, xs = rng.normal(size=(2, N)), rng.normal(size=(2, 6, N_IN))
    hT, ys = codegen.compile(machine.diagram)(*params.values(), h0, xs)
    ys_ref, hT_ref = gru_forward(params, h0, xs)
    assert np.allclose(ys, ys_ref, rtol=1e-12, atol=1e-12)
    assert np.allclose(hT, hT_ref, rtol=1e-12, atol=1e-12)


# -- R of the loop: the forward loop and the reverse loop (BPTT) ------------------------------

def bptt(machine, args, dhT, dys):
    """(forward, backward) compiled and their results: residuals, then the cotangents
    with the parameters' summed over the batch."""
    lens = R(machine.diagram)
    forward = codegen.compile(lens.forward)
    backward = codegen.compile(lens.backward, summed=range(len(machine.params)))
    out = forward(*args)
    residual = out[:-2]
    return forward, backward, out, backward(*residual, dhT, dys)


@pytest.mark.parametrize("cell", [cells.elman, cells.gru])
@pytest.mark.parametrize("batch, steps", [(4, 7), (1, 7), (3, 1), (2, 0)])
def test_both_halves_of_R_equal_the_interpreter(cell, batch, steps):
    machine = cell(N_IN, N)
    lens = R(machine.diagram)
    rng = np.random.default_rng(4)
    args = values(machine) + [rng.normal(size=(batch, N)),
                              rng.normal(size=(batch, steps, N_IN))]
    out, want, _ = both(lens.forward, args)
    assert_same(out, want)
    cotangents = [rng.normal(size=(batch, N)), rng.normal(size=(batch, steps, N))]
    summed = range(len(machine.params))
    got, want, _ = both(lens.backward, list(out[:-2]) + cotangents, summed=summed)
    assert_same(got, want)
    for g, p in zip(got, machine.params):        # one parameter's shape: summed
        assert g.shape == p.ty.inside[0].shape
    got, want, _ = both(lens.backward, list(out[:-2]) + cotangents)   # per example
    assert_same(got, want)


@pytest.mark.parametrize("batch, steps", [(4, 9), (1, 9), (2, 1)])
def test_compiled_bptt_is_the_hand_written_oracle(batch, steps):
    machine = cells.elman(N_IN, N)
    Wx, Wh, b = values(machine)
    rng = np.random.default_rng(5)
    h0, xs = rng.normal(size=(batch, N)), rng.normal(size=(batch, steps, N_IN))
    dys, dhT = rng.normal(size=(batch, steps, N)), rng.normal(size=(batch, N))
    *_, grads = bptt(machine, [Wx, Wh, b, h0, xs], dhT, dys)
    want = elman_bptt(Wx, Wh, b, h0, xs, dys, dhT)
    for g, name in zip(grads, ("Wx", "Wh", "b", "h0", "xs")):
        assert g.shape == want[name].shape, name
        assert np.max(np.abs(g - want[name])) <= 1e-10, name


def stage_source(source: str, which: int = 0) -> str:
    return ast.unparse(loops(source)[which])


def statements_after_the_loop(source: str) -> str:
    (function, ) = [node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)
                    and node.name == "diagram"]
    at = next(k for k, s in enumerate(function.body) if isinstance(s, ast.For))
    return "\n".join(ast.unparse(s) for s in function.body[at + 1:])


def test_the_batch_summed_weight_cotangents_are_one_matrix_product_after_the_loop():
    """Σ_t x_tᵀ dz_t and Σ_t h_{t−1}ᵀ dz_t need only the stacked dz: they are summed
    after the loop (``interpreters.hoist``), over batch and time at once, one matrix
    product of (B·T, n)ᵀ by (B·T, m) each; the loop keeps the recurrence only."""
    machine = cells.elman(N_IN, N)
    lens = R(machine.diagram)
    backward = codegen.compile(lens.backward, summed=range(3))
    body = stage_source(backward.source)
    assert "None]" not in body and ".T @ " not in body and "+= " not in body
    after = statements_after_the_loop(backward.source)
    assert after.count(".T @ ") == 2 and "None]" not in after   # no per-example outer product
    box = next(eq.box for eq in backward.plan.equations if eq.kind == "Loop")
    assert box.reverse and sorted(box.batch_summed) == [0, 1, 2]
    stage = codegen.stage_plan(box)            # unhoisted, the stage fuses them as well
    assert stage.count("Outer") == 0 and stage.count("OuterSum") == 2
    per_example = codegen.compile(lens.backward)      # without summed=: outer products
    assert "None]" in statements_after_the_loop(per_example.source)


def test_the_emitted_loop_body_is_tight():
    machine = cells.elman(N_IN, N)
    lens = R(machine.diagram)
    for compiled in (codegen.compile(machine.diagram), codegen.compile(lens.forward),
                     codegen.compile(lens.backward, summed=range(3))):
        (loop, ) = loops(compiled.source)
        for node in ast.walk(loop):
            assert not isinstance(node, ast.Call) or ast.unparse(node.func) in (
                "np.tanh", "range", "linear", "linear_t", "outer_sum", "unbroadcast") \
                or ast.unparse(node.func).endswith(".sum"), ast.unparse(node)
            if isinstance(node, ast.Tuple):        # the only tuples: [:, t] slices, shapes
                slice_ = len(node.elts) == 2 and isinstance(node.elts[0], ast.Slice)
                shape = all(isinstance(e, ast.Constant) for e in node.elts)
                assert slice_ or shape, ast.unparse(node)
        slices = [ast.unparse(n) for n in ast.walk(loop) if isinstance(n, ast.Subscript)
                  and isinstance(n.ctx, ast.Load)]
        assert len(slices) == len(set(slices))      # each input sliced once per step


def test_the_forward_loop_of_bptt_stores_each_state_once():
    """The residuals of R(elman) are the state before and after each step and the
    outputs (the state after, again): one array of T + 1 states, written once per
    step, as hand-written BPTT stores its states."""
    lens = R(cells.elman(N_IN, N).diagram)
    source = codegen.compile(lens.forward).source
    (loop, ) = loops(source)
    stores = [n for n in ast.walk(loop) if isinstance(n, ast.Subscript)
              and isinstance(n.ctx, ast.Store)]
    assert len(stores) == 1 and ast.unparse(stores[0]).endswith("[:, t0 + 1]")
    allocations = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)
                   and ast.unparse(n.func) == "np.empty"]
    assert len(allocations) == 1


def test_values_read_inside_a_loop_are_not_deleted_inside_it():
    machine = cells.gru(N_IN, N)
    lens = R(machine.diagram)
    both_halves = lens.forward >> lens.backward       # two loops in one function
    for compiled in (codegen.compile(lens.backward, summed=range(9)),
                     codegen.compile(both_halves, summed=range(9))):
        for loop in loops(compiled.source):
            bound = {t.id for s in ast.walk(loop) if isinstance(s, ast.Assign)
                     for t in ast.walk(s.targets[0])
                     if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
            deleted = {t.id for s in ast.walk(loop) if isinstance(s, ast.Delete)
                       for t in s.targets}
            assert deleted and deleted <= bound


def test_two_loops_in_one_function_equal_the_interpreter():
    machine = cells.gru(N_IN, N)
    lens = R(machine.diagram)
    d = lens.forward >> lens.backward
    rng = np.random.default_rng(6)
    args = values(machine) + [rng.normal(size=(3, N)), rng.normal(size=(3, 5, N_IN))]
    got, want, compiled = both(d, args, summed=range(9))
    assert_same(got, want)
    assert len(loops(compiled.source)) == 2
    steps = [loop.target.id for loop in loops(compiled.source)]
    assert steps[0] != steps[1]
    inner = [{n.id for s in loop.body for n in ast.walk(s) if isinstance(n, ast.Name)
              and isinstance(n.ctx, ast.Store)} for loop in loops(compiled.source)]
    assert not inner[0] & inner[1]     # the stages' values are numbered apart


def test_a_reverse_loop_runs_last_to_first():
    x = Real(2)

    @function(x @ x, x @ x)            # s′ = tanh(s + x), y = s′
    def step(s, a):
        new = Tanh(x)(s + a)
        return new, new
    for reverse in (False, True):
        loop = Loop(step, Ty(), x, x, x, reverse=reverse)
        rng = np.random.default_rng(7)
        args = [rng.normal(size=(3, 2)), rng.normal(size=(3, 6, 2))]
        got, want, compiled = both(loop, args)
        assert_same(got, want)
        s, ys = got
        order = range(5, -1, -1) if reverse else range(6)
        h = args[0]
        for t in order:
            h = np.tanh(h + args[1][:, t])
            assert np.allclose(ys[:, t], h, rtol=1e-12, atol=1e-12)
        assert np.allclose(s, h, rtol=1e-12, atol=1e-12)
        assert ("- 1, -1, -1)" in compiled.source) == reverse


def test_the_states_before_and_after_each_step_in_both_directions():
    x = Real(2)

    @function(x @ x, x @ x @ x @ x)     # s′ = tanh(s + x); stacked: s, s′, s′ again
    def step(s, a):
        new = Tanh(x)(s + a)
        return new, s, new, new
    rng = np.random.default_rng(14)
    for reverse in (False, True):
        loop = Loop(step, Ty(), x, x, x @ x @ x, reverse=reverse)
        for steps in (6, 1, 0):
            args = [rng.normal(size=(3, 2)), rng.normal(size=(3, steps, 2))]
            got, want, compiled = both(loop, args)
            assert_same(got, want)
            s, before, after, again = got
            order = list(range(steps - 1, -1, -1) if reverse else range(steps))
            h = args[0]
            for t in order:
                assert np.array_equal(before[:, t], h)
                h = np.tanh(h + args[1][:, t])
                assert np.array_equal(after[:, t], h) and np.array_equal(again[:, t], h)
        (store, ) = [n for n in ast.walk(loops(compiled.source)[0])
                     if isinstance(n, ast.Subscript) and isinstance(n.ctx, ast.Store)]
        assert ast.unparse(store).endswith("[:, t0]" if reverse else "[:, t0 + 1]")


# -- more kinds of loop -------------------------------------------------------------------

def test_float32_machines_stay_float32():
    machine = cells.elman(N_IN, N, dtype="float32")
    lens = R(machine.diagram)
    rng = np.random.default_rng(8)
    args = values(machine) + [np.zeros(N, np.float32),
                              rng.normal(size=(4, 6, N_IN)).astype(np.float32)]
    out, want, _ = both(lens.forward, args)
    assert_same(out, want, tol=1e-6)
    assert all(o.dtype == np.float32 for o in out)
    cot = [rng.normal(size=(4, N)).astype(np.float32),
           rng.normal(size=(4, 6, N)).astype(np.float32)]
    got, want, compiled = both(lens.backward, list(out[:-2]) + cot, summed=range(3))
    assert_same(got, want, tol=1e-6)
    assert all(g.dtype == np.float32 for g in got)
    assert "np.float64" not in compiled.source


def test_the_tangent_loop_equals_the_interpreter_and_the_jvp_oracle():
    machine = cells.elman(N_IN, N)
    d = tangent(machine.diagram)
    rng = np.random.default_rng(9)
    B, T = 3, 8
    primal = values(machine) + [rng.normal(size=(B, N)), rng.normal(size=(B, T, N_IN))]
    tangents = [rng.normal(size=np.shape(a)) for a in primal]
    got, want, compiled = both(d, primal + tangents)
    assert_same(got, want)
    assert len(loops(compiled.source)) == 1
    hT, ys, dhT, dys = got
    ys_ref, dys_ref = elman_jvp(*primal, *tangents)
    assert np.max(np.abs(ys - ys_ref)) <= 1e-12 and np.max(np.abs(dys - dys_ref)) <= 1e-10


def test_a_loop_with_summed_outputs():
    machine = cells.elman(N_IN, N)
    loop = machine.loop(summed=True)            # P ⊗ S ⊗ Seq(X) → S ⊗ Y, Σ over steps
    rng = np.random.default_rng(10)
    for steps in (6, 1):
        args = values(machine) + [np.zeros(N), rng.normal(size=(4, steps, N_IN))]
        got, want, compiled = both(loop, args)
        assert_same(got, want)
        ys, _ = elman_forward(*args[:3], np.zeros((4, N)), args[-1])
        assert np.allclose(got[1], ys.sum(axis=1), rtol=1e-12, atol=1e-12)
        assert "+= " in stage_source(compiled.source)
    args = values(machine) + [np.zeros(N), np.zeros((4, 0, N_IN))]     # no steps: zeros
    got, want, _ = both(loop, args)
    assert np.array_equal(np.broadcast_to(got[1], (4, N)), np.broadcast_to(want[1], (4, N)))
    assert not np.any(got[1])
    lens = R(loop)                              # the reverse of a sum: a constant cotangent
    out, want, _ = both(lens.forward, args[:-1] + [rng.normal(size=(4, 5, N_IN))])
    assert_same(out, want)
    got, want, _ = both(lens.backward, list(out[:-2]) + [rng.normal(size=(4, N))] * 2,
                        summed=range(3))
    assert_same(got, want)


def clocked(n=4):
    """A machine with no input: s′ = tanh(s W), y = s′, from s₀ = 1/2."""
    h = Real(n)
    W = Param(Real(n, n), "W", lecun)

    @function(W.ty @ h, h @ h)
    def stage(w, s):
        new = Tanh(h)(Linear(n, n)(w, s))
        return new, new
    return Machine(Para((W, ), stage), h, np.full(n, 0.5))


def test_a_clocked_machine_reads_a_clock():
    machine = clocked()
    assert machine.clocked
    d = machine.diagram
    assert d.dom.inside[-1].time and d.dom.inside[-1].shape == (0, )
    (W, ) = values(machine)
    for steps in (5, 1, 0):
        args = [W, machine.initial[0], np.zeros((2, steps, 0))]
        got, want, _ = both(d, args)
        assert_same(got, want)
        h = machine.initial[0]
        for t in range(steps):
            h = np.tanh(h @ W)
            assert np.allclose(got[1][:, t], h, rtol=1e-12, atol=1e-12)
    lens = R(d)
    args = [W, np.tile(machine.initial[0], (2, 1)), np.zeros((2, 6, 0))]
    out, want, _ = both(lens.forward, args)
    assert_same(out, want)
    rng = np.random.default_rng(11)
    got, want, _ = both(lens.backward, list(out[:-2]) + [rng.normal(size=(2, 4)),
                                                         rng.normal(size=(2, 6, 4))],
                        summed=[0])
    assert_same(got, want)


def test_a_delay_register_carries_its_input():
    machine = delay(Real(2), np.array([-1.0, -2.0]))
    d = machine.diagram
    xs = np.arange(10.0).reshape(1, 5, 2)
    got, want, _ = both(d, [machine.initial[0], xs])
    assert_same(got, want)
    s, ys = got
    assert np.array_equal(ys[0, 0], [-1.0, -2.0]) and np.array_equal(ys[0, 1:], xs[0, :-1])
    assert np.array_equal(s[0], xs[0, -1])


# -- one compiled object for every length; the generated module ----------------------------

def test_the_compiled_loop_is_reused_for_every_length():
    machine = cells.gru(N_IN, N)
    lens = R(machine.diagram)
    forward = codegen.compile(lens.forward)
    backward = codegen.compile(lens.backward, summed=range(9))
    reference = interpreter.compile(lens.backward, summed=range(9))
    source = forward.source, backward.source
    rng = np.random.default_rng(12)
    for steps in (0, 1, 3, 40):
        args = values(machine) + [rng.normal(size=(2, N)), rng.normal(size=(2, steps, N_IN))]
        out = forward(*args)
        assert_same(out, interpreter.compile(lens.forward)(*args))
        rest = list(out[:-2]) + [rng.normal(size=(2, N)), rng.normal(size=(2, steps, N))]
        assert_same(backward(*rest), reference(*rest))
    assert (forward.source, backward.source) == source


def test_the_generated_loop_module_needs_only_numpy(tmp_path):
    machine = cells.elman(N_IN, N)
    lens = R(machine.diagram)
    step = codegen.compile(lens.backward, summed=range(3), name="bptt")
    path = tmp_path / "bptt_module.py"
    step.save(str(path))
    spec = importlib.util.spec_from_file_location("bptt_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(13)
    args = values(machine) + [rng.normal(size=(2, N)), rng.normal(size=(2, 4, N_IN))]
    out = codegen.compile(lens.forward)(*args)
    rest = list(out[:-2]) + [rng.normal(size=(2, N)), rng.normal(size=(2, 4, N))]
    for a, b in zip(module.bptt(*rest), step(*rest)):
        assert np.array_equal(a, b)


def test_the_compiler_for_a_machine_and_its_lens_halves_is_this_one():
    machine = cells.elman(N_IN, N)
    lens = R(machine.diagram)
    for d in (machine.diagram, lens.forward, lens.backward, tangent(machine.diagram)):
        assert codegen.compiler_for(d) is codegen.compile
        assert len(loops(codegen.compiler_for(d)(d).source)) == 1


def test_wrong_sequences_are_refused_before_the_loop_runs():
    step = codegen.compile(cells.elman(N_IN, N).diagram)
    machine = cells.elman(N_IN, N)
    with pytest.raises(ValueError, match="a sequence"):
        step(*values(machine), np.zeros(N), np.zeros((2, N_IN)))
    with pytest.raises(ValueError, match="steps"):
        codegen.compile(R(machine.diagram).backward)(
            *values(machine)[:2], np.zeros((2, 3, N_IN)), np.zeros((2, 4, N)),
            np.zeros((2, 4, N)), np.zeros((2, N)), np.zeros((2, 4, N)))


def test_a_step_is_named_like_nothing_else():
    with pytest.raises(ValueError, match="a loop's step"):
        codegen.compile(cells.elman(N_IN, N).diagram, name="t0")


# -- constant sequences, checkpointed loops ----------------------------------------------

def test_a_sequence_that_is_one_number_is_that_number_at_every_step():
    machine = cells.elman(N_IN, N)
    lens = R(machine.diagram)
    back = lens.backward                      # residuals ⊗ S′ ⊗ Seq(Y′) → …
    d = (Id(back.dom[:-2]) @ zero(Real(N)) @ zero(Seq(Real(N)))) >> back
    rng = np.random.default_rng(15)
    args = values(machine)[:2] + [rng.normal(size=(4, 6, w.shape[0])) for w in
                                  back.dom.inside[2:-2]]
    got, want, compiled = both(d, args, summed=range(3))
    assert_same(got, want)
    assert not any(np.any(g) for g in got)   # a zero cotangent pulls back to zero
    (loop, ) = loops(compiled.source)
    assert "0.0" in ast.unparse(loop)        # the number itself, never sliced


@pytest.mark.parametrize("steps", [7, 6, 1, 0])
def test_a_checkpointed_loop_stores_the_state_every_k_steps(steps):
    machine = cells.gru(N_IN, N)
    lens = R(machine.loop(recompute=3))
    rng = np.random.default_rng(16)
    args = values(machine) + [rng.normal(size=(2, N)), rng.normal(size=(2, steps, N_IN))]
    got, want, compiled = both(lens.forward, args)
    assert_same(got, want)
    snaps = got[-3]
    assert snaps.shape == (2, -(-steps // 3), N)
    ys = interpreter.compile(machine.diagram)(*args)[1]
    for k in range(snaps.shape[1]):          # the state before steps 0, 3, 6, …
        before = args[-2] if k == 0 else ys[:, 3 * k - 1]
        assert np.allclose(snaps[:, k], before, rtol=1e-12, atol=1e-12)
    with pytest.raises(NotImplementedError, match=r"Recompute"):
        codegen.compile(lens.backward)


def test_sequences_of_two_lengths_are_refused_as_the_interpreter_refuses_them():
    machine = cells.elman(N_IN, N)
    back = R(machine.diagram).backward
    rng = np.random.default_rng(17)
    args = values(machine)[:2] + [rng.normal(size=(2, 5, N_IN)), rng.normal(size=(2, 5, N)),
                                  rng.normal(size=(2, 4, N)), rng.normal(size=(2, N)),
                                  rng.normal(size=(2, 5, N))]
    messages = []
    for compile_ in (interpreter.compile, codegen.compile):
        with pytest.raises(ValueError, match="4 steps, other sequences have 5") as error:
            compile_(back)(*args)
        messages.append(str(error.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("cell", [cells.elman, cells.gru])
def test_a_recurrent_learners_training_step_equals_the_interpreters(cell):
    """learner.diagram holds a forward and a reverse loop, a zero initial state and a
    zero cotangent of the final state, both numbers read twice (named, not inlined)."""
    import paralens as pl
    from paralens.interpreters.cli import sines
    from paralens.interpreters.training import Trainer
    model = cell(1, 4) >> pl.dense(4, 1)
    learner = pl.Learner(model, pl.mse(Real(1)), pl.Adam(lr=0.01))
    data = sines(8, 12, seed=3)
    runs = []
    for compile_ in (codegen.compile, interpreter.compile):
        trainer = Trainer(learner, compile=compile_)
        state, params = trainer.fit(*learner.init(0), data[:, :-1], data[:, 1:], 3,
                                    batch_size=4, show=False)
        runs.append((state, params, trainer.history))
    (s1, p1, h1), (s2, p2, h2) = runs
    assert np.allclose(h1, h2, rtol=1e-12, atol=1e-12)
    for p in model.params:
        assert np.allclose(p1[p], p2[p], rtol=1e-12, atol=1e-12), p.name
    assert len(loops(codegen.compile(learner.diagram).source)) == 2


def test_a_constant_that_is_one_number_reaches_the_stage_as_an_array_where_one_is_needed():
    from paralens.categories import copy
    machine = cells.elman(N_IN, N)
    d = machine.diagram
    W = d.dom[:1]
    wired = (zero(W) >> copy(W)) @ Id(d.dom[1:])        # Wx = 0, read twice: named
    d = wired >> Id(W) @ d
    rng = np.random.default_rng(18)
    args = values(machine)[1:] + [rng.normal(size=(2, N)), rng.normal(size=(2, 5, N_IN))]
    got, want, compiled = both(d, args)
    assert_same(got, want)
    (loop, ) = loops(compiled.source)
    assert "np.full((3, 5), " in compiled.source     # x_t Wx: made before the loop
