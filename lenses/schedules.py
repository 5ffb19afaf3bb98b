"""Learning-rate schedules: the rate as a diagram of the update count.

A schedule maps t, the number of updates already done (0 at the first
update: optax's ``count``), to the learning rate of this update. It is a
diagram Real() → Real() of generators (Constant, Exp, Sin, Relu, Step and
arithmetic on wires), so an optimiser's ``put`` applies it to its traced
counter, ``schedule(t)``, and the rate is computed inside the compiled
training step: nothing is rebuilt as t grows.

| schedule | η(t), t = 0, 1, 2, … |
|---|---|
| ``constant_schedule(v)`` | v |
| ``linear_schedule(I, E, T, B)`` | I for t ≤ B; I + (E − I)(t − B)/T; E for t ≥ B + T |
| ``exponential_decay(I, T, r, B, E)`` | I·r^(max(t − B, 0)/T), then max(·, E) if r < 1, min(·, E) if r ≥ 1 |
| ``cosine_decay_schedule(I, T, α)`` | I·((1 − α)·½(1 + cos(π·min(t, T)/T)) + α) |
| ``warmup_cosine_decay_schedule(I, P, W, T, E)`` | linear from I to P for t < W, then the cosine decay from P to E over T − W steps, at t − W |
| ``piecewise_constant_schedule(I, {b: s})`` | I·Π s_b over the boundaries b ≤ t |

These are optax's definitions (``optax.schedules``), computed to within a few
units in the last place of float64: where the textbook form loses digits it is
rearranged (½(1 + cos πx) as sin²(π(1 − x)/2), a linear interpolation as a sum of
its two ends' shares, r^p as two exponentials whose first argument is exact),
and a phase held constant gives its constant exactly. optax's ``staircase``
(r^⌊(t − B)/T⌋) and ``exponent`` (of the cosine) are left out.

A schedule's diagram runs under any interpreter; its values:

>>> import numpy as np
>>> from paralens.interpreters.numpy import compile
>>> s = cosine_decay_schedule(0.1, decay_steps=4)
>>> s
cosine_decay_schedule(init_value=0.1, decay_steps=4, alpha=0.0)
>>> s.diagram.dom, s.diagram.cod
(Real(), Real())
>>> compile(s.diagram)(np.arange(6.0)).round(6)
array([0.1     , 0.085355, 0.05    , 0.014645, 0.      , 0.      ])

Inside a diagram, applied to the traced counter (here a gradient step on
three numbers, whose rate is a scalar spread to their shape):

>>> from paralens.categories import Real, Spread, function
>>> x = Real(3)
>>> step = function(Real() @ x @ x, x)(lambda t, p, g: p - Spread(x)(s(t)) * g)
>>> compile(step)(np.array(2.0), np.ones(3), np.ones(3))
array([0.95, 0.95, 0.95])

A schedule of one's own is any function of the counter written on wires:

>>> from paralens.categories import Reciprocal, Sqrt
>>> inverse_sqrt = Schedule(lambda t: 0.1 * Reciprocal(t.ty)(Sqrt(t.ty)(1.0 + t)),
...                         name="inverse_sqrt")
>>> compile(inverse_sqrt.diagram)(np.array([0.0, 3.0, 99.0]))
array([0.1 , 0.05, 0.01])
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Mapping
from decimal import Decimal, localcontext

from ..categories import Constant, Diagram, Exp, Real, Relu, Sin, Step, function
from ..categories.syntax import Wired

__all__ = ["Schedule", "constant_schedule", "linear_schedule", "exponential_decay",
           "cosine_decay_schedule", "warmup_cosine_decay_schedule",
           "piecewise_constant_schedule"]

#: π to 36 digits: constants are rounded once, from Decimal arithmetic
_PI = Decimal("3.14159265358979323846264338327950288")
_DIGITS = 40


class Schedule:
    """The learning rate as a function of the update count t: ``schedule(t)``
    applies ``fn`` to a traced wire t (a scalar, Real() of any dtype) and returns
    the traced rate; ``schedule.diagram`` is that function as a diagram Real() →
    Real() (float64). ``fn`` is written on wires: numbers, arithmetic, and
    generators on ``t.ty`` (so that a float32 counter gets a float32 rate). A
    constant rate is one value shared by every count (NumPy broadcasts it).

    >>> s = Schedule(lambda t: 0.5 * t + 1.0, name="affine")
    >>> s
    affine
    >>> [box.name for box in s.diagram.boxes]
    ['Scale(0.5)', 'Constant(1)', 'Add']
    >>> s(3)
    Traceback (most recent call last):
    ...
    TypeError: affine is applied to the traced counter (a wire, inside function(...)), got 3; its values are those of its diagram: interpreters.numpy.compile(schedule.diagram)(np.arange(10.0))
    """

    def __init__(self, fn, name: str | None = None):
        if not callable(fn):
            raise TypeError(f"Schedule(fn): fn must be a function of the counter wire t, "
                            f"got {fn!r}")
        self.fn = fn
        self.name = name or f"Schedule({getattr(fn, '__name__', repr(fn))})"
        self._diagram = None

    def __repr__(self):
        return self.name

    def __call__(self, t: Wired) -> Wired:
        if not isinstance(t, Wired):
            raise TypeError(f"{self.name} is applied to the traced counter (a wire, inside "
                            f"function(...)), got {t!r}; its values are those of its diagram: "
                            f"interpreters.numpy.compile(schedule.diagram)(np.arange(10.0))")
        wire = t.ty.inside[0]
        if wire.kind != "Real" or wire.shape or wire.time:
            raise TypeError(f"{self.name}: the counter is one number, a wire of type Real(), "
                            f"got {t.ty!r}")
        rate = self.fn(t)
        if isinstance(rate, numbers.Real) and not isinstance(rate, bool):
            rate = Constant(rate, t.ty)()
        if not isinstance(rate, Wired) or rate.tape is not t.tape or rate.ty != t.ty:
            found = rate.ty if isinstance(rate, Wired) else rate
            raise TypeError(f"{self.name}: fn(t) must give the rate as a wire of the counter's "
                            f"type {t.ty!r} (a number, or arithmetic on t), got {found!r}")
        return rate

    @property
    def diagram(self) -> Diagram:
        """The schedule as a diagram Real() → Real(): the count in, the rate out."""
        if self._diagram is None:
            self._diagram = function(Real(), Real())(self)
        return self._diagram

    def __reduce__(self):
        """A ready schedule pickles as its call (``cosine_decay_schedule(0.1, 4)``); one
        of a user's function as that function, which pickle must be able to find."""
        rebuild = self.__dict__.get("_rebuild")
        if rebuild is not None:
            return _build, rebuild
        from ..categories.adapter import check_picklable
        check_picklable(self.fn, f"cannot pickle the schedule {self.name}: its function")
        return Schedule, (self.fn, self.name)


