"""Chains as loops: the backward filter, the forward filter and the smoother of a
state-space model or a hidden Markov model, as Para maps on the one IR.

A chain is one stage closed by the delayed trace (the recurrence's ``Loop``):
the backward filter is a reverse loop whose state is the message on the next
state (``categories.messages``), guiding a forward loop over the messages it
leaves. Parameters are parameter wires and observations input wires
(sequences: arrays (batch, T, k), NaN missing), so one model runs on any data
and R, the tangent, the code generator and the JAX backend apply to it.

The linear-Gaussian chain (``reference/bffg.md`` §3, §9; t = 0 … T − 1):

    x₀ ~ N(m0, P0),  x_{t+1} ~ N(A x_t + β, Q),  y_t ~ N(L x_t + b, R)

| model | wires | what |
|---|---|---|
| ``log_likelihood(d, k)`` | Seq(y) → Real() | log p(y), the backward filter |
| ``kalman_filter(d, k)`` | Seq(y) → Seq(m) ⊗ Seq(P) ⊗ Real() | the filtered moments of p(x_t \\| y_{0:t}) and log p(y) |
| ``smoother(d, k)`` | Seq(y) → Seq(m) ⊗ Seq(P) ⊗ Seq(C) ⊗ Real() | the smoothed moments, the lag-one covariances C_t = Cov(x_t, x_{t+1} \\| y) and log p(y) |
| ``hmm_log_likelihood(S, n)`` | Seq(y) → Real() | log p(y) of x₀ ~ p, x_{t+1} ~ K[x_t, ·], y_t ~ E[x_t, ·] |
| ``hmm_smoother(S, n)`` | Seq(y) → Seq(γ) ⊗ Real() | the smoothed marginals γ_t = p(x_t \\| y) and log p(y) |

The Gaussian models' parameters are named ``m0, P0, A, beta, Q, L, b, R``; a
name in ``varying`` is given per step instead, as an input sequence after y
(a transition's at step t moves x_t to x_{t+1}; the last step's is not
used). The HMM's are ``p, K, E``. Covariances and stochastic matrices are
taken as given: to fit them, reparametrise (``Para.reparametrise``) by maps
that cannot leave their domain (a log-variance, a softmax), as
``local_level`` does.

>>> import numpy as np
>>> from paralens.interpreters.numpy import compile
>>> model = log_likelihood(1, 1)
>>> model.names
('m0', 'P0', 'A', 'beta', 'Q', 'L', 'b', 'R')
>>> run = compile(model.diagram)
>>> ys = np.array([[[0.5]]])            # one series (batch 1) of one step
>>> round(float(run(*model.init().values(), ys)[0]), 6)    # log N(0.5; 0, 1 + 1)
-1.328012
"""

from __future__ import annotations

import numpy as np

from .adapter import Real, Seq, Ty, whole
from .messages import (
    discrete, discrete_evidence, discrete_fuse, discrete_pullback, emission, evidence, fuse,
    gaussian, guide, leaf, pullback)
from .para import Para, Param, zeros
from .linalg import Eye, Solve
from .smooth import Constant, Exp, Reciprocal, Spread, Sum
from .stateful import Loop
from .structural import zero
from .syntax import function

__all__ = ["log_likelihood", "kalman_filter", "smoother", "local_level", "hmm_log_likelihood",
           "hmm_smoother", "identity", "uniform_rows", "GAUSSIAN_PARAMETERS"]

#: the parameters of the linear-Gaussian chain, in their order on the wires
GAUSSIAN_PARAMETERS = ("m0", "P0", "A", "beta", "Q", "L", "b", "R")
_TRANSITION = ("A", "beta", "Q")
_OBSERVATION = ("L", "b", "R")


def identity(rng, shape):
    """Initialise a matrix as the identity (the rows and columns it has)."""
    return np.eye(*shape)


def uniform_rows(rng, shape):
    """Initialise a stochastic vector or matrix as uniform (each row sums to one)."""
    return np.full(shape, 1.0 / shape[-1])


def _types(d: int, k: int) -> dict:
    return {"m0": Real(d), "P0": Real(d, d), "A": Real(d, d), "beta": Real(d),
            "Q": Real(d, d), "L": Real(k, d), "b": Real(k), "R": Real(k, k)}


_INIT = {"m0": zeros, "P0": identity, "A": identity, "beta": zeros, "Q": identity,
         "L": identity, "b": zeros, "R": identity}


def _sizes(d, k, who):
    return whole(d, f"{who}: d (the state's size)", 1), whole(k, f"{who}: k (an observation's size)", 1)


