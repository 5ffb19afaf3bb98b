"""Optimisers: stateful reparametrisations of the parameter wires (reference §4.2).

An optimiser on parameters P has a state S (ordinary wires, saved like
parameters) and two diagrams:

* ``get``: S ⊗ P → P, the point where the model is evaluated,
* ``put``: S ⊗ P ⊗ P′ → S ⊗ P, the new state and parameters from the change
  p′ that the lens sends back (p′ = cap · ∇).

∇ is the gradient of the learner's objective: the **mean** of the examples'
losses over the batch by default (``Learner(..., reduction="mean")``, as in PyTorch
and optax), or their sum (``reduction="sum"``, the papers' summed reverse map).

Standard signs, all state starting at 0; ``cap`` is the learning-rate cap
the learner puts on the loss: −ε for GD, momentum and Nesterov (p′ = −ε∇),
−1 for Adagrad and Adam (p′ = −∇, the rate applied inside).

**Schedules.** ``lr`` is a number or a schedule (``lenses.schedules``): a
function of the update count t (0 at the first step, optax's ``count``) built
of generators, so that it runs inside the compiled step. A scheduled optimiser
keeps the count in its state (Adam's own step counter serves), the cap is −1 and
the rate η_t = schedule(t) is applied in ``put``; checkpoints carry the count, so
resuming stays exact. Momentum and Nesterov then take the rate into the velocity,
s′ = γs − η_t∇ (Sutskever et al. 2013, Keras's SGD): with a constant rate that is
PyTorch's and optax's trajectory.

**Weight decay.** ``weight_decay=λ`` on GD, Momentum, Nesterov, Adagrad and Adam
is the L2 penalty as PyTorch applies it: λp is added to the gradient (before the
momentum or the moments). :class:`AdamW` decays the weights *decoupled* from
the moments (Loshchilov & Hutter 2019; optax's ``adamw``): p ← p − η_t(m̂/(√v̂ + δ)
+ λp). The penalty is not part of the loss a trainer reports (as in PyTorch and
optax, the reported loss is the data's).

| optimiser | S | get | put |
|---|---|---|---|
| GD | I | p | p + p′ |
| Momentum(γ) | P | p | s′ = γs + p′; (s′, p + s′) |
| Nesterov(γ) | P | p + γs | as momentum |
| Adagrad | P | p | G′ = G + p′²; (G′, p + ε p′/(δ + √G′)) |
| Adam | P × P × ℕ | p | raw moments m, v and a step counter t; bias-corrected update |
| AdamW | P × P × ℕ | p | Adam, the weights decayed decoupled from the moments |
| RDA (Boolean) | I | p | p ⊕ p′, the learning rate the identity (p′ = R[f] at δ itself) |

Two hooks close the learner: ``rate(L, loss)``, the cotangent sent back from
the loss (the constant cap, or for RDA the loss value δ itself), and
``batch_sum(x, d)``, how the examples' changes combine (Σ over the batch; for
RDA its XOR, or optionally a majority vote).

>>> from paralens.categories import Real
>>> adam = Adam()
>>> adam.state(Real(3) @ Real(2, 3))
Real(3) @ Real(2, 3) @ Real(3) @ Real(2, 3) @ Real()
>>> adam.put(Real(3)).dom
Real(3) @ Real(3) @ Real() @ Real(3) @ Real(3)
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from ..categories import (
    Constant, Diagram, Exp, MajorityBatch, Real, Spread, Sqrt, SumBatch, Ty, VoteBatch, function)
from ..categories.syntax import as_tuple as _tuple, split as _split

__all__ = ["Optimiser", "GD", "Momentum", "Nesterov", "Adagrad", "Adam", "AdamW", "RDA"]


def _wires(P: Ty) -> list:
    return [P[i:i + 1] for i in range(len(P))]


def _real(owner, name: str, value) -> float:
    """``value`` if it is a real number (not a bool, not a string) and not NaN."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{type(owner).__name__}: {name} must be a real number, "
                        f"got {value!r} ({type(value).__name__})")
    try:
        as_float = float(value)
    except OverflowError:
        raise ValueError(f"{type(owner).__name__}: {name} is too large for a float, "
                         f"got {value!r}") from None
    if math.isnan(as_float):
        raise ValueError(f"{type(owner).__name__}: {name} must be a number, got {value!r}")
    return value


def _rate(owner, name: str, value):
    """A learning rate: any real number makes an optimiser's diagram (the sign is the
    direction, and deep dreaming climbs; ``check_training`` asks for more), or a
    schedule: a callable of the update count."""
    if callable(value) and not isinstance(value, numbers.Number):
        return
    _real(owner, name, value)


