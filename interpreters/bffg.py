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
>>> bool(np.isclose(filtered.log_evidence, -0.5 * np.log(2 * np.pi * 2) - 0.5 ** 2 / (2 * 2)))
True
>>> [round(float(m), 6) for m in filtered.marginals()[0][0]]    # E[x | y] = y / 2
[0.25]
"""

from __future__ import annotations

import numbers
import weakref
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..categories.adapter import Diagram, equations
from ..categories import chains
from ..categories.kernels import Chain, HiddenMarkov
from .arrays import check_finite, convert
from .bffg_levels import (BATCH_GUIDE, BATCH_PULLBACK, BATCH_SAMPLE, STACK, _root, discrete_draw,
                          transition_mean)
from .plan import RuleTable, kind_of

__all__ = ["GaussianMessage", "DiscreteMessage", "backward_filter", "Filtered", "BoxFiltered", "LevelFiltered",
           "plan_of", "optic", "Optic", "Marginal", "Weighted", "Residual", "tensor", "factor",
           "PULLBACK", "GUIDE", "SAMPLE",
           "smooth_chain", "smooth_hmm", "SmoothedChain", "SmoothedHMM", "pullback",
           "guided_kernel", "log_pullback", "sample_chain", "sample_hmm"]

LOG_2PI = float(np.log(2 * np.pi))


# -- messages ------------------------------------------------------------------------------

@dataclass
class GaussianMessage:
    """h(x) = exp(c + Fᵀx − ½ xᵀHx) on R^d."""

    c: float
    F: np.ndarray
    H: np.ndarray

    @classmethod
    def one(cls, d: int) -> "GaussianMessage":
        """h ≡ 1: nothing observed downstream."""
        return cls(0.0, np.zeros(d), np.zeros((d, d)))

    def fuse(self, other: "GaussianMessage") -> "GaussianMessage":
        return GaussianMessage(self.c + other.c, self.F + other.F, self.H + other.H)

    def log(self, x) -> float:
        x = np.asarray(x, dtype=float)
        return float(self.c + self.F @ x - 0.5 * x @ self.H @ x)


@dataclass
class DiscreteMessage:
    """h = exp(c) ĥ on a finite state space, ĥ summing to one."""

    c: float
    h: np.ndarray

    @classmethod
    def one(cls, n: int) -> "DiscreteMessage":
        return cls(float(np.log(n)), np.full(n, 1.0 / n))

    @classmethod
    def of(cls, c: float, u: np.ndarray) -> "DiscreteMessage":
        total = u.sum()
        if not total > 0:
            raise ValueError("BFFG: the observations are impossible under the model (the "
                             "message is 0)")
        return cls(c + float(np.log(total)), u / total)

    def fuse(self, other: "DiscreteMessage") -> "DiscreteMessage":
        return DiscreteMessage.of(self.c + other.c, self.h * other.h)

    def log(self, x) -> float:
        return float(self.c + np.log(self.h[int(x)]))


def _one(wire):
    n = wire.shape[0]
    return DiscreteMessage.one(n) if wire.kind == "Finite" else GaussianMessage.one(n)


# -- the linear-Gaussian rules (reference §3) ------------------------------------------------

def pullback(A, beta, Q, message: GaussianMessage) -> GaussianMessage:
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
    return GaussianMessage(float(c2), A.T @ (Fh - Hb), A.T @ Hh @ A)


def log_pullback(mean, Q, message: GaussianMessage) -> float:
    """ℓ(μ, Q) = log ∫ N(x′; μ, Q) h(x′) dx′, the true kernel's pullback at one point."""
    d = len(message.F)
    return pullback(np.zeros((d, 0)), np.asarray(mean, dtype=float), Q, message).c


def guided_kernel(mean, Q, message: GaussianMessage):
    """The Doob h-transform of N(μ, Q) under h: N(G(μ + QF), GQ), G = (I + QH)⁻¹."""
    d = len(message.F)
    G = np.linalg.solve(np.eye(d) + Q @ message.H, np.eye(d))
    cov = G @ Q
    return G @ (mean + Q @ message.F), 0.5 * (cov + cov.T), G


def _observation(box) -> GaussianMessage:
    """The leaf y ~ N(Lx + b, R): H = LᵀR⁻¹L, F = LᵀR⁻¹(y − b), c = −½ rᵀR⁻¹r − ½ log det 2πR,
    over the observed entries of y only (none observed: h ≡ 1)."""
    seen = ~np.isnan(box.y)
    d = box.L.shape[1]
    if not seen.any():
        return GaussianMessage.one(d)
    L, r, R = box.L[seen], (box.y - box.b)[seen], box.R[np.ix_(seen, seen)]
    chol = np.linalg.cholesky(R)
    whitened_L = np.linalg.solve(chol, L)
    whitened_r = np.linalg.solve(chol, r)
    c = -0.5 * whitened_r @ whitened_r - 0.5 * len(r) * LOG_2PI - np.log(np.diag(chol)).sum()
    return GaussianMessage(float(c), whitened_L.T @ whitened_r, whitened_L.T @ whitened_L)


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
    return [DiscreteMessage.of(message.c, box.K @ message.h)], 0.0


def _pull_categorical(box, outs):
    message = outs[0]
    with np.errstate(divide="ignore"):       # an impossible observation: −∞, refused by
        return [], message.c + float(np.log(box.p @ message.h))     # backward_filter


def _pull_emit(box, outs):
    n = box.E.shape[0]
    return [DiscreteMessage.one(n) if box.y is None else DiscreteMessage.of(0.0, box.E[:, box.y].copy())], 0.0


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
    "Chain": lambda box, outs: ([], _chain_log_evidence(box)),
    "HiddenMarkov": lambda box, outs: ([], _hmm_log_evidence(box)),
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
    """One draw of N(mean, cov), cov ⪰ 0 possibly singular, by its symmetric square root
    (a continuous function of cov, unlike the eigenvectors themselves)."""
    values, vectors = np.linalg.eigh(cov)
    z = rng.standard_normal(len(mean))
    return mean + vectors @ (_root(values) * (vectors.T @ z))


def _sample_gaussian(box, message, pulled, parents, rng):
    (x, ) = parents
    mean, cov, _ = guided_kernel(box.A @ x + box.beta, box.Q, message)
    weight = log_pullback(box.A @ x + box.beta, box.Q, message) - pulled[0].log(x)
    return [_draw(rng, mean, cov)], weight


def _sample_transition(box, message, pulled, parents, rng):
    (x, ) = parents
    mu = transition_mean(box, x)
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


# -- the plan: a diagram's equations, scheduled by level -------------------------------------

_MISSING = object()


def _key(wire) -> tuple:
    """The bank a value's messages, marginals and samples live in: its wire's kind and size."""
    return (wire.kind, wire.shape[0])


