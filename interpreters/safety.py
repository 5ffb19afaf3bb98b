"""Safety: where the compositional R and the Boolean difference may differ.

The compositional R differentiates the unreduced polynomial of a circuit; it
equals the brute-force Boolean difference whenever that polynomial is
multilinear, which holds when no AND (nor oracle generator) multiplies two
values that depend on a common input bit (reference §6, the safety caveat).

``dependencies`` interprets a circuit in that semiring, a rule table like any
other interpreter's: a value of shape s is a bool array (*s, n) whose entry
[k, i] says whether bit k depends on input bit i. ``check`` compares R with
the Boolean difference by brute force and explains a disagreement.

>>> from paralens.categories import Bool, function
>>> x = Bool(1)
>>> print(unsafe_products(function(x, x)(lambda a: a & a))[0])
AND #0 (Bool(1) @ Bool(1) → Bool(1)) at output bit(s) [0]: its operands both depend on input 0 bit 0
>>> check(function(x @ x, x)(lambda a, b: a & b)).ok
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .circuit import Circuit, _check_bool, boolean_difference, is_oracle
from .plan import RuleTable, flatten

__all__ = ["DEPENDENCY_RULES", "CONSTANTS", "BLACK_BOXES", "Unsafe", "dependencies",
           "unsafe_products", "CircuitReport", "check"]

def _any_of(deps):
    """Every output bit depends on every input bit the inputs depend on."""
    return np.any([d.reshape(-1, d.shape[-1]).any(axis=0) for d in deps], axis=0) if deps else None


def _dep_scatter(box, d):
    n = d.shape[-1]
    flat = d.reshape(-1, n)
    out = np.zeros((box.flat_size, n), dtype=bool)
    np.logical_or.at(out, box.index.ravel(), flat)
    return out.reshape(*box.cod.inside[0].shape, n)


DEPENDENCY_RULES = RuleTable("dependency rules", {
    "And": lambda box, a, b: a | b,
    "Xor": lambda box, *xs: np.logical_or.reduce(xs),
    "Parity": lambda box, x: x.any(axis=-2),
    "Broadcast": lambda box, x: np.repeat(x[..., None, :], box.n, axis=-2),
    "Gather": lambda box, x: x.reshape(-1, x.shape[-1])[box.index],
    "Scatter": _dep_scatter,
    "SumBatch": lambda box, x: x,
    "VoteBatch": lambda box, x, y: x | y,
})

#: generators read without a rule above: constants depend on nothing
CONSTANTS = frozenset({"Zero", "One", "Bits"})
#: … and black boxes, exact in their own inputs only (as is an oracle generator, one
#: that declares its ``bits``): each output bit depends on every bit they read,
#: and two of their input bits sharing an input of the circuit are a product
BLACK_BOXES = frozenset({"BooleanDifference"})


@dataclass
class Unsafe:
    """A product whose operands share an input bit (an AND, or two inputs of an
    oracle generator): the circuit's polynomial may not be multilinear there."""

    position: int           # the equation's index in the plan
    box: object
    bits: list              # output bits of the AND where it happens
    inputs: list            # (input wire, bit) both operands depend on

    def __str__(self):
        shared = ", ".join(f"input {k} bit {i}" for k, i in self.inputs[:4])
        more = f" and {len(self.inputs) - 4} more" if len(self.inputs) > 4 else ""
        return (f"{self.box.name} #{self.position} ({self.box.dom!r} → {self.box.cod!r}) "
                f"at output bit(s) {self.bits[:6]}: its operands both depend on {shared}{more}")


def dependencies(diagram):
    """(the dependency arrays of the outputs, the unsafe ANDs): each value's bits
    against the circuit's input bits, numbered wire by wire."""
    plan = flatten(diagram)
    sizes = [plan.wires[v].size for v in plan.inputs]
    n, offsets = sum(sizes), np.cumsum([0] + sizes)
    env, unsafe = {}, []
    for v, start, size in zip(plan.inputs, offsets, sizes):
        env[v] = np.eye(n, dtype=bool)[start:start + size].reshape(*plan.wires[v].shape, n)
    locate = lambda i: (int(np.searchsorted(offsets, i, side="right") - 1),
                        int(i - offsets[np.searchsorted(offsets, i, side="right") - 1]))
    for k, eq in enumerate(plan.equations):
        args = [env[v] for v in eq.ins]
        if eq.kind == "And":
            shared = args[0] & args[1]
            bits = np.flatnonzero(shared.reshape(-1, n).any(axis=1))
            if bits.size:
                inputs = sorted({locate(i) for i in np.flatnonzero(shared.reshape(-1, n).any(axis=0))})
                unsafe.append(Unsafe(k, eq.box, bits.tolist(), inputs))
        rule = DEPENDENCY_RULES.get(eq.kind)
        if rule is None and not (eq.kind in CONSTANTS or eq.kind in BLACK_BOXES
                                 or is_oracle(eq.box)):
            raise NotImplementedError(
                f"no dependency rule for {eq.box.name} ({eq.kind}): {eq.box.dom!r} → "
                f"{eq.box.cod!r}; add one to interpreters.safety.DEPENDENCY_RULES")
        if rule is None and args:
            # a black box (an oracle generator) is exact in its own inputs only:
            # two of its input bits that share an input of the circuit are a product too
            rows = np.concatenate([a.reshape(-1, n) for a in args])
            shared = np.flatnonzero(rows.sum(axis=0) >= 2)
            if shared.size:
                bits = list(range(max(sum(w.size for w in eq.box.cod.inside), 1)))
                unsafe.append(Unsafe(k, eq.box, bits, sorted({locate(i) for i in shared})))
        if rule is not None:
            outs = (rule(eq.box, *args), )
        else:                   # constants depend on nothing; other boxes on all they read
            every = _any_of(args)
            outs = tuple(np.broadcast_to(every if every is not None else np.zeros(n, bool),
                                         (*w.shape, n)) for w in eq.box.cod.inside)
        env.update(zip(eq.outs, outs))
    return [env[v] for v in plan.outputs], unsafe


