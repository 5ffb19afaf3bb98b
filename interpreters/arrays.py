"""Arrays given for a wire: one rule for their shape, dtype and values, in the caller's words.

An entry point (``recurrent.run``, a trainer) takes arrays for the wires of a
diagram: parameters, states, sequences, their tangents and cotangents. Before
any work, each is checked against its wire and named as the caller named it
(``xs``, ``dxs[1]``, ``state``, ``params['W']``):

* **shape**: the leading axes the call gives it (a batch, or a batch and time,
  their sizes agreeing with the other arguments'), then the wire's own shape;
  ``shared=True`` also takes one example's value, shared by the batch;
* **dtype**: an array whose dtype converts exactly to the wire's
  (``np.can_cast(found, wire, "safe")``: ints or float32 for a float64 wire) is
  converted; any other (float64 for a float32 wire, complex, objects, strings)
  is refused with the conversion to write. Python numbers and lists of them take
  the wire's dtype when their kind allows it (as NumPy's arithmetic treats Python
  scalars), never complex ones;
* **values** (``finite=True``): NaN and ±∞ are refused, naming the first.

>>> import numpy as np
>>> from paralens.categories import Real
>>> x = Real(2).inside[0]
>>> as_wire("xs", np.ones((4, 5, 2), dtype=int), x, leading=[("batch", 4), ("time", None)]).dtype
dtype('float64')
>>> as_wire("dys", np.ones((4, 3, 2)), x, leading=[("batch", 4), ("time", 5)])
Traceback (most recent call last):
...
ValueError: dys (Real(2)): expected shape (batch, time, 2) = (4, 5, 2), got (4, 3, 2)
>>> as_wire("xs", np.ones(2, dtype=np.float64), Real(2, dtype="float32").inside[0])
Traceback (most recent call last):
...
TypeError: xs (Real(2, dtype='float32')): expected float32, got float64, which would lose precision; pass xs.astype(np.float32)
>>> as_wire("state", np.array([1j, 0]), x)
Traceback (most recent call last):
...
TypeError: state (Real(2)): expected float64, got complex128: its imaginary part would be lost; pass state.real if only the real part is meant
"""

from __future__ import annotations

import numpy as np

__all__ = ["as_wire", "convert", "exact", "check_finite", "check_params"]

#: the order of NumPy kinds in which a Python number or list widens (bool ⊂ int ⊂ float)
_WIDENS = {"b": 0, "i": 1, "u": 1, "f": 2}


def _hint(what: str, value, dtype: np.dtype) -> str:
    """The conversion to write, in the caller's words."""
    name = f"np.{dtype.name}" if dtype.name != "bool" else "bool"
    if isinstance(value, np.ndarray):
        return f"pass {what}.astype({name})"
    return f"pass np.asarray({what}, dtype={name})"


def exact(found, dtype) -> bool:
    """Whether numbers of dtype ``found`` convert to ``dtype`` exactly (the rule: ints
    or float32 to float64 do; float64 to float32, complex or anything to bool do not).

    >>> exact(np.dtype("int64"), np.float64), exact(np.dtype("float64"), np.float32)
    (True, False)
    """
    return np.dtype(found).kind in "biuf" and np.can_cast(found, dtype, "safe")


def convert(what: str, value, dtype) -> np.ndarray:
    """``value`` as an array of ``dtype`` if it converts exactly, else a TypeError
    naming ``what`` and the conversion to write (the dtype rule of this module).

    >>> convert("b", np.arange(3), np.float64)
    array([0., 1., 2.])
    >>> convert("b", [1.5, 2], np.float32).dtype           # Python numbers: the wire's dtype
    dtype('float32')
    >>> convert("b", np.array(["1.5"]), np.float64)
    Traceback (most recent call last):
    ...
    TypeError: b: expected float64, got <U3 (strings, not numbers); pass b.astype(np.float64) if they are numbers written out
    """
    return _convert(what, what, value, np.dtype(dtype))


def _convert(what: str, label: str, value, dtype: np.dtype) -> np.ndarray:
    """``convert``, its messages starting with ``label``, its hints naming ``what``."""
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{label}: a masked array, whose mask would be dropped; pass "
                        f"{what}.filled(value) (or np.asarray({what}) to drop the mask)")
    typed = isinstance(value, (np.ndarray, np.generic))
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:       # ragged lists
        raise ValueError(f"{label}: not an array ({str(error).splitlines()[0]})") from None
    found = array.dtype
    if found == dtype:
        return array
    if exact(found, dtype):
        return array.astype(dtype)
    if not typed and found.kind in _WIDENS and dtype.kind in _WIDENS and \
            _WIDENS[found.kind] <= _WIDENS[dtype.kind]:
        return np.asarray(value, dtype=dtype)
    hint = _hint(what, value, dtype)
    if found.kind == "c":
        real = f"{what}.real" if typed else f"np.real({what})"
        raise TypeError(f"{label}: expected {dtype}, got {found}: its imaginary part would be "
                        f"lost; pass {real} if only the real part is meant")
    if found.kind in "USO":
        kind = {"U": "strings", "S": "bytes", "O": "Python objects"}[found.kind]
        raise TypeError(f"{label}: expected {dtype}, got {found} ({kind}, not numbers); "
                        f"{hint} if they are numbers written out")
    if found.kind in _WIDENS and dtype.kind in _WIDENS and \
            _WIDENS[found.kind] <= _WIDENS[dtype.kind]:
        raise TypeError(f"{label}: expected {dtype}, got {found}, which would lose precision; "
                        f"{hint}")
    raise TypeError(f"{label}: expected {dtype}, got {found}, which does not convert exactly; "
                    f"{hint}")


