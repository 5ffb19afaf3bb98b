"""NumPy semantics: a rule table from generator name to array function.

The batch axis is implicit and leading: an input of a wire of shape s is an
array of shape s (one example, or a value shared by every example, such as a
parameter) or (batch, *s). Rules broadcast over the leading axis, so the
reverse of sharing a value with every example is a sum over the batch
(:func:`unbroadcast`).

>>> import numpy as np
>>> from paralens.categories import Real, Sigmoid, Mul, copy
>>> x = Real(2)
>>> square = compile(copy(x) >> Mul(x))
>>> square(np.array([[1., 2.], [3., 4.]]))
array([[ 1.,  4.],
       [ 9., 16.]])
>>> try:
...     square(np.ones((5, 3)))
... except ValueError as error:
...     print(error)
input 0 (wire Real(2)) of Mul: expected an array of shape (2,) or (batch, 2), got (5, 3)
"""

from __future__ import annotations

import numpy as np

from ..categories import Ty
from .runtime import (contraction, linear, linear_t, logdet, logsumexp, observed, one_hot, outer_sum, softmax,
                      solve_vector, unbroadcast)
from .passes import eliminate_common_subexpressions, eliminate_dead_code
from .plan import RuleTable, flatten, last_uses, sum_over_batch
from .hoist import hoisted
from .arrays import exact
from .source import named_wires

__all__ = ["RULES", "Evaluator", "compile", "evaluate", "unbroadcast", "check_inputs", "reader",
           "derived"]


def _dtype(box):
    return (box.cod or box.dom).inside[0].dtype


def _axes(box, wire=None):
    """The per-example axes of a box's input wire, counted from the end."""
    shape = (wire or box.dom.inside[0]).shape
    return tuple(range(-len(shape), 0))


def _sigmoid(x):
    return 0.5 + 0.5 * np.tanh(0.5 * x)


def _spread(box):
    shape = box.cod.inside[0].shape
    return lambda s: np.broadcast_to(np.asarray(s)[(...,) + (None,) * len(shape)],
                                     np.shape(s) + shape)


def _constant(value):
    def rule(box):
        wire = box.cod.inside[0]
        array = np.full(wire.shape, value if value is not None else box.c, dtype=wire.dtype)
        array.setflags(write=False)      # shared by every call: never written to
        return lambda: array
    return rule


#: generator name ↦ (box ↦ function on arrays); the helpers are those the generated
#: code copies (``interpreters.runtime``)
RULES = RuleTable("NumPy rules", {
    "Add": lambda box: np.add if box.n == 2 else (lambda *xs: sum(xs[1:], xs[0])),
    "Zero": _constant(0.0),
    "Neg": lambda box: np.negative,
    "Scale": lambda box: (lambda x, c=_dtype(box).type(box.c): x * c),
    "Constant": _constant(None),
    "Mul": lambda box: np.multiply,
    "Exp": lambda box: np.exp,
    "Log": lambda box: np.log,
    "Reciprocal": lambda box: np.reciprocal,
    "Sigmoid": lambda box: _sigmoid,
    "Tanh": lambda box: np.tanh,
    "Relu": lambda box: (lambda x, zero=_dtype(box).type(0): np.maximum(x, zero)),
    "Step": lambda box: (lambda x, t=_dtype(box): (x > 0).astype(t)),
    "Sin": lambda box: np.sin,
    "Cos": lambda box: np.cos,
    "Sum": lambda box: (lambda x, axes=_axes(box): x.sum(axis=axes)),
    "Spread": _spread,
    "Softmax": lambda box: softmax,
    "Sqrt": lambda box: np.sqrt,
    "LogSumExp": lambda box: logsumexp,
    "Linear": lambda box: linear,
    "LinearT": lambda box: linear_t,
    "Outer": lambda box: (lambda a, b: a[..., :, None] * b[..., None, :]),
    "Bias": lambda box: (lambda b, x: x + b),
    "Einsum": lambda box: contraction(box.spec),
    "Solve": lambda box: solve_vector if box.k is None else np.linalg.solve,
    "LogDet": lambda box: logdet,
    "Eye": lambda box: _constant_array(np.eye(box.n, dtype=_dtype(box))),
    "Observed": lambda box: observed,
    "OneHot": lambda box: (lambda y: one_hot(y, box.n)),
    # batch reductions (plan-level operations, see interpreters.plan.sum_over_batch)
    "SumBatch": lambda box: _sum_batch(box),
    "BatchWeight": lambda box: _batch_weight(box),
    "OuterSum": lambda op: outer_sum,
    # the loop over time (categories.stateful): its stage compiled once, run at every step
    "Loop": lambda box: _loop(box),
    "OverTime": lambda op: _over_time(op),
    "Recompute": lambda box: _recompute(box),
})




