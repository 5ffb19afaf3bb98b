"""Backward Filtering Forward Guiding: smoothing on diagrams of Markov kernels.

The interpreter reads a kernel diagram (``categories.kernels``) as an optic:

* **backward filter** (first): messages are pulled back from the observation
  leaves to the root, box by box, and fused where a wire is copied (read by
  several boxes); each box keeps its residual: the message on its output and
  the one it pulled back. At the root, log p(y).
* **forward guiding** (second): from the root, each kernel is replaced by its
  Doob h-transform under the message on its output (the guided kernel), which
  gives the exact smoothing marginals (means, covariances, the covariance of
  each edge's two ends) or guided samples with per-edge log-weights.

Messages are h(x) = exp(c + Fᵀx − ½ xᵀHx), stored as (c, F, H) with c the raw
constant log h(0) and H possibly singular (never inverted; nor is Q), and on
finite state spaces normalised vectors with a log-scale (``reference/bffg.md``
§2, §3, §6). The rules are two rule tables keyed by kernel name:
``PULLBACK`` (the backward pass) and ``GUIDE`` (the forward pass).

>>> import numpy as np
>>> from paralens.categories.kernels import Prior, Observe
>>> model = Prior([0.0], [[1.0]]) >> Observe([[1.0]], [0.0], [[1.0]], [0.5])
>>> filtered = backward_filter(model)
>>> bool(np.isclose(filtered.log_evidence, -0.5 * np.log(2 * np.pi * 2) - 0.5 ** 2 / 4))
True
>>> [round(float(m), 6) for m in filtered.marginals()[0][0]]    # E[x | y] = y / 2
[0.25]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..categories.adapter import equations
from .plan import RuleTable, kind_of

__all__ = ["Gaussian", "Discrete", "backward_filter", "Filtered", "PULLBACK", "GUIDE", "SAMPLE",
           "smooth_chain", "smooth_hmm", "pullback", "guided_kernel", "log_pullback"]

LOG_2PI = float(np.log(2 * np.pi))


# -- messages ------------------------------------------------------------------------------

@dataclass
class Gaussian:
    """h(x) = exp(c + Fᵀx − ½ xᵀHx) on R^d."""

    c: float
    F: np.ndarray
    H: np.ndarray

    @classmethod
    def one(cls, d: int) -> "Gaussian":
        """h ≡ 1: nothing observed downstream."""
        return cls(0.0, np.zeros(d), np.zeros((d, d)))

    def fuse(self, other: "Gaussian") -> "Gaussian":
        return Gaussian(self.c + other.c, self.F + other.F, self.H + other.H)

    def log(self, x) -> float:
        x = np.asarray(x, dtype=float)
        return float(self.c + self.F @ x - 0.5 * x @ self.H @ x)


@dataclass
class Discrete:
    """h = exp(c) ĥ on a finite state space, ĥ summing to one."""

    c: float
    h: np.ndarray

    @classmethod
    def one(cls, n: int) -> "Discrete":
        return cls(float(np.log(n)), np.full(n, 1.0 / n))

    @classmethod
    def of(cls, c: float, u: np.ndarray) -> "Discrete":
        total = u.sum()
        if not total > 0:
            raise ValueError("the observations are impossible under the model (the message is 0)")
        return cls(c + float(np.log(total)), u / total)

    def fuse(self, other: "Discrete") -> "Discrete":
        return Discrete.of(self.c + other.c, self.h * other.h)

    def log(self, x) -> float:
        return float(self.c + np.log(self.h[int(x)]))


def _one(wire):
    return Discrete.one(wire.shape[0]) if wire.kind == "Finite" else Gaussian.one(wire.shape[0])


# -- the linear-Gaussian rules (reference §3) ------------------------------------------------

def pullback(A, beta, Q, message: Gaussian) -> Gaussian:
    """The message pulled back through x′ ~ N(Ax + β, Q): with M = I + HQ, Ĥ = M⁻¹H,
    F̂ = M⁻¹F: H⁻ = AᵀĤA, F⁻ = Aᵀ(F̂ − Ĥβ), c⁻ = c − ½ log det M + ½ FᵀQF̂ + βᵀF̂ − ½ βᵀĤβ."""
    c, F, H = message.c, message.F, message.H
    d = len(F)
    M = np.eye(d) + H @ Q
    solved = np.linalg.solve(M, np.column_stack([H, F])) if d else np.zeros((0, 1))
    Hh, Fh = solved[:, :d], solved[:, d]
    Hh = 0.5 * (Hh + Hh.T)
    Hb = Hh @ beta
    _, logdet = np.linalg.slogdet(M) if d else (1.0, 0.0)
    c2 = c - 0.5 * logdet + 0.5 * F @ (Q @ Fh) + beta @ Fh - 0.5 * beta @ Hb
    return Gaussian(float(c2), A.T @ (Fh - Hb), A.T @ Hh @ A)


def log_pullback(mean, Q, message: Gaussian) -> float:
    """ℓ(μ, Q) = log ∫ N(x′; μ, Q) h(x′) dx′, the true kernel's pullback at one point."""
    d = len(message.F)
    return pullback(np.zeros((d, 0)), np.asarray(mean, dtype=float), Q, message).c


