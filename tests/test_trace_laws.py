"""The delayed-trace laws of St(C) (reference/delayed-trace.md §2, §4, §8): those
that hold, on random machines; those that fail, on the reference's fixtures, with
their exact numbers, and shown to fail (the two sides differ)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from paralens.categories import Real, delay, dtrace, function, laws, machine, swap
from paralens.categories.strategies import initial_values, machines, states, traced
from paralens.interpreters.numpy import compile
from paralens.lenses import tangent

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                     HealthCheck.filter_too_much])


def run(m, params, xs):
    """A machine's output sequences, run by the NumPy interpreter (its one Loop box). A
    random machine whose outputs overflow (exp of a large value) is not a test of a law:
    hypothesis discards it, rather than comparing NaN with NaN."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = compile(m.diagram)(*[params[p] for p in m.params], *m.initial, *xs)
    out = out if isinstance(out, tuple) else (out, )
    out = out[len(m.state):]
    if not all(np.all(np.isfinite(y)) for y in out):
        assume(False)           # only reached inside the property tests (fixtures are finite)
    return out


def seq(*values):
    """One example's sequence of scalars, as (batch 1, time)."""
    return np.array(values, dtype=float)[None, :]


def outputs(report):
    """The two sides' output sequences of a report's first failure, as lists."""
    failure = report.failures[0]
    return ([np.asarray(y).ravel().tolist() for y in failure.lhs],
            [np.asarray(y).ravel().tolist() for y in failure.rhs])


# --- the laws that hold, on random machines ---------------------------------------------

@settings(max_examples=40, **SETTINGS)
@given(st.data())
def test_naturality_in_x_and_y(data):
    f, initial = data.draw(traced())
    S = f.dom[:len(initial)]
    k = data.draw(machines(cod=f.dom[len(S):]))
    h = data.draw(machines(dom=f.cod[len(S):]))
    laws.trace_naturality(f, k, h, initial, run).assert_ok()


@settings(max_examples=40, **SETTINGS)
@given(st.data())
def test_superposing(data):
    f, initial = data.draw(traced())
    g = data.draw(machines())
    laws.trace_strength(g, f, initial, run).assert_ok()


@settings(max_examples=40, **SETTINGS)
@given(st.data())
def test_vanishing(data):
    S, S2 = data.draw(states()), data.draw(states())
    f, _ = data.draw(traced(state=S @ S2))
    first, second = data.draw(initial_values(S)), data.draw(initial_values(S2))
    laws.trace_vanishing(f, first, second, run).assert_ok()


@settings(max_examples=30, **SETTINGS)
@given(st.data())
def test_dinaturality_with_the_initial_state_transported(data):
    S, S2 = data.draw(states(most=1)), data.draw(states(most=1))
    g = data.draw(machines(dom=S2, cod=S, stateful=False))
    f, _ = data.draw(traced(state=S))
    f = data.draw(machines(dom=f.dom, cod=S2 @ f.cod[len(S):]))
    laws.dinaturality_transported(f, g, data.draw(initial_values(S2)), run).assert_ok()


@settings(max_examples=40, **SETTINGS)
@given(st.data())
def test_yanking_delay_on_random_inputs(data):
    S = data.draw(states())
    laws.yanking_delay(S, data.draw(initial_values(S)), run).assert_ok()


@settings(max_examples=25, **SETTINGS)
@given(st.data())
def test_D_commutes_with_dtrace(data):
    f, initial = data.draw(traced(smooth=True))
    laws.tangent_commutes_with_dtrace(f, initial, tangent, run).assert_ok()


@settings(max_examples=25, **SETTINGS)
@given(st.data())
def test_chain_rule_of_the_lifted_derivative(data):
    f = data.draw(machines(smooth=True))
    g = data.draw(machines(dom=f.cod, smooth=True))
    laws.tangent_chain_rule(f, g, tangent, run).assert_ok()


@settings(max_examples=25, **SETTINGS)
@given(machines(smooth=True))
def test_the_lifted_derivative_against_central_differences(f):
    # the oracle: T F's tangent stream is the derivative of F's unrolled outputs
    laws.tangent_finite_differences(f, tangent, run).assert_ok()