@dataclass
class _Group:
    """Boxes of one level, one kernel kind and equal shapes: one array operation."""

    kind: str
    boxes: list
    found: tuple = field(repr=False)
    in_key: tuple | None
    in_rows: np.ndarray
    out_key: tuple | None
    out_rows: np.ndarray
    pulled_rows: np.ndarray                     # the boxes' rows among those of their input type
    batched: bool
    fusion: tuple | None                        # (order, rows, starts) when in_rows repeat
    _params: tuple | None = field(default=None, repr=False)

    def params(self):
        """The boxes' parameters stacked along a leading axis (computed once per plan)."""
        if self._params is None:
            self._params = STACK[self.kind][1]([self.found[k][0] for k in self.boxes])
        return self._params


class _Plan:
    """A kernel diagram's equations, checked (a tree: each box reads at most one wire),
    with every value's bank and row, each box's levels (backward: its distance from the
    leaves; forward: from the root) and the groups of each pass. Computed once per diagram
    (``plan_of``), so repeated filters on one model neither flatten nor restack."""

    def __init__(self, diagram):
        if len(diagram.dom):
            raise TypeError(f"backward_filter: the model must start from the unit (its priors "
                            f"inside), got a diagram from {diagram.dom!r}")
        found, _ = equations(diagram)
        self.found = found
        self.key, self.row, self.count = {}, {}, {}
        self.producer, self.order = {}, []
        pulled_count = {}
        self.pulled_row = []
        for k, (box, ins, outs) in enumerate(found):
            name = kind_of(type(box))
            _check_tree(box, name, ins)
            for v, w in zip(outs, box.cod.inside):
                key = _key(w)
                self.key[v], self.row[v] = key, self.count.get(key, 0)
                self.count[key] = self.row[v] + 1
                self.producer[v] = k
                self.order.append(v)
            if ins:
                key = self.key[ins[0]]
                self.pulled_row.append(pulled_count.get(key, 0))
                pulled_count[key] = self.pulled_row[-1] + 1
            else:
                self.pulled_row.append(-1)
        self.pulled_count = pulled_count
        height, below = [0] * len(found), {}
        for k in range(len(found) - 1, -1, -1):
            _, ins, outs = found[k]
            height[k] = max([below.get(v, 0) for v in outs], default=0)
            for v in ins:
                below[v] = max(below.get(v, 0), height[k] + 1)
        depth = [0] * len(found)
        for k, (_, ins, _) in enumerate(found):
            if ins:
                depth[k] = depth[self.producer[ins[0]]] + 1
        self.height, self.depth = height, depth
        self.positions = {key: [] for key in self.count}
        for j, v in enumerate(self.order):
            self.positions[self.key[v]].append(j)
        self.backward = self._groups(height)
        self.forward = self._groups(depth)

    def listed(self, store) -> list:
        """A forward pass's banks as one item per value, in the order the diagram makes
        them: (mean, covariance) pairs, probability vectors or sampled values."""
        out = [None] * len(self.order)
        for key, positions in self.positions.items():
            bank = store[key]
            items = list(zip(*bank)) if isinstance(bank, tuple) else list(bank)
            if len(positions) == len(out):
                return items
            for j, item in zip(positions, items):
                out[j] = item
        return out

    def _groups(self, level) -> list:
        groups = {}
        for k, (box, ins, outs) in enumerate(self.found):
            name = kind_of(type(box))
            stack = STACK.get(name)
            batched = stack is not None and len(outs) <= 1
            shape = stack[0](box) if batched else k
            key = (level[k], name, shape, tuple(self.key[v] for v in outs),
                   self.key[ins[0]] if ins else None)
            groups.setdefault(key, []).append(k)
        out = []
        for key in sorted(groups, key=lambda g: g[0]):
            boxes = groups[key]
            _, name, _, out_keys, in_key = key
            ins = [self.found[k][1] for k in boxes]
            outs = [self.found[k][2] for k in boxes]
            batched = STACK.get(name) is not None and len(out_keys) <= 1
            in_rows = np.array([self.row[i[0]] for i in ins], dtype=np.int64) if in_key \
                else None
            out.append(_Group(
                name, boxes, self.found, in_key, in_rows,
                out_keys[0] if len(out_keys) == 1 else None,
                np.array([self.row[o[0]] for o in outs], dtype=np.int64)
                if len(out_keys) == 1 else None,
                np.array([self.pulled_row[k] for k in boxes], dtype=np.int64),
                batched, _fusion(in_rows)))
        return out


def _fusion(rows):
    """How to fuse messages into rows that repeat (the children of one copy in one group):
    (the order sorting them, the distinct rows, where each run starts); None if distinct."""
    if rows is None or len(np.unique(rows)) == len(rows):
        return None
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return order, ordered[starts], starts


def _check_tree(box, name, ins):
    """Exact BFFG runs on trees: each box (node) reads at most one wire (one parent)."""
    if name == "Loop":
        raise ValueError(f"BFFG: {box.name} is a feedback loop (a cycle): BFFG is exact on "
                         f"trees only; write a chain as a Chain or HiddenMarkov box")
    if len(ins) > 1:
        raise ValueError(f"BFFG: {box.name}: {box.dom!r} → {box.cod!r} reads {len(ins)} "
                         f"wires, so its node has several parents and the model is not a tree "
                         f"(a DAG, where BFFG is not exact); make the parents one joint wire")
    if name not in PULLBACK:
        raise NotImplementedError(f"BFFG: no pullback rule for {box.name} ({name}): "
                                  f"{box.dom!r} → {box.cod!r} is not a Markov kernel")


_PLANS: dict = {}


def plan_of(diagram) -> _Plan:
    """The diagram's plan, made once per diagram (kept while the diagram lives)."""
    entry = _PLANS.get(id(diagram))
    if entry is not None and entry[0]() is diagram:
        return entry[1]
    plan = _Plan(diagram)
    key = id(diagram)
    _PLANS[key] = (weakref.ref(diagram, lambda _: _PLANS.pop(key, None)), plan)
    return plan


# -- banks: the messages (marginals, samples) on all the values of one wire type -------------

class _GaussianBank:
    def __init__(self, count: int, d: int):
        self.c, self.F, self.H = np.zeros(count), np.zeros((count, d)), np.zeros((count, d, d))

    def read(self, rows):
        return self.c[rows], self.F[rows], self.H[rows]

    def put(self, rows, message):
        self.c[rows], self.F[rows], self.H[rows] = message

    def fuse(self, rows, message, fusion=None):
        """Add the messages into their rows (fusion is a sum)."""
        if fusion is not None:
            order, rows, starts = fusion
            message = [np.add.reduceat(a[order], starts, axis=0) for a in message]
        c, F, H = message
        self.c[rows] += c
        self.F[rows] += F
        self.H[rows] += H
        return None

    def get(self, row) -> GaussianMessage:
        return GaussianMessage(float(self.c[row]), self.F[row].copy(), self.H[row].copy())

    @staticmethod
    def stack(messages):
        return (np.array([m.c for m in messages], dtype=float), np.stack([m.F for m in messages]),
                np.stack([m.H for m in messages]))


