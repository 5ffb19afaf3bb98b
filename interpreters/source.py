"""Python source from a plan, built as ``ast`` nodes.

An emitter maps a box and the expressions of its inputs to the expression of
its output, as ``ast`` nodes; :func:`emit` runs the emitters of a dialect over
a plan and ``ast.unparse`` writes the text. Inlining and parentheses are
structural, so what the source says is what the plan computes:

* a value read once by its consumer is inlined there (if its generator is one
  the dialect inlines), but no expression nests deeper than ``MAX_DEPTH``:
  past it, a subexpression is named as a temporary first;
* an emitter that reads an input twice, or only on one side of a condition,
  gets it as a name, never an inlined expression evaluated twice;
* each temporary is ``del``-eted after the last statement that reads it (read
  from the statements' names), so NumPy reuses its memory;
* numbers are literals, non-finite ones included (``np.inf``, ``np.nan``);
* an emitter may write statements instead (a :class:`Block`: a loop over time),
  and emit a plan of its own as their body (:meth:`Scope.body`, numbered apart
  from every other value of the module); :func:`carry` makes such a body a
  loop's: its state rebound, its per-step values deleted within the step, and
  nothing read inside the loop but bound outside it deleted before it ends.

>>> ast.unparse(py("a * (b + c)", a=literal(-2.0), b=py("x - y"), c=float("inf")))
'-2.0 * (x - y + np.inf)'
>>> check_name("import os")
Traceback (most recent call last):
...
ValueError: cannot name the generated function 'import os': it is not a Python identifier
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import keyword
import math
import re
import threading
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from ..categories import Ty
from . import runtime
from .inplace import reuse

__all__ = ["MAX_DEPTH", "Dialect", "Block", "Scope", "py", "template", "chain", "literal",
           "dtype_of", "constant", "emit", "carry", "define", "check_name", "named_wires",
           "identifiers", "save", "renamed"]

#: the deepest an emitted expression nests, in ``ast`` nodes (Python's parser
#: refuses 200 nested parentheses and its compiler recurses on depth)
MAX_DEPTH = 16


# -- expressions --------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _parsed(text: str) -> ast.expr:
    return ast.parse(text, mode="eval").body


def py(text: str, **values) -> ast.expr:
    """The expression ``text`` (library code, never user input) with each name in
    ``values`` replaced by that expression, or by that number or tuple as a literal."""
    values = {k: v if isinstance(v, ast.AST) else literal(v) for k, v in values.items()}
    return _fill(_parsed(text), values)


def _fill(node, values):
    if isinstance(node, ast.Name) and node.id in values:
        return values[node.id]
    new = type(node)()
    for name, value in ast.iter_fields(node):
        if isinstance(value, list):
            value = [_fill(v, values) if isinstance(v, ast.AST) else v for v in value]
        elif isinstance(value, ast.expr):
            value = _fill(value, values)
        setattr(new, name, value)
    return new


def template(text: str, *params: str):
    """An emitter that ignores the box: ``template("x + b", "b", "x")``."""
    return lambda box, *args: py(text, **dict(zip(params, args)))


def chain(op: str, xs) -> ast.expr:
    """x0 op x1 op … op xn, folded from the left (as the interpreters add)."""
    operator = type(_parsed(f"a {op} b").op)
    out = xs[0]
    for x in xs[1:]:
        out = ast.BinOp(out, operator(), x)
    return out


def literal(value) -> ast.expr:
    """A Python number, tuple, list or ``...`` as an expression; a non-finite float
    is ``np.inf`` or ``np.nan``, a negative number a negation (so that it keeps
    its meaning wherever it is put)."""
    if isinstance(value, (tuple, list)):
        return (ast.Tuple if isinstance(value, tuple) else ast.List)(
            [literal(v) for v in value], ast.Load())
    if value is None or value is Ellipsis or isinstance(value, (bool, np.bool_, str)):
        return ast.Constant(bool(value) if isinstance(value, np.bool_) else value)
    if isinstance(value, (int, np.integer)):
        value = int(value)
        return ast.UnaryOp(ast.USub(), ast.Constant(-value)) if value < 0 else ast.Constant(value)
    value = float(value)
    node = py("np.nan") if math.isnan(value) else py("np.inf") if math.isinf(value) \
        else ast.Constant(abs(value))
    return ast.UnaryOp(ast.USub(), node) if math.copysign(1.0, value) < 0 else node


def dtype_of(dtype) -> ast.expr:
    """``np.float64`` for a dtype NumPy names so, else the dtype's name as a string."""
    name = np.dtype(dtype).name
    return py(f"np.{name}") if name.isidentifier() and hasattr(np, name) else ast.Constant(name)


