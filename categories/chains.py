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
| ``hmm_filter(S, n)`` | Seq(y) → Seq(α) ⊗ Real() | the filtered laws α_t = p(x_t \\| y_{0:t}) and log p(y) |
| ``hmm_smoother(S, n)`` | Seq(y) → Seq(γ) ⊗ Real() | the smoothed marginals γ_t = p(x_t \\| y) and log p(y) |
| ``hmm_backward_filter(S, n)`` | Seq(y_{0:T−1}) ⊗ y_{T−1} → Real() ⊗ ĥ₀ ⊗ Seq(ĥ) | the backward filter's messages, read over another semiring for the most probable path (``interpreters.semiring``) |

The Gaussian models' parameters are named ``m0, P0, A, beta, Q, L, b, R``; a
name in ``varying`` is given per step instead, as an input sequence after y, in
the order ``varying`` names them (a transition's at step t moves x_t to x_{t+1};
the last step's is not used). The HMM's are ``p, K, E``. Covariances and stochastic matrices are
taken as given: to fit them, reparametrise (``Para.reparametrise``) by maps
that cannot leave their domain (a log-variance, a softmax), as
``local_level_likelihood`` does.

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
    _pulled, discrete, discrete_evidence, discrete_fuse, discrete_pullback, emission, evidence,
    fuse, gaussian, guide, leaf)
from .para import Para, Param, zeros
from .linalg import Eye
from .smooth import Constant, Exp, Log, Reciprocal, Spread, Sum
from .stateful import Loop
from .structural import zero
from .syntax import function

__all__ = ["log_likelihood", "kalman_filter", "smoother", "backward_messages",
           "local_level_likelihood", "hmm_log_likelihood", "hmm_filter", "hmm_smoother",
           "hmm_backward_filter", "of_chain", "of_hidden_markov", "identity", "uniform_rows",
           "check_constraints", "CONSTRAINTS", "GAUSSIAN_PARAMETERS"]

#: the parameters of the linear-Gaussian chain, in their order on the wires
GAUSSIAN_PARAMETERS = ("m0", "P0", "A", "beta", "Q", "L", "b", "R")
_TRANSITION = ("A", "beta", "Q")
_OBSERVATION = ("L", "b", "R")


#: the domain of each constrained parameter: where the model means what it says
CONSTRAINTS = {"P0": "covariance", "Q": "covariance", "R": "positive definite",
               "p": "stochastic", "K": "stochastic", "E": "stochastic"}


def _constrained(para: Para) -> Para:
    """``para`` with ``constraints``: the domain of each of its parameters that has one
    (``CONSTRAINTS``), which ``interpreters.likelihood`` checks at every call and step.
    A reparametrised model (``local_level_likelihood``) has its own parameters, free."""
    para.constraints = {n: CONSTRAINTS[n] for n in para.names if n in CONSTRAINTS}
    return para


def check_constraints(para, values, where: str = "") -> None:
    """Refuse parameter values outside their domain (``para.constraints``), naming the
    parameter, what is wrong, and ``where``: a covariance must be symmetric positive
    semi-definite (R positive definite), a stochastic vector or matrix nonnegative with
    rows summing to one.

    >>> check_constraints(log_likelihood(1, 1), {"Q": [[-1.0]]})
    Traceback (most recent call last):
    ...
    ValueError: parameter Q is not a covariance: its least eigenvalue is -1
    """
    for name, kind in getattr(para, "constraints", {}).items():
        if name not in values:
            continue
        v = np.asarray(values[name], dtype=float)
        problem = None
        if kind in ("covariance", "positive definite"):
            scale = max(1.0, float(np.abs(v).max())) if v.size else 1.0
            if not np.allclose(v, np.swapaxes(v, -1, -2), rtol=1e-10, atol=1e-12 * scale):
                problem = "not symmetric"
            else:
                least = float(np.linalg.eigvalsh(0.5 * (v + np.swapaxes(v, -1, -2))).min())
                if least < -1e-10 * scale or (kind == "positive definite" and least <= 0):
                    problem = f"its least eigenvalue is {least:.3g}"
        elif kind == "stochastic":
            if np.any(v < 0) or not np.allclose(v.sum(axis=-1), 1.0, atol=1e-8):
                problem = (f"entries must be ≥ 0 and each row sum to 1 (row sums "
                           f"{np.round(v.sum(axis=-1), 6).ravel().tolist()[:5]})")
        if problem:
            what = "positive definite" if kind == "positive definite" else f"a {kind}" \
                if kind == "covariance" else "stochastic"
            raise ValueError(f"parameter {name}{where} is not {what}: {problem}")