class _DiscreteBank:
    def __init__(self, count: int, n: int):
        self.c, self.h = np.full(count, float(np.log(n))), np.full((count, n), 1.0 / n)

    def read(self, rows):
        return self.c[rows], self.h[rows]

    def put(self, rows, message):
        self.c[rows], self.h[rows] = message

    def fuse(self, rows, message, fusion=None):
        """Pointwise products, in logs (any number of factors per row), renormalised;
        returns the rows that became impossible (message 0) or None."""
        scale, h = message
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log(h)
            if fusion is not None:
                order, rows, starts = fusion
                logs = np.add.reduceat(logs[order], starts, axis=0)
                scale = np.add.reduceat(scale[order], starts)
            rows_ = rows
            logs = logs + np.log(self.h[rows_])
            top = logs.max(axis=1)
            u = np.exp(logs - top[:, None])
            total = u.sum(axis=1)
            self.c[rows_] += scale + top + np.log(total)
            self.h[rows_] = u / total[:, None]
        bad = ~np.isfinite(self.c[rows_])
        return rows_[bad] if bad.any() else None

    def get(self, row) -> DiscreteMessage:
        return DiscreteMessage(float(self.c[row]), self.h[row].copy())

    @staticmethod
    def stack(messages):
        return np.array([m.c for m in messages], dtype=float), np.stack([m.h for m in messages])


def _bank(key, count):
    kind, n = key
    return (_DiscreteBank if kind == "Finite" else _GaussianBank)(count, n)


def _message(key, stacked, j):
    """The j-th of stacked messages as a message object."""
    if key[0] == "Finite":
        return DiscreteMessage(float(stacked[0][j]), stacked[1][j])
    return GaussianMessage(float(stacked[0][j]), stacked[1][j], stacked[2][j])


class _Noise:
    """The standard normals and uniforms of one guided sample, drawn at once and laid out
    by value (per wire type, its values' rows), so that every schedule of the forward pass
    draws the same sample from one seed. ``at(key, row)`` points the per-box rules'
    ``standard_normal`` and ``choice`` at one value."""

    def __init__(self, plan, rng):
        self.draws = {}
        for key in sorted(plan.count):
            kind, n = key
            self.draws[key] = (rng.random(plan.count[key]) if kind == "Finite" else
                               rng.standard_normal((plan.count[key], n)))

    def at(self, key, row):
        self.key, self.row = key, row
        return self

    def standard_normal(self, n):
        return self.draws[self.key][self.row]

    def choice(self, n, p):
        u = self.draws[self.key][self.row:self.row + 1]
        return int(discrete_draw(np.asarray(p, dtype=float)[None], u)[0])


# -- the interpreter on a diagram: backward, then forward ---------------------------------------

class Filtered:
    """The backward filter's result: log p(y), and per box its residual (the fused
    message on each output, the message pulled back on its input); the forward pass from
    it gives exact marginals (``marginals``) and guided samples (``sample``)."""

    log_evidence: float

    @property
    def found(self) -> tuple:
        return self.plan.found

    def message(self, value):
        """The fused message on a value (a wire of the flattened diagram): h on that wire."""
        k = self.plan.producer[value]
        return self.residuals[k][0][self.found[k][2].index(value)]

    def marginals(self) -> list:
        """The exact smoothing marginals, in the order the diagram makes its wires:
        (mean, covariance) on R^d, probabilities on a finite space, one per wire."""
        raise NotImplementedError

    def sample(self, rng=None) -> tuple:
        """One guided sample: (the value of each wire, in the order the diagram makes
        them, the total log-weight Σ_e log w_e). Each edge's log-weight is log (κh)(x)
        for the true kernel minus the log of the message pulled back through its
        auxiliary, so it is 0 where the auxiliary is the truth; exp(log_evidence +
        log-weight) is an unbiased estimate of p(y). The noise is drawn at once, laid out
        by wire (``_Noise``): one seed gives one sample whatever the schedule.

        ``edges=True`` adds a third item: each box's log-weight, in the diagram's order
        (the weight of an edge, which rides on one branch where a copy forks: the total
        is their sum, never counted twice)."""
        raise NotImplementedError


def _no_guide(box, name):
    where = {"Chain": "smooth_chain", "HiddenMarkov": "smooth_hmm"}.get(name)
    if where:
        draw = "sample_chain" if name == "Chain" else "sample_hmm"
        return NotImplementedError(f"BFFG: {box.name} ({name}) is one box over its steps: its "
                                   f"marginals are those of {where}(box), its guided "
                                   f"samples those of {draw}(box)")
    return NotImplementedError(f"BFFG: no exact guided marginals for {box.name} ({name}); "
                               f"draw guided samples instead")


def _no_sampler(box, name):
    draw = {"Chain": "sample_chain", "HiddenMarkov": "sample_hmm"}.get(name)
    hint = f": one box over its steps, sampled by {draw}(box)" if draw else ""
    return NotImplementedError(f"BFFG: no guided sampler for {box.name} ({name}){hint}")


class BoxFiltered(Filtered):
    """The reference schedule: box by box, the rules of ``PULLBACK``, ``GUIDE``, ``SAMPLE``."""

    def __init__(self, log_evidence, plan, residuals):
        self.log_evidence, self.plan, self.residuals = log_evidence, plan, residuals

    def marginals(self) -> list:
        marginal = {}
        for k, (box, ins, outs) in enumerate(self.found):
            name = kind_of(type(box))
            rule = GUIDE.get(name)
            if rule is None:
                raise _no_guide(box, name)
            children, _ = rule(box, self.residuals[k][0][0] if outs else None,
                               [marginal[v] for v in ins])
            for v, m in zip(outs, children):
                marginal[v] = m
        return [marginal[v] for v in self.plan.order]

    def sample(self, rng=None, edges: bool = False) -> tuple:
        noise = _Noise(self.plan, np.random.default_rng(rng))
        value, total, weights = {}, 0.0, []
        for k, (box, ins, outs) in enumerate(self.found):
            name = kind_of(type(box))
            if name not in SAMPLE:
                raise _no_sampler(box, name)
            out_messages, pulled = self.residuals[k]
            draws = noise.at(self.plan.key[outs[0]], self.plan.row[outs[0]]) if outs else None
            children, weight = SAMPLE[name](box, out_messages[0] if outs else None, pulled,
                                            [value[v] for v in ins], draws)
            total += weight
            weights.append((box, float(weight)))
            for v, x in zip(outs, children):
                value[v] = x
        result = [value[v] for v in self.plan.order], float(total)
        return result + (weights, ) if edges else result


