"""The delayed-trace laws of St(C), as stream equalities of machines.

``reference/delayed-trace.md`` §2, §4 and §8.5–7. Two machines X → Y are equal in
St(C) when they give equal output sequences from every input sequence (extensional
equality; their states may differ), so a law is checked by running both sides on
random sequences up to a horizon. The machines are run by an evaluator passed in,

    run(machine, params, xs) -> output sequences

``params`` a dict from Param handle to array (both sides share their handles), ``xs``
one array (batch, time, *shape) per input wire (a machine with no input reads the
clock, one array (batch, time, 0)), and the result one array (batch, time, *shape)
per output wire. This module builds and compares; it runs nothing itself.

Naturality, superposing, vanishing, dinaturality with the initial state transported
and dtrⁱ(σ) = δⁱ hold; yanking and dinaturality with one initial value fail, and
their reports carry the counterexample; the lifted derivative (``tangent_machine``,
from a tangent builder passed in) commutes with dtr and satisfies the chain rule,
and central differences are its oracle. :mod:`categories.laws` re-exports every
name, so ``laws.yanking`` is ``trace_laws.yanking``.

>>> from paralens.categories import Real
>>> from paralens.interpreters.numpy import compile
>>> def run(m, params, xs):
...     out = compile(m.diagram)(*[params[p] for p in m.params], *m.initial, *xs)
...     return (out if isinstance(out, tuple) else (out, ))[len(m.state):]
>>> yanking(Real(), 0.0, run).ok               # dtr⁰(σ) outputs 0, x₀, x₁, … ≠ x₀, x₁, …
False
>>> yanking_delay(Real(), 0.0, run).ok         # dtr⁰(σ) = δ⁰
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .adapter import Diagram, Ty
from .checking import Failure, Report, _equal, _single, uniform
from .para import Para, Param
from .stateful import Machine, delay, dtrace, machine
from .structural import swap
from .syntax import as_tuple as _tuple, function, split as _split

__all__ = [
    "StreamLaw", "check_streams", "trace_naturality", "trace_strength", "trace_vanishing",
    "yanking", "yanking_delay", "dinaturality", "dinaturality_transported",
    "tangent_machine", "tangent_commutes_with_dtrace", "tangent_chain_rule",
    "tangent_finite_differences",
]


@dataclass
class StreamLaw:
    """Machines ``lhs`` and ``rhs`` X → Y that must be equal in St(C). A side may be a
    function of the parameters' values returning a machine (a side whose initial
    state is computed from them); ``params`` then names the handles it reads."""

    name: str
    lhs: object
    rhs: object
    params: tuple = ()

    def __post_init__(self):
        if isinstance(self.lhs, Machine) and isinstance(self.rhs, Machine) and (self.lhs.dom, self.lhs.cod) != (self.rhs.dom, self.rhs.cod):
            raise TypeError(f"{self.name}: the two sides have different types: "
                            f"{self.lhs.dom!r} → {self.lhs.cod!r} and "
                            f"{self.rhs.dom!r} → {self.rhs.cod!r}")


def _sequence(wire, rng, batch: int, horizon: int, sample) -> np.ndarray:
    """A random input sequence (batch, horizon, *shape) of one wire."""
    return np.stack([sample(wire, rng, batch) for _ in range(horizon)], axis=1)


def _side(side, values: dict):
    return side if isinstance(side, Machine) else side(values)


def check_streams(laws, run, horizon: int = 6, trials: int = 3, batch: int = 3,
                  seed: int = 0, sample=None, xs=None, params=None,
                  rtol: float | None = None, atol: float | None = None) -> Report:
    """Run both sides of every stream law with ``run`` (see the module) on random input
    sequences of ``horizon`` steps and random parameters (``sample``, uniform in
    [−1, 1] by default), and report where the output sequences differ. ``xs`` and
    ``params`` fix the inputs (one trial) and the parameters' values."""
    rng = np.random.default_rng(seed)
    sample = sample or uniform()
    report = Report()
    for law in laws:
        report.checked.append(law.name)
        handles = list(law.params)
        for side in (law.lhs, law.rhs):
            if isinstance(side, Machine):
                handles += side.params
        for _ in range(1 if xs is not None else trials):
            values = {p: sample(p.ty.inside[0], rng, 0) for p in dict.fromkeys(handles)}
            values.update(params or {})
            lhs, rhs = _side(law.lhs, values), _side(law.rhs, values)
            if xs is not None:
                inputs = [np.asarray(x) for x in xs]
            elif lhs.clocked:
                inputs = [np.zeros((batch, horizon, 0))]
            else:
                inputs = [_sequence(w, rng, batch, horizon, sample) for w in lhs.dom.inside]
            left, right = _tuple(run(lhs, values, inputs)), _tuple(run(rhs, values, inputs))
            default = 1e-3 if _single(lhs.stage.diagram) else 1e-9
            if len(left) != len(right) or not all(
                    _equal(l, r, default if rtol is None else rtol,
                           default if atol is None else atol) for l, r in zip(left, right)):
                report.failures.append(Failure(law.name, inputs, list(left), list(right)))
                break
    return report


