"""Delayed-trace semantics: machines run, differentiated and trained over time.

A machine (``categories.stateful``) is one loop; nothing here unrolls it.
Sequences are arrays (batch, time, *shape), the time axis explicit and second;
the state is (batch, *shape), or one example's state shared by the batch.

* :func:`run`: the output sequence and the final state; pass the final state
  back as ``state`` to continue the stream (streaming).
* :func:`jvp`: forward mode, the tangent stream of the outputs along a direction
  of the inputs, the initial state and the parameters, the state paired with
  its tangent (initial tangent 0 unless given): memory independent of T.
* :func:`gradient`: reverse mode (BPTT) of ⟨w, y⟩ + ⟨w_T, s_T⟩, for cotangents w
  of the outputs and w_T of the final state; ``checkpoint=k`` stores the state
  every k steps and recomputes inside segments.
* :class:`TruncatedTrainer` (from ``interpreters.training``): truncated BPTT, the
  state carried from one segment to the next, no gradient across.

>>> import numpy as np
>>> from paralens.categories import Real, Add, copy, dtrace, delay
>>> x = Real()
>>> ys, last = run(delay(x, -1.0), {}, np.arange(5.0).reshape(1, 5))
>>> ys
array([[-1.,  0.,  1.,  2.,  3.]])
>>> running = dtrace(Add(x) >> copy(x), x)             # s′ = y = s + x: a running sum
>>> run(running, {}, np.ones((1, 4)))[0]
array([[1., 2., 3., 4.]])
"""

from __future__ import annotations

import numbers

import numpy as np

from ..categories import Machine, Seq, Ty
from ..categories.stateful import machine as as_machine
from ..lenses import R, tangent
from . import numpy as interpreter
from .training import TruncatedTrainer, check_params

__all__ = ["run", "jvp", "gradient", "TruncatedTrainer", "initial_state"]


def _machine(m) -> Machine:
    return as_machine(m, "run")


def _values(m: Machine, params: dict, what: str = "params") -> list:
    return list(check_params(m, params, "machine", "machine.init()", what).values())


def _sequences(m: Machine, xs) -> list:
    """The input sequences, one array per input wire (a clocked machine: the steps)."""
    if m.clocked:
        if isinstance(xs, numbers.Integral) and not isinstance(xs, bool) and xs >= 0:
            return None, int(xs)
        clock = xs[0] if isinstance(xs, (tuple, list)) and len(xs) == 1 else xs
        if isinstance(clock, np.ndarray) and clock.ndim == 3 and clock.shape[2] == 0:
            return [clock], None            # the clock itself, (batch, time, 0)
        raise TypeError(f"{m!r} has no input: give the number of steps (or its clock, an "
                        f"array (batch, time, 0)) instead of sequences")
    arrays = list(xs) if isinstance(xs, (tuple, list)) else [xs]
    if len(arrays) != len(m.dom):
        raise TypeError(f"{m!r} reads {len(m.dom)} sequences ({Seq(m.dom)!r}), got "
                        f"{len(arrays)}")
    return arrays, None


def _start(m, xs, state):
    """(the machine, its input sequences (a clocked machine's clock), its state, checked)."""
    m = _machine(m)
    arrays, steps = _sequences(m, xs)
    state = initial_state(m) if state is None else _as_list(state)
    _check_state(m, state, arrays)
    if arrays is None:
        arrays = [np.zeros((_state_batch(m, state), steps, 0))]
    return m, arrays, state


def _check_state(m: Machine, state: list, arrays) -> None:
    """The state: one array per state wire, one example's (shared) or one per sequence."""
    if len(state) != len(m.state):
        raise TypeError(f"state: {len(state)} arrays for the {len(m.state)} state wires "
                        f"{m.state!r}")
    batch = arrays[0].shape[0] if arrays is not None and np.ndim(arrays[0]) >= 2 else None
    for k, (s, w) in enumerate(zip(state, m.state.inside)):
        shape = np.shape(s)
        if shape == w.shape or (len(shape) == len(w.shape) + 1 and shape[1:] == w.shape
                                and (batch is None or shape[0] == batch)):
            continue
        per = f" or {(batch, ) + w.shape} (one per sequence)" if batch is not None else \
            " or (batch, …) (one per sequence)"
        raise ValueError(f"state wire {k} ({w!r}): expected shape {w.shape} (shared by the "
                         f"batch){per}, got {shape}")