def _varying(varying, who) -> tuple:
    varying = tuple(varying)
    wrong = [v for v in varying if v not in _TRANSITION + _OBSERVATION]
    if wrong:
        raise ValueError(f"{who}: varying names the parameters given per step, among "
                         f"{', '.join(_TRANSITION + _OBSERVATION)}; got {wrong[0]!r}")
    return tuple(v for v in _TRANSITION + _OBSERVATION if v in varying)


class _Layout:
    """Where each Gaussian parameter is read: a parameter wire (constant over time) or a
    per-step input; the loop's constants and per-step inputs in their order."""

    def __init__(self, d, k, varying, needed):
        types = _types(d, k)
        self.d, self.k, self.types = d, k, types
        self.varying = varying
        self.fixed = tuple(n for n in GAUSSIAN_PARAMETERS if n not in varying)
        self.params = tuple(Param(types[n], n, _INIT[n]) for n in self.fixed)
        self.consts = tuple(n for n in needed if n not in varying)
        self.steps = tuple(n for n in needed if n in varying)
        self.C = Ty().tensor(*(types[n] for n in self.consts))
        self.X = Real(k) @ Ty().tensor(*(types[n] for n in self.steps))
        self.inputs = Seq(self.X)

    def read(self, fixed, consts_or_steps, names):
        """The wires of ``names`` from the parameter wires and the per-step wires."""
        table = dict(zip(self.fixed, fixed))
        table.update(consts_or_steps)
        return [table[n] for n in names]


def _backward_loop(layout, messages: bool) -> Loop:
    """The reverse loop whose state is the message on x_{t+1}: pulled back through the
    transition at step t, fused with the leaf y_t. ``messages``: each step also outputs
    the message it was given (on x_{t+1}: F and H), for guiding."""
    d, k = layout.d, layout.k
    g = gaussian(d)
    ys = Real(d) @ Real(d, d) if messages else Ty()

    @function(layout.C @ g @ layout.X, g @ ys)
    def stage(*wires):
        nC = len(layout.consts)
        named = dict(zip(layout.consts, wires[:nC]))
        c, F, H = wires[nC:nC + 3]
        named.update(zip(layout.steps, wires[nC + 4:]))
        y = wires[nC + 3]
        A, beta, Q, L, b, R = (named[n] for n in _TRANSITION + _OBSERVATION)
        pulled = pullback(d)(A, beta, Q, c, F, H)
        fused = fuse(d)(*pulled, *leaf(k, d)(L, b, R, y))
        return fused + ((F, H) if messages else ())
    return Loop(stage, layout.C, g, layout.X, ys, reverse=True, name="backward filter")


def log_likelihood(d: int, k: int, varying=(), name: str = "log p") -> Para:
    """log p(y) of the linear-Gaussian chain (the module's docstring): a Para map from the
    observations Seq(Real(k)) (then the ``varying`` parameters' sequences) to Real(),
    one number per series: the backward filter, a reverse loop, then the evidence at
    the prior root."""
    d, k = _sizes(d, k, "log_likelihood")
    layout = _Layout(d, k, _varying(varying, "log_likelihood"), _TRANSITION + _OBSERVATION)
    loop = _backward_loop(layout, messages=False)
    P = Ty().tensor(*(p.ty for p in layout.params))

    @function(P @ layout.inputs, Real())
    def logp(*wires):
        fixed, seqs = wires[:len(layout.params)], wires[len(layout.params):]
        consts = layout.read(fixed, {}, layout.consts)
        state = zero(gaussian(d))()
        c, F, H = loop(*consts, *state, *seqs)
        m0, P0 = layout.read(fixed, {}, ("m0", "P0"))
        return evidence(d)(m0, P0, c, F, H)
    return Para(layout.params, logp)