def identity(rng, shape):
    """Initialise a matrix as the identity (the rows and columns it has).

    >>> identity(None, (2, 3)).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    return np.eye(*shape)


def uniform_rows(rng, shape):
    """Initialise a stochastic vector or matrix as uniform (each row sums to one).

    >>> uniform_rows(None, (2, 4))[0].tolist()
    [0.25, 0.25, 0.25, 0.25]
    """
    return np.full(shape, 1.0 / shape[-1])


def _types(d: int, k: int) -> dict:
    return {"m0": Real(d), "P0": Real(d, d), "A": Real(d, d), "beta": Real(d),
            "Q": Real(d, d), "L": Real(k, d), "b": Real(k), "R": Real(k, k)}


_INIT = {"m0": zeros, "P0": identity, "A": identity, "beta": zeros, "Q": identity,
         "L": identity, "b": zeros, "R": identity}


def _sizes(d, k, who):
    return whole(d, f"{who}: d (the state's size)", 1), whole(k, f"{who}: k (an observation's size)", 1)


def _varying(varying, who) -> tuple:
    """The names given per step, in the order given (the order of their sequences after
    y); a string is one name."""
    varying = (varying, ) if isinstance(varying, str) else tuple(varying)
    wrong = [v for v in varying if v not in _TRANSITION + _OBSERVATION]
    if wrong:
        raise ValueError(f"{who}: varying names the parameters given per step, among "
                         f"{', '.join(_TRANSITION + _OBSERVATION)}; got {wrong[0]!r}")
    twice = [v for v in set(varying) if varying.count(v) > 1]
    if twice:
        raise ValueError(f"{who}: varying names {twice[0]!r} twice")
    return varying


class _Layout:
    """Where each Gaussian parameter is read: a parameter wire (constant over time) or a
    per-step input; the loop's constants and per-step inputs in their order."""

    def __init__(self, d, k, varying):
        types = _types(d, k)
        self.d, self.k, self.types = d, k, types
        self.varying = varying
        self.fixed = tuple(n for n in GAUSSIAN_PARAMETERS if n not in varying)
        self.params = tuple(Param(types[n], n, _INIT[n]) for n in self.fixed)
        self.consts = tuple(n for n in _TRANSITION + _OBSERVATION if n not in varying)
        self.steps = varying
        self.C = Ty().tensor(*(types[n] for n in self.consts))
        self.X = Real(k) @ Ty().tensor(*(types[n] for n in self.steps))
        self.inputs = Seq(self.X)

    def read(self, fixed, names):
        """The parameter wires of ``names``, from all of them (``fixed``)."""
        table = dict(zip(self.fixed, fixed))
        return [table[n] for n in names]


def _backward_loop(layout, messages=None) -> Loop:
    """The reverse loop whose state is the message on x_{t+1}: pulled back through the
    transition at step t, fused with the leaf y_t. ``messages``: each step also outputs
    the message it was given, on x_{t+1}: ``"message"`` its F and H (for guided
    samples), ``"gain"`` its F and guiding's gain G = (I + QH)⁻¹, the transpose of the
    M⁻¹ the pullback formed (so guiding solves nothing)."""
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
        c_new, G, Hh, inverse = _pulled(d, beta, Q, c, F, H)
        pulled = c_new, A.T @ G, A.T @ (Hh @ A)
        fused = fuse(d)(*pulled, *leaf(k, d)(L, b, R, y))
        given = {None: (), "message": (F, H), "gain": (F, inverse.T)}[messages]
        return fused + given
    return Loop(stage, layout.C, g, layout.X, ys, reverse=True, name="backward filter")


