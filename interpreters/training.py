"""Training: a learner's step, compiled, run over a data set.

``Trainer(learner)`` compiles the learner's one-diagram step (optimiser state ⊗
parameters ⊗ input ⊗ label → optimiser state ⊗ parameters ⊗ loss) and runs it
on batches (a Boolean step, RDA's, with the bit-sliced compiler);
``TruncatedTrainer(learner, length)`` runs a machine's ``learner.segment`` on
segments of ``length`` steps, the state carried from one to the next (truncated
BPTT). Both take the same data and options:

    fit(opt_state, params, x, label, steps, batch_size=None, seed=None,
        shuffle=None, validation=None, validate_every=None, show=True)

where ``opt_state, params = learner.init(seed)``, ``x`` and ``label`` hold one row
per example (for a machine: sequences (examples, time, …)). The loss reported
(``history``, ``step``, ``evaluate``) is exactly the objective the step descends:
the mean or the sum of the examples' losses, as the learner's ``reduction`` says.

The data are checked before any work, in the terms of the call: ``x`` and ``label``
must have the shape of one example of the model's input and the loss's label
after the leading axes; an array whose dtype converts exactly to the wire's (int
labels or float32 data for a float64 learner) is converted, one that does not
(float64 data for a float32 learner, complex data) is refused with the conversion
to write. Nothing is lost when training stops:

* after every completed step ``trainer.checkpoint`` is where training stands:
  the optimiser state, the parameters, the number of steps done, for
  mini-batches the data order (the shuffling generator's state and the position
  in the epoch), for truncated BPTT the state each sequence carries, and a
  fingerprint of the data;
* an interrupt (Ctrl-C) or any error during ``fit`` leaves it at the last
  completed step, and propagates; a non-finite loss or update raises
  :class:`NonFiniteLoss`, the checkpoint then holding the last good values
  the error carries;
* ``trainer.resume(x, label, steps)`` continues from the checkpoint (on the same
  data: other data are refused), so that ``fit`` of k steps and ``resume`` of m
  give ``fit`` of k + m, bit for bit, also through a file: ``trainer.save(path)``,
  and ``trainer.load(path)`` in another trainer of the same learner (the file's
  format: :mod:`paralens.interpreters.checkpoints`).

>>> from paralens.categories import Real, dense
>>> from paralens.lenses.learner import Learner
>>> from paralens.lenses.losses import mse
>>> from paralens.lenses.optimisers import Momentum
>>> learner = Learner(dense(2, 1), mse(Real(1)), Momentum(lr=0.1))
>>> x, t = np.arange(12.0).reshape(6, 2) / 10, np.ones((6, 1))
>>> trainer = Trainer(learner)
>>> _ = trainer.fit(*learner.init(0), x, t, steps=4, batch_size=4, show=False)
>>> trainer.checkpoint.step, trainer.checkpoint.batches.position
(4, 4)
>>> opt_state, params = trainer.resume(x, t, steps=3, show=False)
>>> again = Trainer(learner)
>>> _, straight = again.fit(*learner.init(0), x, t, steps=7, batch_size=4, show=False)
>>> all(np.array_equal(params[name], straight[name]) for name in params)
True
>>> y = trainer.predict(x)                        # at the parameters training reached
>>> bool(np.isclose(trainer.evaluate(x, t).loss, np.mean(0.5 * (y - t) ** 2)))
True
"""

from __future__ import annotations

import hashlib
import numbers
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from ..categories import Machine
from . import codegen, numpy as interpreter
from .arrays import as_wire, check_params
from .checkpoints import (CheckpointError, check, count, data_order, load, order_arrays, read,
                          save, scalar, write)
from .recurrent import initial_state, run

__all__ = ["Trainer", "TruncatedTrainer", "Checkpoint", "Batches", "Evaluation", "NonFiniteLoss",
           "CheckpointError", "progress", "check_params", "check_values", "check_sequences",
           "as_examples", "save", "load"]


class NonFiniteLoss(ArithmeticError):
    """Training met a non-finite loss or update at ``step``. ``params`` and
    ``opt_state`` are the last good ones: those evaluated at step ``kept``, whose
    loss was finite (``kept`` is 0 for the values it started from when the first
    loss of the run fails)."""

    def __init__(self, step: int, what: str, opt_state: list, params, kept: int):
        super().__init__(f"{what} at step {step}; training stopped, keeping the parameters "
                         + (f"evaluated at step {kept}" if kept else "it started from"))
        self.step, self.opt_state, self.params, self.kept = step, opt_state, params, kept


