"""The flat IR: a diagram flattened once into an SSA plan.

A plan is a list of equations ``outs = box(ins)`` on numbered values, in an
order where every value is defined before it is used. Wirings (copy, discard,
swap, permutations) only renumber values and leave no equation. Every
interpreter is a loop over the equations with a rule table from generator
name to implementation (a :class:`RuleTable`, whose keys must each name a
registered generator or a plan-level operation); none walks DisCoPy's
structure at run time. An equation's ``kind``, the key its rules are found by,
is its generator's name only if that generator owns the name: any other box
(an unregistered class, a plain box) has its full path as its kind, the key
of no rule.

>>> from paralens.categories import Real, Sigmoid, Mul, copy
>>> x = Real(3)
>>> plan = flatten(copy(x) >> Mul(x) >> Sigmoid(x))
>>> plan
Plan(v0: Real(3) → v2)
  v1 = Mul(v0, v0)
  v2 = Sigmoid(v1)
>>> plan.count("Sigmoid")
1
>>> RuleTable("NumPy rules", {"Sigmiod": None})
Traceback (most recent call last):
...
LookupError: NumPy rules: Sigmiod is neither a generator nor a plan-level operation (did you mean Sigmoid?)
"""

from __future__ import annotations

import difflib
import numbers
from dataclasses import dataclass

from ..categories import Diagram, Generator, Ty, Wire
from ..categories.adapter import equations
from ..categories.generator import OPERATIONS, claim_name, owner_of, same_definition

__all__ = ["Equation", "Plan", "flatten", "OuterSum", "sum_over_batch", "last_uses",
           "RuleTable", "operation", "kind_of"]

_registry = Generator.registry


def kind_of(cls) -> str:
    """The rule-table key of a box's class: its name if it owns the name (a
    registered generator, a plan-level operation, or the same definition run
    again), else its full path, which is the key of no rule."""
    name = cls.__name__
    owner = owner_of(name)
    if owner is cls or owner is not None and same_definition(owner, cls):
        return name
    return f"{cls.__module__}.{cls.__qualname__}"


def operation(cls):
    """Declare a plan-level operation (a class decorator): an equation interpreters
    add to plans, which rule tables may name beside the generators."""
    claim_name(cls, OPERATIONS)
    return cls


