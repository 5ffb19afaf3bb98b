"""Ready Boolean models, as Para maps of circuits (reference §6).

* ``lookup_table(a, b)``: θ ∈ Z2^{b×2^a}, f(θ, x)_j = ⊕_k θ_jk ∧ basis(x)_k,
  basis(x)_k = ∏_i (x_i if bit i of k is 1 else ¬x_i). Multilinear, so safe:
  one RDA step sets θ_j[x] := y_j.
* ``pseudo_linear(n)``: f(p, x) = 1 iff popcount(p ∧ x) ≤ ⌊popcount(p)/4⌋, a
  black box whose reverse derivative is the Boolean difference (n + n + 1
  evaluations).
* ``gate_layer`` and ``logic_gate_network``: layers of fixed random wiring
  whose gates are learnable 2-input lookup tables, t0·¬a¬b ⊕ t1·a¬b ⊕
  t2·¬ab ⊕ t3·ab (4 parameter bits per gate, AND and XOR only). Deep networks
  multiply values that share inputs, so they are not safe in general: RDA
  uses the compositional R, as published.

>>> import numpy as np
>>> from paralens.categories import Bool
>>> lut = lookup_table(2, 1)
>>> lut.dom, lut.cod, lut.param_type
(Bool(2), Bool(1), Bool(1, 4))
>>> from paralens.interpreters.boolean import Circuit, unsafe_products
>>> table = np.array([[False, True, True, False]])            # XOR of the two bits
>>> x = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=bool)  # x_0 is bit 0 of k
>>> Circuit(lut.diagram)(table, x)[:, 0].astype(int).tolist()
[0, 1, 1, 0]
>>> unsafe_products(lut.diagram)
[]
"""

from __future__ import annotations

import numpy as np

from .adapter import Bool
from .boolean import Bits, Broadcast, Gather, OracleGenerator, Parity, bool_wire
from .para import Param, Para, Scope
from .syntax import function

__all__ = ["lookup_table", "PseudoLinear", "pseudo_linear", "gate_layer", "logic_gate_network",
           "random_bits", "zero_bits"]


def zero_bits(rng, shape):
    """Initialise every bit to 0."""
    return np.zeros(shape, dtype=bool)


def random_bits(rng, shape):
    """Initialise with independent fair bits."""
    return rng.integers(0, 2, size=shape).astype(bool)


def lookup_table(a: int, b: int) -> Para:
    """The lookup table a → b, its table θ: Bool(b, 2^a) starting at 0."""
    if a < 1 or b < 1:
        raise ValueError(f"a lookup table needs a, b ≥ 1, got {a} → {b}")
    K = 2 ** a
    theta = Param(Bool(b, K), "table", zero_bits, Scope("lookup_table"))
    x = Bool(a)
    bit = (np.arange(K)[None, :] >> np.arange(a)[:, None]) & 1        # bit i of k, (a, K)
    flip = Bits(bit == 0)                     # x_i ⊕ 1 where bit i of k is 0: the literal ¬x_i

    @function(theta.ty @ x, Bool(b))
    def table(t, v):
        literals = Broadcast(x, K)(v) ^ flip()                        # (a, K)
        rows = [Gather(Bool(a, K), np.arange(K) + i * K)(literals) for i in range(a)]
        basis = rows[0]
        for row in rows[1:]:
            basis = basis & row                                       # basis(x)_k, (K,)
        spread = Gather(Bool(K), np.tile(np.arange(K), (b, 1)))(basis)  # (b, K)
        return Parity(Bool(b, K))(t & spread)
    return Para((theta, ), table)


class PseudoLinear(OracleGenerator):
    """p ⊗ x ↦ 1 iff popcount(p ∧ x) ≤ ⌊popcount(p)/4⌋ (RDA's MNIST model)."""

    def __init__(self, n):
        self.x = bool_wire(n, "PseudoLinear")
        super().__init__("PseudoLinear", self.x @ self.x, Bool(1))

    @staticmethod
    def bits(p, x):
        return (np.sum(p & x, axis=-1) <= np.sum(p, axis=-1) // 4)[..., None]

    @classmethod
    def example(cls, n):
        return cls(Bool(n))


def pseudo_linear(n: int) -> Para:
    """The pseudo-linear model n + n → 1, its parameter starting at 0."""
    box = PseudoLinear(Bool(n))
    return Para((Param(Bool(n), "p", zero_bits, Scope("pseudo_linear")), ), box)


def gate_layer(n_in: int, n_gates: int, rng: np.random.Generator) -> Para:
    """``n_gates`` learnable 2-input gates, each reading two distinct wires a, b of
    a Bool(n_in) input chosen at random (fixed). A gate is a 2-input lookup table,
    t0·¬a¬b ⊕ t1·a¬b ⊕ t2·¬ab ⊕ t3·ab, its four bits t random at first.

    In this form exactly one term is live for each example, so an RDA step
    flips exactly the table entry that made the output (as the lookup table of
    the reference does). The algebraic normal form c0 ⊕ c1·a ⊕ c2·b ⊕ c3·ab
    names the same 16 gates, but there R asks every live coefficient to flip at
    once, and the flips cancel in pairs."""
    if n_in < 2:
        raise ValueError(f"a gate layer reads two distinct bits: its input needs ≥ 2, got {n_in}")
    left = rng.integers(0, n_in, n_gates)
    right = (left + rng.integers(1, n_in, n_gates)) % n_in
    x, g = Bool(n_in), Bool(n_gates)
    scope = Scope("gate_layer")
    params = tuple(Param(g, f"t{k}", random_bits, scope) for k in range(4))

    @function(g @ g @ g @ g @ x, g)
    def layer(t0, t1, t2, t3, v):
        a, b = Gather(x, left)(v), Gather(x, right)(v)
        not_a, not_b = ~a, ~b
        return (t0 & (not_a & not_b)) ^ (t1 & (a & not_b)) ^ (t2 & (not_a & b)) ^ (t3 & (a & b))
    return Para(params, layer)


def logic_gate_network(n_in: int, widths, seed: int = 0) -> Para:
    """Gate layers of the given widths, wired at random from ``seed``."""
    rng = np.random.default_rng(seed)
    sizes = [n_in, *widths]
    layers = [gate_layer(m, n, rng) for m, n in zip(sizes, sizes[1:])]
    return layers[0].then(*layers[1:])