def _build(builder, args, kwargs) -> Schedule:
    return builder(*args, **kwargs)


def _ready(builder):
    """A ready schedule's builder: what it builds pickles as the call that built it."""
    @functools.wraps(builder)
    def build(*args, **kwargs):
        schedule = builder(*args, **kwargs)
        schedule._rebuild = (build, args, kwargs)
        return schedule
    return build


# -- arguments ------------------------------------------------------------------------

def _number(who: str, name: str, value) -> float:
    """A finite real number (not a bool, not a string)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{who}: {name} must be a real number, got {value!r} "
                        f"({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"{who}: {name} must be a finite number, got {value!r}")
    return float(value)


def _steps(who: str, name: str, value, least: int = 0) -> int:
    """A whole number of steps, at least ``least``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{who}: {name} must be a whole number of steps, got {value!r} "
                        f"({type(value).__name__})")
    if not (math.isfinite(value) and float(value).is_integer()):
        raise ValueError(f"{who}: {name} must be a whole number of steps, got {value!r}")
    if value < least:
        why = " (a negative number of steps)" if value < 0 else ""
        raise ValueError(f"{who}: {name} must be at least {least}, got {value!r}{why}")
    return int(value)


def _call(name: str, **arguments) -> str:
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})"


def _exact(fn):
    """fn of Decimals, computed to 40 digits and rounded once to a float."""
    with localcontext() as context:
        context.prec = _DIGITS
        return float(fn())


