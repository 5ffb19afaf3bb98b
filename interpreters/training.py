"""Training: a learner's step, compiled to NumPy source, run over a data set.

``Trainer(learner)`` compiles the learner's one-diagram step (state ⊗
parameters ⊗ input ⊗ label → state ⊗ parameters ⊗ loss) and runs it on
batches (a Boolean step, RDA's, with the bit-sliced compiler). The inputs
are checked before any work: data, step count, batch size, the values, the
learning rate's sign. Nothing is lost when training stops:

* after every completed step ``trainer.checkpoint`` is where training stands:
  the optimiser state, the parameters, the number of steps done and, for
  mini-batches, the data order (the shuffling generator's state and the
  position in the epoch);
* an interrupt (Ctrl-C) or any error during ``fit`` leaves it at the last
  completed step, and propagates; a non-finite loss or update raises
  :class:`NonFiniteLoss`, the checkpoint then holding the last good values
  the error carries;
* ``trainer.resume(x, label, steps)`` continues from the checkpoint, so that
  ``fit`` of k steps and ``resume`` of m give ``fit`` of k + m, bit for bit,
  also through a file: ``trainer.save(path)``, and ``trainer.load(path)`` in
  another trainer of the same learner.

``save``/``load`` write and read the parameters and the state alone;
all loading checks the file against the learner and refuses a file that does
not fit with :class:`CheckpointError`, naming the wire and what differs.

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
>>> state, params = trainer.resume(x, t, steps=3, show=False)
>>> again = Trainer(learner)
>>> _, straight = again.fit(*learner.init(0), x, t, steps=7, batch_size=4, show=False)
>>> all(np.array_equal(params[p], straight[p]) for p in params)
True
"""

from __future__ import annotations

import json
import numbers
import os
import re
import sys
import time
from dataclasses import dataclass

import numpy as np

from . import codegen

__all__ = ["Trainer", "Checkpoint", "Batches", "NonFiniteLoss", "CheckpointError", "progress",
           "check_params", "check_values", "check_sequences",
           "save", "load"]


class NonFiniteLoss(ArithmeticError):
    """Training met a non-finite loss or update at ``step``. ``params`` and
    ``state`` are the last good ones: those evaluated at step ``kept``, whose loss
    was finite (``kept`` is 0 for the values it started from when the first loss
    of the run fails)."""

    def __init__(self, step: int, what: str, state: list, params: dict, kept: int):
        super().__init__(f"{what} at step {step}; training stopped, keeping the parameters "
                         + (f"evaluated at step {kept}" if kept else "it started from"))
        self.step, self.state, self.params, self.kept = step, state, params, kept


class CheckpointError(ValueError):
    """A file that is not a checkpoint, or not one for this learner."""


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


@dataclass
class Checkpoint:
    """Where training stands after ``step`` completed steps: the optimiser
    ``state``, the ``params`` and, for mini-batches, the data order ``batches``
    (None for full-batch training)."""

    state: list
    params: dict
    step: int = 0
    batches: Batches | None = None


