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

import numpy as np
from hypothesis import strategies as st

from .adapter import Bool, Real, Ty
from .boolean import Bits, Broadcast, Gather, One, Parity
from .generator import Generator
from .para import Para, Param, lecun
from .smooth import Constant, Linear, Tanh
from .stateful import Machine
from .structural import Zero
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


# -- Boolean circuits -------------------------------------------------------------------

#: the gates of a random circuit, repeated to weight them (the batch-level
#: VoteBatch and SumBatch are left out, as in ``diagrams``)
_GATES = ("and", "and", "xor", "xor", "not", "or", "or", "const", "gather", "parity", "broadcast")


@st.composite
def circuit_programs(draw, n: int | None = None, max_gates: int = 6, safe: bool = False,
                     dom: Ty | None = None):
    """A random Boolean circuit and the program it was traced from: ``(diagram,
    program)``. The program is ``(inputs, ops, outputs)``: value k < inputs is the
    k-th input; each op ``(gate, args, data)`` defines the next value, its args
    being earlier values or ``("lit", 0 | 1)`` constants; ``data`` is the bit
    pattern of a constant, the index of a gather, n for a broadcast. Tests
    evaluate it with their own plain NumPy, an oracle independent of the
    interpreters. See :func:`circuits`."""
    if dom is not None:
        shapes = {w.shape for w in dom.inside}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1 or \
                any(w.kind != "Bool" for w in dom.inside):
            raise ValueError(f"circuits take a domain of Bool(n) wires, got {dom!r}")
        n = next(iter(shapes))[0]
    n = n or draw(st.integers(1, 3))
    wire, bit = Bool(n), Bool()
    k = len(dom) if dom is not None else draw(st.integers(1, 3))
    types = [wire] * k
    deps = [frozenset([i]) for i in range(k)]    # the inputs each value depends on
    ops = []

    def dependencies(v):
        return frozenset() if isinstance(v, tuple) else deps[v]

    def operand(first=None):
        """A value (of ``first``'s type, and for a safe circuit independent of it),
        or now and then a literal 0 or 1."""
        ty = types[first] if first is not None else None
        pool = [v for v in range(len(types)) if ty is None or types[v] == ty]
        if first is not None and safe:
            pool = [v for v in pool if not deps[v] & deps[first]]
        literal = draw(st.integers(0, 4)) == 0 if first is not None else False
        if literal or not pool:
            return ("lit", draw(st.integers(0, 1)))
        return draw(st.sampled_from(pool))

    for _ in range(draw(st.integers(1, max_gates))):
        gate = draw(st.sampled_from(_GATES))
        if gate in ("and", "xor", "or"):
            a = operand()
            b = operand(a)
            ops.append((gate, (a, b), None))
            types.append(types[a])
            deps.append(deps[a] | dependencies(b))
        elif gate == "not":
            a = operand()
            ops.append((gate, (a, ), None))
            types.append(types[a])
            deps.append(deps[a])
        elif gate == "const":
            ty = draw(st.sampled_from([wire, bit]))
            size = ty.inside[0].size
            kind = draw(st.sampled_from(["zero", "one", "bits"]))
            if kind == "bits":
                pattern = tuple(draw(st.lists(st.booleans(), min_size=size, max_size=size)))
            else:
                pattern = (kind == "one", ) * size
            ops.append((kind, (), pattern if ty == wire else pattern[0]))
            types.append(ty)
            deps.append(frozenset())
        elif gate == "gather":
            pool = [v for v in range(len(types)) if types[v] == wire]
            a = draw(st.sampled_from(pool))
            index = tuple(draw(st.lists(st.integers(0, n - 1), min_size=n, max_size=n)))
            ops.append((gate, (a, ), index))
            types.append(wire)
            deps.append(deps[a])
        elif gate == "parity":
            pool = [v for v in range(len(types)) if types[v] == wire]
            a = draw(st.sampled_from(pool))
            ops.append((gate, (a, ), None))
            types.append(bit)
            deps.append(deps[a])
        else:       # broadcast a one-bit wire (one is made by a parity if there is none)
            pool = [v for v in range(len(types)) if types[v] == bit]
            if not pool:
                a = draw(st.sampled_from([v for v in range(len(types)) if types[v] == wire]))
                ops.append(("parity", (a, ), None))
                types.append(bit)
                deps.append(deps[a])
                pool = [len(types) - 1]
            a = draw(st.sampled_from(pool))
            ops.append((gate, (a, ), n))
            types.append(wire)
            deps.append(deps[a])
    candidates = [v for v in range(len(types)) if types[v] == wire]
    outputs = tuple(draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=3)))
    dom = dom if dom is not None else wire ** k

    constant = {"zero": lambda ty, _: Zero(ty)(), "one": lambda ty, _: One(ty)(),
                "bits": lambda ty, c: Bits(c, ty)()}

    @function(dom, wire ** len(outputs))
    def circuit(*wires):
        env = list(wires)
        arg = lambda v: v[1] if isinstance(v, tuple) else env[v]
        for (gate, args, data), ty in zip(ops, types[k:]):
            xs = [arg(v) for v in args]
            if gate == "and":
                out = xs[0] & xs[1]
            elif gate == "xor":
                out = xs[0] ^ xs[1]
            elif gate == "or":
                out = xs[0] | xs[1]
            elif gate == "not":
                out = ~xs[0]
            elif gate in constant:
                out = constant[gate](ty, data)
            elif gate == "gather":
                out = Gather(wire, list(data))(xs[0])
            elif gate == "parity":
                out = Parity(wire)(xs[0])
            else:
                out = Broadcast(bit, data)(xs[0])
            env.append(out)
        return tuple(env[v] for v in outputs)
    return circuit, (k, tuple(ops), outputs)