def _name(text: str) -> ast.Name:
    return ast.Name(text, ast.Load())


def _is_literal(node) -> bool:
    """A number as :func:`literal` writes it (``2.0``, ``-2.0``, ``np.inf``, …)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) or (
        isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        and node.value.id == "np")


def _is_atom(node) -> bool:
    """A name or a literal: free to repeat."""
    return isinstance(node, ast.Name) or _is_literal(node)


# -- structure of an expression ----------------------------------------------------------

def _slots(node):
    """(container, key, child, conditional) for each subexpression directly in
    node; ``conditional``: evaluated only on one side of a condition."""
    for name in _FIELDS.get(type(node)) or _fields(type(node)):
        value = getattr(node, name, None)
        values = enumerate(value) if isinstance(value, list) else ((None, value), )
        for k, child in values:
            if isinstance(child, (ast.expr, ast.keyword)):
                conditional = (isinstance(node, ast.IfExp) and name != "test"
                               or isinstance(node, ast.BoolOp) and k != 0)
                yield (value if k is not None else node), (k if k is not None else name), \
                    child, conditional


_FIELDS: dict = {}


def _fields(kind) -> tuple:
    """The fields of an ``ast`` node type that can hold subexpressions."""
    _FIELDS[kind] = tuple(f for f in kind._fields if f != "ctx")
    return _FIELDS[kind]


def _uses_of(root, args) -> tuple:
    """How often each of ``args`` (nodes, by identity) occurs in root, and which
    occur under a condition (the args themselves are not entered)."""
    ids = {id(a): k for k, a in enumerate(args)}
    counts, conditional = [0] * len(args), [False] * len(args)
    stack = [(root, False)]
    while stack:
        node, under = stack.pop()
        k = ids.get(id(node))
        if k is not None:
            counts[k] += 1
            conditional[k] |= under
            continue
        stack.extend((child, under or c) for _, _, child, c in _slots(node))
    return counts, conditional


_UNHOISTABLE = (ast.Name, ast.Constant, ast.Tuple, ast.List, ast.Slice, ast.Starred)


def _bound(root, hoist) -> ast.expr:
    """root with every subexpression that would nest deeper than MAX_DEPTH replaced
    by ``hoist(subexpression)`` (a name), innermost first. Nothing under a
    condition is hoisted (it might not be evaluated). Nodes already bounded carry
    their ``_depth``; the walk is a loop, so a long chain is no problem."""
    stack = [(root, False, None)]
    while stack:
        node, under, slots = stack.pop()
        if hasattr(node, "_depth"):
            continue
        if slots is None:
            slots = list(_slots(node))
            stack.append((node, under, slots))
            stack.extend((child, under or c, None) for _, _, child, c in slots)
            continue
        depths = [getattr(child, "_depth", 1) for _, _, child, _ in slots]
        while depths and 1 + max(depths) > MAX_DEPTH:
            movable = [k for k, (_, _, child, c) in enumerate(slots)
                       if not (under or c) and isinstance(child, ast.expr)
                       and not isinstance(child, _UNHOISTABLE) and depths[k] > 1
                       and not (isinstance(node, ast.Call) and slots[k][1] == "func")
                       and not (isinstance(node, ast.Subscript) and slots[k][1] == "slice")]
            if not movable:
                break
            k = max(movable, key=depths.__getitem__)
            container, key, child, c = slots[k]
            name = hoist(child)
            name._depth = 1
            if isinstance(key, str):
                setattr(container, key, name)
            else:
                container[key] = name
            slots[k], depths[k] = (container, key, name, c), 1
        node._depth = 1 + max(depths, default=0)
    return root


# -- dialects and the emission loop ----------------------------------------------------------

@dataclass
class Dialect:
    """What the emitted code computes on: the emitters (generator name ↦ (box,
    input expressions) ↦ expression) and which of them inline, accept Python
    numbers or make them, the helpers they may call (name ↦ a function of
    :mod:`interpreters.runtime` or another NumPy-only function), the dtype a
    number is materialised in, and extra parameters of the emitted function."""

    emitters: dict
    inline: set
    arithmetic: set
    scalars: set
    helpers: dict
    dtype: object = None                  # wire ↦ dtype name; default the wire's own
    extra: tuple = ()                     # (parameter, the kinds that need it)
    sources: dict = field(default_factory=dict, repr=False)   # helper ↦ (source, names read)
    #: what the module says it computes on, and the lines that import it
    title: str = "NumPy only"
    imports: tuple = ("import numpy as np", )
    #: names the emitters write ↦ the names the module uses (``{"np": "jnp"}``: the
    #: emitters' NumPy calls written as jax.numpy's), in the body and the helpers
    rename: dict = field(default_factory=dict)
    #: names the module binds for itself besides ``np`` and ``math`` (its imports)
    modules: tuple = ()
    #: ``del`` each temporary after its last read, so that NumPy reuses its memory (off
    #: where a traced program frees nothing, and a nested function reads it later)
    frees: bool = True
    #: in-place updates where safe (:mod:`interpreters.inplace`): operation ↦ how its
    #: result's batch axes follow its inputs' ("keep": theirs broadcast; "drop": none;
    #: any other operation's are its own); None for none (arrays immutable: JAX)
    inplace: dict = None

    def helper(self, name: str) -> tuple:
        """The source of a helper and the names it reads (renamed as the dialect says)."""
        if name not in self.sources:
            text = inspect.getsource(self.helpers[name])
            tree = ast.parse(text)
            assert len(tree.body) == 1 and isinstance(tree.body[0], ast.FunctionDef) \
                and tree.body[0].name == name, f"helper {name} is not one function named so"
            if self.rename:
                text = ast.unparse(renamed(tree, self.rename))
            self.sources[name] = (text.rstrip("\n"), _names_read(tree))
        return self.sources[name]


def renamed(tree, names: dict):
    """``tree`` with every name in ``names`` replaced (in place; returned)."""
    for node in ast.walk(tree):
        if type(node) is ast.Name and node.id in names:
            node.id = names[node.id]
    return tree


def _names_read(tree) -> set:
    """The names in a tree (a loop over its nodes, like ``ast.walk`` but faster)."""
    names, stack = set(), [tree]
    while stack:
        node = stack.pop()
        if type(node) is ast.Name:
            names.add(node.id)
            continue
        for field in _FIELDS.get(type(node)) or _fields(type(node)):
            value = getattr(node, field, None)
            if isinstance(value, list):
                stack.extend(v for v in value if isinstance(v, ast.AST))
            elif isinstance(value, ast.AST):
                stack.append(value)
    return names


_emitting = threading.local()      # the constants of the module being emitted, per thread


def constant(value: np.ndarray) -> ast.Name:
    """The name of a module-level array holding ``value`` (emitted once per module)."""
    constants = _emitting.constants
    for name, v in constants:
        if v.dtype == value.dtype and v.shape == value.shape and np.array_equal(v, value):
            return _name(name)
    constants.append((f"K{len(constants)}", value))
    return _name(constants[-1][0])


def _constant_statement(name: str, value: np.ndarray) -> ast.stmt:
    array = py("np.array(values, dtype=dtype).reshape(shape)", values=value.ravel().tolist(),
               dtype=dtype_of(value.dtype), shape=value.shape)
    return ast.Assign([ast.Name(name, ast.Store())], array, lineno=0)


class Block:
    """An emitter of statements rather than of one expression (a loop over time):
    ``rule(box, args, numbers, outs, read, scope)`` gets its inputs' expressions
    (names or literals, never an expression to recompute), which of them hold one
    Python number rather than an array, the names its outputs are to be bound to,
    which of them anything reads, and the :class:`Scope`; it returns the statements
    that bind them."""

    def __init__(self, rule):
        self.rule = rule

    def __call__(self, box, args, numbers, outs, read, scope):
        return self.rule(box, args, numbers, outs, read, scope)


def _assign(targets, value) -> ast.Assign:
    target = ast.Name(targets[0], ast.Store()) if len(targets) == 1 else \
        ast.Tuple([ast.Name(t, ast.Store()) for t in targets], ast.Store())
    return ast.Assign([target], value, lineno=0)


class Scope:
    """The emission of one module: its dialect and the numbering of its names, shared
    by the function's body and the bodies of its loops, so that no two collide. Values
    are ``v{offset + k}`` (a loop's stage has its own offset), temporaries take the
    next free numbers, a loop's step is ``t0``, ``t1``, …"""

    def __init__(self, dialect: Dialect, first: int):
        self.dialect, self.next, self.steps = dialect, first, 0

    def reserve(self, n: int) -> int:
        """The first of n fresh numbers, for a plan's values."""
        offset, self.next = self.next, self.next + n
        return offset

    def temporary(self) -> str:
        return f"v{self.reserve(1)}"

    def step(self) -> str:
        """A fresh name for a loop's step."""
        self.steps += 1
        return f"t{self.steps - 1}"

    def body(self, plan, inputs: list, offset: int = 0, numbers=()) -> tuple:
        """(statements, the outputs' expressions): the plan's equations with its
        inputs given as expressions (a name, a literal, or an expression such as a
        step's slice, inlined where it is read once and named first otherwise);
        ``numbers``: the positions of inputs that are names of Python numbers."""
        dialect = self.dialect
        uses = {}
        for v in [v for eq in plan.equations for v in eq.ins] + list(plan.outputs):
            uses[v] = uses.get(v, 0) + 1
        names, inlined, body, scalar, outputs = {}, {}, [], set(), set(plan.outputs)

        def name(v):
            return names.get(v) or f"v{offset + v}"

        def assign(targets, value):
            body.append(_assign(targets, value))

        def hoist(node):
            temporary = self.temporary()
            assign([temporary], node)
            return _name(temporary)

        for k, (v, expr) in enumerate(zip(plan.inputs, inputs)):
            if isinstance(expr, ast.Name):
                names[v] = expr.id
                if k in numbers:
                    scalar.add(v)
            elif _is_literal(expr):
                inlined[v] = expr
                scalar.add(v)
            elif uses.get(v, 0) == 1 and v not in outputs:
                inlined[v] = expr
            else:
                assign([name(v)], expr)

        def ref(v, arithmetic, full):
            expr = inlined.get(v) or _name(name(v))
            if v in scalar and not arithmetic:      # an array is needed here: materialise it
                if v not in full:                   # (once per statement)
                    wire = plan.wires[v]
                    dtype = dialect.dtype(wire) if dialect.dtype else wire.dtype
                    full[v] = py("np.full(shape, value, dtype=dtype)", shape=wire.shape,
                                 value=expr, dtype=dtype_of(dtype))
                expr = full[v]
            return expr

        def named(eq, args, repeated):
            """args, those at ``repeated`` computed first and read by name."""
            for k in repeated:
                node, v = args[k], eq.ins[k]
                if _is_atom(node):                  # already named (it is at another position too)
                    continue
                if inlined.get(v) is node:          # its own value: computed as its name
                    assign([name(v)], inlined.pop(v))
                    value = _name(name(v))
                else:                               # a number materialised as an array
                    value = hoist(node)
                args = [value if a is node else a for a in args]
            return args

        for eq in plan.equations:
            if eq.kind not in dialect.emitters:
                raise NotImplementedError(f"no NumPy emitter for {eq.box.name} ({eq.kind})")
            arithmetic = eq.kind in dialect.arithmetic
            emitter, full = dialect.emitters[eq.kind], {}
            args = [ref(v, arithmetic, full) for v in eq.ins]
            if isinstance(emitter, Block):        # statements, its inputs names or numbers
                args = [ref(v, True, full) for v in eq.ins]
                args = named(eq, args, [k for k, a in enumerate(args) if not _is_atom(a)])
                body.extend(emitter(eq.box, args, [v in scalar for v in eq.ins],
                                    [name(v) for v in eq.outs],
                                    [uses.get(v, 0) > 0 for v in eq.outs], self))
                continue
            expr = emitter(eq.box, *args)
            counts, conditional = _uses_of(expr, args)
            repeated = [k for k, a in enumerate(args)
                        if (counts[k] > 1 or conditional[k]) and not _is_atom(a)]
            if repeated:              # those inputs are read twice: as names, computed once
                expr = emitter(eq.box, *named(eq, args, repeated))
            expr = _bound(expr, hoist)
            if eq.kind in dialect.scalars or arithmetic and all(v in scalar for v in eq.ins):
                scalar.update(eq.outs)
            if len(eq.outs) == 1 and eq.kind in dialect.inline and uses.get(eq.outs[0], 0) == 1 \
                    and eq.outs[0] not in outputs:
                inlined[eq.outs[0]] = expr
            else:
                assign([name(v) for v in eq.outs], expr)
        full = {}
        returned = [ref(v, False, full) for v in plan.outputs]
        counts, _ = _uses_of(ast.Tuple(returned, ast.Load()), list(full.values()))
        for node, n in zip(list(full.values()), counts):
            if n > 1:                 # one number returned twice: one array
                array = hoist(node)
                returned = [array if r is node else r for r in returned]
        returned = [_bound(r, hoist) for r in returned]
        return body, returned


def emit(plan, name: str = "diagram", dialect: Dialect = None, params=None,
         doc: str = None) -> str:
    """The source of a module defining ``name``, the plan as a NumPy function.
    ``params``: the names of its inputs (default ``x0``, ``x1``, …), which must be
    :func:`identifiers` of this dialect that avoid ``name``; ``doc``: its docstring."""
    check_name(name, dialect)
    params = [f"x{k}" for k in range(len(plan.inputs))] if params is None else list(params)
    assert len(params) == len(plan.inputs), "one parameter per input of the plan"
    _emitting.constants = []
    try:
        body, returned = Scope(dialect, len(plan.wires)).body(plan, [_name(p) for p in params])
        constants = _emitting.constants
    finally:
        _emitting.constants = []
    returns = set().union(*(_names_read(r) for r in returned)) if returned else set()
    if dialect.inplace is not None:
        body = reuse(body, plan, dialect, params, returns)
    if dialect.frees:
        body = _free_dead_values(body, returns)
    body.append(ast.Return(ast.Tuple(returned, ast.Load()) if len(returned) != 1 else returned[0]))
    if doc is not None:
        body.insert(0, ast.Expr(ast.Constant(doc)))
    params += [p for p, kinds in dialect.extra if any(eq.kind in kinds for eq in plan.equations)]
    function = ast.FunctionDef(
        name, ast.arguments([], [ast.arg(p) for p in params], None, [], [], None, []),
        body, [], None, lineno=0)
    read = returns.union(*(_reads(statement) for statement in body))
    helpers = _needed(dialect, read)
    uses_math = "math" in read or any("math" in dialect.helper(h)[1] for h in helpers)
    header = [f'"""Generated by paralens: {dialect.title}."""'] + \
        (["import math"] if uses_math else [])
    header.append("\n".join(dialect.imports))
    if constants:
        header.append("\n".join(ast.unparse(renamed(_constant_statement(n, v), dialect.rename))
                                for n, v in constants))
    if dialect.rename:
        renamed(function, dialect.rename)
    text = "\n\n".join(header) + "\n\n\n"
    text += "".join(dialect.helper(h)[0] + "\n\n\n" for h in helpers)
    return text + ast.unparse(function) + "\n"     # unparse needs no locations


# -- statements: what they read and bind, freeing temporaries, loop bodies -------------------

def _reads(statement) -> set:
    """The names a statement reads (a loop: every name its body reads)."""
    kind = type(statement)
    if kind is ast.Assign:
        target = statement.targets[0]
        names = _names_read(statement.value)
        if not isinstance(target, (ast.Name, ast.Tuple)):      # y[:, t] = …: reads y, t
            names |= _names_read(target)
        return names
    if kind is ast.AugAssign:
        return _names_read(statement.target) | _names_read(statement.value)
    if kind is ast.For:
        return _names_read(statement.iter).union(*(_reads(s) for s in statement.body))
    if kind is ast.If:
        return _names_read(statement.test).union(*(_reads(s) for s in statement.body),
                                                 *(_reads(s) for s in statement.orelse))
    if kind in (ast.Return, ast.Expr):
        return _names_read(statement.value)
    if kind is ast.FunctionDef:                 # a nested function: what its body reads
        return set().union(*(_reads(s) for s in statement.body))
    return set()


def _binds(statement) -> list:
    """The names a statement binds (as a plain assignment)."""
    if type(statement) is not ast.Assign:
        return []
    target = statement.targets[0]
    targets = target.elts if isinstance(target, ast.Tuple) else [target]
    return [t.id for t in targets if isinstance(t, ast.Name)]


def _free_dead_values(body: list, kept: set) -> list:
    """``del`` each temporary after the last statement that reads it (``kept``: those
    returned, or carried to a loop's next step), so that NumPy reuses its memory
    (as a hand-written step does) instead of touching fresh pages for every
    temporary. A name bound here and read inside a loop lives until the loop ends."""
    assigned = {n for s in body for n in _binds(s)}
    last = {}
    for k, statement in enumerate(body):
        for n in _reads(statement):
            if n in assigned:
                last[n] = k
    dead = {}
    for n, k in last.items():
        if n not in kept:
            dead.setdefault(k, []).append(n)
    out = []
    for k, statement in enumerate(body):
        out.append(statement)
        if k in dead:
            names = sorted(dead[k], key=lambda n: int(n[1:]))
            out.append(ast.Delete([ast.Name(n, ast.Del()) for n in names]))
    return out


def _rename(statements, old: str, new: str):
    for statement in statements:
        for node in ast.walk(statement):
            if type(node) is ast.Name and node.id == old:
                node.id = new


def carry(body: list, sinks: list, state: list) -> list:
    """The body of a loop over time: the stage's statements ``body``; ``sinks``,
    statements that take its outputs (stacking them, summing them), each put right
    after the statement that binds the last name it reads (its value is written
    out while it is fresh); and the state carried to the next step, as (name, new
    value expression) pairs. A new value bound by one statement is bound to the
    state's own name there when nothing after reads the old value (the state is
    simply rebound, no copy); any other is rebound at the end, all at once. Values
    of one step are deleted after their last read; the state's names are kept."""
    statements = list(body)
    where = {n: k for k, s in enumerate(statements) for n in _binds(s)}
    placed = [[] for _ in range(len(statements) + 1)]
    for sink in sinks:
        placed[max((where[n] + 1 for n in _reads(sink) if n in where), default=0)].append(sink)
    merged = list(placed[0])
    for statement, after in zip(statements, placed[1:]):
        merged += [statement] + after
    where = {n: k for k, s in enumerate(merged) for n in _binds(s)}
    reads = [_reads(s) for s in merged]
    new = [expr for _, expr in state]
    renamed = set()
    for j, (name, expr) in enumerate(state):
        if not isinstance(expr, ast.Name) or expr.id == name or expr.id not in where \
                or expr.id in renamed or len(_binds(merged[where[expr.id]])) != 1:
            continue
        at = where[expr.id]
        later = set().union(*reads[at + 1:], *(_names_read(e) for i, e in enumerate(new) if i != j))
        if name in later:
            continue
        old = expr.id
        _rename(merged, old, name)
        for e in new:
            if isinstance(e, ast.Name) and e.id == old:
                e.id = name
        renamed.add(name)
        reads = [_reads(s) for s in merged]
    rebound = [(name, e) for (name, _), e in zip(state, new)
               if not (isinstance(e, ast.Name) and e.id == name) and name not in renamed]
    if len(rebound) == 1:
        merged.append(_assign([rebound[0][0]], rebound[0][1]))
    elif rebound:                   # all at once: a state may read another's old value
        merged.append(ast.Assign([ast.Tuple([ast.Name(n, ast.Store()) for n, _ in rebound],
                                            ast.Store())],
                                 ast.Tuple([e for _, e in rebound], ast.Load()), lineno=0))
    merged = _free_dead_values(merged, {name for name, _ in state})
    return merged or [ast.Pass()]


def _needed(dialect: Dialect, read: set) -> list:
    """The helpers the body reads, and those they read, each once, callees first."""
    needed, pending = [], sorted(h for h in dialect.helpers if h in read)
    while pending:
        helper = pending.pop()
        if helper in needed:
            continue
        needed.insert(0, helper)
        pending += sorted(h for h in dialect.helpers
                          if h != helper and h in dialect.helper(helper)[1])
    return needed


# -- the module: its function's name, running it, saving it ------------------------------------

@functools.lru_cache(maxsize=None)
def _reserved(helpers: tuple) -> dict:
    """name ↦ why a generated module needs it for itself, for helpers ((name, function), …)."""
    reserved = {"np": "the module's name for NumPy", "math": "a module the generated code imports"}
    for name, fn in helpers:
        for read in sorted(_names_read(ast.parse(inspect.getsource(fn))) & set(dir(builtins))):
            reserved.setdefault(read, "a built-in the generated helpers call")
    for name, fn in helpers:
        reserved[name] = "the name of a helper function the generated module defines"
    return reserved


_GENERATED = re.compile(r"([Kxvt])[0-9]+")
_KINDS = {"K": "an emitted constant (K0, K1, …)", "x": "an argument (x0, x1, …)",
          "v": "a temporary (v0, v1, …)", "t": "a loop's step (t0, t1, …)"}


def _used(name: str, dialect: Dialect = None):
    """Why a generated module uses ``name`` for itself (a helper, ``np``, ``math``, a
    built-in a helper calls, a constant, an argument, a temporary, a loop's step), or
    None."""
    generated = _GENERATED.fullmatch(name)
    if generated:
        return f"the name of {_KINDS[generated.group(1)]}"
    helpers = {n: getattr(runtime, n) for n in runtime.__all__}
    helpers.update(dialect.helpers if dialect else {})
    if dialect and name in dialect.modules:
        return "a module the generated code imports"
    return _reserved(tuple(sorted(helpers.items(), key=lambda item: item[0]))).get(name)


def check_name(name, dialect: Dialect = None) -> str:
    """``name`` if the generated function can be called so, else a ValueError that
    says why: it must be a Python identifier (as Python reads it), not a keyword,
    and none of the names the generated module uses for itself (the helpers, ``np``,
    ``math``, the built-ins the helpers call, constants K0…, arguments x0…,
    temporaries v0…, loop steps t0…). Checked before any code is built or run."""
    def refuse(why):
        raise ValueError(f"cannot name the generated function {name!r}: {why}")
    if not isinstance(name, str):
        refuse(f"a name is a string, not {type(name).__name__}")
    if not name.isidentifier():
        refuse("it is not a Python identifier")
    if unicodedata.normalize("NFKC", name) != name:
        refuse(f"Python would read it as {unicodedata.normalize('NFKC', name)!r}")
    if keyword.iskeyword(name):
        refuse("it is a Python keyword")
    if name.startswith("__") and name.endswith("__"):
        refuse("names between double underscores are Python's own")
    why = _used(name, dialect)
    if why:
        refuse(f"it is {why}")
    return name


# -- the names of the wires: checked, and made the function's parameters ---------------------

def _check_names(names, wires, role: str):
    """``names`` as a tuple of strings, one per wire of the type ``wires``, or None
    when none are given; else an error that says what is wrong, in ``role``'s words."""
    if names is None:
        return None
    n = len(wires.inside)
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        raise TypeError(f"{role}: expected a list or tuple of names, one per wire of "
                        f"{wires!r}, got {type(names).__name__} {names!r}"[:300])
    if len(names) != n:
        raise ValueError(f"{role}: {len(names)} name{'s' * (len(names) != 1)} for the {n} "
                         f"wire{'s' * (n != 1)} {wires!r}")
    for k, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(f"{role}[{k}]: a name is a string, got {type(name).__name__} "
                            f"{name!r} (for wire {k}, {wires.inside[k]!r})")
    return tuple(names)


def named_wires(diagram, arguments=None, results=None) -> tuple:
    """The (name, type) pairs of a diagram's arguments and of its results (each type
    one wire's): the names
    given, one string per wire of its domain and of its codomain (a list or tuple),
    None where none are given; a TypeError or ValueError that names ``arguments``
    or ``results`` otherwise.

    >>> from paralens.categories import Real, dense
    >>> named_wires(dense(4, 3).diagram, ["dense.W", "dense.b", "x"])
    ((('dense.W', Real(4, 3)), ('dense.b', Real(3)), ('x', Real(4))), ((None, Real(3)),))
    >>> named_wires(dense(4, 3).diagram, ["x"])
    Traceback (most recent call last):
    ...
    ValueError: arguments: 1 name for the 3 wires Real(4, 3) @ Real(3) @ Real(4)
    """
    pairs = []
    for names, wires, role in ((arguments, diagram.dom, "arguments"),
                               (results, diagram.cod, "results")):
        names = _check_names(names, wires, role) or (None, ) * len(wires.inside)
        pairs.append(tuple((name, Ty(wire)) for name, wire in zip(names, wires.inside)))
    return tuple(pairs)


def _continues(c: str) -> bool:
    """Whether c may stand inside a Python identifier."""
    return ("_" + c).isidentifier()


def _identifier(name: str) -> str:
    """``name`` as a Python identifier as Python reads it: NFKC-normalised, each run of
    characters that cannot stand in an identifier one ``_`` (none at either end), a
    leading ``_`` where the first character cannot start one; ASCII only where
    Python would read the result otherwise; ``_`` for nothing."""
    text = unicodedata.normalize("NFKC", name)
    for ascii_only in (False, True):
        parts, part = [], ""
        for c in text:
            if _continues(c) and (c.isascii() or not ascii_only):
                part += c
            else:
                parts.append(part)
                part = ""
        out = "_".join(p for p in parts + [part] if p)
        if not out:
            return "_"
        if not out[0].isidentifier():       # a digit, a combining mark: cannot start one
            out = "_" + out
        if out.isidentifier() and unicodedata.normalize("NFKC", out) == out:
            return out
    raise AssertionError(f"{name!r}: no identifier")   # ASCII word characters always are one


#: the built-ins (``_``, which an interactive session binds, is not one)
_BUILTINS = frozenset(dir(builtins)) - {"_"}


def identifiers(names, dialect: Dialect = None, avoid=()) -> tuple:
    """Distinct Python identifiers for ``names``, in order, that the generated code
    can take as its parameters: each name made an identifier (each run of other
    characters one ``_``: ``"dense.W"`` ↦ ``dense_W``), with ``_`` appended where that
    is a keyword, a built-in, a name the generated module uses for itself
    (:func:`check_name`'s list: ``np``, the helpers, ``x0``, ``v12``, ``t0``, ``K0``…),
    a parameter the dialect adds, or one of ``avoid``; a name taken by an earlier one
    gets ``_2``, ``_3``, … (the first such suffix that is free). None of them can mean
    anything but the argument.

    >>> identifiers(["dense.W", "adam.m.dense_1.W", "x", "label"])
    ('dense_W', 'adam_m_dense_1_W', 'x', 'label')
    >>> identifiers(["lambda", "len", "np", "v3", "step", "a[0]", "a_0", ""], avoid={"step"})
    ('lambda_', 'len_', 'np_', 'v3_', 'step_', 'a_0', 'a_0_2', '_')
    """
    avoid = set(avoid) | {p for p, _ in (dialect.extra if dialect else ())}
    taken, out = set(), []

    def used(name):
        return keyword.iskeyword(name) or name in _BUILTINS or name in avoid \
            or _used(name, dialect) is not None

    for name in names:
        base = _identifier(name)
        if used(base):
            base += "_"
        chosen, k = base, 2
        while chosen in taken or used(chosen):
            chosen, k = f"{base}_{k}", k + 1
        taken.add(chosen)
        out.append(chosen)
    return tuple(out)


_compile = compile


def define(source: str, name: str):
    """The function ``name`` that a generated module's ``source`` defines."""
    namespace = {}
    exec(_compile(source, f"<paralens {name}>", "exec"), namespace)
    return namespace[name]


def save(self, path: str):
    """Write the source as a module that imports nothing but NumPy."""
    with open(path, "w", encoding="utf-8") as file:
        file.write(self.source)
