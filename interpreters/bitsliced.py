"""The bit-sliced evaluation of a circuit, compiled to NumPy source.

The plan's constants of Z2 are folded (``Z2``, a table of rewrite rules read
by ``passes.rewrite``), dead code and common subexpressions removed, then each
equation is written by its emitter on uint64 words (``WORDS``, a dialect of
``interpreters.source``), 64 examples to a word. The module imports only
NumPy; calling a :class:`CompiledCircuit` packs, runs and unpacks.

>>> import numpy as np
>>> from paralens.categories import Bool, function
>>> x = Bool(1)
>>> xor3 = compile(function(x @ x @ x, x)(lambda a, b, c: a ^ b ^ c), name="xor3")
>>> print(xor3.source.split("def ")[-1])
xor3(x0, x1, x2):
    v4 = x0 ^ x1 ^ x2
    return v4
<BLANKLINE>
>>> xor3(*np.eye(3, dtype=bool)[:, :, None]).ravel().tolist()
[True, True, True]
"""

from __future__ import annotations

import numpy as np

from ..categories import Xor, Zero
from ..categories.adapter import building

from .circuit import BATCH_LEVEL, BitSliced, _check_bool, _Words, is_oracle, scatter_plan
from .runtime import popcount, scatter, vote_batch, xor_batch, count
from .passes import eliminate_common_subexpressions, eliminate_dead_code, rewrite
from .plan import Equation, RuleTable, flatten
from .source import Dialect, chain, check_name, constant, define, emit, py, save, template

__all__ = ["Z2", "fold_z2", "WORD_EMITTERS", "UNCOMPILED", "WORD_HELPERS", "WORDS",
           "CompiledCircuit", "compile", "optimise"]


# -- Z2's constants folded: x ⊕ 0 = x, x ∧ 0 = 0, x ∧ 1 = x ----------------------------

def _xor_zero(eq, facts):
    """x ⊕ 0 ⊕ … = x ⊕ …: the zeros dropped (the XOR itself, if one input is left)."""
    rest = [v for v in eq.ins if facts.kind(v) != "Zero"]
    if len(rest) == len(eq.ins) or not rest:
        return None
    return rest[0] if len(rest) == 1 else Equation(Xor(eq.box.x, len(rest)), tuple(rest), eq.outs)


def _and_zero(eq, facts):
    """x ∧ 0 = 0."""
    if "Zero" in (facts.kind(v) for v in eq.ins):
        return Equation(Zero(eq.box.cod), (), eq.outs)


def _and_one(eq, facts):
    """x ∧ 1 = x."""
    kinds = [facts.kind(v) for v in eq.ins]
    if "One" in kinds:
        return eq.ins[1] if kinds[0] == "One" else eq.ins[0]


#: the constants of Z2 folded away (the backward halves are full of zeros, the
#: cotangents of discarded wires)
Z2 = RuleTable("Z2 folds", {"Xor": [_xor_zero], "And": [_and_zero, _and_one]})


def fold_z2(plan):
    """x ⊕ 0 = x, x ∧ 0 = 0, x ∧ 1 = x: constants of Z2 folded away (the
    backward halves are full of zeros, the cotangents of discarded wires)."""
    return rewrite(plan, Z2)


def optimise(plan):
    """Z2's constants folded, then dead code and common subexpressions removed."""
    for run in (fold_z2, eliminate_common_subexpressions, eliminate_dead_code,
                eliminate_common_subexpressions):
        plan = run(plan)
    return plan


# -- emitters on words --------------------------------------------------------------------

def _flat(box, x):
    k = len(box.dom.inside[0].shape)
    return x if k == 1 else py("x.reshape(x.shape[:x.ndim - k] + (-1,))", x=x, k=k)


def _scatter(box, y):
    order, starts, hit = scatter_plan(box.index)
    return py("scatter(y, order, starts, hit, size, shape)", y=_flat(box, y),
              order=constant(order), starts=constant(starts), hit=constant(hit),
              size=box.flat_size, shape=box.cod.inside[0].shape)


WORD_EMITTERS = RuleTable("word emitters", {
    "And": template("a & b", "a", "b"),
    "Xor": lambda box, *xs: chain("^", xs),
    "Zero": lambda box: py("np.uint64(0)"),
    "One": lambda box: py("np.uint64(0xFFFFFFFFFFFFFFFF)"),
    "Bits": lambda box: constant(_Words.constant(box.c)),
    "Parity": template("np.bitwise_xor.reduce(x, axis=-1)", "x"),
    "Broadcast": lambda box, x: py("np.broadcast_to(x[..., None], x.shape + (n,))", x=x, n=box.n),
    "Gather": lambda box, x: py("x[..., index]", x=_flat(box, x), index=constant(box.index)),
    "Scatter": _scatter,
    "SumBatch": lambda box, x: py("xor_batch(x, batch, ndim)", x=x,
                                  ndim=len(box.dom.inside[0].shape)),
    "VoteBatch": lambda box, x, y: py("vote_batch(x, y, batch, ndim)", x=x, y=y,
                                      ndim=len(box.dom.inside[0].shape)),
})

#: generators with no emitter, besides oracle generators (whose rule is a Python
#: function on bits, not code): the Boolean difference of an oracle. A circuit with
#: them runs in ``Circuit`` or ``BitSliced``, not compiled
UNCOMPILED = frozenset({"BooleanDifference"})


def _check_compiled(plan):
    for eq in plan.equations:
        if eq.kind in WORD_EMITTERS:
            continue
        if is_oracle(eq.box) or eq.kind in UNCOMPILED:
            raise NotImplementedError(
                f"{eq.box.name} ({eq.kind}): an oracle generator's rule is Python on bits, "
                f"not compiled to source; run the circuit with interpreters.boolean.Circuit "
                f"or BitSliced")
        raise NotImplementedError(f"no word emitter for {eq.box.name} ({eq.kind}): "
                                  f"{eq.box.dom!r} → {eq.box.cod!r}")


#: the helpers the emitted code may call (``interpreters.runtime``)
WORD_HELPERS = {f.__name__: f for f in (popcount, count, xor_batch, vote_batch, scatter)}

#: the dialect of bit-sliced words: uint64 arrays, 64 examples per word
WORDS = Dialect(
    WORD_EMITTERS, inline={"And", "Xor", "Zero", "One"}, arithmetic={"And", "Xor"},
    scalars={"Zero", "One"}, helpers=WORD_HELPERS, dtype=lambda wire: "uint64",
    extra=(("batch", BATCH_LEVEL), ))


class CompiledCircuit(BitSliced):
    """A circuit compiled to NumPy source on bit-sliced words: ``source`` is a
    module that imports only NumPy; calling it packs, runs and unpacks."""

    def __init__(self, diagram, name: str = "circuit"):
        check_name(name, WORDS)
        _check_bool(diagram)
        self.diagram, self.name = diagram, name
        with building():
            self.plan = optimise(flatten(diagram))
            _check_compiled(self.plan)
            self.source = emit(self.plan, name, WORDS)
            self.function = define(self.source, name)

    def _evaluate(self, values, batch: int):
        out = self.function(*values, batch=batch) if self.batch_level else self.function(*values)
        return list(out) if len(self.plan.outputs) != 1 else [out]

    save = save


def compile(diagram, name: str = "circuit") -> CompiledCircuit:
    """The bit-sliced evaluation of a circuit as NumPy source (passes: Z2
    constants folded, then dead-code and common-subexpression elimination).
    ``name`` must be a Python identifier the module does not use for itself."""
    check_name(name, WORDS)
    return CompiledCircuit(diagram, name)
