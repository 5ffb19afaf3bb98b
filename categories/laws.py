"""Executable laws: each law is a pair of diagrams that must be equal.

A law function takes diagrams and returns :class:`Law` objects (name, left
side, right side); :func:`check` evaluates both sides at random points with
any interpreter and reports which law fails, and on which input. Laws are
stated here, in the syntax, and judged by an interpreter passed in, so this
module depends on no semantics.

* category: identity, associativity
* monoidal: interchange
* reverse derivative (Cockett et al.): RD.1 – RD.7
* the functor R into lenses: preserves composition and tensor, and its
  put is the combinator R[f]  (see ``lens_laws``, which takes R as argument)
* the delayed trace of St(C), as stream equalities of machines run by an
  evaluator passed in (``run(machine, params, xs)``): naturality, superposing,
  vanishing, dinaturality with the initial state transported and dtrⁱ(σ) = δⁱ
  hold; yanking and dinaturality with one initial value fail, and their
  reports carry the counterexample; the lifted derivative (``tangent_machine``,
  from a tangent builder passed in) commutes with dtr and satisfies the chain
  rule, and central differences are its oracle

>>> from paralens.categories import Real, Sigmoid, Tanh
>>> x = Real(2)
>>> [law.name for law in category_laws(Sigmoid(x), Tanh(x), Sigmoid(x))]
['identity (left)', 'identity (right)', 'associativity']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .adapter import Diagram, Id, Ty, steps
from .para import Para, Param
from .reverse import forward_derivative, reverse
from .stateful import Machine, delay, dtrace, machine
from .structural import add, copy, discard, swap, zero
from .syntax import function

__all__ = [
    "Law", "Report", "check", "category_laws", "monoidal_laws", "rd_laws",
    "lens_laws", "generator_laws", "check_finite_differences", "plus", "uniform",
]


@dataclass
class Law:
    """``lhs`` and ``rhs`` must be equal maps."""

    name: str
    lhs: Diagram
    rhs: Diagram

    def __post_init__(self):
        if (self.lhs.dom, self.lhs.cod) != (self.rhs.dom, self.rhs.cod):
            raise TypeError(f"{self.name}: the two sides have different types: "
                            f"{self.lhs.dom!r} → {self.lhs.cod!r} and "
                            f"{self.rhs.dom!r} → {self.rhs.cod!r}")


def plus(f: Diagram, g: Diagram) -> Diagram:
    """f + g = Δ ; (f ⊗ g) ; +, the sum in a left-additive category."""
    return copy(f.dom) >> f @ g >> add(f.cod)


def _zero_map(f: Diagram) -> Diagram:
    return discard(f.dom) >> zero(f.cod)


def _split(wires, *sizes):
    out, k = [], 0
    for n in sizes:
        out.append(tuple(wires[k:k + n]))
        k += n
    return out


def _tuple(x):
    return x if isinstance(x, tuple) else (x, )


def category_laws(f: Diagram, g: Diagram, h: Diagram) -> list[Law]:
    """Identity and associativity, for composable f, g, h."""
    return [
        Law("identity (left)", Id(f.dom) >> f, f),
        Law("identity (right)", f >> Id(f.cod), f),
        Law("associativity", (f >> g) >> h, f >> (g >> h)),
    ]


def monoidal_laws(f: Diagram, g: Diagram) -> list[Law]:
    """Interchange: f ⊗ g = (f ⊗ 1) ; (1 ⊗ g) = (1 ⊗ g) ; (f ⊗ 1); and symmetry."""
    return [
        Law("interchange", f.dom @ g >> f @ g.cod, f @ g.dom >> f.cod @ g),
        Law("naturality of the swap", f @ g >> swap(f.cod, g.cod),
            swap(f.dom, g.dom) >> g @ f),
    ]


def rd_laws(f: Diagram, g: Diagram | None = None, higher: bool = True) -> list[Law]:
    """RD.1 – RD.7 for f (and g, parallel to f for RD.1 and RD.4, composable
    after f for RD.5). ``higher=False`` leaves out RD.6 and RD.7, whose
    diagrams are third and fourth reverse derivatives."""
    A, B = f.dom, f.cod
    a_, b_ = len(A), len(B)
    Rf = reverse(f)
    laws = []
    parallel = g if g is not None and (g.dom, g.cod) == (A, B) else f
    laws.append(Law("RD.1 R[f+g] = R[f]+R[g]", reverse(plus(f, parallel)),
                    plus(Rf, reverse(parallel))))
    laws.append(Law("RD.1 R[0] = 0", reverse(_zero_map(f)), _zero_map(Rf)))

    @function(A @ B @ B, A)
    def additive_lhs(*w):
        a, b, c = _split(w, a_, b_, b_)
        return Rf(*a, *_tuple(add(B)(*b, *c)))

    @function(A @ B @ B, A)
    def additive_rhs(*w):
        a, b, c = _split(w, a_, b_, b_)
        return _tuple(add(A)(*_tuple(Rf(*a, *b)), *_tuple(Rf(*a, *c))))
    laws.append(Law("RD.2 R[f] additive in the cotangent", additive_lhs, additive_rhs))
    laws.append(Law("RD.2 R[f](a, 0) = 0", A @ zero(B) >> Rf, discard(A) >> zero(A)))

    laws.append(Law("RD.3 R[1] = π1", reverse(Id(A)), discard(A) @ A))
    laws.append(Law("RD.3 R[π0] = π1;ι0", reverse(A @ discard(B)),
                    discard(A @ B) @ A >> A @ zero(B)))
    laws.append(Law("RD.3 R[π1] = π1;ι1", reverse(discard(A) @ B),
                    discard(A @ B) @ B >> zero(A) @ B))

    pair_g = parallel
    Rg = reverse(pair_g)

    @function(A @ B @ B, A)
    def pairing(*w):
        a, b, c = _split(w, a_, b_, b_)
        return _tuple(add(A)(*_tuple(Rf(*a, *b)), *_tuple(Rg(*a, *c))))
    laws.append(Law("RD.4 R[⟨f,g⟩]", reverse(copy(A) >> f @ pair_g), pairing))
    laws.append(Law("RD.4 R[!] = 0", reverse(discard(A)), discard(A) >> zero(A)))

    if g is not None and g.dom == B:
        C = g.cod
        Rg = reverse(g)

        @function(A @ C, A)
        def chain(*w):
            a, c = _split(w, a_, len(C))
            return Rf(*a, *_tuple(Rg(*_tuple(f(*a)), *c)))
        laws.append(Law("RD.5 chain rule", reverse(f >> g), chain))

    if higher:
        RRR = reverse(reverse(Rf))

        @function(A @ B @ B, A)
        def linear_lhs(*w):
            a, b, c = _split(w, a_, b_, b_)
            zeros = _tuple(zero(A)())
            out = _tuple(RRR(*a, *b, *zeros, *_tuple(zero(A)()), *c))
            return out[a_ + b_:]

        @function(A @ B @ B, A)
        def linear_rhs(*w):
            a, _, c = _split(w, a_, b_, b_)
            return Rf(*a, *c)
        laws.append(Law("RD.6 R[f] linear in the cotangent", linear_lhs, linear_rhs))

        DD = forward_derivative(forward_derivative(f))
        laws.append(Law("RD.7 symmetry of second derivatives", DD,
                        A @ swap(A, A) @ A >> DD))
    return laws


def lens_laws(R, f: Diagram, g: Diagram) -> list[Law]:
    """The functor R (diagrams → lenses), for f composable with g:
    R(f ; g) = R(f) ; R(g), R(f ⊗ g) = R(f) ⊗ R(g) (both halves), and the
    put of R(f) is the combinator R[f]."""
    laws = []
    for name, lhs, rhs in [("composition", R(f >> g), R(f) >> R(g)),
                           ("tensor", R(f @ g), R(f) @ R(g))]:
        if lhs.residual != rhs.residual:
            raise AssertionError(f"R preserves {name}: residuals differ, "
                                 f"{lhs.residual!r} ≠ {rhs.residual!r}")
        laws.append(Law(f"R preserves {name} (forward)", lhs.forward, rhs.forward))
        laws.append(Law(f"R preserves {name} (backward)", lhs.backward, rhs.backward))
    laws.append(Law("put of R(f) = R[f]", R(f).put, reverse(f)))
    return laws


def generator_laws(box, R=None) -> list[Law]:
    """Every law that a generator alone must satisfy (RD.1 – RD.7, identities,
    and with the functor R its lens laws). The chain rule RD.5 is checked on
    box ; box when the box is an endomap defined everywhere, else on box ; 1."""
    after = box if box.dom == box.cod and getattr(box, "total", True) else Id(box.cod)
    laws = category_laws(box, Id(box.cod), Id(box.cod)) + rd_laws(box, after)
    if R is not None:
        laws += lens_laws(R, box, Id(box.cod))
    return laws


def _single(diagram) -> bool:
    """Whether some Real wire of the diagram is single precision (or less)."""
    return any(w.kind == "Real" and w.dtype.itemsize < 8
               for w in diagram.dom.inside + diagram.cod.inside)


def check_finite_differences(f: Diagram, compile, seed: int = 0, trials: int = 3,
                             sample=None, h: float | None = None, rtol: float | None = None,
                             atol: float | None = None) -> Report:
    """R[f](a, b′) against the central-difference vector–Jacobian product of f.

    The laws only say that a declared derivative is *a* reverse derivative;
    this oracle says it is the derivative of f. One evaluation of f on a batch
    of 2N perturbed points gives the whole Jacobian (N input entries)."""
    rng = np.random.default_rng(seed)
    if sample is None:      # inside the domain of partial generators (Log, Sqrt, …)
        partial = any(not getattr(box, "total", True) for _, box in steps(f))
        sample = uniform(0.1, 2.0) if partial else uniform()
    single = _single(f)     # float32: a coarser step and tolerance
    h = h or (1e-2 if single else 1e-6)
    rtol, atol = rtol or (1e-2 if single else 1e-5), atol or (1e-3 if single else 1e-7)
    name = "R[f] = finite differences"
    report, forward, Rf = Report([name]), compile(f), compile(reverse(f))
    shapes = [w.shape for w in f.dom.inside]
    sizes = [int(np.prod(s, dtype=int)) for s in shapes]
    for _ in range(trials):
        a = [sample(w, rng, 0) for w in f.dom.inside]
        b = [sample(w, rng, 0) for w in f.cod.inside]
        flat = np.concatenate([x.ravel() for x in a]) if a else np.zeros(0)
        n = flat.size
        points = np.concatenate([flat + h * np.eye(n), flat - h * np.eye(n)]) if n else flat[None]
        split = np.split(points, np.cumsum(sizes)[:-1], axis=1) if a else []
        inputs = [p.reshape(len(points), *s).astype(w.dtype)
                  for p, s, w in zip(split, shapes, f.dom.inside)]
        if not n:
            outputs = ()
        elif all(getattr(box, "per_example", True) for box in f.boxes):
            outputs = _tuple(forward(*inputs))          # the perturbed points as one batch
        else:                                           # a batch-level box: point by point
            each = [_tuple(forward(*(x[i] for x in inputs))) for i in range(len(points))]
            outputs = tuple(np.stack(ys) for ys in zip(*each))
        vjp = np.zeros(n)
        for y, b_k, wire in zip(outputs, b, f.cod.inside):
            y = np.broadcast_to(y, (len(points), *wire.shape)).reshape(len(points), -1)
            vjp += ((y[:n] - y[n:]) / (2 * h)) @ b_k.ravel()
        got = _tuple(Rf(*a, *b))
        got = np.concatenate([np.broadcast_to(g, s).ravel() for g, s in zip(got, shapes)]) \
            if a else np.zeros(0)
        if not (np.all(np.isfinite(got)) and np.all(np.isfinite(vjp))):
            raise ValueError(f"{name}: not finite at the sampled point "
                             f"({'R[f]' if not np.all(np.isfinite(got)) else 'f'}); sample "
                             f"inside f's domain with sample=laws.uniform(low, high)")
        if not np.allclose(got, vjp, rtol=rtol, atol=atol):
            report.failures.append(Failure(name, a + b, [got], [vjp]))
            break
    return report


@dataclass
class Failure:
    law: str
    inputs: list
    lhs: list
    rhs: list

    def __str__(self):
        inputs = ", ".join(np.array2string(np.asarray(x), precision=4) for x in self.inputs)
        return (f"{self.law} fails at ({inputs}):\n"
                f"  lhs = {[np.asarray(v).round(6).tolist() for v in self.lhs]}\n"
                f"  rhs = {[np.asarray(v).round(6).tolist() for v in self.rhs]}")


@dataclass
class Report:
    checked: list = field(default_factory=list)
    failures: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self):
        lines = [f"{name}: {'ok' if all(f.law != name for f in self.failures) else 'FAILS'}"
                 for name in self.checked]
        return "\n".join(lines + [str(f) for f in self.failures])

    def assert_ok(self):
        if not self.ok:
            raise AssertionError(str(self))


def uniform(low=-1.0, high=1.0):
    """Random points with entries uniform in [low, high]."""
    def sample(wire, rng, batch):
        shape = (batch, *wire.shape) if batch else wire.shape
        if wire.kind == "Bool":
            return rng.integers(0, 2, size=shape).astype(bool)
        return rng.uniform(low, high, size=shape).astype(wire.dtype)
    return sample


def _equal(left, right, rtol, atol) -> bool:
    """Bits exactly, numbers to the tolerance (a shared value against a batched one broadcasts)."""
    left = np.broadcast_to(left, np.broadcast_shapes(np.shape(left), np.shape(right)))
    if np.asarray(left).dtype == bool or np.asarray(right).dtype == bool:
        return np.array_equal(left, np.broadcast_to(right, left.shape))
    return np.allclose(left, right, rtol=rtol, atol=atol, equal_nan=False)


def check(laws, compile, trials: int = 3, batch: int = 4, seed: int = 0,
          sample=None, rtol: float | None = None, atol: float | None = None) -> Report:
    """Evaluate both sides of every law at random points with ``compile``
    (diagram ↦ function on arrays) and report the failures with their inputs.
    Tolerances default to 1e-9 in double precision, 1e-3 in single; bits
    (Bool wires, checked with the Boolean interpreter) must be equal."""
    rng = np.random.default_rng(seed)
    sample = sample or uniform()
    report = Report()
    for law in laws:
        report.checked.append(law.name)
        default = 1e-3 if _single(law.lhs) else 1e-9
        rtol_, atol_ = rtol or default, atol or default
        lhs, rhs = compile(law.lhs), compile(law.rhs)
        for _ in range(trials):
            inputs = [sample(w, rng, batch) for w in law.lhs.dom.inside]
            left, right = _tuple(lhs(*inputs)), _tuple(rhs(*inputs))
            if not all(_equal(l, r, rtol_, atol_) for l, r in zip(left, right)):
                report.failures.append(Failure(law.name, inputs, list(left), list(right)))
                break
    return report


# -- the delayed trace: laws of St(C) as stream equalities ------------------------------
#
# ``reference/delayed-trace.md`` §2, §4 and §8.5–7. Two machines X → Y are equal in
# St(C) when they give equal output sequences from every input sequence (extensional
# equality; their states may differ), so a law is checked by running both sides on
# random sequences up to a horizon. The machines are run by an evaluator passed in,
#
#     run(machine, params, xs) -> output sequences
#
# ``params`` a dict from Param handle to array (both sides share their handles), ``xs``
# one array (batch, time, *shape) per input wire (a machine with no input reads the
# clock, one array (batch, time, 0)), and the result one array (batch, time, *shape)
# per output wire. This section builds and compares; it runs nothing itself.

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
    """Run both sides of every stream law with ``run`` (see above) on random input
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
                    _equal(l, r, rtol or default, atol or default) for l, r in zip(left, right)):
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


__all__ += [
    "StreamLaw", "check_streams", "trace_naturality", "trace_strength", "trace_vanishing",
    "yanking", "yanking_delay", "dinaturality", "dinaturality_transported",
    "tangent_machine", "tangent_commutes_with_dtrace", "tangent_chain_rule",
    "tangent_finite_differences",
]
