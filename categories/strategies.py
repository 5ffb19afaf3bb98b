"""Hypothesis strategies for random well-typed diagrams of registered generators.

A random diagram is a random program: a few input wires of type Real(n), then
generators (drawn from ``Generator.registry``, so new generators are picked up
automatically) applied to wires chosen at random — reusing a wire makes a
copy, leaving one unused a discard — laid out by :func:`categories.function`.
Wires of other types that a generator needs (a matrix for Linear, say) become
further inputs, unless the domain is fixed.

Requires hypothesis (the ``test`` extra).
"""

from __future__ import annotations

from hypothesis import strategies as st

from .adapter import Real, Ty
from .generator import Generator
from .syntax import function

__all__ = ["generators", "diagrams", "composable"]


def _pool(n: int, smooth: bool, total: bool, exclude=()) -> list:
    pool = []
    for name, cls in sorted(Generator.registry.items()):
        if name in exclude or (smooth and not cls.smooth) or (total and not cls.total) \
                or not getattr(cls, "per_example", True) or cls.over == "Bool":
            continue
        box = cls.example(n)
        if all(w.kind == "Real" for w in box.dom.inside + box.cod.inside):
            pool.append(box)
    return pool


def generators(n: int = 2, smooth: bool = False, total: bool = True):
    """A registered generator on wires of size about n."""
    return st.sampled_from(_pool(n, smooth, total))


@st.composite
def diagrams(draw, dom: Ty | None = None, n: int | None = None, max_boxes: int = 5,
             smooth: bool = False, total: bool = True, exclude=()):
    """A random well-typed diagram. With ``dom`` given, it has exactly that domain."""
    if dom is not None:
        n = n or next((w.shape[0] for w in dom.inside if len(w.shape) == 1), 2)
    n = n or draw(st.integers(1, 3))
    pool = _pool(n, smooth, total, exclude)
    inputs = list(dom.inside) if dom is not None else [Real(n).inside[0]] * draw(st.integers(1, 3))
    live = list(range(len(inputs)))           # values available, by index into `types`
    types = list(inputs)
    program = []                              # (box, argument value indices)
    for _ in range(draw(st.integers(1, max_boxes))):
        box = draw(st.sampled_from(pool))
        args = []
        for wire in box.dom.inside:
            candidates = [v for v in live if types[v] == wire]
            if candidates:
                args.append(draw(st.sampled_from(candidates)))
            elif dom is None:
                types.append(wire)
                inputs.append(wire)
                args.append(len(types) - 1)
                live.append(len(types) - 1)
            else:
                break
        else:
            outs = list(range(len(types), len(types) + len(box.cod)))
            types.extend(box.cod.inside)
            live.extend(outs)
            program.append((box, args, outs))
    # The domain's inputs are the first values; extra inputs were appended as found,
    # so renumber: inputs first, in order of appearance.
    input_values = [v for v in range(len(types)) if not any(v in outs for _, _, outs in program)]
    results = draw(st.lists(st.sampled_from(live), min_size=1, max_size=3))
    dom_ty = Ty(*(types[v] for v in input_values))
    cod_ty = Ty(*(types[v] for v in results))

    @function(dom_ty, cod_ty)
    def diagram(*wires):
        env = dict(zip(input_values, wires))
        for box, args, outs in program:
            out = box(*[env[v] for v in args])
            env.update(zip(outs, out if isinstance(out, tuple) else (out, )))
        return tuple(env[v] for v in results)
    return diagram


@st.composite
def composable(draw, count: int = 2, **kwargs):
    """``count`` random diagrams, each one's domain the previous one's codomain."""
    first = draw(diagrams(**kwargs))
    chain = [first]
    for _ in range(count - 1):
        chain.append(draw(diagrams(dom=chain[-1].cod, **kwargs)))
    return chain