@dataclass
class Batches:
    """Where mini-batch training stands in its data. Each step takes the next
    ``size`` rows of ``order`` (this epoch's order of the examples) from
    ``position``; when fewer than ``size`` are left (an epoch's last, partial
    batch is left out), a new epoch begins: a permutation drawn from the
    shuffling generator (``shuffle``), whose state after drawing ``order`` is
    ``rng``, or the data's own order."""

    size: int
    shuffle: bool
    order: np.ndarray
    position: int
    rng: dict

    @classmethod
    def start(cls, examples: int, size: int, shuffle: bool, seed) -> Batches:
        """Before the first epoch: the generator seeded, no order drawn yet."""
        return cls(size, shuffle, np.arange(examples), examples,
                   np.random.default_rng(seed).bit_generator.state)

    def next(self, n: int) -> tuple:
        """(the rows of the next batch, where the data order stands after it)."""
        order, position, drawn = self.order, self.position, self.rng
        if position + self.size > n:
            rng = np.random.default_rng()
            rng.bit_generator.state = drawn
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            position, drawn = 0, rng.bit_generator.state
        rows = order[position:position + self.size]
        return rows, Batches(self.size, self.shuffle, order, position + self.size, drawn)


@dataclass
class Checkpoint:
    """Where training stands after ``step`` completed steps: the optimiser state
    ``opt_state``, the ``params``, for mini-batches the data order ``batches``
    (None for full-batch training), a fingerprint of the ``data`` trained on, and
    for truncated BPTT the ``state`` each sequence carries into the next segment
    (None at the start of a pass) and the segments' ``length`` (None for a
    ``Trainer``'s checkpoint)."""

    opt_state: list
    params: object
    step: int = 0
    batches: Batches | None = None
    data: str | None = None
    state: list | None = None
    length: int | None = None       # the segments' length, for truncated BPTT


class Evaluation(NamedTuple):
    """The objective on a data set (the learner's reduction of the examples'
    losses) and, for classifiers, the accuracy: the fraction of examples whose
    largest output is the label's one-hot class, or, for Boolean outputs, whose
    every bit is right (None for other labels)."""

    loss: float
    accuracy: float | None


# -- checking what the user gives ---------------------------------------------------------

def _whole(name: str, value, high: int | None = None, what: str = "") -> int:
    """``value`` if it is a whole number from 1 to ``high``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number, got {value!r} ({type(value).__name__})")
    if value < 1 or high is not None and value > high:
        bound = f"between 1 and {what}" if high is not None else "at least 1"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return int(value)


def as_examples(what: str, value, wire, lead=("examples", )) -> np.ndarray:
    """``value`` as rows of ``lead`` axes (examples; or examples and time) of ``wire``
    (a type of one wire), by the one rule of :mod:`paralens.interpreters.arrays`:
    an exactly converting dtype is converted, another refused with the conversion
    to write; NaN and ±∞ are refused.

    >>> from paralens.categories import Real
    >>> as_examples("label", [[1], [0]], Real(1)).dtype
    dtype('float64')
    >>> as_examples("label", np.zeros(3), Real(1))
    Traceback (most recent call last):
    ...
    ValueError: label (Real(1)): expected shape (examples, 1), got (3,); for one number per example pass label[..., None]
    """
    wire = wire.inside[0] if hasattr(wire, "inside") else wire
    return as_wire(what, value, wire, [(name, None) for name in lead], finite=True)


def check_sequences(learner, x, label, what=("x", "label")) -> tuple:
    """A recurrent learner's inputs and labels, checked and converted: sequences
    (examples, time, *shape) of its per-step types, of one length, at least one step."""
    (xw, ), (lw, ) = learner.input_type.inside, learner.label_type.inside
    x = as_examples(what[0], x, xw.over_time(False), ("examples", "time"))
    label = as_examples(what[1], label, lw.over_time(False), ("examples", "time"))
    if x.shape[1] != label.shape[1]:
        raise ValueError(f"{what[0]} and {what[1]} are sequences of different lengths "
                         f"({x.shape[1]} and {label.shape[1]} steps)")
    if x.shape[1] == 0:
        raise ValueError("the sequences have no steps: there is nothing to train on")
    return x, label


def _examples(x, label) -> int:
    n, m = len(x), len(label)
    if n != m:
        raise ValueError(f"x has {n} examples but label {m}: one label per input")
    if n == 0:
        raise ValueError("there are no examples to train on: x is empty")
    return n


def check_values(learner, opt_state, params):
    """(optimiser state, parameters), refused in the user's words unless they are
    what ``learner.init()`` gives: a list of the optimiser's state, the parameters
    keyed by name."""
    S = learner.state_type
    params = check_params(learner.model, params,
                          hint="; fit takes (opt_state, params, x, label, steps)")
    if not isinstance(opt_state, (list, tuple)):
        raise TypeError(f"opt_state must be the list of optimiser state values that "
                        f"learner.init() gives, got {type(opt_state).__name__}")
    if len(opt_state) != len(S):
        raise ValueError(f"{type(learner.optimiser).__name__} has {len(S)} state "
                         f"wires ({S}), got {len(opt_state)} values; learner.init() gives them")
    return list(opt_state), params


def _fingerprint(*arrays) -> str:
    """A digest of the data's shapes, dtypes and bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.shape}{a.dtype}".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def _option(value, default):
    return default if value is None else value


