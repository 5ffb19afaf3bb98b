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
  of the outputs and w_T of the final state; ``recompute=k`` stores the state
  every k steps and recomputes inside segments.
* truncated BPTT, the state carried from one segment to the next and no gradient
  across, trains with ``interpreters.training.TruncatedTrainer``.

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
from typing import NamedTuple

import numpy as np

from ..categories import Machine, Seq
from ..categories.stateful import machine as as_machine
from ..lenses import R, tangent
from . import numpy as interpreter
from .arrays import as_wire, check_params
from ..categories.syntax import as_tuple as _tuple

__all__ = ["run", "jvp", "gradient", "initial_state", "Cotangents"]


def _machine(m) -> Machine:
    return as_machine(m, "run")


# -- the arguments of run, jvp and gradient, checked up front in the caller's words ----------

def _label(m: Machine, p, what: str = "params") -> str:
    """How the caller's ``what`` names parameter ``p``: by its unique name,
    ``params['elman.Wx']``. The one place a parameter is named."""
    return f"{what}[{m.names[m.params.index(p)]!r}]"


def _names(what: str, n: int) -> list:
    """The caller's names of ``what``'s arrays, one per wire: ``xs``, or ``xs[0]``, ``xs[1]``…"""
    return [what] if n == 1 else [f"{what}[{k}]" for k in range(n)]


def _per_wire(what: str, given, n: int, wires: str) -> list:
    """``given`` as one value per wire: a list or tuple of them, or for a single wire its
    one array (also a nested list, unless it has one item: then that item is the array)."""
    one = not isinstance(given, (tuple, list)) or (n == 1 and len(given) != 1)
    values = [given] if one else list(given)
    if len(values) != n:
        raise TypeError(f"{what}: {len(values)} given for the {n} wire{'s' if n != 1 else ''} "
                        f"{wires}")
    return values


class _Call(NamedTuple):
    """One call's arguments, checked: the parameters' values, the input sequences (a
    clocked machine's clock), the state, and the batch and steps they agree on."""

    m: Machine
    values: list
    arrays: list
    state: list
    batch: int
    steps: int


def _start(m, params, xs, state) -> _Call:
    """Every argument of the call checked (shape, dtype, finite) before any work."""
    m = _machine(m)
    values = check_params(m, params, "machine", "machine.init()").values()
    arrays, batch, steps = _sequences(m, xs)
    given = initial_state(m) if state is None else \
        _per_wire("state", state, len(m.state), f"of the state {m.state!r}")
    state, batch = _shared_or_batched("state", given, m.state.inside, batch)
    if arrays is None:
        batch = 1 if batch is None else batch
        arrays = [np.zeros((batch, steps, 0))]
    return _Call(m, values, arrays, state, batch, steps)


def _sequences(m: Machine, xs) -> tuple:
    """(the input sequences checked, one per input wire, their batch, their steps); a
    clocked machine: its clock (batch, time, 0), or None and the number of steps."""
    if m.clocked:
        if isinstance(xs, numbers.Integral) and not isinstance(xs, bool) and xs >= 0:
            return None, None, int(xs)
        clock = xs[0] if isinstance(xs, (tuple, list)) and len(xs) == 1 else xs
        if isinstance(clock, np.ndarray) and clock.ndim == 3 and clock.shape[2] == 0:
            return [clock], *clock.shape[:2]        # the clock itself, (batch, time, 0)
        raise TypeError(f"xs: {m!r} has no input: give the number of steps (or its clock, "
                        f"an array (batch, time, 0)) instead of sequences")
    wires = m.dom.inside
    given = _per_wire("xs", xs, len(wires), f"of the input {Seq(m.dom)!r}: {m!r} reads "
                      f"{len(wires)} sequence{'s' if len(wires) != 1 else ''}")
    arrays, batch, steps = [], None, None
    for name, a, w in zip(_names("xs", len(wires)), given, wires):
        arrays.append(as_wire(name, a, w, [("batch", batch), ("time", steps)], finite=True))
        batch, steps = arrays[0].shape[:2]
    return arrays, batch, steps


