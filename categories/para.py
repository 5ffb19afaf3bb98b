"""Para: maps with parameter wires.

A Para map A → B is a pair (P, f) with f : P ⊗ A → B, the parameters P being
wires like any other. Each parameter wire is named by a :class:`Param` handle,
compared by identity, which also says how to initialise it.

* identity: (I, 1_A)
* (P, f) >> (Q, g) = (P ⊗ Q, (σ ⊗ 1_A) ; (1_Q ⊗ f) ; g): the reference writes the
  later map's parameters first, (Q ⊗ P, (1_Q ⊗ f) ; g); paralens puts them in
  **data-flow order** (the earlier map's first, as PyTorch's ``parameters()``
  lists them), the symmetry σ : P ⊗ Q → Q ⊗ P being one wiring box in front
* (P, f) @ (P′, f′) = (P ⊗ P′, interchange ; f ⊗ f′)
* reparametrisation by α : P̃ → P: (P̃, (α ⊗ 1_A) ; f)

Parameters have unique, readable **names**: a ready layer names its handles
under its own name (``dense.W``, ``dense.b``), and the k-th other layer of the
same kind in a model is ``dense_k`` (as PyTorch and Keras number them); ``init``
gives a name-keyed mapping (:class:`Parameters`) that also takes the handles.

>>> from paralens.categories import Real, Sigmoid
>>> layer1, layer2 = dense(4, 20, Sigmoid), dense(20, 3, Sigmoid)
>>> model = layer1 >> layer2
>>> model.names
('dense.W', 'dense.b', 'dense_1.W', 'dense_1.b')
>>> model.params[0] is layer1.params[0]
True
>>> model.dom, model.cod
(Real(4), Real(3))
>>> model.diagram.dom
Real(4, 20) @ Real(20) @ Real(20, 3) @ Real(3) @ Real(4)
>>> values = model.init(seed=0)
>>> values["dense.W"].shape, values[layer2.params[0]].shape
((4, 20), (20, 3))
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .adapter import CompositionError, Diagram, Id, Ty, building
from .smooth import Bias, Linear
from .structural import swap
from .syntax import function

__all__ = ["Param", "Para", "Parameters", "Scope", "dense", "normal", "zeros", "lecun",
           "unique_names", "wire_names"]


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


class Scope:
    """The layer a parameter belongs to (``dense``, ``gru``): the handles one call of
    a ready layer makes share one scope, compared by identity, so that a model's
    names can number each layer as a whole (``dense_1.W``, ``dense_1.b``)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"Scope({self.name})"


@dataclass(eq=False)
class Param:
    """A handle for one parameter wire, compared by identity. ``name`` is its
    name in its layer (``W``), ``scope`` the layer it belongs to (or None); a
    model's unique names are :attr:`Para.names`."""

    ty: Ty
    name: str = "p"
    init: Callable = field(default=zeros, repr=False)
    scope: Scope | None = field(default=None, repr=False)

    def __post_init__(self):
        if not isinstance(self.ty, Ty) or len(self.ty) != 1:
            raise TypeError(f"a parameter is one wire, got {self.ty!r}")
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"a parameter's name is a non-empty string, got {self.name!r}")

    def initial(self, rng) -> np.ndarray:
        wire = self.ty.inside[0]
        value = np.array(self.init(rng, wire.shape), dtype=wire.dtype, order="C")
        if value.shape != wire.shape:
            raise ValueError(f"parameter {self.name} ({self.ty!r}): its init returned shape "
                             f"{value.shape}, not {wire.shape}")
        return value

    def __repr__(self):
        return f"Param({self.name}: {self.ty!r})"


def wire_names(name: str, ty) -> list:
    """Names for the wires of ``ty``: ``name`` for one wire, ``name0``, ``name1``, … for
    several (what generated code calls a diagram's arguments and results).

    >>> from paralens.categories import Real
    >>> wire_names("x", Real(2)), wire_names("x", Real(2) @ Real(3))
    (['x'], ['x0', 'x1'])
    """
    return [name] if len(ty) == 1 else [f"{name}{k}" for k in range(len(ty))]