class LevelFiltered(Filtered):
    """The level schedule: each group of boxes (one level, one kind, equal shapes) is one
    array operation (``interpreters.bffg_levels``); messages, marginals and samples live in
    one bank per wire type, a row per value. A Gaussian kernel's residual also keeps its
    guiding gain G = (I + QH)⁻¹ from the pullback's solve, for the forward pass."""

    def __init__(self, log_evidence, plan, banks, pulled, gains):
        self.log_evidence, self.plan, self.banks, self.pulled = log_evidence, plan, banks, pulled
        self.gains = gains
        self._residuals = None

    @property
    def residuals(self) -> list:
        """Per box (the fused messages on its outputs, the messages it pulled back), as
        message objects (made on first use)."""
        if self._residuals is None:
            plan, out = self.plan, []
            for k, (box, ins, outs) in enumerate(self.found):
                pulled = [self.pulled[plan.key[ins[0]]].get(plan.pulled_row[k])] if ins else []
                out.append(([self.banks[plan.key[v]].get(plan.row[v]) for v in outs], pulled))
            self._residuals = out
        return self._residuals

    def _gain(self, g):
        kept = self.gains.get(g.out_key)
        if kept is None or not kept[1][g.out_rows].all():
            return None
        return kept[0][g.out_rows]

    def marginals(self) -> list:
        def new_bank(kind, n, count):
            return np.zeros((count, n)) if kind == "Finite" else (np.zeros((count, n)),
                                                                  np.zeros((count, n, n)))

        def rule(g, parents, message):
            return BATCH_GUIDE[g.kind](g.params(), message, parents, self._gain(g))

        def per_box(k, box, parents):
            name = kind_of(type(box))
            if GUIDE.get(name) is None:
                raise _no_guide(box, name)
            out_messages = self.residuals[k][0]
            children, _ = GUIDE[name](box, out_messages[0] if out_messages else None, parents)
            return children

        return self.plan.listed(self._run(new_bank, BATCH_GUIDE, rule, per_box))

    def sample(self, rng=None, edges: bool = False) -> tuple:
        if edges:       # each box's weight: the box-by-box schedule, which draws the same sample
            return BoxFiltered(self.log_evidence, self.plan, self.residuals).sample(rng, True)
        noise = _Noise(self.plan, np.random.default_rng(rng))
        total = [0.0]

        def new_bank(kind, n, count):
            return np.zeros(count, dtype=np.int64) if kind == "Finite" else np.zeros((count, n))

        def rule(g, parents, message):
            pulled = self.pulled[g.in_key].read(g.pulled_rows) if g.in_key else None
            x, weight = BATCH_SAMPLE[g.kind](g.params(), message, pulled, parents,
                                             noise.draws[g.out_key][g.out_rows], self._gain(g))
            total[0] += float(np.sum(weight))
            return x

        def per_box(k, box, parents):
            name = kind_of(type(box))
            if name not in SAMPLE:
                raise _no_sampler(box, name)
            out_messages, pulled = self.residuals[k]
            outs = self.found[k][2]
            draws = noise.at(self.plan.key[outs[0]], self.plan.row[outs[0]]) if outs else None
            children, weight = SAMPLE[name](box, out_messages[0] if outs else None, pulled,
                                            parents, draws)
            total[0] += weight
            return children

        return self.plan.listed(self._run(new_bank, BATCH_SAMPLE, rule, per_box)), float(total[0])

    def _run(self, new_bank, table, rule, per_box):
        """The forward pass, level by level from the root: ``rule`` on the groups with a
        batched rule in ``table`` (None: a leaf, which makes no value), ``per_box`` on the
        others; each value's result written in its row of its wire type's bank."""
        plan = self.plan
        store = {key: new_bank(*key, count) for key, count in plan.count.items()}
        for g in plan.forward:
            batched = table.get(g.kind, _MISSING) if g.batched else _MISSING
            if batched is not _MISSING:
                if batched is None or g.out_key is None:
                    continue
                parents = _gather(store[g.in_key], g.in_rows) if g.in_key else None
                child = rule(g, parents, self.banks[g.out_key].read(g.out_rows))
                _scatter(store[g.out_key], g.out_rows, child)
                continue
            for k in g.boxes:
                box, ins, outs = self.found[k]
                parents = [_item(store[plan.key[v]], plan.row[v]) for v in ins]
                for v, x in zip(outs, per_box(k, box, parents)):
                    _set_item(store[plan.key[v]], plan.row[v], x)
        return store


def _gather(bank, rows):
    return tuple(a[rows] for a in bank) if isinstance(bank, tuple) else bank[rows]


def _scatter(bank, rows, values):
    if isinstance(bank, tuple):
        for a, v in zip(bank, values):
            a[rows] = v
    else:
        bank[rows] = values


_item, _set_item = _gather, _scatter         # one row: the same indexing


def backward_filter(diagram, batched: bool = True) -> Filtered:
    """Pull the messages back through a closed kernel diagram I → I (leaves to root);
    an open output carries h ≡ 1 (unobserved). The diagram must be a tree (each box reads
    at most one wire; branching by copies): a box with several inputs (a DAG) or a
    feedback loop is refused, naming it.

    ``batched`` (the default) schedules the boxes by level, each group of one level, one
    kernel kind and equal shapes one array operation (``LevelFiltered``); ``False`` runs
    the reference schedule box by box (``BoxFiltered``). Both give the same messages,
    marginals and (from one seed) samples, to rounding. The plan (the flattened,
    checked and levelled diagram, the stacked parameters) is made once per diagram."""
    plan = plan_of(diagram)
    filtered = (_level_filter if batched else _box_filter)(plan)
    _evidence(filtered.log_evidence)
    return filtered


def _evidence(log_evidence: float) -> float:
    """log p(y), refused where it is not finite: the one check of every entry point
    (``backward_filter``, ``smooth_chain``, ``smooth_hmm``), so that none returns −∞ or
    NaN where another refuses."""
    if not np.isfinite(log_evidence):
        if log_evidence == -np.inf:
            raise ValueError("BFFG: the observations are impossible under the model "
                             "(log p(y) = −∞: every message reaching the root is 0)")
        raise ValueError(f"BFFG: log p(y) is {log_evidence}: a parameter or an "
                         f"observation is not finite, or a kernel's function gave NaN")
    return log_evidence


def _box_filter(plan) -> BoxFiltered:
    found = plan.found
    fused: dict = {}
    residuals = [None] * len(found)
    evidence = 0.0
    for k in range(len(found) - 1, -1, -1):
        box, ins, outs = found[k]
        out_messages = [fused.pop(v, None) or _one(box.cod.inside[j]) for j, v in enumerate(outs)]
        pulled, log_evidence = PULLBACK[kind_of(type(box))](box, out_messages)
        residuals[k] = (out_messages, pulled)
        evidence += log_evidence
        for v, message in zip(ins, pulled):
            fused[v] = message if v not in fused else fused[v].fuse(message)
    return BoxFiltered(float(evidence), plan, residuals)


