"""Compile a diagram to NumPy source code.

The plan is optimised, then each equation is written out by its generator's
emitter (a table, like every other interpreter), as ``ast`` nodes that
``interpreters.source`` assembles and unparses. The result is a Python
function that uses only NumPy: its source can be read, saved as a module with
no dependency on paralens, and called like the diagram.

Passes, in order:

* batch sums of the ``summed`` outputs, fused into outer products (``plan``);
* ``a + (−b)`` becomes ``a − b``; a number times a wire stays a number (two
  tables of rewrite rules, ``SUBTRACTIONS`` and ``SCALARS``, read by
  ``passes.rewrite``);
* dead-code elimination: nothing is computed that no output needs;
* common-subexpression elimination: equal boxes on equal inputs run once;
* constants are scalar literals, never materialised as arrays, and
  single-use arithmetic is inlined into one expression (of bounded depth);
* in-place updates where safe: an elementwise expression is evaluated into the
  memory of a temporary the function made itself and reads there for the last
  time (``interpreters.inplace``, the batch axes of each result read from
  ``BATCH_AXES``); the caller's arrays are never written.

The function's parameters are ``x0``, ``x1``, …, unless the wires are named
(``arguments=``, ``results=``): then they are the arguments' names as distinct
identifiers, and a docstring lists each argument and result by name and type
(:class:`Compiled`).

>>> from paralens.categories import Real, Sigmoid
>>> from paralens.lenses import R
>>> step = compile(R(Sigmoid(Real(3))).backward)
>>> print(step.source.split("def ")[-1])
diagram(x0, x1):
    v6 = x1 * x0 * (1.0 - x0)
    return v6
<BLANKLINE>

A loop over time (``categories.stateful.Loop``: a machine's diagram, R of it,
its tangent) pays for its recurrence only: the stateless parts of its stage run
on whole sequences, their batch and time axes merged, before and after it
(``interpreters.hoist``: x_t Wx, a read-out, the weights' cotangents summed over
batch and time in one matrix product each); the rest is a ``for`` loop over the
steps with its stage's plan, optimised by the same passes, written inline as its
body: the state rebound, each input sliced once per step, each output stacked
into an array made before the loop, each sum added in place (``stage_plan``,
``_loop``). The source does not depend on the number of steps:

>>> from paralens.categories import cells
>>> rnn = compile(cells.elman(2, 3).diagram)
>>> print(rnn.source.split("def ")[-1])
diagram(x0, x1, x2, x3, x4):
    v15 = x0 if x0.ndim == 2 else np.repeat(x0, x4.shape[1], axis=0)
    v19 = x4.reshape((x4.shape[0] * x4.shape[1], 2))
    v20 = v19 @ v15 if v15.ndim == 2 else linear(v15, v19)
    del v15, v19
    v12 = v20.reshape(x4.shape[:2] + (3,))
    del v20
    v5 = x3
    v6 = np.empty(v12.shape[:2] + (3,), dtype=np.float64)
    for t0 in range(v12.shape[1]):
        v29 = v5 @ x1 if x1.ndim == 2 else linear(x1, v5)
        v5 = np.tanh(v12[:, t0] + v29 + x2)
        del v29
        v6[:, t0] = v5
    del v12
    return (v5, v6)
<BLANKLINE>
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..categories import Scale, Ty
from ..categories.adapter import building

from . import bitsliced, numpy as interpreter, runtime
from .hoist import hoisted
from .passes import eliminate_common_subexpressions, eliminate_dead_code, rewrite
from .plan import Equation, Plan, RuleTable, flatten, operation, sum_over_batch
from .source import _binds, _rename
from .source import (Block, Dialect, carry, chain, check_name, define, dtype_of,
                     identifiers, literal, named_wires, py, save, template)
from .source import emit as _emit

__all__ = ["compile", "compiler_for", "Compiled", "EMITTERS", "optimise", "stage_plan",
           "check_name", "signature"]

# -- plan-level rewrites: tables of rules read by ``passes.rewrite`` --------------------


@operation
@dataclass(frozen=True)
class Sub:
    """a − b (an addition of a negation, folded)."""

    name = "Sub"


def _subtraction(eq, facts):
    """a + (−b) ↦ a − b, and (−b) + a ↦ a − b, when the negation is read only there."""
    if len(eq.ins) == 2:
        a, b = eq.ins
        for x, y in ((a, b), (b, a)):
            neg = facts.single(y, "Neg")
            if neg is not None:
                return Equation(Sub(), (x, neg.ins[0]), eq.outs)


#: Add(a, Neg(b)) ↦ Sub(a, b)
SUBTRACTIONS = RuleTable("subtractions", {"Add": [_subtraction]})


def _value(v, facts):
    """The number v always holds, if it is one: a constant, spread, scaled or negated
    (each value's found once, down a chain without recursion)."""
    known, chain = facts.memo.setdefault("value", {}), []
    while v not in known:
        eq = facts.producer.get(v)
        if eq is None or eq.kind not in ("Constant", "Spread", "Scale", "Neg"):
            known[v] = None
        elif eq.kind == "Constant":
            known[v] = eq.box.c
        else:
            chain.append((v, eq))
            v = eq.ins[0]
    value = known[v]
    for u, eq in reversed(chain):
        if value is not None and eq.kind != "Spread":
            value = -value if eq.kind == "Neg" else eq.box.c * value
        known[u] = value
    return value


def _ty(eq, facts):
    return Ty(facts.wires[eq.outs[0]])


def _double(eq, facts):
    """a + a ↦ 2·a."""
    if len(eq.ins) == 2 and eq.ins[0] == eq.ins[1]:
        facts.uses[eq.ins[0]] -= 1
        return Equation(Scale(2.0, _ty(eq, facts)), eq.ins[:1], eq.outs)


def _by_a_number(eq, facts):
    """c ⊙ x ↦ c·x, x ⊙ c ↦ c·x for a value c that is always one number."""
    for c, other in ((_value(eq.ins[0], facts), eq.ins[1]), (_value(eq.ins[1], facts), eq.ins[0])):
        if c is not None:
            return Equation(Scale(c, _ty(eq, facts)), (other, ), eq.outs)


def _scale_of_scale(eq, facts):
    """c·(d·x) ↦ (c·d)·x when d·x is read only there."""
    inner = facts.single(eq.ins[0], "Scale")
    if inner is not None:
        return Equation(Scale(eq.box.c * inner.box.c, _ty(eq, facts)), inner.ins, eq.outs)


#: what makes one number at run time (a Python number or a 0-d array), whatever its wire
_SCALARS = {"Constant", "Zero", "BatchWeight"}
#: arithmetic that keeps numbers numbers
_ARITHMETIC = {"Scale", "Neg", "Mul", "Add", "Sub"}


def _derived(v, facts, key: str, leaf, combine) -> bool:
    """A fact of v: ``leaf(eq)`` of the equation making it where that decides (True or
    False; an input, with no equation, is ``leaf(None)``), else ``combine`` (``all`` or
    ``any``) of its inputs' facts. Found once per value (memo ``key``), without
    recursion."""
    known = facts.memo.setdefault(key, {})
    stack = [v]
    while stack:
        u = stack[-1]
        if u in known:
            stack.pop()
            continue
        eq = facts.producer.get(u)
        decided = leaf(eq)
        if decided is not None:
            known[u] = decided
            stack.pop()
            continue
        todo = [w for w in eq.ins if w not in known]
        if todo:
            stack.extend(todo)
            continue
        known[u] = combine(known[w] for w in eq.ins)
        stack.pop()
    return known[v]


def _scalar(v, facts) -> bool:
    """v is one number at run time: a constant, a batch weight, arithmetic on them."""
    return _derived(v, facts, "scalar", lambda eq: False if eq is None else True
                    if eq.kind in _SCALARS else None if eq.kind in _ARITHMETIC else False, all)


def _shaped(v, facts) -> bool:
    """v has its wire's own axes at run time (its batch axis may be broadcast): it is
    made from an input or a spread, not from numbers alone."""
    return _derived(v, facts, "shaped", lambda eq: True if eq is None or eq.kind == "Spread"
                    else False if eq.kind in _SCALARS or not eq.ins else None, any)


@operation
@dataclass(frozen=True)
class ScaledBy:
    """c · s · a: a scaled by a number s known only at run time (a batch weight times
    the cap) and a constant c, folded as scalings fold."""

    c: float = 1.0
    name = "ScaledBy"


def _by_a_spread_number(eq, facts):
    """a ⊙ spread(s) ↦ s·a when s is one number at run time (a batch weight times the
    cap, say) and a has its wire's axes: NumPy broadcasts s, no array is spread; a
    scaling c·a read only there joins it, (c·s)·a."""
    for a, b in (eq.ins, eq.ins[::-1]):
        spread = facts.producer.get(b)
        if spread is not None and spread.kind == "Spread" and _scalar(spread.ins[0], facts) \
                and _shaped(a, facts):
            s, c = spread.ins[0], 1.0
            facts.uses[b] -= 1
            facts.uses[s] = facts.uses.get(s, 0) + 1
            inner = facts.single(a, "Scale")
            if inner is not None:
                a, c = inner.ins[0], inner.box.c
            return Equation(ScaledBy(c), (a, s), eq.outs)


@operation
@dataclass(frozen=True)
class ScaledByEach:
    """a ⊙ spread(s) for s one number per example (a stack of them: not a run-time number,
    which ``ScaledBy`` takes): a · s[…, None] (``rank`` new axes), or a / r[…, None] where
    s = 1/r is read only there (``divide``): nothing is spread, no reciprocal formed."""

    rank: int
    divide: bool = False
    name = "ScaledByEach"


def _by_a_spread_value(eq, facts):
    """a ⊙ spread(s) ↦ a · s[…, None] (a / r[…, None] for s = 1/r read only there), s one
    number per example, a of the spread's wire: a normalisation by a sum, say."""
    for a, b in (eq.ins, eq.ins[::-1]):
        spread = facts.single(b, "Spread")
        if spread is not None and not _scalar(spread.ins[0], facts):
            s, divide = spread.ins[0], False
            facts.uses[b] -= 1
            inner = facts.single(s, "Reciprocal")
            if inner is not None:
                s, divide = inner.ins[0], True
            facts.uses[s] = facts.uses.get(s, 0) + 1
            rank = len(spread.box.cod.inside[0].shape)
            return Equation(ScaledByEach(rank, divide), (a, s), eq.outs)


def _scale_of_scaled(eq, facts):
    """c·(d·s·a) ↦ (c·d)·s·a when d·s·a is read only there."""
    inner = facts.single(eq.ins[0], "ScaledBy")
    if inner is not None:
        return Equation(ScaledBy(eq.box.c * inner.box.c), inner.ins, eq.outs)


#: numbers kept numbers: a + a ↦ 2·a, a product with a number ↦ a scaling, c·(d·x) ↦ (c·d)·x,
#: a product with a spread run-time number s ↦ a scaling by s (``ScaledBy``), which
#: constant scalings join (a constant spread to a shape is still that constant: NumPy
#: broadcasts it)
SCALARS = RuleTable("scalar folds", {"Add": [_double],
                                     "Mul": [_by_a_number, _by_a_spread_number,
                                             _by_a_spread_value],
                                     "Scale": [_scale_of_scale, _scale_of_scaled]})


def fold_subtractions(plan: Plan) -> Plan:
    """Add(a, Neg(b)) ↦ Sub(a, b) when the negation is used only there."""
    return rewrite(plan, SUBTRACTIONS)


def fold_scalars(plan: Plan) -> Plan:
    """a + a ↦ 2·a; a product with a constant ↦ a scaling; c·(d·x) ↦ (c·d)·x, when
    the inner value is used only there."""
    return rewrite(plan, SCALARS)


def optimise(plan: Plan) -> Plan:
    passes = (fold_subtractions, eliminate_common_subexpressions, fold_scalars,
              eliminate_dead_code, eliminate_common_subexpressions)
    for run in passes:
        plan = run(plan)
    return plan


# -- emitters: generator name ↦ (box, argument expressions) ↦ expression -----------

def _call(name):
    return template(f"{name}(x)", "x")


def _dtype(box):
    return dtype_of((box.cod or box.dom).inside[0].dtype)


# -- the loop over time: its stage compiled once, its body a ``for`` loop's ---------------

def stage_plan(box, ys=None, sums=None) -> Plan:
    """The optimised plan of a loop's stage: its batch-summed outputs summed (fused
    into matrix products), then this module's passes. ``ys``, ``sums``: the positions
    of the stacked and summed outputs anything reads (default all); the others are
    not computed."""
    nS, nY = len(box.state), len(box.ys)
    plan = sum_over_batch(flatten(box.stage), [nS + nY + k for k in box.batch_summed])
    ys = range(nY) if ys is None else ys
    sums = range(len(box.sums)) if sums is None else sums
    keep = list(range(nS)) + [nS + k for k in ys] + [nS + nY + k for k in sums]
    plan = Plan(plan.inputs, plan.equations, tuple(plan.outputs[k] for k in keep), plan.wires,
                plan.consumers)
    return optimise(plan)


def _store(target: ast.expr) -> ast.expr:
    target.ctx = ast.Store()
    return target


def _stacking(plan, box, used_ys) -> tuple:
    """How the stacked outputs are stored: ``same`` (a y ↦ an earlier y of the same
    value, whose array it is) and ``shared`` (y before ↦ (y after, state wire j)) for
    a y that is the state before each step while another is the state after it: the
    two are views of one array of T + 1 steps (the residuals of BPTT), so neither
    is copied twice."""
    nC, nS = len(box.consts), len(box.state)
    value = dict(zip(used_ys, plan.outputs[nS:nS + len(used_ys)]))
    same, first = {}, {}
    for k in used_ys:
        if value[k] in first:
            same[k] = first[value[k]]
        else:
            first[value[k]] = k
    shared = {}
    for k in used_ys:
        if k in same:
            continue
        for j in range(nS):
            after = first.get(plan.outputs[j])
            if value[k] == plan.inputs[nC + j] and after is not None and after != k \
                    and after not in shared.values():
                shared[k] = (after, j)
                break
    return same, shared


def _same_length(box, k: int, x: ast.expr, first: ast.expr) -> ast.stmt:
    """``if`` sequence k's length is not the first's, the error the interpreter raises
    (checked once, before the loop: a value made inside the function, such as a
    loop's output, is checked by no one else)."""
    wire = box.xs.inside[k].over_time(True)
    message = py("ValueError(a + str(x.shape[1]) + b + str(first.shape[1]) + c)", x=x,
                 first=first, a=f"sequence {k} (wire {wire!r}) of {box.name}: ",
                 b=" steps, other sequences have ",
                 c=" (the sequences of one call have one length)")
    return ast.If(py("x.shape[1] != first.shape[1]", x=x, first=first),
                  [ast.Raise(message, None)], [])


class LoopParts(NamedTuple):
    """A loop equation's inputs and outputs, as a loop rule of any dialect reads them:
    the names (or numbers) of its constants, initial state (a number made an array of
    the state's shape) and sequences; the names of its final state, stacked outputs,
    sums and stored states; which of those anything reads; which inputs are
    sequences (``timed``; the others are one number at every step)."""

    nC: int
    nS: int
    consts: list
    initial: list
    seqs: list
    states: list
    ys: list
    sums: list
    snaps: list
    used_ys: list
    used_sums: list
    used_snaps: list
    timed: list


def loop_parts(box, args, numbers, outs, read) -> LoopParts:
    """The :class:`LoopParts` of a loop equation; an error if none of its inputs is a
    sequence (the number of steps would be unknown)."""
    nC, nS, nY, nZ = len(box.consts), len(box.state), len(box.ys), len(box.sums)
    consts, initial, seqs = args[:nC], args[nC:nC + nS], args[nC + nS:]
    initial = [py("np.full(shape, value, dtype=dtype)", shape=w.shape, value=s,   # a number
                  dtype=dtype_of(w.dtype)) if number else s
               for s, w, number in zip(initial, box.state.inside, numbers[nC:nC + nS])]
    snaps = outs[nS + nY + nZ:]     # with snapshots=k: the state before steps 0, k, 2k, …
    timed = [k for k in range(len(seqs)) if not numbers[nC + nS + k]]   # else one number
    if not timed:
        raise ValueError(f"{box.name}: none of its inputs is a sequence, so the number of "
                         f"steps is unknown")
    return LoopParts(nC, nS, list(consts), initial, list(seqs), list(outs[:nS]),
                     list(outs[nS:nS + nY]), list(outs[nS + nY:nS + nY + nZ]), list(snaps),
                     [k for k in range(nY) if read[nS + k]],
                     [k for k in range(nZ) if read[nS + nY + k]],
                     [j for j in range(len(snaps)) if read[nS + nY + nZ + j]], timed)


def hoisted_loop(box, args, numbers, outs, read, scope):
    """The statements of a loop whose stateless parts run on whole sequences, outside
    it (``interpreters.hoist``: OverTime maps before and after a core loop, the core
    emitted by the dialect's own loop rule), or None where nothing is hoisted. Any
    dialect: the JAX generator's loops are hoisted by it too."""
    timed = loop_parts(box, args, numbers, outs, read).timed
    split = hoisted(box, timed)
    if split is None:
        return None
    nC, nS = len(box.consts), len(box.state)
    seqs = args[nC + nS:]
    kept = [k for k, r in enumerate(read) if r]
    split = eliminate_dead_code(Plan(split.inputs, split.equations,
                                     tuple(split.outputs[k] for k in kept), split.wires, {}))
    numbered = {k for k, number in enumerate(numbers) if number}
    body, returned = scope.body(split, list(args), scope.reserve(len(split.wires)), numbered)
    checks = [_same_length(box, k, seqs[k], seqs[timed[0]]) for k in timed[1:]]
    return checks + _bind(body, [outs[k] for k in kept], returned)


def _loop(box, args, numbers, outs, read, scope):
    """C ⊗ S ⊗ Seq(X) → S ⊗ Seq(Y) ⊗ Z as a ``for`` loop over the steps, the stage's
    body inline: the state's names rebound at each step, each input sliced once per
    step (``x[:, t]``), each output stacked by assignment into an array made before
    the loop (once if two are equal; the state before and after each step share an
    array of T + 1 steps), each sum added in place to zeros (of one example's shape
    when it is summed over the batch too, or when there are no steps: the empty
    sum), the state stored before every k-th step with ``snapshots=k``. A sequence
    that is one number (a zero cotangent) is that number at every step. The
    sequences' lengths are checked once, before the loop; nothing is checked per
    step."""
    split = hoisted_loop(box, args, numbers, outs, read, scope)
    if split is not None:               # its stateless parts run on whole sequences
        return split
    (nC, nS, consts, initial, seqs, states, ys, sums, snaps, used_ys, used_sums, used_snaps,
     timed) = loop_parts(box, args, numbers, outs, read)
    plan = stage_plan(box, used_ys, used_sums)
    for eq in plan.equations:
        if eq.kind == "Loop":
            raise NotImplementedError(
                f"cannot compile the loop {box.name} to source: its stage holds the loop "
                f"{eq.box.name} (nested loops are run by interpreters.numpy)")
    same, shared = _stacking(plan, box, used_ys)
    after = {a: scope.temporary() for a, _ in shared.values()}   # y after ↦ its T + 1 array
    first, t = seqs[timed[0]], scope.step()
    step = ast.Name(t, ast.Load())
    before = [_same_length(box, k, seqs[k], first) for k in timed[1:]]
    before += [ast.Assign([ast.Name(s, ast.Store())], init, lineno=0)
               for s, init in zip(states, initial)]
    every = box.snapshots
    for j in used_snaps:
        w = box.state.inside[j]
        before.append(ast.Assign([ast.Name(snaps[j], ast.Store())], py(
            "np.empty((x.shape[0], -(-x.shape[1] // k)) + shape, dtype=dtype)", x=first,
            k=every, shape=w.shape, dtype=dtype_of(w.dtype)), lineno=0))
    for k in used_ys:
        w = box.ys.inside[k]
        if k in same or k in shared:
            continue
        if k in after:
            j = next(j for a, j in shared.values() if a == k)
            before.append(ast.Assign([ast.Name(after[k], ast.Store())], py(
                "np.empty((x.shape[0], x.shape[1] + 1) + shape, dtype=dtype)", x=first,
                shape=w.shape, dtype=dtype_of(w.dtype)), lineno=0))
            end = _store(py("h[:, -1]" if box.reverse else "h[:, 0]",
                            h=ast.Name(after[k], ast.Load())))
            before.append(ast.Assign([end], initial[j], lineno=0))
            continue
        before.append(ast.Assign([ast.Name(ys[k], ast.Store())], py(
            "np.empty(x.shape[:2] + shape, dtype=dtype)", x=first, shape=w.shape,
            dtype=dtype_of(w.dtype)), lineno=0))
    for k in used_sums:
        w = box.sums.inside[k]
        text = "np.zeros(shape, dtype=dtype)" if k in box.batch_summed else \
            "np.zeros(x.shape[:1] + shape if x.shape[1] else shape, dtype=dtype)"
        before.append(ast.Assign([ast.Name(sums[k], ast.Store())],
                                 py(text, x=first, shape=w.shape, dtype=dtype_of(w.dtype)),
                                 lineno=0))
    inputs = list(consts) + [ast.Name(s, ast.Load()) for s in states] + \
        [x if number else py("x[:, t]", x=x, t=step)
         for x, number in zip(seqs, numbers[nC + nS:])]
    numbered = {k for k, number in enumerate(numbers) if number and not nC <= k < nC + nS}
    body, returned = scope.body(plan, inputs, scope.reserve(len(plan.wires)), numbered)
    sinks = []
    for j in used_snaps:                # the state before every k-th step
        target = _store(py("s[:, t // k]", s=ast.Name(snaps[j], ast.Load()), t=step, k=every))
        sinks.append(ast.If(py("t % k == 0", t=step, k=every),
                            [ast.Assign([target], ast.Name(states[j], ast.Load()), lineno=0)],
                            []))
    for k, expr in zip(used_ys, returned[nS:nS + len(used_ys)]):
        if k in same or k in shared:
            continue
        if k in after:
            target = py("h[:, t]" if box.reverse else "h[:, t + 1]",
                        h=ast.Name(after[k], ast.Load()), t=step)
        else:
            target = py("y[:, t]", y=ast.Name(ys[k], ast.Load()), t=step)
        sinks.append(ast.Assign([_store(target)], expr, lineno=0))
    for k, expr in zip(used_sums, returned[nS + len(used_ys):]):
        sinks.append(ast.AugAssign(ast.Name(sums[k], ast.Store()), ast.Add(), expr, lineno=0))
    steps = py("range(x.shape[1] - 1, -1, -1)" if box.reverse else "range(x.shape[1])", x=first)
    loop = ast.For(ast.Name(t, ast.Store()), steps,
                   carry(body, sinks, list(zip(states, returned[:nS]))), [], lineno=0)
    views = []
    for k, array in after.items():      # the state after / before each step: views
        views.append(ast.Assign([ast.Name(ys[k], ast.Store())], py(
            "h[:, :-1]" if box.reverse else "h[:, 1:]", h=ast.Name(array, ast.Load())), lineno=0))
    for k, (a, _) in shared.items():
        views.append(ast.Assign([ast.Name(ys[k], ast.Store())], py(
            "h[:, 1:]" if box.reverse else "h[:, :-1]", h=ast.Name(after[a], ast.Load())),
            lineno=0))
    for k, earlier in same.items():
        views.append(ast.Assign([ast.Name(ys[k], ast.Store())], ast.Name(ys[earlier], ast.Load()),
                                lineno=0))
    return before + [loop] + views


def _bind(body: list, outs: list, returned: list) -> list:
    """The statements ``body`` with each output's expression bound to its name: a value
    the body names is renamed so where nothing else is, else assigned."""
    bound = {n for statement in body for n in _binds(statement)} - set(outs)
    renamed, tail = {}, []
    for out, expr in zip(outs, returned):
        if isinstance(expr, ast.Name) and expr.id in renamed:
            expr = ast.Name(renamed[expr.id], ast.Load())
        elif isinstance(expr, ast.Name) and expr.id in bound:
            _rename(body, expr.id, out)
            renamed[expr.id] = out
            continue
        tail.append(ast.Assign([ast.Name(out, ast.Store())], expr, lineno=0))
    return body + tail


def _over_time(box, args, numbers, outs, read, scope):
    """A stateless plan run on whole sequences (``hoist.OverTime``): each sequence's
    batch and time axes merged by a reshape, (B, T, …) → (B·T, …), a constant given
    for every example repeated for every step, the plan's body emitted once (its
    batch sums, on the merged axis, sum over the steps too), each output split back
    to (B, T, …) or summed over the steps. Only reshapes, sums and ``np.`` functions
    that ``jax.numpy`` also has; nothing written in place."""
    plan = optimise(sum_over_batch(box.plan, box.batch_summed))
    wires = [box.plan.wires[v] for v in box.plan.inputs]
    first = args[box.timed[0]]
    merged = []
    for k, (x, w) in enumerate(zip(args, wires)):
        if k in box.timed:
            rows = py("x.shape[0] * x.shape[1]", x=x)
            x = py("x.reshape(shape)", x=x,
                   shape=ast.Tuple([rows] + [literal(n) for n in w.shape], ast.Load()))
        elif not numbers[k]:            # one example's, or every example's: repeated
            x = py("x if x.ndim == r else np.repeat(x, first.shape[1], axis=0)", x=x,
                   r=len(w.shape), first=first)
        merged.append(x)
    numbered = {k for k, number in enumerate(numbers) if number}
    body, returned = scope.body(plan, merged, scope.reserve(len(plan.wires)), numbered)
    summed = [(out, expr) for k, (out, expr) in enumerate(zip(outs, returned))
              if read[k] and k in box.batch_summed]
    body = _bind(body, [out for out, _ in summed], [expr for _, expr in summed])
    for k, (out, expr, w) in enumerate(zip(outs, returned,
                                            (box.plan.wires[v] for v in box.plan.outputs))):
        if not read[k] or k in box.batch_summed:
            continue
        if k in box.summed:
            value = py("y.reshape(first.shape[:2] + shape).sum(axis=1) if first.shape[1] "
                       "else np.zeros(shape, dtype=dtype)", y=expr, first=first,
                       shape=w.shape, dtype=dtype_of(w.dtype))
        else:
            value = py("y.reshape(first.shape[:2] + shape)", y=expr, first=first,
                       shape=w.shape)
        body.append(ast.Assign([ast.Name(out, ast.Store())], value, lineno=0))
    return body


def _einsum(box, xs):
    text = runtime.CONTRACTIONS.get(runtime.canonical(box.spec))
    if text is not None:
        return py(text, **dict(zip("ab", xs)))
    names = [f"x{k}" for k in range(len(xs))]
    spec = ",".join("..." + i for i in box.ins) + "->..." + box.out
    return py(f"np.einsum(spec, {', '.join(names)})", spec=spec, **dict(zip(names, xs)))


#: operators whose single use is inlined into its consumer's expression
INLINE = {"Neg", "Scale", "ScaledBy", "Mul", "Add", "Bias", "Sub", "Constant", "Zero"}
#: operators that accept a Python number for any argument (NumPy broadcasts it)
ARITHMETIC = {"Neg", "Scale", "ScaledBy", "Mul", "Add", "Bias", "Sub", "Reciprocal"}

EMITTERS = RuleTable("NumPy emitters", {
    "Add": lambda box, *xs: chain("+", xs),
    "Bias": template("x + b", "b", "x"),
    "Sub": template("a - b", "a", "b"),
    "Neg": template("-x", "x"),
    "Scale": lambda box, x: py("c * x", c=box.c, x=x),
    "ScaledByEach": lambda box, a, s: py("a / np.asarray(s)[index]" if box.divide else
                                         "a * np.asarray(s)[index]", a=a, s=s,
                                         index=(Ellipsis, ) + (None, ) * box.rank),
    "ScaledBy": lambda box, a, s: py("a * s", a=a, s=s) if box.c == 1.0 else
    py("a * (c * s)", a=a, s=s, c=box.c),
    "Mul": template("a * b", "a", "b"),
    "Constant": lambda box: literal(box.c),
    "Zero": lambda box: literal(0.0),
    "Exp": _call("np.exp"),
    "Log": _call("np.log"),
    "Reciprocal": template("1.0 / x", "x"),
    "Sigmoid": template("0.5 + 0.5 * np.tanh(0.5 * x)", "x"),
    "Tanh": _call("np.tanh"),
    "Relu": template("np.maximum(x, 0.0)", "x"),
    "Step": lambda box, x: py("(x > 0).astype(dtype)", x=x, dtype=_dtype(box)),
    "Sin": _call("np.sin"),
    "Cos": _call("np.cos"),
    "Sum": lambda box, x: py("x.sum(axis=axes)", x=x,
                             axes=tuple(range(-len(box.dom.inside[0].shape), 0))),
    "Spread": lambda box, s: py("np.broadcast_to(np.asarray(s)[index], np.shape(s) + shape)", s=s,
                                index=(Ellipsis, ) + (None, ) * len(box.cod.inside[0].shape),
                                shape=box.cod.inside[0].shape),
    "Softmax": _call("softmax"),
    "Sqrt": _call("np.sqrt"),
    "LogSumExp": _call("logsumexp"),
    "Linear": template("x @ W if W.ndim == 2 else linear(W, x)", "W", "x"),
    "LinearT": template("y @ W.T if W.ndim == 2 else linear_t(W, y)", "W", "y"),
    "Outer": template("a[..., :, None] * b[..., None, :]", "a", "b"),
    "OuterSum": template("a.T @ b if a.ndim == b.ndim == 2 else outer_sum(a, b)", "a", "b"),
    "SumBatch": lambda box, x: py("x.sum(axis=0) if x.ndim == n else unbroadcast(x, shape)",
                                  x=x, n=len(box.shape) + 1, shape=box.shape),
    "BatchWeight": lambda box, x: py("dtype(k / x.size)", x=x, dtype=_dtype(box),
                                     k=float(np.prod(box.shape, dtype=int))),
    "Einsum": lambda box, *xs: _einsum(box, xs),
    "Solve": lambda box, M, B: py("solve_vector(M, B)" if box.k is None else
                                  "np.linalg.solve(M, B)", M=M, B=B),
    "LogDet": template("np.linalg.slogdet(M)[1]", "M"),
    "Eye": lambda box: py("np.eye(n, dtype=dtype)", n=box.n, dtype=_dtype(box)),
    "Observed": _call("observed"),
    "OneHot": lambda box, y: py("one_hot(y, n)", y=y, n=box.n),
    "Loop": Block(_loop),
    "OverTime": Block(_over_time),
})

#: helpers the emitted code may call, copied into the module when used
HELPERS = {name: getattr(runtime, name)
           for name in ("softmax", "logsumexp", "linear", "linear_t", "outer_sum", "unbroadcast",
                        "solve_vector", "observed", "one_hot")}

#: how each emitted result's batch axes follow its inputs', for in-place updates
#: (``interpreters.inplace``): "keep", theirs broadcast together (elementwise maps,
#: per-example maps); "drop", none (a sum over the batch, a number); a loop's are
#: its own
BATCH_AXES = RuleTable("batch axes", {
    **dict.fromkeys(["Add", "Bias", "Sub", "Neg", "Scale", "ScaledBy", "ScaledByEach", "Mul",
                     "Exp", "Log",
                     "Reciprocal", "Sigmoid", "Tanh", "Relu", "Step", "Sin", "Cos", "Sum",
                     "Spread", "Softmax", "Sqrt", "LogSumExp", "Linear", "LinearT", "Outer",
                     "Einsum", "Solve", "LogDet", "Observed", "OneHot"],
                    "keep"),
    **dict.fromkeys(["Constant", "Zero", "Eye", "SumBatch", "OuterSum", "BatchWeight"], "drop")})

NUMPY = Dialect(EMITTERS, INLINE, ARITHMETIC, {"Constant", "Zero"}, HELPERS,
                inplace=BATCH_AXES)


def emit(plan: Plan, name: str = "diagram", dialect: Dialect = NUMPY, params=None,
         doc: str = None) -> str:
    """The source of a module defining ``name``, the plan as a NumPy function
    (``params``, ``doc``: its parameters' names and its docstring, :func:`source.emit`)."""
    return _emit(plan, name, dialect, params, doc)


def _shown(name) -> str:
    """A wire's name as a reader sees it: as given, or quoted where it is empty,
    spans lines or is padded with spaces."""
    return name if name and name.isprintable() and name.strip() == name else repr(name)


def _wire(name, ty) -> str:
    typed = f"{ty} {ty.inside[0].dtype}"
    return typed if name is None else f"{_shown(name)}: {typed}"


def _docstring(arguments, results) -> str:
    """The emitted function's docstring: each argument and result, its name and type."""
    lines = ["Arguments:"] + [f"    {_wire(n, w)}" for n, w in arguments]
    lines += ["", "Returns, in order:"] + [f"    {_wire(n, w)}" for n, w in results]
    return "\n".join(f"    {line}" if line and k else line for k, line in enumerate(lines)) \
        + "\n    "


def _signature(name, arguments, results) -> str:
    shown = [_wire(n, w) for n, w in results]
    return (f"{name}({', '.join(_wire(n, w) for n, w in arguments)}) → "
            + (shown[0] if len(shown) == 1 else f"({', '.join(shown)})"))


def signature(diagram, name: str = "diagram", arguments=None, results=None) -> str:
    """The compiled function's signature in one line, each wire by its name (if
    given) and its type; ``arguments``, ``results``: names, one per wire of the
    diagram's domain and codomain (:func:`source.named_wires`), or None.

    >>> from paralens.categories import Real, Sigmoid
    >>> print(signature(Sigmoid(Real(3)), "sigmoid", ["logits"], ["probabilities"]))
    sigmoid(logits: Real(3) float64) → probabilities: Real(3) float64
    >>> print(signature(Sigmoid(Real(3)) @ Sigmoid(Real(1)), "sigmoid"))
    sigmoid(Real(3) float64, Real(1) float64) → (Real(3) float64, Real(1) float64)
    """
    return _signature(name, *named_wires(diagram, arguments, results))


class Compiled:
    """A diagram compiled to NumPy source; calling it checks the inputs first.
    ``arguments``, ``results``: (name, type) pairs, one per wire of the domain and
    codomain, the name None where none was given; ``signature``: them in one line.

    >>> from paralens.categories import Real, Sigmoid
    >>> compiled = compile(Sigmoid(Real(3)), name="sigmoid", arguments=["logits"],
    ...                    results=["probabilities"])
    >>> compiled.arguments, compiled.results
    ((('logits', Real(3)),), (('probabilities', Real(3)),))
    >>> print(compiled.source.split("def ")[-1])
    sigmoid(logits):
        \"\"\"Arguments:
            logits: Real(3) float64
    <BLANKLINE>
        Returns, in order:
            probabilities: Real(3) float64
        \"\"\"
        v1 = 0.5 + 0.5 * np.tanh(0.5 * logits)
        return v1
    <BLANKLINE>
    """

    #: what the source computes on (a subclass may write another dialect: JAX's)
    dialect = None

    def __init__(self, diagram, summed=(), name: str = "diagram", *, arguments=None,
                 results=None):
        dialect = self.dialect or NUMPY
        check_name(name, dialect)
        self.arguments, self.results = named_wires(diagram, arguments, results)
        self._names = [name for name, _ in self.arguments] if arguments is not None else None
        params = None if arguments is None else identifiers(arguments, dialect, avoid={name})
        doc = None if arguments is None and results is None else \
            _docstring(self.arguments, self.results)
        with building():
            self.plan = optimise(sum_over_batch(flatten(diagram), summed))
            self._check_plan(diagram)
            self.name, self.source = name, _emit(self.plan, name, dialect, params, doc)
            self.function = self._define(self.source, name)
        self.diagram = diagram

    def _check_plan(self, diagram):
        """Refuse what this dialect cannot compute (nothing, for NumPy)."""

    def _define(self, source: str, name: str):
        return define(source, name)

    def __call__(self, *args):
        return self.function(*interpreter.check_inputs(self.plan, self.diagram.dom, args,
                                                       self._names))

    @property
    def signature(self) -> str:
        """The function's signature in one line (:func:`signature`)."""
        return _signature(self.name, self.arguments, self.results)

    save = save


#: plan-level operations the generator does not emit, which the NumPy interpreter runs:
#: the backward half of checkpointed BPTT (its segments rerun and differentiated in turn)
INTERPRETED = {"Recompute"}


def compiler_for(diagram):
    """The compiler of a diagram: for a circuit (every wire Bool) the bit-sliced one
    of ``interpreters.bitsliced``; for a diagram with an operation of ``INTERPRETED``
    (checkpointed BPTT) the NumPy interpreter, ``interpreters.numpy.compile``; else
    this module's ``compile``."""
    if all(w.kind == "Bool" for w in diagram.dom.inside + diagram.cod.inside):
        return bitsliced.compile
    if any(eq.kind in INTERPRETED for eq in flatten(diagram).equations):
        return interpreter.compile
    return compile


def compile(diagram, summed=(), name: str = "diagram", *, arguments=None,
            results=None) -> Compiled:
    """Compile a diagram to NumPy source (see the module's passes). ``name``, the
    function's name in the module, must be a Python identifier the module does not
    use for itself (:func:`check_name`). ``arguments``, ``results``: the wires' names,
    one per wire of the domain and codomain (or None): the function's parameters are
    the arguments' names made distinct identifiers (:func:`source.identifiers`:
    ``"dense.W"`` ↦ ``dense_W``), and its docstring lists every argument and result
    by name and type; without names the source is as it always was."""
    check_name(name, NUMPY)
    return Compiled(diagram, summed, name, arguments=arguments, results=results)