def _constant_array(array):
    array.setflags(write=False)      # shared by every call: never written to
    return lambda: array


def _batch_weight(box):
    """1 / the number of examples: the product of the axes before the wire's own
    (batch, or batch and time; none for one example)."""
    dtype, rank = np.dtype(_dtype(box)).type, len(box.shape)
    return lambda x: dtype(1.0 / np.prod(np.shape(x)[:np.ndim(x) - rank]))


def _sum_batch(box):
    if not box.x.inside[0].time:
        return lambda x: unbroadcast(x, box.shape)
    rank = len(box.shape) + 2       # a sequence: the batch summed, the time axis kept
    return lambda x: x.sum(axis=0) if np.ndim(x) == rank else np.asarray(x)


def stage_plan(box):
    """The plan a loop runs at every step: its stage, the batch-summed outputs summed,
    dead code and common subexpressions gone (a stage built by R or by the forward
    mode computes more than its outputs need)."""
    offset = len(box.state) + len(box.ys)
    return _optimised(sum_over_batch(flatten(box.stage), [offset + k for k in box.batch_summed]))


def derived(what: str, base=None, **changes) -> RuleTable:
    """The table ``base`` (default RULES) with the rules ``changes`` in place of its own,
    and its loops (``Loop``, ``OverTime``, ``Recompute``, unless ``changes`` names
    them) compiling their stages with the new table: a changed rule holds inside every
    loop, at every depth, hoisted or not. Another reading of the same generators,
    such as a semiring's (``interpreters.semiring``).

    >>> from paralens.categories import Real, Sum, Ty, function
    >>> from paralens.categories.stateful import Loop
    >>> x = Real(2)
    >>> totals = Loop(function(x, Real())(Sum(x)), Ty(), Ty(), x, Real())   # Σ v_t, each step
    >>> largest = derived("max rules", Sum=lambda box: (lambda v: v.max(axis=-1)))
    >>> v = np.array([[[1.0, 2.0], [5.0, 3.0]]])      # one sequence of two steps
    >>> compile(totals)(v), compile(totals, rules=largest)(v)
    (array([[3., 8.]]), array([[2., 5.]]))
    """
    base = RULES if base is None else base
    table = RuleTable(what, dict(base, **changes))
    loops = {"Loop": lambda box: _loop(box, table), "OverTime": lambda op: _over_time(op, table),
             "Recompute": lambda box: _recompute(box, table)}
    table.update({name: rule for name, rule in loops.items() if name not in changes})
    return table


def _loop(box, rules=None):
    """C ⊗ S ⊗ Seq(X) → S ⊗ Seq(Y) ⊗ Z: the stateless parts of its stage run on whole
    sequences, before and after a Python loop over the rest (``interpreters.hoist``),
    planned once for each pattern of which inputs are sequences and which one value.
    ``rules``: the table its stage is read with (default RULES)."""
    nC, nS = len(box.consts), len(box.state)
    ranks = [len(w.shape) for w in box.xs.inside]
    plain, plans = _stepwise_loop(box, rules), {}

    def run(*args):
        timed = tuple(k for k, (x, r) in enumerate(zip(args[nC + nS:], ranks))
                      if np.ndim(x) > r)
        if timed not in plans:
            plan = hoisted(box, timed)
            plans[timed] = plain if plan is None else _hoisted_run(plan, rules)
        if len(timed) > 1:              # one length, checked before anything runs
            _length(box, args[nC + nS:], ranks)
        return plans[timed](*args)
    return run


