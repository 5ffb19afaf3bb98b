"""The learner: model ; loss ; learning-rate cap ; optimiser, as one diagram.

Following the reference (§4), the supervised step is

    p̄ = get(s, p);  b_p = f(p̄, a);  (b_t′, b_p′) = R[loss](b_t, b_p, cap);
    (p′, a′) = R[f](p̄, a, b_p′);  step(s, p, a, b_t) = put(s, p, Σ_batch p′)

built from the two halves of the lens R(model ; loss), so the backward half
reads the residuals of the forward half. The label is the loss's parameter;
the changes of the examples of a batch add (Σ_batch, the reverse of sharing
the parameters with every example). The step also returns the loss of each
example, so that training can watch it.

**Reduction.** The objective descended is the *mean* of the examples' losses
over the batch (``reduction="mean"``, the default, as PyTorch's and optax's
users write it) or their *sum* (``reduction="sum"``, the papers' summed reverse
map). The mean is the sum weighted by 1/n (``BatchWeight``), the weight applied
to the cotangent the cap sends back, so its gradient is exactly the mean of the
examples' gradients. For a machine an example is a sequence, whose loss is the
sum over its steps; the mean is then over the sequences *and their steps* (the
per-step loss averaged over batch × time, as PyTorch's ``reduction="mean"``
averages a (batch, time) loss), the sum over both. ``learner.objective(losses,
steps)`` is the number a trainer reports: exactly the objective of the step.
RDA combines a batch's changes by its own rule (``RDA(batch=…)``), not by a
reduction.

>>> from paralens.categories import Real, Sigmoid, dense
>>> from paralens.lenses.losses import mse
>>> from paralens.lenses.optimisers import GD
>>> learner = Learner(dense(4, 3, Sigmoid), mse(Real(3)), GD(lr=0.1))
>>> learner.diagram.dom        # state (none for GD) ⊗ parameters ⊗ input ⊗ label
Real(4, 3) @ Real(3) @ Real(4) @ Real(3)
>>> learner.diagram.cod        # new state ⊗ new parameters ⊗ loss
Real(4, 3) @ Real(3) @ Real()
"""

from __future__ import annotations

import numpy as np

from ..categories import (
    BatchWeight, Box, CompositionError, Constant, Machine, Para, Seq, Ty, discard, function,
    swap, zero)
from ..categories.adapter import building
from ..categories.para import wire_names
from ..categories.syntax import as_tuple as _tuple, split as _split

from .lens import R

__all__ = ["Learner", "dreamer"]


def _check_kinds(model: Para, optimiser):
    """An optimiser moves parameters of its own kind: Real ones by arithmetic,
    Bool ones (RDA) by XOR."""
    wrong = [w for w in model.param_type.inside + model.cod.inside if w.kind != optimiser.over]
    if wrong:
        hint = ("train Bool parameters with RDA" if optimiser.over == "Real"
                else "RDA trains Boolean circuits; train Real parameters with GD, Adam, …")
        raise TypeError(f"{type(optimiser).__name__} moves {optimiser.over} parameters, but the "
                        f"model {model.param_type @ model.dom!r} → {model.cod!r} has "
                        f"{wrong[0]!r} wires: {hint}")


def _check_loss(model, loss, optimiser, output: str):
    """The loss gives one number per example, takes the model's output, and the
    optimiser moves the model's kind of parameters."""
    if len(loss.cod) != 1:
        raise TypeError(f"the loss must give one wire (a number per example), got "
                        f"{loss.cod!r}; add the losses up first")
    if model.cod != loss.dom:
        what = "machine" if "machine" in output else "model"
        raise CompositionError(f"the loss does not fit the {what}: {output} {model.cod!r}, "
                               f"the loss takes {loss.dom!r}")
    _check_kinds(model, optimiser)


REDUCTIONS = ("mean", "sum")


def _reduction(optimiser, reduction):
    """The batch reduction: "mean" by default for Real parameters; none for RDA,
    whose batch rule is its own."""
    if optimiser.over == "Bool":
        if reduction is not None:
            raise ValueError(f"reduction={reduction!r}: RDA combines a batch's changes by its "
                             f"batch rule (RDA(batch='xor' | 'majority' | 'vote')), not by a "
                             f"reduction; leave reduction out")
        return None
    reduction = "mean" if reduction is None else reduction
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    return reduction


