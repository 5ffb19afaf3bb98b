"""St(C): machines, the delayed trace, and the loop over time.

A **machine** X → Y (a morphism of St(C), ``reference/delayed-trace.md`` §1) is
a stage S ⊗ X → S ⊗ Y with an initial state i : 1 → S. Run on a sequence, it
carries the state from each step to the next. Machines compose (f ; g has the
states side by side, the initial states (i, j)), tensor, and are closed by the
**delayed trace** ``dtrace(f, i)``: f's S-output at step t is its S-input at
step t + 1, starting from i (§2), so feedback is guarded by construction. A
stateless diagram or Para map is the machine with no state; ``delay(x, i)`` is
the delay register δⁱ, which outputs i, then its previous input.

Time is first class: a machine is never unrolled to run. Its diagram is one
box, a :class:`Loop` P ⊗ S ⊗ Seq(X) → S ⊗ Seq(Y): the stage run at every step
with its parameters P as constants (the constant stream θ, θ, …), the initial
state in, the final state out. Every interpreter runs it as a loop; R sends it
to a forward loop that keeps each step's residual and a reverse loop over
them (BPTT). ``unroll(n)`` lays out n copies of the stage, for drawing and for
oracles at small n. Sequences are arrays (batch, time, *shape): the time axis
is explicit and second (:func:`Seq`).

>>> from paralens.categories import Real, Tanh, Add, copy
>>> x = Real(2)
>>> accumulate = dtrace(Add(x) >> Tanh(x) >> copy(x), Real(2))   # s′ = y = tanh(s + x)
>>> accumulate.state, accumulate.dom, accumulate.cod
(Real(2), Real(2), Real(2))
>>> accumulate.diagram.dom, accumulate.diagram.cod
(Real(2) @ Seq(Real(2)), Real(2) @ Seq(Real(2)))
>>> accumulate.unroll(3).diagram.dom
Real(2) @ Real(2) @ Real(2) @ Real(2)
>>> dtrace(Tanh(x), Real(3))
Traceback (most recent call last):
...
TypeError: dtrace: the stage Real(2) → Real(2) does not begin with the traced state Real(3) on both sides: the state wires come first, in and out
"""

from __future__ import annotations

import numpy as np

from .adapter import (
    Box, CompositionError, Diagram, Real, Seq, Ty, building, describe,
    equations, feedback_drawing, pickled, step_of, whole)
from .generator import OPERATIONS, claim_name
from .para import Para, _para, wire_names
from .structural import discard, swap
from .syntax import as_tuple as _tuple, function, split as _split

__all__ = ["Machine", "Loop", "Recompute", "dtrace", "delay", "machine", "Seq", "step_of"]


def _stepwise(ty: Ty, what: str) -> Ty:
    timed = [w for w in ty.inside if w.time]
    if timed:
        raise TypeError(f"{what}: {timed[0]!r} is a sequence wire; a stage acts on one step "
                        f"(its wires are those of one step: {step_of(ty)!r})")
    return ty


def _permutation(dom: Ty, cod: Ty, order) -> Diagram:
    """The wiring dom → cod sending output k to input ``order[k]``."""
    return function(dom, cod)(lambda *wires: tuple(wires[k] for k in order))