# -- the trainers -------------------------------------------------------------------------

class Trainer:
    """Runs ``learner.diagram`` (compiled once) step by step; ``history`` holds the
    objective of each step (exactly what the step descends: the mean of the examples'
    losses over the batch by default, their sum with ``reduction="sum"``),
    ``validation_history`` (step, objective on the validation data), ``checkpoint``
    where training stands (None before the first ``fit``)."""

    def __init__(self, learner, compile=None, devices=None, sync_every: int | None = None):
        learner.optimiser.check_training()        # a negative rate would climb the loss
        if not hasattr(learner, "input_type") and \
                (len(learner.model.dom) != 1 or len(learner.loss.param_type) != 1):
            raise TypeError(f"a Trainer feeds a model one input wire and its loss one label "
                            f"wire; this learner takes {learner.model.dom!r} and labels "
                            f"{learner.loss.param_type!r}: bundle the inputs into one wire, or "
                            f"run pl.compile(learner.diagram) on them yourself")
        self.learner = learner
        self.compile = compile
        backend = getattr(compile, "backend", None)
        if backend is None and (devices is not None or sync_every is not None):
            given = "devices" if devices is not None else "sync_every"
            raise TypeError(f"{given}= is for training on JAX devices: pass "
                            f"compile=paralens.interpreters.jax.compile too")
        self.devices = None if backend is None else backend(devices)
        self.sync_every = 1 if backend is None else self.devices.sync if sync_every is None \
            else _whole("sync_every", sync_every)
        self.step_function = self._compiled(self._diagram())
        self.history, self.validation_history = [], []
        self.checkpoint: Checkpoint | None = None
        self._recorded = None       # where the current run's losses start in history
        self._validating = None     # the validation data (x, label) of the current run

    def _diagram(self):
        return self.learner.diagram

    def __getstate__(self) -> dict:
        """Pickled without what it compiled (a worker compiles afresh)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("step_function", "_cache")}

    def __setstate__(self, state: dict):
        self.__dict__.update(state)
        self.step_function = self._compiled(self._diagram())

    def _compiled(self, diagram):
        cache = self.__dict__.setdefault("_cache", {})
        if id(diagram) not in cache:
            if self.devices is not None and diagram is self._diagram():
                compiled = self._device_step(diagram)
            else:
                compiled = (self.compile or codegen.compiler_for(diagram))(diagram)
            cache[id(diagram)] = (diagram, compiled)
        return cache[id(diagram)][1]

    def _device_step(self, diagram):
        """The step on the devices: the optimiser state and parameters donated and
        checked finite there, the data (and a carried state) sharded over the batch."""
        kept = len(self.learner.state_type) + len(self.learner.model.params)
        return self.devices.step(diagram, kept, range(kept, len(diagram.dom)),
                                 range(kept, len(diagram.cod)))

    @property
    def recurrent(self) -> bool:
        return hasattr(self.learner, "input_type")

    # -- data -------------------------------------------------------------------------------
    def _data(self, x, label, what=("x", "label")) -> tuple:
        """(x, label, examples), checked and converted; ``what`` names them."""
        if self.recurrent:
            x, label = check_sequences(self.learner, x, label, what)
        else:
            A, B = self.learner.model.dom, self.learner.loss.param_type
            x = as_examples(what[0], x, A.inside[0])
            label = as_examples(what[1], label, B.inside[0])
        check = getattr(self.learner.loss, "check_labels", None)
        problem = check(label) if check is not None else None
        if problem:
            raise ValueError(f"{what[1]}: {problem}")
        return x, label, _examples(x, label)

    def _params(self, params):
        if params is None:
            if self.checkpoint is None:
                raise ValueError("no parameters yet: pass params=, or fit first")
            return self.checkpoint.params
        return check_params(self.learner.model, params)

    # -- one step ---------------------------------------------------------------------------
    def step(self, opt_state: list, params, x, label):
        """One step on a batch: (new optimiser state, new parameters, the objective
        before the step: exactly the loss the step descends). Everything is checked
        as ``fit`` checks it."""
        opt_state, params = check_values(self.learner, opt_state, params)
        x, label, _ = self._data(x, label)
        return self._step(opt_state, params, x, label)

    def _step(self, opt_state: list, params, x, label):
        """``step`` on values already checked."""
        start = Checkpoint(opt_state, self.learner.model.parameters(params))
        return self._once(start, x, label, None)

    def _once(self, start: Checkpoint, xb, yb, context):
        """One step from ``start`` on a batch, on the devices where training runs:
        (new optimiser state, new parameters, the objective before the step), on the
        host."""
        if self.devices is not None:
            self.devices.check_batch(len(xb))
            start = self._to_devices(start)
        opt_state, params, _, _, losses, _ = self._apply(start, xb, yb, context)
        host = self._to_host(Checkpoint(opt_state, params))
        return (host.opt_state, host.params,
                self.learner.objective(self._host(losses), self._steps(xb)))

    def _steps(self, x):
        """The steps of a batch's sequences (None for examples)."""
        return np.shape(x)[1] if self.recurrent else None

    def _batch(self, current: Checkpoint, x, label, n: int):
        """(inputs, labels, context) of the next step."""
        if current.batches is None:
            return x, label, None
        rows, after = current.batches.next(n)
        return x[rows], label[rows], after

    def _apply(self, current: Checkpoint, xb, yb, context):
        """(optimiser state, parameters, carried state, data order, the examples'
        losses, whether the new state and parameters are finite: a flag on the
        devices, None for NumPy, which the caller checks)."""
        out, finite = self._call(*current.opt_state, *self._values(current.params), xb, yb)
        k, n = len(current.opt_state), len(self.learner.model.params)
        return list(out[:k]), list(out[k:k + n]), None, context, out[-1], finite

    def _call(self, *args):
        """The step function's outputs (a tuple) and its finite flag (None in NumPy)."""
        if self.devices is not None:
            return self.step_function(*args)
        out = self.step_function(*args)
        return (out if isinstance(out, tuple) else (out, )), None

    @staticmethod
    def _values(params) -> list:
        return list(params.values()) if hasattr(params, "values") else list(params)

    # -- where the values are: on the devices while training, on the host at checkpoints ----
    def _host(self, value):
        return value if self.devices is None else self.devices.get(value)

    def _to_devices(self, c: Checkpoint) -> Checkpoint:
        """A checkpoint's values put on the devices (fresh buffers: the steps donate them)."""
        put = self.devices.put
        return replace(c, opt_state=put(c.opt_state), params=put(self._values(c.params)),
                       state=None if c.state is None else put(c.state, batched=True))

    def _to_host(self, c: Checkpoint) -> Checkpoint:
        """A checkpoint with its values on the host, the parameters keyed by name."""
        if self.devices is not None:
            opt_state, params, state = self.devices.get(
                (list(c.opt_state), self._values(c.params), c.state))
            c = replace(c, opt_state=[np.asarray(v) for v in opt_state], params=params,
                        state=None if state is None else [np.asarray(v) for v in state])
        if isinstance(c.params, (list, tuple)):
            c = replace(c, params=self.learner.model.parameters(
                [np.asarray(v) for v in c.params]))
        return c

    # -- running ------------------------------------------------------------------------------
    def fit(self, opt_state: list, params, x, label, steps: int, batch_size: int | None = None,
            seed: int | None = None, shuffle: bool | None = None, validation=None,
            validate_every: int | None = None, show: bool = True):
        """``steps`` steps from ``opt_state`` and ``params``, on the whole data
        (``batch_size=None``) or on mini-batches drawn in a fresh random order each
        epoch (an epoch's last, partial batch is left out, so every step sees
        ``batch_size`` examples; ``seed``, default 0, seeds the order); with
        ``shuffle=False`` the batches follow the data's own order, every epoch (as
        RDA's single pass does). ``validation=(x, label)`` records the objective on
        those data in ``validation_history`` every ``validate_every`` steps (default:
        once an epoch). Returns (optimiser state, parameters); ``checkpoint``
        follows every step, and :meth:`resume` continues from it."""
        x, label, n = self._data(x, label)
        _whole("steps", steps)
        batches = self._order(n, batch_size, seed, shuffle)
        opt_state, params = check_values(self.learner, opt_state, params)
        every = self._validation(validation, validate_every, n, batch_size)
        start = Checkpoint(opt_state, params, 0, batches, _fingerprint(x, label),
                           length=self._length())
        return self._run(start, x, label, n, steps, show, every)

    def _order(self, n, batch_size, seed, shuffle):
        seed, shuffle = _option(seed, 0), _option(shuffle, True)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise TypeError(f"seed must be a whole number ≥ 0, got {seed!r}")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
        if batch_size is None:
            return None
        return Batches.start(n, _whole("batch_size", batch_size, n, f"the {n} examples"),
                             bool(shuffle), seed)

    def _validation(self, validation, every, n, batch_size):
        if validation is None:
            if every is not None:
                raise ValueError("validate_every is given but no validation=(x, label)")
            self._validating = None
            return None
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise TypeError("validation must be a pair (x, label) of validation data")
        vx, vlabel, _ = self._data(*validation, what=("validation[0]", "validation[1]"))
        self._validating = (vx, vlabel)
        epoch = 1 if batch_size is None else max(n // batch_size, 1)
        return epoch if every is None else _whole("validate_every", every)

    def resume(self, x, label, steps: int, show: bool = True,
               checkpoint: Checkpoint | None = None, validation=None,
               validate_every: int | None = None):
        """``steps`` more steps from ``checkpoint`` (by default ``self.checkpoint``:
        where the last ``fit``, interrupted or not, or ``load`` left it), with its
        batch size and data order: the same trajectory as one longer ``fit``. The
        data must be those ``fit`` had (checked by their fingerprint). Returns
        (optimiser state, parameters)."""
        checkpoint = checkpoint or self.checkpoint
        if checkpoint is None:
            raise ValueError("nothing to resume: call fit first, or load a checkpoint")
        self._check_kind(checkpoint.length, "the checkpoint")
        x, label, n = self._data(x, label)
        _whole("steps", steps)
        if checkpoint.batches is not None and len(checkpoint.batches.order) != n:
            raise ValueError(f"the checkpoint's data order is for {len(checkpoint.batches.order)} "
                             f"examples, but x has {n}: resume on the data fit had")
        if checkpoint.data is not None and checkpoint.data != _fingerprint(x, label):
            raise ValueError("resume: x and label are not the data this checkpoint was "
                             "trained on (their fingerprints differ): resume on the data fit "
                             "had, or start a new fit")
        self._check_carried(checkpoint, x)
        opt_state, params = check_values(self.learner, checkpoint.opt_state, checkpoint.params)
        batch_size = None if checkpoint.batches is None else checkpoint.batches.size
        every = self._validation(validation, validate_every, n, batch_size)
        if checkpoint is not self.checkpoint:       # another's values, as checked
            checkpoint = replace(checkpoint, opt_state=opt_state, params=params)
        return self._run(checkpoint, x, label, n, steps, show, every)

    def _check_carried(self, checkpoint, x):
        pass

    def _run(self, start: Checkpoint, x, label, n: int, steps: int, show: bool, every=None):
        """The steps, verified every ``sync_every`` steps (every step in NumPy): each
        step's loss and update checked finite, the history extended, the checkpoint
        moved to the host. On JAX the values stay on the devices in between; a
        non-finite step found at a verification is located exactly by replaying from
        the last verified checkpoint, and an interrupt (Ctrl-C) is taken at the next
        step's boundary."""
        first = start.step + 1
        if start is self.checkpoint and self._recorded is not None:
            # continuing this trainer's run: after a NaN the history holds the loss of
            # the step the checkpoint rolled back, which is about to run again
            del self.history[self._recorded + start.step:]
        else:
            self._recorded = len(self.history) - start.step
        recorded = self._recorded                       # history[recorded + k - 1]: step k's loss
        self._check_rates(start, steps)
        if self.devices is not None:
            self.devices.check_batch(n if start.batches is None else start.batches.size)
        self.checkpoint = start
        verified = [start]                      # the last two verified checkpoints
        live = start if self.devices is None else self._to_devices(start)
        pending, last = [], first + steps - 1
        bar = progress(steps, "training") if show else None
        try:
            with _interrupts(self.devices is not None) as interrupted:
                for k in range(first, first + steps):
                    xb, yb, context = self._batch(live, x, label, n)
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        opt_state, params, carried, batches, losses, finite = self._apply(
                            live, xb, yb, context)
                    live = Checkpoint(opt_state, params, k, batches, start.data, carried,
                                      start.length)
                    pending.append((live, losses, finite, self._steps(xb)))
                    validate = bool(every and k % every == 0)
                    if len(pending) >= self.sync_every or k == last or validate or interrupted:
                        self._verify(pending, verified, start, x, label, n)
                        pending = []
                        if validate:
                            self.validation_history.append(
                                (k, self._evaluate(*self._validating,
                                                   self.checkpoint.params).loss))
                        if bar:
                            bar.update(k - first + 1, f"loss {self.history[-1]:.4f}")
                    if interrupted:
                        raise KeyboardInterrupt
        except BaseException as error:
            if not isinstance(error, NonFiniteLoss):     # stopped between a loss and its step
                del self.history[recorded + self.checkpoint.step:]
            raise
        finally:
            if bar:
                bar.close()
        return self.checkpoint.opt_state, self.checkpoint.params

    def _verify(self, pending: list, verified: list, start: Checkpoint, x, label, n: int):
        """Check the pending steps in order (one read of the devices for all): append
        each good step's objective to the history and make the last the checkpoint;
        at the first step whose loss or update is not finite, raise
        :class:`NonFiniteLoss` with the checkpoint at the last good values (as a
        step-by-step run keeps them: for a non-finite loss, the parameters evaluated
        at the step before; for a non-finite update, those the step started from)."""
        losses, flags = self._host(([p[1] for p in pending], [p[2] for p in pending]))
        for (live, _, _, steps), loss, finite in zip(pending, losses, flags):
            k = live.step
            with np.errstate(over="ignore", invalid="ignore"):    # an overflow is reported
                value = self.learner.objective(loss, steps)      # as NonFiniteLoss
            if not np.isfinite(value):
                kept = k - 1 if k > start.step + 1 else 0
                good = self._at(k - 2 if kept else start.step, verified, start, x, label, n)
                self.checkpoint = good
                raise NonFiniteLoss(k, f"the loss is {value}", good.opt_state, good.params, kept)
            if finite is None:
                finite = all(np.all(np.isfinite(v))
                             for v in [*self._values(live.params), *live.opt_state])
            if not finite:
                good = self._at(k - 1, verified, start, x, label, n)
                self.checkpoint = good
                raise NonFiniteLoss(k, f"the update is not finite (loss {value:.6g})",
                                    good.opt_state, good.params, k)
            self.history.append(value)
        self.checkpoint = self._to_host(pending[-1][0])
        verified[:] = [verified[-1], self.checkpoint]

    def _at(self, step: int, verified: list, start: Checkpoint, x, label, n: int) -> Checkpoint:
        """The checkpoint after ``step`` steps: a verified one, or replayed on the
        devices from the last verified one before it (its steps run again, on the
        same batches)."""
        for c in reversed(verified):
            if c.step == step:
                return c
        base = max((c for c in verified if c.step < step), key=lambda c: c.step)
        live = self._to_devices(base)
        for k in range(base.step + 1, step + 1):
            xb, yb, context = self._batch(live, x, label, n)
            opt_state, params, carried, batches, _, _ = self._apply(live, xb, yb, context)
            live = Checkpoint(opt_state, params, k, batches, start.data, carried, start.length)
        return self._to_host(live)

    def _check_rates(self, start: Checkpoint, steps: int):
        """Refuse a schedule that gives a rate that is negative or not finite at one of
        the updates about to run (the count: the optimiser state's last wire)."""
        optimiser = self.learner.optimiser
        if not getattr(optimiser, "scheduled", False):
            return
        first = float(np.asarray(start.opt_state[-1]))
        counts = np.arange(first, first + steps, dtype=np.float64)
        rates = np.broadcast_to(interpreter.compile(optimiser.lr.diagram)(counts), counts.shape)
        bad = np.flatnonzero(~(np.isfinite(rates) & (rates >= 0)))
        if bad.size:
            k = bad[0]
            raise ValueError(f"the learning-rate schedule {optimiser.lr!r} gives {rates[k]} at "
                             f"update {int(counts[k])} (step {start.step + k + 1}): a rate must "
                             f"be finite and ≥ 0 to train")

    # -- using the parameters -------------------------------------------------------------------
    def predict(self, x, params=None):
        """The model's output on ``x`` (rows of examples; sequences for a machine, run
        from its initial state), at ``params`` (default: where training stands)."""
        model = self.learner.model
        if self.recurrent:
            (wire, ) = self.learner.input_type.inside
            x = as_examples("x", x, wire.over_time(False), ("examples", "time"))
        elif len(model.dom) == 1:
            x = as_examples("x", x, model.dom.inside[0])
        return self._predict(x, self._params(params))

    def _predict(self, x, params):
        """``predict`` on data and parameters already checked."""
        model = self.learner.model
        if self.recurrent:
            return run(model, params, x, compile=self.compile)[0]
        return self._compiled(model.diagram)(*params.values(), x)

    def evaluate(self, x, label, params=None) -> Evaluation:
        """The objective on (``x``, ``label``) at ``params`` (default: where training
        stands), and the accuracy of a classifier (see :class:`Evaluation`)."""
        x, label, _ = self._data(x, label)
        return self._evaluate(x, label, self._params(params))

    def _evaluate(self, x, label, params) -> Evaluation:
        """``evaluate`` on data and parameters already checked."""
        prediction = np.asarray(self._predict(x, params))
        loss = self._compiled(self.learner.loss.diagram)
        steps = None
        if self.recurrent:
            batch, steps = label.shape[:2]
            flat = loss(label.reshape((-1, ) + label.shape[2:]),
                        prediction.reshape((-1, ) + prediction.shape[2:]))
            losses = np.asarray(flat).reshape(batch, steps).sum(axis=1)
        else:
            losses = loss(label, prediction)
        return Evaluation(self.learner.objective(losses, steps), _accuracy(prediction, label))

    # -- files ------------------------------------------------------------------------------------
    def save(self, path) -> str:
        """The checkpoint (optimiser state, parameters, steps done, data order, data
        fingerprint) to ``path`` (``.npz`` appended unless there), written whole or
        not at all; returns the file's path."""
        if self.checkpoint is None:
            raise ValueError("nothing to save: call fit first")
        c = self.checkpoint
        extra = {"step": np.int64(c.step), "reduction": np.str_(self.learner.reduction or "")}
        if c.data is not None:
            extra["data"] = np.str_(c.data)
        if c.batches is not None:
            b = c.batches
            extra.update(order_arrays(b.size, b.shuffle, b.order, b.position, b.rng))
        extra.update(self._carried_arrays(c))
        return write(path, self.learner, c.opt_state, c.params, extra)

    def _carried_arrays(self, c) -> dict:
        return {}

    def load(self, path) -> Checkpoint:
        """The checkpoint :meth:`save` wrote at ``path`` (with or without ``.npz``),
        checked against this trainer's learner; it becomes ``checkpoint``, so that
        :meth:`resume` continues from it."""
        name, arrays = read(path)
        length = count(name, arrays, "length", 1) if "length" in arrays else None
        self._check_kind(length, name, CheckpointError)
        opt_state, params = check(name, arrays, self.learner, self._carried_wires())
        if "step" not in arrays:
            raise CheckpointError(f"{name}: holds parameters and state but not where training "
                                  f"stands (save() wrote it, not Trainer.save()); start from it "
                                  f"with trainer.fit(*load(path, learner), ...)")
        order = data_order(name, arrays)
        data = str(scalar(name, arrays, "data", "U")) if "data" in arrays else None
        if "reduction" in arrays:
            written = str(scalar(name, arrays, "reduction", "U")) or None
            if written != self.learner.reduction:
                raise CheckpointError(f"{name}: trained with reduction={written!r}, this "
                                      f"learner's is {self.learner.reduction!r}: the objective "
                                      f"and its history would change units")
        self._recorded = None
        self.checkpoint = Checkpoint(opt_state, params, count(name, arrays, "step", 0),
                                     None if order is None else Batches(*order), data,
                                     self._carried_from(name, arrays), length)
        return self.checkpoint

    def _length(self) -> int | None:
        """The segments' length (truncated BPTT), None for whole sequences or examples."""
        return None

    def _check_kind(self, length, what: str, error=ValueError):
        """Refuse a checkpoint of the other kind of trainer, or of other segments."""
        mine = self._length()
        if length == mine:
            return
        if mine is None:
            raise error(f"{what}: written by a TruncatedTrainer (segments of {length} steps, "
                        f"the state carried between them); resume it in a TruncatedTrainer")
        if length is None:
            raise error(f"{what}: written by a Trainer (no segments, no carried state), not "
                        f"a TruncatedTrainer; resume it in a Trainer")
        raise error(f"{what}: trained on segments of {length} steps, this trainer's are "
                    f"{mine}")

    def _carried_wires(self) -> int:
        return 0

    def _carried_from(self, name, arrays):
        return None


def _on_devices(values) -> bool:
    """Whether values are already arrays of a device backend (not NumPy's)."""
    return all(not isinstance(v, np.ndarray) and hasattr(v, "devices") for v in values)


class _interrupts:
    """While training on devices (whose steps donate their inputs' buffers), Ctrl-C
    is taken at the next step's boundary: the handler only notes it (``bool(self)``),
    so that no step is left half-done and the last completed one is kept. Elsewhere,
    or off the main thread, Ctrl-C acts at once, as always."""

    def __init__(self, deferred: bool):
        self.deferred, self.seen, self.previous = deferred, False, None

    def __bool__(self):
        return self.seen

    def __enter__(self):
        if self.deferred and threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._note)
        return self

    def _note(self, signum, frame):
        self.seen = True

    def __exit__(self, *error):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