def _traced_state(f, initial):
    """(S, the initial values as arrays) of dtrace(f, initial)."""
    m = machine(f, "take the delayed trace of")
    t = dtrace(m, initial)
    n = len(t.state) - len(m.state)
    return t.state[:n], t.initial[:n]


def _wiring(dom: Ty, cod: Ty, order) -> Diagram:
    """dom → cod sending output k to input ``order[k]``."""
    return function(dom, cod)(lambda *wires: tuple(wires[k] for k in order))


def _check(laws_, run, options) -> Report:
    return check_streams(laws_, run, **options)


def trace_naturality(f, k, h, initial, run, **options) -> Report:
    """Naturality (tightening) in X and Y, which holds: for f : S ⊗ X → S ⊗ Y and
    machines k : X′ → X, h : Y → Y′ (stateful allowed),
    dtrⁱ((1_S ⊗ k) ; f ; (1_S ⊗ h)) = k ; dtrⁱ(f) ; h."""
    S, i = _traced_state(f, initial)
    lhs = dtrace((S @ machine(k)) >> machine(f) >> (S @ machine(h)), i)
    rhs = machine(k) >> dtrace(f, i) >> machine(h)
    return _check([StreamLaw("naturality (tightening)", lhs, rhs)], run, options)


def trace_strength(g, f, initial, run, **options) -> Report:
    """Superposing (strength), which holds: g ⊗ dtrⁱ(f) = dtrⁱ(g ⊗ f) with the traced
    wire S routed past g, and dtrⁱ(f) ⊗ g = dtrⁱ(f ⊗ g); g : A → B any machine."""
    g, m = machine(g), machine(f)
    S, i = _traced_state(m, initial)
    n = len(S)
    A, B, X, Y = g.dom, g.cod, m.dom[n:], m.cod[n:]
    routed = (swap(S, A) @ X) >> (g @ m) >> (swap(B, S) @ Y)
    return _check([StreamLaw("superposing (left)", g @ dtrace(m, i), dtrace(routed, i)),
                   StreamLaw("superposing (right)", dtrace(m, i) @ g, dtrace(m @ g, i))],
                  run, options)


def trace_vanishing(f, first, second, run, **options) -> Report:
    """Vanishing, which holds: over S = I the trace is f itself, and over S ⊗ S′ it is
    the iterated trace: dtr^{(i, i′)}(f) = dtr^{i′}(dtr^{i}(f)) for f : S ⊗ S′ ⊗ X →
    S ⊗ S′ ⊗ Y (traced wires come first, so the inner trace is over S)."""
    m = machine(f)
    S, i = _traced_state(m, first)
    inner = dtrace(m, i)
    S2, j = _traced_state(inner, second)
    return _check([StreamLaw("vanishing (over I)", dtrace(m, Ty()), m),
                   StreamLaw("vanishing (over S ⊗ S′)", dtrace(m, i + j), dtrace(inner, j))],
                  run, options)


def yanking(x: Ty, initial, run, **options) -> Report:
    """Yanking, which FAILS in St(C): dtrⁱ(σ_{x,x}) = 1_x. Its report shows the
    counterexample: the trace of the swap outputs i, then its previous input."""
    return _check([StreamLaw("yanking", dtrace(swap(x, x), initial), machine(x))],
                  run, options)


