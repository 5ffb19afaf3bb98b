"""Markov kernels: the syntax of probabilistic models, for smoothing by BFFG.

A kernel κ : X → Y is a box of a diagram like any other; a model is a closed
diagram I → I: priors (kernels out of the unit), kernels, copies (branching:
chains and trees), discards, and observation leaves holding their data
(kernels into the unit). Its meaning for smoothing is given by the BFFG
interpreter (``interpreters.bffg``): messages pulled back from the leaves to
the root, then guided samples and marginals pushed forward.

| kernel | meaning |
|---|---|
| ``Gaussian(A, beta, Q)`` | x′ ~ N(A x + β, Q): A may be non-square, Q rank-deficient or 0 (deterministic affine) |
| ``Prior(m, P)`` | x ~ N(m, P), out of the unit |
| ``Observe(L, b, R, y)`` | y ~ N(L x + b, R) observed; NaN entries of y (or y = None) are missing |
| ``Stochastic(K)`` | a finite state x′ ~ K[x, ·] (rows sum to one) |
| ``Categorical(p)`` | a finite state x ~ p, out of the unit |
| ``Emit(E, y)`` | a symbol y ~ E[x, ·] observed (None: missing) |
| ``Transition(f, Q, auxiliary)`` | x′ ~ N(f(x), Q) for a nonlinear f; the filter uses the linear ``auxiliary``, guiding weights the mismatch |
| ``Chain(prior, A, beta, Q, L, b, R, ys)`` | a state-space chain: T steps of one stage (kernel and observation), the data a stream |
| ``HiddenMarkov(p, K, E, ys)`` | a hidden Markov chain, the symbols a stream |

A finite state space of S states is the wire ``Finite(S)``.

>>> import numpy as np
>>> from paralens.categories import Real, copy
>>> x = Real(2)
>>> model = (Prior(np.zeros(2), np.eye(2)) >> copy(x)
...          >> Observe(np.eye(2), np.zeros(2), np.eye(2), [1.0, np.nan]) @ Gaussian(np.eye(2), Q=0.1 * np.eye(2))
...          >> Observe([[1.0, 0.0]], [0.0], [[0.5]], [0.3]))
>>> model.dom, model.cod
(Ty(), Ty())
>>> Gaussian(np.eye(2), Q=-np.eye(2))
Traceback (most recent call last):
...
ValueError: Gaussian: Q is not positive semi-definite (its least eigenvalue is -1)
"""

from __future__ import annotations

import numpy as np

from .adapter import Box, Real, Ty, Wire
from .generator import KERNELS, claim_name

__all__ = ["Kernel", "Gaussian", "Prior", "Observe", "Transition", "Stochastic", "Categorical",
           "Emit", "Chain", "HiddenMarkov", "Finite", "KERNELS"]

def Finite(n: int) -> Ty:
    """The type of a finite state space of n states (values: ints 0 … n − 1)."""
    return Ty(Wire("Finite", (n, ), "int64"))


def _real(value, what: str) -> np.ndarray:
    """``value`` as a new float64 array, if it is real numbers that convert exactly (the
    dtype rule of ``interpreters.arrays``, which this package may not import: ints, bools
    and narrower floats are converted); complex numbers, strings, objects and wider
    floats are refused, naming ``what``, never cast.

    >>> _real([1, 2.5], "m")
    array([1. , 2.5])
    >>> _real(np.array([1 + 2j]), "Observe: y")
    Traceback (most recent call last):
    ...
    TypeError: Observe: y is complex (complex128): its imaginary part would be lost; pass np.real(y) if only the real part is meant
    """
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{what} is a masked array, whose mask would be dropped; fill it "
                        f"(NaN marks a missing observation)")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        raise ValueError(f"{what} is a ragged list (its rows differ in length), not an "
                         f"array") from None
    name = what.rsplit(": ", 1)[-1]
    if array.dtype.kind == "c":
        raise TypeError(f"{what} is complex ({array.dtype}): its imaginary part would be lost; "
                        f"pass np.real({name}) if only the real part is meant")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be real numbers, got dtype {array.dtype}; pass "
                        f"np.asarray({name}, dtype=float) if they are numbers written out")
    if isinstance(value, (np.ndarray, np.generic)) and not np.can_cast(array.dtype, np.float64,
                                                                       "safe"):
        raise TypeError(f"{what} is {array.dtype}, which float64 would round; pass "
                        f"{name}.astype(np.float64) if that is meant")
    return np.array(array, dtype=float)