def guided_kernel(mean, Q, message: Gaussian):
    """The Doob h-transform of N(μ, Q) under h: N(G(μ + QF), GQ), G = (I + QH)⁻¹."""
    d = len(message.F)
    G = np.linalg.solve(np.eye(d) + Q @ message.H, np.eye(d))
    cov = G @ Q
    return G @ (mean + Q @ message.F), 0.5 * (cov + cov.T), G


def _observation(box) -> Gaussian:
    """The leaf y ~ N(Lx + b, R): H = LᵀR⁻¹L, F = LᵀR⁻¹(y − b), c = −½ rᵀR⁻¹r − ½ log det 2πR,
    over the observed entries of y only (none observed: h ≡ 1)."""
    seen = ~np.isnan(box.y)
    d = box.L.shape[1]
    if not seen.any():
        return Gaussian.one(d)
    L, r, R = box.L[seen], (box.y - box.b)[seen], box.R[np.ix_(seen, seen)]
    chol = np.linalg.cholesky(R)
    whitened_L = np.linalg.solve(chol, L)
    whitened_r = np.linalg.solve(chol, r)
    c = -0.5 * whitened_r @ whitened_r - 0.5 * len(r) * LOG_2PI - np.log(np.diag(chol)).sum()
    return Gaussian(float(c), whitened_L.T @ whitened_r, whitened_L.T @ whitened_L)


# -- the rule tables ---------------------------------------------------------------------------
# PULLBACK: kernel ↦ (box, messages on its outputs) ↦ (messages on its inputs, log evidence)
# GUIDE: kernel ↦ (box, residual, parent marginals) ↦ (child marginals, edge covariances)

def _pull_gaussian(box, outs):
    return [pullback(box.A, box.beta, box.Q, outs[0])], 0.0


def _pull_prior(box, outs):
    evidence = pullback(np.zeros((len(box.m), 0)), box.m, box.P, outs[0]).c
    return [], evidence


def _pull_stochastic(box, outs):
    message = outs[0]
    return [Discrete.of(message.c, box.K @ message.h)], 0.0


def _pull_categorical(box, outs):
    message = outs[0]
    return [], message.c + float(np.log(box.p @ message.h))


def _pull_emit(box, outs):
    n = box.E.shape[0]
    return [Discrete.one(n) if box.y is None else Discrete.of(0.0, box.E[:, box.y].copy())], 0.0


def _pull_transition(box, outs):
    aux = box.auxiliary
    return [pullback(aux.A, aux.beta, aux.Q, outs[0])], 0.0


PULLBACK = RuleTable("BFFG pullbacks", {
    "Gaussian": _pull_gaussian,
    "Prior": _pull_prior,
    "Observe": lambda box, outs: ([_observation(box)], 0.0),
    "Stochastic": _pull_stochastic,
    "Categorical": _pull_categorical,
    "Emit": _pull_emit,
    "Transition": _pull_transition,
    "Chain": lambda box, outs: ([], _chain_backward(box)[0]),
    "HiddenMarkov": lambda box, outs: ([], _hmm_backward(box)[0]),
})