def yanking_delay(x: Ty, initial, run, **options) -> Report:
    """What holds instead of yanking: dtrⁱ(σ_{x,x}) = δⁱ, the one-step delay."""
    return _check([StreamLaw("the trace of the swap is the delay",
                             dtrace(swap(x, x), initial), delay(x, initial))], run, options)


def _dinatural_sides(f, g):
    f, g = machine(f), machine(g, "slide")
    if len(g.state):
        raise TypeError(f"dinaturality: g must be stateless, got {g!r}")
    S2, S = g.dom, g.cod                  # g : S′ → S, f : S ⊗ X → S′ ⊗ Y
    n = len(S)
    X, Y = f.dom[n:], f.cod[len(S2):]
    if f.dom[:n] != S or f.cod[:len(S2)] != S2:
        raise TypeError(f"dinaturality: f {f.dom!r} → {f.cod!r} is not S ⊗ X → S′ ⊗ Y for "
                        f"g : {S2!r} → {S!r}")
    return f >> (g @ Y), (g @ X) >> f, g, S, S2


def dinaturality(f, g, initial, run, **options) -> Report:
    """Dinaturality with one initial value, which FAILS in St(C): for f : S ⊗ X → S′ ⊗ Y
    and stateless g : S′ → S (S = S′ as types), dtrⁱ(f ; (g ⊗ Y)) = dtrⁱ((g ⊗ X) ; f).
    The sides differ at the first step: one starts from i, the other from g(i)."""
    before, after, _, S, S2 = _dinatural_sides(f, g)
    if S != S2:
        raise TypeError(f"dinaturality with one initial value needs S = S′, got {S!r} "
                        f"and {S2!r} (use dinaturality_transported)")
    return _check([StreamLaw("dinaturality", dtrace(before, initial), dtrace(after, initial))],
                  run, options)


def dinaturality_transported(f, g, initial, run, **options) -> Report:
    """Dinaturality with the initial state transported along g, which holds:
    dtr^{g(i′)}(f ; (g ⊗ Y)) = dtr^{i′}((g ⊗ X) ; f), i′ : S′. g(i′) is computed with
    ``run`` (g lifted to a machine, one step), at the parameters of each trial."""
    before, after, g, S, S2 = _dinatural_sides(f, g)
    _, i2 = _traced_state(after, initial)

    def lhs(values):
        steps_ = [np.asarray(v)[None, None] for v in i2] or [np.zeros((1, 1, 0))]
        moved = tuple(np.asarray(y)[0, 0] for y in _tuple(run(g, values, steps_)))
        return dtrace(before, moved)
    return _check([StreamLaw("dinaturality (initial state transported)", lhs,
                             dtrace(after, i2), g.params)], run, options)


def tangent_machine(f, tangent, dparams: dict | None = None):
    """T F = ⟨F, D F⟩ (reference §3), the tangent bundle of a machine F : X → Y: the
    machine X ⊗ Ẋ → Y ⊗ Ẏ with state S ⊗ Ṡ, initial state (i, 0), and at every step
    the stage's tangent (``tangent``: diagram A → B ↦ diagram A ⊗ Ȧ → B ⊗ Ḃ, such as
    ``lenses.tangent``). Its parameters are F's followed by their tangents (constant
    streams θ̇), one handle per parameter from ``dparams`` (filled in when missing,
    so machines sharing parameters share their tangents)."""
    m = machine(f, "differentiate")
    dparams = {} if dparams is None else dparams
    dps = tuple(dparams.setdefault(p, Param(p.ty, "d" + p.name)) for p in m.params)
    P, S, X, Y = m.param_type, m.state, m.dom, m.cod
    nP, nS, nX, nY = len(P), len(S), len(X), len(Y)
    Ts = tangent(m.stage.diagram)             # (P S X)(Ṗ Ṡ Ẋ) → (S Y)(Ṡ Ẏ)

    @function(P @ P @ S @ S @ X @ X, S @ S @ Y @ Y)
    def stage(*w):
        p, dp, s, ds, x, dx = _split(w, nP, nP, nS, nS, nX, nX)
        s1, y, ds1, dy = _split(_tuple(Ts(*p, *s, *x, *dp, *ds, *dx)), nS, nY, nS, nY)
        return s1 + ds1 + y + dy
    zeros = tuple(np.zeros_like(v) for v in m.initial)
    return Machine(Para(m.params + dps, stage), S @ S, m.initial + zeros)