class Loop(Box):
    """The loop over time: a stage C ⊗ S ⊗ X → S ⊗ Y ⊗ Z run at every step.

    As a box it is C ⊗ S ⊗ Seq(X) → S ⊗ Seq(Y) ⊗ Z: C are constants (read at
    every step: parameters), S the state carried from step to step (in: the
    initial state, out: the final one), X the per-step inputs and Y the
    per-step outputs, stacked along the time axis, and Z outputs summed over the
    steps. ``reverse`` runs the steps last to first (the backward half of BPTT).
    ``batch_summed``: positions within Z also summed over the batch (the reverse
    of sharing constants with every example), so a stage never forms per-example
    parameter cotangents. The steps are counted from the first X wire, so X is
    never empty.
    """

    def __init__(self, stage: Diagram, consts: Ty, state: Ty, xs: Ty, ys: Ty, sums: Ty = Ty(),
                 reverse: bool = False, batch_summed=(), name: str = "loop",
                 recompute: int | None = None, snapshots: int | None = None):
        if not isinstance(stage, Diagram):
            raise TypeError(f"Loop: the stage must be a diagram, got {stage!r}")
        for ty, what in [(consts, "constants"), (state, "state"), (xs, "inputs"),
                         (ys, "outputs"), (sums, "summed outputs")]:
            if not isinstance(ty, Ty):
                raise TypeError(f"Loop: its {what} must be a type, got {ty!r}")
            _stepwise(ty, f"Loop {name}: its {what}")
        if stage.dom != consts @ state @ xs or stage.cod != state @ ys @ sums:
            raise TypeError(f"Loop {name}: the stage {describe(stage)} is not constants ⊗ "
                            f"state ⊗ inputs → state ⊗ outputs ⊗ sums "
                            f"({consts @ state @ xs!r} → {state @ ys @ sums!r})")
        if not len(xs):
            raise TypeError(f"Loop {name}: a loop reads at least one sequence (its length is "
                            f"the number of steps)")
        self.stage, self.consts, self.state, self.xs, self.ys, self.sums = \
            stage, consts, state, xs, ys, sums
        self.reverse = bool(reverse)
        self.recompute = None if recompute is None else whole(
            recompute, f"Loop {name}: recompute (the steps between stored states)", 1)
        # with snapshots=k the loop also outputs the state before steps 0, k, 2k, …
        self.snapshots = None if snapshots is None else whole(
            snapshots, f"Loop {name}: snapshots (the steps between stored states)", 1)
        self.batch_summed = tuple(sorted(set(batch_summed)))
        if any(not 0 <= k < len(sums) for k in self.batch_summed):
            raise ValueError(f"Loop {name}: batch_summed {batch_summed!r} are not positions "
                             f"of its {len(sums)} summed outputs")
        snaps = Seq(state) if self.snapshots else Ty()
        super().__init__(name, consts @ state @ Seq(xs), state @ Seq(ys) @ sums @ snaps)

    _caches = Box._caches + ("_key_cache", )

    def _key(self):
        key = self.__dict__.get("_key_cache")
        if key is None:
            key = self._key_cache = (self.name, self.consts, self.state, self.xs, self.ys,
                                     self.sums, self.reverse, self.batch_summed,
                                     self.recompute, self.snapshots, equations(self.stage))
        return key

    def __eq__(self, other):
        return self is other or isinstance(other, Loop) and self._key() == other._key()

    def __hash__(self):
        return hash((type(self).__name__, self.name, self.dom, self.cod))

    @property
    def summed_outputs(self) -> range:
        """The positions of its outputs that are sums over the steps (Z)."""
        start = len(self.state) + len(self.ys)
        return range(start, start + len(self.sums))

    def summing_over_batch(self, positions) -> Loop:
        """This loop with its summed outputs at ``positions`` (counted within Z) also
        summed over the batch."""
        return Loop(self.stage, self.consts, self.state, self.xs, self.ys, self.sums,
                    self.reverse, self.batch_summed + tuple(positions), self.name,
                    self.recompute, self.snapshots)

    # -- its reverse derivative: a forward loop keeping residuals, a reverse loop -----
    def optic(self, R):
        """(forward, backward, residual) of the lens R(loop), from the lens R(stage)
        (``R`` is the functor, passed in: ``categories`` imports nothing from
        ``lenses``). The forward loop keeps each step's residual; the backward loop
        runs the stage's backward half from the last step to the first, carrying
        the state's cotangent, summing the constants' cotangents over the steps and
        stacking the inputs'. A residual that is a constant, or an input of the step,
        is read from the loop's own input rather than stored again."""
        C, S, X, Y, Z = self.consts, self.state, self.xs, self.ys, self.sums
        lens = R(self.stage)            # g⁺: C⊗S⊗X → M⊗S⊗Y⊗Z,  g⁻: M⊗S⊗Y⊗Z → C⊗S⊗X
        M = lens.residual
        _, outs = equations(lens.forward)
        nC, nS = len(C), len(S)
        source = []                     # each residual wire: ("c", i), ("x", i) or ("m", j)
        varying = []
        for v in outs[:len(M)]:
            if v < nC:
                source.append(("c", v))
            elif nC + nS <= v < nC + nS + len(X):
                source.append(("x", v - nC - nS))
            else:
                source.append(("m", len(varying)))
                varying.append(len(source) - 1)
        Mv = Ty().tensor(*(M[k:k + 1] for k in varying))
        c_kept = [i for kind, i in source if kind == "c"]
        x_kept = [i for kind, i in source if kind == "x"]
        Mc = Ty().tensor(*(C[i:i + 1] for i in c_kept))
        Mx = Ty().tensor(*(X[i:i + 1] for i in x_kept))
        clock = X[:1] if not len(Mx) and not len(Mv) and not len(Y) else Ty()

        # the forward loop: the stage's forward half, the varying residuals stacked
        n = len(M)
        stage = lens.forward >> _permutation(
            M @ S @ Y @ Z, S @ Mv @ Y @ Z,
            [n + k for k in range(nS)] + varying + [n + nS + k for k in range(len(Y) + len(Z))])
        forward_loop = Loop(stage, C, S, X, Mv @ Y, Z, self.reverse, self.batch_summed,
                            self.name + "⁺")
        residual = Mc @ Seq(Mx) @ Seq(Mv) @ Seq(clock)
        A, B = self.dom, self.cod
        if self.recompute is not None:
            return self._checkpointed(stage, lens.backward, source, Mv, clock)

        @function(A, residual @ B)
        def forward(*wires):
            c, s, x = _split(wires, C, S, X)
            out = _tuple(forward_loop(*wires))
            s1, mv, y, z = _split(out, S, Mv, Y, Z)
            return (tuple(c[i] for i in c_kept) + tuple(x[i] for i in x_kept) + mv
                    + x[:len(clock)] + s1 + y + z)

        # the backward loop: consts (Mc, Z′), state S′, per step (Mx, Mv, clock, Y′)
        inputs = Mc @ Z @ S @ Mx @ Mv @ clock @ Y

        @function(inputs, S @ X @ C)
        def back_stage(*wires):
            mc, z, s, mx, mv, _, y = _split(wires, Mc, Z, S, Mx, Mv, clock, Y)
            picks = {"c": iter(mc), "x": iter(mx), "m": iter(mv)}
            m = tuple(next(picks[kind]) for kind, _ in source)
            c, s0, x = _split(_tuple(lens.backward(*m, *s, *y, *z)), C, S, X)
            return s0 + x + c
        backward_loop = Loop(back_stage, Mc @ Z, S, Mx @ Mv @ clock @ Y, X, C,
                             not self.reverse, name=self.name + "⁻")

        @function(residual @ B, A)
        def backward(*wires):
            mc, mx, mv, clk, s, y, z = _split(wires, Mc, Mx, Mv, clock, S, Y, Z)
            out = _tuple(backward_loop(*mc, *z, *s, *mx, *mv, *clk, *y))
            s0, x, c = _split(out, S, X, C)
            return c + s0 + x
        return forward, backward, residual


    def _checkpointed(self, keeping: Diagram, backward: Diagram, source, Mv: Ty, clock: Ty):
        """The optic of a checkpointed loop: the forward loop stores the state every k
        steps (and nothing else); the backward half (:class:`Recompute`) reruns each
        segment from its stored state, keeping its residuals, then runs the segment's
        backward steps: memory O(T/k + k), the forward work done twice."""
        if self.reverse:
            raise NotImplementedError(f"Loop {self.name}: checkpointing a reverse loop")
        C, S, X, Y, Z, k = self.consts, self.state, self.xs, self.ys, self.sums, self.recompute
        plain = Loop(self.stage, C, S, X, Y, Z, False, self.batch_summed, self.name + "⁺",
                     snapshots=k)
        residual = C @ Seq(X) @ Seq(S)
        A, B = self.dom, self.cod

        @function(A, residual @ B)
        def forward(*wires):
            c, s, x = _split(wires, C, S, X)
            s1, y, z, snaps = _split(_tuple(plain(*wires)), S, Y, Z, S)
            return c + x + snaps + s1 + y + z
        rerun = Recompute(keeping, backward, source, C, S, X, Y, Z, Mv, k, name=self.name + "⁻")
        return forward, rerun, residual

    # -- its tangent: the loop over the stage's tangent -----------------------------
    def tangent(self, T):
        """T(loop) : A ⊗ Ȧ → B ⊗ Ḃ, the loop of T(stage) with the state paired with
        its tangent (``T`` is ``lenses.tangent``, passed in): one pass forward in
        time, memory independent of the number of steps."""
        C, S, X, Y, Z = self.consts, self.state, self.xs, self.ys, self.sums
        Ts = T(self.stage)          # (C⊗S⊗X) ⊗ (Ċ⊗Ṡ⊗Ẋ) → (S⊗Y⊗Z) ⊗ (Ṡ⊗Ẏ⊗Ż)

        @function(C @ C @ S @ S @ X @ X, S @ S @ Y @ Y @ Z @ Z)
        def stage(*wires):
            c, dc, s, ds, x, dx = _split(wires, C, C, S, S, X, X)
            s1, y, z, ds1, dy, dz = _split(_tuple(Ts(*c, *s, *x, *dc, *ds, *dx)),
                                           S, Y, Z, S, Y, Z)
            return s1 + ds1 + y + dy + z + dz
        summed = self.batch_summed + tuple(len(Z) + k for k in self.batch_summed)
        loop = Loop(stage, C @ C, S @ S, X @ X, Y @ Y, Z @ Z, self.reverse, summed,
                    self.name + "ᵀ")
        SX, SY = Seq(X), Seq(Y)

        @function(self.dom @ self.dom, self.cod @ self.cod)
        def result(*wires):
            c, s, x, dc, ds, dx = _split(wires, C, S, SX, C, S, SX)
            s1, ds1, y, dy, z, dz = _split(_tuple(loop(*c, *dc, *s, *ds, *x, *dx)),
                                           S, S, SY, SY, Z, Z)
            return s1 + y + z + ds1 + dy + dz
        return result


