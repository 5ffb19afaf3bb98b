"""The checkpoint file: where training stands, as an ``.npz`` archive of plain arrays.

A checkpoint holds a learner's parameters **by name** (``param0_dense.W``: the
position, then the parameter's unique name), the optimiser's state
(``opt_state0``, …), and, written by a trainer, where training stands: ``step``,
the data order of mini-batch training (``batch_size``, ``shuffle``, ``order``,
``position``, ``rng``), a fingerprint of the data (``data``), the learner's
``reduction`` (a file is refused by a learner of another) and, for truncated
BPTT, the state each sequence carries (``state0``, …) and the segment
``length``. Files are written whole or not at all, read without unpickling
anything, and checked against the learner: a file that does not fit it raises
:class:`CheckpointError` naming the file and what differs.

>>> import os, tempfile
>>> from paralens.categories import Real, dense
>>> from paralens.lenses.learner import Learner
>>> from paralens.lenses.losses import mse
>>> from paralens.lenses.optimisers import Adam
>>> learner = Learner(dense(2, 1), mse(Real(1)), Adam())
>>> opt_state, params = learner.init(0)
>>> path = save(os.path.join(tempfile.mkdtemp(), "start"), learner, opt_state, params)
>>> _, again = load(path, learner)
>>> list(again), bool((again["dense.W"] == params["dense.W"]).all())
(['dense.W', 'dense.b'], True)
"""

from __future__ import annotations

import json
import os
import re

import numpy as np

__all__ = ["CheckpointError", "save", "load", "write", "read"]


class CheckpointError(ValueError):
    """A file that is not a checkpoint, or not one for this learner."""


#: the arrays a trainer adds to the parameters and the optimiser's state
TRAINING = ("step", "data", "reduction", "length", "batch_size", "shuffle", "order",
            "position", "rng")
_ORDER = TRAINING[4:]


def _keys(learner):
    return ([f"param{i}_{name}" for i, name in enumerate(learner.model.names)],
            [f"opt_state{i}" for i in range(len(learner.state_type))])


def _npz(path) -> str:
    """The file ``np.savez(path)`` writes: ``.npz`` appended unless there."""
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"


def write(path, learner, opt_state, params, extra: dict) -> str:
    """The parameters, the optimiser state and ``extra`` arrays to ``path``, whole or
    not at all (an interrupted save leaves the old file intact); the file's path."""
    names, state_names = _keys(learner)
    params = learner.model.parameters(params)
    if len(opt_state) != len(state_names):
        raise ValueError(f"save: {type(learner.optimiser).__name__} has {len(state_names)} "
                         f"optimiser state wires, got {len(opt_state)} values")
    arrays = dict(zip(names, params.values()))
    arrays.update(zip(state_names, opt_state))
    arrays.update(extra, optimiser=np.str_(type(learner.optimiser).__name__))
    final = _npz(path)
    partial = final + ".partial"
    try:
        with open(partial, "wb") as file:
            np.savez(file, **arrays)
        os.replace(partial, final)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return final


def save(path, learner, opt_state: list, params) -> str:
    """Parameters and optimiser state to an ``.npz`` file (``.npz`` appended to
    ``path`` unless there), exactly; returns the file's path. ``Trainer.save``
    also keeps where training stands."""
    return write(path, learner, opt_state, params, {})


def load(path, learner):
    """(optimiser state, parameters) saved by :func:`save` or ``Trainer.save`` at
    ``path`` (with or without ``.npz``), for the same learner: a file that is not
    a checkpoint or does not fit the learner raises :class:`CheckpointError`.
    Nothing is unpickled."""
    name, arrays = read(path)
    return check(name, arrays, learner)


def read(path) -> tuple:
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


