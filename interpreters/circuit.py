"""Boolean evaluation: circuits over Z2, per example or bit-sliced.

Every rule is bitwise, so one rule table runs two layouts of the same values:

* ``bits``: bool arrays with a leading batch axis (or none, for a value shared
  by every example, such as a parameter), one bit per example;
* ``words``: bit-sliced (``interpreters.bits``), 64 examples packed into each
  ``uint64`` word along the leading axis, so that one NumPy ``&`` or ``^``
  evaluates a gate on 64 examples at once. A shared value is a uniform word.

:class:`Circuit` evaluates on bits, :class:`BitSliced` packs, evaluates on
words and unpacks. Batch-level boxes (the XOR of the batch, ``SumBatch``, and
the vote, ``VoteBatch``) are told how many examples are real, so the padding
of the last word never counts.

>>> import numpy as np
>>> from paralens.categories import Bool, function
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

from functools import cached_property

import numpy as np

from . import runtime
from .bits import pack, uniform, unpack
from .numpy import check_inputs
from .plan import RuleTable, flatten, kind_of, last_uses

__all__ = ["RULES", "Circuit", "BitSliced", "evaluate", "gate_count", "GATES", "BATCH_LEVEL",
           "rule_of", "is_oracle", "boolean_difference", "scatter_plan"]

#: the batch-level boxes: their rule (and the emitted function) takes the number of examples
BATCH_LEVEL = {"SumBatch", "VoteBatch"}


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
    def count(x, batch, ndim):
        """How many of the ``batch`` examples have each bit set."""
        return x.sum(axis=0, dtype=np.int64) if np.ndim(x) == ndim + 1 else x.astype(np.int64) * batch

    @staticmethod
    def xor_batch(x, batch, ndim):
        return (_Bits.count(x, batch, ndim) & 1).astype(bool)

    @staticmethod
    def vote_batch(x, y, batch, ndim):
        return _Bits.count(x, batch, ndim) > _Bits.count(y, batch, ndim)


class _Words:
    """Bit-sliced: 64 examples per uint64 word, word axis first (the helpers of
    the compiled code, ``interpreters.runtime``, are its batch-level rules)."""

    dtype = np.dtype(np.uint64)
    constant = staticmethod(uniform)
    count = staticmethod(runtime.count)
    xor_batch = staticmethod(runtime.xor_batch)
    vote_batch = staticmethod(runtime.vote_batch)

    @staticmethod
    def to_bits(x, batch, shape):
        return unpack(x, batch) if _is_batched(x, shape) else (x != 0)

    @staticmethod
    def from_bits(b, shape):
        return pack(b) if _is_batched(b, shape) else uniform(b)


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
    the runs of equal targets (``runtime.scatter``)."""
    flat, shape = _flat(box, box.dom.inside[0]), box.cod.inside[0].shape
    order, starts, hit = scatter_plan(box.index)
    size = box.flat_size
    return lambda y: runtime.scatter(flat(y), order, starts, hit, size, shape)


def scatter_plan(index):
    """(order, starts, hit) of ``runtime.scatter`` for an index array: the entries
    sorted by target, where each run of equal targets starts, and those targets."""
    order = np.argsort(index.ravel(), kind="stable")
    targets = index.ravel()[order]
    starts = np.flatnonzero(np.r_[True, targets[1:] != targets[:-1]]) if targets.size else targets
    return order, starts.astype(np.intp), targets[starts]


def _xor_batch(box, layout):
    ndim = len(box.dom.inside[0].shape)

    def xor_batch(x, batch):
        return layout.xor_batch(x, batch, ndim)
    xor_batch.batch_level = True
    return xor_batch


def _vote(box, layout):
    ndim = len(box.dom.inside[0].shape)

    def vote(x, y, batch):
        return layout.vote_batch(x, y, batch, ndim)
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


RULES = RuleTable("Boolean rules", {
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
})


def is_oracle(box) -> bool:
    """Whether a box is an oracle generator: a Boolean one that declares its own
    rule on bits, ``bits(*arrays)`` (no table holds its rule)."""
    return getattr(box, "bits", None) is not None and getattr(box, "over", None) == "Bool"


def rule_of(box, layout, rules=RULES):
    """The rule of a box: by its generator's name, or an oracle generator's own."""
    name = kind_of(type(box))
    if name in rules:
        return rules[name](box, layout)
    if is_oracle(box):
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
GATES = RuleTable("gate counts", {
    "And": lambda box: box.cod.inside[0].size,
    "Xor": lambda box: max(box.n - 1, 0) * box.cod.inside[0].size,
    "Parity": lambda box: max(box.n - 1, 0) * max(box.cod.inside[0].size, 1),
})


def gate_count(diagram) -> int:
    """The two-input AND and XOR gates a circuit evaluates for each example."""
    return sum(GATES[eq.kind](eq.box) for eq in flatten(diagram).equations if eq.kind in GATES)