class Recompute(Box):
    """The backward half of a checkpointed loop (:meth:`Loop.optic` with ``recompute``).

    C ⊗ Seq(X) ⊗ Seq(S)ₖ ⊗ S′ ⊗ Seq(Y′) ⊗ Z′ → C′ ⊗ S′ ⊗ Seq(X′): for each segment
    of k steps, last first, rerun ``keeping`` (the stage's forward half, C ⊗ S ⊗ X →
    S ⊗ Mv ⊗ Y ⊗ Z) from the state stored at its start, keeping the residuals Mv,
    then run ``backward`` (the stage's backward half, M ⊗ S′ ⊗ Y′ ⊗ Z′ → C′ ⊗ S′ ⊗
    X′, its residual M gathered from C, X and Mv as ``source`` says) over the
    segment's steps in reverse, the state's cotangent carried, C′ summed."""

    def __init__(self, keeping: Diagram, backward: Diagram, source, consts: Ty, state: Ty,
                 xs: Ty, ys: Ty, sums: Ty, kept: Ty, every: int, batch_summed=(),
                 name: str = "recompute"):
        self.keeping, self.backward, self.source = keeping, backward, tuple(source)
        self.consts, self.state, self.xs, self.ys, self.sums, self.kept = \
            consts, state, xs, ys, sums, kept
        self.every = whole(every, "Recompute: every", 1)
        self.batch_summed = tuple(sorted(set(batch_summed)))
        super().__init__(name, consts @ Seq(xs) @ Seq(state) @ state @ Seq(ys) @ sums,
                         consts @ state @ Seq(xs))

    @property
    def summed_outputs(self) -> range:
        """C′, its first outputs, summed over the steps."""
        return range(len(self.consts))

    def summing_over_batch(self, positions) -> Recompute:
        return Recompute(self.keeping, self.backward, self.source, self.consts, self.state,
                         self.xs, self.ys, self.sums, self.kept, self.every,
                         self.batch_summed + tuple(positions), self.name)

    _caches = Box._caches + ("_key_cache", )

    def _key(self):
        key = self.__dict__.get("_key_cache")
        if key is None:
            key = self._key_cache = (self.name, self.dom, self.cod, self.source, self.every,
                                     self.batch_summed, equations(self.keeping),
                                     equations(self.backward))
        return key

    def __eq__(self, other):
        return self is other or isinstance(other, Recompute) and self._key() == other._key()

    def __hash__(self):
        return hash((type(self).__name__, self.name, self.dom, self.cod))

    def optic(self, R):
        raise NotImplementedError(f"{self.name}: the reverse derivative of a checkpointed "
                                  f"backward pass (differentiate the loop without recompute)")


