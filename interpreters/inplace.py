"""In-place updates where safe: a pass over the statements of an emitted function.

A temporary the function made itself (a fresh array, never an argument, a
constant, a view or a broadcast of anything), read for the last time by an
elementwise expression of the same shape and dtype, lends that expression its
memory: the expression is evaluated into it, one ufunc at a time, bottom up
(``out=``, then ``x += y`` and the like), as a NumPy user writes a training step
(``W -= lr * dW`` writes into the gradient's memory here, since the caller's
``W`` is never written). NumPy then touches no fresh pages for it.

>>> from paralens.categories import Para, Real, Sigmoid, dense
>>> from paralens.interpreters import codegen
>>> from paralens.lenses.learner import Learner
>>> from paralens.lenses.losses import mse
>>> from paralens.lenses.optimisers import GD
>>> model = Para.id(Real(4)).then(dense(4, 3, Sigmoid))
>>> step = codegen.compile(Learner(model, mse(Real(3)), GD(lr=0.1)).diagram)
>>> print("\\n".join(step.source.split("def diagram")[1].splitlines()[1:7]))
    v4 = x2 @ x0 if x0.ndim == 2 else linear(x0, x2)
    v6 = np.add(v4, x1, out=v4 if x1.ndim == 1 else None)
    del v4
    v6 *= 0.5
    np.tanh(v6, out=v6)
    v6 *= 0.5

The rules, decided from the statements and the plan's wires:

* a name is *fresh* when the one statement binding it makes a new array (an
  arithmetic operator, a ufunc, a sum, a matrix product: :func:`fresh`), and
  *owned* when it is fresh and every other statement reading it makes a new
  array too (none keeps a view of it), none of them a loop;
* an owned name N is written into by the statement ``M = E`` that reads it last
  (N not returned), when N occurs once in E, every node from E's root down to N
  is an elementwise ufunc (``+ - * /``, unary ``-``, ``np.tanh``, …), and M's and
  N's wires have one shape and one floating dtype (so each step's result has
  N's dtype: NumPy's promotion never narrows);
* the batch axes: a value's leading axes are those of the inputs it is made
  from (``Dialect.inplace``: each operation's rule, ``keep`` or ``drop``),
  every batched input having the same batch, so a step whose other operands
  are made from inputs N is made from too leaves N's shape unchanged; where they
  read other inputs, the step is guarded by their being unbatched
  (``out=N if b.ndim == 1 else None``: else NumPy makes a new array, of the
  broadcast shape, and the steps after it write into that one).
"""

from __future__ import annotations

import ast
import re

import numpy as np

__all__ = ["reuse", "fresh"]

#: binary operators that are elementwise ufuncs: (its name, whether ``b op= a`` may
#: compute ``a op b``: it commutes, exactly in IEEE arithmetic)
BINARY = {ast.Add: ("add", True), ast.Sub: ("subtract", False), ast.Mult: ("multiply", True),
          ast.Div: ("divide", False)}
#: unary operators that are elementwise ufuncs
UNARY = {ast.USub: "negative"}
#: NumPy's elementwise ufuncs an emitted expression calls (``np.tanh(x)``)
UFUNCS = {"tanh", "exp", "log", "sqrt", "sin", "cos", "maximum", "minimum", "negative",
          "add", "subtract", "multiply", "divide"}
#: NumPy functions whose result is a new array or a number
MAKERS = UFUNCS | {"full", "zeros", "ones", "empty", "einsum", "outer", "float16", "float32",
                   "float64", "where"}
#: array methods whose result is a new array or a number (called without keywords)
METHODS = {"sum", "astype", "copy", "max", "min", "mean"}
#: the generated code's helpers whose result is a new array (``unbroadcast`` may
#: return its argument)
HELPERS = {"linear", "linear_t", "outer_sum", "softmax", "logsumexp"}

_VALUE = re.compile(r"v([0-9]+)")