def _level_filter(plan) -> LevelFiltered:
    found = plan.found
    banks = {key: _bank(key, count) for key, count in plan.count.items()}
    pulled = {key: _bank(key, count) for key, count in plan.pulled_count.items()}
    gains = {}
    evidence = 0.0
    for g in plan.backward:
        rule = BATCH_PULLBACK.get(g.kind) if g.batched else None
        if rule is not None:
            outs = banks[g.out_key].read(g.out_rows) if g.out_key else None
            message, log_evidence, G = rule(g.params(), outs)
            evidence += float(np.sum(log_evidence))
            if G is not None:
                count, d = plan.count[g.out_key], g.out_key[1]
                kept = gains.setdefault(g.out_key, (np.empty((count, d, d)),
                                                    np.zeros(count, dtype=bool)))
                kept[0][g.out_rows], kept[1][g.out_rows] = G, True
            if message is not None:
                _pulled_into(banks, pulled, g.in_key, g.in_rows, g.pulled_rows, g.fusion,
                             message, found, g.boxes)
            continue
        for k in g.boxes:
            box, ins, outs = found[k]
            out_messages = [banks[plan.key[v]].get(plan.row[v]) for v in outs]
            messages, log_evidence = PULLBACK[g.kind](box, out_messages)
            evidence += log_evidence
            for v, message in zip(ins, messages):
                key = plan.key[v]
                _pulled_into(banks, pulled, key, np.array([plan.row[v]]),
                             np.array([plan.pulled_row[k]]), None, banks[key].stack([message]),
                             found, [k])
    return LevelFiltered(float(evidence), plan, banks, pulled, gains)


def _pulled_into(banks, pulled, key, rows, pulled_rows, fusion, message, found, boxes):
    """Keep the pulled messages (the boxes' residuals) and fuse them into their inputs."""
    if key[0] == "Finite":
        bad = ~np.isfinite(message[0])
        if bad.any():
            box = found[boxes[int(np.flatnonzero(bad)[0])]][0]
            raise ValueError(f"BFFG: the observations are impossible under the model (the "
                             f"message pulled back through {box.name} is 0)")
    pulled[key].put(pulled_rows, message)
    impossible = banks[key].fuse(rows, message, fusion)
    if impossible is not None:
        reader = boxes[int(np.flatnonzero(np.isin(rows, impossible))[0])]
        raise ValueError(f"BFFG: the observations are impossible under the model (the "
                         f"message on the input of {found[reader][0].name} is 0)")


# -- BFFG as an optic (reference §8) -----------------------------------------------------------

@dataclass(frozen=True)
class Weighted:
    """A weighted sample on a wire: the value x and the log-weight carried with it."""

    x: object
    log_weight: float = 0.0


@dataclass(frozen=True)
class Marginal:
    """An exact marginal on a wire: (mean, covariance) on R^d, probabilities on a finite one."""

    mean: object
    cov: object = None


@dataclass(frozen=True)
class Residual:
    """What the backward pass of an optic keeps for its forward pass: per box, the fused
    messages on its outputs and the messages it pulled back (for one kernel: (h_Y, h_X))."""

    boxes: tuple
    log_evidence: float = 0.0


class Optic:
    """BFFG of a kernel diagram X → Y (at most one wire each side) as an optic
    (reference §8): ``backward(h_Y) → (residual, h_X)`` runs first, pulling the message on
    Y back to X (box by box, fusing where a wire is copied, the diagram's own observation
    leaves and priors included); ``forward(residual, on_X) → on_Y`` runs second, pushing
    a ``Marginal`` (exact guided marginals) or a ``Weighted`` sample (a guided draw, its
    log-weight increased by each edge's log (κh)(x) − log h⁻(x)) from X to Y.

    Composition is the optics': ``optic(f) >> optic(g)`` pulls back through g and then f,
    and pushes forward through f and then g. BFFG is **functorial** for it:
    ``optic(f >> g)`` and ``optic(f) >> optic(g)`` give equal messages, residuals' use and
    forward results (tested numerically), so an interpreter may run box by box.

    The tensor is only **lax**: the optics of κ₁ and κ₂ side by side act on pairs of
    messages (h₁, h₂), which ``tensor`` sends to the joint message h₁ ⊗ h₂ on Y₁ ⊗ Y₂
    (block-diagonal H); product messages pull back to product messages, but a joint
    message whose H has off-diagonal blocks (the two wires observed together) is not a
    tensor of messages (``factor`` refuses it), so BFFG(κ₁) ⊗ BFFG(κ₂) → BFFG(κ₁ ⊗ κ₂)
    is a comparison map, not an isomorphism.

    >>> import numpy as np
    >>> from paralens.categories.kernels import Gaussian as Kernel
    >>> f, g = Kernel(np.eye(1), Q=np.eye(1)), Kernel(2 * np.eye(1), Q=np.eye(1))
    >>> h = GaussianMessage(0.0, np.array([1.0]), np.array([[1.0]]))
    >>> _, one = optic(f >> g).backward(h)
    >>> _, two = (optic(f) >> optic(g)).backward(h)
    >>> bool(np.isclose(one.c, two.c) and np.allclose(one.H, two.H))
    True
    """

    def __init__(self, diagram):
        if len(diagram.dom) > 1 or len(diagram.cod) > 1:
            raise TypeError(f"optic: BFFG reads a kernel diagram X → Y of one wire each side "
                            f"(a joint state is one wire), got {diagram.dom!r} → {diagram.cod!r}")
        found, outputs = equations(diagram)
        for box, ins, _ in found:
            _check_tree(box, kind_of(type(box)), ins)
        self.diagram, self.found, self.outputs = diagram, found, outputs
        self.dom, self.cod = diagram.dom, diagram.cod

    def backward(self, message=None):
        """(residual, the message on X) from the message on Y (None: h ≡ 1). The message
        is checked against Y (its kind, shapes, real and finite), and log p(y) of the
        observations inside as ``backward_filter`` checks it."""
        fused = {}
        if message is not None and not self.outputs:
            raise TypeError(f"message: the optic ends in the unit ({self.cod!r}), so there is "
                            f"no wire for a message on it; call backward() without one")
        if self.outputs:
            fused[self.outputs[0]] = _one(self.cod.inside[0]) if message is None else \
                _given_message(message, self.cod.inside[0])
        residuals = [None] * len(self.found)
        evidence = 0.0
        for k in range(len(self.found) - 1, -1, -1):
            box, ins, outs = self.found[k]
            out_messages = [fused.pop(v, None) or _one(box.cod.inside[j])
                            for j, v in enumerate(outs)]
            pulled, log_evidence = PULLBACK[kind_of(type(box))](box, out_messages)
            residuals[k] = (out_messages, pulled)
            evidence += log_evidence
            for v, m in zip(ins, pulled):
                fused[v] = m if v not in fused else fused[v].fuse(m)
        on_x = (fused.get(0) or _one(self.dom.inside[0])) if len(self.dom) else None
        return Residual(tuple(residuals), _evidence(float(evidence))), on_x

    def forward(self, residual: Residual, on_x=None, rng=None):
        """The marginal (``Marginal`` in) or weighted sample (``Weighted`` in) on Y."""
        sampling = isinstance(on_x, Weighted) or on_x is None and rng is not None
        if on_x is not None and not isinstance(on_x, (Weighted, Marginal)):
            raise TypeError(f"optic.forward: give a Marginal or a Weighted sample on "
                            f"{self.dom!r}, got {on_x!r}")
        if len(self.dom):
            on_x = _given_on_x(on_x, self.dom.inside[0])
        elif on_x is not None and (on_x.x if sampling else on_x.mean) is not None:
            raise TypeError(f"on_x: the optic starts from the unit ({self.dom!r}), so there is "
                            f"no wire for {type(on_x).__name__}; give none (or rng to sample)")
        value = {}
        if len(self.dom):
            value[0] = on_x.x if sampling else _unpack(on_x)
        total = on_x.log_weight if sampling and on_x is not None else 0.0
        rng = np.random.default_rng(rng) if sampling else None
        for k, (box, ins, outs) in enumerate(self.found):
            name = kind_of(type(box))
            out_messages, pulled = residual.boxes[k]
            message = out_messages[0] if outs else None
            if sampling:
                if name not in SAMPLE:
                    raise _no_sampler(box, name)
                children, weight = SAMPLE[name](box, message, pulled, [value[v] for v in ins],
                                                rng)
                total += weight
            else:
                if GUIDE.get(name) is None:
                    raise _no_guide(box, name)
                children, _ = GUIDE[name](box, message, [value[v] for v in ins])
            for v, x in zip(outs, children):
                value[v] = x
        if not self.outputs:
            return Weighted(None, float(total)) if sampling else None
        out = value[self.outputs[0]]
        return Weighted(out, float(total)) if sampling else _pack(out)

    def __rshift__(self, other: "Optic") -> "Optic":
        return ComposedOptic(self, other)

    then = __rshift__