def _state_batch(m: Machine, state) -> int:
    """The batch of a given state (1 if it is one example's, shared)."""
    for s, w in zip(state, m.state.inside):
        if np.ndim(s) == len(w.shape) + 1:
            return np.shape(s)[0]
    return 1


def _directions(what: str, given, like: list, n: int) -> list:
    """A direction or cotangent per wire: zeros where None (or all when not given)."""
    if given is None:
        return [np.zeros_like(a) for a in like]
    values = _as_list(given)
    if len(values) != n:
        raise TypeError(f"{what}: {len(values)} given for the {n} wire{'s' if n != 1 else ''} "
                        f"it pairs with (None where it is zero)")
    return [np.zeros_like(a) if v is None else v for v, a in zip(values, like)]


def _param_directions(m: Machine, dparams, values) -> list:
    if dparams is None:
        return [np.zeros_like(v) for v in values]
    if not isinstance(dparams, dict):
        raise TypeError(f"dparams: a dict from parameter handle to tangent, got "
                        f"{type(dparams).__name__}")
    unknown = [k for k in dparams if k not in m.params]
    if unknown:
        names = ", ".join(p.name for p in m.params)
        raise ValueError(f"dparams: {unknown[0]!r} is not one of the machine's parameter "
                         f"handles ({names}: the keys of machine.init())")
    return [np.asarray(dparams[p]) if p in dparams else np.zeros_like(v)
            for p, v in zip(m.params, values)]


def initial_state(m: Machine, batch: int | None = None) -> list:
    """The machine's initial state, one array per state wire (shared by the batch,
    or repeated ``batch`` times)."""
    if batch is None:
        return [np.array(s) for s in m.initial]
    return [np.broadcast_to(s, (batch, ) + s.shape).copy() for s in m.initial]


def _compiled(diagram, compile):
    cache = diagram.__dict__.setdefault("_compiled_by", {})
    key = compile or interpreter.compile
    if key not in cache:
        cache[key] = key(diagram)
    return cache[key]


def run(m, params: dict, xs, state=None, compile=None):
    """(output sequences, final state) of machine ``m`` on ``xs`` from ``state``
    (default: its initial state). One array for a single output or state wire,
    else lists. ``compile`` (default: the NumPy interpreter) compiles the loop once."""
    m, arrays, state = _start(m, xs, state)
    out = _tuple(_compiled(m.diagram, compile)(*_values(m, params), *state, *arrays))
    final, ys = out[:len(m.state)], out[len(m.state):]
    return _one(ys), _one(final)


def jvp(m, params: dict, xs, dxs=None, dparams: dict | None = None, state=None, dstate=None,
        compile=None):
    """(outputs, their tangents): forward mode through the loop of the stage's
    tangent, one pass, the state paired with its tangent. ``dxs``, ``dparams``
    (handle ↦ tangent) and ``dstate`` are the direction (zero where not given)."""
    m, arrays, state = _start(m, xs, state)
    values = _values(m, params)
    dvalues = _param_directions(m, dparams, values)
    dstate = _directions("dstate", dstate, state, len(m.state))
    dxs = [np.zeros_like(a) for a in arrays] if m.clocked else \
        _directions("dxs", dxs, arrays, len(m.dom))
    T = _tangent_of(m)
    out = _tuple(_compiled(T, compile)(*values, *state, *arrays, *dvalues, *dstate, *dxs))
    n = len(m.diagram.cod)
    nS = len(m.state)
    return _one(out[nS:n]), _one(out[n + nS:])


def _tangent_of(m: Machine):
    cached = m.__dict__.get("_tangent")
    if cached is None:
        cached = m._tangent = tangent(m.diagram)
    return cached


