"""Para: maps with parameter wires.

A Para map A → B is a pair (P, f) with f : P ⊗ A → B, the parameters P being
wires like any other. Each parameter wire is named by a :class:`Param` handle,
compared by identity, which also says how to initialise it.

* identity: (I, 1_A)
* (P, f) >> (Q, g) = (Q ⊗ P, (1_Q ⊗ f) ; g): the later map's parameters first
* (P, f) @ (P′, f′) = (P ⊗ P′, interchange ; f ⊗ f′)
* reparametrisation by α : P̃ → P: (P̃, (α ⊗ 1_A) ; f)

>>> from paralens.categories import Real, Sigmoid
>>> layer1, layer2 = dense(4, 20, Sigmoid), dense(20, 3, Sigmoid)
>>> model = layer1 >> layer2
>>> [p.name for p in model.params]
['W', 'b', 'W', 'b']
>>> model.params[0] is layer2.params[0]
True
>>> model.dom, model.cod
(Real(4), Real(3))
>>> model.diagram.dom
Real(20, 3) @ Real(3) @ Real(4, 20) @ Real(20) @ Real(4)
>>> values = model.init(seed=0)
>>> values[layer1.params[0]].shape
(4, 20)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .adapter import CompositionError, Diagram, Id, Ty, building
from .smooth import Bias, Linear
from .structural import swap
from .syntax import function

__all__ = ["Param", "Para", "dense", "normal", "zeros", "lecun"]


def normal(std: float, rng=None, shape=None):
    """Initialise with independent N(0, std²) entries: ``normal(std)`` is the
    initialiser ``(rng, shape) ↦ array``, a partial of this function, so that it
    pickles (a lambda would not).

    >>> import pickle
    >>> init = pickle.loads(pickle.dumps(normal(0.1)))
    >>> init(np.random.default_rng(0), (2, 3)).shape
    (2, 3)
    """
    if rng is None:
        from functools import partial
        return partial(normal, std)
    return rng.normal(0.0, std, size=shape)


def zeros(rng, shape):
    """Initialise with zeros."""
    return np.zeros(shape)


def lecun(rng, shape):
    """N(0, 1/fan_in) for a weight matrix of shape (fan_in, fan_out) (drawn in
    (fan_out, fan_in) order, so a seed gives the same network as before the
    weights were laid out (in, out))."""
    return rng.normal(0.0, 1.0 / np.sqrt(max(shape[0], 1)), size=shape[::-1]).T.copy()


@dataclass(eq=False)
class Param:
    """A handle for one parameter wire, compared by identity."""

    ty: Ty
    name: str = "p"
    init: Callable = field(default=zeros, repr=False)

    def __post_init__(self):
        if not isinstance(self.ty, Ty) or len(self.ty) != 1:
            raise TypeError(f"a parameter is one wire, got {self.ty!r}")

    def initial(self, rng) -> np.ndarray:
        wire = self.ty.inside[0]
        value = np.array(self.init(rng, wire.shape), dtype=wire.dtype, order="C")
        if value.shape != wire.shape:
            raise ValueError(f"parameter {self.name} ({self.ty!r}): its init returned shape "
                             f"{value.shape}, not {wire.shape}")
        return value

    def __repr__(self):
        return f"Param({self.name}: {self.ty!r})"


class Para:
    """A parametrised map (P, f : P ⊗ A → B), P given by ``params``."""

    def __init__(self, params, diagram: Diagram):
        self.params = tuple(params)
        self.diagram = diagram
        wrong = next((p for p in self.params if not isinstance(p, Param)), None)
        if wrong is not None:
            raise TypeError(f"Para(params, diagram): params are Param handles "
                            f"(Param(Real(3, 4), 'W')), got {wrong!r}")
        if not isinstance(diagram, Diagram):
            raise TypeError(f"Para(params, diagram): expected a diagram, got {diagram!r}")
        n = len(self.params)
        self.param_type = Ty().tensor(*(p.ty for p in self.params))
        if diagram.dom[:n] != self.param_type:
            raise TypeError(f"Para: the diagram's first wires {diagram.dom[:n]!r} are not "
                            f"the parameters' types {self.param_type!r}")
        self.dom = diagram.dom[n:]
        shared = self._shared()         # a handle given twice is one parameter wire
        self.params, self.diagram, self.param_type = \
            shared.params, shared.diagram, shared.param_type

    @classmethod
    def _of(cls, params: tuple, diagram: Diagram, param_type: Ty, dom: Ty) -> Para:
        """A Para map whose types are known to fit (built by composition)."""
        para = object.__new__(cls)
        para.params, para.diagram, para.param_type, para.dom = params, diagram, param_type, dom
        return para

    @property
    def cod(self) -> Ty:
        return self.diagram.cod

    @classmethod
    def lift(cls, diagram: Diagram) -> Para:
        """A diagram as a Para map with no parameters."""
        return cls((), diagram)

    @classmethod
    def id(cls, x: Ty) -> Para:
        return cls((), Id(x))

    def then(self, *others) -> Para:
        """Sequential composition; ``then(*many)`` builds a long chain in linear time."""
        maps = [self] + [_para(o, "compose") for o in others]
        for k, (first, second) in enumerate(zip(maps, maps[1:])):
            if first.cod != second.dom:
                raise CompositionError(
                    f"cannot compose {first!r} with {second!r}"
                    f"{f' (map {k + 1} of the chain)' if len(maps) > 2 else ''}: "
                    f"{first.cod!r} ≠ {second.dom!r}")
        with building():
            return self._chain(maps)

    def _chain(self, maps) -> Para:
        later = Ty()      # the parameters of the maps after the current one
        diagram = None
        for para in reversed(maps):
            piece = later @ para.diagram
            diagram = piece if diagram is None else piece._then(diagram)
            later = later @ para.param_type
        params = tuple(p for para in maps[::-1] for p in para.params)
        return Para._of(params, diagram, later, self.dom)._shared()

    def _shared(self) -> Para:
        """The map with each parameter handle met more than once made one wire,
        copied to every use: its cotangent is then the sum of its uses' (the
        reverse of copying), so tied weights train on their whole gradient."""
        unique = tuple(dict.fromkeys(self.params))
        if len(unique) == len(self.params):
            return self
        position = {p: k for k, p in enumerate(unique)}
        P = Ty().tensor(*(p.ty for p in unique))
        share = function(P, self.param_type)(
            lambda *wires: tuple(wires[position[p]] for p in self.params))
        return Para._of(unique, (share @ self.dom)._then(self.diagram), P, self.dom)

    def __rshift__(self, other):
        return self.then(other) if isinstance(other, (Para, Diagram)) else NotImplemented

    def __rrshift__(self, other):
        return Para.lift(other).then(self) if isinstance(other, Diagram) else NotImplemented

    def tensor(self, other) -> Para:
        other = _para(other, "tensor")
        P, A, Q = self.param_type, self.dom, other.param_type
        interchange = P @ swap(Q, A) @ other.dom
        return Para._of(self.params + other.params, interchange >> self.diagram @ other.diagram,
                        P @ Q, A @ other.dom)._shared()

    def __matmul__(self, other):
        return self.tensor(other) if isinstance(other, (Para, Diagram, Ty)) else NotImplemented

    def __rmatmul__(self, other):
        return _para(other, "tensor").tensor(self) if isinstance(other, (Diagram, Ty)) \
            else NotImplemented

    def reparametrise(self, params, alpha: Diagram) -> Para:
        """(P̃, (α ⊗ 1_A) ; f) for α : P̃ → P, P̃ given by the new ``params``."""
        return Para(params, alpha @ self.dom >> self.diagram)

    def init(self, seed: int = 0) -> dict:
        """Initial values: one generator per seed, drawn in parameter order, so
        they never depend on the data or the batch size."""
        rng = np.random.default_rng(seed)
        return {p: p.initial(rng) for p in self.params}

    def draw(self, **params):
        return self.diagram.draw(**params)

    def __repr__(self):
        params = ", ".join(f"{p.name}: {p.ty!r}" for p in self.params)
        return f"Para({params}{'; ' if params else ''}{self.dom!r} → {self.cod!r})"


def _para(other, verb: str) -> Para:
    """A Para map, a diagram (no parameters) or a type (its identity) as a Para map."""
    if isinstance(other, Para):
        return other
    if isinstance(other, Ty):
        return Para.id(other)
    if isinstance(other, Diagram):
        return Para.lift(other)
    raise TypeError(f"cannot {verb} a Para map with {type(other).__name__} {other!r}: "
                    "it takes Para maps, diagrams and types")


def dense(n_in: int, n_out: int, activation=None, dtype="float64") -> Para:
    """linear ; bias ; activation: x ↦ activation(x @ W + b), W: Real(n_in, n_out), b: Real(n_out)."""
    if activation is not None and not callable(activation):
        raise TypeError(f"dense: the activation must be a generator such as Sigmoid or Tanh "
                        f"(or None), got {activation!r}")
    linear = Linear(n_in, n_out, dtype)
    W, b = Param(linear.dom[:1], "W", lecun), Param(linear.cod, "b", zeros)
    x, y = linear.dom[1:], linear.cod

    @function(W.ty @ b.ty @ x, y)
    def layer(w, bias, a):
        z = Bias(y)(bias, linear(w, a))
        if activation is None:
            return z
        try:
            act = activation(y)
        except (TypeError, ValueError) as error:
            act = error
        if not isinstance(act, Diagram):
            raise TypeError(f"dense: the activation must be a generator such as Sigmoid or "
                            f"Tanh, called on a type; {activation!r}({y!r}) gave {act!r}")
        return act(z)
    return Para((W, b), layer)