def log_likelihood(d: int, k: int, varying=()) -> Para:
    """log p(y) of the linear-Gaussian chain (the module's docstring): a Para map from the
    observations Seq(Real(k)) (then the ``varying`` parameters' sequences) to Real(),
    one number per series: the backward filter, a reverse loop, then the evidence at
    the prior root.

    >>> log_likelihood(2, 1, varying=("A", )).dom        # y, then A per step
    Seq(Real(1)) @ Seq(Real(2, 2))
    """
    d, k = _sizes(d, k, "log_likelihood")
    layout = _Layout(d, k, _varying(varying, "log_likelihood"))
    loop = _backward_loop(layout)
    P = Ty().tensor(*(p.ty for p in layout.params))

    @function(P @ layout.inputs, Real())
    def logp(*wires):
        fixed, seqs = wires[:len(layout.params)], wires[len(layout.params):]
        consts = layout.read(fixed, layout.consts)
        state = zero(gaussian(d))()
        c, F, H = loop(*consts, *state, *seqs)
        m0, P0 = layout.read(fixed, ("m0", "P0"))
        return evidence(d)(m0, P0, c, F, H)
    return _constrained(Para(layout.params, logp))


def backward_messages(d: int, k: int, varying=()) -> Para:
    """The backward filter of the linear-Gaussian chain with its messages: Seq(y) (then the
    ``varying`` sequences) ↦ log p(y) ⊗ F₀ ⊗ H₀ ⊗ Seq(F) ⊗ Seq(H), (F₀, H₀) the fused
    message on x₀ and (F, H) at step t the one on x_{t+1} (0 at the last step): what
    guiding reads (guided samples: ``interpreters.bffg.sample_chain``).

    >>> backward_messages(2, 1).cod
    Real() @ Real(2) @ Real(2, 2) @ Seq(Real(2)) @ Seq(Real(2, 2))
    """
    d, k = _sizes(d, k, "backward_messages")
    layout = _Layout(d, k, _varying(varying, "backward_messages"))
    loop = _backward_loop(layout, messages="message")
    P = Ty().tensor(*(p.ty for p in layout.params))

    @function(P @ layout.inputs, Real() @ Real(d) @ Real(d, d) @ Seq(Real(d) @ Real(d, d)))
    def messages(*wires):
        fixed, seqs = wires[:len(layout.params)], wires[len(layout.params):]
        consts = layout.read(fixed, layout.consts)
        c, F, H, Fs, Hs = loop(*consts, *zero(gaussian(d))(), *seqs)
        m0, P0 = layout.read(fixed, ("m0", "P0"))
        return evidence(d)(m0, P0, c, F, H), F, H, Fs, Hs
    return _constrained(Para(layout.params, messages))