def _matrix(value, what: str, rows=None, cols=None) -> np.ndarray:
    array = _real(value, what)
    if array.ndim == 0 and rows is not None and rows == cols:
        array = array * np.eye(rows)
    if array.ndim != 2 or (rows is not None and array.shape[0] != rows) or (
            cols is not None and array.shape[1] != cols):
        want = f" ({rows}, {cols})" if rows is not None or cols is not None else ""
        raise ValueError(f"{what} must be a matrix{want}, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} has entries that are not finite")
    array.setflags(write=False)
    return array


def _vector(value, what: str, n: int) -> np.ndarray:
    array = np.zeros(n) if value is None else _real(value, what)
    if array.shape != (n, ):
        raise ValueError(f"{what} must be a vector of {n}, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} has entries that are not finite")
    array.setflags(write=False)
    return array


def _covariance(value, what: str, n: int, strict: bool = False) -> np.ndarray:
    Q = np.zeros((n, n)) if value is None else _matrix(value, what, n, n)
    if not np.allclose(Q, Q.T, rtol=1e-10, atol=1e-12):
        raise ValueError(f"{what} is not symmetric")
    least = float(np.linalg.eigvalsh(Q).min()) if n else 0.0
    scale = max(1.0, float(np.abs(Q).max()) if n else 1.0)
    if least < -1e-10 * scale or (strict and n and least <= 0):
        kind = "positive definite" if strict else "positive semi-definite"
        raise ValueError(f"{what} is not {kind} (its least eigenvalue is {least:.3g})")
    Q = np.array(0.5 * (Q + Q.T))
    Q.setflags(write=False)
    return Q


class Kernel(Box):
    """A Markov kernel X → Y; each class declares its meaning once, in the BFFG
    interpreter's rule tables, under its name (``KERNELS``)."""

    abstract = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("abstract", False):
            claim_name(cls, KERNELS)

    def __eq__(self, other):
        """Equal kernels: one class, name and types, and equal parameters and data (arrays
        entry by entry, a missing NaN equal to a missing NaN; a nonlinear f the same
        function), so that a model equals itself pickled and unpickled.

        >>> Gaussian(np.eye(2), Q=np.eye(2)) == Gaussian(np.eye(2), Q=np.eye(2))
        True
        >>> Gaussian(np.eye(2), Q=np.eye(2)) == Gaussian(np.eye(2), Q=2 * np.eye(2))
        False
        """
        if self is other:
            return True
        if type(self) is not type(other) or (self.name, self.dom, self.cod) != (
                other.name, other.dom, other.cod):
            return False
        mine, theirs = _parameters(self), _parameters(other)
        return mine.keys() == theirs.keys() and all(_same(mine[k], theirs[k]) for k in mine)

    def __hash__(self):
        return hash((type(self).__name__, self.name, self.dom, self.cod))


def _parameters(kernel: Kernel) -> dict:
    """A kernel's own attributes: its parameters and data."""
    return {k: v for k, v in kernel.__dict__.items()
            if k not in ("name", "dom", "cod", "data", "is_dagger", "_layers")
            and k not in kernel._caches}


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(
            a, b, equal_nan=a.dtype.kind in "fc"))
    return a is b or a == b


class Gaussian(Kernel):
    """x′ ~ N(A x + β, Q), A of shape (d′, d), Q (d′, d′) ⪰ 0 (None: 0)."""

    def __init__(self, A, beta=None, Q=None, name: str = "Gaussian"):
        self.A = _matrix(A, f"{name}: A")
        d_out, d_in = self.A.shape
        self.beta = _vector(beta, f"{name}: beta", d_out)
        self.Q = _covariance(Q, f"{name}: Q", d_out)
        super().__init__(name, Real(d_in), Real(d_out))