def _guide_gaussian(box, message, parents):
    m, P = parents[0]
    mean, cov, G = guided_kernel(box.A @ m + box.beta, box.Q, message)
    GA = G @ box.A
    spread = GA @ P @ GA.T
    return [(mean, 0.5 * (spread + spread.T) + cov)], P @ GA.T


def _guide_prior(box, message, parents):
    mean, cov, _ = guided_kernel(box.m, box.P, message)
    return [(mean, cov)], None


def _guide_stochastic(box, message, parents):
    (p, ) = parents
    joint = p[:, None] * box.K * message.h[None, :]
    rows = box.K @ message.h
    joint = np.divide(joint, rows[:, None], out=np.zeros_like(joint), where=rows[:, None] > 0)
    return [joint.sum(axis=0)], joint


def _guide_categorical(box, message, parents):
    p = box.p * message.h
    return [p / p.sum()], None


GUIDE = RuleTable("BFFG guides", {
    "Gaussian": _guide_gaussian,
    "Prior": _guide_prior,
    "Observe": lambda box, message, parents: ([], None),
    "Stochastic": _guide_stochastic,
    "Categorical": _guide_categorical,
    "Emit": lambda box, message, parents: ([], None),
})


# SAMPLE: kernel ↦ (box, message on its output, message it pulled back, parent values,
#                   rng) ↦ (child values, the edge's log-weight)

def _draw(rng, mean, cov):
    """One draw of N(mean, cov), cov ⪰ 0 possibly singular (its symmetric square root)."""
    values, vectors = np.linalg.eigh(cov)
    return mean + vectors @ (np.sqrt(np.clip(values, 0.0, None)) * rng.standard_normal(len(mean)))


def _sample_gaussian(box, message, pulled, parents, rng):
    (x, ) = parents
    mean, cov, _ = guided_kernel(box.A @ x + box.beta, box.Q, message)
    weight = log_pullback(box.A @ x + box.beta, box.Q, message) - pulled[0].log(x)
    return [_draw(rng, mean, cov)], weight


def _sample_transition(box, message, pulled, parents, rng):
    (x, ) = parents
    mu = np.asarray(box.f(x), dtype=float)
    mean, cov, _ = guided_kernel(mu, box.Q, message)
    return [_draw(rng, mean, cov)], log_pullback(mu, box.Q, message) - pulled[0].log(x)


def _sample_prior(box, message, pulled, parents, rng):
    mean, cov, _ = guided_kernel(box.m, box.P, message)
    return [_draw(rng, mean, cov)], 0.0


def _sample_stochastic(box, message, pulled, parents, rng):
    (x, ) = parents
    row = box.K[int(x)] * message.h
    total = row.sum()
    weight = float(np.log(total) + message.c) - pulled[0].log(x)
    return [int(rng.choice(len(row), p=row / total))], weight


def _sample_categorical(box, message, pulled, parents, rng):
    p = box.p * message.h
    return [int(rng.choice(len(p), p=p / p.sum()))], 0.0


SAMPLE = RuleTable("BFFG guided samples", {
    "Gaussian": _sample_gaussian,
    "Transition": _sample_transition,
    "Prior": _sample_prior,
    "Observe": lambda box, message, pulled, parents, rng: ([], 0.0),
    "Stochastic": _sample_stochastic,
    "Categorical": _sample_categorical,
    "Emit": lambda box, message, pulled, parents, rng: ([], 0.0),
})


# -- the interpreter on a diagram: backward, then forward ---------------------------------------

