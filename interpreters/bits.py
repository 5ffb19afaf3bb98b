"""Bits ↔ bit-sliced words: 64 examples packed into each ``uint64``.

Example e of a batch is bit e % 64 of word e // 64, along the leading axis;
the padding of the last word is 0. A value shared by every example is a
uniform word (all 0s or all 1s).

>>> import numpy as np
>>> bits = np.array([[1, 0], [1, 1], [0, 1]], dtype=bool)
>>> pack(bits).tolist()
[[3, 6]]
>>> bool(np.array_equal(unpack(pack(bits), 3), bits))
True
"""

from __future__ import annotations

import math

import numpy as np

from .runtime import popcount

__all__ = ["ONES", "pack", "unpack", "popcount", "uniform"]

#: a word of 64 ones
ONES = np.uint64(0xFFFF_FFFF_FFFF_FFFF)


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


def uniform(pattern) -> np.ndarray:
    """The words of a value shared by every example: all 1s where the pattern is set."""
    return np.where(np.asarray(pattern, dtype=bool), ONES, np.uint64(0))