def unique_names(params) -> tuple:
    """The unique names of ``params``, in their order: ``scope.name`` for a handle in
    a layer (the k-th distinct layer of a kind numbered ``kind_k``, skipping a number
    whose names a free parameter already has), the bare name otherwise; a name still
    met twice gets ``_1``, ``_2``, … on its later uses.

    >>> from paralens.categories import Real
    >>> a, b = Param(Real(2), "w"), Param(Real(2), "w")
    >>> unique_names((a, b))
    ('w', 'w_1')
    """
    free = {p.name for p in params if p.scope is None}
    members = {}
    for p in params:
        if p.scope is not None:
            members.setdefault(p.scope, []).append(p.name)
    layers, counts, taken = {}, {}, set()
    names = []
    for p in params:
        if p.scope is None:
            names.append(p.name)
            continue
        if p.scope not in layers:
            k = counts.get(p.scope.name, 0)
            while True:
                label = p.scope.name if k == 0 else f"{p.scope.name}_{k}"
                if label not in taken and not any(f"{label}.{n}" in free
                                                  for n in members[p.scope]):
                    break
                k += 1
            counts[p.scope.name] = k + 1
            layers[p.scope] = label
            taken.add(label)
        names.append(f"{layers[p.scope]}.{p.name}")
    seen, unique = set(), []
    for name in names:
        candidate, k = name, 0
        while candidate in seen:
            k += 1
            candidate = f"{name}_{k}"
        seen.add(candidate)
        unique.append(candidate)
    return tuple(unique)


def _index(params: tuple, names: tuple) -> dict:
    """Handle or name ↦ position."""
    return {**{p: k for k, p in enumerate(params)}, **{n: k for k, n in enumerate(names)}}


class Parameters(MutableMapping):
    """The values of a model's parameters, keyed by their unique names (in the
    model's order) and also by their handles. Values can be replaced, never
    added or removed: the keys are the model's.

    >>> from paralens.categories import Real
    >>> model = dense(2, 1) >> dense(1, 1)
    >>> values = model.init(seed=0)
    >>> list(values)
    ['dense.W', 'dense.b', 'dense_1.W', 'dense_1.b']
    >>> values["dense_1.b"] = np.ones(1)
    >>> values[model.params[3]]
    array([1.])
    """

    def __init__(self, params, values, names=None, index=None):
        self._params = tuple(params)
        self._names = tuple(names) if names is not None else unique_names(self._params)
        self._index = index if index is not None else _index(self._params, self._names)
        self._values = list(values)
        if len(self._values) != len(self._params):
            raise ValueError(f"{len(self._values)} values for {len(self._params)} parameters")

    def _position(self, key) -> int:
        try:
            return self._index[key]
        except (KeyError, TypeError):
            pass
        what = f"handle {key!r}" if isinstance(key, Param) else repr(key)
        raise KeyError(f"{what} is not one of the parameters "
                       f"({', '.join(self._names) or 'none'})") from None

    def __getitem__(self, key):
        return self._values[self._position(key)]

    def __setitem__(self, key, value):
        self._values[self._position(key)] = value

    def __delitem__(self, key):
        raise TypeError("a model's parameters cannot be removed; replace a value instead")

    def __contains__(self, key):
        try:
            return key in self._index
        except TypeError:
            return False

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._params)

    @property
    def handles(self) -> tuple:
        """The parameter handles, in order."""
        return self._params

    def by_handle(self) -> dict:
        """A dict from handle to value (to gather the values of separate models)."""
        return dict(zip(self._params, self._values))

    def values(self):
        return list(self._values)

    def copy(self) -> Parameters:
        return Parameters(self._params, self._values, self._names, self._index)

    def __reduce__(self):
        return Parameters, (self._params, self._values, self._names)

    def __repr__(self):
        def describe(v):
            return f"{np.shape(v)} {getattr(v, 'dtype', type(v).__name__)}"
        inner = ", ".join(f"{n!r}: {describe(v)}" for n, v in zip(self._names, self._values))
        return f"Parameters({{{inner}}})"


