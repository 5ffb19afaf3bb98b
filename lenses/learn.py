"""Backprop as Functor: the category Learn and the functor L_ε,e : Para → Learn.

A learner A → B (Fong, Spivak, Tuyéras, Definition II.1) is (P, I, U, r) with

* I : P × A → B, the implementation,
* U : P × A × B → P, the update,
* r : P × A × B → A, the request,

where the B input of U and r is a *target*, not a change. U and r together are
the put of a parametric lens (P, P) ⊗ (A, A) → (B, B), and that is how a
:class:`LearnMap` keeps them: one ``put`` (p, a, b) ↦ (U, r), so a learner made
by the functor computes both from one forward and one backward pass.

* (P, I, U, r) >> (Q, J, V, s) = (P × Q, I∗J, U∗V, r∗s), with b = I(p, a):
  (I∗J)(p, q, a) = J(q, b),
  (U∗V)(p, q, a, c) = (U(p, a, s(q, b, c)), V(q, b, c)),
  (r∗s)(p, q, a, c) = r(p, a, s(q, b, c)).
  The *earlier* learner's parameters come first, as in paralens's Para (data-flow
  order; the reference's Para writes Q ⊗ P).
* identity: (1, a ↦ a, the trivial update, (a, b) ↦ b);
* (P, I, U, r) @ (P′, I′, U′, r′) runs the two side by side, parameters P × P′.

L_ε,e (Theorem III.2) is the identity on objects and sends a Para map (P, f) to
(P, f, U_f, r_f), where E(p, a, b) = Σ_j e(f_j(p, a), b_j),
U_f = p − ε ∇_p E and r_f = (the inverse of ∂e/∂x(a_i, −))(∇_a E) componentwise;
for the quadratic error ½(x − y)², r_f = a − ∇_a E. The gradients are the
backward half of the lens R(f) fed the cotangent ∂e/∂x(f(p, a), b).

Values are tuples of arrays, one per wire, and one example at a time (a
Backprop-as-Functor learner is per example). Equality of learners is not
decidable: compare them with :func:`evaluate` at points. The numeric meaning of
a diagram is not this module's business: pass the interpreter's ``compile``.

>>> import numpy as np
>>> from paralens.categories import Real, dense
>>> from paralens.interpreters.numpy import compile
>>> L = functor(0.5, quadratic, compile)
>>> line = L(dense(1, 1))                      # I((W, b), a) = W a + b
>>> p, a, t = (np.array([[2.]]), np.array([0.])), (np.array([1.]),), (np.array([3.]),)
>>> line.implement(p, a)
(array([2.]),)
>>> line.update(p, a, t)                       # p − ε∇_p ½(Wa + b − t)², ∇_p = (−1, −1)
(array([[2.5]]), array([0.5]))
>>> line.request(p, a, t)                      # a − ∇_a E = 1 − W (Wa + b − t)
(array([3.]),)
>>> (line >> L(dense(1, 2))).params           # P × Q: the earlier learner's first
Real(1, 1) @ Real(1) @ Real(1, 2) @ Real(2)
>>> ident = LearnMap.id(Real(1))
>>> evaluate(ident >> line, p, a, t) == evaluate(line, p, a, t)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from ..categories import Diagram, Para, Ty

from .lens import R
from ..categories.syntax import as_tuple as _tuple

__all__ = ["LearnMap", "Error", "quadratic", "BackpropFunctor", "functor", "evaluate", "run"]


def _values(values) -> tuple:
    """A point of a product of wires: a tuple, one array per wire."""
    return values if isinstance(values, tuple) else tuple(values)


@dataclass(frozen=True, eq=False)
class LearnMap:
    """A learner dom → cod with parameter space ``params`` (a Ty of wires).

    ``implement(p, a)`` is I, ``put(p, a, b)`` is the pair (U(p, a, b), r(p, a, b)).
    p, a, b and the results are tuples of arrays, one per wire."""

    dom: Ty
    cod: Ty
    params: Ty
    implement: Callable
    put: Callable
    name: str = ""

    @classmethod
    def of(cls, dom: Ty, cod: Ty, params: Ty, implement: Callable, update: Callable,
           request: Callable, name: str = "") -> LearnMap:
        """The learner (P, I, U, r) given by its three functions."""
        return cls(dom, cod, params, implement,
                   lambda p, a, b: (update(p, a, b), request(p, a, b)), name)

    def update(self, p, a, b) -> tuple:
        """U(p, a, b): the new parameters."""
        return self.put(p, a, b)[0]

    def request(self, p, a, b) -> tuple:
        """r(p, a, b): the input the learner asks for."""
        return self.put(p, a, b)[1]

    @classmethod
    def id(cls, x: Ty) -> LearnMap:
        """(1, a ↦ a, the trivial update, (a, b) ↦ b)."""
        return cls(x, x, Ty(), lambda p, a: _values(a), lambda p, a, b: ((), _values(b)),
                   "id")

    def then(self, other: LearnMap) -> LearnMap:
        """The composite (P × Q, I∗J, U∗V, r∗s): self first, its parameters first."""
        if self.cod != other.dom:
            raise TypeError(f"cannot compose learners {self} and {other}: "
                            f"{self.cod!r} ≠ {other.dom!r}")
        n = len(self.params)

        def implement(pq, a):
            return other.implement(pq[n:], self.implement(pq[:n], a))

        def put(pq, a, c):
            p, q = pq[:n], pq[n:]
            b = self.implement(p, a)
            q_new, b_request = other.put(q, b, c)        # V(q, b, c), s(q, b, c)
            p_new, a_request = self.put(p, a, b_request)  # U and r at the request
            return _values(p_new) + _values(q_new), a_request

        return LearnMap(self.dom, other.cod, self.params @ other.params, implement, put,
                        f"({self.name} >> {other.name})")

    def __rshift__(self, other):
        return self.then(other)

    def tensor(self, other: LearnMap) -> LearnMap:
        """Parallel composition: parameters P × P′, input A × A′, output B × B′."""
        n, k, m = len(self.params), len(self.dom), len(self.cod)

        def implement(pp, aa):
            return _values(self.implement(pp[:n], aa[:k])) + _values(other.implement(pp[n:], aa[k:]))

        def put(pp, aa, bb):
            p, a_request = self.put(pp[:n], aa[:k], bb[:m])
            q, c_request = other.put(pp[n:], aa[k:], bb[m:])
            return _values(p) + _values(q), _values(a_request) + _values(c_request)

        return LearnMap(self.dom @ other.dom, self.cod @ other.cod, self.params @ other.params,
                        implement, put, f"({self.name} @ {other.name})")

    def __matmul__(self, other):
        return self.tensor(other)

    def __str__(self):
        return f"{self.name or 'a learner'}: {self.dom!r} → {self.cod!r}"


def evaluate(learner: LearnMap, p, a, b) -> tuple:
    """(I(p, a), U(p, a, b), r(p, a, b)) as nested tuples of lists, comparable with
    ``==`` (exactly) or by the caller with a tolerance."""
    lists = lambda values: tuple(np.asarray(v).tolist() for v in _values(values))
    update, request = learner.put(_values(p), _values(a), _values(b))
    return lists(learner.implement(_values(p), _values(a))), lists(update), lists(request)


def run(learner: LearnMap, p, examples: Iterable) -> tuple:
    """The parameters after updating on each (a, b) of ``examples`` in turn."""
    p = _values(p)
    for a, b in examples:
        p = _values(learner.update(p, _values(a), _values(b)))
    return p


@dataclass(frozen=True)
class Error:
    """An error function e(x, y), applied entrywise and summed.

    ``dx(x, y)`` is ∂e/∂x(x, y); ``inverse(x, g)`` is the y with ∂e/∂x(x, y) = g,
    which Theorem III.2 needs to exist for every x."""

    name: str
    value: Callable
    dx: Callable
    inverse: Callable


#: e(x, y) = ½ (x − y)²: ∂e/∂x(x, y) = x − y, whose inverse in y is x − g.
quadratic = Error("quadratic", value=lambda x, y: 0.5 * (x - y) ** 2,
                  dx=lambda x, y: x - y, inverse=lambda x, g: x - g)


class BackpropFunctor:
    """L_ε,e : Para → Learn: the identity on objects, (P, f) ↦ (P, f, U_f, r_f)."""

    def __init__(self, eps: float, error: Error, compile: Callable):
        if not eps > 0:
            raise ValueError(f"Backprop as Functor needs a step size ε > 0, got {eps!r}")
        self.eps, self.error, self.compile = eps, error, compile

    def __call__(self, other):
        if isinstance(other, Ty):
            return self.ob(other)
        if isinstance(other, Diagram):
            other = Para.lift(other)
        return self.ar(other)

    def ob(self, x: Ty) -> Ty:
        return x

    def ar(self, model: Para) -> LearnMap:
        P, A, B = model.param_type, model.dom, model.cod
        name = f"L({P!r} ⊗ {A!r} → {B!r})"
        for wire in (P @ A @ B).inside:
            if wire.kind != "Real":
                raise TypeError(f"{name}: Backprop as Functor learns maps between real "
                                f"spaces, got a wire {wire!r}")
        eps, error, n = self.eps, self.error, len(P)
        lens = R(model.diagram)                    # P ⊗ A → M ⊗ B, and M ⊗ B′ → P′ ⊗ A′
        m = len(lens.residual)
        f = self.compile(model.diagram)
        forward, backward = self.compile(lens.forward), self.compile(lens.backward)

        def implement(p, a):
            _check(name, "parameter", P, p)
            _check(name, "input", A, a)
            return _tuple(f(*p, *a))

        def put(p, a, b):
            _check(name, "parameter", P, p)
            _check(name, "input", A, a)
            _check(name, "target", B, b)
            outputs = _tuple(forward(*p, *a))          # the residual, then f(p, a)
            residual, prediction = outputs[:m], outputs[m:]
            cotangent = [error.dx(x, y) for x, y in zip(prediction, b)]
            gradient = _tuple(backward(*residual, *cotangent))
            update = tuple(v - eps * g for v, g in zip(p, gradient[:n]))
            request = tuple(error.inverse(x, g) for x, g in zip(a, gradient[n:]))
            return update, request

        return LearnMap(A, B, P, implement, put, name)


def functor(eps: float, error: Error, compile: Callable) -> BackpropFunctor:
    """L_ε,e with step size ε, error e, and diagrams made numeric by ``compile``
    (``interpreters.numpy.compile``, say)."""
    return BackpropFunctor(eps, error, compile)


def _check(name: str, what: str, ty: Ty, values) -> None:
    """One example: one array per wire, each of exactly the wire's shape."""
    if len(values) != len(ty):
        raise TypeError(f"{name}: {len(ty)} {what} arrays expected ({ty!r}), got {len(values)}")
    for k, (wire, value) in enumerate(zip(ty.inside, values)):
        if np.shape(value) != wire.shape:
            raise ValueError(f"{name}: {what} {k} (wire {wire!r}) expected shape {wire.shape}, "
                             f"got {np.shape(value)}; Backprop-as-Functor learners take one "
                             f"example at a time")