# -- pieces, on the traced counter ----------------------------------------------------------

def _at_least(t: Wired, count: int) -> Wired:
    """1 where the whole number t ≥ count, else 0 (exact: t − count + ½ is never 0)."""
    return Step(t.ty)(t - (count - 0.5))


def _where(condition: Wired, a, b):
    """a where the condition (0 or 1) is 1, b where it is 0, exactly (a, b finite)."""
    return condition * a + (1.0 - condition) * b


def _linear(t: Wired, init: float, end: float, steps: int, begin: int) -> Wired:
    """init for t ≤ begin, end for t ≥ begin + steps, between them
    init·(steps − k)/steps + end·k/steps, k = t − begin (each share to an ulp)."""
    k = t - float(begin) if begin else t
    between = (float(steps) - k) * (init / steps) + k * (end / steps)
    held = _where(_at_least(t, begin + 1), between, init)
    return _where(_at_least(t, begin + steps), end, held)


def _cosine(k: Wired, steps: int, scale: float, floor: float, start: float) -> Wired:
    """scale·½(1 + cos(π·min(k, steps)/steps)) + floor for k ≥ 0, the half-cosine
    written sin²(π(steps − min(k, steps))/(2·steps)): no cancellation near its end,
    where it is floor exactly; at k = 0 it is start (= scale + floor) exactly."""
    left = float(steps) - (k - Relu(k.ty)(k - float(steps)))     # steps − min(k, steps) ≥ 0
    half_turn = _exact(lambda: _PI / (2 * Decimal(steps)))
    s = Sin(k.ty)(half_turn * left)
    return _where(_at_least(k, 1), scale * (s * s) + floor, start)


# -- the schedules ------------------------------------------------------------------------

@_ready
def constant_schedule(value: float) -> Schedule:
    """η(t) = value.

    >>> constant_schedule(0.01)
    constant_schedule(value=0.01)
    """
    value = _number("constant_schedule", "value", value)
    return Schedule(lambda t: Constant(value, t.ty)(), _call("constant_schedule", value=value))


@_ready
def linear_schedule(init_value: float, end_value: float, transition_steps: int,
                    transition_begin: int = 0) -> Schedule:
    """From init_value to end_value linearly over transition_steps updates, after
    transition_begin updates (optax's ``linear_schedule``; transition_steps ≥ 1).

    >>> import numpy as np
    >>> from paralens.interpreters.numpy import compile
    >>> compile(linear_schedule(1.0, 0.0, 4, transition_begin=1).diagram)(np.arange(7.0))
    array([1.  , 1.  , 0.75, 0.5 , 0.25, 0.  , 0.  ])
    """
    who = "linear_schedule"
    init, end = _number(who, "init_value", init_value), _number(who, "end_value", end_value)
    steps = _steps(who, "transition_steps", transition_steps, least=1)
    begin = _steps(who, "transition_begin", transition_begin)
    return Schedule(lambda t: _linear(t, init, end, steps, begin),
                    _call(who, init_value=init, end_value=end, transition_steps=steps,
                          transition_begin=begin))


def _log_rate(rate: float, steps: int) -> tuple:
    """log(rate)/steps as hi + lo, hi with 26 significant bits so that hi·k is exact
    for a count k < 2²⁷, lo the rest: r^(k/steps) = exp(hi·k)·exp(lo·k) to ~2 ulps,
    where exp(k·log(r)/steps) would lose |k·log(r)/steps| ulps."""
    with localcontext() as context:
        context.prec = _DIGITS
        c = Decimal(rate).ln() / steps
        hi = float(c)
        if hi:
            mantissa, exponent = math.frexp(hi)
            hi = math.ldexp(round(mantissa * 2 ** 26), exponent - 26)
        return hi, float(c - Decimal(hi))