claim_name(Loop, OPERATIONS)     # rule tables name it; it is no generator (no fixed type)
claim_name(Recompute, OPERATIONS)


def _initial(state: Ty, initial, what: str) -> tuple:
    """The initial state as one array per state wire, each of that wire's shape and dtype."""
    wires = state.inside
    if initial is None or isinstance(initial, Ty):
        return tuple(np.zeros(w.shape, dtype=w.dtype) for w in wires)
    values = tuple(initial) if isinstance(initial, (tuple, list)) else (initial, )
    if len(values) != len(wires):
        raise ValueError(f"{what}: {len(values)} initial values for the {len(wires)} state "
                         f"wires {state!r}")
    out = []
    for k, (value, wire) in enumerate(zip(values, wires)):
        array = np.asarray(value)
        if array.ndim == 0 and isinstance(value, (int, float, np.number)) and wire.shape:
            array = np.full(wire.shape, value)          # one number: every entry
        if array.dtype.kind not in ("b" if wire.kind == "Bool" else "biuf") or (
                wire.kind == "Real" and array.dtype.kind == "f"
                and array.dtype.itemsize > wire.dtype.itemsize):
            raise TypeError(f"{what}: the initial value of state wire {k} ({wire!r}) has "
                            f"dtype {array.dtype}")
        if array.shape != wire.shape:
            raise ValueError(f"{what}: the initial value of state wire {k} ({wire!r}) has "
                             f"shape {array.shape}, not {wire.shape} (one example's state; "
                             f"it is shared by the batch)")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise ValueError(f"{what}: the initial value of state wire {k} ({wire!r}) is not "
                             f"finite")
        array = np.array(array, dtype=wire.dtype)
        array.setflags(write=False)
        out.append(array)
    return tuple(out)


