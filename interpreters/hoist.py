"""A loop pays for its recurrence only: the stateless parts of its stage, hoisted.

A loop over time (``categories.stateful.Loop``) runs its stage C ⊗ S ⊗ X → S ⊗
Y ⊗ Z at every step. Only the part of the stage that the next state needs must
run step by step; the rest is stateless, and in St(C) a stateless machine is a
pointwise map of sequences: it may run on the whole sequence at once, its batch
and time axes merged into one ((B, T, …) → (B·T, …)), a per-step sum becoming
one reduction over batch and time (Σ_t h_tᵀ dy_t: one matrix product of
(B·T, n)ᵀ by (B·T, m) instead of T small ones).

:func:`hoisted` rewrites one loop into a plan of (at most) three equations:

* **pre**, an :class:`OverTime` map: the equations that the recurrence needs and
  that read no state (x_t Wx of an Elman cell; in the reverse loop of BPTT, a
  read-out's backward, computed from the residuals and the output cotangents);
* the **core** loop: a ``Loop`` whose stage is only what the state needs, reading
  the pre map's results as new per-step inputs and stacking, as new per-step
  outputs, the state-derived values the rest reads;
* **post**, an :class:`OverTime` map: everything else (the read-out y_t of the
  forward loop; the per-step sums Z of the reverse loop, the parameters'
  cotangents, summed over the steps, and over the batch where the loop sums them
  so, after the loop).

A loop with no stacked outputs (Y empty: a loss summed over the steps, forward
mode of one) is left as it is: hoisting would stack per-step values, and its
memory is independent of the number of steps. Equations that read only constants (and sequences that are one number) are
copied into each part that reads them (they are cheap: numbers, spreads). A
stage holding an equation that reads the batch or time layout (``BatchWeight``,
``SumBatch``, a loop) is left as it is, as is checkpointed BPTT's ``Recompute``.

>>> from paralens.categories import Sigmoid, cells, dense
>>> model = cells.elman(2, 3) >> dense(3, 1, Sigmoid)
>>> plan = hoisted(model.diagram)
>>> [eq.kind for eq in plan.equations]
['OverTime', 'Loop', 'OverTime']
>>> pre, core, post = (eq.box for eq in plan.equations)
>>> [eq.kind for eq in pre.plan.equations], [eq.kind for eq in post.plan.equations]
(['Linear'], ['Linear', 'Bias', 'Sigmoid'])
>>> sorted(eq.kind for eq in flatten(core.stage).equations)
['Add', 'Bias', 'Linear', 'Tanh']
"""

from __future__ import annotations

from dataclasses import dataclass

from ..categories import Ty
from ..categories.stateful import Loop
from ..categories.syntax import as_tuple, function
from .passes import eliminate_common_subexpressions, eliminate_dead_code
from .plan import Equation, Plan, flatten, operation

__all__ = ["OverTime", "hoisted", "NOT_POINTWISE"]


@operation
@dataclass(frozen=True, eq=False)
class OverTime:
    """A stateless plan run at every step at once, on sequences (B, T, …) with the
    batch and time axes merged (B·T, …). Its inputs at ``timed`` are sequences, the
    others constants (the same at every step: a parameter, one example's or every
    example's; a number); its outputs are sequences, but those at ``summed`` are
    summed over the steps and those at ``batch_summed`` (a subset of them) over the
    batch and the steps at once (``plan.sum_over_batch`` on the merged axis: an
    outer product summed so is one matrix product)."""

    plan: Plan
    timed: tuple
    summed: tuple = ()
    batch_summed: tuple = ()
    name = "OverTime"

    def __str__(self):
        return f"OverTime({len(self.plan.equations)} equations)"


#: what reads the layout of the batch (and time) axes: not pointwise in time
NOT_POINTWISE = {"BatchWeight", "SumBatch", "Loop", "Recompute"}

_CONST, _SEQ, _REC = 0, 1, 2


def _stage(box: Loop) -> Plan:
    return eliminate_common_subexpressions(eliminate_dead_code(flatten(box.stage)))


def _with_ancestors(part: set, plan: Plan, producer: dict, kind: list) -> list:
    """The equations of ``part`` and the constant equations they read (copied into
    every part that reads them), in plan order."""
    chosen, stack = set(part), [v for k in part for v in plan.equations[k].ins]
    while stack:
        k = producer.get(stack.pop())
        if k is not None and k not in chosen and kind[k] == _CONST:
            chosen.add(k)
            stack.extend(plan.equations[k].ins)
    return sorted(chosen)


def _reads(plan: Plan, part: list) -> list:
    """The values the equations of ``part`` read and do not make, in order of first read."""
    made = {v for k in part for v in plan.equations[k].outs}
    seen = []
    for k in part:
        for v in plan.equations[k].ins:
            if v not in made and v not in seen:
                seen.append(v)
    return seen