def tangent_commutes_with_dtrace(f, initial, tangent, run, **options) -> Report:
    """D commutes with the delayed trace (reference §4), which holds:
    T(dtrⁱ f) = dtr^{(i, 0)}(T f), T f regrouped from (S ⊗ X) ⊗ (Ṡ ⊗ Ẋ) → (S ⊗ Y) ⊗
    (Ṡ ⊗ Ẏ) to (S ⊗ Ṡ) ⊗ (X ⊗ Ẋ) → (S ⊗ Ṡ) ⊗ (Y ⊗ Ẏ)."""
    m = machine(f)
    S, i = _traced_state(m, initial)
    n, X, Y = len(S), m.dom[len(S):], m.cod[len(S):]
    nx, ny = len(X), len(Y)
    dparams: dict = {}
    Tf = tangent_machine(m, tangent, dparams)
    s, ds = list(range(n)), list(range(n, 2 * n))
    before = _wiring(S @ S @ X @ X, S @ X @ S @ X,
                     s + [2 * n + k for k in range(nx)] + ds
                     + [2 * n + nx + k for k in range(nx)])
    after = _wiring(S @ Y @ S @ Y, S @ S @ Y @ Y,
                    s + [n + ny + k for k in range(n)] + [n + k for k in range(ny)]
                    + [2 * n + ny + k for k in range(ny)])
    zeros = tuple(np.zeros_like(v) for v in i)
    lhs = tangent_machine(dtrace(m, i), tangent, dparams)
    rhs = dtrace(before >> Tf >> after, i + zeros)
    return _check([StreamLaw("D commutes with dtr", lhs, rhs)], run, options)


def tangent_chain_rule(f, g, tangent, run, **options) -> Report:
    """The chain rule of the lifted derivative (reference §4), which holds:
    T(F ; G) = T F ; T G, i.e. D(F ; G) = ⟨π₀;F, D F⟩ ; D G, as output streams."""
    f, g = machine(f), machine(g)
    dparams: dict = {}
    lhs = tangent_machine(f >> g, tangent, dparams)
    rhs = tangent_machine(f, tangent, dparams) >> tangent_machine(g, tangent, dparams)
    return _check([StreamLaw("chain rule D(F;G)", lhs, rhs)], run, options)


def tangent_finite_differences(f, tangent, run, horizon: int = 6, trials: int = 3,
                               batch: int = 3, seed: int = 0, h: float = 1e-6,
                               rtol: float = 1e-5, atol: float = 1e-7) -> Report:
    """The oracle for T F (reference §8.1): its tangent output stream against central
    differences of F's outputs along a random direction of the parameters and of the
    input sequence (the initial state's tangent is 0)."""
    m = machine(f, "differentiate")
    dparams: dict = {}
    T = tangent_machine(m, tangent, dparams)
    rng, sample = np.random.default_rng(seed), uniform()
    name = "T F = finite differences"
    report = Report([name])
    for _ in range(trials):
        theta = {p: sample(p.ty.inside[0], rng, 0) for p in m.params}
        dtheta = {p: sample(p.ty.inside[0], rng, 0) for p in m.params}
        if m.clocked:
            xs, dxs = [np.zeros((batch, horizon, 0))], [np.zeros((batch, horizon, 0))]
        else:
            xs = [_sequence(w, rng, batch, horizon, sample) for w in m.dom.inside]
            dxs = [_sequence(w, rng, batch, horizon, sample) for w in m.dom.inside]
        shifted = [{p: theta[p] + sign * h * dtheta[p] for p in m.params} for sign in (1, -1)]
        plus_, minus = (_tuple(run(m, shifted[k], [x + sign * h * dx for x, dx in zip(xs, dxs)]))
                        for k, sign in ((0, 1), (1, -1)))
        differences = [(a - b) / (2 * h) for a, b in zip(plus_, minus)]
        values = dict(theta)
        values.update({dparams[p]: dtheta[p] for p in m.params})
        got = _tuple(run(T, values, xs + dxs if not m.clocked else xs))[len(m.cod):]
        if not all(np.allclose(a, b, rtol=rtol, atol=atol) for a, b in zip(got, differences)):
            report.failures.append(Failure(name, xs + dxs, list(got), differences))
            break
    return report