def gradient(m, params: dict, xs, dys, state=None, dfinal=None, checkpoint: int | None = None,
             truncate: int | None = None, compile=None) -> dict:
    """BPTT: the cotangents of ⟨dys, ys⟩ + ⟨dfinal, final state⟩ with respect to the
    parameters (summed over the batch and the steps), the initial state and the
    inputs: a dict with the parameter handles, ``"state"`` and ``"xs"``.

    ``truncate=k``: truncated BPTT, the sum of the gradients of the segments of k
    steps, each from the state the previous one ended in, treated as a constant (no
    gradient crosses a segment's start; ``"state"`` is then the first segment's)."""
    if truncate is not None:
        return _truncated(m, params, xs, dys, state, dfinal, truncate, checkpoint, compile)
    m, arrays, state = _start(m, xs, state)
    shared = all(np.ndim(s) == len(w.shape) for s, w in zip(state, m.state.inside))
    loop = m.diagram if checkpoint is None else m.loop(checkpoint=checkpoint)
    lens = _lens_of(m, loop, checkpoint)
    values = _values(m, params)
    out = _tuple(_compiled(lens.forward, compile)(*values, *state, *arrays))
    residual = out[:len(lens.residual)]
    outputs = out[len(lens.residual):]
    dys = _directions("dys", dys, list(outputs[len(m.state):]), len(m.cod))
    dfinal = _directions("dfinal", dfinal, list(outputs[:len(m.state)]), len(m.state))
    back = _backward_of(lens, len(m.params), compile)
    grads = _tuple(back(*residual, *dfinal, *dys))
    nP, nS = len(m.params), len(m.state)
    result = dict(zip(m.params, grads[:nP]))
    states = grads[nP:nP + nS]
    if shared:          # one state shared by the batch: its cotangent summed, as a parameter's
        states = [np.asarray(g).reshape((-1, ) + w.shape).sum(axis=0) if np.ndim(g) > len(w.shape)
                  else np.asarray(g) for g, w in zip(states, m.state.inside)]
    result["state"] = _one(states)
    result["xs"] = _one(grads[nP + nS:])
    return result


def _truncated(m, params, xs, dys, state, dfinal, k, checkpoint, compile) -> dict:
    m = _machine(m)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"truncate: the steps of a segment, a whole number ≥ 1, got {k!r}")
    arrays, _ = _sequences(m, xs)
    if arrays is None:
        raise TypeError("truncated BPTT of a clocked machine: give it an input")
    dys = _as_list(dys)
    steps = arrays[0].shape[1]
    state = initial_state(m) if state is None else _as_list(state)
    total, xs_grads, first = None, [], None
    for start in range(0, steps, k):
        part = [a[:, start:start + k] for a in arrays]
        last = start + k >= steps
        g = gradient(m, params, part, [d[:, start:start + k] for d in dys], state,
                     dfinal if last else None, checkpoint, None, compile)
        _, state = run(m, params, part, state, compile)
        state = _as_list(state)
        total = {p: g[p] for p in m.params} if total is None else \
            {p: total[p] + g[p] for p in m.params}
        xs_grads.append(_as_list(g["xs"]))
        first = g["state"] if first is None else first
    result = dict(total or {p: np.zeros_like(params[p]) for p in m.params})
    result["state"] = first
    result["xs"] = _one(np.concatenate(parts, axis=1) for parts in zip(*xs_grads))
    return result


def _lens_of(m, loop, checkpoint):
    cache = m.__dict__.setdefault("_lenses", {})
    if checkpoint not in cache:
        cache[checkpoint] = R(loop)
    return cache[checkpoint]


def _backward_of(lens, n_params, compile):
    cache = lens.__dict__.setdefault("_backward_by", {})
    key = compile or interpreter.compile
    if key not in cache:
        cache[key] = key(lens.backward, summed=range(n_params))
    return cache[key]


def _tuple(x):
    return x if isinstance(x, tuple) else (x, )


def _one(values):
    values = list(values)
    return values[0] if len(values) == 1 else values


def _as_list(x) -> list:
    return list(x) if isinstance(x, (tuple, list)) else [x]