def _shared_or_batched(what: str, given: list, wires, batch) -> tuple:
    """(values on state wires, one example's (shared) or one per sequence, checked, None
    left None; the batch they agree on)."""
    out = []
    for name, v, w in zip(_names(what, len(wires)), given, wires):
        if v is not None:
            v = as_wire(name, v, w, [("batch", batch)], shared=True, finite=True)
            if v.ndim > len(w.shape):
                batch = v.shape[0]
        out.append(v)
    return out, batch


def _state_directions(what: str, given, call: _Call) -> list:
    """A tangent or cotangent of the state (``dstate``, ``dfinal``), checked; None where zero."""
    if given is None:
        return [None] * len(call.state)
    values = _per_wire(what, given, len(call.state), "of the state it pairs with (None "
                       "where it is zero)")
    return _shared_or_batched(what, values, call.m.state.inside, call.batch)[0]


def _sequence_directions(what: str, given, wires, call: _Call) -> list:
    """A tangent or cotangent of sequences (``dxs``, ``dys``), checked, of the call's batch
    and steps; zeros where None."""
    values = [None] * len(wires) if given is None else _per_wire(
        what, given, len(wires), "it pairs with (None where it is zero)")
    leading = [("batch", call.batch), ("time", call.steps)]
    return [np.zeros((call.batch, call.steps) + w.shape, w.dtype) if v is None else
            as_wire(name, v, w, leading, finite=True)
            for name, v, w in zip(_names(what, len(wires)), values, wires)]


def _param_directions(m: Machine, dparams) -> list:
    if dparams is None:
        return [np.zeros(p.ty.inside[0].shape, p.ty.inside[0].dtype) for p in m.params]
    if not hasattr(dparams, "items"):
        raise TypeError(f"dparams: a mapping from parameter name (or handle) to tangent, got "
                        f"{type(dparams).__name__}")
    given = {}
    for key, value in dparams.items():
        if key in m.params:
            given[key] = value
        elif isinstance(key, str) and key in m.names:
            given[m.params[m.names.index(key)]] = value
        else:
            raise ValueError(f"dparams: {key!r} is not one of the machine's parameters "
                             f"({', '.join(m.names) or 'none'}: the keys of machine.init())")
    return [as_wire(_label(m, p, "dparams"), given[p], p.ty.inside[0], finite=True)
            if given.get(p) is not None else
            np.zeros(p.ty.inside[0].shape, p.ty.inside[0].dtype) for p in m.params]