class Para:
    """A parametrised map (P, f : P ⊗ A → B), P given by ``params`` (in data-flow
    order: a composite's earlier map's first)."""

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
    def _of(cls, params: tuple, diagram: Diagram, param_type: Ty, dom: Ty,
            draws: tuple | None = None) -> Para:
        """A Para map whose types are known to fit (built by composition)."""
        para = object.__new__(cls)
        para.params, para.diagram, para.param_type, para.dom = params, diagram, param_type, dom
        if draws is not None and draws != params:
            para._draws = draws
        return para

    @property
    def draws(self) -> tuple:
        """The order ``init`` draws the parameters in: the reference's composition
        order (a composite's later map first), so that a seed gives the same values
        as it always has, whatever the order of ``params``."""
        return self.__dict__.get("_draws", self.params)

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
        flow = tuple(p for para in maps for p in para.params)      # data-flow order
        draws = tuple(p for para in maps[::-1] for p in para.draws)
        return Para._of(params, diagram, later, self.dom, draws)._shared(flow)

    def _shared(self, order: tuple | None = None, draws: tuple | None = None) -> Para:
        """The map with each parameter handle met more than once made one wire,
        copied to every use: its cotangent is then the sum of its uses' (the
        reverse of copying), so tied weights train on their whole gradient. The
        handles come in ``order`` (by default, as they are), one wiring box in
        front of the diagram putting them where they are used."""
        unique = tuple(dict.fromkeys(self.params if order is None else order))
        draws = tuple(dict.fromkeys(self.draws if draws is None else draws))
        if unique == self.params:
            return Para._of(self.params, self.diagram, self.param_type, self.dom, draws)
        position = {p: k for k, p in enumerate(unique)}
        P = Ty().tensor(*(p.ty for p in unique))
        share = function(P, self.param_type)(
            lambda *wires: tuple(wires[position[p]] for p in self.params))
        return Para._of(unique, (share @ self.dom)._then(self.diagram), P, self.dom, draws)

    def __rshift__(self, other):
        return self.then(other) if isinstance(other, (Para, Diagram)) else NotImplemented

    def __rrshift__(self, other):
        return Para.lift(other).then(self) if isinstance(other, Diagram) else NotImplemented

    def tensor(self, other) -> Para:
        other = _para(other, "tensor")
        P, A, Q = self.param_type, self.dom, other.param_type
        interchange = P @ swap(Q, A) @ other.dom
        return Para._of(self.params + other.params, interchange >> self.diagram @ other.diagram,
                        P @ Q, A @ other.dom, self.draws + other.draws)._shared()

    def __matmul__(self, other):
        return self.tensor(other) if isinstance(other, (Para, Diagram, Ty)) else NotImplemented

    def __rmatmul__(self, other):
        return _para(other, "tensor").tensor(self) if isinstance(other, (Diagram, Ty)) \
            else NotImplemented

    def reparametrise(self, params, alpha: Diagram) -> Para:
        """(P̃, (α ⊗ 1_A) ; f) for α : P̃ → P, P̃ given by the new ``params``."""
        return Para(params, alpha @ self.dom >> self.diagram)

    @property
    def names(self) -> tuple:
        """The parameters' unique names, in order (``dense.W``, ``dense_1.W``, …)."""
        cached = self.__dict__.get("_names")
        if cached is None:
            cached = self._names = unique_names(self.params)
        return cached

    @property
    def arguments(self) -> list:
        """The names of the diagram's inputs: the parameters', then ``x`` (``x0``, …)."""
        return list(self.names) + wire_names("x", self.dom)

    @property
    def results(self) -> list:
        """The names of the diagram's outputs: ``y`` (``y0``, …)."""
        return wire_names("y", self.cod)

    @property
    def _parameter_index(self) -> dict:
        """Handle or name ↦ position, found once (every ``Parameters`` of this map shares
        it: a trainer makes one a step)."""
        cached = self.__dict__.get("_index")
        if cached is None:
            cached = self._index = _index(self.params, self.names)
        return cached

    def param(self, name: str) -> Param:
        """The handle of the parameter named ``name``."""
        try:
            return self.params[self.names.index(name)]
        except ValueError:
            raise KeyError(f"{name!r} is not one of the parameters "
                           f"({', '.join(self.names) or 'none'})") from None

    def parameters(self, values) -> Parameters:
        """``values`` as this map's :class:`Parameters`: a mapping keyed by names or
        handles (every parameter, nothing else), or a sequence in order."""
        return as_parameters(self, values)

    def init(self, seed: int = 0) -> Parameters:
        """Initial values, keyed by name (and handle): one generator per seed, drawn
        in the order :attr:`draws` gives, so they never depend on the data or the
        batch size."""
        rng = np.random.default_rng(seed)
        drawn = {p: p.initial(rng) for p in self.draws}
        return Parameters(self.params, [drawn[p] for p in self.params], self.names,
                          self._parameter_index)

    def draw(self, **params):
        return self.diagram.draw(**params)

    def __getstate__(self) -> dict:
        """What pickle stores (a learner or a machine stores its Para maps so): a
        parameter whose init pickle cannot store (a lambda) is named."""
        from .adapter import check_picklable
        for p, name in zip(self.params, self.names):
            check_picklable(p.init, f"cannot pickle the map: the init of its parameter "
                                    f"{name} ({p.ty!r})")
        return dict(self.__dict__)

    def __repr__(self):
        params = ", ".join(f"{n}: {p.ty!r}" for n, p in zip(self.names, self.params))
        return f"Para({params}{'; ' if params else ''}{self.dom!r} → {self.cod!r})"


