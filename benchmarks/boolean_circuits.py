"""Boolean circuits, bit-sliced (64 examples per uint64 word), against the per-example interpreter.

Two circuits, both built with the tracer ``paralens.categories.function``:

* a deep logic-gate network: 64 input bits, 6 layers of 512 gates; each gate
  reads two wires of the previous layer (fixed random wiring: two ``Gather``s)
  and computes a 2-input lookup table in algebraic normal form
  c0 ⊕ (c1 ∧ a) ⊕ (c2 ∧ b) ⊕ (c3 ∧ a ∧ b), its four parameter wires Bool(512)
  per layer shared by every example (7 gates per table);
* a 64-bit ripple-carry adder laid out bit by bit (narrow: every value is one
  bit per example, so every NumPy operation is on a single column).

Each runs at batch 2¹⁰ and 2¹⁶ as (a) the per-example interpreter ``Circuit``
on bool arrays, (b) ``BitSliced.run`` on packed words, (c) ``compile(...).run``
on packed words; packing and unpacking are timed on their own, and end to end
(``__call__`` on bool arrays, packing and unpacking included). All paths are
checked equal to each other and to a NumPy reference before timing. In each
round every path runs once (repeated within the round when a call is short);
times and per-round speed-ups over (a) are medians over rounds. Gate
evaluations per second are ``gate_count × batch / time``. NumPy is limited to
one thread.

    python benchmarks/boolean_circuits.py [--rounds 12]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"          # before NumPy is imported: one core

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from paralens.categories import Bool, Gather, function  # noqa: E402
from paralens.interpreters.boolean import (  # noqa: E402
    BitSliced, Circuit, _Words, compile, gate_count, pack, unpack)

BATCHES = (1 << 10, 1 << 16)
TARGET = 1e9                         # gate evaluations per second, batch ≥ 2¹⁶
BLOCK_WORDS = 1 << 15                # (c′) row: words per block × widest wire ≈ 256 KiB


# -- circuits ------------------------------------------------------------------------

def logic_network(n_in=64, gates=512, layers=6, seed=0):
    """The diagram, its wiring, and a NumPy reference on bool arrays."""
    rng = np.random.default_rng(seed)
    wiring, width = [], n_in
    for _ in range(layers):
        wiring.append((rng.integers(0, width, gates), rng.integers(0, width, gates)))
        width = gates
    dom = Bool(n_in)
    for _ in range(layers):
        dom = dom @ Bool(gates) @ Bool(gates) @ Bool(gates) @ Bool(gates)

    def network(x, *params):
        h, width = x, n_in
        for k, (ia, ib) in enumerate(wiring):
            c0, c1, c2, c3 = params[4 * k:4 * k + 4]
            a, b = Gather(Bool(width), ia)(h), Gather(Bool(width), ib)(h)
            h, width = c0 ^ (c1 & a) ^ (c2 & b) ^ (c3 & (a & b)), gates
        return h

    def reference(x, *params):
        h = x
        for k, (ia, ib) in enumerate(wiring):
            c0, c1, c2, c3 = params[4 * k:4 * k + 4]
            a, b = h[:, ia], h[:, ib]
            h = c0 ^ (c1 & a) ^ (c2 & b) ^ (c3 & a & b)
        return (h, )

    def inputs(batch, rng):
        """(batched, shared) bool arrays: the examples, then the parameters."""
        return [rng.random((batch, n_in)) < 0.5], [rng.random(gates) < 0.5 for _ in range(4 * layers)]

    name = f"LUT network {n_in} → {layers} × {gates}"
    return name, function(dom, Bool(gates))(network), reference, inputs


def ripple_adder(k=64):
    """x + y on k-bit numbers (bit i of a wire has weight 2^i): k sum bits and the carry out."""
    x = Bool(k)
    bit = [Gather(x, [i]) for i in range(k)]

    def add(a, b):
        sums, carry = [], None
        for i in range(k):
            ai, bi = bit[i](a), bit[i](b)
            p = ai ^ bi
            if carry is None:
                sums.append(p)
                carry = ai & bi
            else:
                sums.append(p ^ carry)
                carry = (ai & bi) ^ (carry & p)
        return (*sums, carry)

    def reference(a, b):
        weights = [np.uint64(1) << np.uint64(i) for i in range(k)]
        to_int = lambda bits: sum((bits[:, i].astype(np.uint64) * w for i, w in enumerate(weights)),
                                  np.zeros(len(bits), np.uint64))
        u, v = to_int(a), to_int(b)
        total = u + v                                     # modulo 2^64
        if k < 64:
            carry = (total >> np.uint64(k)) & np.uint64(1)
            total = total & np.uint64((1 << k) - 1)
        else:
            carry = total < u
        sums = [((total >> np.uint64(i)) & np.uint64(1)).astype(bool)[:, None] for i in range(k)]
        return (*sums, carry.astype(bool)[:, None])

    def inputs(batch, rng):
        return [rng.random((batch, k)) < 0.5, rng.random((batch, k)) < 0.5], []

    return f"{k}-bit ripple-carry adder", \
        function(x @ x, Bool(1) ** (k + 1))(add), reference, inputs


# -- timing ----------------------------------------------------------------------------

def _repeats(fn, min_block=0.005):
    """How many calls make one timed block of at least ``min_block`` seconds."""
    t = time.perf_counter()
    fn()
    return max(1, math.ceil(min_block / max(time.perf_counter() - t, 1e-7)))


def _agree(name, outputs, expected):
    if len(outputs) != len(expected) or not all(
            np.array_equal(np.asarray(o, bool), e) for o, e in zip(outputs, expected)):
        raise RuntimeError(f"{name}: outputs differ from the reference; nothing timed")


def measure(circuit, batch, rounds, seed=1):
    name, diagram, reference, make_inputs = circuit
    gates = gate_count(diagram)
    t = time.perf_counter()
    per_example, sliced = Circuit(diagram), BitSliced(diagram)
    compiled = compile(diagram)
    build = time.perf_counter() - t

    batched, shared = make_inputs(batch, np.random.default_rng(seed))
    bits = batched + shared
    to_words = lambda: [pack(b) for b in batched] + [_Words.constant(s) for s in shared]
    words = to_words()
    n_words = len(words[0])
    tuple_of = lambda out: out if isinstance(out, tuple) else (out, )

    # every path checked before anything is timed
    expected = reference(*bits)
    _agree("(a) Circuit.run", per_example.run(bits, batch), expected)
    _agree("(b) BitSliced.run", [unpack(w, batch) for w in sliced.run(words, batch)], expected)
    compiled_words = compiled.run(words, batch)
    _agree("(c) compile(...).run", [unpack(w, batch) for w in compiled_words], expected)
    _agree("(a) Circuit(...)(*bits)", tuple_of(per_example(*bits)), expected)
    _agree("(b) BitSliced(...)(*bits)", tuple_of(sliced(*bits)), expected)
    _agree("(c) compile(...)(*bits)", tuple_of(compiled(*bits)), expected)

    widest = max(w.size for box in diagram.boxes for w in box.dom.inside + box.cod.inside)
    block = max(16, BLOCK_WORDS // widest)

    def blocked():
        """The compiled function on slices of ``block`` words (the batch axis split)."""
        outs = [compiled.function(*(w[i:i + block] for w in words[:len(batched)]),
                                  *words[len(batched):])
                for i in range(0, n_words, block)]
        outs = [o if isinstance(o, tuple) else (o, ) for o in outs]
        return [np.concatenate(parts) for parts in zip(*outs)]

    paths = {
        "a": ("(a) per-example `Circuit.run`, bool arrays", lambda: per_example.run(bits, batch)),
        "b": ("(b) `BitSliced.run`, packed words", lambda: sliced.run(words, batch)),
        "c": ("(c) `compile(...).run`, packed words", lambda: compiled.run(words, batch)),
        "pack": ("pack the inputs (`pack`, `_Words.constant`)", to_words),
        "unpack": ("unpack the outputs (`unpack`)", lambda: [unpack(w, batch) for w in compiled_words]),
        "A": ("(a) end to end: `Circuit(d)(*bits)`", lambda: per_example(*bits)),
        "B": ("(b) end to end: `BitSliced(d)(*bits)`", lambda: sliced(*bits)),
        "C": ("(c) end to end: `compile(d)(*bits)`", lambda: compiled(*bits)),
    }
    if n_words > block:
        _agree("(c′) blocked", [unpack(w, batch) for w in blocked()], expected)
        paths["c'"] = (f"(c′) the compiled function on {block}-word slices of the batch "
                       f"(not a library path)", blocked)
    repeats = {key: _repeats(fn) for key, (_, fn) in paths.items()}
    times = {key: [] for key in paths}
    for _ in range(rounds):
        for key, (_, fn) in paths.items():
            t = time.perf_counter()
            for _ in range(repeats[key]):
                fn()
            times[key].append((time.perf_counter() - t) / repeats[key])
    baseline = {"b": "a", "c": "a", "c'": "a", "B": "A", "C": "A"}
    rows = []
    for key, (label, _) in paths.items():
        seconds = statistics.median(times[key])
        rate = gates * batch / seconds if key not in ("pack", "unpack") else None
        ratio = (statistics.median(a / b for a, b in zip(times[baseline[key]], times[key]))
                 if key in baseline else None)
        rows.append((key, label, seconds, rate, ratio))
    return name, gates, build, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"NumPy {np.__version__}, one thread; {args.rounds} rounds; medians; "
          f"speed-ups are medians of per-round ratios (end-to-end rows: over (a) end to end)")
    print()
    print("| circuit (gates / example) | batch | path | ms | gate evals / s | speed-up over (a) |")
    print("|---|---|---|---|---|---|")
    summary, builds = [], {}
    for circuit in (logic_network(), ripple_adder()):
        for batch in BATCHES:
            name, gates, build, rows = measure(circuit, batch, args.rounds)
            builds[name] = build
            for key, label, seconds, rate, ratio in rows:
                print(f"| {name} ({gates}) | 2^{batch.bit_length() - 1} | {label} | {seconds * 1e3:.3f} | "
                      f"{'' if rate is None else f'{rate:.2e}'} | {'' if ratio is None else f'{ratio:.1f}×'} |")
                if batch >= 1 << 16 and key in ("b", "c"):
                    summary.append((name, label, rate))
    print()
    for name, label, rate in summary:
        verdict = "met" if rate >= TARGET else "NOT met"
        print(f"* target ≥ 1e9 gate evals/s at batch 2^16, {name}, {label.split(',')[0]}: "
              f"{rate:.2e} ({verdict})")
    for name, build in builds.items():
        print(f"* {name}: `Circuit` + `BitSliced` + `compile` built in {build * 1e3:.0f} ms")
    print(f"* total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
