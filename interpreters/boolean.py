"""Boolean semantics: circuits over Z2, per example or bit-sliced.

This module gathers three smaller ones, each with one job:

* ``interpreters.bits``: packing bool arrays into bit-sliced ``uint64`` words
  (64 examples per word) and back (:func:`pack`, :func:`unpack`);
* ``interpreters.circuit``: evaluation, one rule table on two layouts:
  :class:`Circuit` on bits, :class:`BitSliced` on words;
* ``interpreters.bitsliced``: :func:`compile`, the bit-sliced evaluation as
  NumPy source (:class:`CompiledCircuit`, after :func:`fold_z2`);

and the safety analysis of ``interpreters.safety`` (:func:`check`).

>>> import numpy as np
>>> from paralens.categories import Bool, function
>>> x = Bool(2)
>>> half_adder = function(x @ x, x @ x)(lambda a, b: (a ^ b, a & b))
>>> a = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=bool)
>>> b = np.array([[0, 1], [1, 1], [0, 1], [1, 1]], dtype=bool)
>>> total, carry = Circuit(half_adder)(a, b)
>>> total.astype(int).tolist(), carry.astype(int).tolist()
([[0, 1], [1, 0], [1, 1], [0, 0]], [[0, 0], [0, 1], [0, 0], [1, 1]])
>>> all(np.array_equal(u, v) for u, v in zip(compile(half_adder)(a, b), (total, carry)))
True
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from . import codegen
from .bits import ONES, pack, popcount, unpack
from .bitsliced import (WORD_EMITTERS, WORD_HELPERS, WORDS, Z2, CompiledCircuit, compile,
                        fold_z2)
from .circuit import (BATCH_LEVEL, GATES, RULES, BitSliced, Circuit, _Bits, _check_bool,
                      _is_batched, _Words, boolean_difference, evaluate, gate_count, rule_of)
from .numpy import check_inputs
from .plan import flatten, last_uses
from .safety import CircuitReport, Unsafe, check, dependencies, unsafe_products

__all__ = ["RULES", "Circuit", "BitSliced", "compile", "evaluate", "pack", "unpack",
           "popcount", "gate_count", "ONES", "WORDS", "fold_z2", "CompiledCircuit",
           "check", "unsafe_products", "dependencies", "boolean_difference"]