def smoother(d: int, k: int, varying=()) -> Para:
    """The smoothed moments of the linear-Gaussian chain: Seq(y) (then the ``varying``
    sequences) ↦ Seq(m) ⊗ Seq(P) ⊗ Seq(C) ⊗ log p(y), m_t, P_t the mean and covariance
    of p(x_t | y) and C_t = Cov(x_t, x_{t+1} | y) (at the last step, with the state
    x_T after the data). The backward
    filter (a reverse loop) leaves the message on each x_{t+1}; guiding (a forward loop)
    pushes the root's guided marginal through the guided transitions (§9.2):
    m_{t+1} = G(A m_t + β + QF), P_{t+1} = G A P_t Aᵀ Gᵀ + GQ, G = (I + QH)⁻¹.

    >>> smoother(2, 1).cod
    Seq(Real(2)) @ Seq(Real(2, 2)) @ Seq(Real(2, 2)) @ Real()
    """
    d, k = _sizes(d, k, "smoother")
    layout = _Layout(d, k, _varying(varying, "smoother"))
    backward = _backward_loop(layout, messages="gain")
    # the guiding loop: constants (A, β, Q) not varying; per step F on x_{t+1} and the
    # gain G, then the varying transition parameters
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
        m, Pm, F, G = wires[nC:nC + 4]                  # G = (I + QH)⁻¹
        named.update(zip(trans_steps, wires[nC + 4:]))
        A, beta, Q = (named[n] for n in _TRANSITION)
        GA = G @ A
        mean = GA @ m + G @ (beta + Q @ F)
        lag = Pm @ GA.T
        cov = GA @ lag + G @ Q
        cov = 0.5 * (cov + cov.T)
        return mean, cov, m, Pm, lag
    forward = Loop(guiding, GC, state, GX, out, name="guiding")
    P = Ty().tensor(*(p.ty for p in layout.params))
    n_steps = len(layout.steps)

    @function(P @ layout.inputs, Seq(out) @ Real())
    def smoothed(*wires):
        fixed, seqs = wires[:len(layout.params)], wires[len(layout.params):]
        consts = layout.read(fixed, layout.consts)
        c, F, H, Fs, Gs = backward(*consts, *zero(gaussian(d))(), *seqs)
        m0, P0 = layout.read(fixed, ("m0", "P0"))
        logp = evidence(d)(m0, P0, c, F, H)
        mean0, cov0 = guide(d)(m0, P0, F, H)
        steps = dict(zip(layout.steps, seqs[1:1 + n_steps]))
        g_consts = layout.read(fixed, trans_consts)
        g_steps = [steps[n] for n in trans_steps]
        _, _, ms, Ps, Cs = forward(*g_consts, mean0, cov0, Fs, Gs, *g_steps)
        return ms, Ps, Cs, logp
    return _constrained(Para(layout.params, smoothed))


def kalman_filter(d: int, k: int, varying=()) -> Para:
    """The forward filter of the linear-Gaussian chain: Seq(y) (then the ``varying``
    sequences) ↦ Seq(m) ⊗ Seq(P) ⊗ log p(y), m_t, P_t the mean and covariance of
    p(x_t | y_0 … y_t). A forward loop whose state is the predicted N(m⁻, P⁻): each
    step guides it by the leaf y_t (the update, ``guide``), adds the leaf's evidence
    under it to log p(y), and pushes the update through the transition (the
    prediction).

    >>> kalman_filter(2, 1).cod
    Seq(Real(2)) @ Seq(Real(2, 2)) @ Real()
    """
    d, k = _sizes(d, k, "kalman_filter")
    layout = _Layout(d, k, _varying(varying, "kalman_filter"))
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
        consts = layout.read(fixed, layout.consts)
        m0, P0 = layout.read(fixed, ("m0", "P0"))
        _, _, ms, Ps, logp = loop(*consts, m0, P0, *seqs)
        return ms, Ps, logp
    return _constrained(Para(layout.params, filtered))