@dataclass
class Filtered:
    """The backward filter's result: log p(y), and per box its residual (the fused
    message on each output, the message pulled back on each input)."""

    log_evidence: float
    found: tuple
    residuals: list
    messages: dict = field(repr=False)     # value ↦ the fused message on it

    def marginals(self) -> list:
        """The exact smoothing marginals, in the order the diagram makes its wires:
        (mean, covariance) on R^d, probabilities on a finite space, one per wire."""
        marginal, order = {}, []
        for k, (box, ins, outs) in enumerate(self.found):
            name = kind_of(type(box))
            if name not in GUIDE:
                where = {"Chain": "smooth_chain", "HiddenMarkov": "smooth_hmm"}.get(name)
                hint = f": its marginals are those of {where}(box), over its steps" if where \
                    else ""
                raise NotImplementedError(f"BFFG: no guided marginals for {box.name} "
                                          f"({name}){hint}")
            rule = GUIDE[name]
            children, _ = rule(box, self.residuals[k][0][0] if outs else None,
                               [marginal[v] for v in ins])
            for v, m in zip(outs, children):
                marginal[v] = m
                order.append(v)
        return [marginal[v] for v in order]

    def sample(self, rng=None) -> tuple:
        """One guided sample: (the value of each wire, in the order the diagram makes
        them, the total log-weight Σ_e log w_e). Each edge's log-weight is log (κh)(x)
        for the true kernel minus the log of the message pulled back through its
        auxiliary, so it is 0 where the auxiliary is the truth; exp(log_evidence +
        log-weight) is an unbiased estimate of p(y)."""
        rng = np.random.default_rng(rng)
        value, order, total = {}, [], 0.0
        for k, (box, ins, outs) in enumerate(self.found):
            name = kind_of(type(box))
            if name not in SAMPLE:
                raise NotImplementedError(f"BFFG: no guided sampler for {box.name} ({name})")
            out_messages, pulled = self.residuals[k]
            children, weight = SAMPLE[name](box, out_messages[0] if outs else None, pulled,
                                            [value[v] for v in ins], rng)
            total += weight
            for v, x in zip(outs, children):
                value[v] = x
                order.append(v)
        return [value[v] for v in order], float(total)


def backward_filter(diagram) -> Filtered:
    """Pull the messages back through a closed kernel diagram I → I (leaves to root);
    an open output carries h ≡ 1 (unobserved)."""
    if len(diagram.dom):
        raise TypeError(f"backward_filter: the model must start from the unit (its priors "
                        f"inside), got a diagram from {diagram.dom!r}")
    found, outputs = equations(diagram)
    wires = {}
    for box, ins, outs in found:
        for v, w in zip(outs, box.cod.inside):
            wires[v] = w
    fused: dict = {}
    residuals = [None] * len(found)
    evidence = 0.0
    for k in range(len(found) - 1, -1, -1):
        box, ins, outs = found[k]
        name = kind_of(type(box))
        if name not in PULLBACK:
            raise NotImplementedError(f"BFFG: no pullback rule for {box.name} ({name}): "
                                      f"{box.dom!r} → {box.cod!r} is not a Markov kernel")
        out_messages = [fused.pop(v, None) or _one(wires[v]) for v in outs]
        pulled, log_evidence = PULLBACK[name](box, out_messages)
        residuals[k] = (out_messages, pulled)
        evidence += log_evidence
        for v, message in zip(ins, pulled):
            fused[v] = message if v not in fused else fused[v].fuse(message)
    return Filtered(float(evidence), found, residuals, fused)


# -- a chain: one stage iterated over time ---------------------------------------------------

