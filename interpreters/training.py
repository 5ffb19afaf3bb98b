"""Gradient descent through the lens, with NumPy.

The model ; loss is one Para map (the label is the loss's parameter); R turns
it into a lens whose forward half computes the loss and keeps the residuals,
and whose backward half, fed the cap's cotangent −ε/batch for each example,
returns p′ = −ε ∇ for every parameter (summed over the batch: the reverse of
sharing the parameters with every example). The update is p ← p + p′.

A non-finite loss stops training with the step number; the parameters of the
last good step are kept.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from lenses import R

from .numpy import compile

__all__ = ["GradientDescent", "NonFiniteLoss", "progress"]


class NonFiniteLoss(ArithmeticError):
    """Training met a non-finite loss or update at ``step``; ``params`` are the
    last good parameters: those evaluated at step ``kept``, whose loss was finite
    (``kept`` is 0 for the initial parameters when the very first loss fails)."""

    def __init__(self, step: int, what: str, params: dict, kept: int):
        super().__init__(f"{what} at step {step}; training stopped, keeping the parameters "
                         + (f"evaluated at step {kept}" if kept else "it started from"))
        self.step, self.params, self.kept = step, params, kept


@dataclass
class GradientDescent:
    """p ← p − ε ∇_p mean loss, through R(model ; loss)."""

    model: object
    loss: object
    lr: float = 0.1
    history: list = field(default_factory=list)

    def __post_init__(self):
        learner = self.model >> self.loss
        self.lens = R(learner.diagram)
        self.n_labels = len(self.loss.params)
        positions = range(self.n_labels, self.n_labels + len(self.model.params))
        self.forward = compile(self.lens.forward)
        self.backward = compile(self.lens.backward, summed=positions)

    def step(self, params: dict, x, label):
        """One step on a batch: (new parameters, mean loss before the step)."""
        args = [label] + [params[p] for p in self.model.params] + [x]
        *residual, loss = self.forward(*args)
        n = loss.shape[0] if np.ndim(loss) else 1
        value = float(np.mean(loss))
        cap = np.full_like(loss, -self.lr / n)             # the cap: −ε, averaged over the batch
        changes = self.backward(*residual, cap)[self.n_labels:-1]
        new = {p: params[p] + c for p, c in zip(self.model.params, changes)}
        return new, value

    def fit(self, params: dict, x, label, steps: int, show: bool = True) -> dict:
        """Full-batch steps; raises NonFiniteLoss (with the last good parameters)."""
        bar = progress(steps, "training") if show else None
        previous = params
        for k in range(1, steps + 1):
            with np.errstate(over="ignore", invalid="ignore"):    # checked just below
                new, value = self.step(params, x, label)
            problem = None
            if not np.isfinite(value):       # params themselves are bad: keep the previous ones
                problem, kept, params = f"the loss is {value}", k - 1, previous
            elif not all(np.all(np.isfinite(v)) for v in new.values()):
                problem, kept = f"the update is not finite (loss {value:.6g})", k
            if problem:
                if bar:
                    bar.close()
                raise NonFiniteLoss(k, problem, params, kept)
            previous, params = params, new
            self.history.append(value)
            if bar:
                bar.update(k, f"loss {value:.4f}")
        if bar:
            bar.close()
        return params


class progress:
    """A plain-text progress bar on stderr (no dependency)."""

    def __init__(self, total: int, label: str = "", width: int = 30):
        self.total, self.label, self.width = total, label, width
        self.start, self.last = time.perf_counter(), -1.0

    def update(self, k: int, note: str = ""):
        now = time.perf_counter()
        if k < self.total and now - self.last < 0.1:
            return
        self.last = now
        filled = int(self.width * k / self.total)
        bar = "█" * filled + "·" * (self.width - filled)
        sys.stderr.write(f"\r{self.label} |{bar}| {k}/{self.total} {note} "
                         f"[{now - self.start:.1f}s]")
        sys.stderr.flush()

    def close(self):
        sys.stderr.write("\n")
        sys.stderr.flush()
