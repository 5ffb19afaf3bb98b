"""One rule table read over another semiring (``reference/bffg.md`` §6, §13).

The backward filter's sums over states are ``Einsum`` contractions and ``Sum``\\ s
(``categories.messages``). Read over (max, ×) instead of (+, ×), every other rule
as it is, the same diagram computes maxima over paths instead of sums over them:

| table | ``Einsum`` summing an index | ``Sum`` |
|---|---|---|
| ``numpy.RULES`` | Σ of products | Σ |
| ``MAX_PRODUCT`` | max of products (``"ij,j->i"``, ``"i,i->"``, ``"j,jk->k"``) | max |

An einsum that sums no index (a transpose, an outer product) is the same in every
semiring: RULES' rule. ``MAX_PRODUCT`` holds inside loops (``numpy.derived``).

On a chain, the backward filter so read gives log max_x p(x, y) at the root and
messages whose arg-max guides the most probable path (Viterbi),
:func:`most_probable_path`: not a second algorithm, the first one read over
another semiring. The forward filter (``chains.hmm_log_likelihood``) so read gives
the same maximum.

>>> import numpy as np
>>> from paralens.categories import Real, function
>>> from paralens.interpreters.numpy import compile
>>> pull = function(Real(2, 2) @ Real(2), Real(2))(lambda K, h: K @ h)
>>> K, h = np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0.3, 0.7])
>>> compile(pull)(K, h), compile(pull, rules=MAX_PRODUCT)(K, h)    # Σ_j, max_j K_ij h_j
(array([0.34, 0.62]), array([0.27, 0.56]))
"""

from __future__ import annotations

import functools

import numpy as np

from ..categories.chains import hmm_backward_filter
from .numpy import RULES, _axes, compile, derived

__all__ = ["MAX_PRODUCT", "most_probable_path"]

#: the contractions read over (max, ×), by spec (batch axes leading, broadcast)
MAX_TIMES = {
    "ij,j->i": lambda K, h: np.max(K * np.asarray(h)[..., None, :], axis=-1),
    "i,i->": lambda a, b: np.max(a * b, axis=-1),
    "j,jk->k": lambda a, K: np.max(np.asarray(a)[..., :, None] * K, axis=-2),
}


def _max_times(box):
    summed = "".join(sorted(set("".join(box.ins)) - set(box.out)))
    if not summed:              # no sum: a product or a transpose, the same in every semiring
        return RULES["Einsum"](box)
    rule = MAX_TIMES.get(box.spec)
    if rule is None:
        raise NotImplementedError(
            f"max-product rules: no rule for Einsum({box.spec}), which sums over "
            f"{summed}; the contractions read over (max, ×) are {', '.join(MAX_TIMES)}")
    return rule


#: RULES with every sum a max: the (max, ×) semiring on nonnegative numbers
MAX_PRODUCT = derived("max-product NumPy rules", Einsum=_max_times,
                      Sum=lambda box: (lambda x, axes=_axes(box): x.max(axis=axes)))


@functools.lru_cache(maxsize=None)
def _viterbi_filter(S: int, n: int):
    return compile(hmm_backward_filter(S, n).diagram, rules=MAX_PRODUCT)


def most_probable_path(p, K, E, ys):
    """The most probable path of the hidden Markov chain x₀ ~ p, x_{t+1} ~ K[x_t, ·],
    y_t ~ E[x_t, ·] given the symbols ``ys`` (batch, T), NaN missing: (path, log p)
    with path (batch, T) the states arg-max_x p(x, y) and log p (batch,) the log of
    that maximum, log max_x p(x, y).

    The backward filter (``chains.hmm_backward_filter``) read over ``MAX_PRODUCT``
    gives log p at its root and the messages ĥ_t; the arg-max guides the path forward,
    x₀ = argmax p ⊙ ĥ₀, x_{t+1} = argmax K[x_t, ·] ⊙ ĥ_{t+1}. The parameters are
    shared by every series or given per series (a batch axis in front).

    >>> p = np.array([0.5, 0.5])
    >>> K = np.array([[0.9, 0.1], [0.1, 0.9]])         # sticky
    >>> E = np.array([[0.8, 0.2], [0.2, 0.8]])
    >>> path, logp = most_probable_path(p, K, E, [[0, np.nan, 0, 1, 1, 1]])
    >>> path
    array([[0, 0, 0, 1, 1, 1]])
    >>> bool(np.isclose(logp[0], np.log(0.5 * 0.8 ** 5 * 0.9 ** 4 * 0.1)))
    True
    """
    E = np.asarray(E)
    if E.ndim < 2:
        raise ValueError(f"most_probable_path: E is the emission matrix (S, n) (or (batch, "
                         f"S, n)), got an array of shape {E.shape}")
    S, n = E.shape[-2:]
    ys = np.asarray(ys, dtype=float)
    if ys.ndim != 2:
        raise ValueError(f"most_probable_path: ys are the symbols (batch, T), NaN missing, "
                         f"got an array of shape {ys.shape}")
    B, T = ys.shape
    if T == 0:
        raise ValueError("most_probable_path: the sequences have no steps, so no path")
    logp, h0, hs = _viterbi_filter(S, n)(p, K, E, ys[:, :-1], ys[:, -1])
    K = np.broadcast_to(K, (B, S, S))
    rows = np.arange(B)
    path = np.empty((B, T), dtype=np.intp)
    path[:, 0] = np.argmax(np.asarray(p) * h0, axis=-1)
    for t in range(T - 1):
        path[:, t + 1] = np.argmax(K[rows, path[:, t]] * hs[:, t], axis=-1)
    return path, logp
