"""Compile a diagram to NumPy source code.

The plan is optimised, then each equation is written out by its generator's
emitter (a table, like every other interpreter). The result is a Python
function that uses only NumPy: its source can be read, saved as a module with
no dependency on paralens, and called like the diagram.

Passes, in order:

* batch sums of the ``summed`` outputs, fused into outer products (``plan``);
* ``a + (−b)`` becomes ``a − b``; a number times a wire stays a number;
* dead-code elimination: nothing is computed that no output needs;
* common-subexpression elimination: equal boxes on equal inputs run once;
* constants are scalar literals, never materialised as arrays, and
  single-use arithmetic is inlined into one expression.

>>> from categories import Real, Sigmoid
>>> from lenses import R
>>> step = compile(R(Sigmoid(Real(3))).backward)
>>> print(step.source.split("def ")[-1])
diagram(x0, x1):
    v6 = (x1 * x0) * (1.0 - x0)
    return v6
<BLANKLINE>
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import numpy as np

from . import numpy as interpreter
from categories import Ty

from .plan import Equation, Plan, flatten, sum_over_batch

__all__ = ["compile", "compiler_for", "Compiled", "EMITTERS", "optimise"]

# -- plan-level rewrites ------------------------------------------------------------


@dataclass(frozen=True)
class Sub:
    """a − b (an addition of a negation, folded)."""

    name = "Sub"


def _uses(equations, outputs):
    uses = {}
    for eq in equations:
        for v in eq.ins:
            uses[v] = uses.get(v, 0) + 1
    for v in outputs:
        uses[v] = uses.get(v, 0) + 1
    return uses


def fold_subtractions(plan: Plan) -> Plan:
    """Add(a, Neg(b)) ↦ Sub(a, b) when the negation is used only there."""
    producer = {eq.outs[0]: eq for eq in plan.equations if len(eq.outs) == 1}
    uses = _uses(plan.equations, plan.outputs)
    equations = []
    for eq in plan.equations:
        if eq.kind == "Add" and len(eq.ins) == 2:
            a, b = eq.ins
            for x, y in ((a, b), (b, a)):
                neg = producer.get(y)
                if neg is not None and neg.kind == "Neg" and uses[y] == 1:
                    eq = Equation(Sub(), (x, neg.ins[0]), eq.outs)
                    break
        equations.append(eq)
    return Plan(plan.inputs, equations, plan.outputs, plan.wires, plan.consumers)


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


def fold_scalars(plan: Plan) -> Plan:
    """a + a ↦ 2·a; a product with a constant ↦ a scaling; c·(d·x) ↦ (c·d)·x, when
    the inner value is used only there. (A constant spread to a shape is still
    that constant: NumPy broadcasts it.)"""
    from categories import Scale
    producer = {eq.outs[0]: eq for eq in plan.equations if len(eq.outs) == 1}
    uses = _uses(plan.equations, plan.outputs)

    def constant(v):
        """The number v always holds, if it is one: a constant, spread, scaled or negated."""
        eq = producer.get(v)
        if eq is None:
            return None
        if eq.kind == "Constant":
            return eq.box.c
        inner = constant(eq.ins[0]) if eq.kind in ("Spread", "Scale", "Neg") else None
        if inner is None:
            return None
        return {"Spread": inner, "Neg": -inner}.get(eq.kind, eq.box.c * inner if eq.kind == "Scale" else inner)

    equations = []
    for eq in plan.equations:
        ty = Ty(plan.wires[eq.outs[0]]) if len(eq.outs) == 1 else None
        if eq.kind == "Add" and len(eq.ins) == 2 and eq.ins[0] == eq.ins[1]:
            eq = Equation(Scale(2.0, ty), eq.ins[:1], eq.outs)
            uses[eq.ins[0]] -= 1
        elif eq.kind == "Mul":
            for c, other in ((constant(eq.ins[0]), eq.ins[1]), (constant(eq.ins[1]), eq.ins[0])):
                if c is not None:
                    eq = Equation(Scale(c, ty), (other, ), eq.outs)
                    break
        if eq.kind == "Scale":
            inner = producer.get(eq.ins[0])
            if inner is not None and inner.kind == "Scale" and uses[eq.ins[0]] == 1:
                eq = Equation(Scale(eq.box.c * inner.box.c, ty), inner.ins, eq.outs)
        producer.update({v: eq for v in eq.outs})
        equations.append(eq)
    return Plan(plan.inputs, equations, plan.outputs, plan.wires, plan.consumers)


def optimise(plan: Plan) -> Plan:
    passes = (fold_subtractions, eliminate_common_subexpressions, fold_scalars,
              eliminate_dead_code, eliminate_common_subexpressions)
    for run in passes:
        plan = run(plan)
    return plan


# -- emitters: generator name ↦ (box, argument expressions) ↦ expression -----------

def _literal(c: float) -> str:
    return repr(float(c))


def _call(name):
    return lambda box, *args: f"{name}({', '.join(args)})"


#: operators whose single use is inlined into its consumer's expression
INLINE = {"Neg", "Scale", "Mul", "Add", "Bias", "Sub", "Constant", "Zero"}
#: operators that accept a Python number for any argument (NumPy broadcasts it)
ARITHMETIC = {"Neg", "Scale", "Mul", "Add", "Bias", "Sub", "Reciprocal"}

EMITTERS = {
    "Add": lambda box, *xs: " + ".join(xs),
    "Bias": lambda box, b, x: f"{x} + {b}",
    "Sub": lambda box, a, b: f"{a} - {b}",
    "Neg": lambda box, x: f"-{x}",
    "Scale": lambda box, x: f"{_literal(box.c)} * {x}",
    "Mul": lambda box, a, b: f"{a} * {b}",
    "Constant": lambda box: _literal(box.c),
    "Zero": lambda box: "0.0",
    "Exp": _call("np.exp"),
    "Log": _call("np.log"),
    "Reciprocal": lambda box, x: f"1.0 / {x}",
    "Sigmoid": lambda box, x: f"0.5 + 0.5 * np.tanh(0.5 * {x})",
    "Tanh": _call("np.tanh"),
    "Relu": lambda box, x: f"np.maximum({x}, 0.0)",
    "Step": lambda box, x: f"({x} > 0).astype({x}.dtype)",
    "Sin": _call("np.sin"),
    "Cos": _call("np.cos"),
    "Sum": lambda box, x: f"{x}.sum(axis={tuple(range(-len(box.dom.inside[0].shape), 0))})",
    "Spread": lambda box, s: (f"np.broadcast_to(np.asarray({s})[..., {', '.join(['None'] * len(box.cod.inside[0].shape))}], "
                              f"np.shape({s}) + {box.cod.inside[0].shape})"),
    "Softmax": _call("softmax"),
    "Sqrt": _call("np.sqrt"),
    "LogSumExp": _call("logsumexp"),
    "Linear": lambda box, W, x: f"{x} @ {W} if {W}.ndim == 2 else linear({W}, {x})",
    "LinearT": lambda box, W, y: f"{y} @ {W}.T if {W}.ndim == 2 else linear_t({W}, {y})",
    "Outer": lambda box, a, b: f"{a}[..., :, None] * {b}[..., None, :]",
    "OuterSum": lambda box, a, b: f"{a}.T @ {b} if {a}.ndim == {b}.ndim == 2 else outer_sum({a}, {b})",
    "SumBatch": lambda box, x: (f"{x}.sum(axis=0) if {x}.ndim == {len(box.shape) + 1} "
                                f"else unbroadcast({x}, {box.shape})"),
}

#: helpers the emitted code may call, written into the module when used
HELPERS = {
    "softmax": '''def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)''',
    "logsumexp": '''def logsumexp(x):
    m = x.max(axis=-1)
    return m + np.log(np.exp(x - m[..., None]).sum(axis=-1))''',
    "linear": '''def linear(W, x):
    return x @ W if W.ndim == 2 else np.einsum("...ij,...i->...j", W, x)''',
    "linear_t": '''def linear_t(W, y):
    return y @ W.T if W.ndim == 2 else np.einsum("...ij,...j->...i", W, y)''',
    "outer_sum": '''def outer_sum(a, b):
    rows = lambda v: v.reshape(math.prod(v.shape[:-1]), v.shape[-1])
    if a.ndim == b.ndim:
        return rows(a).T @ rows(b)
    return np.outer(rows(a).sum(0), rows(b).sum(0))''',
    "unbroadcast": '''def unbroadcast(x, shape):
    x = np.asarray(x)
    if x.ndim > len(shape):
        x = x.sum(axis=tuple(range(x.ndim - len(shape))))
    return np.broadcast_to(x, shape).copy() if x.shape != shape else x''',
}


def _free_dead_values(lines: list, kept: set) -> list:
    """``del`` each intermediate array after the last line that reads it, so that
    NumPy reuses its memory (as a hand-written step does) instead of touching
    fresh pages for every temporary."""
    last = {}
    for k, line in enumerate(lines):
        for name in re.findall(r"\bv\d+\b", line.split(" = ", 1)[1]):
            last[name] = k
    dead = {}
    for name, k in last.items():
        if name not in kept:
            dead.setdefault(k, []).append(name)
    out = []
    for k, line in enumerate(lines):
        out.append(line)
        if k in dead:
            out.append(f"    del {', '.join(sorted(dead[k], key=lambda n: int(n[1:])))}")
    return out


@dataclass
class Dialect:
    """What the emitted code computes on: the emitters and which of them inline,
    accept scalars or make scalars, the helpers they may call, the dtype a scalar
    is materialised in, and extra parameters of the emitted function."""

    emitters: dict
    inline: set
    arithmetic: set
    scalars: set
    helpers: dict
    dtype: object = None                  # wire ↦ dtype name; default the wire's own
    extra: tuple = ()                     # (parameter, the kinds that need it)


NUMPY = Dialect(EMITTERS, INLINE, ARITHMETIC, {"Constant", "Zero"}, HELPERS)

_emitting = threading.local()      # the module being emitted, per thread


def constant(value: np.ndarray) -> str:
    """The name of a module-level array holding ``value`` (emitted once per module)."""
    _constants = _emitting.constants
    for k, (_, v) in enumerate(_constants):
        if v.dtype == value.dtype and v.shape == value.shape and np.array_equal(v, value):
            return f"K{k}"
    _constants.append((f"K{len(_constants)}", value))
    return f"K{len(_constants) - 1}"


def _constant_source(name: str, value: np.ndarray) -> str:
    values = np.array2string(value.ravel(), separator=", ", threshold=np.inf, max_line_width=88)
    return f"{name} = np.array({values}, dtype=np.{value.dtype}).reshape({value.shape})"


def emit(plan: Plan, name: str = "diagram", dialect: Dialect = NUMPY) -> str:
    """The source of a module defining ``name``, the plan as a NumPy function."""
    uses = _uses(plan.equations, plan.outputs)
    args = {v: f"x{k}" for k, v in enumerate(plan.inputs)}
    inlined, lines = {}, []
    scalar = set()      # values that are Python numbers: constants and arithmetic on them
    _constants = _emitting.constants = []

    def ref(v, arithmetic=False):
        text = inlined.get(v, args.get(v, f"v{v}"))
        if v in scalar and not arithmetic:      # an array is needed here: materialise it
            wire = plan.wires[v]
            dtype = dialect.dtype(wire) if dialect.dtype else wire.dtype
            return f"np.full({wire.shape}, {text}, dtype=np.{dtype})"
        if v in inlined and any(c in text for c in " +-*/&^|"):
            return f"({text})"
        return text

    for eq in plan.equations:
        if eq.kind not in dialect.emitters:
            raise NotImplementedError(f"no NumPy emitter for {eq.box.name} ({eq.kind})")
        arithmetic = eq.kind in dialect.arithmetic
        expr = dialect.emitters[eq.kind](eq.box, *(ref(v, arithmetic) for v in eq.ins))
        if eq.kind in dialect.scalars or arithmetic and all(v in scalar for v in eq.ins):
            scalar.update(eq.outs)
        if len(eq.outs) == 1 and eq.kind in dialect.inline and uses.get(eq.outs[0], 0) == 1 \
                and eq.outs[0] not in plan.outputs:
            inlined[eq.outs[0]] = expr
        else:
            targets = ", ".join(f"v{v}" for v in eq.outs)
            lines.append(f"    {targets} = {expr}")
    outputs = [ref(v) for v in plan.outputs]
    lines = _free_dead_values(lines, set(re.findall(r"\bv\d+\b", " ".join(outputs))))
    lines.append(f"    return {', '.join(outputs) if outputs else '()'}")
    body = "\n".join(lines)
    helpers = _needed(dialect.helpers, body)
    params = [args[v] for v in plan.inputs]
    params += [p for p, kinds in dialect.extra if any(eq.kind in kinds for eq in plan.equations)]
    uses_math = "math." in body or any("math." in h for h in helpers)
    header = ('"""Generated by paralens: NumPy only."""\n\n'
              + ("import math\n\n" if uses_math else "") + "import numpy as np\n\n")
    constants = "".join(_constant_source(n, v) + "\n" for n, v in _constants)
    _emitting.constants = []
    return header + (constants + "\n" if constants else "") + "\n" \
        + "".join(h + "\n\n\n" for h in helpers) + f"def {name}({', '.join(params)}):\n{body}\n"


def _needed(helpers: dict, body: str) -> list:
    """The helpers the body calls, and those they call, each once, callees first."""
    needed, pending = [], [h for h in helpers if f"{h}(" in body]
    while pending:
        helper = pending.pop()
        if helper in needed:
            continue
        needed.insert(0, helper)
        pending += [h for h in helpers if h != helper and f"{h}(" in helpers[helper]]
    return [helpers[h] for h in needed]


class Compiled:
    """A diagram compiled to NumPy source; calling it checks the inputs first."""

    def __init__(self, diagram, summed=(), name: str = "diagram"):
        self.plan = optimise(sum_over_batch(flatten(diagram), summed))
        self.name, self.source = name, emit(self.plan, name)
        self.function = define(self.source, name)
        self.diagram = diagram

    def __call__(self, *args):
        return self.function(*interpreter.check_inputs(self.plan, self.diagram.dom, args))

    def save(self, path: str):
        """Write the source as a module that imports nothing but NumPy."""
        with open(path, "w") as file:
            file.write(self.source)


builtins_compile = compile


def define(source: str, name: str):
    """The function ``name`` that a generated module's ``source`` defines."""
    namespace = {}
    exec(builtins_compile(source, f"<paralens {name}>", "exec"), namespace)
    return namespace[name]


def compiler_for(diagram):
    """The compiler of a diagram: for a circuit (every wire Bool) the bit-sliced one
    of ``interpreters.boolean``, else this module's ``compile``."""
    if all(w.kind == "Bool" for w in diagram.dom.inside + diagram.cod.inside):
        from . import boolean
        return boolean.compile
    return compile


def compile(diagram, summed=(), name: str = "diagram") -> Compiled:
    """Compile a diagram to NumPy source (see the module's passes)."""
    return Compiled(diagram, summed, name)