class Prior(Kernel):
    """x ~ N(m, P): the Gaussian kernel out of the unit (A empty, β = m, Q = P)."""

    def __init__(self, m, P, name: str = "Prior"):
        m = np.atleast_1d(_real(m, f"{name}: m"))
        self.m = _vector(m, f"{name}: m", len(m))
        self.P = _covariance(P, f"{name}: P", len(self.m))
        super().__init__(name, Ty(), Real(len(self.m)))


class Observe(Kernel):
    """The observation y ~ N(L x + b, R), y given (NaN entries missing; None: all)."""

    def __init__(self, L, b=None, R=None, y=None, name: str = "Observe"):
        self.L = _matrix(L, f"{name}: L")
        k, d = self.L.shape
        self.b = _vector(b, f"{name}: b", k)
        self.R = _covariance(R if R is not None else np.eye(k), f"{name}: R", k, strict=True)
        y = np.full(k, np.nan) if y is None else _real(y, f"{name}: y")
        if y.shape != (k, ):
            raise ValueError(f"{name}: the observation must be a vector of {k}, got shape "
                             f"{y.shape}")
        if np.any(np.isinf(y)):
            raise ValueError(f"{name}: the observation has entries that are infinite (NaN "
                             f"marks a missing entry)")
        self.y = y
        self.y.setflags(write=False)
        super().__init__(name, Real(d), Ty())

    def at(self, y, name: str | None = None) -> "Observe":
        """The same observation model (L, b, R, checked once) with other data y: for the
        many leaves of one model (a tree's), without checking R again at each."""
        y = _real(y, f"{name or self.name}: y")
        if y.shape != self.b.shape:
            raise ValueError(f"{self.name}: the observation must be a vector of {len(self.b)}, "
                             f"got shape {y.shape}")
        if np.isinf(y).any():
            raise ValueError(f"{name or self.name}: the observation has entries that are "
                             f"infinite (NaN marks a missing entry)")
        y.setflags(write=False)
        new = object.__new__(type(self))
        new.L, new.b, new.R, new.y = self.L, self.b, self.R, y
        Kernel.__init__(new, self.name if name is None else name, self.dom, self.cod)
        return new


class Transition(Kernel):
    """x′ ~ N(f(x), Q), f any map on arrays (nonlinear), with a linear-Gaussian
    ``auxiliary`` the backward filter pulls back through instead; guiding samples
    the true kernel and weights each sample by the mismatch."""

    def __init__(self, f, Q, auxiliary: Gaussian, name: str = "Transition"):
        if not callable(f):
            raise TypeError(f"{name}: f must be a function of the state, got {f!r}")
        if not isinstance(auxiliary, Gaussian):
            raise TypeError(f"{name}: the auxiliary must be a Gaussian kernel, got {auxiliary!r}")
        self.f, self.auxiliary = f, auxiliary
        d_out, d_in = auxiliary.A.shape
        self.Q = _covariance(Q, f"{name}: Q", d_out)
        super().__init__(name, Real(d_in), Real(d_out))


def _stochastic(K, what: str) -> np.ndarray:
    K = _matrix(K, what)
    if np.any(K < 0) or not np.allclose(K.sum(axis=1), 1.0, atol=1e-10):
        raise ValueError(f"{what} is not stochastic: its entries must be ≥ 0 and each row "
                         f"sum to 1 (row sums {np.round(K.sum(axis=1), 6).tolist()})")
    return K


class Stochastic(Kernel):
    """x′ ~ K[x, ·] on finite state spaces, K (S, S′) row-stochastic."""

    def __init__(self, K, name: str = "Stochastic"):
        self.K = _stochastic(K, f"{name}: K")
        super().__init__(name, Finite(self.K.shape[0]), Finite(self.K.shape[1]))


class Categorical(Kernel):
    """x ~ p on a finite state space: the stochastic kernel out of the unit."""

    def __init__(self, p, name: str = "Categorical"):
        self.p = _stochastic(np.atleast_2d(_real(p, f"{name}: p")), f"{name}: p")[0]
        super().__init__(name, Ty(), Finite(len(self.p)))


