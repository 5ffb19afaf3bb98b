"""Generators: boxes that declare their meaning once.

A generator carries its type and its reverse derivative in optic form, as two
diagrams of generators:

* ``forward()``:  A → M ⊗ B, the box itself plus the residual M it keeps,
* ``backward()``: M ⊗ B′ → A′, the reverse derivative read off the residual,

so that R[f](a, b′) = backward(π_M forward(a), b′) and no forward work is ever
redone in the backward half. Linear generators keep no residual (M = I).

Every concrete generator class is registered in ``Generator.registry`` (by its
name); interpreters keep one rule per registered name, and the law tests draw
from the registry, so a new generator is picked up everywhere. A name belongs
to one class, so that two generators can never share a rule by accident: a
different class (another module or qualified name) taking a name already
taken is refused when it is defined, while the same definition run again (a
notebook cell run twice) replaces it. A subclass has a name of its own, and
with it no rule until one is registered under that name.

>>> from paralens.categories import Sigmoid, Real
>>> s = Sigmoid(Real(3))
>>> s.residual()
Real(3)
>>> [box.name for box in s.backward().boxes if not hasattr(box, "wiring")]
['Mul', 'Neg', 'Constant(1)', 'Add', 'Mul']
>>> class Sigmoid(Generator):     # a user's own, in another module
...     pass
Traceback (most recent call last):
...
TypeError: a generator named Sigmoid already exists (paralens.categories.smooth.Sigmoid); give yours another name
"""

from __future__ import annotations

from .adapter import Box, Diagram, Real, Ty

__all__ = ["Generator", "LinearGenerator", "ConstantGenerator", "as_type", "OPERATIONS",
           "claim_name", "owner_of", "same_definition", "KERNELS"]

#: name ↦ a plan-level operation: not a generator (it has no type of its own nor a
#: derivative) but an equation interpreters add to plans (``interpreters.plan.operation``:
#: ``OuterSum``, ``Sub``); rule tables may be keyed by these names too
OPERATIONS: dict[str, type] = {}

#: name ↦ a Markov kernel (``categories.kernels``): the keys of the BFFG interpreter's
#: rule tables
KERNELS: dict[str, type] = {}


def _path(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def same_definition(a: type, b: type) -> bool:
    """Whether two classes come from one definition (the same module and qualified
    name: a notebook cell run twice)."""
    return a is b or _path(a) == _path(b)


def owner_of(name: str):
    """The class that owns a rule-table key: a registered generator or a plan-level
    operation (None if neither)."""
    return Generator.registry.get(name) or OPERATIONS.get(name) or KERNELS.get(name)


def claim_name(cls, table: dict):
    """Register ``cls`` in ``table`` under its name, refusing a name owned by a
    different class (another module or qualified name); the same definition run
    again replaces the old class."""
    name, owner = cls.__name__, owner_of(cls.__name__)
    if owner is not None and not same_definition(owner, cls):
        kind = ("generator" if Generator.registry.get(name) is owner else
                "kernel" if KERNELS.get(name) is owner else "plan-level operation")
        raise TypeError(f"a {kind} named {name} already exists ({_path(owner)}); "
                        f"give yours another name")
    table[name] = cls


def _structure(name: str) -> type:
    """A structure generator (Copy, Discard), declared in ``categories.structural``,
    which builds on this module: found through the registry, not imported."""
    return Generator.registry[name]


def as_type(x, dtype="float64") -> Ty:
    """``Real(x)`` for an int, the type itself for a type."""
    if isinstance(x, Ty):
        return x
    return Real(x, dtype=dtype)


class Generator(Box):
    """A box whose reverse derivative is declared as a lens of diagrams.

    Subclasses set ``smooth`` (differentiable everywhere on its domain),
    ``total`` (defined on every real input) and implement ``backward``; the
    default forward keeps the whole input as the residual.

    A partial generator whose domain is not simply "positive entries" may declare
    ``sample``, a function (wire, rng, batch) → array (a ``staticmethod``, as
    ``checking.uniform`` makes; batch 0: one example) that draws points inside
    its domain (invertible matrices for ``Solve``: ``linalg.invertible``); the
    law tests and ``laws.check_finite_differences`` sample its inputs with it.
    None (the default): they choose by ``total`` and ``smooth``.

    >>> from paralens.categories import LogDet
    >>> Generator.sample is None, LogDet.sample is not None
    (True, True)
    """

    registry: dict[str, type] = {}
    smooth = True
    total = True
    over = "Real"       # the wires it acts on: "Real", "Bool", or None for both
    sample = None       # (wire, rng, batch) → array inside the domain, if it declares one
    discrete = False    # a discrete domain (symbols): central differences do not apply

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("abstract", False):
            claim_name(cls, Generator.registry)

    abstract = True

    # -- the reverse derivative, in optic form -------------------------------
    def residual(self) -> Ty:
        """M, the type of what the forward half keeps for the backward half."""
        return self.dom

    def forward(self) -> Diagram:
        """A → M ⊗ B: run the box and keep the residual (by default, its input)."""
        return _structure("Copy").of(self.dom) >> self.dom @ self

    def backward(self) -> Diagram:
        """M ⊗ B′ → A′: the reverse derivative, from the residual and the cotangent."""
        raise NotImplementedError(f"{type(self).__name__} declares no reverse derivative")

    @classmethod
    def example(cls, n: int) -> Generator:
        """An instance on wires of size about n, for law tests and strategies."""
        raise NotImplementedError

    def dagger(self):
        raise TypeError(f"{self.name}: generators of a Cartesian category have no dagger")


class LinearGenerator(Generator):
    """A generator that is linear in its input: no residual, backward is its transpose."""

    abstract = True
    linear = True           # its tangent is itself, on the tangent (lenses.tangent)

    def residual(self) -> Ty:
        return Ty()

    def forward(self) -> Diagram:
        return self

    def transpose(self) -> Diagram:
        raise NotImplementedError

    def backward(self) -> Diagram:
        return self.transpose()


class ConstantGenerator(Generator):
    """A constant I → x: it keeps no residual, and R discards the cotangent."""

    abstract = True

    def residual(self) -> Ty:
        return Ty()

    def forward(self) -> Diagram:
        return self

    def backward(self) -> Diagram:
        return _structure("Discard").of(self.cod)