def _whole(name: str, value, high: int | None = None, what: str = "") -> int:
    """``value`` if it is a whole number from 1 to ``high``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number, got {value!r} ({type(value).__name__})")
    if value < 1 or high is not None and value > high:
        bound = f"between 1 and {what}" if high is not None else "at least 1"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return int(value)


def _rows(data, what: str):
    """Data as an array of rows (so that mini-batches can be picked), if it is a list."""
    if isinstance(data, (list, tuple)):
        try:
            return np.asarray(data)
        except ValueError:
            raise ValueError(f"the {what} are a ragged list: every example must have the "
                             f"same shape") from None
    return data


def check_sequences(learner, x, label):
    """A recurrent learner's inputs and labels: sequences (examples, time, *shape) of
    its per-step types, of one length, refused in those words (the loop inside would
    name its own wires)."""
    types = getattr(learner, "input_type", None), getattr(learner, "label_type", None)
    if types[0] is None:
        return
    lengths = set()
    for data, ty, what in ((x, types[0], "inputs"), (label, types[1], "labels")):
        (wire, ) = ty.inside
        shape = ("examples", "time") + wire.shape
        array = np.asarray(data)
        if array.ndim != len(shape) or array.shape[2:] != wire.shape:
            raise ValueError(f"the {what} must be sequences of shape ({', '.join(map(str, shape))}) "
                             f"(one step is {wire.over_time(False)!r}), got shape {array.shape}")
        if array.dtype != wire.dtype:
            raise TypeError(f"the {what} must be {wire.dtype} sequences, got {array.dtype}")
        lengths.add(array.shape[1])
    if len(lengths) > 1:
        raise ValueError(f"the inputs and labels are sequences of different lengths "
                         f"({' and '.join(map(str, sorted(lengths)))} steps)")


def _examples(x, label) -> int:
    """The number of examples, once the inputs and labels agree on it."""
    try:
        n, m = len(x), len(label)
    except TypeError:
        raise TypeError(f"the inputs and labels must be arrays with one row per example, got "
                        f"{type(x).__name__} {np.shape(x)} and {type(label).__name__} "
                        f"{np.shape(label)}") from None
    if n != m:
        raise ValueError(f"the inputs have {n} examples but the labels {m}: one label per input")
    if n == 0:
        raise ValueError("there are no examples to train on: the inputs are empty")
    return n


def check_params(model, params, who: str = "model", source: str = "learner.init()",
                 what: str = "params", hint: str = ""):
    """Refuse parameter values that are not a dict holding every one of ``model``'s."""
    if not isinstance(params, dict):
        raise TypeError(f"{what} must be the dict of parameter values (handle ↦ array) "
                        f"that {source} gives, got {type(params).__name__}{hint}")
    missing = [p for p in model.params if p not in params]
    if missing:
        raise ValueError(f"no value for the {who}'s parameter {missing[0].name} "
                         f"({missing[0].ty}); {source} gives every one")


def check_values(learner, state, params):
    """Refuse, in the user's words, values that are not those ``learner.init()`` gives:
    a dict of every parameter, a list of the optimiser's state."""
    S = learner.state_type
    check_params(learner.model, params, hint="; fit takes (state, params, x, label, steps)")
    if not isinstance(state, (list, tuple)):
        raise TypeError(f"state must be the list of optimiser state values that "
                        f"learner.init() gives, got {type(state).__name__}")
    if len(state) != len(S):
        raise ValueError(f"{type(learner.optimiser).__name__} has {len(S)} state "
                         f"wires ({S}), got {len(state)} values; learner.init() gives them")