class RuleTable(dict):
    """A rule table: generator (or plan-level operation) name ↦ rule. Every key is
    checked when it is set, so that a misspelt or stale key fails loudly."""

    def __init__(self, what: str, rules=()):
        super().__init__()
        self.what = what
        self.update(rules)

    def __setitem__(self, name, rule):
        if not isinstance(name, str) or owner_of(name) is None:
            close = difflib.get_close_matches(str(name), list(_registry) + list(OPERATIONS), 1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise LookupError(f"{self.what}: {name} is neither a generator nor a plan-level "
                           f"operation{hint}")
        super().__setitem__(name, rule)

    def update(self, rules=(), **more):
        for name, rule in dict(rules, **more).items():
            self[name] = rule

    def setdefault(self, name, rule=None):
        if name not in self:
            self[name] = rule
        return self[name]

    def __repr__(self):
        return f"RuleTable({self.what!r}, {dict.__repr__(self)})"


@dataclass(frozen=True)
class Equation:
    box: object
    ins: tuple[int, ...]
    outs: tuple[int, ...]

    @property
    def kind(self) -> str:
        """The generator's name, the key of every rule table (:func:`kind_of`)."""
        return kind_of(type(self.box))

    def __str__(self):
        outs = ", ".join(f"v{i}" for i in self.outs) or "()"
        ins = ", ".join(f"v{i}" for i in self.ins)
        return f"{outs} = {self.box.name}({ins})"


@dataclass
class Plan:
    """Inputs, equations and outputs on values numbered 0, 1, …; ``wires[v]`` types v."""

    inputs: tuple[int, ...]
    equations: list[Equation]
    outputs: tuple[int, ...]
    wires: list[Wire]
    consumers: dict   # value ↦ the name of the first box that reads it

    def count(self, kind: str) -> int:
        """How many equations apply the generator named ``kind``."""
        return sum(eq.kind == kind for eq in self.equations)

    def __repr__(self):
        ins = ", ".join(f"v{i}: {self.wires[i]!r}" for i in self.inputs)
        outs = ", ".join(f"v{i}" for i in self.outputs)
        return "\n  ".join([f"Plan({ins} → {outs})"] + [str(eq) for eq in self.equations])


def flatten(diagram: Diagram) -> Plan:
    """The SSA plan of a diagram, in one pass over its parts (no recursion in its
    depth, and linear in its size: traced functions are read op by op)."""
    found, outputs = equations(diagram)
    wires, consumers = list(diagram.dom.inside), {}
    for box, ins, _ in found:
        wires.extend(box.cod.inside)
        for v in ins:
            consumers.setdefault(v, box.name)
    return Plan(tuple(range(len(diagram.dom))), [Equation(*eq) for eq in found], outputs,
                wires, consumers)


# -- batch reductions ----------------------------------------------------------

@operation
@dataclass(frozen=True)
class OuterSum:
    """Σ over the batch of a ⊗ b: an outer product fused with its batch sum (a
    matrix product), so the per-example outer products are never formed."""

    name = "OuterSum"


#: generator name ↦ the operation that computes its output already summed over the batch
FUSED_BATCH_SUM = RuleTable("fused batch sums", {"Outer": OuterSum})


def _uses(equations, outputs) -> dict:
    uses = {}
    for v in [v for eq in equations for v in eq.ins] + list(outputs):
        uses[v] = uses.get(v, 0) + 1
    return uses


def _positions(positions, n: int) -> list:
    """The output positions to sum over the batch: whole numbers in 0 … n − 1."""
    try:
        positions = list(positions)
    except TypeError:
        raise TypeError(f"summed: the positions of outputs to sum over the batch, as a list "
                        f"or range, got {positions!r}") from None
    for p in positions:
        if isinstance(p, bool) or not isinstance(p, numbers.Integral) or not 0 <= p < n:
            raise ValueError(f"summed: {p!r} is not the position of an output; the diagram "
                             f"has {n} output{'s' if n != 1 else ''} (0 … {n - 1})")
    return positions


def sum_over_batch(plan: Plan, positions=()) -> Plan:
    """The plan with the outputs at ``positions`` summed over the batch, and every
    batch sum (``SumBatch``) fused where it can be.

    The sum is linear, so it is pushed through generators whose output is the
    sum of their inputs (``sums_inputs``: Add, Bias) and fused into those of
    ``FUSED_BATCH_SUM`` (an outer product becomes one matrix product); any
    other value keeps a ``SumBatch`` equation, right after the one that makes it.
    """
    from ..categories import SumBatch
    wires, outputs = list(plan.wires), list(plan.outputs)
    equations = list(plan.equations)
    positions = _positions(positions, len(outputs))
    for position in positions:       # requested sums become SumBatch equations
        v = outputs[position]
        wires.append(wires[v])
        equations.append(Equation(SumBatch(Ty(wires[v])), (v, ), (len(wires) - 1, )))
        outputs[position] = len(wires) - 1
    producer = {v: k for k, eq in enumerate(equations) for v in eq.outs}
    uses = _uses(equations, outputs)
    after, rename, dropped = {}, {}, set()   # producer index (-1: an input) ↦ new equations

    def summed(root) -> int:
        """The value holding the batch sum of ``root`` (pushed through sums, any depth)."""
        done, pending = {}, [(root, False)]
        while pending:
            v, ready = pending.pop()
            k = producer.get(v)
            eq = equations[k] if k is not None and uses[v] == 1 else None
            if eq is not None and eq.kind in FUSED_BATCH_SUM:
                equations[k] = Equation(FUSED_BATCH_SUM[eq.kind](), eq.ins, eq.outs)
                done[v] = v
            elif eq is not None and eq.outs.index(v) in getattr(eq.box, "summed_outputs", ()):
                # Σ_batch Σ_time = Σ_time Σ_batch: the loop's stage sums it at every step
                position = list(eq.box.summed_outputs).index(eq.outs.index(v))
                eq = equations[k] = Equation(eq.box.summing_over_batch([position]), eq.ins,
                                             eq.outs)
                done[v] = v
            elif eq is not None and getattr(eq.box, "sums_inputs", False) \
                    and all(uses[i] == 1 for i in eq.ins):
                if ready:
                    equations[k] = Equation(eq.box, tuple(done[i] for i in eq.ins), eq.outs)
                    done[v] = v
                else:
                    pending.append((v, True))
                    pending += [(i, False) for i in reversed(eq.ins)]
            else:
                wires.append(wires[v])
                after.setdefault(-1 if k is None else k, []).append(
                    Equation(SumBatch(Ty(wires[v])), (v, ), (len(wires) - 1, )))
                done[v] = len(wires) - 1
        return done[root]

    for k, eq in enumerate(list(equations)):
        if eq.kind == "SumBatch":
            dropped.add(k)
            rename[eq.outs[0]] = summed(eq.ins[0])
    ordered = list(after.get(-1, []))
    for k, eq in enumerate(equations):
        ordered += ([] if k in dropped else [eq]) + after.get(k, [])
    ordered = [Equation(eq.box, tuple(rename.get(v, v) for v in eq.ins), eq.outs)
               for eq in ordered]
    outputs = tuple(rename.get(v, v) for v in outputs)
    return Plan(plan.inputs, ordered, outputs, wires, plan.consumers)


def last_uses(plan: Plan) -> list[tuple]:
    """For each equation, the values read for the last time there (and not outputs):
    an interpreter may free them once it has run."""
    last = {}
    for k, eq in enumerate(plan.equations):
        for v in eq.ins:
            last[v] = k
    keep = set(plan.outputs)
    dead = [[] for _ in plan.equations]
    for v, k in last.items():
        if v not in keep:
            dead[k].append(v)
    return [tuple(d) for d in dead]