def _symbols(value, what: str, n: int, low: int, expected: str) -> np.ndarray:
    """Symbols as int64, each in ``low`` … n − 1: ints, or floats that are whole (read from a
    file); complex numbers, bools, strings and fractions are refused, naming ``what``
    (``Emit`` and ``HiddenMarkov`` alike).

    >>> _symbols([0, 2.0, -1], "ys", 3, -1, "ints in −1 … 2")
    array([ 0,  2, -1])
    >>> _symbols(1 + 0j, "Emit: the symbol", 3, 0, "one of 0 … 2")
    Traceback (most recent call last):
    ...
    TypeError: Emit: the symbol (1+0j) is complex: its imaginary part would be lost; give one of 0 … 2
    """
    array = np.asarray(value)
    if array.dtype.kind == "c":
        raise TypeError(f"{what} {value!r:.80} is complex: its imaginary part would be lost; "
                        f"give {expected}")
    whole = array.dtype.kind in "iu" or array.dtype.kind == "f" and bool(
        np.all(np.isfinite(array)) and np.all(array == np.round(array)))
    if not whole or np.any(array < low) or np.any(array >= n):
        raise ValueError(f"{what} must be {expected}, got {value!r:.80}")
    return array.astype(np.int64)


class Emit(Kernel):
    """The observed symbol y ~ E[x, ·], E (S, symbols) row-stochastic (y None: missing)."""

    def __init__(self, E, y=None, name: str = "Emit"):
        self.E = _stochastic(E, f"{name}: E")
        n = self.E.shape[1]
        expected = f"one of 0 … {n - 1}"
        symbol = None if y is None else _symbols(y, f"{name}: the symbol", n, 0, expected)
        if symbol is not None and symbol.ndim:
            raise ValueError(f"{name}: the symbol must be {expected}, got {y!r}")
        self.y = None if y is None else int(symbol)
        super().__init__(name, Finite(self.E.shape[0]), Ty())


class HiddenMarkov(Kernel):
    """A hidden Markov chain, one stage iterated over time: x₀ ~ p, x_{t+1} ~ K[x_t, ·],
    y_t ~ E[x_t, ·], the symbols ``ys`` (T,) a stream (−1: missing). One box I → I."""

    def __init__(self, p, K, E, ys, name: str = "HiddenMarkov"):
        self.p = Categorical(p, name=name).p
        self.K, self.E = _stochastic(K, f"{name}: K"), _stochastic(E, f"{name}: E")
        S = len(self.p)
        if self.K.shape != (S, S) or self.E.shape[0] != S:
            raise ValueError(f"{name}: p has {S} states, K is {self.K.shape}, E is "
                             f"{self.E.shape}")
        expected = f"ints in −1 … {self.E.shape[1] - 1} (−1: missing), one per step"
        ys = _symbols(ys, f"{name}: the symbols", self.E.shape[1], -1, expected)
        if ys.ndim != 1:
            raise ValueError(f"{name}: the symbols must be {expected}, got shape {ys.shape}")
        self.ys, self.steps, self.states = ys, len(ys), S
        super().__init__(name, Ty(), Ty())

    def unroll(self):
        """The chain as a diagram of T stages (for drawing and small checks)."""
        from .structural import copy
        x = Finite(self.states)
        diagram = Categorical(self.p)
        for t, y in enumerate(self.ys):
            emit = Emit(self.E, None if y < 0 else int(y), name=f"y{t}")
            diagram = diagram >> (copy(x) >> emit @ Stochastic(self.K, name=f"K{t}")
                                  if t + 1 < self.steps else emit)
        return diagram


def _steps(value, what: str, T: int, shape: tuple) -> np.ndarray:
    """A parameter constant over time (shape) or time-varying (T, *shape), as (T, *shape)."""
    array = _real(value, what)
    if array.shape == shape:
        steps = np.broadcast_to(array, (T, ) + shape)
    elif array.shape == (T, ) + shape:
        steps = array
    else:
        raise ValueError(f"{what} must have shape {shape} (constant) or {(T, ) + shape} (one "
                         f"per step), got {array.shape}")
    bad = ~np.isfinite(array.reshape(array.shape[:len(array.shape) - len(shape)] + (-1, )))
    if bad.any():
        where = f" (at step {int(np.flatnonzero(bad.any(axis=-1))[0])})" if array.ndim > len(
            shape) else ""
        raise ValueError(f"{what} has entries that are not finite{where}")
    return steps