@_ready
def exponential_decay(init_value: float, transition_steps: int, decay_rate: float,
                      transition_begin: int = 0, end_value: float | None = None) -> Schedule:
    """init_value·decay_rate^((t − transition_begin)/transition_steps) after
    transition_begin updates (init_value before), bounded by end_value: below if
    decay_rate < 1, above if decay_rate ≥ 1 (optax's ``exponential_decay``, without
    ``staircase``; transition_steps ≥ 1 and decay_rate > 0, where optax makes either
    a constant schedule).

    >>> import numpy as np
    >>> from paralens.interpreters.numpy import compile
    >>> s = exponential_decay(1.0, transition_steps=2, decay_rate=0.25, end_value=0.1)
    >>> compile(s.diagram)(np.arange(5.0))
    array([1.   , 0.5  , 0.25 , 0.125, 0.1  ])
    """
    who = "exponential_decay"
    init = _number(who, "init_value", init_value)
    steps = _steps(who, "transition_steps", transition_steps, least=1)
    rate = _number(who, "decay_rate", decay_rate)
    if rate <= 0:
        raise ValueError(f"{who}: decay_rate must be positive, got {decay_rate!r}"
                         + (" (a constant rate is constant_schedule)" if rate == 0 else ""))
    begin = _steps(who, "transition_begin", transition_begin)
    end = None if end_value is None else _number(who, "end_value", end_value)
    hi, lo = _log_rate(rate, steps)
    # a growing rate capped by end_value would overflow, and inf·0 is not 0 in the
    # select: its count is held where it has passed the cap (one step past, to be sure)
    held = None
    if end is not None and rate > 1 and init > 0:
        held = 0 if end <= init else math.ceil(math.log(end / init) / math.log(rate) * steps) + 1

    def schedule(t):
        k = Relu(t.ty)(t - float(begin))
        if held is not None:
            k = k - Relu(t.ty)(k - float(held))
        value = init * Exp(t.ty)(hi * k) * Exp(t.ty)(lo * k)
        if end is None:
            return value
        past = Step(t.ty)(value - end) if rate < 1 else Step(t.ty)(end - value)
        return _where(past, value, end)
    arguments = dict(init_value=init, transition_steps=steps, decay_rate=rate,
                     transition_begin=begin)
    return Schedule(schedule, _call(who, **arguments, **(
        {} if end is None else {"end_value": end})))


@_ready
def cosine_decay_schedule(init_value: float, decay_steps: int, alpha: float = 0.0) -> Schedule:
    """init_value·((1 − alpha)·½(1 + cos(π·min(t, decay_steps)/decay_steps)) + alpha)
    (optax's ``cosine_decay_schedule``, without ``exponent``; decay_steps ≥ 1).

    >>> import numpy as np
    >>> from paralens.interpreters.numpy import compile
    >>> compile(cosine_decay_schedule(2.0, 2, alpha=0.5).diagram)(np.arange(4.0))
    array([2. , 1.5, 1. , 1. ])
    """
    who = "cosine_decay_schedule"
    init = _number(who, "init_value", init_value)
    steps = _steps(who, "decay_steps", decay_steps, least=1)
    alpha = _number(who, "alpha", alpha)
    scale = _exact(lambda: Decimal(init) * (1 - Decimal(alpha)))
    floor = _exact(lambda: Decimal(init) * Decimal(alpha))
    return Schedule(lambda t: _cosine(t, steps, scale, floor, init),
                    _call(who, init_value=init, decay_steps=steps, alpha=alpha))


