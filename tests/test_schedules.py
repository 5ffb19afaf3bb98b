"""Learning-rate schedules against optax's definitions, written out here.

The oracle is each optax formula (``optax/schedules/_schedule.py``) evaluated
in 40-digit arithmetic (mpmath), so that it is exact to float64: the textbook
forms lose digits in float64 (½(1 + cos x) near x = π, 1 − k/T near k = T), and a
float64 oracle would be the less accurate side. Each schedule's diagram, compiled
by the NumPy interpreter, is compared at every count t = 0..N, N past every
phase, within 1e-15 relative (plus 1e-30 of the schedule's scale, for the exact
zeros the oracle gives as 1e-41), and the NumPy interpreter and the code
generator agree to 1e-15.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import paralens.interpreters.codegen as codegen
import paralens.interpreters.numpy as inp
from paralens.categories import Real, Reciprocal, Spread, Sqrt, function
from paralens.lenses.schedules import (
    Schedule, constant_schedule, cosine_decay_schedule, exponential_decay, linear_schedule,
    piecewise_constant_schedule, warmup_cosine_decay_schedule)

mpmath.mp.dps = 40
mp = mpmath.mpf


# -- optax's definitions, in exact arithmetic -------------------------------------------

def optax_polynomial(init, end, power, steps, begin=0):
    def schedule(count):
        count = min(max(count - begin, 0), steps)          # jnp.clip(count - begin, 0, steps)
        frac = 1 - count / mp(steps)
        return (mp(init) - mp(end)) * frac ** power + mp(end)
    return schedule


def optax_linear(init, end, steps, begin=0):
    return optax_polynomial(init, end, 1, steps, begin)


def optax_exponential(init, steps, rate, begin=0, end=None):
    def schedule(count):
        decreased = count - begin
        p = decreased / mp(steps)
        value = mp(init) if decreased <= 0 else mp(init) * mpmath.power(mp(rate), p)
        if end is not None:
            value = max(value, mp(end)) if rate < 1.0 else min(value, mp(end))
        return value
    return schedule


def optax_cosine(init, steps, alpha=0.0):
    def schedule(count):
        count = min(count, steps)
        cosine = mp(1) / 2 * (1 + mpmath.cos(mpmath.pi * count / mp(steps)))
        return mp(init) * ((1 - mp(alpha)) * cosine + mp(alpha))
    return schedule


def optax_join(schedules, boundaries):
    def schedule(count):
        output = schedules[0](count)
        for boundary, later in zip(boundaries, schedules[1:]):
            output = output if count < boundary else later(count - boundary)
        return output
    return schedule


def optax_warmup_cosine(init, peak, warmup, steps, end=0.0):
    alpha = mp(0) if peak == 0.0 else mp(end) / mp(peak)
    linear = optax_linear(init, peak, warmup) if warmup > 0 else (lambda count: mp(init))
    return optax_join([linear, optax_cosine(peak, steps - warmup, alpha)], [warmup])


def optax_piecewise(init, boundaries_and_scales):
    def schedule(count):
        value = mp(init)
        for threshold, scale in sorted(boundaries_and_scales.items()):
            indicator = 1 if threshold - count > 0 else 0   # max(0, sign(threshold − count))
            value = value * indicator + (1 - indicator) * mp(scale) * value
        return value
    return schedule


# -- the cases: (schedule, oracle, last count, scale) ----------------------------------------

CASES = {
    "constant": (constant_schedule(0.037), lambda count: mp(0.037), 5),
    "linear down": (linear_schedule(0.1, 0.001, 7), optax_linear(0.1, 0.001, 7), 10),
    "linear up, late": (linear_schedule(0.0, 3e-3, 100, transition_begin=5),
                        optax_linear(0.0, 3e-3, 100, 5), 110),
    "linear to zero": (linear_schedule(1.0, 0.0, 49, transition_begin=3),
                       optax_linear(1.0, 0.0, 49, 3), 60),
    "linear, one step": (linear_schedule(0.5, 0.25, 1, transition_begin=2),
                         optax_linear(0.5, 0.25, 1, 2), 5),
    "exponential": (exponential_decay(0.1, 3, 0.9), optax_exponential(0.1, 3, 0.9), 200),
    "exponential, late, floored": (
        exponential_decay(0.1, 10, 0.5, transition_begin=4, end_value=0.01),
        optax_exponential(0.1, 10, 0.5, 4, 0.01), 60),
    "exponential, long": (exponential_decay(1.0, 7, 1e-3), optax_exponential(1.0, 7, 1e-3), 700),
    "exponential growth, capped": (
        exponential_decay(1e-4, 1, 2.0, transition_begin=2, end_value=0.3),
        optax_exponential(1e-4, 1, 2.0, 2, 0.3), 1100),       # 2^1100 would overflow
    "exponential growth, cap below": (
        exponential_decay(0.5, 4, 1.5, end_value=0.2), optax_exponential(0.5, 4, 1.5, 0, 0.2),
        2000),
    "exponential growth": (exponential_decay(0.01, 5, 1.1, transition_begin=1),
                           optax_exponential(0.01, 5, 1.1, 1), 300),
    "cosine": (cosine_decay_schedule(0.1, 100), optax_cosine(0.1, 100), 103),
    "cosine, floor": (cosine_decay_schedule(3e-4, 37, alpha=0.05),
                      optax_cosine(3e-4, 37, 0.05), 40),
    "cosine, one step": (cosine_decay_schedule(1.0, 1, alpha=0.5), optax_cosine(1.0, 1, 0.5), 3),
    "warmup cosine": (warmup_cosine_decay_schedule(0.0, 0.1, 10, 100),
                      optax_warmup_cosine(0.0, 0.1, 10, 100), 104),
    "warmup cosine, to an end": (
        warmup_cosine_decay_schedule(1e-5, 3e-3, 7, 30, end_value=1e-4),
        optax_warmup_cosine(1e-5, 3e-3, 7, 30, 1e-4), 33),
    "warmup cosine, no warm-up": (warmup_cosine_decay_schedule(0.5, 0.2, 0, 9, end_value=0.01),
                                  optax_warmup_cosine(0.5, 0.2, 0, 9, 0.01), 12),
    "warmup cosine, one step each": (warmup_cosine_decay_schedule(0.1, 1.0, 1, 2),
                                     optax_warmup_cosine(0.1, 1.0, 1, 2), 4),
    "warmup cosine, peak 0": (warmup_cosine_decay_schedule(0.3, 0.0, 3, 8, end_value=0.1),
                              optax_warmup_cosine(0.3, 0.0, 3, 8, 0.1), 10),
    "piecewise": (piecewise_constant_schedule(0.1, {10: 0.5, 3: 0.3, 11: 0.7}),
                  optax_piecewise(0.1, {10: 0.5, 3: 0.3, 11: 0.7}), 14),
    "piecewise from 0, scale 0": (piecewise_constant_schedule(0.7, {0: 0.1, 4: 0.0, 6: 3.0}),
                                  optax_piecewise(0.7, {0: 0.1, 4: 0.0, 6: 3.0}), 8),
    "piecewise, none": (piecewise_constant_schedule(0.2), optax_piecewise(0.2, {}), 3),
}


def check_close(got, exact, scale):
    exact_floats = np.array([float(e) for e in exact])
    error = np.array([abs(mp(float(g)) - e) for g, e in zip(got, exact)], dtype=float)
    bound = 1e-15 * np.abs(exact_floats) + 1e-30 * scale
    bad = np.flatnonzero(~(error <= bound))
    assert not bad.size, [(int(k), float(got[k]), float(exact[k])) for k in bad[:5]]


@pytest.mark.parametrize("name", CASES)
def test_schedule_is_optax(name):
    schedule, oracle, last = CASES[name]
    counts = np.arange(last + 1.0)
    got = inp.compile(schedule.diagram)(counts)
    assert got.shape in {counts.shape, ()} and got.dtype == np.float64   # () shared by all
    got = np.broadcast_to(got, counts.shape)
    exact = [oracle(k) for k in range(last + 1)]
    check_close(got, exact, max(abs(float(e)) for e in exact))


@pytest.mark.parametrize("name", CASES)
def test_numpy_and_generated_code_agree(name):
    schedule, _, last = CASES[name]
    counts = np.arange(last + 1.0)
    np.testing.assert_allclose(codegen.compile(schedule.diagram)(counts),
                               inp.compile(schedule.diagram)(counts), rtol=1e-15, atol=0)


def test_constant_phases_are_exact():
    """A phase held constant gives its constant, not a rounding of it."""
    values = inp.compile(linear_schedule(0.1, 0.7, 3, transition_begin=2).diagram)(
        np.arange(10.0))
    assert list(values[:3]) == [0.1] * 3 and list(values[5:]) == [0.7] * 5
    values = inp.compile(warmup_cosine_decay_schedule(0.1, 0.3, 3, 6, 0.03).diagram)(
        np.array([0.0, 3.0, 6.0, 7.0, 1e6]))                # start, peak, end and after
    assert list(values) == [0.1, 0.3, 0.03, 0.03, 0.03]
    values = inp.compile(cosine_decay_schedule(0.3, 7, alpha=0.1).diagram)(
        np.array([0.0, 7.0, 8.0]))
    assert list(values) == [0.3, 0.3 * 0.1, 0.3 * 0.1]
    floored = exponential_decay(1.0, 1, 0.5, end_value=0.1)
    assert list(inp.compile(floored.diagram)(np.array([0.0, 4.0, 5.0, 1e5]))) == \
        [1.0, 0.1, 0.1, 0.1]


def test_a_schedule_of_ones_own():
    s = Schedule(lambda t: 0.1 * Reciprocal(t.ty)(Sqrt(t.ty)(1.0 + t)), name="inverse_sqrt")
    counts = np.arange(50.0)
    np.testing.assert_allclose(inp.compile(s.diagram)(counts), 0.1 / np.sqrt(1.0 + counts),
                               rtol=1e-15, atol=0)
    assert repr(s) == "inverse_sqrt"
    number = Schedule(lambda t: 0.25)
    assert repr(number) == "Schedule(<lambda>)"
    assert inp.compile(number.diagram)(np.arange(3.0)) == 0.25     # shared by every count


def test_a_schedule_inside_a_traced_step():
    """What an optimiser's put does: p − η(t)·g, the rate computed in the diagram."""
    s, x = exponential_decay(0.5, 2, 0.25), Real(3)
    step = function(Real() @ x @ x, x)(lambda t, p, g: p - Spread(x)(s(t)) * g)
    p, g = np.arange(3.0), np.ones(3)
    for count in range(5):
        want = p - 0.5 * 0.25 ** (count / 2) * g
        for compile in (inp.compile, codegen.compile):
            np.testing.assert_allclose(compile(step)(np.array(float(count)), p, g), want,
                                       rtol=1e-15)