def _zeros_where_none(values: list, like: list) -> list:
    return [np.zeros_like(a) if v is None else v for v, a in zip(values, like)]


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
    else lists. ``compile`` (default: the NumPy interpreter) compiles the loop once.

    Every argument is checked first, named as given: ``xs`` (batch, time, *shape),
    ``state`` one example's (shared by the batch) or (batch, *shape), ``params[…]``
    the wire's shape; data that converts exactly to a wire's dtype is converted
    (``interpreters.arrays``), and NaN or infinite values are refused.

    >>> import numpy as np
    >>> from paralens.categories import Real, delay
    >>> run(delay(Real(), 5), {}, np.arange(3).reshape(1, 3))     # ints: converted exactly
    (array([[5., 0., 1.]]), array([2.]))
    >>> run(delay(Real(), 5), {}, np.arange(3.0).reshape(1, 3), state=np.zeros(2))
    Traceback (most recent call last):
    ...
    ValueError: state (Real()): expected shape () (one example's, shared by the batch) or (batch,) = (1,), got (2,)
    """
    ys, final = _run(_start(m, params, xs, state), compile)
    return _one(ys), _one(final)


def _run(call: _Call, compile) -> tuple:
    m = call.m
    out = _tuple(_compiled(m.diagram, compile)(*call.values, *call.state, *call.arrays))
    return out[len(m.state):], out[:len(m.state)]


def jvp(m, params: dict, xs, dxs=None, dparams: dict | None = None, state=None, dstate=None,
        compile=None):
    """(outputs, their tangents): forward mode through the loop of the stage's
    tangent, one pass, the state paired with its tangent. ``dxs``, ``dparams``
    (handle ↦ tangent) and ``dstate`` are the direction (zero where not given or
    None), checked as ``run`` checks what they pair with.

    >>> import numpy as np
    >>> from paralens.categories import Real, delay
    >>> jvp(delay(Real(), 0.0), {}, np.ones((1, 3)), dxs=np.ones((1, 3)), dstate=2.0)[1]
    array([[2., 1., 1.]])
    """
    call = _start(m, params, xs, state)
    m = call.m
    dvalues = _param_directions(m, dparams)
    dstate = _zeros_where_none(_state_directions("dstate", dstate, call), call.state)
    if m.clocked:
        if dxs is not None:
            raise TypeError(f"dxs: {m!r} has no input (a clocked machine): its tangent is "
                            f"along the state and the parameters only; leave dxs out")
        dxs = [np.zeros_like(a) for a in call.arrays]
    else:
        dxs = _sequence_directions("dxs", dxs, m.dom.inside, call)
    T = _tangent_of(m)
    out = _tuple(_compiled(T, compile)(*call.values, *call.state, *call.arrays, *dvalues,
                                       *dstate, *dxs))
    n = len(m.diagram.cod)
    nS = len(m.state)
    return _one(out[nS:n]), _one(out[n + nS:])


def _tangent_of(m: Machine):
    cached = m.__dict__.get("_tangent")
    if cached is None:
        cached = m._tangent = tangent(m.diagram)
    return cached


def gradient(m, params: dict, xs, dys, state=None, dfinal=None, recompute: int | None = None,
             truncate: int | None = None, compile=None) -> Cotangents:
    """BPTT: the cotangents of ⟨dys, ys⟩ + ⟨dfinal, final state⟩ with respect to the
    parameters (summed over the batch and the steps), the initial state and the
    inputs: :class:`Cotangents`, keyed by the parameters' names (or handles),
    ``"state"`` and ``"xs"``. ``dys`` and
    ``dfinal`` (zero where None) are checked as ``run`` checks the outputs and the
    state they pair with.

    ``truncate=k``: truncated BPTT, the sum of the gradients of the segments of k
    steps, each from the state the previous one ended in, treated as a constant (no
    gradient crosses a segment's start; ``"state"`` is then the first segment's).

    >>> import numpy as np
    >>> from paralens.categories import Real, delay
    >>> g = gradient(delay(Real(), 0.0), {}, np.ones((1, 3)), np.array([[1.0, 2.0, 3.0]]))
    >>> float(g["state"]), g["xs"]          # ys = (s₀, x₀, x₁): ∂/∂s₀ = 1, ∂/∂x = (2, 3, 0)
    (1.0, array([[2., 3., 0.]]))
    """
    if truncate is not None and (isinstance(truncate, bool) or not isinstance(
            truncate, numbers.Integral) or truncate < 1):
        raise ValueError(f"truncate: the steps of a segment, a whole number ≥ 1, got "
                         f"{truncate!r}")
    call = _start(m, params, xs, state)
    dys = _sequence_directions("dys", dys, call.m.cod.inside, call)
    dfinal = _state_directions("dfinal", dfinal, call)
    if truncate is not None:
        return _truncated(call, dys, dfinal, int(truncate), recompute, compile)
    return _gradient(call, dys, dfinal, recompute, compile)


def _gradient(call: _Call, dys: list, dfinal: list, recompute, compile) -> dict:
    m, state = call.m, call.state
    shared = all(np.ndim(s) == len(w.shape) for s, w in zip(state, m.state.inside))
    loop = m.diagram if recompute is None else m.loop(recompute=recompute)
    lens = _lens_of(m, loop, recompute)
    out = _tuple(_compiled(lens.forward, compile)(*call.values, *state, *call.arrays))
    residual = out[:len(lens.residual)]
    outputs = out[len(lens.residual):]
    dfinal = _zeros_where_none(dfinal, list(outputs[:len(m.state)]))
    back = _backward_of(lens, len(m.params), compile)
    grads = _tuple(back(*residual, *dfinal, *dys))
    nP, nS = len(m.params), len(m.state)
    result = Cotangents(m, grads[:nP])
    states = grads[nP:nP + nS]
    if shared:          # one state shared by the batch: its cotangent summed, as a parameter's
        states = [np.asarray(g).reshape((-1, ) + w.shape).sum(axis=0) if np.ndim(g) > len(w.shape)
                  else np.asarray(g) for g, w in zip(states, m.state.inside)]
    result["state"] = _one(states)
    result["xs"] = _one(grads[nP + nS:])
    return result


class Cotangents(dict):
    """What :func:`gradient` gives: each parameter's cotangent under its unique name
    (``"elman.Wx"``; its handle finds it too), the initial state's under ``"state"``,
    the inputs' under ``"xs"``."""

    def __init__(self, m: Machine, values):
        clash = [n for n in m.names if n in ("state", "xs")]
        if clash:
            raise ValueError(f"gradient: a parameter is named {clash[0]!r}, the name of the "
                             f"{'initial state' if clash[0] == 'state' else 'inputs'}' "
                             f"cotangent; give the parameter another name")
        super().__init__(zip(m.names, values))
        self._names = dict(zip(m.params, m.names))

    def _key(self, key):
        try:
            return self._names.get(key, key)
        except TypeError:           # unhashable: not a key
            return key

    def __getitem__(self, key):
        return super().__getitem__(self._key(key))

    def __contains__(self, key):
        return super().__contains__(self._key(key))

    def get(self, key, default=None):
        return super().get(self._key(key), default)


def _truncated(call: _Call, dys: list, dfinal: list, k: int, recompute, compile) -> dict:
    m = call.m
    if m.clocked:
        raise TypeError("truncated BPTT of a clocked machine: give it an input")
    steps, state = call.steps, call.state
    total, xs_grads, first = None, [], None
    for start in range(0, steps, k):
        part = call._replace(arrays=[a[:, start:start + k] for a in call.arrays], state=state,
                             steps=min(k, steps - start))
        last = start + k >= steps
        g = _gradient(part, [d[:, start:start + k] for d in dys],
                      dfinal if last else [None] * len(dfinal), recompute, compile)
        state = list(_run(part, compile)[1])
        total = {p: g[p] for p in m.params} if total is None else \
            {p: total[p] + g[p] for p in m.params}
        xs_grads.append(_as_list(g["xs"]))
        first = g["state"] if first is None else first
    result = Cotangents(m, [total[p] for p in m.params] if total else
                        [np.zeros_like(v) for v in call.values])
    result["state"] = first
    result["xs"] = _one(np.concatenate(parts, axis=1) for parts in zip(*xs_grads))
    return result


def _lens_of(m, loop, recompute):
    cache = m.__dict__.setdefault("_lenses", {})
    if recompute not in cache:
        cache[recompute] = R(loop)
    return cache[recompute]


def _backward_of(lens, n_params, compile):
    cache = lens.__dict__.setdefault("_backward_by", {})
    key = compile or interpreter.compile
    if key not in cache:
        cache[key] = key(lens.backward, summed=range(n_params))
    return cache[key]


def _one(values):
    values = list(values)
    return values[0] if len(values) == 1 else values


def _as_list(x) -> list:
    return list(x) if isinstance(x, (tuple, list)) else [x]