class Machine:
    """A morphism X → Y of St(C): a Para stage P ⊗ S ⊗ X → S ⊗ Y and an initial state."""

    def __init__(self, stage, state: Ty, initial=None):
        stage = stage if isinstance(stage, Para) else _para(stage, "make a machine of")
        if not isinstance(state, Ty):
            raise TypeError(f"Machine: the state must be a type, got {state!r}")
        n = len(state)
        _stepwise(stage.dom, "Machine: the stage's inputs")
        _stepwise(stage.cod, "Machine: the stage's outputs")
        if stage.dom[:n] != state or stage.cod[:n] != state:
            raise TypeError(f"Machine: the stage {stage.dom!r} → {stage.cod!r} does not carry "
                            f"the state {state!r} (its first wires on both sides)")
        self.stage, self.state = stage, state
        self.dom, self.cod = stage.dom[n:], stage.cod[n:]
        self.initial = _initial(state, initial, "Machine")

    @classmethod
    def _of(cls, stage: Para, state: Ty, initial: tuple) -> Machine:
        m = object.__new__(cls)
        m.stage, m.state, m.initial = stage, state, initial
        m.dom, m.cod = stage.dom[len(state):], stage.cod[len(state):]
        return m

    @classmethod
    def lift(cls, f) -> Machine:
        """A stateless diagram or Para map, run at every step (state I)."""
        f = _para(f, "make a machine of")
        _stepwise(f.dom, "a stateless map's inputs")
        _stepwise(f.cod, "a stateless map's outputs")
        return cls._of(f, Ty(), ())

    @property
    def params(self) -> tuple:
        return self.stage.params

    @property
    def param_type(self) -> Ty:
        return self.stage.param_type

    @property
    def names(self) -> tuple:
        """The parameters' unique names, in order (as ``Para.names``)."""
        return self.stage.names

    def param(self, name: str):
        """The handle of the parameter named ``name``."""
        return self.stage.param(name)

    @property
    def arguments(self) -> list:
        """The names of the loop's inputs: the parameters', the initial ``state``, the
        input sequences ``xs`` (a clocked machine's clock)."""
        n = len(self.params) + len(self.state)
        return (list(self.names) + wire_names("state", self.state)
                + wire_names("xs", self.diagram.dom[n:]))

    @property
    def results(self) -> list:
        """The names of the loop's outputs: the final ``state``, the output sequences ``ys``."""
        return wire_names("state", self.state) + wire_names("ys", self.diagram.cod[len(self.state):])

    def parameters(self, values):
        """``values`` as this machine's name-keyed ``Parameters`` (as ``Para.parameters``)."""
        return self.stage.parameters(values)

    def init(self, seed: int = 0):
        """The parameters' initial values, keyed by name (as ``Para.init``)."""
        return self.stage.init(seed)

    # -- St(C)'s structure -----------------------------------------------------------
    def then(self, *others) -> Machine:
        """f ; g: state S ⊗ T, initial (i, j); each step runs f, then g on its output.
        The parameters in data-flow order (f's first), as in Para."""
        result = self
        for other in others:
            result = result._then(machine(other, "compose"))
        return result

    def _then(self, g: Machine) -> Machine:
        f = self
        if f.cod != g.dom:
            raise CompositionError(f"cannot compose the machine {f!r} with {g!r}: "
                                   f"{f.cod!r} ≠ {g.dom!r}")
        P, Q, S, T, X, Y = f.param_type, g.param_type, f.state, g.state, f.dom, f.cod
        with building():
            move = Q @ swap(P @ S, T) @ X                     # Q P S T X → Q T P S X
            first = Q @ T @ f.stage.diagram                   # → Q T S Y
            out = swap(Q @ T, S) @ Y                          # → S Q T Y
            diagram = move >> first >> out >> S @ g.stage.diagram
            stage = Para(g.params + f.params, diagram)._shared(
                f.params + g.params, g.stage.draws + f.stage.draws)
        return Machine._of(stage, S @ T, f.initial + g.initial)

    def __rshift__(self, other):
        if isinstance(other, (Machine, Para, Diagram)):
            return self.then(other)
        return NotImplemented

    def __rrshift__(self, other):
        if isinstance(other, (Para, Diagram)):
            return machine(other, "compose").then(self)
        return NotImplemented

    def tensor(self, other) -> Machine:
        """f ⊗ g: the states side by side, the stages run in parallel."""
        g = machine(other, "tensor")
        f = self
        P, Q, S, T, X, X2 = f.param_type, g.param_type, f.state, g.state, f.dom, g.dom
        Y, Y2 = f.cod, g.cod
        with building():
            k = [len(P), len(Q), len(S), len(T), len(X), len(X2)]
            starts = np.cumsum([0] + k)
            p, q, s, t, x, x2 = (list(range(a, a + n)) for a, n in zip(starts, k))
            move = _permutation(P @ Q @ S @ T @ X @ X2, P @ S @ X @ Q @ T @ X2,
                                p + s + x + q + t + x2)
            m = [len(S), len(Y), len(T), len(Y2)]
            starts = np.cumsum([0] + m)
            s1, y, t1, y2 = (list(range(a, a + n)) for a, n in zip(starts, m))
            out = _permutation(S @ Y @ T @ Y2, S @ T @ Y @ Y2, s1 + t1 + y + y2)
            diagram = move >> (f.stage.diagram @ g.stage.diagram) >> out
            stage = Para(f.params + g.params, diagram)._shared(
                draws=f.stage.draws + g.stage.draws)
        return Machine._of(stage, S @ T, f.initial + g.initial)

    def __matmul__(self, other):
        if isinstance(other, (Machine, Para, Diagram, Ty)):
            return self.tensor(other)
        return NotImplemented

    def __rmatmul__(self, other):
        if isinstance(other, (Para, Diagram, Ty)):
            return machine(other, "tensor").tensor(self)
        return NotImplemented

    # -- its meaning as one loop, and its unrolling ---------------------------------
    @property
    def clocked(self) -> bool:
        """A machine with no input runs on a clock: an input of width 0 counting steps."""
        return not len(self.dom)

    def loop(self, summed: bool = False, recompute: int | None = None) -> Loop:
        """The loop P ⊗ S ⊗ Seq(X) → S ⊗ Seq(Y) (or S ⊗ Y, the outputs summed over
        the steps, with ``summed``); with ``recompute=k`` its reverse derivative
        stores the state every k steps and recomputes the residuals inside each
        segment (memory O(T/k + k) instead of O(T))."""
        P, S, X, Y = self.param_type, self.state, self.dom, self.cod
        stage = self.stage.diagram
        if self.clocked:
            X = Real(0)
            stage = P @ S @ discard(X) >> stage
        ys, sums = (Ty(), Y) if summed else (Y, Ty())
        return Loop(stage, P, S, X, ys, sums, name="dtrace" if len(S) else "map",
                    recompute=recompute)

    @property
    def diagram(self) -> Diagram:
        """The machine as one box: P ⊗ S ⊗ Seq(X) → S ⊗ Seq(Y) (the initial state in,
        the final state out; a clocked machine reads Seq(Real(0)))."""
        cached = self.__dict__.get("_diagram")
        if cached is None:
            cached = self._diagram = self.loop()
        return cached

    @property
    def para(self) -> Para:
        """The loop as a Para map S ⊗ Seq(X) → S ⊗ Seq(Y), parameters first."""
        return Para._of(self.params, self.diagram, self.param_type,
                        self.diagram.dom[len(self.params):], self.stage.draws)

    def unroll(self, n: int) -> Para:
        """n copies of the stage, P ⊗ S ⊗ X₀ ⊗ … ⊗ X_{n−1} → S ⊗ Y₀ ⊗ … ⊗ Y_{n−1}
        (θ copied to every step): for drawing and for oracles at small n. Running a
        machine never unrolls it."""
        n = whole(n, "unroll(n): the number of steps")
        P, S, X, Y = self.param_type, self.state, self.dom, self.cod
        stage = self.stage.diagram
        Xn = Ty().tensor(*([X] * n))
        Yn = Ty().tensor(*([Y] * n))

        @function(P @ S @ Xn, S @ Yn)
        def unrolled(*wires):
            p, s, xs = _split(wires, P, S, Xn)
            ys = ()
            for t in range(n):
                out = _tuple(stage(*p, *s, *xs[t * len(X):(t + 1) * len(X)]))
                s, y = _split(out, S, Y)
                ys += y
            return s + ys
        return Para(self.params, unrolled)._shared(draws=self.stage.draws)

    #: what a machine keeps that it derives (its loop, tangent and lenses): never pickled
    _caches = ("_diagram", "_tangent", "_lenses")

    def __getstate__(self) -> dict:
        """Pickled without its caches, its initial state read-only as it was.

        >>> import pickle
        >>> m = delay(Real(2), np.ones(2))
        >>> again = pickle.loads(pickle.dumps(m))
        >>> again.stage.diagram == m.stage.diagram, again.initial[0].flags.writeable
        (True, False)
        """
        return {k: pickled(v) for k, v in self.__dict__.items() if k not in self._caches}

    def draw(self, stage: bool = False, **params):
        """Draw the machine as DisCoPy draws feedback: its stage as one box whose state
        output S comes back, delayed (S.d), as its state input; ``stage=True`` draws
        the stage's own diagram, the state wires first on both sides."""
        if stage:
            return self.stage.diagram.draw(**params)
        name = f"stage ({self.stage.diagram.size} boxes)"
        return feedback_drawing(name, self.dom, self.cod, self.state).draw(**params)

    def __repr__(self):
        params = ", ".join(f"{n}: {p.ty!r}" for n, p in zip(self.names, self.params))
        return (f"Machine({params}{'; ' if params else ''}state {self.state!r}; "
                f"{self.dom!r} → {self.cod!r})")