def local_level_likelihood(m0: float, P0: float = 1e7, diffuse: bool = False) -> Para:
    """The local-level model (random walk plus noise; Durbin & Koopman ch. 2) as log p(y),
    parametrised by log-variances so that no gradient step leaves the domain:
    ``log_level_variance`` (the walk's, σ²η = exp) and ``log_noise_variance`` (σ²ε), the
    first level x₀ ~ N(m0, P0) fixed (nearly diffuse by default).

    ``diffuse=True`` gives Durbin & Koopman's diffuse log-likelihood exactly: m0 is then
    the first observation y₀ and the data are the observations after it. Under a
    diffuse prior the level after seeing y₀ is N(y₀, σ²ε), so the next one is
    N(y₀, σ²ε + σ²η): that is the prior (P0 is not used), and the model's value is
    log p(y₁, … | y₀), which D&K maximise (−632.54 on the Nile at the MLE).

    >>> local_level_likelihood(1120.0).names
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
        first = variance(log_level) + variance(log_noise) if diffuse else \
            float(P0) * Eye(1)()
        return (Constant(float(m0), Real(1))(), first, eye,
                Constant(0.0, Real(1))(), variance(log_level), Eye(1)(),
                Constant(0.0, Real(1))(), variance(log_noise))
    return inner.reparametrise((level, noise), alpha)


# -- hidden Markov chains ---------------------------------------------------------------------

def _hmm_backward(S, n) -> Loop:
    """The HMM's backward filter: a reverse loop whose state is the message (c, ĥ) on
    x_{t+1}, pulled back through K and fused with the leaf y_t; each step also outputs the
    ĥ it was given, for guiding."""
    g = discrete(S)

    @function(Real(S, S) @ Real(S, n) @ g @ Real(), g @ Real(S))
    def stage(K, E, c, h, y):
        pulled = discrete_pullback(S)(K, c, h)
        return discrete_fuse(S)(*pulled, *emission(S, n)(E, y)) + (h, )
    return Loop(stage, Real(S, S) @ Real(S, n), g, Real(), Real(S), reverse=True,
                name="backward filter")


def _hmm_params(S, n):
    return (Param(Real(S), "p", uniform_rows), Param(Real(S, S), "K", uniform_rows),
            Param(Real(S, n), "E", uniform_rows))


def _hmm_sizes(S, n, who):
    return whole(S, f"{who}: S (the states)", 1), whole(n, f"{who}: n (the symbols)", 1)


def _hmm_forward(S, n, smoothing: bool) -> Loop:
    """The forward filter's loop: its state the predicted law π_t (π₀ = p), each step the
    filtered α_t ∝ e_t ⊙ π_t (e_t the emission's message), log p(y_t | y_{<t}) summed
    over the steps, and π_{t+1} = α_t K. ``smoothing``: each step also reads the
    backward message β_t and gives γ_t ∝ α_t ⊙ β_t instead of α_t."""
    x = Real(S)
    betas = x if smoothing else Ty()

    def normalise(u):
        return u * Spread(x)(Reciprocal(Real())(Sum(x)(u)))

    @function(Real(S, S) @ Real(S, n) @ x @ Real() @ betas, x @ x @ Real())
    def stage(K, E, predicted, y, *beta):
        c, e = emission(S, n)(E, y)
        u = e * predicted
        total = Sum(x)(u)
        filtered = u * Spread(x)(Reciprocal(Real())(total))
        shown = normalise(filtered * beta[0]) if smoothing else filtered
        return filtered @ K, shown, c + Log(Real())(total)
    return Loop(stage, Real(S, S) @ Real(S, n), x, Real() @ betas, x, Real(),
                name="forward filter")


def hmm_log_likelihood(S: int, n: int) -> Para:
    """log p(y) of the hidden Markov chain x₀ ~ p, x_{t+1} ~ K[x_t, ·], y_t ~ E[x_t, ·]
    (S states, n symbols; the symbols a sequence of numbers, NaN missing): the forward
    filter (a loop; ``hmm_filter``), its one-step log-likelihoods summed. It is the
    polynomial Σ_x p(x₀) Π K Π E exactly, also off stochastic matrices, so its gradient
    in K and E is Baum–Welch's (K ⊙ ∂log p/∂K: the expected transition counts).

    >>> import numpy as np
    >>> from paralens.interpreters.numpy import compile
    >>> model = hmm_log_likelihood(2, 2)
    >>> p, K, E = [0.5, 0.5], [[0.9, 0.1], [0.1, 0.9]], [[1.0, 0.0], [0.0, 1.0]]
    >>> logp = compile(model.diagram)(np.array(p), np.array(K), np.array(E),
    ...                               np.array([[0.0, 0.0]]))
    >>> bool(np.isclose(logp[0], np.log(0.5 * 0.9)))       # x = (0, 0): p · K · E
    True
    """
    S, n = _hmm_sizes(S, n, "hmm_log_likelihood")
    loop = _hmm_forward(S, n, smoothing=False)

    @function(Real(S) @ Real(S, S) @ Real(S, n) @ Seq(Real()), Real())
    def logp(p, K, E, ys):
        return loop(K, E, p, ys)[2]
    return _constrained(Para(_hmm_params(S, n), logp))


def hmm_filter(S: int, n: int) -> Para:
    """The forward filter of the hidden Markov chain: Seq(y) ↦ Seq(α) ⊗ log p(y),
    α_t(x) = p(x_t = x | y_0 … y_t).

    >>> hmm_filter(2, 3).cod
    Seq(Real(2)) @ Real()
    """
    S, n = _hmm_sizes(S, n, "hmm_filter")
    loop = _hmm_forward(S, n, smoothing=False)

    @function(Real(S) @ Real(S, S) @ Real(S, n) @ Seq(Real()), Seq(Real(S)) @ Real())
    def filtered(p, K, E, ys):
        _, alphas, logp = loop(K, E, p, ys)
        return alphas, logp
    return _constrained(Para(_hmm_params(S, n), filtered))


def hmm_smoother(S: int, n: int) -> Para:
    """The smoothed marginals of the hidden Markov chain: Seq(y) ↦ Seq(γ) ⊗ log p(y),
    γ_t(x) = p(x_t = x | y). The backward filter (a reverse loop) leaves at each step
    the message β_t = Kĥ_{t+1} the future puts on x_t; the forward filter (a forward
    loop) gives γ_t ∝ α_t ⊙ β_t and log p(y). Nothing is divided but by a sum, which is
    0 only when the symbols are impossible, so structural zeros of K and E are exact.

    >>> hmm_smoother(3, 4).cod
    Seq(Real(3)) @ Real()
    """
    S, n = _hmm_sizes(S, n, "hmm_smoother")
    x = Real(S)

    @function(Real(S, S) @ Real(S, n) @ x @ Real(), x @ x)
    def backward_stage(K, E, h, y):       # the message's scale is not needed: no log-scale
        beta = K @ h
        u = beta * emission(S, n)(E, y)[1]
        return u * Spread(x)(Reciprocal(Real())(Sum(x)(u))), beta
    backward = Loop(backward_stage, Real(S, S) @ Real(S, n), x, Real(), x, reverse=True,
                    name="backward filter")
    forward = _hmm_forward(S, n, smoothing=True)

    @function(x @ Real(S, S) @ Real(S, n) @ Seq(Real()), Seq(x) @ Real())
    def smoothed(p, K, E, ys):
        _, betas = backward(K, E, Constant(1.0, x)(), ys)
        _, gammas, logp = forward(K, E, p, ys, betas)
        return gammas, logp
    return _constrained(Para(_hmm_params(S, n), smoothed))


# -- the kernel boxes of ``categories.kernels``, read as these models --------------------------

def of_chain(box, model=None):
    """A ``Chain`` box (``markov.state_space``, ``markov.local_level``) read as a model of
    this module, its parameters and its data: ``(para, params, data)`` such that
    ``compile(para.diagram)(*params.values(), *data)`` runs it. ``model`` is one of
    ``log_likelihood``, ``kalman_filter`` or ``smoother`` (the default); a parameter
    the box gives per step is ``varying``. The data are one series (batch 1).

    >>> import numpy as np
    >>> from paralens.categories.markov import local_level
    >>> para, params, data = of_chain(local_level([1.0, np.nan], 1.0, 2.0))
    >>> para.names, data[0].shape
    (('m0', 'P0', 'A', 'beta', 'Q', 'L', 'b', 'R'), (1, 2, 1))
    """
    from .kernels import Chain
    if not isinstance(box, Chain):
        raise TypeError(f"of_chain reads a Chain box (markov.state_space, markov.local_level), "
                        f"got {type(box).__name__}")
    model = smoother if model is None else model
    per_step = {n: getattr(box, n) for n in _TRANSITION + _OBSERVATION}
    varying = tuple(n for n, v in per_step.items() if v.strides[0] != 0 and len(v) > 1)
    para = model(box.d, box.k, varying=varying)
    params = para.parameters({"m0": box.prior.m, "P0": box.prior.P,
                              **{n: v[0] for n, v in per_step.items() if n not in varying}})
    data = [box.ys[None]] + [np.asarray(per_step[n])[None] for n in varying]
    return para, params, data


def of_hidden_markov(box, model=None):
    """A ``HiddenMarkov`` box (``markov.hidden_markov``) read as ``hmm_smoother`` (or
    ``model``, e.g. ``hmm_log_likelihood``), its parameters and its data (the symbols as
    numbers, NaN missing, one series): ``(para, params, data)``.

    >>> from paralens.categories.markov import hidden_markov
    >>> para, params, (symbols, ) = of_hidden_markov(hidden_markov([1.0, 0.0], np.eye(2),
    ...                                                             np.eye(2), [0, None]))
    >>> para.names, symbols.tolist()
    (('p', 'K', 'E'), [[0.0, nan]])
    """
    from .kernels import HiddenMarkov
    if not isinstance(box, HiddenMarkov):
        raise TypeError(f"of_hidden_markov reads a HiddenMarkov box (markov.hidden_markov), "
                        f"got {type(box).__name__}")
    para = (hmm_smoother if model is None else model)(box.states, box.E.shape[1])
    params = para.parameters({"p": box.p, "K": box.K, "E": box.E})
    symbols = np.where(box.ys < 0, np.nan, box.ys.astype(float))
    return para, params, [symbols[None]]


# -- the backward filter with its messages, for any semiring ----------------------------------

def hmm_backward_filter(S: int, n: int) -> Para:
    """The backward filter of the hidden Markov chain with its messages, started at the
    last symbol's leaf: Seq(y_0 … y_{T−2}) ⊗ y_{T−1} ↦ the root's value ⊗ ĥ₀ ⊗ Seq(ĥ),
    ĥ₀ the message on x₀ and ĥ at step t the one on x_{t+1} (normalised). Over (+, ×)
    the root's value is log p(y), ``hmm_log_likelihood``'s; over (max, ×)
    (``interpreters.semiring.MAX_PRODUCT``) it is log max_x p(x, y) and the messages
    guide the arg-max (``interpreters.semiring.most_probable_path``).

    ``hmm_log_likelihood`` starts at the message 1 on a state x_T after the data, which
    the pullback through K leaves 1 over (+, ×) (the rows of K sum to one) but makes
    max_x′ K[x, x′] over (max, ×): a last move to a state no symbol sees. Started at the
    leaf of y_{T−1}, the diagram is the chain x₀ … x_{T−1} in every semiring.

    >>> hmm_backward_filter(2, 3).diagram.cod
    Real() @ Real(2) @ Seq(Real(2))
    """
    S, n = _hmm_sizes(S, n, "hmm_backward_filter")
    backward = _hmm_backward(S, n)
    x = Real(S)

    @function(x @ Real(S, S) @ Real(S, n) @ Seq(Real()) @ Real(), Real() @ x @ Seq(x))
    def filtered(p, K, E, ys, last):
        c, h, hs = backward(K, E, *emission(S, n)(E, last), ys)
        return discrete_evidence(S)(p, c, h), h, hs
    return _constrained(Para(_hmm_params(S, n), filtered))


