"""Checking an equality at random points, for both families of laws (the laws of
diagrams, :mod:`categories.laws`, and the delayed-trace laws of machines,
:mod:`categories.trace_laws`): the random points (:func:`uniform`), the comparison
(bits exactly, numbers to a tolerance set by the wires' precision), and the report
of which law fails and on which input (:class:`Report`, :class:`Failure`).

>>> import numpy as np
>>> from paralens.categories import Real
>>> point = uniform(0.5, 2.0)(Real(3).inside[0], np.random.default_rng(0), 4)
>>> point.shape, bool(((0.5 <= point) & (point <= 2.0)).all())
((4, 3), True)
>>> report = Report(["x = x"])
>>> report.ok, str(report)
(True, 'x = x: ok')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .adapter import Diagram

__all__ = ["Law", "Report", "Failure", "uniform"]


@dataclass
class Law:
    """``lhs`` and ``rhs`` must be equal maps."""

    name: str
    lhs: Diagram
    rhs: Diagram

    def __post_init__(self):
        if (self.lhs.dom, self.lhs.cod) != (self.rhs.dom, self.rhs.cod):
            raise TypeError(f"{self.name}: the two sides have different types: "
                            f"{self.lhs.dom!r} → {self.lhs.cod!r} and "
                            f"{self.rhs.dom!r} → {self.rhs.cod!r}")


@dataclass
class Failure:
    """A law that fails: its name, the inputs, and the two sides' values there."""

    law: str
    inputs: list
    lhs: list
    rhs: list

    def __str__(self):
        inputs = ", ".join(np.array2string(np.asarray(x), precision=4) for x in self.inputs)
        return (f"{self.law} fails at ({inputs}):\n"
                f"  lhs = {[np.asarray(v).round(6).tolist() for v in self.lhs]}\n"
                f"  rhs = {[np.asarray(v).round(6).tolist() for v in self.rhs]}")


@dataclass
class Report:
    """The laws checked and the failures found (at most one per law)."""

    checked: list = field(default_factory=list)
    failures: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self):
        lines = [f"{name}: {'ok' if all(f.law != name for f in self.failures) else 'FAILS'}"
                 for name in self.checked]
        return "\n".join(lines + [str(f) for f in self.failures])

    def assert_ok(self):
        if not self.ok:
            raise AssertionError(str(self))


def uniform(low=-1.0, high=1.0):
    """Random points with entries uniform in [low, high]."""
    def sample(wire, rng, batch):
        shape = (batch, *wire.shape) if batch else wire.shape
        if wire.kind == "Bool":
            return rng.integers(0, 2, size=shape).astype(bool)
        return rng.uniform(low, high, size=shape).astype(wire.dtype)
    return sample


def _single(diagram) -> bool:
    """Whether some Real wire of the diagram is single precision (or less)."""
    return any(w.kind == "Real" and w.dtype.itemsize < 8
               for w in diagram.dom.inside + diagram.cod.inside)


def _equal(left, right, rtol, atol) -> bool:
    """Bits exactly, numbers to the tolerance (a shared value against a batched one broadcasts)."""
    left = np.broadcast_to(left, np.broadcast_shapes(np.shape(left), np.shape(right)))
    if np.asarray(left).dtype == bool or np.asarray(right).dtype == bool:
        return np.array_equal(left, np.broadcast_to(right, left.shape))
    return np.allclose(left, right, rtol=rtol, atol=atol, equal_nan=False)