def fresh(node) -> bool:
    """Whether an expression always makes a new array or a number: it can share
    memory with no name it reads.

    >>> fresh(ast.parse("a @ W if W.ndim == 2 else linear(W, a)", mode="eval").body)
    True
    >>> fresh(ast.parse("x.sum(axis=0) if x.ndim == 2 else unbroadcast(x, (3,))",
    ...                 mode="eval").body)
    False
    >>> fresh(ast.parse("np.einsum('...ij->...ji', x)", mode="eval").body)   # a view of x
    False
    """
    kind = type(node)
    if kind in (ast.BinOp, ast.UnaryOp, ast.Compare, ast.Constant):
        return True
    if kind is ast.IfExp:
        return fresh(node.body) and fresh(node.orelse)
    if kind is not ast.Call or node.keywords and any(k.arg in ("out", "copy")
                                                      for k in node.keywords):
        return False
    f = node.func
    if type(f) is ast.Name:
        return f.id in HELPERS
    if type(f) is ast.Attribute:
        if type(f.value) is ast.Name and f.value.id == "np":
            # an einsum of one operand (a transpose, a reshuffle) is a view of it
            return f.attr in MAKERS and (f.attr != "einsum" or len(node.args) > 2)
        return f.attr in METHODS
    return False


def _names(node) -> list:
    return [n.id for n in ast.walk(node) if type(n) is ast.Name]


class _Facts:
    """What the plan says of the function's names: each value's wire, whether it is
    a number at run time (not an array), and its batch tokens (an int as a bit set:
    bit k for the plan's input k, a bit of its own for a value no rule covers)."""

    def __init__(self, plan, dialect, params):
        rules, n = dialect.inplace, len(plan.inputs)
        self.plan, self.value = plan, {p: v for p, v in zip(params, plan.inputs)}
        self.guard = {}                       # bit ↦ the test that its input is unbatched
        tokens, numbers = {}, set()
        for k, (p, v) in enumerate(zip(params, plan.inputs)):
            tokens[v] = 1 << k
            wire = plan.wires[v]
            if not wire.time:
                self.guard[1 << k] = f"{p}.ndim == {len(wire.shape)}"
        for eq in plan.equations:
            if eq.kind in dialect.scalars or eq.kind in dialect.arithmetic and \
                    all(v in numbers for v in eq.ins):
                numbers.update(eq.outs)
            rule = rules.get(eq.kind)
            for out in eq.outs:
                tokens[out] = 0 if rule == "drop" or out in numbers else \
                    _union(tokens[v] for v in eq.ins) if rule == "keep" else 1 << (n + out)
        self.tokens, self.numbers = tokens, numbers

    def of(self, name):
        """The plan value a name holds, or None (a temporary, a helper, ``np``)."""
        v = self.value.get(name)
        if v is None:
            match = _VALUE.fullmatch(name)
            if match and int(match.group(1)) < len(self.plan.wires):
                v = int(match.group(1))
        return v

    def array(self, name):
        """The wire of the value ``name`` holds when it is surely an array of its
        wire's floating dtype and at least one axis, else None."""
        v = self.of(name)
        if v is None or v in self.numbers:
            return None
        wire = self.plan.wires[v]
        if wire.time or not wire.shape or np.dtype(wire.dtype).kind != "f":
            return None
        return wire


def _union(bits) -> int:
    out = 0
    for b in bits:
        out |= b
    return out


def _children(node) -> list:
    """(index, child) for each operand an elementwise ufunc node applies to, or []."""
    kind = type(node)
    if kind is ast.BinOp and type(node.op) in BINARY:
        return [(0, node.left), (1, node.right)]
    if kind is ast.UnaryOp and type(node.op) in UNARY:
        return [(0, node.operand)]
    if kind is ast.Call and not node.keywords and type(node.func) is ast.Attribute \
            and type(node.func.value) is ast.Name and node.func.value.id == "np" \
            and node.func.attr in UFUNCS and not any(type(a) is ast.Starred for a in node.args):
        return list(enumerate(node.args))
    return []


def _paths(root):
    """(path, name) for each name reached from root through elementwise ufuncs only:
    path lists (node, index of the operand on the way down), root first."""
    stack = [(root, [])]
    while stack:
        node, path = stack.pop()
        for k, child in _children(node):
            if type(child) is ast.Name:
                yield path + [(node, k)], child.id
            else:
                stack.append((child, path + [(node, k)]))


def _ufunc(node) -> str:
    kind = type(node)
    if kind is ast.BinOp:
        return BINARY[type(node.op)][0]
    if kind is ast.UnaryOp:
        return UNARY[type(node.op)]
    return node.func.attr


def _operands(node) -> list:
    kind = type(node)
    if kind is ast.BinOp:
        return [node.left, node.right]
    if kind is ast.UnaryOp:
        return [node.operand]
    return list(node.args)


def _load(name):
    return ast.Name(name, ast.Load())


