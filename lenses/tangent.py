"""Forward mode: the tangent bundle T f = ⟨f, D f⟩, from R by transposition.

For f : A → B, ``tangent(f)`` is the diagram A ⊗ Ȧ → B ⊗ Ḃ sending (a, ȧ) to
(f(a), J_f(a) ȧ). It is built from the reverse derivatives the generators
declare, never from finite differences: the backward half of R(g) is linear
in its cotangent, so its transpose, read off R of that backward half at any
cotangent (zero), is the Jacobian–vector product; what the transpose does
not need is dead code, gone when the plan is compiled. A wiring moves pairs
(the tangent of a copy is a copy), a linear generator acts on both halves,
and a loop over time goes to the loop over its stage's tangent, its state
paired with the state's tangent (``reference/delayed-trace.md`` §3): memory
does not grow with the number of steps.

>>> from paralens.categories import Real, Sigmoid, Mul, copy
>>> x = Real(2)
>>> t = tangent(copy(x) >> Mul(x) >> Sigmoid(x))
>>> t.dom, t.cod
(Real(2) @ Real(2), Real(2) @ Real(2))
"""

from __future__ import annotations

from ..categories import Diagram, Ty, function, zero
from ..categories.adapter import interpret
from .lens import R
from ..categories.syntax import as_tuple as _tuple, split as _split

__all__ = ["tangent"]


_tangents: dict = {}        # equal boxes have equal tangents: built once


def _tangent_of_box(box) -> Diagram:
    """T g : A ⊗ Ȧ → B ⊗ Ḃ for one box."""
    found = _tangents.get(box)
    if found is not None:
        return found
    A, B = box.dom, box.cod
    hook = getattr(box, "tangent", None)
    if hook is not None:                        # a loop: its stage's tangent, in a loop
        result = hook(tangent)
    elif getattr(box, "linear", False):          # linear: the same map on the tangent

        @function(A @ A, B @ B)
        def result(*wires):
            a, da = _split(wires, A, A)
            return _tuple(box(*a)) + _tuple(box(*da))
    else:
        lens = R(box)
        M = lens.residual
        inner = R(lens.backward)                 # lens of M ⊗ B′ → A′, linear in B′

        @function(A @ A, B @ B)
        def result(*wires):
            a, da = _split(wires, A, A)
            m, b = _split(_tuple(lens.forward(*a)), M, B)
            kept = _tuple(inner.forward(*m, *_tuple(zero(B)())))[:len(inner.residual)]
            _, db = _split(_tuple(inner.backward(*kept, *da)), M, B)
            return b + db
    if len(_tangents) < 10_000:
        _tangents[box] = result
    return result


def tangent(f: Diagram) -> Diagram:
    """T f : A ⊗ Ȧ → B ⊗ Ḃ, (a, ȧ) ↦ (f(a), J_f(a) ȧ), box by box."""
    if not isinstance(f, Diagram):
        raise TypeError(f"tangent takes a diagram, got {type(f).__name__} {f!r}")
    A, B = f.dom, f.cod

    def apply(box, ins):
        t = _tangent_of_box(box)
        out = _tuple(t(*[p for p, _ in ins], *[d for _, d in ins]))
        n = len(box.cod)
        return list(zip(out[:n], out[n:]))

    @function(A @ A, B @ B)
    def T(*wires):
        a, da = _split(wires, A, A)
        pairs = interpret(f, list(zip(a, da)), apply)
        return tuple(p for p, _ in pairs) + tuple(d for _, d in pairs)
    return T