def _hoisted_run(plan, rules=None):
    run = Evaluator(None, rules=rules, plan=plan).run

    def hoisted_loop(*args):
        result = run(list(args))
        return result[0] if len(result) == 1 else result
    return hoisted_loop


def _over_time(op, rules=None):
    """A stateless plan run on sequences, their batch and time axes merged (B·T, …)
    and split again after; the outputs at ``summed`` summed over the steps (those at
    ``batch_summed`` over the batch too, by the merged batch sum)."""
    plan = _optimised(sum_over_batch(op.plan, op.batch_summed))
    run = Evaluator(None, rules=rules, plan=plan).run
    ranks = [len(op.plan.wires[v].shape) for v in op.plan.inputs]
    outs = [op.plan.wires[v] for v in op.plan.outputs]
    timed, summed, batch_summed = set(op.timed), set(op.summed), set(op.batch_summed)
    first = op.timed[0]

    def run_over_time(*args):
        B, T = args[first].shape[:2]
        merged = [x.reshape((B * T, ) + x.shape[2:]) if k in timed else
                  np.repeat(x, T, axis=0) if np.ndim(x) > r else x      # every example's
                  for k, (x, r) in enumerate(zip(args, ranks))]
        result = []
        for k, (y, w) in enumerate(zip(run(merged), outs)):
            if k in batch_summed:
                result.append(y)
            elif k in summed:
                result.append(y.reshape((B, T) + w.shape).sum(axis=1) if T else
                              np.zeros(w.shape, dtype=w.dtype))
            else:
                result.append(y.reshape((B, T) + w.shape))
        return result[0] if len(result) == 1 else tuple(result)
    return run_over_time