def _given_message(message, wire, what: str = "message"):
    """A message given on ``wire``, checked (the kind, the shapes, real and finite, by the
    dtype rule of ``interpreters.arrays``), as a new message of float64 arrays."""
    n, finite = wire.shape[0], wire.kind == "Finite"
    kind = DiscreteMessage if finite else GaussianMessage
    if not isinstance(message, kind):
        raise TypeError(f"{what}: a {kind.__name__} on {wire!r}, got {type(message).__name__}")
    c = float(_given_array(f"{what}.c", message.c, ()))
    if finite:
        h = _given_array(f"{what}.h", message.h, (n, ))
        if np.any(h < 0) or not h.sum() > 0:
            raise ValueError(f"{what}.h: a message on a finite space is ≥ 0 and not all 0, "
                             f"got {h}")
        return DiscreteMessage.of(c, h)
    return GaussianMessage(c, _given_array(f"{what}.F", message.F, (n, )),
                           _given_array(f"{what}.H", message.H, (n, n)))


def _given_array(what: str, value, shape: tuple) -> np.ndarray:
    array = check_finite(what, convert(what, value, np.float64))
    if array.shape != shape:
        raise ValueError(f"{what}: expected shape {shape}, got {array.shape}")
    return array


def _given_on_x(on_x, wire):
    """What ``Optic.forward`` starts from on ``wire``, checked: a ``Marginal`` (mean and
    covariance on R^d, probabilities on a finite space) or a ``Weighted`` sample."""
    n = wire.shape[0]
    if isinstance(on_x, Weighted):
        weight = float(_given_array("on_x.log_weight", on_x.log_weight, ()))
        if wire.kind == "Finite":
            x = on_x.x
            if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Integral,)) or \
                    not 0 <= x < n:
                raise ValueError(f"on_x.x: a state of {wire!r}, one of 0 … {n - 1}, got {x!r}")
            return Weighted(int(x), weight)
        return Weighted(_given_array("on_x.x", on_x.x, (n, )), weight)
    if not isinstance(on_x, Marginal):
        raise TypeError(f"on_x: the optic starts from {wire!r}: give a Marginal or a Weighted "
                        f"sample on it, got {on_x!r}")
    if wire.kind == "Finite":
        p = _given_array("on_x.mean", on_x.mean, (n, ))
        if on_x.cov is not None or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
            raise ValueError(f"on_x: a Marginal on {wire!r} is probabilities (≥ 0, summing to "
                             f"1) and no covariance, got {on_x!r}")
        return Marginal(p)
    if on_x.cov is None:
        raise ValueError(f"on_x: a Marginal on {wire!r} is a mean and a covariance, got no "
                         f"covariance")
    return Marginal(_given_array("on_x.mean", on_x.mean, (n, )),
                    _given_array("on_x.cov", on_x.cov, (n, n)))


def _unpack(marginal: Marginal):
    return marginal.mean if marginal.cov is None else (marginal.mean, marginal.cov)


def _pack(value) -> Marginal:
    return Marginal(*value) if isinstance(value, tuple) else Marginal(value)


class ComposedOptic(Optic):
    """``first >> second``: backward through second then first, forward through first then
    second; the residual is the pair."""

    def __init__(self, first: Optic, second: Optic):
        if first.cod != second.dom:
            raise TypeError(f"cannot compose the optics of {first.dom!r} → {first.cod!r} and "
                            f"{second.dom!r} → {second.cod!r}: {first.cod!r} ≠ {second.dom!r}")
        self.first, self.second = first, second
        self.dom, self.cod = first.dom, second.cod

    def backward(self, message=None):
        r2, middle = self.second.backward(message)
        r1, on_x = self.first.backward(middle)
        return (r1, r2), on_x

    def forward(self, residual, on_x=None, rng=None):
        r1, r2 = residual
        rng = np.random.default_rng(rng)       # one generator for both parts: never one seed twice
        return self.second.forward(r2, self.first.forward(r1, on_x, rng), rng)


def optic(diagram) -> Optic:
    """BFFG of a kernel diagram X → Y as an optic (``Optic``)."""
    return Optic(diagram)


def tensor(first: GaussianMessage, second: GaussianMessage) -> GaussianMessage:
    """h₁ ⊗ h₂ on X₁ ⊗ X₂ (reference §4): block-diagonal H, concatenated F, summed c. The
    lax structure's comparison map: not every joint message is one (``factor``)."""
    d1, d2 = len(first.F), len(second.F)
    H = np.zeros((d1 + d2, d1 + d2))
    H[:d1, :d1], H[d1:, d1:] = first.H, second.H
    return GaussianMessage(first.c + second.c, np.concatenate([first.F, second.F]), H)