def smoother(d: int, k: int, varying=()) -> Para:
    """The smoothed moments of the linear-Gaussian chain: Seq(y) (then the ``varying``
    sequences) ↦ Seq(m) ⊗ Seq(P) ⊗ Seq(C) ⊗ log p(y), m_t, P_t the mean and covariance
    of p(x_t | y) and C_t = Cov(x_t, x_{t+1} | y) (at the last step, with the state
    x_T after the data). The backward
    filter (a reverse loop) leaves the message on each x_{t+1}; guiding (a forward loop)
    pushes the root's guided marginal through the guided transitions (§9.2):
    m_{t+1} = G(A m_t + β + QF), P_{t+1} = G A P_t Aᵀ Gᵀ + GQ, G = (I + QH)⁻¹."""
    d, k = _sizes(d, k, "smoother")
    layout = _Layout(d, k, _varying(varying, "smoother"), _TRANSITION + _OBSERVATION)
    backward = _backward_loop(layout, messages=True)
    # the guiding loop: constants (A, β, Q) not varying; per step (F, H) on x_{t+1}, then
    # the varying transition parameters
    trans_consts = tuple(n for n in _TRANSITION if n not in layout.varying)
    trans_steps = tuple(n for n in _TRANSITION if n in layout.varying)
    types = layout.types
    GC = Ty().tensor(*(types[n] for n in trans_consts))
    GX = Real(d) @ Real(d, d) @ Ty().tensor(*(types[n] for n in trans_steps))
    state = Real(d) @ Real(d, d)
    out = Real(d) @ Real(d, d) @ Real(d, d)

    @function(GC @ state @ GX, state @ out)
    def guiding(*wires):
        nC = len(trans_consts)
        named = dict(zip(trans_consts, wires[:nC]))
        m, Pm, F, H = wires[nC:nC + 4]
        named.update(zip(trans_steps, wires[nC + 4:]))
        A, beta, Q = (named[n] for n in _TRANSITION)
        M = Eye(d)() + Q @ H
        G = Solve(d, d)(M, Eye(d)())
        GA = G @ A
        mean = GA @ m + Solve(d)(M, beta + Q @ F)
        lag = Pm @ GA.T
        cov = GA @ lag + Solve(d, d)(M, Q)
        cov = 0.5 * (cov + cov.T)
        return mean, cov, m, Pm, lag
    forward = Loop(guiding, GC, state, GX, out, name="guiding")
    P = Ty().tensor(*(p.ty for p in layout.params))
    n_steps = len(layout.steps)

    @function(P @ layout.inputs, Seq(out) @ Real())
    def smoothed(*wires):
        fixed, seqs = wires[:len(layout.params)], wires[len(layout.params):]
        consts = layout.read(fixed, {}, layout.consts)
        c, F, H, Fs, Hs = loop_out = backward(*consts, *zero(gaussian(d))(), *seqs)
        m0, P0 = layout.read(fixed, {}, ("m0", "P0"))
        logp = evidence(d)(m0, P0, c, F, H)
        mean0, cov0 = guide(d)(m0, P0, F, H)
        steps = dict(zip(layout.steps, seqs[1:1 + n_steps]))
        g_consts = layout.read(fixed, {}, trans_consts)
        g_steps = [steps[n] for n in trans_steps]
        _, _, ms, Ps, Cs = forward(*g_consts, mean0, cov0, Fs, Hs, *g_steps)
        return ms, Ps, Cs, logp
    return Para(layout.params, smoothed)


def kalman_filter(d: int, k: int, varying=()) -> Para:
    """The forward filter of the linear-Gaussian chain: Seq(y) (then the ``varying``
    sequences) ↦ Seq(m) ⊗ Seq(P) ⊗ log p(y), m_t, P_t the mean and covariance of
    p(x_t | y_0 … y_t). A forward loop whose state is the predicted N(m⁻, P⁻): each
    step guides it by the leaf y_t (the update, ``guide``), adds the leaf's evidence
    under it to log p(y), and pushes the update through the transition (the
    prediction)."""
    d, k = _sizes(d, k, "kalman_filter")
    layout = _Layout(d, k, _varying(varying, "kalman_filter"), _TRANSITION + _OBSERVATION)
    state = Real(d) @ Real(d, d)
    out = Real(d) @ Real(d, d)

    @function(layout.C @ state @ layout.X, state @ out @ Real())
    def stage(*wires):
        nC = len(layout.consts)
        named = dict(zip(layout.consts, wires[:nC]))
        m, Pm, y = wires[nC:nC + 3]
        named.update(zip(layout.steps, wires[nC + 3:]))
        A, beta, Q, L, b, R = (named[n] for n in _TRANSITION + _OBSERVATION)
        c, F, H = leaf(k, d)(L, b, R, y)
        increment = evidence(d)(m, Pm, c, F, H)
        mf, Pf = guide(d)(m, Pm, F, H)
        Pn = A @ (Pf @ A.T) + Q
        return A @ mf + beta, 0.5 * (Pn + Pn.T), mf, Pf, increment
    loop = Loop(stage, layout.C, state, layout.X, out, Real(), name="forward filter")
    P = Ty().tensor(*(p.ty for p in layout.params))

    @function(P @ layout.inputs, Seq(out) @ Real())
    def filtered(*wires):
        fixed, seqs = wires[:len(layout.params)], wires[len(layout.params):]
        consts = layout.read(fixed, {}, layout.consts)
        m0, P0 = layout.read(fixed, {}, ("m0", "P0"))
        _, _, ms, Ps, logp = loop(*consts, m0, P0, *seqs)
        return ms, Ps, logp
    return Para(layout.params, filtered)