def machine(f, verb: str = "make a machine of") -> Machine:
    """A machine, or a stateless diagram / Para map / type lifted to one."""
    if isinstance(f, Machine):
        return f
    if isinstance(f, Ty):
        f = Para.id(f)
    if isinstance(f, (Para, Diagram)):
        return Machine.lift(f)
    raise TypeError(f"cannot {verb} a machine with {type(f).__name__} {f!r}: it takes "
                    f"machines, Para maps, diagrams and types")


def dtrace(f, initial) -> Machine:
    """The delayed trace dtrⁱ(f) of f : S ⊗ X → S ⊗ Y (a machine, Para map or
    diagram): S's output at step t is its input at step t + 1; ``initial`` is i,
    an array per state wire (or the type S, for zeros). The state of the result
    is S ⊗ U, U being f's own."""
    m = machine(f, "take the delayed trace of")
    if isinstance(initial, Ty):
        S = initial
    else:
        k = len(initial) if isinstance(initial, (tuple, list)) else 1
        S = m.dom[:k]
    n = len(S)
    if m.dom[:n] != S or m.cod[:n] != S:
        given = "" if isinstance(initial, Ty) else \
            f" (the state read off the {n} initial value{'s' if n != 1 else ''} of shape " \
            f"{', '.join(str(np.shape(v)) for v in (initial if isinstance(initial, (tuple, list)) else [initial]))})"
        raise TypeError(f"dtrace: the stage {m.dom!r} → {m.cod!r} does not begin with the "
                        f"traced state {S!r} on both sides{given}: the state wires come "
                        f"first, in and out")
    initial = _initial(S, initial, "dtrace")
    P, U, X, Y = m.param_type, m.state, m.dom[n:], m.cod[n:]
    with building():
        diagram = (P @ swap(S, U) @ X) >> m.stage.diagram >> (swap(U, S) @ Y)
        stage = Para(m.params, diagram)._shared(draws=m.stage.draws)
    return Machine._of(stage, S @ U, initial + m.initial)


def delay(x: Ty, initial=None) -> Machine:
    """The delay register δⁱ_x: state x, stage (s, x) ↦ (x, s): it outputs i at the
    first step and its previous input after (the trace of a swap: yanking fails)."""
    return Machine(swap(x, x), x, initial)
