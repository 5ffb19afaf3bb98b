"""Boolean semantics: circuits over Z2, per example or bit-sliced.

Every rule is bitwise, so one rule table runs two layouts of the same values:

* ``bits``: bool arrays with a leading batch axis (or none, for a value shared
  by every example, such as a parameter), one bit per example;
* ``words``: bit-sliced, 64 examples packed into each ``uint64`` word along
  the leading axis, so that one NumPy ``&`` or ``^`` evaluates a gate on 64
  examples at once. A shared value is a uniform word (all 0s or all 1s).

:class:`Circuit` evaluates on bits, :class:`BitSliced` packs, evaluates on
words and unpacks; :func:`compile` emits the bit-sliced evaluation as NumPy
source. Batch-level boxes (the XOR of the batch, ``SumBatch``, and the
vote, ``VoteBatch``) are told how many examples are real, so the padding of the
last word never counts.

>>> import numpy as np
>>> from categories import Bool, function
>>> x = Bool(2)
>>> half_adder = function(x @ x, x @ x)(lambda a, b: (a ^ b, a & b))
>>> a = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=bool)
>>> b = np.array([[0, 1], [1, 1], [0, 1], [1, 1]], dtype=bool)
>>> total, carry = Circuit(half_adder)(a, b)
>>> total.astype(int).tolist(), carry.astype(int).tolist()
([[0, 1], [1, 0], [1, 1], [0, 0]], [[0, 0], [0, 1], [0, 0], [1, 1]])
>>> all(np.array_equal(u, v) for u, v in zip(BitSliced(half_adder)(a, b), (total, carry)))
True
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from . import codegen
from .numpy import check_inputs
from .plan import flatten, last_uses

__all__ = ["RULES", "Circuit", "BitSliced", "compile", "evaluate", "pack", "unpack",
           "popcount", "gate_count", "ONES", "WORDS", "fold_z2", "CompiledCircuit",
           "check", "unsafe_products", "dependencies", "boolean_difference"]

#: a word of 64 ones
ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)


def popcount(words: np.ndarray) -> np.ndarray:
    """The number of set bits of each uint64 word."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words)
    x = words - ((words >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return ((x * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.uint8)


def pack(bits: np.ndarray) -> np.ndarray:
    """Bool (batch, *shape) → uint64 (⌈batch/64⌉, *shape): example e is bit e % 64
    of word e // 64; the padding of the last word is 0."""
    bits = np.asarray(bits, dtype=bool)
    batch, shape = bits.shape[0], bits.shape[1:]
    size, n_words = math.prod(shape), -(-batch // 64)
    if not size or not batch:
        return np.zeros((n_words, *shape), dtype=np.uint64)
    flat = bits.reshape(batch, size)
    if n_words * 64 != batch:
        flat = np.concatenate([flat, np.zeros((n_words * 64 - batch, size), dtype=bool)])
    lanes = np.ascontiguousarray(flat.reshape(n_words, 64, size).transpose(0, 2, 1))
    octets = np.packbits(lanes, axis=-1, bitorder="little")              # (n_words, size, 8)
    return octets.view("<u8").reshape(n_words, *shape).astype(np.uint64, copy=False)


def unpack(words: np.ndarray, batch: int) -> np.ndarray:
    """uint64 (⌈batch/64⌉, *shape) → bool (batch, *shape), the inverse of :func:`pack`."""
    words = np.ascontiguousarray(words, dtype="<u8")
    n_words, shape = words.shape[0], words.shape[1:]
    size = math.prod(shape)
    if not size or not n_words:
        return np.zeros((batch, *shape), dtype=bool)
    lanes = np.unpackbits(words.reshape(n_words, size, 1).view(np.uint8), axis=-1,
                          bitorder="little")                             # (n_words, size, 64)
    examples = np.ascontiguousarray(lanes.transpose(0, 2, 1)).reshape(n_words * 64, *shape)
    return examples[:batch].view(bool)


# -- layouts ---------------------------------------------------------------------

def _is_batched(x, shape) -> bool:
    return np.ndim(x) == len(shape) + 1


class _Bits:
    """One bool per example, batch axis first."""

    dtype = np.dtype(bool)

    @staticmethod
    def constant(pattern):
        return np.asarray(pattern, dtype=bool)

    @staticmethod
    def count(x, batch, shape):
        """How many of the ``batch`` examples have each bit set."""
        return x.sum(axis=0, dtype=np.int64) if _is_batched(x, shape) else x.astype(np.int64) * batch



class _Words:
    """Bit-sliced: 64 examples per uint64 word, word axis first."""

    dtype = np.dtype(np.uint64)

    @staticmethod
    def constant(pattern):
        return np.where(np.asarray(pattern, dtype=bool), ONES, np.uint64(0))

    @staticmethod
    def count(x, batch, shape):
        if not _is_batched(x, shape):                 # shared: the same bit in every example
            return (x != 0).astype(np.int64) * batch
        counts = popcount(x[:-1]).sum(axis=0, dtype=np.int64) if len(x) > 1 else 0
        tail = batch - 64 * (len(x) - 1)               # the real examples of the last word
        mask = ONES if tail == 64 else np.uint64((1 << tail) - 1)
        return counts + popcount(x[-1] & mask).astype(np.int64)

    @staticmethod
    def to_bits(x, batch, shape):
        return unpack(x, batch) if _is_batched(x, shape) else (x != 0)

    @staticmethod
    def from_bits(b, shape):
        return pack(b) if _is_batched(b, shape) else _Words.constant(b)


# -- rules: generator name ↦ (box, layout) ↦ function ---------------------------------

def _xor(box, layout):
    if box.n == 2:
        return np.bitwise_xor

    def xor(*xs):
        out = xs[0]
        for x in xs[1:]:
            out = out ^ x
        return out
    return xor


def _constant(box, layout):
    value = layout.constant(box.c)
    value.setflags(write=False)
    return lambda: value


def _zero(box, layout):
    value = np.zeros(box.cod.inside[0].shape, dtype=layout.dtype)
    value.setflags(write=False)
    return lambda: value


def _broadcast(box, layout):
    n = box.n
    return lambda x: np.broadcast_to(x[..., None], x.shape + (n, ))


def _flat(box, wire):
    """A function viewing the per-example part of a value as flat."""
    shape = wire.shape
    return lambda x: x.reshape(x.shape[:x.ndim - len(shape)] + (-1, ))


def _gather(box, layout):
    flat, index = _flat(box, box.dom.inside[0]), box.index
    return lambda x: flat(x)[..., index]


def _scatter(box, layout):
    """out[j] = ⊕ of the inputs k with index[k] = j: a sort once, then XOR-reduce
    the runs of equal targets."""
    flat, shape = _flat(box, box.dom.inside[0]), box.cod.inside[0].shape
    size = box.flat_size
    order = np.argsort(box.index.ravel(), kind="stable")
    targets = box.index.ravel()[order]
    starts = np.flatnonzero(np.r_[True, targets[1:] != targets[:-1]]) if targets.size else targets
    hit = targets[starts]

    def scatter(y):
        y = flat(y)
        out = np.zeros(y.shape[:-1] + (size, ), dtype=y.dtype)
        if targets.size:
            out[..., hit] = np.bitwise_xor.reduceat(y[..., order], starts, axis=-1)
        return out.reshape(y.shape[:-1] + shape)
    return scatter


def _xor_batch(box, layout):
    shape = box.dom.inside[0].shape

    def xor_batch(x, batch):
        return layout.constant((layout.count(x, batch, shape) & 1).astype(bool))
    xor_batch.batch_level = True
    return xor_batch


def _vote(box, layout):
    shape = box.dom.inside[0].shape

    def vote(x, y, batch):
        return layout.constant(layout.count(x, batch, shape) > layout.count(y, batch, shape))
    vote.batch_level = True
    return vote


def _oracle(box, layout):
    """An oracle generator's own rule on bits (unpacked and repacked on words)."""
    return _on_bits(box, layout, box.bits)


def _difference(box, layout):
    """The Boolean difference of an oracle generator f: for each input bit i,
    ⊕_j δ_j ∧ (f_j(x) ⊕ f_j(x ⊕ e_i)), from n + 1 evaluations of f."""
    f = box.of
    return _on_bits(box, layout, lambda *arrays: boolean_difference(f.bits, f.dom, f.cod, arrays))


def _on_bits(box, layout, fn):
    wires = box.dom.inside
    if layout is _Bits:
        return fn

    def rule(*words, batch):
        bits = [layout.to_bits(w, batch, wire.shape) for w, wire in zip(words, wires)]
        batched = any(_is_batched(w, wire.shape) for w, wire in zip(words, wires))
        bits = [np.broadcast_to(b, (batch, *wire.shape)) if batched else b
                for b, wire in zip(bits, wires)]
        out = fn(*bits)
        outs = out if isinstance(out, tuple) else (out, )
        packed = tuple(layout.from_bits(np.asarray(o, dtype=bool), w.shape)
                       for o, w in zip(outs, box.cod.inside))
        return packed if isinstance(out, tuple) else packed[0]
    rule.batch_level = True
    return rule


RULES = {
    "And": lambda box, layout: np.bitwise_and,
    "Xor": _xor,
    "Zero": _zero,
    "One": _constant,
    "Bits": _constant,
    "Parity": lambda box, layout: (lambda x: np.bitwise_xor.reduce(x, axis=-1)),
    "Broadcast": _broadcast,
    "Gather": _gather,
    "Scatter": _scatter,
    "SumBatch": _xor_batch,                         # Σ over the batch: XOR in Z2
    "VoteBatch": _vote,
    "BooleanDifference": _difference,
}


def rule_of(box, layout, rules=RULES):
    """The rule of a box: by its generator's name, or an oracle generator's own."""
    name = type(box).__name__
    if name in rules:
        return rules[name](box, layout)
    if getattr(box, "bits", None) is not None and getattr(box, "over", None) == "Bool":
        return _oracle(box, layout)
    raise NotImplementedError(f"no Boolean rule for {box.name} ({name}): "
                              f"{box.dom!r} → {box.cod!r}")


def boolean_difference(f, dom, cod, arrays):
    """R_B[f](x, δ) by brute force: f on x and on each x ⊕ e_i (one batch of
    (n + 1) · batch evaluations), for f a function on bool arrays with a leading
    batch axis. ``arrays`` are the inputs x then the cotangents δ."""
    k = len(dom)
    xs, ds = arrays[:k], arrays[k:]
    batch = next((len(a) for a, w in zip(arrays, dom.inside + cod.inside)
                  if np.ndim(a) == len(w.shape) + 1), None)
    single = batch is None
    batch = batch or 1
    xs = [np.broadcast_to(x, (batch, *w.shape)).reshape(batch, -1) for x, w in zip(xs, dom.inside)]
    ds = [np.broadcast_to(d, (batch, *w.shape)).reshape(batch, -1) for d, w in zip(ds, cod.inside)]
    flat = np.concatenate(xs, axis=1) if xs else np.zeros((batch, 0), bool)
    n = flat.shape[1]
    points = np.repeat(flat[None], n + 1, axis=0)                 # (n + 1, batch, n)
    points[np.arange(1, n + 1), :, np.arange(n)] ^= True
    points = points.reshape((n + 1) * batch, n)
    sizes = np.cumsum([w.size for w in dom.inside])[:-1]
    inputs = [p.reshape(len(points), *w.shape) for p, w in zip(np.split(points, sizes, axis=1), dom.inside)]
    out = f(*inputs)
    outs = out if isinstance(out, tuple) else (out, )
    outs = [np.broadcast_to(o, (len(points), *w.shape)).reshape(n + 1, batch, -1)
            for o, w in zip(outs, cod.inside)]
    result = np.zeros((batch, n), dtype=bool)
    for o, d in zip(outs, ds):
        changed = o[1:] ^ o[:1]                                      # (n, batch, m)
        result ^= (np.bitwise_and(changed, d[None]).sum(axis=-1) & 1).astype(bool).T
    pieces = np.split(result, sizes, axis=1)
    pieces = [p.reshape(batch, *w.shape) for p, w in zip(pieces, dom.inside)]
    if single:
        pieces = [p[0] for p in pieces]
    return tuple(pieces) if len(pieces) != 1 else pieces[0]


# -- evaluators ----------------------------------------------------------------------

class Circuit:
    """A Boolean diagram flattened once and run on bool arrays (one bit per example)."""

    layout = _Bits

    def __init__(self, diagram):
        self.diagram, self.plan = diagram, flatten(diagram)
        _check_bool(diagram)
        self.steps = []
        for eq, dead in zip(self.plan.equations, last_uses(self.plan)):
            fn = rule_of(eq.box, self.layout)
            outs = eq.outs[0] if len(eq.outs) == 1 else eq.outs
            self.steps.append((fn, eq.ins, outs, dead, getattr(fn, "batch_level", False)))
        self.size = len(self.plan.wires)

    def run(self, values, batch: int):
        """Evaluate on values already in this layout, for ``batch`` examples."""
        env = [None] * self.size
        for v, array in zip(self.plan.inputs, values):
            env[v] = array
        for fn, ins, outs, dead, batch_level in self.steps:
            args = [env[i] for i in ins]
            result = fn(*args, batch=batch) if batch_level else fn(*args)
            if type(outs) is int:
                env[outs] = result
            else:
                for o, r in zip(outs, result):
                    env[o] = r
            for v in dead:
                env[v] = None
        return [env[v] for v in self.plan.outputs]

    def __call__(self, *args):
        """Evaluate on bool arrays, each with a leading batch axis or none (shared).
        An output that depends on no batched input comes back shared, without the
        batch axis; the compiled code folds more constants than the interpreters,
        so it may return such an output shared where they broadcast it."""
        arrays = check_inputs(self.plan, self.diagram.dom, args)
        batch = _batch_of(arrays, self.diagram.dom)
        if batch == 0:
            raise ValueError(f"{type(self).__name__}: an empty batch (0 examples) for "
                             f"{self.diagram.dom!r}")
        outputs = self._outputs(self.run(self._inputs(arrays), batch or 1), batch)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def _inputs(self, arrays):
        return arrays

    def _outputs(self, values, batch):
        return [np.asarray(v, dtype=bool) for v in values]


class BitSliced(Circuit):
    """The same diagram on bit-sliced words: inputs are packed 64 examples to a
    uint64 word, evaluated with NumPy bitwise operations and unpacked.
    ``run(words, batch)`` evaluates on words already packed."""

    layout = _Words
    #: bytes of live values per block of words, counted generously (every value
    #: the plan keeps alive; the compiled code inlines many): about what stays in
    #: a core's caches (measured best at 32–64 words on a 6 × 512 gate network)
    cache = 1 << 22

    def run(self, values, batch: int, block: int | None = None):
        """Evaluate on packed words. A wide circuit on a large batch runs in blocks
        of ``block`` words (by default sized so that the values alive at once fit
        in ``cache`` bytes): the same result, from memory that stays in cache.
        Circuits with batch-level boxes run on the whole batch at once."""
        wires = self.diagram.dom.inside
        n_words = max((len(v) for v, w in zip(values, wires) if _is_batched(v, w.shape)),
                      default=0)
        block = block or self.block_words
        if self.batch_level or n_words <= block:
            return self._evaluate(values, batch)
        outputs = None
        for start in range(0, n_words, block):
            part = [v[start:start + block] if _is_batched(v, w.shape) else v
                    for v, w in zip(values, wires)]
            results = self._evaluate(part, min(64 * block, batch - 64 * start))
            if outputs is None:
                outputs = [np.empty((n_words, *w.shape), dtype=r.dtype)
                           if _is_batched(r, w.shape) else r
                           for r, w in zip(results, self.diagram.cod.inside)]
            for out, r, w in zip(outputs, results, self.diagram.cod.inside):
                if _is_batched(r, w.shape):
                    out[start:start + len(r)] = r
        return outputs

    _evaluate = Circuit.run

    @cached_property
    def batch_level(self) -> bool:
        return any(eq.kind in BATCH_LEVEL for eq in self.plan.equations)

    @cached_property
    def block_words(self) -> int:
        """Words per block: the cache over the widest set of values alive at once."""
        sizes = lambda vs: sum(max(self.plan.wires[v].size, 1) for v in vs)
        live = sizes(self.plan.inputs)
        peak = live
        for eq, dead in zip(self.plan.equations, last_uses(self.plan)):
            live += sizes(eq.outs)
            peak = max(peak, live)
            live -= sizes(dead)
        return max(16, self.cache // (8 * max(peak, 1)))

    def _inputs(self, arrays):
        return [_Words.from_bits(a, w.shape) for a, w in zip(arrays, self.diagram.dom.inside)]

    def _outputs(self, values, batch):
        return [_Words.to_bits(v, batch or 1, w.shape) for v, w in zip(values, self.diagram.cod.inside)]


def _batch_of(arrays, dom):
    return next((len(a) for a, w in zip(arrays, dom.inside) if _is_batched(a, w.shape)), None)


def _check_bool(diagram):
    real = [w for w in diagram.dom.inside + diagram.cod.inside if w.kind != "Bool"]
    if real:
        raise TypeError(f"the Boolean interpreter runs circuits of Bool wires; "
                        f"this diagram has {real[0]!r} ({diagram.dom!r} → {diagram.cod!r})")


def evaluate(diagram, *args):
    """Evaluate a circuit on bool arrays (flattening it each time: prefer ``Circuit``)."""
    return Circuit(diagram)(*args)


#: generator name ↦ two-input gates per example (an n-input XOR or parity is n − 1)
GATES = {
    "And": lambda box: box.cod.inside[0].size,
    "Xor": lambda box: max(box.n - 1, 0) * box.cod.inside[0].size,
    "Parity": lambda box: max(box.n - 1, 0) * max(box.cod.inside[0].size, 1),
}


def gate_count(diagram) -> int:
    """The two-input AND and XOR gates a circuit evaluates for each example."""
    return sum(GATES[eq.kind](eq.box) for eq in flatten(diagram).equations if eq.kind in GATES)


# -- compiled: the bit-sliced evaluation as NumPy source -----------------------------

def fold_z2(plan):
    """x ⊕ 0 = x, x ∧ 0 = 0, x ∧ 1 = x: constants of Z2 folded away (the
    backward halves are full of zeros, the cotangents of discarded wires)."""
    from .plan import Equation, Plan
    made, rename, equations = {}, {}, []
    for eq in plan.equations:
        ins = tuple(rename.get(v, v) for v in eq.ins)
        eq = Equation(eq.box, ins, eq.outs)
        kinds = [made.get(v) for v in ins]
        if eq.kind == "Xor" and "Zero" in kinds:
            rest = [v for v, k in zip(ins, kinds) if k != "Zero"]
            if len(rest) == 1:
                rename[eq.outs[0]] = rest[0]
                continue
            if rest:
                from categories import Xor
                eq = Equation(Xor(eq.box.x, len(rest)), tuple(rest), eq.outs)
        elif eq.kind == "And" and ("Zero" in kinds or "One" in kinds):
            if "Zero" in kinds:
                from categories import Zero
                eq = Equation(Zero(eq.box.cod), (), eq.outs)
            else:
                other = ins[1] if kinds[0] == "One" else ins[0]
                rename[eq.outs[0]] = other
                continue
        if eq.kind in ("Zero", "One"):
            made[eq.outs[0]] = eq.kind
        equations.append(eq)
    outputs = tuple(rename.get(v, v) for v in plan.outputs)
    return Plan(plan.inputs, equations, outputs, plan.wires, plan.consumers)


def _flat_expr(box, x):
    k = len(box.dom.inside[0].shape)
    return x if k == 1 else f"{x}.reshape({x}.shape[:{x}.ndim - {k}] + (-1, ))"


def _scatter_expr(box, y):
    order = np.argsort(box.index.ravel(), kind="stable")
    targets = box.index.ravel()[order]
    starts = np.flatnonzero(np.r_[True, targets[1:] != targets[:-1]]) if targets.size else targets
    return (f"scatter({_flat_expr(box, y)}, {codegen.constant(order)}, "
            f"{codegen.constant(starts.astype(np.intp))}, {codegen.constant(targets[starts])}, "
            f"{box.flat_size}, {box.cod.inside[0].shape})")


WORD_EMITTERS = {
    "And": lambda box, a, b: f"{a} & {b}",
    "Xor": lambda box, *xs: " ^ ".join(xs),
    "Zero": lambda box: "np.uint64(0)",
    "One": lambda box: "np.uint64(0xFFFFFFFFFFFFFFFF)",
    "Bits": lambda box: codegen.constant(_Words.constant(box.c)),
    "Parity": lambda box, x: f"np.bitwise_xor.reduce({x}, axis=-1)",
    "Broadcast": lambda box, x: f"np.broadcast_to({x}[..., None], {x}.shape + ({box.n}, ))",
    "Gather": lambda box, x: f"{_flat_expr(box, x)}[..., {codegen.constant(box.index)}]",
    "Scatter": _scatter_expr,
    "SumBatch": lambda box, x: f"xor_batch({x}, batch, {len(box.dom.inside[0].shape)})",
    "VoteBatch": lambda box, x, y: f"vote_batch({x}, {y}, batch, {len(box.dom.inside[0].shape)})",
}

WORD_HELPERS = {
    "popcount": '''def popcount(x):
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.int64)
    bits = np.unpackbits(np.ascontiguousarray(x)[..., None].view(np.uint8), axis=-1)
    return bits.sum(axis=-1, dtype=np.int64)''',
    "count": '''def count(x, batch, ndim):
    """How many of the batch's examples have each bit set (padding excluded)."""
    if x.ndim == ndim:
        return (x != 0).astype(np.int64) * batch
    tail = batch - 64 * (len(x) - 1)
    mask = np.uint64(0xFFFFFFFFFFFFFFFF if tail == 64 else (1 << tail) - 1)
    return popcount(x[:-1]).sum(axis=0) + popcount(x[-1] & mask)''',
    "xor_batch": '''def xor_batch(x, batch, ndim):
    return np.where(count(x, batch, ndim) & 1, np.uint64(0xFFFFFFFFFFFFFFFF), np.uint64(0))''',
    "vote_batch": '''def vote_batch(x, y, batch, ndim):
    return np.where(count(x, batch, ndim) > count(y, batch, ndim), np.uint64(0xFFFFFFFFFFFFFFFF), np.uint64(0))''',
    "scatter": '''def scatter(y, order, starts, hit, size, shape):
    out = np.zeros(y.shape[:-1] + (size, ), dtype=y.dtype)
    if len(order):
        out[..., hit] = np.bitwise_xor.reduceat(y[..., order], starts, axis=-1)
    return out.reshape(y.shape[:-1] + shape)''',
}

#: the batch-level boxes: the emitted function takes the number of examples
BATCH_LEVEL = {"SumBatch", "VoteBatch"}

#: the dialect of bit-sliced words: uint64 arrays, 64 examples per word
WORDS = codegen.Dialect(
    WORD_EMITTERS, inline={"And", "Xor", "Zero", "One"}, arithmetic={"And", "Xor"},
    scalars={"Zero", "One"}, helpers=WORD_HELPERS, dtype=lambda wire: "uint64",
    extra=(("batch", BATCH_LEVEL), ))


class CompiledCircuit(BitSliced):
    """A circuit compiled to NumPy source on bit-sliced words: ``source`` is a
    module that imports only NumPy; calling it packs, runs and unpacks."""

    def __init__(self, diagram, name: str = "circuit"):
        _check_bool(diagram)
        self.diagram, self.name = diagram, name
        self.plan = codegen.optimise(fold_z2(flatten(diagram)))
        self.source = codegen.emit(self.plan, name, WORDS)
        self.function = codegen.define(self.source, name)

    def _evaluate(self, values, batch: int):
        out = self.function(*values, batch=batch) if self.batch_level else self.function(*values)
        return list(out) if len(self.plan.outputs) != 1 else [out]

    save = codegen.Compiled.save


def compile(diagram, name: str = "circuit") -> CompiledCircuit:
    """The bit-sliced evaluation of a circuit as NumPy source (passes: Z2
    constants folded, then the NumPy compiler's dead-code and common-subexpression
    elimination)."""
    return CompiledCircuit(diagram, name)


# the safety analysis (interpreters.safety) is part of this module's interface
from .safety import CircuitReport, Unsafe, check, dependencies, unsafe_products  # noqa: E402