def _steps(path, buffer, result, guards):
    """The statements that evaluate ``path`` (root first) bottom up into ``buffer``'s
    memory, the first binding ``result``; ``guards``: each step's test that its
    result still has the buffer's shape, or None where it surely has."""
    out, first = [], True
    for (node, k), guard in zip(reversed(path), reversed(guards)):
        into = _load(buffer if first else result)
        operands = _operands(node)
        operands[k] = into
        binary = type(node) is ast.BinOp
        if not first and guard is None and binary and len(operands) == 2 \
                and (k == 0 or BINARY[type(node.op)][1]):
            out.append(ast.AugAssign(ast.Name(result, ast.Store()), type(node.op)(),
                                     operands[1 - k], lineno=0))
            continue
        target = into if guard is None else \
            ast.IfExp(ast.parse(guard, mode="eval").body, _load(into.id), ast.Constant(None))
        call = ast.Call(ast.Attribute(_load("np"), _ufunc(node), ast.Load()), operands,
                        [ast.keyword("out", target)])
        if first or guard is not None:
            out.append(ast.Assign([ast.Name(result, ast.Store())], call, lineno=0))
        else:
            out.append(ast.Expr(call))
        first = False
    return out


def reuse(body: list, plan, dialect, params, returns: set) -> list:
    """The function's statements ``body`` (before its temporaries are deleted) with
    each expression that may be evaluated into the memory of an owned temporary it
    reads last evaluated so (the module's rules). ``params``: the names of the
    plan's inputs; ``returns``: the names the returned expressions read."""
    facts = _Facts(plan, dialect, params)
    bound, last, owned = {}, {}, set()
    spoilt = set(returns)                 # names no statement may write into
    for k, statement in enumerate(body):
        plain = type(statement) is ast.Assign and type(statement.targets[0]) is ast.Name
        names = _names(statement.value) if plain else _names(statement)
        for name in names:
            last[name] = k
        if not plain:                     # a loop, a check, a tuple or subscript target
            spoilt.update(names)
            continue
        target = statement.targets[0].id
        bound[target] = bound.get(target, 0) + 1
        if fresh(statement.value):
            owned.add(target)
        else:                             # its value may be a view of what it reads
            spoilt.update(names)
    owned = {n for n in owned if bound[n] == 1 and n not in spoilt}
    out = []
    for k, statement in enumerate(body):
        new = None
        if type(statement) is ast.Assign and type(statement.targets[0]) is ast.Name:
            new = _into(statement, k, facts, owned, last)
        out.extend(new or [statement])
    return out


def _into(statement, k, facts, owned, last):
    """The statements evaluating ``M = E`` into an owned name E reads last, or None."""
    result, value = statement.targets[0].id, statement.value
    wire = facts.array(result)
    if wire is None or not _children(value):
        return None
    counts = {}
    for name in _names(value):
        counts[name] = counts.get(name, 0) + 1
    best = None
    for path, name in _paths(value):
        if name not in owned or last[name] != k or counts[name] != 1:
            continue
        own = facts.array(name)
        if own is None or own.shape != wire.shape or own.dtype != wire.dtype:
            continue
        guards = _guards(path, facts.tokens[facts.of(name)], own.dtype, facts)
        if guards is not None and (best is None or sum(g is not None for g in guards)
                                   < sum(g is not None for g in best[2])):
            best = (path, name, guards)
    if best is None:
        return None
    path, name, guards = best
    return _steps(path, name, result, guards)


def _guards(path, tokens, dtype, facts):
    """Each step's guard, bottom up (None where its other operands are made from the
    inputs the buffer is made from), or None if a step cannot be guarded: it reads
    a value of another dtype, one whose batch axes no input's test decides, or a
    name the plan does not know."""
    guards = []
    for node, k in reversed(path):
        needs = 0
        for j, operand in enumerate(_operands(node)):
            if j == k:
                continue
            for name in _names(operand):
                v = facts.of(name)
                if v is None:
                    if name == "np":
                        continue
                    return None
                if facts.plan.wires[v].dtype != dtype:
                    return None
                needs |= facts.tokens[v]
        needs &= ~tokens
        tests, rest = [], needs
        while rest:
            bit = rest & -rest
            if bit not in facts.guard:
                return None
            tests.append(facts.guard[bit])
            rest ^= bit
        guards.append(" and ".join(tests) or None)
        tokens |= needs                   # after the step, the buffer has their axes
    return guards[::-1]