class Learner:
    """A model closed into a training step by a loss, a cap and an optimiser.

    ``reduction``: the objective is the ``"mean"`` (default) or the ``"sum"`` of the
    examples' losses over the batch (for a machine: over the sequences and their
    steps). ``recompute=k`` (machines only): checkpointed BPTT, the state stored
    every k steps and each segment recomputed.

    >>> from paralens.categories import Real, dense
    >>> from paralens.lenses.losses import mse
    >>> from paralens.lenses.optimisers import GD
    >>> Learner(dense(2, 1), mse(Real(1)), GD(lr=0.1)).reduction
    'mean'
    """

    def __init__(self, model: Para, loss: Para, optimiser, reduction: str | None = None,
                 recompute: int | None = None):
        self.recompute = recompute
        self.reduction = _reduction(optimiser, reduction)
        with building():
            self._build(model, loss, optimiser)

    @property
    def arguments(self) -> list:
        """The names of the step's inputs, in order: the optimiser's state
        (``adam.m.dense.W``, …), the parameters (``dense.W``), ``x`` and ``label``
        (``x0``, ``x1``, … for several input wires)."""
        inputs = self.input_type if hasattr(self, "input_type") else self.model.dom
        labels = self.label_type if hasattr(self, "label_type") else self.loss.param_type
        return (self.optimiser.state_names(self.model.names) + list(self.model.names)
                + wire_names("x", inputs) + wire_names("label", labels))

    @property
    def results(self) -> list:
        """The names of the step's outputs: the new state and parameters, ``loss``."""
        return (self.optimiser.state_names(self.model.names) + list(self.model.names)
                + ["loss"])

    def objective(self, losses, steps: int | None = None) -> float:
        """The objective the step descends, from the losses it returns (one per
        example; per sequence, summed over its ``steps``, for a machine): their mean
        over the batch (and the steps) or their sum. For RDA, the mean error bit."""
        losses = np.asarray(losses)
        if self.reduction == "sum":
            return float(np.sum(losses))
        mean = float(np.mean(losses))
        return mean / steps if steps and self.reduction == "mean" else mean

    def _weight(self, wire: Ty, value):
        """1/n for the mean over the batch (of the batch's steps on a sequence wire);
        None for the sum."""
        return BatchWeight(wire)(value) if self.reduction == "mean" else None

    def _build(self, model: Para, loss: Para, optimiser):
        self.model, self.loss, self.optimiser = model, loss, optimiser
        if isinstance(model, Machine) and isinstance(loss, Para):
            return self._build_recurrent(model, loss, optimiser)
        if self.recompute is not None:
            raise TypeError(f"recompute={self.recompute!r}: checkpointed BPTT is for a "
                            f"machine's loop; this model has no loop")
        if not isinstance(model, Para) or not isinstance(loss, Para):
            raise TypeError(f"Learner(model, loss, optimiser) takes two Para maps (such as "
                            f"dense(…) and mse(…)), got {type(model).__name__} and "
                            f"{type(loss).__name__}")
        _check_loss(model, loss, optimiser, "the model's output is")
        closed = model >> loss
        self.lens = lens = R(closed.diagram)       # P ⊗ B_t ⊗ A → M ⊗ L, and back
        P, A, B, L = model.param_type, model.dom, loss.param_type, loss.cod
        S = optimiser.state(P)
        self.state_type = S
        get, put = optimiser.get(P), optimiser.put(P)

        @function(S @ P @ A @ B, S @ P @ L)
        def step(*wires):
            s, p, a, b = _split(wires, len(S), len(P), len(A), len(B))
            at = _tuple(get(*s, *p)) if len(P) else ()
            *residual, loss_value = _tuple(lens.forward(*at, *b, *a))
            dp = optimiser.changes(lens.backward, residual, loss_value, L,   # cap, backward, Σ
                                   slice(0, len(P)), P,
                                   self._weight(L, loss_value))
            return _tuple(put(*s, *p, *dp)) + (loss_value, )
        self.diagram = step

    def _build_recurrent(self, model: Machine, loss: Para, optimiser):
        """A machine closed by a loss at every step: BPTT through its loop.

        The step reads whole sequences: S_opt ⊗ P ⊗ Seq(X) ⊗ Seq(B) → S_opt ⊗ P ⊗ L,
        the loss of a sequence being the sum over its steps, from the machine's
        initial state; ``segment`` also takes the initial state and gives the final
        one, S_opt ⊗ P ⊗ S ⊗ Seq(X) ⊗ Seq(B) → S_opt ⊗ P ⊗ S ⊗ L, for truncated
        BPTT (the state carried from one segment to the next, no gradient across)."""
        _check_loss(model, loss, optimiser, "the machine's output at each step is")
        P, S, X, Y, Lab, L = (model.param_type, model.state, model.dom, model.cod,
                              loss.param_type, loss.cod)
        closed = (model @ Lab) >> (swap(Y, Lab) >> loss.diagram)     # X ⊗ B → L, each step
        loop = closed.loop(summed=True, recompute=self.recompute)   # P ⊗ S ⊗ Seq(X ⊗ B) → S ⊗ L
        SX, SB = Seq(X), Seq(Lab)
        order = function(SB @ P @ S @ SX, P @ S @ SX @ SB)(
            lambda *w: w[len(SB):] + w[:len(SB)])
        self.lens = lens = R(order >> loop)     # Seq(B) ⊗ P ⊗ S ⊗ Seq(X) → M ⊗ S ⊗ L, and back
        O = optimiser.state(P)
        self.state_type, self.input_type, self.label_type = O, SX, SB
        get, put = optimiser.get(P), optimiser.put(P)
        M, n = lens.residual, len(lens.residual)

        def backward(*wires):       # the final state is not in the loss: its cotangent is 0
            return lens.backward(*wires[:n], *_tuple(zero(S)()), *wires[n:])

        @function(O @ P @ S @ SX @ SB, O @ P @ S @ L)
        def segment(*wires):
            o, p, h, x, b = _split(wires, len(O), len(P), len(S), len(SX), len(SB))
            at = _tuple(get(*o, *p)) if len(P) else ()
            *residual, loss_value = _tuple(lens.forward(*b, *at, *h, *x))
            residual, final = residual[:n], residual[n:]
            dp = optimiser.changes(backward, residual, loss_value, L,
                                   slice(len(SB), len(SB) + len(P)), P,
                                   self._weight((SX @ SB)[:1], (x + b)[0]))
            return _tuple(put(*o, *p, *dp)) + tuple(final) + (loss_value, )
        self.segment = segment

        initial = _constants(model.state, model.initial)

        @function(O @ P @ SX @ SB, O @ P @ L)
        def step(*wires):
            o, p, x, b = _split(wires, len(O), len(P), len(SX), len(SB))
            out = _tuple(segment(*o, *p, *initial(), *x, *b))
            return out[:len(O) + len(P)] + out[-1:]
        self.diagram = step

    def init(self, seed: int = 0):
        """(state, parameters): the state at zero, the parameters seeded."""
        state = [np.zeros(w.shape, dtype=w.dtype) for w in self.state_type.inside]
        return state, self.model.init(seed)

    def draw(self, **params):
        """Draw the whole step, every generator in it."""
        return self.diagram.draw(**params)

    def outline(self):
        """The step with each part as one opaque box: the optimiser's get and put,
        the forward and backward halves of R(model ; loss), the cap and the batch
        sum. For drawing; ``diagram`` is the step itself."""
        P, A, B, L = self.model.param_type, self.model.dom, self.loss.param_type, self.loss.cod
        S, M = self.state_type, self.lens.residual
        get = Box(f"get ({type(self.optimiser).__name__})", S @ P, P)
        forward = Box("model ; loss (forward)", P @ B @ A, M @ L)
        cap = Box(self.optimiser.rate_label, L, L)
        backward = Box("model ; loss (backward)", M @ L, P @ B @ A)
        total = Box(self.optimiser.batch_label, P, P)
        put = Box(f"put ({type(self.optimiser).__name__})", S @ P @ P, S @ P)

        @function(S @ P @ A @ B, S @ P @ L)
        def outline(*wires):
            s, p, a, b = _split(wires, len(S), len(P), len(A), len(B))
            *residual, loss = _tuple(forward(*_tuple(get(*s, *p)), *b, *a))
            *_, l_copy = (loss, loss)
            changes = _tuple(backward(*residual, cap(l_copy)))
            discard(B)(*changes[len(P):len(P) + len(B)])
            discard(A)(*changes[len(P) + len(B):])
            dp = _tuple(total(*changes[:len(P)]))
            return _tuple(put(*s, *p, *dp)) + (loss, )
        return outline