class Trainer:
    """Runs ``learner.diagram`` (compiled once) step by step; ``history`` holds
    the mean loss of each step, ``checkpoint`` where training stands (None before
    the first ``fit``)."""

    def __init__(self, learner, compile=None):
        learner.optimiser.check_training()        # a negative rate would climb the loss
        self.learner = learner
        compile = compile or codegen.compiler_for(learner.diagram)
        self.step_function = compile(learner.diagram)
        self.history = []
        self.checkpoint: Checkpoint | None = None
        self._recorded = None       # where the current run's losses start in history

    def step(self, state: list, params: dict, x, label):
        """One step on a batch: (new state, new parameters, the objective before the
        step: the loss the step descends, ``learner.objective``)."""
        model_params = self.learner.model.params
        *out, loss = self.step_function(*state, *[params[p] for p in model_params], x, label)
        k = len(state)
        steps = np.shape(x)[1] if hasattr(self.learner, "input_type") else None
        return list(out[:k]), dict(zip(model_params, out[k:])), self.learner.objective(loss, steps)

    def fit(self, state: list, params: dict, x, label, steps: int, batch_size: int | None = None,
            seed: int = 0, show: bool = True, shuffle: bool = True):
        """``steps`` steps from ``state`` and ``params``, on the whole data
        (``batch_size=None``) or on mini-batches drawn in a fresh random order each
        epoch (an epoch's last, partial batch is left out, so every step sees
        ``batch_size`` examples); with ``shuffle=False`` the batches follow the
        data's own order, every epoch (as RDA's single pass does). Returns
        (state, parameters); ``checkpoint`` follows every step, and
        :meth:`resume` continues from it."""
        x, label = _rows(x, "inputs"), _rows(label, "labels")
        check_sequences(self.learner, x, label)
        n = _examples(x, label)
        _whole("steps", steps)
        if batch_size is not None:
            _whole("batch_size", batch_size, n, f"the {n} examples")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise TypeError(f"seed must be a whole number ≥ 0, got {seed!r}")
        self._check_values(state, params)
        batches = None if batch_size is None else Batches.start(n, int(batch_size), shuffle, seed)
        return self._run(Checkpoint(list(state), dict(params), 0, batches), x, label, steps, show)

    def resume(self, x, label, steps: int, show: bool = True, checkpoint: Checkpoint | None = None):
        """``steps`` more steps from ``checkpoint`` (by default ``self.checkpoint``:
        where the last ``fit``, interrupted or not, or ``load`` left it), with its
        batch size and data order: the same trajectory as one longer ``fit``.
        Give it the data that ``fit`` had. Returns (state, parameters)."""
        checkpoint = checkpoint or self.checkpoint
        if checkpoint is None:
            raise ValueError("nothing to resume: call fit first, or load a checkpoint")
        x, label = _rows(x, "inputs"), _rows(label, "labels")
        check_sequences(self.learner, x, label)
        n = _examples(x, label)
        _whole("steps", steps)
        if checkpoint.batches is not None and len(checkpoint.batches.order) != n:
            raise ValueError(f"the checkpoint's data order is for {len(checkpoint.batches.order)} "
                             f"examples, but the inputs have {n}: resume on the data fit had")
        self._check_values(checkpoint.state, checkpoint.params)
        return self._run(checkpoint, x, label, steps, show)

    def _check_values(self, state, params):
        check_values(self.learner, state, params)

    def _run(self, start: Checkpoint, x, label, steps: int, show: bool):
        batches, first = start.batches, start.step + 1
        if batches is not None:
            rng = np.random.default_rng()
            rng.bit_generator.state = batches.rng
            order, position, drawn = batches.order, batches.position, batches.rng
            size, n = batches.size, len(batches.order)
        if start is self.checkpoint and self._recorded is not None:
            # continuing this trainer's run: after a NaN the history holds the loss of
            # the step the checkpoint rolled back, which is about to run again
            del self.history[self._recorded + start.step:]
        else:
            self._recorded = len(self.history) - start.step
        recorded = self._recorded                       # history[recorded + k - 1]: step k's loss
        previous = current = self.checkpoint = start
        bar = progress(steps, "training") if show else None
        try:
            for k in range(first, first + steps):
                if batches is None:
                    xb, yb = x, label
                else:
                    if position + size > n:
                        order = rng.permutation(n) if batches.shuffle else np.arange(n)
                        position, drawn = 0, rng.bit_generator.state
                    rows = order[position:position + size]
                    position += size
                    xb, yb = x[rows], label[rows]
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    new_state, new_params, value = self.step(current.state, current.params, xb, yb)
                if not np.isfinite(value):     # these parameters are bad: keep the previous
                    kept, good = (k - 1, previous) if k > first else (0, current)
                    self.checkpoint = good
                    raise NonFiniteLoss(k, f"the loss is {value}", good.state, good.params, kept)
                if not all(np.all(np.isfinite(v)) for v in [*new_params.values(), *new_state]):
                    self.checkpoint = current
                    raise NonFiniteLoss(k, f"the update is not finite (loss {value:.6g})",
                                        current.state, current.params, k)
                previous, current = current, Checkpoint(
                    new_state, new_params, k,
                    None if batches is None else Batches(size, batches.shuffle, order, position, drawn))
                self.history.append(value)
                self.checkpoint = current
                if bar:
                    bar.update(k - first + 1, f"loss {value:.4f}")
        except BaseException as error:
            if not isinstance(error, NonFiniteLoss):     # stopped between a loss and its step
                del self.history[recorded + self.checkpoint.step:]
            raise
        finally:
            if bar:
                bar.close()
        return current.state, current.params

    def save(self, path) -> str:
        """The checkpoint (state, parameters, steps done, data order) to ``path``
        (``.npz`` appended unless there), written whole or not at all; returns the
        file's path."""
        if self.checkpoint is None:
            raise ValueError("nothing to save: call fit first")
        c, extra = self.checkpoint, {"step": np.int64(self.checkpoint.step)}
        if c.batches is not None:
            b = c.batches
            extra.update(batch_size=np.int64(b.size), shuffle=np.bool_(b.shuffle),
                         order=np.asarray(b.order, dtype=np.int64), position=np.int64(b.position),
                         rng=np.str_(json.dumps(b.rng)))
        return _write(path, self.learner, c.state, c.params, extra)

    def load(self, path) -> Checkpoint:
        """The checkpoint :meth:`save` wrote at ``path`` (with or without ``.npz``),
        checked against this trainer's learner; it becomes ``checkpoint``, so that
        :meth:`resume` continues from it."""
        name, arrays = _read(path)
        state, params = _check(name, arrays, self.learner)
        if "step" not in arrays:
            raise CheckpointError(f"{name}: holds parameters and state but not where training "
                                  f"stands (save() wrote it, not Trainer.save()); start from it "
                                  f"with trainer.fit(*load(path, learner), ...)")
        self._recorded = None
        self.checkpoint = Checkpoint(state, params, _count(name, arrays, "step", 0),
                                     _batches(name, arrays))
        return self.checkpoint