def _decay(owner, value):
    """A weight decay: finite and ≥ 0."""
    if not 0 <= _real(owner, "weight_decay", value) < math.inf:
        raise ValueError(f"{type(owner).__name__}: weight_decay must be finite and ≥ 0, "
                         f"got {value!r}")


def _fraction(owner, name: str, value):
    """A decay factor in [0, 1)."""
    if not 0 <= _real(owner, name, value) < 1:
        raise ValueError(f"{type(owner).__name__}: {name} must be in [0, 1), got {value!r}")


def _positive(owner, name: str, value):
    if not 0 < _real(owner, name, value) < math.inf:
        raise ValueError(f"{type(owner).__name__}: {name} must be finite and positive, "
                         f"got {value!r}")


def _count_type(owner, P: Ty) -> Ty:
    """The update count's wire: a scalar of the parameters' one dtype."""
    dtypes = sorted({str(w.dtype) for w in P.inside})
    if len(dtypes) > 1:
        raise TypeError(f"{type(owner).__name__}: the parameters mix {' and '.join(dtypes)} "
                        f"({P!r}); the optimiser's step counter has one dtype: give every "
                        f"layer the same dtype")
    return Real(dtype=dtypes[0] if dtypes else "float64")


class Optimiser:
    """S, get, put and the cap; subclasses say how one parameter wire moves
    (``_put(P, s, p, dp, lr)``, ``lr`` the rate applied there: a number or, with a
    schedule, the traced η_t)."""

    over = "Real"       # the kind of parameter wires it moves
    lr = None
    weight_decay = 0.0
    rate_in_cap = True  # a constant rate is the cap (p′ = −ε∇); else the cap is −1
    counts = False      # keeps its own update count (Adam's t)
    decoupled = False   # weight decay apart from the gradient (AdamW), not L2

    @property
    def scheduled(self) -> bool:
        """Whether the rate is a schedule (a function of the update count)."""
        return self.lr is not None and not isinstance(self.lr, numbers.Number)

    @property
    def cap(self):
        return -self.lr if self.rate_in_cap and not self.scheduled else -1.0

    slots: tuple = ()   # the names of the state's per-parameter parts (Adam: m, v)

    def _state(self, P: Ty) -> Ty:
        return Ty()

    def state_names(self, names) -> list:
        """The names of the state's wires, given the parameters' (``adam.m.dense.W``, …,
        ``adam.t``; a scheduled optimiser's update count ``gd.count``).

        >>> Adam().state_names(["dense.W", "dense.b"])
        ['adam.m.dense.W', 'adam.m.dense.b', 'adam.v.dense.W', 'adam.v.dense.b', 'adam.t']
        """
        prefix = type(self).__name__.lower()
        out = [f"{prefix}.{slot}.{n}" for slot in self.slots for n in names]
        if self.counts:
            out.append(f"{prefix}.t")
        elif self.scheduled:
            out.append(f"{prefix}.count")
        return out

    def state(self, P: Ty) -> Ty:
        """The optimiser's state wires on parameters P (with the update count last
        when the rate is scheduled)."""
        S = self._state(P)
        return S @ _count_type(self, P) if self.scheduled and not self.counts else S

    def get(self, P: Ty) -> Diagram:
        S = self.state(P)
        return function(S @ P, P)(lambda *w: self._get(*_split(w, len(S), len(P))))

    def put(self, P: Ty) -> Diagram:
        S = self.state(P)

        def put(*w):
            s, p, dp = _split(w, len(S), len(P), len(P))
            if self.weight_decay and not self.decoupled:
                # L2: λθ joins the gradient, θ where the gradient was taken (get: p, or
                # Nesterov's look-ahead p + γs)
                at = _tuple(self._get(s, p))
                dp = tuple(d + (self.cap * self.weight_decay) * a for d, a in zip(dp, at))
            if not self.scheduled or self.counts:
                lr = (1.0 if self.rate_in_cap else self.lr) if not self.scheduled else None
                return self._put(P, s, p, dp, lr)
            *s, t = s                                   # the count: the state's last wire
            out = self._put(P, tuple(s), p, dp, self.lr(t))
            return out[:len(s)] + (t + 1.0, ) + out[len(s):]
        return function(S @ P @ P, S @ P)(put)

    def _get(self, s, p):
        return p

    def rate(self, L: Ty, loss):
        """The cotangent fed to the backward half: the cap, a constant."""
        return Constant(self.cap, L)()

    def batch_sum(self, x: Ty, change):
        """The examples' changes of one parameter wire, combined: their sum."""
        return SumBatch(x)(change)

    def changes(self, backward, residual, loss, L: Ty, params: slice, P: Ty,
                weight=None) -> tuple:
        """The batch's change of each parameter wire: the backward half at the
        rate's cotangent (times each example's ``weight`` in the mean, if given),
        the parameters' part, each combined over the batch."""
        rate = self.rate(L, loss)
        if weight is not None:
            rate = rate * weight
        dp = _tuple(backward(*residual, rate))[params]
        return tuple(self.batch_sum(P[i:i + 1], d) for i, d in enumerate(dp))

    def check_training(self):
        """Raise unless this optimiser descends the loss in finite steps: a learning
        rate that is finite and positive (a negative one climbs the loss, which
        deep dreaming uses; 0 moves nothing).

        >>> GD(lr=-0.1).check_training()
        Traceback (most recent call last):
        ...
        ValueError: GD: lr must be a finite positive number to train, got -0.1 (a negative rate climbs the loss)
        """
        lr = getattr(self, "lr", None)
        if lr is not None and not self.scheduled and not 0 < lr < math.inf:
            why = (" (a negative rate climbs the loss)" if lr < 0 else
                   " (nothing would move)" if lr == 0 else "")
            raise ValueError(f"{type(self).__name__}: lr must be a finite positive number to "
                             f"train, got {lr!r}{why}")

    @property
    def rate_label(self) -> str:
        return f"cap {self.cap:g}"

    batch_label = "Σ batch"

    def _scaled(self, lr, x: Ty, value):
        """lr · value on wire x: a number, or the traced scalar η_t spread over x."""
        if lr is None or isinstance(lr, numbers.Number):
            return value if lr in (None, 1.0) else lr * value
        return Spread(x)(lr) * value if x.inside[0].shape else lr * value

    def __repr__(self):
        fields = ", ".join(f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


@dataclass(repr=False)
class GD(Optimiser):
    """Gradient descent: p ← p + p′ with p′ = −ε∇, ∇ the gradient of the learner's
    objective (the batch mean by default; see the module), with a schedule p′ = −∇
    and p ← p + η_t p′. ``weight_decay``: L2, λp added to ∇.

    >>> GD(lr=0.1, weight_decay=1e-4).cap
    -0.1
    """

    lr: float = 0.01
    weight_decay: float = 0.0

    def __post_init__(self):
        _rate(self, "lr", self.lr)
        _decay(self, self.weight_decay)

    def _put(self, P, s, p, dp, lr):
        return tuple(a + self._scaled(lr, x, b) for a, b, x in zip(p, dp, _wires(P)))


@dataclass(repr=False)
class Momentum(Optimiser):
    """s′ = γs + p′; p ← p + s′ (the standard sign; the paper's −γ is erratum 2)."""

    lr: float = 0.01
    gamma: float = 0.9
    weight_decay: float = 0.0

    def __post_init__(self):
        _rate(self, "lr", self.lr)
        _fraction(self, "gamma", self.gamma)
        _decay(self, self.weight_decay)

    slots = ("velocity", )

    def _state(self, P):
        return P

    def _put(self, P, s, p, dp, lr):
        velocity = tuple(self.gamma * v + self._scaled(lr, x, d)
                         for v, d, x in zip(s, dp, _wires(P)))
        return velocity + tuple(a + v for a, v in zip(p, velocity))


@dataclass(repr=False)
class Nesterov(Momentum):
    """Momentum whose get looks ahead: the model is evaluated at p + γs."""

    def _get(self, s, p):
        return tuple(a + self.gamma * v for a, v in zip(p, s))


@dataclass(repr=False)
class Adagrad(Optimiser):
    """G′ = G + p′ ⊙ p′; p ← p + ε p′ / (δ + √G′), with p′ = −∇."""

    lr: float = 0.01
    delta: float = 1e-7
    weight_decay: float = 0.0
    rate_in_cap = False

    def __post_init__(self):
        _rate(self, "lr", self.lr)
        _positive(self, "delta", self.delta)
        _decay(self, self.weight_decay)

    slots = ("G", )

    def _state(self, P):
        return P

    def _put(self, P, s, p, dp, lr):
        G = tuple(g + d * d for g, d in zip(s, dp))
        new = tuple(a + self._scaled(lr, x, d / (Sqrt(x)(g) + self.delta))
                    for a, d, g, x in zip(p, dp, G, _wires(P)))
        return G + new


@dataclass(repr=False)
class Adam(Optimiser):
    """Raw moments m, v and a step counter t (erratum 3: not the corrected ones);
    with p′ = −∇ the stored m is minus the textbook moment, the trajectory is textbook.
    β = 0 is allowed (no averaging: 1 − β^t is 1 and nothing is corrected).

    >>> Adam(beta1=1.5)
    Traceback (most recent call last):
    ...
    ValueError: Adam: beta1 must be in [0, 1), got 1.5
    """

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    delta: float = 1e-8
    weight_decay: float = 0.0
    rate_in_cap = False
    counts = True
    slots = ("m", "v")

    def __post_init__(self):
        _rate(self, "lr", self.lr)
        _fraction(self, "beta1", self.beta1)
        _fraction(self, "beta2", self.beta2)
        _positive(self, "delta", self.delta)
        _decay(self, self.weight_decay)

    def _state(self, P):
        return P @ P @ _count_type(self, P)

    def _put(self, P, s, p, dp, lr):
        k = len(P)
        m, v, (t, ) = s[:k], s[k:2 * k], s[2 * k:]
        scalar = t.ty
        if lr is None:                          # scheduled: η_t of the count before this step
            lr = self.lr(t)
        t = t + 1.0

        def correction(beta):                  # 1 − β^t, or None when it is 1 (β = 0)
            return 1.0 - Exp(scalar)(math.log(beta) * t) if beta else None

        c1, c2 = correction(self.beta1), correction(self.beta2)
        m = tuple(self.beta1 * a + (1 - self.beta1) * d for a, d in zip(m, dp))
        v = tuple(self.beta2 * a + (1 - self.beta2) * (d * d) for a, d in zip(v, dp))
        new = []
        for x, a, mk, vk in zip(_wires(P), p, m, v):
            m_hat = mk if c1 is None else mk / Spread(x)(c1)
            v_hat = vk if c2 is None else vk / Spread(x)(c2)
            update = m_hat / (Sqrt(x)(v_hat) + self.delta)
            if self.decoupled and self.weight_decay:      # p′ = −∇: decay joins it as −λp
                update = update - self.weight_decay * a
            new.append(a + self._scaled(lr, x, update))
        return m + v + (t, ) + tuple(new)


@dataclass(repr=False)
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019):
    p ← p − η_t (m̂ / (√v̂ + δ) + λ p), as optax's ``adamw`` and PyTorch's ``AdamW``
    (whose default λ = 0.01 this takes).

    >>> AdamW(lr=1e-3).weight_decay
    0.01
    """

    weight_decay: float = 0.01
    decoupled = True


@dataclass(repr=False)
class RDA(Optimiser):
    """Reverse Derivative Ascent (reference §6, CFGBL Ex 4.4) on Boolean parameters:
    the loss is XOR, the learning rate the identity (the error δ = y ⊕ f(p, x)
    is the cotangent), and the update p ← p ⊕ p′ with p′ = π_P R[f]((p, x), δ).

    ``batch``: how the changes of a batch's examples combine.

    * ``"xor"``, the published rule: XOR them, so a bit flips when an odd
      number of examples ask for it.
    * ``"majority"``: flip a bit only when more than half of the batch asks, so
      that what many examples ask for is not cancelled out in pairs.
    * ``"vote"``: flip a bit when more examples ask for it (R at δ: the flip
      would correct them) than object to it (R at ¬δ: the flip would change
      an output that is right). Two backward passes per step.

    On one example at a time ``xor`` and ``majority`` agree."""

    batch: str = "xor"
    cap = None
    over = "Bool"

    def __post_init__(self):
        if self.batch not in ("xor", "majority", "vote"):
            raise ValueError(f"RDA batch rule is 'xor', 'majority' or 'vote', got {self.batch!r}")

    def rate(self, L, loss):
        return loss

    def batch_sum(self, x, change):
        return SumBatch(x)(change) if self.batch == "xor" else MajorityBatch(x)(change)

    def changes(self, backward, residual, loss, L, params: slice, P, weight=None):
        if self.batch != "vote":
            return super().changes(backward, residual, loss, L, params, P, weight)
        wanted = _tuple(backward(*residual, loss))[params]
        objected = _tuple(backward(*residual, ~loss))[params]
        return tuple(VoteBatch(P[i:i + 1])(w, o) for i, (w, o) in enumerate(zip(wanted, objected)))

    @property
    def rate_label(self) -> str:
        return "rate: identity"

    @property
    def batch_label(self) -> str:
        return {"xor": "XOR over batch", "majority": "majority of batch",
                "vote": "vote: R at δ against R at ¬δ"}[self.batch]

    def _put(self, P, s, p, dp, lr):
        return tuple(a ^ d for a, d in zip(p, dp))
