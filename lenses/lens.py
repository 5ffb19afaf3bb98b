"""The category of lenses in optic form, and the reverse-derivative functor R.

A lens (A, A′) → (B, B′) is a pair of diagrams with an explicit residual M:

* ``forward``:  A → M ⊗ B
* ``backward``: M ⊗ B′ → A′

so the backward half reads what the forward half kept and never recomputes
it. Lenses compose and tensor like this (diagrammatic order):

* (f ; g).forward  = f.forward ; (M_f ⊗ g.forward)          residual M_f ⊗ M_g
* (f ; g).backward = (M_f ⊗ g.backward) ; f.backward
* (f ⊗ g) interleaves the residuals first: M_f ⊗ M_g ⊗ B ⊗ D.

``R`` is a functor from diagrams to this category: a generator goes to the
lens it declares, a composite to the composite of lenses, and a traced
function to the lens of its ops (each op's lens, the cotangents of a wire read
k times added, those of a wire never read zero). Halves are diagrams built as
trees of their parts, so R of a deep or wide diagram costs linear time; two
lenses are equal when their halves flatten to the same plan.

>>> from paralens.categories import Real, Sigmoid, Linear, Mul, copy
>>> x = Real(3)
>>> f, g = Sigmoid(x), copy(x) >> Mul(x)
>>> R(f >> g) == R(f) >> R(g)
True
>>> lens = R(f >> g)
>>> lens.residual
Real(3) @ Real(3) @ Real(3)
>>> lens.forward.cod == lens.residual @ x and lens.backward.dom == lens.residual @ x
True
"""

from __future__ import annotations

from functools import cached_property

from ..categories import CompositionError, Diagram, Id, Ty, add, describe, discard, swap, zero
from ..categories.adapter import Category, Functor, equations, fold
from ..categories.syntax import Trace

__all__ = ["Lens", "R"]


class Lens:
    """A lens in optic form: forward A → M ⊗ B, backward M ⊗ B′ → A′.

    Both halves are diagrams (``forward``, ``backward``), built as trees of their
    parts; the tuples ``forward_layers`` and ``backward_layers`` of earlier
    versions are gone: ``lens.forward.inside`` lists DisCoPy's layers."""

    def __init__(self, dom: Ty, cod: Ty, residual: Ty, forward: Diagram = None,
                 backward: Diagram = None):
        self.dom, self.cod, self.residual = dom, cod, residual
        self.forward = Id(dom) if forward is None else forward
        self.backward = Id(residual @ cod) if backward is None else backward

    @classmethod
    def of(cls, forward: Diagram, backward: Diagram, residual: Ty, name: str = "") -> Lens:
        """The lens with the given halves; checks that their types fit."""
        n = len(residual)
        dom, cod = forward.dom, forward.cod[n:]
        if forward.cod[:n] != residual or backward.dom != residual @ cod or backward.cod != dom:
            raise TypeError(
                f"{name + ': ' if name else ''}not a lens: forward {forward.dom!r} → "
                f"{forward.cod!r} and backward "
                f"{backward.dom!r} → {backward.cod!r} with residual {residual!r}")
        return cls(dom, cod, residual, forward, backward)

    @cached_property
    def put(self) -> Diagram:
        """The put as one diagram A ⊗ B′ → A′: R[f] when the lens is R(f)."""
        keep = self.forward >> self.residual @ discard(self.cod)
        return keep @ self.cod >> self.backward

    @cached_property
    def get(self) -> Diagram:
        """The get A → B, the forward half with its residual discarded."""
        return self.forward >> discard(self.residual) @ self.cod

    @classmethod
    def id(cls, x: Ty = None) -> Lens:
        return cls(Ty() if x is None else x, Ty() if x is None else x, Ty())

    def then(self, *others: Lens) -> Lens:
        result = self
        for other in others:
            if not isinstance(other, Lens):
                raise TypeError(f"a lens composes with a lens (R(diagram)), not "
                                f"{type(other).__name__} {other!r}")
            if result.cod != other.dom:
                raise CompositionError(
                    f"cannot compose the lens {result.dom!r} → {result.cod!r} with the lens "
                    f"{other.dom!r} → {other.cod!r}: {result.cod!r} ≠ {other.dom!r}")
            result = result._then(other)
        return result

    def _then(self, other: Lens) -> Lens:
        """self >> other, for types known to fit."""
        if not len(other.residual) and other.forward.is_id and other.backward.is_id:
            return self
        M = self.residual
        return Lens(self.dom, other.cod, M @ other.residual,
                    self.forward._then(M @ other.forward),
                    (M @ other.backward)._then(self.backward))

    def __rshift__(self, other):
        return self.then(other) if isinstance(other, Lens) else NotImplemented

    def tensor(self, other: Lens | Ty) -> Lens:
        if isinstance(other, Ty):
            return self.whisker(Ty(), other)
        if not isinstance(other, Lens):
            return NotImplemented
        if not len(other.dom) and not len(other.cod) and not len(other.residual):
            return self
        if not len(self.dom) and not len(self.cod) and not len(self.residual):
            return other
        M, B, N, D = self.residual, self.cod, other.residual, other.cod
        forward = (self.forward @ other.dom)._then(M @ B @ other.forward)._then(
            M @ swap(B, N) @ D)
        backward = (M @ swap(N, B) @ D)._then(M @ B @ other.backward)._then(
            self.backward @ other.dom)
        return Lens(self.dom @ other.dom, B @ D, M @ N, forward, backward)

    def whisker(self, left: Ty, right: Ty) -> Lens:
        """left ⊗ self ⊗ right, the residual moved to the front."""
        M, B = self.residual, self.cod
        forward = left @ self.forward @ right
        backward = left @ self.backward @ right
        if len(left) and len(M):
            forward = forward._then(swap(left, M) @ B @ right)
            backward = (swap(M, left) @ B @ right)._then(backward)
        return Lens(left @ self.dom @ right, left @ B @ right, M, forward, backward)

    def __matmul__(self, other):
        return self.tensor(other)

    def __rmatmul__(self, other):
        if isinstance(other, Ty):
            return self.whisker(other, Ty())
        return NotImplemented

    @cached_property
    def _equations(self):
        return equations(self.forward), equations(self.backward)

    def __eq__(self, other):
        """Equal types, and halves that apply the same boxes to the same values (in
        one order, wirings read through): equal maps, whatever their association."""
        return isinstance(other, Lens) and (self.dom, self.cod, self.residual) == (
            other.dom, other.cod, other.residual) and self._equations == other._equations

    def __hash__(self):
        return hash((self.dom, self.cod, self.residual))

    def __getstate__(self) -> dict:
        """Its types and halves: not what it derives from them (put, get, equations) nor
        what interpreters keep on it (compiled halves)."""
        return {k: self.__dict__[k] for k in ("dom", "cod", "residual", "forward", "backward")}

    def __repr__(self):
        return (f"Lens({self.dom!r} → {self.cod!r}, residual {self.residual!r}, "
                f"{self.forward.size} + {self.backward.size} boxes)")