def _keys(learner):
    return ([f"param{i}_{p.name}" for i, p in enumerate(learner.model.params)],
            [f"state{i}" for i in range(len(learner.state_type))])


_TRAINING = ("step", "batch_size", "shuffle", "order", "position", "rng")


def _npz(path) -> str:
    """The file ``np.savez(path)`` writes: ``.npz`` appended unless there."""
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"


def _write(path, learner, state, params, extra) -> str:
    names, state_names = _keys(learner)
    missing = [p for p in learner.model.params if p not in params]
    if missing or len(state) != len(state_names):
        raise ValueError(f"save: expected a value for each of the {len(names)} parameters and "
                         f"{len(state_names)} state wires of the learner, got {len(params)} and "
                         f"{len(state)}")
    arrays = {k: params[p] for k, p in zip(names, learner.model.params)}
    arrays.update(zip(state_names, state))
    arrays.update(extra, optimiser=np.str_(type(learner.optimiser).__name__))
    final = _npz(path)
    partial = final + ".partial"           # an interrupted save leaves the old file intact
    try:
        with open(partial, "wb") as file:
            np.savez(file, **arrays)
        os.replace(partial, final)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return final


def save(path, learner, state: list, params: dict) -> str:
    """Parameters and optimiser state to an ``.npz`` file (``.npz`` appended to
    ``path`` unless there), exactly; returns the file's path. ``Trainer.save``
    also keeps where training stands."""
    return _write(path, learner, state, params, {})


def load(path, learner):
    """(state, parameters) saved by :func:`save` or ``Trainer.save`` at ``path``
    (the path given to save, with or without ``.npz``), for the same learner:
    a file that is not a checkpoint or does not fit the learner raises
    :class:`CheckpointError`. Nothing is unpickled."""
    name, arrays = _read(path)
    return _check(name, arrays, learner)


def _read(path) -> tuple:
    """(the file's name, its arrays), never unpickling anything."""
    name = _npz(path)
    if not os.path.exists(name):
        if os.path.exists(os.fspath(path)):
            name = os.fspath(path)
        else:
            tried = f"{name!r}" if name == os.fspath(path) else f"{os.fspath(path)!r} or {name!r}"
            raise FileNotFoundError(f"no checkpoint at {tried}")
    with open(name, "rb") as file:
        head = file.read(8)
    if not head.startswith(b"PK"):
        kind = (" but a pickle, which paralens never loads" if head[:1] == b"\x80"
                else " but a single .npy array" if head.startswith(b"\x93NUMPY") else "")
        raise CheckpointError(f"{name}: not a checkpoint: not an .npz archive{kind}")
    try:
        with np.load(name, allow_pickle=False) as data:
            return name, {k: data[k] for k in data.files}
    except ValueError as error:
        if "pickle" in str(error) or "bject" in str(error):
            raise CheckpointError(f"{name}: holds Python objects (pickled data), which paralens "
                                  f"never loads") from error
        raise CheckpointError(f"{name}: the archive is truncated or damaged") from error
    except Exception as error:
        raise CheckpointError(f"{name}: the archive is truncated or damaged") from error


def _wire_problem(what: str, wire, array) -> str | None:
    if array.shape == wire.shape and array.dtype == wire.dtype:
        return None
    return (f"{what} is {wire} in the learner (shape {wire.shape}, {wire.dtype}), the file holds "
            f"shape {array.shape}, {array.dtype}")