# --- the laws that fail: the reference's fixtures, exactly -----------------------------

x = Real()
inputs = [seq(0, 1, 2, 3, 4)]
double_plus_one = function(x, x)(lambda s: 2 * s + 1)


def test_yanking_fails_the_trace_of_the_swap_is_the_delay():
    report = laws.yanking(x, -1.0, run, xs=inputs)
    assert not report.ok                                   # the two sides differ
    (lhs, ), (rhs, ) = outputs(report)
    assert lhs == [-1, 0, 1, 2, 3]                         # dtr⁻¹(σ)
    assert rhs == [0, 1, 2, 3, 4]                          # the identity
    laws.yanking_delay(x, -1.0, run, xs=inputs).assert_ok()
    (ys, ) = run(delay(x, -1.0), {}, inputs)               # δ⁻¹, by hand: −1, then shift
    assert ys.ravel().tolist() == [-1, 0, 1, 2, 3]


@pytest.mark.parametrize("wire", [Real(), Real(1)])
def test_dinaturality_fails_on_the_fixture_and_transport_repairs_it(wire):
    g = function(wire, wire)(lambda s: 2 * s + 1)
    f = swap(wire, wire)
    three = np.full(wire.inside[0].shape, 3.0)
    xs = [np.arange(5.0).reshape(1, 5, *wire.inside[0].shape)]
    report = laws.dinaturality(f, g, three, run, xs=xs)
    assert not report.ok
    (lhs, ), (rhs, ) = outputs(report)
    assert lhs == [3, 1, 3, 5, 7]                          # dtr³(f ; (g × Y))
    assert rhs == [7, 1, 3, 5, 7]                          # dtr³((g × X) ; f)
    laws.dinaturality_transported(f, g, three, run, xs=xs).assert_ok()
    seven = np.full(wire.inside[0].shape, 7.0)            # g(3) = 7, by hand
    (ys, ) = run(dtrace(f >> (g @ wire), seven), {}, xs)
    assert ys.ravel().tolist() == [7, 1, 3, 5, 7]


def test_dinaturality_fails_on_random_inputs_too():
    report = laws.dinaturality(swap(x, x), double_plus_one, 3.0, run)
    assert not report.ok
    failure = report.failures[0]
    lhs, rhs = failure.lhs[0], failure.rhs[0]
    assert not np.allclose(lhs[:, 0], rhs[:, 0])           # they differ at t = 0 …
    np.testing.assert_allclose(lhs[:, 1:], rhs[:, 1:])      # … and only there


# --- the checks catch a wrong law -------------------------------------------------------

def test_a_wrong_trace_law_is_reported_with_its_streams():
    # naturality with h moved inside the trace over a different state: a false law
    wrong = laws.StreamLaw("h before the trace", dtrace(swap(x, x) >> (x @ double_plus_one), 0.0),
                           machine(double_plus_one) >> dtrace(swap(x, x), 0.0))
    report = laws.check_streams([wrong], run, xs=inputs)
    assert not report.ok and "h before the trace: FAILS" in str(report)
    (lhs, ), (rhs, ) = outputs(report)
    assert lhs == [1, 1, 3, 5, 7] and rhs == [0, 1, 3, 5, 7]


def test_a_wrong_derivative_is_caught_by_the_oracle_and_the_laws():
    from paralens.categories import Scale, Tanh

    def doubled(d):         # a "tangent" twice too large
        t, n = tangent(d), len(d.cod)

        @function(t.dom, t.cod)
        def wrong(*wires):
            out = t(*wires)
            out = out if isinstance(out, tuple) else (out, )
            return out[:n] + tuple(Scale(2.0, o.ty)(o) for o in out[n:])
        return wrong

    @function(x @ x, x @ x)
    def cell(s, a):
        h = Tanh(x)(s * a + a)
        return h, h
    rnn = dtrace(cell, 0.5)
    assert laws.tangent_finite_differences(rnn, tangent, run).ok
    assert not laws.tangent_finite_differences(rnn, doubled, run).ok
    assert not laws.tangent_chain_rule(rnn, rnn, doubled, run).ok