_generator_lenses: dict = {}     # equal generators have equal lenses: build each once


def _lens_of(box) -> Lens:
    optic = getattr(box, "optic", None)
    if optic is not None:           # a box whose lens is built from R of its parts (a loop)
        forward, backward, residual = optic(R)
        return Lens.of(forward, backward, residual, describe(box))
    if not hasattr(box, "backward"):
        raise TypeError(f"{describe(box)} is not a generator: it declares no reverse derivative")
    lens = _generator_lenses.get(box)
    if lens is None:
        lens = Lens.of(box.forward(), box.backward(), box.residual(), describe(box))
        if len(_generator_lenses) < 10_000:
            _generator_lenses[box] = lens
    return lens


def _lens_of_trace(trace) -> Lens:
    """R of a traced function: its ops' lenses, in order forward and in reverse
    backward; a wire read k times gets the sum of its k cotangents (the reverse of
    copying it), a wire never read the zero cotangent (the reverse of discarding it)."""
    lenses = [R(diagram) for diagram, _, _ in trace.ops]
    one = lambda v: Ty._of((trace.wires[v], ))
    residual = Ty().tensor(*(lens.residual for lens in lenses))

    # forward: each op's forward half, its residual kept
    wires, ops, env = [], [], {}

    def new(ty):
        wires.extend(ty.inside)
        return list(range(len(wires) - len(ty), len(wires)))

    inputs = new(trace.dom)
    env.update(zip(trace.inputs, inputs))
    kept = []
    for (diagram, ins, outs), lens in zip(trace.ops, lenses):
        results = new(lens.forward.cod)
        ops.append((lens.forward, tuple(env[i] for i in ins), tuple(results)))
        m = len(lens.residual)
        kept.append(results[:m])
        env.update(zip(outs, results[m:]))
    forward = Trace(trace.dom, residual @ trace.cod, wires, ops, inputs,
                    [v for k in kept for v in k] + [env[o] for o in trace.outputs])

    # backward: the ops' backward halves in reverse, cotangents added at every fan-out
    wires, ops = [], []
    inputs = new(residual @ trace.cod)
    residuals, k = [], 0
    for lens in lenses:
        residuals.append(inputs[k:k + len(lens.residual)])
        k += len(lens.residual)
    cotangents = {}
    for o, v in zip(trace.outputs, inputs[k:]):
        cotangents.setdefault(o, []).append(v)

    def total(v):
        terms = cotangents.pop(v, [])
        if len(terms) == 1:
            return terms[0]
        summed = zero(one(v)) if not terms else add(one(v), len(terms))
        out = new(one(v))
        ops.append((summed, tuple(terms), tuple(out)))
        return out[0]

    for (diagram, ins, outs), lens, kept_values in reversed(list(zip(trace.ops, lenses, residuals))):
        dys = [total(o) for o in outs]
        dxs = new(lens.backward.cod)
        ops.append((lens.backward, tuple(kept_values) + tuple(dys), tuple(dxs)))
        for i, dx in zip(ins, dxs):
            cotangents.setdefault(i, []).append(dx)
    backward = Trace(residual @ trace.cod, trace.dom, wires, ops, inputs,
                     [total(i) for i in trace.inputs])
    return Lens(trace.dom, trace.cod, residual, forward.diagram(), backward.diagram())


class ReverseDerivative(Functor):
    """The functor R : diagrams → lenses, A ↦ (A, A) on objects, a generator
    to the lens it declares, composites to composites of lenses (read from the
    diagram's parts in one pass, at any depth)."""

    def __call__(self, other):
        if isinstance(other, Ty):
            return other
        return fold(other, box=_lens_of, then=Lens._then, tensor=Lens.tensor,
                    trace=_lens_of_trace, identity=Lens.id)


#: The reverse-derivative functor R : diagrams → lenses.
R = ReverseDerivative(ob=lambda x: x, ar=_lens_of,
                      dom=Category(Ty, Diagram), cod=Category(Ty, Lens))