def check_finite(what: str, array: np.ndarray) -> np.ndarray:
    """``array`` if its entries are finite (any that are not floats are), else a
    ValueError naming ``what`` and the first entry that is NaN or infinite.

    >>> check_finite("xs", np.array([[0.0, 1.0], [np.nan, 2.0]]))
    Traceback (most recent call last):
    ...
    ValueError: xs: entry [1, 0] is nan; the values must be finite
    """
    if array.dtype.kind in "fc" and array.size and not np.isfinite(array).all():
        where = np.argwhere(~np.isfinite(array))[0]
        value = array[tuple(where)]
        index = "" if array.ndim == 0 else f"entry [{', '.join(map(str, where))}] "
        raise ValueError(f"{what}: {index or 'the value '}is {value}; the values must be "
                         f"finite")
    return array


def _pattern(names) -> str:
    """A shape written with names for its axes: (batch, time, 2)."""
    return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"


def as_wire(what: str, value, wire, leading=(), shared: bool = False,
            finite: bool = False) -> np.ndarray:
    """``value`` checked for ``wire`` (shape, dtype, values) and converted to its dtype.

    ``leading``: the axes in front of one example's shape, as (name, size) pairs,
    the size None where any goes (the first of several arrays that must agree sets
    it); ``shared``: one example's value, without the leading axes, is taken too.
    Errors name ``what``: the expected shape, as names and as sizes, and the found.

    >>> from paralens.categories import Real
    >>> as_wire("state", np.zeros(3), Real(3).inside[0], [("batch", 4)], shared=True).shape
    (3,)
    >>> as_wire("state", np.zeros((2, 3)), Real(3).inside[0], [("batch", 4)], shared=True)
    Traceback (most recent call last):
    ...
    ValueError: state (Real(3)): expected shape (3,) (one example's, shared by the batch) or (batch, 3) = (4, 3), got (2, 3)
    """
    label = f"{what} ({wire!r})"
    array = _convert(what, label, value, wire.dtype)
    leading = list(leading)
    found = array.shape
    fits = len(found) == len(leading) + len(wire.shape) and \
        found[len(leading):] == wire.shape and \
        all(size is None or size == n for (_, size), n in zip(leading, found))
    if not fits and not (shared and found == wire.shape):
        own = [str(n) for n in wire.shape]
        pattern = _pattern([name for name, _ in leading] + own)
        sizes = [size for _, size in leading]
        concrete = "" if any(s is None for s in sizes) or not leading else \
            f" = {tuple(sizes) + wire.shape}"
        one = f"{wire.shape} (one example's, shared by the batch) or " if shared else ""
        hint = ""
        if len(leading) > 1 and len(found) == len(leading) + len(wire.shape) - 1 and \
                found[len(leading) - 1:] == wire.shape:          # (time, …): one sequence
            hint = f"; for a single sequence pass {what}[None]"
        elif wire.shape == (1, ) and leading and len(found) == len(leading):  # (n,) for (n, 1)
            unit = "step" if leading[-1][0] == "time" else "example"
            hint = f"; for one number per {unit} pass {what}[..., None]"
        raise ValueError(f"{label}: expected shape {one}{pattern}{concrete}, got {found}{hint}")
    if finite:
        check_finite(label, array)
    return array


def check_params(model, params, who: str = "model", source: str = "learner.init()",
                 what: str = "params", hint: str = ""):
    """``params`` as ``model``'s name-keyed ``Parameters``: a mapping (by name or handle)
    of every one of its parameters, each checked for its wire by :func:`as_wire` (finite
    values) and named ``params['dense.W']``; refused in those words otherwise."""
    if not hasattr(params, "keys"):
        raise TypeError(f"{what} must be the parameters' values keyed by name, as {source} "
                        f"gives them, got {type(params).__name__}{hint}")
    try:
        params = model.parameters(params)
    except KeyError as error:
        raise ValueError(f"{error.args[0]} (the {who}'s parameters: "
                         f"{', '.join(model.names) or 'none'})") from None
    return model.parameters([
        as_wire(f"{what}[{name!r}]", value, p.ty.inside[0], finite=True)
        for p, name, value in zip(model.params, model.names, params.values())])