def _covariances(steps: np.ndarray, what: str, strict: bool = False):
    """Every step's covariance checked at once (a constant one: its first step only)."""
    n = steps.shape[-1]
    if not len(steps) or not n:
        return
    if steps.strides[0] == 0:               # constant over time
        _covariance(steps[0], f"{what} at step 0", n, strict)
        return
    size = np.abs(steps).max(axis=(1, 2))
    skew = steps - np.swapaxes(steps, 1, 2)
    asymmetric = np.abs(skew).max(axis=(1, 2)) > 1e-12 + 1e-10 * size
    least = np.linalg.eigvalsh(steps - 0.5 * skew).min(axis=1)
    scale = np.maximum(1.0, size)
    bad = asymmetric | (least < -1e-10 * scale) | ((least <= 0) if strict else False)
    if bad.any():
        t = int(np.flatnonzero(bad)[0])
        _covariance(steps[t], f"{what} at step {t}", n, strict)     # raises, naming step t


class Chain(Kernel):
    """A linear-Gaussian state-space chain, one stage iterated over time:

        x₀ ~ prior,  x_{t+1} ~ N(A_t x_t + β_t, Q_t),  y_t ~ N(L_t x_t + b_t, R_t),

    t = 0 … T − 1, each parameter constant or given per step (a leading T axis),
    the observations ``ys`` (T, k) a stream (NaN entries missing). One box I → I
    whose BFFG meaning is a loop over the steps; ``unroll()`` draws it."""

    def __init__(self, prior: Prior, A, beta, Q, L, b, R, ys, name: str = "Chain"):
        if not isinstance(prior, Prior):
            raise TypeError(f"{name}: the prior must be a Prior(m, P), got {prior!r}")
        ys = _real(ys, f"{name}: ys")
        if ys.ndim != 2:
            raise ValueError(f"{name}: the observations must be (T, k), got shape {ys.shape}")
        T, k = ys.shape
        d = len(prior.m)
        if np.any(np.isinf(ys)):
            raise ValueError(f"{name}: the observations have entries that are infinite (at step "
                             f"{int(np.flatnonzero(np.isinf(ys).any(axis=1))[0])}; NaN marks a "
                             f"missing entry)")
        L_shape = np.shape(L)
        if len(L_shape) in (2, 3) and L_shape[-1] == d and L_shape[-2] != k:
            raise ValueError(f"{name}: each observation has {k} entries, but L is {L_shape}: it "
                             f"maps the state to {L_shape[-2]}")
        self.prior, self.ys = prior, ys
        self.A = _steps(A, f"{name}: A", T, (d, d))
        self.beta = _steps(np.zeros(d) if beta is None else beta, f"{name}: beta", T, (d, ))
        self.Q = _steps(Q, f"{name}: Q", T, (d, d))
        self.L = _steps(L, f"{name}: L", T, (k, d))
        self.b = _steps(np.zeros(k) if b is None else b, f"{name}: b", T, (k, ))
        self.R = _steps(R, f"{name}: R", T, (k, k))
        _covariances(self.Q, f"{name}: Q", strict=False)
        _covariances(self.R, f"{name}: R", strict=True)
        self.steps, self.d, self.k = T, d, k
        super().__init__(name, Ty(), Ty())

    def unroll(self):
        """The chain as a diagram of T stages (for drawing and small checks)."""
        from .structural import copy
        x = Real(self.d)
        diagram = self.prior
        for t in range(self.steps):
            observe = Observe(self.L[t], self.b[t], self.R[t], self.ys[t], name=f"y{t}")
            if t + 1 < self.steps:
                step = Gaussian(self.A[t], self.beta[t], self.Q[t], name=f"κ{t}")
                diagram = diagram >> copy(x) >> observe @ step
            else:
                diagram = diagram >> observe
        return diagram