def _check(name: str, arrays: dict, learner) -> tuple:
    """(state, parameters) from a checkpoint's arrays, once they fit the learner."""
    model, S, optimiser = learner.model, learner.state_type, type(learner.optimiser).__name__
    found = {}
    for key in arrays:
        match = re.fullmatch(r"param(\d+)_(.*)|state(\d+)", key, re.DOTALL)
        if match:
            found[key] = match
    other = sorted(k for k in arrays if k not in found and k not in (*_TRAINING, "optimiser"))
    if not found and (model.params or len(S) or "optimiser" not in arrays):
        raise CheckpointError(f"{name}: not a paralens checkpoint: it holds arrays "
                              f"{', '.join(sorted(arrays)) or '(none)'}, no parameters (param0_"
                              f"{model.params[0].name if model.params else '…'}, …)")
    if other:
        raise CheckpointError(f"{name}: not a paralens checkpoint: it holds arrays paralens does "
                              f"not write: {', '.join(other)}")
    if "optimiser" in arrays and str(arrays["optimiser"]) != optimiser:
        raise CheckpointError(f"{name}: written for the optimiser {arrays['optimiser']}, but the "
                              f"learner's is {optimiser}: their states differ")
    in_file = sorted(((int(m[1]), m[2]) for m in found.values() if m[1]))
    expected = [(i, p.name) for i, p in enumerate(model.params)]
    if in_file != expected:
        def listing(pairs):
            return ", ".join(n for _, n in pairs) or "none"
        raise CheckpointError(f"{name}: not for this model: the file holds {len(in_file)} "
                              f"parameters ({listing(in_file)}), the model {len(expected)} "
                              f"({listing(expected)})")
    states = sorted(int(m[3]) for m in found.values() if m[3])
    if states != list(range(len(S))):
        raise CheckpointError(f"{name}: the file holds {len(states)} optimiser state wires, "
                              f"{optimiser} on this model has {len(S)} ({S})")
    names, state_names = _keys(learner)
    problems = [_wire_problem(f"parameter {i} ({p.name})", p.ty.inside[0], arrays[k])
                for i, (p, k) in enumerate(zip(model.params, names))]
    problems += [_wire_problem(f"optimiser state wire {i} ({optimiser})", w, arrays[k])
                 for i, (w, k) in enumerate(zip(S.inside, state_names))]
    problems = [p for p in problems if p]
    if problems:
        raise CheckpointError(f"{name}: not for this learner: " + "; ".join(problems))
    return ([arrays[k] for k in state_names],
            {p: arrays[k] for p, k in zip(model.params, names)})


def _scalar(name: str, arrays: dict, key: str, kinds: str):
    value = arrays[key]
    if value.shape != () or value.dtype.kind not in kinds:
        raise CheckpointError(f"{name}: '{key}' is damaged: expected one number, found "
                              f"shape {value.shape}, {value.dtype}")
    return value[()]


def _count(name: str, arrays: dict, key: str, low: int, high: int | None = None) -> int:
    value = int(_scalar(name, arrays, key, "iu"))
    if value < low or high is not None and value > high:
        raise CheckpointError(f"{name}: '{key}' is {value}, outside {low}…{high if high else ''}")
    return value


def _batches(name: str, arrays: dict) -> Batches | None:
    """The data order of a training checkpoint (None for full-batch training)."""
    present = [k for k in _TRAINING[1:] if k in arrays]
    if not present:
        return None
    if len(present) < len(_TRAINING) - 1:
        missing = [k for k in _TRAINING[1:] if k not in arrays]
        raise CheckpointError(f"{name}: the data order is incomplete: no {', '.join(missing)}")
    order = arrays["order"]
    n = len(order) if order.ndim == 1 else -1
    if order.dtype.kind not in "iu" or not np.array_equal(np.sort(order), np.arange(n)):
        raise CheckpointError(f"{name}: 'order' is damaged: not an order of the examples")
    size = _count(name, arrays, "batch_size", 1, n)
    position = _count(name, arrays, "position", 0, n)
    shuffle = bool(_scalar(name, arrays, "shuffle", "b"))
    try:
        rng = json.loads(str(_scalar(name, arrays, "rng", "U")))
        np.random.default_rng().bit_generator.state = rng     # checks it
    except (ValueError, TypeError, KeyError) as error:
        raise CheckpointError(f"{name}: 'rng', the shuffling generator's state, is damaged") \
            from error
    return Batches(size, shuffle, order, position, rng)


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