def _constants(S: Ty, values):
    """I → S: the machine's initial state as constant boxes (zero, or one number per
    wire); any other fixed initial state is an input (``segment``)."""
    boxes = []
    for k, (wire, value) in enumerate(zip(S.inside, values)):
        flat = np.ravel(value)
        if not flat.size or not np.any(flat):
            boxes.append(zero(S[k:k + 1]))
        elif np.all(flat == flat[0]) and wire.kind == "Real":
            boxes.append(Constant(float(flat[0]), S[k:k + 1]))
        else:
            raise NotImplementedError(
                f"the machine's initial state on wire {k} ({wire!r}) is not one number "
                f"repeated; train from it with learner.segment, which takes the initial "
                f"state as an input")
    return lambda: tuple(w for box in boxes for w in _tuple(box()))


def dreamer(model: Para, loss: Para, optimiser):
    """Deep dreaming: the optimiser moves the *input*, the parameters stay fixed.

    The diagram S ⊗ A ⊗ P ⊗ B → S ⊗ A ⊗ L runs ā = get(s, a), b_p = f(p, ā),
    the loss and cap, and returns put(s, a, a′) with a′ = π_A R[f](p, ā, b_p′):
    each example's input moves on its own (no batch sum)."""
    lens = R((model >> loss).diagram)
    P, A, B, L = model.param_type, model.dom, loss.param_type, loss.cod
    S = optimiser.state(A)
    get, put = optimiser.get(A), optimiser.put(A)

    @function(S @ A @ P @ B, S @ A @ L)
    def dream(*wires):
        s, a, p, b = _split(wires, len(S), len(A), len(P), len(B))
        at = _tuple(get(*s, *a))
        *residual, loss_value = _tuple(lens.forward(*p, *b, *at))
        changes = _tuple(lens.backward(*residual, optimiser.rate(L, loss_value)))
        da = changes[len(B) + len(P):]
        return _tuple(put(*s, *a, *da)) + (loss_value, )
    return dream
