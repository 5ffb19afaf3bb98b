"""Passes over a plan: rewriting by a table of rules, dead code, common subexpressions.

A rewrite table maps a generator's name to rules; a rule looks at one
equation (its inputs already renamed) and what is known about the values it
reads (:class:`Facts`: who made them, how often they are read) and returns a
replacement equation, an existing value the output equals, or None. One pass,
:func:`rewrite`, reads any table (tinygrad's pattern tables, in plan form):

>>> from paralens.categories import Real, Neg, Scale
>>> from .plan import flatten
>>> x = Real(3)
>>> twice = {"Neg": [lambda eq, facts: facts.single(eq.ins[0], "Neg") and
...                  facts.single(eq.ins[0], "Neg").ins[0]]}
>>> rewrite(flatten(Neg(x) >> Neg(x) >> Scale(2, x)), twice)
Plan(v0: Real(3) → v3)
  v1 = Neg(v0)
  v3 = Scale(2)(v0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .plan import Equation, Plan

__all__ = ["Facts", "rewrite", "eliminate_dead_code", "eliminate_common_subexpressions"]


def reads(equations, outputs) -> dict:
    """value ↦ how many times the equations and the outputs read it."""
    uses = {}
    for eq in equations:
        for v in eq.ins:
            uses[v] = uses.get(v, 0) + 1
    for v in outputs:
        uses[v] = uses.get(v, 0) + 1
    return uses


@dataclass
class Facts:
    """What a rule may know: the equation making each value (as rewritten so far),
    how many times each value is read in the plan being rewritten, the wires."""

    producer: dict
    uses: dict
    wires: list
    memo: dict = field(default_factory=dict)    # what rules derive once per value

    def kind(self, v):
        """The generator name of the equation that makes v (None for an input)."""
        eq = self.producer.get(v)
        return eq.kind if eq is not None else None

    def single(self, v, kind):
        """The equation making v, if it is a ``kind`` and v is read only once."""
        eq = self.producer.get(v)
        return eq if eq is not None and eq.kind == kind and self.uses.get(v) == 1 else None


def rewrite(plan: Plan, rules: dict) -> Plan:
    """Each equation in turn, rewritten by the first of its generator's rules that
    applies, then looked at again (the result may match a rule too), until none
    does. A rule returning a value renames the equation's output to it."""
    facts = Facts({}, reads(plan.equations, plan.outputs), plan.wires)
    rename, equations = {}, []
    for eq in plan.equations:
        eq = Equation(eq.box, tuple(rename.get(v, v) for v in eq.ins), eq.outs)
        while eq is not None:
            for rule in rules.get(eq.kind, ()):
                new = rule(eq, facts)
                if new is not None and new is not False:
                    break
            else:
                break
            if isinstance(new, Equation):
                eq = new
            else:                       # the output is an existing value
                rename[eq.outs[0]] = rename.get(new, new)
                eq = None
        if eq is not None:
            facts.producer.update({v: eq for v in eq.outs})
            equations.append(eq)
    outputs = tuple(rename.get(v, v) for v in plan.outputs)
    return Plan(plan.inputs, equations, outputs, plan.wires, plan.consumers)


def eliminate_dead_code(plan: Plan) -> Plan:
    """Keep only the equations some output depends on."""
    needed, kept = set(plan.outputs), []
    for eq in reversed(plan.equations):
        if any(v in needed for v in eq.outs):
            kept.append(eq)
            needed.update(eq.ins)
    return Plan(plan.inputs, kept[::-1], plan.outputs, plan.wires, plan.consumers)


def eliminate_common_subexpressions(plan: Plan) -> Plan:
    """Equal boxes applied to equal values compute equal values: keep the first."""
    seen, rename, equations = {}, {}, []
    for eq in plan.equations:
        ins = tuple(rename.get(v, v) for v in eq.ins)
        key = (eq.kind, eq.box, ins)
        try:
            first = seen.get(key)
        except TypeError:           # an unhashable box: never merged
            first, key = None, None
        if first is not None:
            rename.update(zip(eq.outs, first.outs))
            continue
        eq = Equation(eq.box, ins, eq.outs)
        if key is not None:
            seen[key] = eq
        equations.append(eq)
    outputs = tuple(rename.get(v, v) for v in plan.outputs)
    return Plan(plan.inputs, equations, outputs, plan.wires, plan.consumers)