@st.composite
def circuits(draw, n: int | None = None, max_gates: int = 6, safe: bool = False,
             dom: Ty | None = None):
    """A random well-typed Boolean circuit on ``Bool(n)`` wires (1 – 3 inputs, or
    exactly ``dom``), traced with :func:`categories.function`: AND, XOR, NOT, OR
    (operators on wires), the constants 0, 1 and bit patterns, and now and then a
    Gather with a random index, a Parity to a one-bit wire and a Broadcast back.

    With ``safe=True`` an AND or OR only takes two wires whose sets of inputs
    (tracked wire by wire) are disjoint, so every product multiplies polynomials
    in disjoint variables and the circuit's polynomial is multilinear: the
    compositional R then equals the brute-force Boolean difference (reference §6)."""
    return draw(circuit_programs(n, max_gates, safe, dom))[0]


@st.composite
def composable_circuits(draw, count: int = 2, **kwargs):
    """``count`` random circuits, each one's domain the previous one's codomain."""
    chain = [draw(circuits(**kwargs))]
    for _ in range(count - 1):
        chain.append(draw(circuits(dom=chain[-1].cod, **{k: v for k, v in kwargs.items()
                                                          if k != "n"})))
    return chain


__all__ += ["circuits", "circuit_programs", "composable_circuits"]


# -- machines (morphisms of St(C)) --------------------------------------------------------

def _wires(draw, least: int, most: int, max_size: int) -> Ty:
    """A tensor of ``least`` to ``most`` wires Real(n), 1 ≤ n ≤ max_size."""
    k = draw(st.integers(least, most))
    return Ty().tensor(*(Real(draw(st.integers(1, max_size))) for _ in range(k)))


@st.composite
def states(draw, least: int = 1, most: int = 2, max_size: int = 3):
    """A state type: ``least`` to ``most`` wires of random small sizes."""
    return _wires(draw, least, most, max_size)


@st.composite
def initial_values(draw, state: Ty):
    """Random initial values of a state type, one array per wire, entries in [−1, 1]."""
    values = []
    for wire in state.inside:
        entries = draw(st.lists(st.floats(-1, 1, allow_nan=False, width=64),
                                min_size=wire.size, max_size=wire.size))
        values.append(np.array(entries, dtype=wire.dtype).reshape(wire.shape))
    return tuple(values)


@st.composite
def machines(draw, dom: Ty | None = None, cod: Ty | None = None, state: Ty | None = None,
             smooth: bool = False, max_boxes: int = 2, stateful: bool = True,
             bounded: int = 0):
    """A random machine dom → cod (random small Real wires where not given) with state
    ``state`` (random, possibly none, unless ``stateful=False``) and random initial
    values. Each output wire of its stage S ⊗ X → S ⊗ Y mixes one or two of the
    stage's input wires, each through a Linear map with its own parameter, then runs
    a random diagram of registered generators (:func:`diagrams`) on the mix; a state
    output (and each of the first ``bounded`` outputs, a traced state's) passes
    through Tanh last, so what is fed back stays bounded over long runs."""
    dom = _wires(draw, 1, 2, 3) if dom is None else dom
    cod = _wires(draw, 1, 2, 3) if cod is None else cod
    if state is None:
        state = _wires(draw, 0, 2, 3) if stateful else Ty()
    ins, outs = (state @ dom).inside, (state @ cod).inside
    params, plan = [], []
    for j, wire in enumerate(outs):
        m = wire.shape[0]
        sources = draw(st.lists(st.integers(0, len(ins) - 1), min_size=1, max_size=2)) \
            if ins else []
        mixes = []
        for k, src in enumerate(sources):
            W = Param(Real(ins[src].shape[0], m), f"W{j}{k}", lecun)
            params.append(W)
            mixes.append((W, src, Linear(ins[src].shape[0], m)))
        body = draw(diagrams(dom=Real(m), n=m, max_boxes=max_boxes, smooth=smooth))
        picks = [k for k, w in enumerate(body.cod.inside) if w == wire]
        plan.append((mixes, body, picks[0] if picks else None, j < len(state) + bounded))
    P = Ty().tensor(*(p.ty for p in params))

    @function(P @ state @ dom, state @ cod)
    def stage(*wires):
        values = dict(zip(params, wires[:len(params)]))
        inputs = wires[len(params):]
        results = []
        for (mixes, body, pick, squash), wire in zip(plan, outs):
            if mixes:
                terms = [linear(values[W], inputs[src]) for W, src, linear in mixes]
                z = terms[0] if len(terms) == 1 else terms[0] + terms[1]
            else:                           # no input at all: a constant
                z = Constant(0.5, Ty(wire))()
            out = body(z)
            out = out if isinstance(out, tuple) else (out, )
            z = out[pick] if pick is not None else z
            results.append(Tanh(Ty(wire))(z) if squash else z)
        return tuple(results)
    initial = draw(initial_values(state))
    return Machine(Para(tuple(params), stage), state, initial)


@st.composite
def traced(draw, state: Ty | None = None, dom: Ty | None = None, cod: Ty | None = None,
           **kwargs):
    """A machine f : S ⊗ X → S ⊗ Y ready for the delayed trace over S, and random
    initial values for S: ``(f, initial)``."""
    S = draw(states()) if state is None else state
    X = _wires(draw, 1, 2, 3) if dom is None else dom
    Y = _wires(draw, 1, 2, 3) if cod is None else cod
    f = draw(machines(dom=S @ X, cod=S @ Y, bounded=len(S), **kwargs))
    return f, draw(initial_values(S))


__all__ += ["states", "initial_values", "machines", "traced"]