def _diagram(plan: Plan, part: list, ins: list, outs: list):
    """The diagram of the equations ``part`` from the values ``ins`` to ``outs``."""
    ty = lambda vs: Ty._of(tuple(plan.wires[v] for v in vs))

    @function(ty(ins), ty(outs))
    def stage(*wires):
        env = dict(zip(ins, wires))
        for k in part:
            eq = plan.equations[k]
            env.update(zip(eq.outs, as_tuple(eq.box(*[env[v] for v in eq.ins]))))
        return tuple(env[v] for v in outs)
    return stage


def hoisted(box, timed=None) -> Plan | None:
    """The plan [pre, core loop, post] computing what the loop ``box`` computes (its
    inputs and outputs those of the box, sequences included), or None where nothing
    is to be hoisted. ``timed``: the positions within X of the inputs that are
    sequences (default all); the others are one value at every step (a zero
    cotangent passed as a number), constants here."""
    if not isinstance(box, Loop):
        raise TypeError(f"hoisted: expected a loop over time (categories.stateful.Loop), "
                        f"got {box!r}")
    nC, nS, nX = len(box.consts), len(box.state), len(box.xs)
    nY, nZ = len(box.ys), len(box.sums)
    timed = tuple(range(nX)) if timed is None else tuple(sorted(timed))
    if not timed or not nY:     # no stacked outputs: its memory stays independent of T
        return None
    stage = _stage(box)
    if any(eq.kind in NOT_POINTWISE for eq in stage.equations):
        return None
    C, S, X = stage.inputs[:nC], stage.inputs[nC:nC + nS], stage.inputs[nC + nS:]
    state_out = stage.outputs[:nS]
    ys, zs = stage.outputs[nS:nS + nY], stage.outputs[nS + nY:]
    producer = {v: k for k, eq in enumerate(stage.equations) for v in eq.outs}
    cls = {v: _CONST for v in C}
    cls.update({v: _REC for v in S})
    cls.update({v: _SEQ if k in timed else _CONST for k, v in enumerate(X)})
    kind = []
    for eq in stage.equations:
        c = max((cls[v] for v in eq.ins), default=_CONST)
        kind.append(c)
        cls.update({v: c for v in eq.outs})
    needed, stack = set(), list(state_out)      # the ancestors of the next state
    while stack:
        k = producer.get(stack.pop())
        if k is not None and k not in needed:
            needed.add(k)
            stack.extend(stage.equations[k].ins)
    made_by = lambda part: {v for k in part for v in stage.equations[k].outs}

    def reads_of(roots) -> set:
        """The state-derived values the stateless equations above ``roots`` read from
        the recurrence (the walk up stops at the next state's ancestors)."""
        found, seen, stack = set(), set(), list(roots)
        while stack:
            v = stack.pop()
            k = producer.get(v)
            if cls[v] == _REC and (k is None or k in needed):
                found.add(v)
            elif k is not None and k not in seen and k not in needed:
                seen.add(k)
                stack.extend(stage.equations[k].ins)
        return found
    # the Y outputs the core stacks: those of the recurrence and those that are
    # constants (its stacking spreads them over the steps); the others are made on
    # whole sequences (an input sequence is itself)
    y_core = list(dict.fromkeys(v for v in ys if cls[v] == _CONST or cls[v] == _REC
                                and (v not in producer or producer[v] in needed)))
    y_after = list(dict.fromkeys(v for v in ys if cls[v] != _CONST and v not in y_core))
    # a sum of the recurrence's values is made after the loop when the values it reads
    # are stacked anyway (for a Y output), else in the loop: memory stays what it was
    stacked_anyway = reads_of(y_after) | {v for v in y_core if cls[v] == _REC}
    z_core = [k for k, v in enumerate(zs) if cls[v] == _CONST
              or cls[v] == _REC and not reads_of([v]) <= stacked_anyway]
    z_post = [k for k in range(nZ) if k not in z_core]
    core_roots = list(state_out) + y_core + [zs[k] for k in z_core]
    core, pre, seen, stack = set(), set(), set(), list(core_roots)
    while stack:                    # the recurrence, and the stateless part before it
        k = producer.get(stack.pop())
        if k is not None and k not in seen and kind[k] != _CONST:
            seen.add(k)
            (core if kind[k] == _REC else pre).add(k)
            stack.extend(stage.equations[k].ins)
    y_pre = [v for v in y_after if producer.get(v) in pre]
    y_post = [v for v in y_after if v in producer and producer[v] not in pre]
    post_out = y_post + [zs[k] for k in z_post]
    post, stack = set(), list(post_out)     # the post map: everything else they need
    while stack:
        k = producer.get(stack.pop())
        if k is not None and k not in post and k not in core | pre and kind[k] != _CONST:
            post.add(k)
            stack.extend(stage.equations[k].ins)
    if not pre and not post:
        return None
    core_outs = core_roots
    core_part = _with_ancestors(core | {producer[v] for v in core_outs
                                        if cls[v] == _CONST and v in producer},
                                stage, producer, kind)
    pre_part = _with_ancestors(pre, stage, producer, kind)
    post_part = _with_ancestors(post, stage, producer, kind)

    def needs(part, outs) -> list:
        """What a part reads from outside: its equations' inputs, its outputs it does
        not make."""
        made = made_by(part)
        return list(dict.fromkeys(_reads(stage, part) + [v for v in outs if v not in made]))
    core_needs = needs(core_part, core_outs)
    post_reads = needs(post_part, post_out) if post_out else []
    core_c = [v for v in C if v in core_needs]
    core_x = [v for v in core_needs if cls[v] != _REC and v not in C]
    if not any(cls[v] == _SEQ for v in core_x):     # a clock: the steps are counted from it
        core_x.append(X[timed[0]])
    y_core += [v for v in post_reads if cls[v] == _REC and v not in y_core]
    pre_out = list(dict.fromkeys(v for v in core_needs + post_reads + y_pre
                                 if producer.get(v) in pre))
    # the outer plan: the loop's inputs, then fresh values for what crosses a boundary
    wires = list(box.dom.inside)
    outer = {v: k for k, v in enumerate(C + S)}
    outer.update({v: nC + nS + k for k, v in enumerate(X)})
    stacked = {}                    # a value the core stacks ↦ the outer value of its stack

    def fresh(wire) -> int:
        wires.append(wire)
        return len(wires) - 1

    def seq(v) -> int:              # a sequence's outer value, as the maps read it
        return stacked[v] if v in stacked else outer[v]
    equations = []
    if pre_out:
        ins = _reads(stage, pre_part)
        sub = Plan(tuple(ins), [stage.equations[k] for k in pre_part], tuple(pre_out),
                   stage.wires, stage.consumers)
        op = OverTime(sub, tuple(k for k, v in enumerate(ins) if cls[v] == _SEQ))
        outs = tuple(fresh(stage.wires[v].over_time()) for v in pre_out)
        equations.append(Equation(op, tuple(outer[v] for v in ins), outs))
        outer.update(zip(pre_out, outs))
    finals, z_value, snaps = [], {}, []
    if nS or y_core or z_core or box.snapshots:
        core_z = [zs[k] for k in z_core]
        summed = [j for j, k in enumerate(z_core) if k in box.batch_summed]
        loop = Loop(_diagram(stage, core_part, core_c + list(S) + core_x,
                             list(state_out) + y_core + core_z),
                    Ty._of(tuple(stage.wires[v] for v in core_c)), box.state,
                    Ty._of(tuple(stage.wires[v] for v in core_x)),
                    Ty._of(tuple(stage.wires[v] for v in y_core)),
                    Ty._of(tuple(stage.wires[v] for v in core_z)), box.reverse, summed,
                    box.name, snapshots=box.snapshots)
        ins = tuple(outer[v] for v in core_c + list(S) + core_x)
        finals = [fresh(w) for w in box.state.inside]
        stacked.update({v: fresh(stage.wires[v].over_time()) for v in y_core})
        z_value = {k: fresh(stage.wires[zs[k]]) for k in z_core}
        if box.snapshots:
            snaps = [fresh(w.over_time()) for w in box.state.inside]
        equations.append(Equation(loop, ins, tuple(finals + [stacked[v] for v in y_core]
                                                   + list(z_value.values()) + snaps)))
    if post_out:
        n_y = len(y_post)
        sub = Plan(tuple(post_reads), [stage.equations[k] for k in post_part],
                   tuple(post_out), stage.wires, stage.consumers)
        batch = tuple(n_y + j for j, k in enumerate(z_post) if k in box.batch_summed)
        op = OverTime(sub, tuple(k for k, v in enumerate(post_reads) if cls[v] != _CONST),
                      tuple(range(n_y, len(post_out))), batch)
        outs = [fresh(stage.wires[v].over_time()) for v in y_post]
        outs += [fresh(stage.wires[zs[k]]) for k in z_post]
        equations.append(Equation(op, tuple(seq(v) if cls[v] != _CONST else outer[v]
                                            for v in post_reads), tuple(outs)))
        outer.update(zip(y_post, outs))
        z_value.update(zip(z_post, outs[n_y:]))
    outputs = finals + [stacked[v] if v in stacked else outer[v] for v in ys]
    outputs += [z_value[k] for k in range(nZ)] + snaps
    return Plan(tuple(range(len(box.dom))), equations, tuple(outputs), wires, {})