def check(name: str, arrays: dict, learner, carried: int = 0) -> tuple:
    """(optimiser state, parameters) from a checkpoint's arrays, once they fit the
    learner; ``carried`` state wires (``state0``, …) may be there too."""
    model, S, optimiser = learner.model, learner.state_type, type(learner.optimiser).__name__
    found = {}
    for key in arrays:
        match = re.fullmatch(r"param(\d+)_(.*)|opt_state(\d+)|state(\d+)", key, re.DOTALL)
        if match:
            found[key] = match
    other = sorted(k for k in arrays if k not in found and k not in (*TRAINING, "optimiser"))
    if not found and (model.params or len(S) or "optimiser" not in arrays):
        raise CheckpointError(f"{name}: not a paralens checkpoint: it holds arrays "
                              f"{', '.join(sorted(arrays)) or '(none)'}, no parameters (param0_"
                              f"{model.names[0] if model.params else '…'}, …)")
    if other:
        raise CheckpointError(f"{name}: not a paralens checkpoint: it holds arrays paralens does "
                              f"not write: {', '.join(other)}")
    if "optimiser" in arrays and str(arrays["optimiser"]) != optimiser:
        raise CheckpointError(f"{name}: written for the optimiser {arrays['optimiser']}, but the "
                              f"learner's is {optimiser}: their states differ")
    in_file = sorted((int(m[1]), m[2]) for m in found.values() if m[1])
    expected = list(enumerate(model.names))
    if sorted(n for _, n in in_file) != sorted(model.names):
        def listing(pairs):
            return ", ".join(n for _, n in pairs) or "none"
        missing = [n for n in model.names if n not in {m for _, m in in_file}]
        hint = f"; no params[{missing[0]!r}] in the file" if missing else ""
        raise CheckpointError(f"{name}: not for this model: the file holds {len(in_file)} "
                              f"parameters ({listing(in_file)}), the model {len(expected)} "
                              f"({listing(expected)}){hint}")
    by_name = {n: arrays[f"param{i}_{n}"] for i, n in in_file}
    states = sorted(int(m[3]) for m in found.values() if m[3])
    if states != list(range(len(S))):
        raise CheckpointError(f"{name}: the file holds {len(states)} optimiser state wires, "
                              f"{optimiser} on this model has {len(S)} ({S})")
    problems = [_wire_problem(f"params[{n!r}]", p.ty.inside[0], by_name[n])
                for p, n in zip(model.params, model.names)]
    problems += [_wire_problem(f"optimiser state wire {i} ({optimiser})", w, arrays[f"opt_state{i}"])
                 for i, w in enumerate(S.inside)]
    problems = [p for p in problems if p]
    if problems:
        raise CheckpointError(f"{name}: not for this learner: " + "; ".join(problems))
    kept = sorted(int(m[4]) for m in found.values() if m[4])
    if kept and kept != list(range(carried)):
        raise CheckpointError(f"{name}: the file holds {len(kept)} carried state wires, the "
                              f"learner's machine has {carried}")
    return ([arrays[f"opt_state{i}"] for i in range(len(S))],
            model.parameters({n: by_name[n] for n in model.names}))


def scalar(name: str, arrays: dict, key: str, kinds: str):
    """The one number ``key`` holds, of a dtype kind in ``kinds``."""
    value = arrays[key]
    if value.shape != () or value.dtype.kind not in kinds:
        raise CheckpointError(f"{name}: '{key}' is damaged: expected one number, found "
                              f"shape {value.shape}, {value.dtype}")
    return value[()]


def count(name: str, arrays: dict, key: str, low: int, high: int | None = None) -> int:
    """The whole number ``key`` holds, from ``low`` to ``high``."""
    value = int(scalar(name, arrays, key, "iu"))
    if value < low or high is not None and value > high:
        raise CheckpointError(f"{name}: '{key}' is {value}, outside {low}…{high if high else ''}")
    return value


def data_order(name: str, arrays: dict):
    """(batch size, shuffle, order, position, rng) of mini-batch training, or None."""
    present = [k for k in _ORDER if k in arrays]
    if not present:
        return None
    if len(present) < len(_ORDER):
        missing = [k for k in _ORDER if k not in arrays]
        raise CheckpointError(f"{name}: the data order is incomplete: no {', '.join(missing)}")
    order = arrays["order"]
    n = len(order) if order.ndim == 1 else -1
    if order.dtype.kind not in "iu" or not np.array_equal(np.sort(order), np.arange(n)):
        raise CheckpointError(f"{name}: 'order' is damaged: not an order of the examples")
    size = count(name, arrays, "batch_size", 1, n)
    position = count(name, arrays, "position", 0, n)
    shuffle = bool(scalar(name, arrays, "shuffle", "b"))
    try:
        rng = json.loads(str(scalar(name, arrays, "rng", "U")))
        np.random.default_rng().bit_generator.state = rng     # checks it
    except (ValueError, TypeError, KeyError) as error:
        raise CheckpointError(f"{name}: 'rng', the shuffling generator's state, is damaged") \
            from error
    return size, shuffle, order, position, rng


def order_arrays(size, shuffle, order, position, rng) -> dict:
    """The arrays :func:`data_order` reads back."""
    return dict(batch_size=np.int64(size), shuffle=np.bool_(shuffle),
                order=np.asarray(order, dtype=np.int64), position=np.int64(position),
                rng=np.str_(json.dumps(rng)))