def as_parameters(model, values, what: str = "params", source: str = "model.init()"):
    """``values`` as ``model``'s :class:`Parameters`, refusing in the user's words a
    mapping that misses a parameter or has a key that is none of them."""
    names = model.names
    if isinstance(values, Parameters) and values.handles == model.params:
        return values
    if isinstance(values, Mapping):
        keys = {}
        for key in values:
            if isinstance(key, Param):
                if key not in model.params:
                    raise KeyError(f"{what}: the handle {key!r} is not one of the parameters "
                                   f"({', '.join(names) or 'none'})")
                k = model.params.index(key)
            elif isinstance(key, str) and key in names:
                k = names.index(key)
            else:
                raise KeyError(f"{what}: {key!r} is not one of the parameters "
                               f"({', '.join(names) or 'none'})")
            if k in keys:
                raise KeyError(f"{what}: {names[k]!r} is given twice, by its name and by its "
                               f"handle; give each parameter once")
            keys[k] = key
        missing = [n for k, n in enumerate(names) if k not in keys]
        if missing:
            raise KeyError(f"{what}: no value for {what}[{missing[0]!r}] "
                           f"({model.params[names.index(missing[0])].ty!r}); {source} gives "
                           f"every one")
        return Parameters(model.params, [values[keys[k]] for k in range(len(names))], names,
                          model._parameter_index)
    if isinstance(values, (list, tuple)):
        if len(values) != len(names):
            raise ValueError(f"{what}: {len(values)} values for the {len(names)} parameters "
                             f"({', '.join(names) or 'none'})")
        return Parameters(model.params, values, names, model._parameter_index)
    raise TypeError(f"{what} must be the parameters' values keyed by name (as {source} gives "
                    f"them), got {type(values).__name__}")


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
    scope = Scope("dense")
    W, b = Param(linear.dom[:1], "W", lecun, scope), Param(linear.cod, "b", zeros, scope)
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