def _leaves(box):
    """The observation messages of every step at once: (c, F, H) of shapes (T,), (T, d),
    (T, d, d); steps with missing entries are read one by one."""
    T, d, k = box.steps, box.d, box.k
    ys = box.ys
    seen = ~np.isnan(ys)
    full = seen.all(axis=1)
    c, F, H = np.zeros(T), np.zeros((T, d)), np.zeros((T, d, d))
    constant = box.L.strides[0] == 0 and box.b.strides[0] == 0 and box.R.strides[0] == 0
    if full.any() and constant:           # one observation model for every step
        idx = np.flatnonzero(full)
        chol = np.linalg.cholesky(box.R[0])
        L = np.linalg.solve(chol, box.L[0])
        r = np.linalg.solve(chol, (ys[idx] - box.b[0]).T).T
        c[idx] = -0.5 * (r * r).sum(axis=1) - 0.5 * k * LOG_2PI - np.log(np.diag(chol)).sum()
        F[idx] = r @ L
        H[idx] = L.T @ L
    elif full.any():
        idx = np.flatnonzero(full)
        chol = np.linalg.cholesky(box.R[idx])
        L = np.linalg.solve(chol, box.L[idx])
        r = np.linalg.solve(chol, (ys[idx] - box.b[idx])[..., None])[..., 0]
        c[idx] = -0.5 * (r * r).sum(axis=1) - 0.5 * k * LOG_2PI - np.log(
            np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        F[idx] = np.einsum("tkd,tk->td", L, r)
        H[idx] = np.matmul(np.swapaxes(L, 1, 2), L)
    for t in np.flatnonzero(~full & seen.any(axis=1)):
        from ..categories.kernels import Observe
        message = _observation(Observe(box.L[t], box.b[t], box.R[t], ys[t]))
        c[t], F[t], H[t] = message.c, message.F, message.H
    return c, F, H


def _chain_backward(box):
    """The backward filter of a chain: the fused message at every step, and log p(y).

    Each step inverts M = I + HQ (never H or Q: M's eigenvalues are those of I plus
    a product of two positive semi-definite matrices, all ≥ 1, so its inverse is well
    conditioned, and its transpose is the forward pass's G), applies it to [H | F]
    and moves both through the kernel
    as one product, Aᵀ [Ĥ | F̂] [[A, −β], [0, 1]] = [AᵀĤA | Aᵀ(F̂ − Ĥβ)]; the
    constants (log det M and the quadratic terms) are summed after the loop, in
    batched calls."""
    T, d = box.steps, box.d
    cl, Fl, Hl = _leaves(box)
    HFl = np.concatenate([Hl, Fl[..., None]], axis=2)          # (T, d, d + 1)
    HF = np.empty((T, d, d + 1))
    Ms, inverses = np.empty((max(T - 1, 0), d, d)), np.empty((max(T - 1, 0), d, d))
    solved = np.empty((max(T - 1, 0), d, d + 1))
    eye = np.eye(d)
    A, beta, Q = box.A, box.beta, box.Q
    constant = A.strides[0] == 0 and beta.strides[0] == 0 and Q.strides[0] == 0
    if T:
        HF[T - 1] = current = HFl[T - 1]
    if constant and T > 1:
        At, Qt = A[0].T.copy(), Q[0]
        moved = np.zeros((d + 1, d + 1))
        moved[:d, :d], moved[:d, d], moved[d, d] = A[0], -beta[0], 1.0
        for t in range(T - 2, -1, -1):
            M = eye + current[:, :d] @ Qt
            inverse = np.linalg.inv(M)
            s = inverse @ current
            Ms[t], inverses[t], solved[t] = M, inverse, s
            current = At @ s @ moved + HFl[t]
            HF[t] = current
    else:
        for t in range(T - 2, -1, -1):
            M = eye + current[:, :d] @ Q[t]
            inverse = np.linalg.inv(M)
            s = inverse @ current
            Ms[t], inverses[t], solved[t] = M, inverse, s
            moved = np.zeros((d + 1, d + 1))
            moved[:d, :d], moved[:d, d], moved[d, d] = A[t], -beta[t], 1.0
            current = A[t].T @ s @ moved + HFl[t]
            HF[t] = current
    Hs, Fs = HF[..., :d], HF[..., d]
    # c_t = c_{t+1} − ½ log det M + ½ F_{t+1}ᵀ Q F̂ + βᵀF̂ − ½ βᵀĤβ + c_leaf(t), summed
    if T > 1:
        Hh, Fh = solved[..., :d], solved[..., d]
        F_next = Fs[1:]
        Qs, bs = Q[:T - 1], beta[:T - 1]
        steps = (-0.5 * np.linalg.slogdet(Ms)[1]
                 + 0.5 * np.einsum("ti,tij,tj->t", F_next, Qs, Fh)
                 + np.einsum("ti,ti->t", bs, Fh)
                 - 0.5 * np.einsum("ti,tij,tj->t", bs, Hh, bs))
    else:
        steps = np.zeros(0)
    cs = np.cumsum(np.concatenate([cl[::-1][:1], (steps + cl[:T - 1])[::-1]]))[::-1] \
        if T else np.zeros(0)
    root = Gaussian(float(cs[0]), Fs[0], 0.5 * (Hs[0] + Hs[0].T)) if T else None
    evidence = pullback(np.zeros((d, 0)), box.prior.m, box.prior.P, root).c if T else 0.0
    return float(evidence), (cs, Fs, Hs, inverses)


def _hmm_backward(box):
    """The backward filter of a hidden Markov chain: normalised messages ĥ_t with their
    log-scales, and log p(y) = c₀ + log(p · ĥ₀)."""
    T, S = box.steps, box.states
    K, E, ys = box.K, box.E, box.ys
    hs, cs = np.empty((T, S)), np.empty(T)
    c, h = 0.0, None
    for t in range(T - 1, -1, -1):
        u = E[:, ys[t]] if ys[t] >= 0 else np.ones(S)
        if h is not None:
            u = u * (K @ h)
        total = u.sum()
        if not total > 0:
            raise ValueError(f"{box.name}: the symbols are impossible under the model "
                             f"(from step {t} on)")
        c += np.log(total)
        h = u / total
        hs[t], cs[t] = h, c
    evidence = float(c + np.log(box.p @ h)) if T else 0.0
    return evidence, (cs, hs)


def smooth_hmm(box):
    """(log p(y), the smoothing marginals (T, S)) of a ``HiddenMarkov``: the backward
    filter, then the guided chain's marginals, p_{t+1} = Σ_x p_t(x) K[x, ·] ĥ_{t+1} / (Kĥ_{t+1})(x)."""
    evidence, (cs, hs) = _hmm_backward(box)
    T, S = box.steps, box.states
    out = np.empty((T, S))
    if not T:
        return evidence, out
    p = box.p * hs[0]
    p /= p.sum()
    out[0] = p
    K = box.K
    for t in range(1, T):
        h = hs[t]
        p = ((p / (K @ h)) @ K) * h
        out[t] = p
    return evidence, out


def smooth_chain(box):
    """(log p(y), smoothed means (T, d), covariances (T, d, d), lag-one covariances
    Cov(x_t, x_{t+1} | y) (T − 1, d, d)) of a ``Chain``: the backward filter, then the
    exact guided marginals m_{t+1} = G(A m_t + β + Q F_{t+1}),
    P_{t+1} = G A P_t Aᵀ Gᵀ + G Q, G = (I + Q H_{t+1})⁻¹ (one solve a step for
    [GA | G(β + QF) | GQ])."""
    evidence, (cs, Fs, Hs, inverses) = _chain_backward(box)
    T, d = box.steps, box.d
    means, covs, lag = np.empty((T, d)), np.empty((T, d, d)), np.empty((max(T - 1, 0), d, d))
    if not T:
        return evidence, means, covs, lag
    eye = np.eye(d)
    P0 = box.prior.P
    G = np.linalg.solve(eye + P0 @ Hs[0], eye)
    m = G @ (box.prior.m + P0 @ Fs[0])
    P = G @ P0
    P = 0.5 * (P + P.T)
    means[0], covs[0] = m, P
    A, beta, Q = box.A, box.beta, box.Q
    rhs = np.empty((d, 2 * d + 1))
    for t in range(T - 1):        # G = (I + QH)⁻¹ = (M⁻¹)ᵀ, kept by the backward pass
        Qt = Q[t]
        rhs[:, :d], rhs[:, d], rhs[:, d + 1:] = A[t], beta[t] + Qt @ Fs[t + 1], Qt
        s = inverses[t].T @ rhs
        GA = s[:, :d]
        cross = P @ GA.T
        lag[t] = cross
        m = GA @ m + s[:, d]
        P = GA @ cross + s[:, d + 1:]
        means[t + 1], covs[t + 1] = m, P
    covs = 0.5 * (covs + np.swapaxes(covs, 1, 2))
    return evidence, means, covs, lag