def _stepwise_loop(box, rules=None):
    """The loop as it is: a Python loop over the once-compiled stage (read with
    ``rules``, default RULES)."""
    stage = Evaluator(box.stage, rules=rules, plan=stage_plan(box)).run
    nC, nS, nX = len(box.consts), len(box.state), len(box.xs)
    ys, sums, reverse, every = box.ys.inside, box.sums.inside, box.reverse, box.snapshots

    ranks = [len(w.shape) for w in box.xs.inside]

    def run(*args):
        consts, state, xs = list(args[:nC]), list(args[nC:nC + nS]), args[nC + nS:]
        batch, steps = _length(box, xs, ranks)
        stacked = [np.empty((batch, steps) + w.shape, dtype=w.dtype) for w in ys]
        totals = [None] * len(sums)
        snaps = [] if every is None else [
            np.empty((batch, -(-steps // every)) + w.shape, dtype=w.dtype)
            for w in box.state.inside]
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            if snaps and t % every == 0:
                for array, s in zip(snaps, state):
                    array[:, t // every] = s
            out = stage(consts + state + [x[:, t] if x.ndim > r else x
                                          for x, r in zip(xs, ranks)])
            state = list(out[:nS])
            for array, y in zip(stacked, out[nS:nS + len(ys)]):
                array[:, t] = y
            for k, z in enumerate(out[nS + len(ys):]):
                total = totals[k]
                if total is None:
                    totals[k] = np.array(z, copy=True)
                elif total.shape == np.shape(z):
                    total += z
                else:
                    totals[k] = total + z
        for k, w in enumerate(sums):
            if totals[k] is None:       # no steps: the empty sum
                totals[k] = np.zeros(w.shape, dtype=w.dtype)
        result = tuple(state) + tuple(stacked) + tuple(totals) + tuple(snaps)
        return result[0] if len(result) == 1 else result
    return run


def _recompute(box, rules=None):
    """The backward half of a checkpointed loop: each segment rerun from its stored
    state, its residuals kept for its backward steps only (read with ``rules``,
    default RULES)."""
    keeping = Evaluator(box.keeping, rules=rules, plan=_optimised(flatten(box.keeping))).run
    backward = Evaluator(box.backward, rules=rules, plan=_optimised(
        sum_over_batch(flatten(box.backward), box.batch_summed))).run
    C, S, X, Y, Z = (len(box.consts), len(box.state), len(box.xs), len(box.ys),
                     len(box.sums))
    nM, every, source = len(box.kept), box.every, box.source
    ranks = [len(w.shape) for w in box.xs.inside + box.ys.inside]

    def run(*args):
        c = list(args[:C])
        xs = args[C:C + X]
        snaps = args[C + X:C + X + S]
        ds = list(args[C + X + S:C + X + 2 * S])
        dys = args[C + X + 2 * S:C + X + 2 * S + Y]
        dz = list(args[C + X + 2 * S + Y:])
        batch, steps = _length(box, xs + dys, ranks)
        if snaps and snaps[0].shape[1] != -(-steps // every):
            raise ValueError(f"{box.name}: {snaps[0].shape[1]} stored states for {steps} steps "
                             f"stored every {every}: they come from another sequence")
        dxs = [np.empty((batch, steps) + w.shape, dtype=w.dtype) for w in box.xs.inside]
        dc = [None] * C
        for start in range(((steps - 1) // every) * every if steps else -1, -1, -every):
            end = min(start + every, steps)
            s, kept = [snap[:, start // every] for snap in snaps], []
            for t in range(start, end):
                x = [a[:, t] if a.ndim > r else a for a, r in zip(xs, ranks)]
                out = keeping(c + s + x)
                s, mv = list(out[:S]), out[S:S + nM]
                kept.append((x, mv))
            for t in range(end - 1, start - 1, -1):
                x, mv = kept[t - start]
                m = [c[i] if kind == "c" else x[i] if kind == "x" else mv[i]
                     for kind, i in source]
                out = backward(m + ds + [a[:, t] if a.ndim > r else a
                                         for a, r in zip(dys, ranks[X:])] + dz)
                grads, ds, dx = out[:C], list(out[C:C + S]), out[C + S:]
                for array, d in zip(dxs, dx):
                    array[:, t] = d
                for k, g in enumerate(grads):
                    dc[k] = np.array(g, copy=True) if dc[k] is None else dc[k] + g
            del kept
        for k, w in enumerate(box.consts.inside):
            if dc[k] is None:
                dc[k] = np.zeros(w.shape, dtype=w.dtype)
        result = tuple(dc) + tuple(ds) + tuple(dxs)
        return result[0] if len(result) == 1 else result
    return run


def _length(box, sequences, ranks):
    """(batch, steps) of a loop's sequences, all of one length. A value with neither
    batch nor time axis (a zero cotangent, a constant) is the same at every step."""
    found = None
    wires = box.xs.inside + getattr(box, "ys", Ty()).inside
    for k, (x, r) in enumerate(zip(sequences, ranks)):
        if x.ndim <= r:
            continue
        if found is None:
            found = (k, x.shape[0], x.shape[1])
        elif x.shape[1] != found[2]:
            raise ValueError(f"sequence {k} (wire {wires[k].over_time()!r}) of {box.name}: "
                             f"{x.shape[1]} steps, other sequences have {found[2]} (the "
                             f"sequences of one call have one length)")
    if found is None:
        raise ValueError(f"{box.name}: none of its inputs is a sequence, so the number of "
                         f"steps is unknown")
    return found[1], found[2]


def _optimised(plan):
    return eliminate_common_subexpressions(eliminate_dead_code(plan))


def reader(plan, v: int) -> str:
    """Who reads input value v, for error messages."""
    return plan.consumers.get(v, "the output" if v in plan.outputs else "a discard")


def _where(plan, k: int, names=None) -> str:
    v = plan.inputs[k]
    if names and names[k] is not None:      # the caller's name for the argument first
        return f"{names[k]} (input {k}, wire {plan.wires[v]!r}, of {reader(plan, v)})"
    return f"input {k} (wire {plan.wires[v]!r}) of {reader(plan, v)}"


#: ndarray subclasses read as the plain array they view: that keeps every value, the
#: shape and the dtype (any other subclass may carry what a plain array drops: refused)
PLAIN_VIEWS = (np.matrix, np.memmap)


def _as_array(plan, k: int, arg, names=None) -> np.ndarray:
    """An input that is not a plain array, as the array it exactly is: NumPy's own
    reading of it, never cast to the wire's dtype (checked next, as an array's is)."""
    if isinstance(arg, np.ma.MaskedArray):
        raise TypeError(f"{_where(plan, k, names)}: a masked array, whose mask would be dropped; "
                        f"pass a plain array (x.filled(value), or np.asarray(x) to drop it)")
    if isinstance(arg, np.ndarray):
        if isinstance(arg, PLAIN_VIEWS):
            return np.asarray(arg)
        raise TypeError(f"{_where(plan, k, names)}: a {type(arg).__name__} (an ndarray subclass, "
                        f"whose extras a plain array drops); pass np.asarray(x) to drop them")
    if arg is None or isinstance(arg, (str, bytes)):
        raise TypeError(f"{_where(plan, k, names)}: expected an array, got {arg!r}")
    try:
        return np.asarray(arg)
    except ValueError:
        raise ValueError(f"{_where(plan, k, names)}: a ragged {type(arg).__name__} (its rows differ "
                         f"in length), not an array") from None


def _values(array, given: type, dtype) -> str:
    """What an input that was not an array holds, in words."""
    kinds = {"O": "Python objects (None, mixed types…)", "U": "strings", "S": "bytes"}
    what = f"a {given.__name__} ({array.dtype})" if array.ndim == 0 else \
        f"a {given.__name__} of {kinds.get(array.dtype.kind, f'{array.dtype} values')}"
    return what + (" (a Bool wire takes True and False only)" if dtype == bool else "")


def check_inputs(plan, dom, args, names=None) -> list:
    """The inputs as arrays of the right shape and dtype, or an error naming the input
    (by the caller's name for it, when ``names`` gives one), the wire and the box
    that reads it (checked before anything is computed).

    A plain array is checked as it is; anything else is read as the array NumPy makes
    of it and checked the same way. A dtype that converts exactly to the wire's (ints or
    float32 values for a float64 wire) is converted, as every entry point does
    (``interpreters.arrays``); float64 values for a float32 wire, complex values, or
    0/1 ints on a Bool wire (which takes bools) are refused.
    ``np.matrix`` and ``np.memmap`` are read as the plain arrays they view (nothing is
    lost); masked arrays and other subclasses, None, strings and ragged lists are refused.

    >>> from paralens.categories import Bool, function
    >>> circuit = flatten(function(Bool(1), Bool(1))(lambda a: ~a))
    >>> check_inputs(circuit, None, [[[True], [False]]])[0].dtype
    dtype('bool')
    >>> check_inputs(circuit, None, [[[2], [0]]])
    Traceback (most recent call last):
    ...
    TypeError: input 0 (wire Bool(1)) of XOR: expected dtype bool, got a list of int64 values (a Bool wire takes True and False only)
    """
    if len(args) != len(plan.inputs):
        raise TypeError(f"{len(plan.inputs)} inputs expected ({dom!r}), got {len(args)}")
    spec = plan.__dict__.get("_input_spec")
    if spec is None:
        spec = plan._input_spec = [(plan.wires[v].shape, len(plan.wires[v].shape),
                                    plan.wires[v].dtype, plan.wires[v].time)
                                   for v in plan.inputs]
    arrays, batch = [], None
    for k, (arg, (shape, n, dtype, time)) in enumerate(zip(args, spec)):
        if type(arg) is not np.ndarray:
            given, arg = type(arg), _as_array(plan, k, arg, names)
            if arg.dtype != dtype and not exact(arg.dtype, dtype):
                raise TypeError(f"{_where(plan, k, names)}: expected dtype {dtype}, got "
                                f"{_values(arg, given, dtype)}")
        given = arg.shape
        if time:                        # a sequence: (batch, time, *shape), both axes explicit
            if len(given) != n + 2 or given[2:] != shape:
                expected = ", ".join(map(str, ("batch", "time") + shape))
                raise ValueError(f"{_where(plan, k, names)}: a sequence, expected an array of shape "
                                 f"({expected}), got {given}")
            if batch is None:
                batch = given[0]
            elif given[0] != batch:
                raise ValueError(f"{_where(plan, k, names)}: batch of {given[0]} sequences, "
                                 f"other inputs have {batch}")
        elif len(given) == n + 1 and given[1:] == shape:
            if batch is None:
                batch = given[0]
            elif given[0] != batch:
                raise ValueError(f"{_where(plan, k, names)}: batch of {given[0]} examples, "
                                 f"other inputs have {batch}")
        elif given != shape:
            expected = ", ".join(map(str, shape))
            raise ValueError(f"{_where(plan, k, names)}: expected an array of shape {shape} or "
                             f"(batch, {expected}), got {given}")
        if arg.dtype != dtype:
            if not exact(arg.dtype, dtype):
                raise TypeError(f"{_where(plan, k, names)}: expected dtype {dtype}, got "
                                f"{arg.dtype}, which does not convert exactly; pass "
                                f"it .astype(np.{np.dtype(dtype).name})")
            arg = arg.astype(dtype)
        arrays.append(arg)
    return arrays



class Evaluator:
    """A diagram flattened once, with each equation bound to its NumPy rule."""

    def __init__(self, diagram, rules=None, summed=(), plan=None):
        rules = RULES if rules is None else rules
        self.diagram = diagram
        self.plan = sum_over_batch(flatten(diagram), summed) if plan is None else plan
        steps = []
        for eq, dead in zip(self.plan.equations, last_uses(self.plan)):
            if eq.kind not in rules:
                raise NotImplementedError(
                    f"no NumPy rule for {eq.box.name} ({eq.kind}): {eq.box.dom!r} → {eq.box.cod!r}")
            outs = eq.outs[0] if len(eq.outs) == 1 else eq.outs
            steps.append((rules[eq.kind](eq.box), eq.ins, outs, dead))
        self.steps, self.size = steps, len(self.plan.wires)

    def check(self, args) -> list:
        return check_inputs(self.plan, self.diagram.dom, args, self.__dict__.get("_names"))

    def __call__(self, *args):
        outputs = self.run(self.check(args))
        return outputs[0] if len(outputs) == 1 else outputs

    def run(self, arrays) -> tuple:
        """The outputs, as a tuple, of inputs already checked (a loop's stage)."""
        env = [None] * self.size
        for v, array in zip(self.plan.inputs, arrays):
            env[v] = array
        for fn, ins, outs, dead in self.steps:
            result = fn(*[env[i] for i in ins])
            if type(outs) is int:
                env[outs] = result
            else:
                for o, r in zip(outs, result):
                    env[o] = r
            for v in dead:          # free what no later step reads
                env[v] = None
        return tuple(env[v] for v in self.plan.outputs)


def compile(diagram, summed=(), *, arguments=None, results=None, rules=None) -> Evaluator:
    """Flatten a diagram once; the result evaluates it on arrays.

    ``summed``: positions of outputs to sum over the batch (the cotangents of
    parameters shared by every example), fused into the ops that make them.
    ``arguments``, ``results``: the wires' names, as ``codegen.compile`` takes them
    (one per wire of the domain and codomain, checked), kept as the evaluator's
    ``arguments`` and ``results``, (name, type) pairs; they change nothing it computes.
    ``rules``: the rule table it is read with (default RULES; another, see ``derived``)."""
    named = named_wires(diagram, arguments, results)
    evaluator = Evaluator(diagram, rules=rules, summed=summed)
    evaluator.arguments, evaluator.results = named
    if arguments is not None:
        evaluator._names = [name for name, _ in evaluator.arguments]
    return evaluator


def evaluate(diagram, *args):
    """Evaluate a diagram on arrays (flattening it each time: prefer ``compile``)."""
    return Evaluator(diagram)(*args)