def factor(message: GaussianMessage, d1: int, tol: float = 0.0):
    """(h₁, h₂) with h₁ ⊗ h₂ = message on R^d1 ⊗ R^d2 (c given to h₁), if the message is a
    tensor of messages: its H has no off-diagonal block; else a ValueError."""
    H = message.H
    coupling = float(np.abs(H[:d1, d1:]).max()) if d1 and len(H) > d1 else 0.0
    if coupling > tol:
        raise ValueError(f"factor: the message is not a tensor of messages: its H couples the "
                         f"two wires (largest off-diagonal entry {coupling:.3g}); BFFG's tensor "
                         f"is only lax")
    return (GaussianMessage(message.c, message.F[:d1], H[:d1, :d1]),
            GaussianMessage(0.0, message.F[d1:], H[d1:, d1:]))


# -- a chain: one stage iterated over time, run as the loops of ``categories.chains`` ----------

_MODELS: dict = {}      # (builder, sizes, varying) ↦ the model
_RUNS: dict = {}        # id(model) ↦ its compiled diagram (the model is kept in _MODELS)


def _cached(builder):
    """``builder`` (a model of ``categories.chains``) built and compiled (to NumPy source,
    ``interpreters.codegen``) once for each size and pattern of parameters given per
    step."""
    def build(*sizes, **options):
        key = (builder.__name__, sizes, tuple(sorted(options.items())))
        para = _MODELS.get(key)
        if para is None:
            from . import codegen
            para = _MODELS[key] = builder(*sizes, **options)
            _RUNS[id(para)] = codegen.compile(para.diagram)
        return para
    return build


def _run(para):
    """The compiled diagram of a model ``_cached`` built."""
    return _RUNS[id(para)]


def _chain_log_evidence(box) -> float:
    para, params, data = chains.of_chain(box, _cached(chains.log_likelihood))
    return float(np.ravel(_run(para)(*params.values(), *data))[0])


def _hmm_log_evidence(box) -> float:
    para, params, data = chains.of_hidden_markov(box, _cached(chains.hmm_log_likelihood))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = float(np.ravel(_run(para)(*params.values(), *data))[0])
    # the box's K, E and p are checked stochastic: a law of 0 (normalised, 0/0) is the only
    # way to NaN, and it means the symbols are impossible
    return -np.inf if np.isnan(value) else value


class SmoothedHMM(NamedTuple):
    """What ``smooth_hmm`` gives: ``log_evidence`` log p(y) and the smoothing
    ``marginals`` p(x_t | y), (T, S). A tuple: ``log_p, marginals = smooth_hmm(box)``."""

    log_evidence: float
    marginals: np.ndarray


def smooth_hmm(box) -> SmoothedHMM:
    """log p(y) and the smoothing marginals (T, S) of a ``HiddenMarkov`` box: the model
    ``categories.chains.hmm_smoother`` run on the box's parameters and symbols (the
    backward filter a reverse loop, the guided chain's marginals
    p_{t+1} = Σ_x p_t(x) K[x, ·] ĥ_{t+1} / (Kĥ_{t+1})(x) a forward one).

    >>> from paralens.categories.markov import hidden_markov
    >>> box = hidden_markov([0.5, 0.5], [[0.9, 0.1], [0.1, 0.9]], [[1.0, 0.0], [0.5, 0.5]], [1])
    >>> smoothed = smooth_hmm(box)              # symbol 1: only state 1 emits it
    >>> round(smoothed.log_evidence, 6) == round(float(np.log(0.25)), 6), smoothed.marginals
    (True, array([[0., 1.]]))
    """
    _one_box(box, HiddenMarkov, "smooth_hmm", "hidden_markov(p, K, E, ys)", "smooth_chain")
    if not box.steps:
        return SmoothedHMM(0.0, np.empty((0, box.states)))
    para, params, data = chains.of_hidden_markov(box, _cached(chains.hmm_smoother))
    with np.errstate(divide="ignore", invalid="ignore"):
        marginals, logp = _run(para)(*params.values(), *data)
    evidence = float(np.ravel(logp)[0])
    if not np.isfinite(evidence):           # (K, E, p checked stochastic: 0/0 is impossible)
        raise ValueError(f"{box.name}: the symbols are impossible under the model (no path "
                         f"of states can emit them)")
    return SmoothedHMM(evidence, np.asarray(marginals)[0])


def _one_box(box, kind, function: str, maker: str, other: str):
    """Refuse anything but one ``kind`` box, saying what to call instead."""
    if isinstance(box, kind):
        return
    if isinstance(box, (Chain, HiddenMarkov)):
        got = f"the {type(box).__name__} box {box.name!r}, which {other} smooths"
    elif isinstance(box, Diagram):
        got = (f"a diagram {box.dom!r} → {box.cod!r}; a diagram of kernels is smoothed by "
               f"backward_filter(diagram).marginals()")
    else:
        got = f"{type(box).__name__} {box!r:.60}"
    raise TypeError(f"{function} smooths one {kind.__name__} box (made by {maker}), got {got}")


class SmoothedChain(NamedTuple):
    """What ``smooth_chain`` gives: ``log_evidence`` log p(y), the smoothed ``means``
    E[x_t | y] (T, d), ``covariances`` Cov(x_t | y) (T, d, d) and ``lag_one``
    Cov(x_t, x_{t+1} | y) (T − 1, d, d). A tuple:
    ``log_p, means, covariances, lag_one = smooth_chain(chain)``."""

    log_evidence: float
    means: np.ndarray
    covariances: np.ndarray
    lag_one: np.ndarray


