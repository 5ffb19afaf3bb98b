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
* the derivative against its oracle: ``check_finite_differences``

This module is also where every law is reached: it re-exports the delayed-trace
laws of machines (``StreamLaw``, ``check_streams``, ``trace_naturality``,
``trace_strength``, ``trace_vanishing``, ``yanking``, ``yanking_delay``,
``dinaturality``, ``dinaturality_transported``, ``tangent_machine``,
``tangent_commutes_with_dtrace``, ``tangent_chain_rule``,
``tangent_finite_differences``) from :mod:`categories.trace_laws`, BFFG's laws
(``pullback_composition``, ``guide_composition``, ``evidence_composition``,
``kernel_laws``, with their sampler ``covariances``) from
:mod:`categories.kernel_laws`, and the
report and sampling (``Report``, ``Failure``, ``uniform``) from
:mod:`categories.checking`, so ``laws.yanking`` and ``trace_laws.yanking`` are
one function.

>>> from paralens.categories import Real, Sigmoid, Tanh
>>> x = Real(2)
>>> [law.name for law in category_laws(Sigmoid(x), Tanh(x), Sigmoid(x))]
['identity (left)', 'identity (right)', 'associativity']
>>> yanking is trace_laws.yanking
True
"""

from __future__ import annotations


import numpy as np

from . import trace_laws
from .adapter import Diagram, Id, steps
from .checking import Failure, Law, Report, _equal, _single, uniform
from .reverse import forward_derivative, reverse
from .structural import add, copy, discard, swap, zero
from .syntax import function
from .kernel_laws import (
    covariances, evidence_composition, guide_composition, kernel_laws, pullback_composition)
from .trace_laws import (
    StreamLaw, check_streams, dinaturality, dinaturality_transported, tangent_chain_rule,
    tangent_commutes_with_dtrace, tangent_finite_differences, tangent_machine,
    trace_naturality, trace_strength, trace_vanishing, yanking, yanking_delay)
from .syntax import as_tuple as _tuple, split as _split

__all__ = [
    "Law", "Report", "check", "category_laws", "monoidal_laws", "rd_laws",
    "lens_laws", "generator_laws", "check_finite_differences", "plus", "uniform",
    "covariances", "evidence_composition", "guide_composition", "kernel_laws",
    "pullback_composition",
] + trace_laws.__all__


def plus(f: Diagram, g: Diagram) -> Diagram:
    """f + g = Δ ; (f ⊗ g) ; +, the sum in a left-additive category."""
    return copy(f.dom) >> f @ g >> add(f.cod)


def _zero_map(f: Diagram) -> Diagram:
    return discard(f.dom) >> zero(f.cod)


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


def check_finite_differences(f: Diagram, compile, seed: int = 0, trials: int = 3,
                             sample=None, h: float | None = None, rtol: float | None = None,
                             atol: float | None = None) -> Report:
    """R[f](a, b′) against the central-difference vector–Jacobian product of f.

    The laws only say that a declared derivative is *a* reverse derivative;
    this oracle says it is the derivative of f. One evaluation of f on a batch
    of 2N perturbed points gives the whole Jacobian (N input entries).

    The points are drawn by ``sample``; by default by the first box of f that
    declares one (``Generator.sample``: ``Solve``'s invertible matrices), else
    inside the domain of partial generators (Log, Sqrt, …: [0.1, 2]), else in
    [-1, 1]."""
    rng = np.random.default_rng(seed)
    if sample is None:
        boxes = [box for _, box in steps(f)]
        declared = [type(box).sample for box in boxes
                    if getattr(type(box), "sample", None) is not None]
        partial = any(not getattr(box, "total", True) for box in boxes)
        sample = declared[0] if declared else uniform(0.1, 2.0) if partial else uniform()
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
        rtol_ = default if rtol is None else rtol
        atol_ = default if atol is None else atol
        lhs, rhs = compile(law.lhs), compile(law.rhs)
        for _ in range(trials):
            inputs = [sample(w, rng, batch) for w in law.lhs.dom.inside]
            left, right = _tuple(lhs(*inputs)), _tuple(rhs(*inputs))
            if not all(_equal(l, r, rtol_, atol_) for l, r in zip(left, right)):
                report.failures.append(Failure(law.name, inputs, list(left), list(right)))
                break
    return report