def local_level(m0: float, P0: float = 1e7) -> Para:
    """The local-level model (random walk plus noise; Durbin & Koopman ch. 2) as log p(y),
    parametrised by log-variances so that no gradient step leaves the domain:
    ``log_level_variance`` (the walk's, σ²η = exp) and ``log_noise_variance`` (σ²ε), the
    first level x₀ ~ N(m0, P0) fixed (nearly diffuse by default).

    >>> local_level(1120.0).names
    ('log_level_variance', 'log_noise_variance')
    """
    inner = log_likelihood(1, 1)
    level, noise = (Param(Real(), n) for n in ("log_level_variance", "log_noise_variance"))
    one = Real(1, 1)

    @function(Real() @ Real(), inner.param_type)
    def alpha(log_level, log_noise):
        def variance(v):
            return Spread(one)(Exp(Real())(v))
        eye = Eye(1)()
        return (Constant(float(m0), Real(1))(), float(P0) * Eye(1)(), eye,
                Constant(0.0, Real(1))(), variance(log_level), Eye(1)(),
                Constant(0.0, Real(1))(), variance(log_noise))
    return inner.reparametrise((level, noise), alpha)


# -- hidden Markov chains ---------------------------------------------------------------------

def _hmm_backward(S, n, messages: bool) -> Loop:
    g = discrete(S)
    ys = Real(S) if messages else Ty()

    @function(Real(S, S) @ Real(S, n) @ g @ Real(), g @ ys)
    def stage(K, E, c, h, y):
        pulled = discrete_pullback(S)(K, c, h)
        return discrete_fuse(S)(*pulled, *emission(S, n)(E, y)) + ((h, ) if messages else ())
    return Loop(stage, Real(S, S) @ Real(S, n), g, Real(), ys, reverse=True,
                name="backward filter")


def _hmm_params(S, n):
    return (Param(Real(S), "p", uniform_rows), Param(Real(S, S), "K", uniform_rows),
            Param(Real(S, n), "E", uniform_rows))


def _hmm_sizes(S, n, who):
    return whole(S, f"{who}: S (the states)", 1), whole(n, f"{who}: n (the symbols)", 1)


def hmm_log_likelihood(S: int, n: int) -> Para:
    """log p(y) of the hidden Markov chain x₀ ~ p, x_{t+1} ~ K[x_t, ·], y_t ~ E[x_t, ·]
    (S states, n symbols; the symbols a sequence of numbers, NaN missing): the backward
    filter over normalised messages (§6), a reverse loop."""
    S, n = _hmm_sizes(S, n, "hmm_log_likelihood")
    loop = _hmm_backward(S, n, messages=False)

    @function(Real(S) @ Real(S, S) @ Real(S, n) @ Seq(Real()), Real())
    def logp(p, K, E, ys):
        c, h = loop(K, E, Constant(0.0, Real())(), Constant(1.0, Real(S))(), ys)
        return discrete_evidence(S)(p, c, h)
    return Para(_hmm_params(S, n), logp)


def hmm_smoother(S: int, n: int) -> Para:
    """The smoothed marginals of the hidden Markov chain: Seq(y) ↦ Seq(γ) ⊗ log p(y),
    γ_t(x) = p(x_t = x | y). Guiding (a forward loop) pushes the root's guided law
    p ⊙ h₀ through the guided transitions K[x, x′] h(x′) / (Kh)(x) (§6)."""
    S, n = _hmm_sizes(S, n, "hmm_smoother")
    backward = _hmm_backward(S, n, messages=True)
    x = Real(S)

    def normalise(u):
        return u * Spread(x)(Reciprocal(Real())(Sum(x)(u)))

    @function(Real(S, S) @ x @ x, x @ x)
    def guiding(K, gamma, h):
        weights = gamma * Spread(x)(Reciprocal(Real())(Sum(x)(gamma)))     # γ_t, exact
        ratio = weights * Reciprocal(x)(K @ h)
        return h * (ratio @ K), weights
    forward = Loop(guiding, Real(S, S), x, x, x, name="guiding")

    @function(x @ Real(S, S) @ Real(S, n) @ Seq(Real()), Seq(x) @ Real())
    def smoothed(p, K, E, ys):
        c, h, hs = backward(K, E, Constant(0.0, Real())(), Constant(1.0, x)(), ys)
        logp = discrete_evidence(S)(p, c, h)
        _, gammas = forward(K, normalise(p * h), hs)
        return gammas, logp
    return Para(_hmm_params(S, n), smoothed)