def unsafe_products(diagram) -> list:
    """Where a circuit multiplies a wire by something that depends on it (an AND
    whose two operands share an input bit, or an oracle generator two of whose
    input bits do). Empty: R equals the Boolean difference."""
    return dependencies(diagram)[1]


@dataclass
class CircuitReport:
    """What :func:`check` found: unsafe ANDs, and a point where R and the Boolean
    difference disagree (if any)."""

    unsafe: list
    mismatch: dict | None
    points: int

    @property
    def ok(self) -> bool:
        return self.mismatch is None

    def __str__(self):
        lines = [f"R[f] against the Boolean difference at {self.points} points: "
                 + ("equal" if self.ok else "DIFFER")]
        if self.mismatch:
            m = self.mismatch
            lines.append(f"  at x = {m['x']}, δ = {m['delta']}: input {m['input']} bit "
                         f"{m['bit']}: R gives {m['R']}, the Boolean difference {m['difference']}")
        if self.unsafe:
            lines.append("unsafe: a wire is multiplied by a copy of (something that depends on) itself:")
            lines += [f"  {u}" for u in self.unsafe]
            if self.mismatch:
                lines.append("  R differentiates the unreduced polynomial (x ∧ x has derivative 0, "
                             "not 1): that is where they part.")
        elif self.mismatch:
            lines.append("no unsafe product: a generator's declared reverse derivative is wrong")
        else:
            lines.append("safe: no AND (nor oracle generator) multiplies a wire by something "
                         "that depends on it")
        return "\n".join(lines)

    def assert_ok(self):
        if not self.ok:
            raise AssertionError(str(self))


def check(diagram, points: int = 256, seed: int = 0, exhaustive_bits: int = 10) -> CircuitReport:
    """Compare R[f] (the compositional reverse derivative) with the brute-force
    Boolean difference, and find the unsafe ANDs. With at most ``exhaustive_bits``
    input bits every input is tried, with δ each unit vector (R is linear in δ,
    so that is complete); otherwise ``points`` random (x, δ)."""
    from ..categories.reverse import reverse
    _check_bool(diagram)
    dom, cod = diagram.dom, diagram.cod
    n, m = sum(w.size for w in dom.inside), sum(w.size for w in cod.inside)
    if n <= exhaustive_bits:
        xs = ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)
        deltas = np.eye(m, dtype=bool) if m else np.zeros((1, 0), dtype=bool)
        x = np.repeat(xs, len(deltas), axis=0)
        delta = np.tile(deltas, (2 ** n, 1))
    else:
        rng = np.random.default_rng(seed)
        x = rng.integers(0, 2, (points, n)).astype(bool)
        delta = rng.integers(0, 2, (points, m)).astype(bool)
    split = lambda flat, ty: [p.reshape(len(flat), *w.shape) for p, w in zip(
        np.split(flat, np.cumsum([w.size for w in ty.inside])[:-1], axis=1), ty.inside)]
    xs_, ds_ = split(x, dom), split(delta, cod)
    def flat(out):
        """The cotangents of the inputs, one row per point (shared ones broadcast)."""
        out = out if isinstance(out, tuple) else (out, )
        rows = [np.broadcast_to(o, (len(x), *w.shape)).reshape(len(x), w.size)
                for o, w in zip(out, dom.inside)]
        return np.concatenate(rows, axis=1) if rows else np.zeros((len(x), 0), bool)
    got = flat(Circuit(reverse(diagram))(*xs_, *ds_))
    expected = flat(boolean_difference(Circuit(diagram), dom, cod, (*xs_, *ds_)))
    mismatch = None
    wrong = np.argwhere(got != expected)
    if len(wrong):
        row, i = wrong[0]
        offsets = np.cumsum([0] + [w.size for w in dom.inside])
        k = int(np.searchsorted(offsets, i, side="right") - 1)
        mismatch = {"x": x[row].astype(int).tolist(), "delta": delta[row].astype(int).tolist(),
                    "input": k, "bit": int(i - offsets[k]),
                    "R": int(got[row, i]), "difference": int(expected[row, i])}
    return CircuitReport(unsafe_products(diagram), mismatch, len(x))