@_ready
def warmup_cosine_decay_schedule(init_value: float, peak_value: float, warmup_steps: int,
                                 decay_steps: int, end_value: float = 0.0) -> Schedule:
    """Linear from init_value to peak_value over warmup_steps updates, then the cosine
    decay from peak_value to end_value over decay_steps − warmup_steps (decay_steps
    counts the warm-up, as in optax's ``warmup_cosine_decay_schedule``, without
    ``exponent``; a peak of 0 decays to 0, as optax's alpha = 0 there).
    It is init_value at t = 0, peak_value at t = warmup_steps and end_value from
    t = decay_steps on, exactly.

    >>> import numpy as np
    >>> from paralens.interpreters.numpy import compile
    >>> s = warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=2, decay_steps=4, end_value=0.5)
    >>> compile(s.diagram)(np.arange(6.0))
    array([0.  , 0.5 , 1.  , 0.75, 0.5 , 0.5 ])
    """
    who = "warmup_cosine_decay_schedule"
    init, peak = _number(who, "init_value", init_value), _number(who, "peak_value", peak_value)
    warmup = _steps(who, "warmup_steps", warmup_steps)
    steps = _steps(who, "decay_steps", decay_steps, least=1)
    if steps <= warmup:
        raise ValueError(f"{who}: decay_steps counts the warm-up and must exceed "
                         f"warmup_steps, got decay_steps={decay_steps!r}, "
                         f"warmup_steps={warmup_steps!r}")
    end = _number(who, "end_value", end_value)
    scale = 0.0 if peak == 0 else _exact(lambda: Decimal(peak) - Decimal(end))
    floor = 0.0 if peak == 0 else end

    def schedule(t):
        decay = _cosine(Relu(t.ty)(t - float(warmup)), steps - warmup, scale, floor, peak)
        if not warmup:
            return decay
        return _where(_at_least(t, warmup), decay, _linear(t, init, peak, warmup, 0))
    return Schedule(schedule, _call(who, init_value=init, peak_value=peak, warmup_steps=warmup,
                                    decay_steps=steps, end_value=end))


@_ready
def piecewise_constant_schedule(init_value: float,
                                boundaries_and_scales: Mapping | None = None) -> Schedule:
    """init_value times every scale whose boundary the count has reached (t ≥ b),
    the products rounded once (optax's ``piecewise_constant_schedule``; scales ≥ 0,
    boundaries whole numbers ≥ 0).

    >>> import numpy as np
    >>> from paralens.interpreters.numpy import compile
    >>> s = piecewise_constant_schedule(1.0, {2: 0.5, 4: 0.1})
    >>> compile(s.diagram)(np.arange(6.0))
    array([1.  , 1.  , 0.5 , 0.5 , 0.05, 0.05])
    """
    who = "piecewise_constant_schedule"
    init = _number(who, "init_value", init_value)
    if boundaries_and_scales is None:
        boundaries_and_scales = {}
    if not isinstance(boundaries_and_scales, Mapping):
        raise TypeError(f"{who}: boundaries_and_scales must be a dict {{step: scale}}, got "
                        f"{boundaries_and_scales!r}")
    pieces = sorted((_steps(who, "a boundary", b), _number(who, f"the scale at {b!r}", s))
                    for b, s in boundaries_and_scales.items())
    for b, s in pieces:
        if s < 0:
            raise ValueError(f"{who}: scales must be non-negative, got {s!r} at {b!r}")
    values, product = [], Decimal(init)
    for b, s in pieces:
        product = _product(product, s)
        values.append((b, float(product)))           # rounded once

    def schedule(t):
        rate = Constant(init, t.ty)()
        for b, value in values:
            rate = _where(_at_least(t, b), value, rate)
        return rate
    return Schedule(schedule, _call(who, init_value=init, boundaries_and_scales=dict(pieces)))


def _product(a: Decimal, b: float) -> Decimal:
    """a·b exactly (the product of floats' Decimals: as many digits as it needs)."""
    with localcontext() as context:
        context.prec = 2000
        return a * Decimal(b)
