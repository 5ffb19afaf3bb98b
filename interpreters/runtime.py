"""The runtime of the generated code: the helpers it copies into its source and
the interpreters call, written once as plain NumPy functions.

The interpreters call them (``interpreters.numpy``, ``interpreters.circuit``)
and the code generator copies their source into the modules it writes
(``inspect.getsource``), so that the code a user reads is the code the
interpreters run. Each reads only ``np``, ``math``, Python's built-ins and
the other helpers of this module: its source runs on its own.

>>> import numpy as np
>>> softmax(np.array([0.0, np.log(3.0)])).round(3).tolist()
[0.25, 0.75]
>>> popcount(np.array([0, 1, 2 ** 64 - 1], dtype=np.uint64)).tolist()
[0, 1, 64]
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["softmax", "logsumexp", "solve_vector", "logdet", "observed", "one_hot", "linear", "linear_t", "outer_sum", "unbroadcast",
           "popcount", "count", "xor_batch", "vote_batch", "scatter"]


# -- real arrays, batch axis first ----------------------------------------------------

def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def logsumexp(x):
    m = x.max(axis=-1)
    return m + np.log(np.exp(x - m[..., None]).sum(axis=-1))


def solve_vector(M, b):
    """M⁻¹b for b a vector (or a stack of them), which ``np.linalg.solve`` would read
    as a matrix when it is stacked."""
    return np.linalg.solve(M, b[..., None])[..., 0]


#: the contractions written as NumPy's faster operators, on stacks of examples (each
#: operand's batch axes leading), keyed by their spec with its indices renamed a, b, c
#: in order of appearance (``canonical``); any other spec is ``np.einsum``'s
CONTRACTIONS = {
    "ab,bc->ac": "a @ b",
    "ab,cb->ac": "a @ np.swapaxes(b, -1, -2)",
    "ab,ac->bc": "np.swapaxes(a, -1, -2) @ b",
    "ab,b->a": "(a @ b[..., None])[..., 0]",
    "ab,a->b": "(b[..., None, :] @ a)[..., 0, :]",
    "a,ab->b": "(a[..., None, :] @ b)[..., 0, :]",
    "a,a->": "(a * b).sum(axis=-1)",
    "ab,ab->a": "(a * b).sum(axis=-1)",
    "ab,ab->": "(a * b).sum(axis=(-2, -1))",
    "ab->ba": "np.swapaxes(a, -1, -2)",
    "a,b->ab": "a[..., :, None] * b[..., None, :]",
    "a,b->ba": "b[..., :, None] * a[..., None, :]",
    ",ab->ab": "np.asarray(a)[..., None, None] * b",
    ",a->a": "np.asarray(a)[..., None] * b",
    "a,->a": "a * np.asarray(b)[..., None]",
    "a,ab->ab": "a[..., :, None] * b",
}


def canonical(spec: str) -> str:
    """``spec`` with its indices renamed a, b, c, … in order of first appearance.

    >>> canonical("jk,ik->ij")
    'ab,cb->ca'
    """
    names = {}
    return "".join(names.setdefault(c, "abcdefghijklmnopqrstuvwxyz"[len(names)])
                   if c.isalpha() else c for c in spec)


def contraction(spec: str):
    """A function computing the per-example einsum ``spec`` on stacks of examples.

    >>> contraction("ij,j->i")(np.eye(2)[None], np.array([[1.0, 2.0]])).tolist()
    [[1.0, 2.0]]
    """
    text = CONTRACTIONS.get(canonical(spec))
    if text is not None:
        names = "a" if "," not in spec.split("->")[0] else "a, b"
        return eval(f"lambda {names}: {text}", {"np": np})
    ins, out = spec.split("->")
    full = ",".join("..." + i for i in ins.split(",")) + "->..." + out
    return lambda *xs: np.einsum(full, *xs)


def observed(y):
    """The mask of the observed (not NaN) entries of y, and y with the others 0."""
    missing = np.isnan(y)
    return (~missing).astype(y.dtype), np.where(missing, y.dtype.type(0), y)


def one_hot(y, n):
    """A symbol's (not NaN: observed) flag and its indicator among n (0 if missing); a
    symbol that is not one of 0 … n − 1 is refused."""
    y = np.asarray(y)
    seen = ~np.isnan(y)
    bad = seen & ((y != np.round(y)) | (y < 0) | (y > n - 1))
    if type(bad).__module__ == "numpy" and bad.any():      # (traced by JAX: not checked)
        raise ValueError(f"a symbol must be one of 0 … {n - 1} (NaN: missing), got "
                         f"{float(y[bad].ravel()[0])!r}")
    return seen.astype(y.dtype), (y[..., None] == np.arange(n)).astype(y.dtype)


def logdet(M):
    return np.linalg.slogdet(M)[1]


def linear(W, x):
    return x @ W if W.ndim == 2 else np.einsum("...ij,...i->...j", W, x)


def linear_t(W, y):
    return y @ W.T if W.ndim == 2 else np.einsum("...ij,...j->...i", W, y)


def outer_sum(a, b):
    """Σ over the batch of a ⊗ b (either may be unbatched)."""
    rows = lambda v: v.reshape(math.prod(v.shape[:-1]), v.shape[-1])
    if a.ndim == b.ndim:
        return rows(a).T @ rows(b)
    return np.outer(rows(a).sum(0), rows(b).sum(0))


def unbroadcast(x, shape):
    """Sum the leading batch axis away: the reverse of sharing a value of the given
    per-example shape with every example."""
    x = np.asarray(x)
    if x.ndim > len(shape):
        x = x.sum(axis=tuple(range(x.ndim - len(shape))))
    return np.broadcast_to(x, shape).copy() if x.shape != shape else x


# -- bit-sliced words: 64 examples per uint64, word axis first --------------------------

def popcount(x):
    """The number of set bits of each uint64 word, as uint8."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return ((x * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.uint8)


def count(x, batch, ndim):
    """How many of the batch's examples have each bit set (the padding of the last
    word excluded); ``ndim`` is the number of per-example axes (a value with no
    word axis is shared by every example)."""
    if x.ndim == ndim:
        return (x != 0).astype(np.int64) * batch
    tail = batch - 64 * (len(x) - 1)
    mask = np.uint64(0xFFFFFFFFFFFFFFFF if tail == 64 else (1 << tail) - 1)
    return popcount(x[:-1]).sum(axis=0, dtype=np.int64) + popcount(x[-1] & mask).astype(np.int64)


def xor_batch(x, batch, ndim):
    """The XOR over the batch of each bit, as a uniform word."""
    return np.where(count(x, batch, ndim) & 1, np.uint64(0xFFFFFFFFFFFFFFFF), np.uint64(0))


def vote_batch(x, y, batch, ndim):
    """1 where more examples set the bit in x than in y, as a uniform word."""
    return np.where(count(x, batch, ndim) > count(y, batch, ndim),
                    np.uint64(0xFFFFFFFFFFFFFFFF), np.uint64(0))


def scatter(y, order, starts, hit, size, shape):
    """out[j] = ⊕ of the entries of y (flat per example) sent to j: ``order`` sorts
    them by target, ``starts`` begins each run of equal targets, ``hit`` the targets."""
    out = np.zeros(y.shape[:-1] + (size, ), dtype=y.dtype)
    if len(order):
        out[..., hit] = np.bitwise_xor.reduceat(y[..., order], starts, axis=-1)
    return out.reshape(y.shape[:-1] + shape)