def smooth_chain(box, schedule: str = "sequential") -> SmoothedChain:
    """log p(y), the smoothed means (T, d), covariances (T, d, d) and lag-one covariances
    Cov(x_t, x_{t+1} | y) (T − 1, d, d) of a ``Chain`` box (``SmoothedChain``).

    ``schedule="sequential"``: the model ``categories.chains.smoother`` run on the box's
    parameters and data (the backward filter a reverse loop, then the exact guided
    marginals m_{t+1} = G(A m_t + β + Q F_{t+1}), P_{t+1} = G A P_t Aᵀ Gᵀ + G Q,
    G = (I + Q H_{t+1})⁻¹, a forward one). ``schedule="parallel"``: prefix and suffix
    products of the associative filtering and smoothing operators
    (``interpreters.parallel``, ``reference/bffg.md`` §11), each level one batched
    array operation over all the steps; equal to the sequential one, it needs each
    predicted covariance A P Aᵀ + Q nonsingular (it refuses otherwise, naming the
    step). log p(y) is refused where it is not finite, as ``backward_filter`` refuses it.

    >>> from paralens.categories.markov import local_level
    >>> smoothed = smooth_chain(local_level([1.0], 1.0, 1.0, m0=0.0, P0=1.0))
    >>> smoothed.means, smoothed.covariances    # x ~ N(0, 1), y = x + N(0, 1) = 1
    (array([[0.5]]), array([[[0.5]]]))
    >>> bool(np.isclose(smoothed.log_evidence, -0.5 * np.log(2 * np.pi * 2) - 0.25))
    True
    """
    _one_box(box, Chain, "smooth_chain", "state_space, local_level", "smooth_hmm")
    T, d = box.steps, box.d
    if not T:
        return SmoothedChain(0.0, np.empty((0, d)), np.empty((0, d, d)), np.empty((0, d, d)))
    if schedule not in ("sequential", "parallel"):
        raise ValueError(f"smooth_chain: schedule must be 'sequential' or 'parallel', got "
                         f"{schedule!r}")
    if schedule == "parallel":
        from .parallel import parallel_smoother
        means, covs, lag, logp = parallel_smoother(box.prior.m, box.prior.P, box.A, box.beta,
                                                   box.Q, box.L, box.b, box.R, box.ys)
        evidence = float(np.ravel(logp)[0])
        _evidence(evidence)
        return SmoothedChain(evidence, np.asarray(means), np.asarray(covs),
                             np.asarray(lag)[:T - 1])
    para, params, data = chains.of_chain(box, _cached(chains.smoother))
    means, covs, lag, logp = _run(para)(*params.values(), *data)
    evidence = float(np.ravel(logp)[0])
    _evidence(evidence)
    return SmoothedChain(evidence, np.asarray(means)[0], np.asarray(covs)[0],
                         np.asarray(lag)[0, :T - 1])


def _root_of(cov: np.ndarray) -> np.ndarray:
    """A square root S (S Sᵀ = cov) of each positive semi-definite (…, d, d) covariance,
    by its eigenvectors (rank-deficient and 0 allowed: negative rounding clipped)."""
    values, vectors = np.linalg.eigh(0.5 * (cov + np.swapaxes(cov, -1, -2)))
    return vectors * np.sqrt(np.clip(values, 0.0, None))[..., None, :]


def _rng(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def sample_chain(box, rng=None, size: int = 1) -> np.ndarray:
    """``size`` paths (size, T, d) drawn from p(x | y) of a ``Chain`` box, without unrolling
    it: the backward filter (``categories.chains.backward_messages``, a reverse loop)
    leaves the message on each x_{t+1}; guiding then draws x₀ from the guided prior
    N(G₀(m₀ + P₀F₀), G₀P₀) and each x_{t+1} ~ N(G(A x_t + β + QF), GQ),
    G = (I + QH)⁻¹ (§3), every path at once. ``rng``: a Generator or a seed.

    >>> from paralens.categories.markov import local_level
    >>> draws = sample_chain(local_level([1.0, 2.0], 1.0, 1.0, m0=0.0, P0=1.0), rng=0, size=3)
    >>> draws.shape
    (3, 2, 1)
    """
    _one_box(box, Chain, "sample_chain", "state_space, local_level", "sample_hmm")
    rng = _rng(rng)
    T, d = box.steps, box.d
    size = int(size)
    if not T:
        return np.empty((size, 0, d))
    para, params, data = chains.of_chain(box, _cached(chains.backward_messages))
    logp, F0, H0, Fs, Hs = (np.asarray(v) for v in _run(para)(*params.values(), *data))
    _evidence(float(np.ravel(logp)[0]))
    eye = np.eye(d)
    m0, P0 = box.prior.m, box.prior.P
    G0 = np.linalg.solve(eye + P0 @ H0[0], eye)
    x = G0 @ (m0 + P0 @ F0[0]) + rng.standard_normal((size, d)) @ _root_of(G0 @ P0).T
    A, beta, Q = box.A[:T - 1], box.beta[:T - 1], box.Q[:T - 1]
    G = np.linalg.solve(eye + Q @ Hs[0, :T - 1], eye)                  # (T − 1, d, d)
    GA = G @ A
    shift = (G @ (beta + (Q @ Fs[0, :T - 1, :, None])[..., 0])[..., None])[..., 0]
    roots = _root_of(G @ Q)
    noise = rng.standard_normal((T - 1, size, d))
    paths = np.empty((size, T, d))
    paths[:, 0] = x
    for t in range(T - 1):
        x = x @ GA[t].T + shift[t] + noise[t] @ roots[t].T
        paths[:, t + 1] = x
    return paths


def sample_hmm(box, rng=None, size: int = 1) -> np.ndarray:
    """``size`` state paths (size, T) drawn from p(x | y) of a ``HiddenMarkov`` box, without
    unrolling it: the backward filter (``categories.chains.hmm_backward_filter``)
    leaves the message ĥ on each state; guiding draws x₀ ∝ p ⊙ ĥ₀ and
    x_{t+1} ∝ K[x_t, ·] ⊙ ĥ_{t+1} (§6), every path at once.

    >>> from paralens.categories.markov import hidden_markov
    >>> box = hidden_markov([0.5, 0.5], [[0.9, 0.1], [0.1, 0.9]], [[1.0, 0.0], [0.0, 1.0]],
    ...                     [0, 1, 1])
    >>> sample_hmm(box, rng=0, size=2).tolist()          # the symbols name the states
    [[0, 1, 1], [0, 1, 1]]
    """
    _one_box(box, HiddenMarkov, "sample_hmm", "hidden_markov(p, K, E, ys)", "sample_chain")
    rng = _rng(rng)
    T, S, size = box.steps, box.states, int(size)
    if not T:
        return np.empty((size, 0), dtype=int)
    para, params, (symbols, ) = chains.of_hidden_markov(box, _cached(chains.hmm_backward_filter))
    with np.errstate(divide="ignore", invalid="ignore"):
        logp, h0, hs = _run(para)(*params.values(), symbols[:, :-1], symbols[:, -1])
    value = float(np.ravel(logp)[0])
    _evidence(-np.inf if np.isnan(value) else value)        # NaN: a law of 0, impossible
    hs = np.asarray(hs)[0]

    def draw(weights):                      # one state per row of weights (size, S)
        cumulative = np.cumsum(weights, axis=-1)
        u = rng.uniform(size=(len(weights), 1)) * cumulative[:, -1:]
        return np.minimum((u >= cumulative).sum(axis=-1), S - 1)
    paths = np.empty((size, T), dtype=int)
    paths[:, 0] = draw(np.broadcast_to(box.p * np.asarray(h0)[0], (size, S)))
    for t in range(T - 1):
        paths[:, t + 1] = draw(box.K[paths[:, t]] * hs[t])
    return paths