def test_a_float32_counter_gives_a_float32_rate():
    s, x = warmup_cosine_decay_schedule(0.0, 0.1, 5, 20), Real(dtype="float32")
    rate = function(x, x)(s)
    got = inp.compile(rate)(np.arange(25, dtype=np.float32))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, inp.compile(s.diagram)(np.arange(25.0)), rtol=1e-6, atol=1e-9)


def test_reprs_name_the_arguments():
    assert repr(exponential_decay(0.1, 10, 0.5, end_value=0.01)) == (
        "exponential_decay(init_value=0.1, transition_steps=10, decay_rate=0.5, "
        "transition_begin=0, end_value=0.01)")
    assert repr(piecewise_constant_schedule(1.0, {20: 0.1, 10: 0.5})) == (
        "piecewise_constant_schedule(init_value=1.0, boundaries_and_scales={10: 0.5, 20: 0.1})")
    assert repr(linear_schedule(1, 0, 5)) == (
        "linear_schedule(init_value=1.0, end_value=0.0, transition_steps=5, transition_begin=0)")


# -- bad arguments ---------------------------------------------------------------------------

@pytest.mark.parametrize("make, error, message", [
    (lambda: linear_schedule(0.1, 0.0, 0), ValueError, r"transition_steps must be at least 1"),
    (lambda: linear_schedule(0.1, 0.0, 10, -1), ValueError,
     r"transition_begin must be at least 0, got -1 \(a negative number of steps\)"),
    (lambda: linear_schedule(math.nan, 0.0, 10), ValueError, r"init_value must be a finite"),
    (lambda: linear_schedule(0.1, math.inf, 10), ValueError, r"end_value must be a finite"),
    (lambda: linear_schedule("0.1", 0.0, 10), TypeError, r"init_value must be a real number"),
    (lambda: linear_schedule(0.1, 0.0, 2.5), ValueError,
     r"transition_steps must be a whole number of steps, got 2.5"),
    (lambda: linear_schedule(0.1, 0.0, True), TypeError, r"transition_steps must be a whole"),
    (lambda: exponential_decay(0.1, 10, 0.0), ValueError,
     r"decay_rate must be positive, got 0.0 \(a constant rate is constant_schedule\)"),
    (lambda: exponential_decay(0.1, 10, -0.5), ValueError, r"decay_rate must be positive"),
    (lambda: exponential_decay(0.1, -10, 0.5), ValueError,
     r"transition_steps must be at least 1, got -10 \(a negative number of steps\)"),
    (lambda: exponential_decay(0.1, 10, 0.5, end_value=math.nan), ValueError,
     r"end_value must be a finite number"),
    (lambda: cosine_decay_schedule(0.1, 0), ValueError, r"decay_steps must be at least 1"),
    (lambda: cosine_decay_schedule(0.1, 10, alpha=None), TypeError, r"alpha must be a real"),
    (lambda: warmup_cosine_decay_schedule(0.0, 0.1, 10, 10), ValueError,
     r"decay_steps counts the warm-up and must exceed warmup_steps"),
    (lambda: warmup_cosine_decay_schedule(0.0, 0.1, -1, 10), ValueError,
     r"warmup_steps must be at least 0"),
    (lambda: piecewise_constant_schedule(0.1, {5: -0.1}), ValueError,
     r"scales must be non-negative, got -0.1 at 5"),
    (lambda: piecewise_constant_schedule(0.1, {-5: 0.1}), ValueError,
     r"a boundary must be at least 0, got -5"),
    (lambda: piecewise_constant_schedule(0.1, {5: math.nan}), ValueError,
     r"the scale at 5 must be a finite number"),
    (lambda: piecewise_constant_schedule(0.1, [(5, 0.1)]), TypeError,
     r"boundaries_and_scales must be a dict"),
    (lambda: constant_schedule(None), TypeError, r"constant_schedule: value must be a real"),
    (lambda: Schedule(0.1), TypeError, r"Schedule\(fn\): fn must be a function"),
])
def test_bad_arguments_are_named(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_a_schedule_is_applied_to_the_counter_wire():
    s = cosine_decay_schedule(0.1, 10)
    with pytest.raises(TypeError, match=r"applied to the traced counter .* got 3"):
        s(3)
    with pytest.raises(TypeError, match=r"the counter is one number, a wire of type Real\(\), "
                                        r"got Real\(3\)"):
        function(Real(3), Real(3))(s)
    wrong = Schedule(lambda t: Spread(Real(2))(t), name="spread")
    with pytest.raises(TypeError, match=r"spread: fn\(t\) must give the rate as a wire of the "
                                        r"counter's type Real\(\).*got Real\(2\)"):
        wrong.diagram
    with pytest.raises(TypeError, match=r"must give the rate .* got 'fast'"):
        Schedule(lambda t: "fast").diagram