def _accuracy(prediction, label):
    prediction, label = np.asarray(prediction), np.asarray(label)
    if label.dtype == bool:
        axes = tuple(range(label.ndim - 1, label.ndim)) if label.ndim > 1 else ()
        return float(np.mean(np.all(prediction == label, axis=axes) if axes
                             else prediction == label))
    if label.ndim >= 2 and label.shape[-1] >= 2 and np.all((label == 0) | (label == 1)) \
            and np.all(label.sum(axis=-1) == 1):
        return float(np.mean(np.argmax(prediction, axis=-1) == np.argmax(label, axis=-1)))
    return None


class TruncatedTrainer(Trainer):
    """Truncated BPTT with ``learner.segment``: each step trains on the next
    ``length`` steps of every sequence, from the state the previous segment ended
    in (no gradient flows across a segment's start); after the last segment the
    state starts again from the machine's initial state (the next pass). The
    objective of a step is the learner's reduction over the segment.

    ``checkpoint`` holds the optimiser state, the parameters, the steps done and
    the state each sequence carries, after every step; ``save``/``load``/``resume``
    continue exactly, in another process too. The data and options are
    ``Trainer``'s; ``batch_size``, ``seed`` and ``shuffle`` do not apply (every
    sequence carries its own state, so every step trains on all of them, in order).
    """

    def __init__(self, learner, length: int, compile=None, devices=None,
                 sync_every: int | None = None):
        if not isinstance(learner.model, Machine):
            raise TypeError("TruncatedTrainer trains the learner of a machine; use Trainer")
        if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
            raise ValueError(f"length: the steps of a segment, a whole number ≥ 1, got "
                             f"{length!r}")
        self.length = int(length)
        super().__init__(learner, compile, devices, sync_every)

    def _diagram(self):
        return self.learner.segment

    def _length(self) -> int:
        return self.length

    def _order(self, n, batch_size, seed, shuffle):
        given = [k for k, v in (("batch_size", batch_size), ("seed", seed), ("shuffle", shuffle))
                 if v is not None]
        if given:
            raise ValueError(f"{given[0]} does not apply to truncated BPTT: every sequence "
                             f"carries its own state, so every step trains on all of them, "
                             f"in order")
        return None

    def _batch(self, current, x, label, n):
        k, total = self.length, x.shape[1]
        position = (current.step % -(-total // k)) * k
        state = current.state
        if position == 0 or state is None:
            state = initial_state(self.learner.model, n)
        return x[:, position:position + k], label[:, position:position + k], state

    def _apply(self, current, xb, yb, state):
        nO, nP, nS = (len(self.learner.state_type), len(self.learner.model.params),
                      len(self.learner.model.state))
        if self.devices is not None and not _on_devices(state):
            state = self.devices.put(state, batched=True)
        out, finite = self._call(*current.opt_state, *self._values(current.params), *state,
                                 xb, yb)
        return (list(out[:nO]), list(out[nO:nO + nP]), list(out[nO + nP:nO + nP + nS]), None,
                out[-1], finite)

    def step(self, opt_state, params, x, label):
        """One segment from the machine's initial state: (new optimiser state, new
        parameters, the objective before the step)."""
        start = Checkpoint(*check_values(self.learner, opt_state, params))
        x, label, n = self._data(x, label)
        return self._once(start, *self._batch(start, x, label, n))

    def _check_carried(self, checkpoint, x):
        state = checkpoint.state
        if state and np.shape(state[0])[0] != x.shape[0]:
            raise ValueError(f"resume: the carried state is for {np.shape(state[0])[0]} "
                             f"sequences, x has {x.shape[0]}: resume on the data fit had")

    def _carried_arrays(self, c) -> dict:
        arrays = {"length": np.int64(self.length)}
        arrays.update((f"state{i}", s) for i, s in enumerate(c.state or ()))
        return arrays

    def _carried_wires(self) -> int:
        return len(self.learner.model.state)

    def _carried_from(self, name, arrays):
        n = len(self.learner.model.state)
        if f"state{0}" not in arrays:
            return None
        state = [arrays[f"state{i}"] for i in range(n)]
        for i, (s, w) in enumerate(zip(state, self.learner.model.state.inside)):
            if s.shape[1:] != w.shape or s.dtype != w.dtype:
                raise CheckpointError(f"{name}: carried state wire {i} is {w!r} in the machine, "
                                      f"the file holds shape {s.shape}, {s.dtype}")
        return state


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
