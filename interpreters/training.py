"""Training: a learner's step, compiled to NumPy source, run over a data set.

``Trainer(learner)`` compiles the learner's one-diagram step (state ⊗
parameters ⊗ input ⊗ label → state ⊗ parameters ⊗ loss) and runs it on
batches (a Boolean step, RDA's, with the bit-sliced compiler). A non-finite
loss or update stops training with the step number, keeping the last good
parameters *and* optimiser state. ``save`` and ``load``
round-trip both bit for bit.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from . import codegen

__all__ = ["Trainer", "NonFiniteLoss", "progress", "save", "load"]


class NonFiniteLoss(ArithmeticError):
    """Training met a non-finite loss or update at ``step``. ``params`` and
    ``state`` are the last good ones: those evaluated at step ``kept``, whose loss
    was finite (``kept`` is 0 for the initial values when the very first loss fails)."""

    def __init__(self, step: int, what: str, state: list, params: dict, kept: int):
        super().__init__(f"{what} at step {step}; training stopped, keeping the parameters "
                         + (f"evaluated at step {kept}" if kept else "it started from"))
        self.step, self.state, self.params, self.kept = step, state, params, kept


class Trainer:
    """Runs ``learner.diagram`` (compiled once) step by step; ``history`` holds
    the mean loss of each step."""

    def __init__(self, learner, compile=None):
        self.learner = learner
        compile = compile or codegen.compiler_for(learner.diagram)
        self.step_function = compile(learner.diagram)
        self.history = []

    def step(self, state: list, params: dict, x, label):
        """One step on a batch: (new state, new parameters, mean loss before the step)."""
        model_params = self.learner.model.params
        *out, loss = self.step_function(*state, *[params[p] for p in model_params], x, label)
        k = len(state)
        return list(out[:k]), dict(zip(model_params, out[k:])), float(np.mean(loss))

    def fit(self, state: list, params: dict, x, label, steps: int, batch_size: int | None = None,
            seed: int = 0, show: bool = True, shuffle: bool = True):
        """``steps`` steps, on the whole data (``batch_size=None``) or on mini-batches
        drawn in a fresh random order each epoch (an epoch's last, partial batch is
        left out, so every step sees ``batch_size`` examples); with ``shuffle=False``
        the batches follow the data's own order, every epoch (as RDA's single pass
        does). Returns (state, parameters)."""
        rng = np.random.default_rng(seed)
        n = len(x)
        if batch_size is not None and not 1 <= batch_size <= n:
            raise ValueError(f"batch_size must be between 1 and the {n} examples, got {batch_size}")
        order, position = np.arange(n), n
        bar = progress(steps, "training") if show else None
        previous = (state, params)
        try:
            for k in range(1, steps + 1):
                if batch_size is None:
                    xb, yb = x, label
                else:
                    if position + batch_size > n:
                        order, position = (rng.permutation(n) if shuffle else np.arange(n)), 0
                    rows = order[position:position + batch_size]
                    position += batch_size
                    xb, yb = x[rows], label[rows]
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    new_state, new_params, value = self.step(state, params, xb, yb)
                problem = None
                if not np.isfinite(value):     # these parameters are bad: keep the previous
                    problem, kept, (state, params) = f"the loss is {value}", k - 1, previous
                elif not all(np.all(np.isfinite(v)) for v in [*new_params.values(), *new_state]):
                    problem, kept = f"the update is not finite (loss {value:.6g})", k
                if problem:
                    raise NonFiniteLoss(k, problem, state, params, kept)
                previous, state, params = (state, params), new_state, new_params
                self.history.append(value)
                if bar:
                    bar.update(k, f"loss {value:.4f}")
        finally:
            if bar:
                bar.close()
        return state, params


def save(path: str, learner, state: list, params: dict):
    """Parameters and optimiser state to an ``.npz`` file, exactly."""
    arrays = {f"param{i}_{p.name}": params[p] for i, p in enumerate(learner.model.params)}
    arrays.update({f"state{i}": s for i, s in enumerate(state)})
    np.savez(path, **arrays)


def load(path: str, learner):
    """(state, parameters) saved by :func:`save`, for the same learner."""
    with np.load(path) as data:
        params = {p: data[f"param{i}_{p.name}"] for i, p in enumerate(learner.model.params)}
        state = [data[f"state{i}"] for i in range(len(learner.state_type))]
    return state, params


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
