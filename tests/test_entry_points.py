"""The entry points of recurrence and smoothing and the command line, as a user meets them.

* every argument of ``recurrent.run``/``jvp``/``gradient`` is checked before any work,
  named as the call names it, with the expected and the found shape or dtype; data
  that converts exactly is converted (and gives the oracle's numbers), other data
  is refused with the conversion to write; the three refuse the same input alike;
* the smoothing entry points return named results checked against independent
  oracles (brute-force joint Gaussian, forward-backward), refuse what their siblings
  refuse, and no kernel or ready model casts complex data;
* no option of the command is silently ignored.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bffg_reference import hmm_forward_backward, joint_gaussian_loglik
from rnn_reference import elman_bptt, elman_forward, elman_jvp

from paralens.categories import Real, Tanh, dtrace, elman, function
from paralens.categories.kernels import (Categorical, Chain, Emit, Gaussian, HiddenMarkov,
                                         Observe, Prior, Stochastic, Transition)
from paralens.categories.markov import (binary_tree, hidden_markov, local_level,
                                        nonlinear_chain, state_space)
from paralens.interpreters import arrays, bffg, cli
from paralens.interpreters import recurrent as rec

B, T, N_IN, N = 3, 6, 2, 4


def _elman(dtype="float64"):
    m = elman(N_IN, N, dtype=dtype)
    params = m.init(0)
    return m, {p: v.astype(dtype) for p, v in params.by_handle().items()}


def _data(seed=1):
    g = np.random.default_rng(seed)
    return g.normal(size=(B, T, N_IN)), g.normal(size=(B, T, N))


def _values(m, params):
    return [params[p] for p in m.params]


# -- the shared rule (interpreters.arrays) ----------------------------------------------------

@pytest.mark.parametrize("found, wire", [(np.int64, "float64"), (np.int32, "float64"),
                                         (np.float32, "float64"), (np.bool_, "float64"),
                                         (np.int16, "float32"), (np.float16, "float32")])
def test_data_that_converts_exactly_is_converted_to_the_same_numbers(found, wire):
    values = np.array([[0, 1], [1, 0]], dtype=found)
    out = arrays.as_wire("x", values, Real(2, dtype=wire).inside[0], [("batch", 2)])
    assert out.dtype == np.dtype(wire) and np.array_equal(out.astype(float), values.astype(float))


@pytest.mark.parametrize("value, wire, words", [
    (np.ones(2), "float32", ["x (Real(2, dtype='float32'))", "expected float32, got float64",
                             "pass x.astype(np.float32)"]),
    (np.ones(2, dtype=np.int64), "float32", ["got int64", "pass x.astype(np.float32)"]),
    (np.ones(2) + 1j, "float64", ["complex128", "imaginary part would be lost", "x.real"]),
    ([1j, 2.0], "float64", ["complex128", "imaginary part would be lost"]),
    (np.array(["1", "2"]), "float64", ["<U1", "strings, not numbers"]),
    (np.array([1.0, None]), "float64", ["object", "Python objects"]),
    (np.ma.masked_array([1.0, 2.0], [0, 1]), "float64", ["masked array", "x.filled"]),
])
def test_data_that_does_not_convert_exactly_is_refused_with_the_conversion(value, wire, words):
    with pytest.raises(TypeError) as info:
        arrays.as_wire("x", value, Real(2, dtype=wire).inside[0])
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_python_numbers_take_the_wires_dtype():
    out = arrays.convert("x", [[0.5, 2]], np.float32)
    assert out.dtype == np.float32 and out.tolist() == [[0.5, 2.0]]


# -- recurrence: every argument checked up front, in the call's words -------------------------

CALLS = {
    "run": lambda m, p, xs, **kw: rec.run(m, p, xs, state=kw.get("state")),
    "jvp": lambda m, p, xs, **kw: rec.jvp(m, p, xs, state=kw.get("state")),
    "gradient": lambda m, p, xs, **kw: rec.gradient(m, p, xs, np.ones((B, T, N)),
                                                    state=kw.get("state")),
    "gradient, truncated": lambda m, p, xs, **kw: rec.gradient(
        m, p, xs, np.ones((B, T, N)), state=kw.get("state"), truncate=4),
}


def _refusal(call):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    return type(info.value), str(info.value)


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("case", ["nan param", "complex param", "param shape", "nan state",
                                  "state batch", "nan xs", "xs without time", "complex xs"])
def test_siblings_refuse_the_same_input_alike(name, case):
    m, params = _elman()
    xs, _ = _data()
    p0 = m.params[0]
    bad = {"nan param": ({**params, p0: np.where(np.eye(N_IN, N) > 0, np.nan, params[p0])},
                         xs, None),
           "complex param": ({**params, p0: params[p0] + 1j}, xs, None),
           "param shape": ({**params, p0: params[p0].T}, xs, None),
           "nan state": (params, xs, np.full(N, np.nan)),
           "state batch": (params, xs, np.zeros((B + 1, N))),
           "nan xs": (params, np.where(xs > 1, np.inf, xs), None),
           "xs without time": (params, xs[:, 0], None),
           "complex xs": (params, xs + 0j, None)}[case]
    expected = {"nan param": "params['elman.Wx'] (Real(2, 4)): entry [0, 0] is nan",
                "complex param": "params['elman.Wx'] (Real(2, 4)): expected float64, got complex128: "
                                 "its imaginary part would be lost",
                "param shape": "params['elman.Wx'] (Real(2, 4)): expected shape (2, 4), got (4, 2)",
                "nan state": "state (Real(4)): entry [0] is nan",
                "state batch": f"state (Real(4)): expected shape (4,) (one example's, shared by "
                               f"the batch) or (batch, 4) = ({B}, 4), got ({B + 1}, 4)",
                "nan xs": "xs (Real(2)): entry",
                "xs without time": f"xs (Real(2)): expected shape (batch, time, 2), got ({B}, 2)",
                "complex xs": "xs (Real(2)): expected float64, got complex128"}[case]
    params_, xs_, state = bad
    kind, message = _refusal(lambda: CALLS[name](m, params_, xs_, state=state))
    assert expected in message, message
    others = {_refusal(lambda: c(m, params_, xs_, state=state)) for c in CALLS.values()}
    assert len(others) == 1, others                     # run, jvp, gradient: one refusal


@pytest.mark.parametrize("argument, value, words", [
    ("dxs", np.zeros((B, T - 1, N_IN)), f"dxs (Real(2)): expected shape (batch, time, 2) = "
                                        f"({B}, {T}, 2), got ({B}, {T - 1}, 2)"),
    ("dxs", np.zeros((B - 1, T, N_IN)), f"= ({B}, {T}, 2), got ({B - 1}, {T}, 2)"),
    ("dxs", np.zeros((B, T, N_IN)) + 1j, "dxs (Real(2)): expected float64, got complex128"),
    ("dxs", np.full((B, T, N_IN), np.nan), "dxs (Real(2)): entry [0, 0, 0] is nan"),
    ("dstate", np.zeros(N + 1), "dstate (Real(4)): expected shape (4,)"),
    ("dstate", np.zeros(N) + 1j, "dstate (Real(4)): expected float64, got complex128"),
    ("dparams", "Wh wrong", "dparams['elman.Wh'] (Real(4, 4)): expected shape (4, 4), got (4,)"),
    ("dparams", "Wh complex", "dparams['elman.Wh'] (Real(4, 4)): expected float64, got complex128"),
])
def test_a_bad_direction_of_jvp_is_named(argument, value, words):
    m, params = _elman()
    xs, _ = _data()
    if argument == "dparams":
        wh = m.params[1]
        value = {wh: np.zeros(N) if value == "Wh wrong" else params[wh] + 1j}
    with pytest.raises((TypeError, ValueError)) as info:
        rec.jvp(m, params, xs, **{argument: value})
    assert words in str(info.value), str(info.value)


@pytest.mark.parametrize("truncate", [None, 2])
@pytest.mark.parametrize("argument, value, words", [
    ("dys", np.zeros((B, T + 1, N)), f"dys (Real(4)): expected shape (batch, time, 4) = "
                                     f"({B}, {T}, 4), got ({B}, {T + 1}, 4)"),
    ("dys", np.zeros((B, T, N)) + 1j, "dys (Real(4)): expected float64, got complex128"),
    ("dys", np.full((B, T, N), np.inf), "dys (Real(4)): entry [0, 0, 0] is inf"),
    ("dfinal", np.zeros((B + 2, N)), f"dfinal (Real(4)): expected shape (4,) (one example's, "
                                     f"shared by the batch) or (batch, 4) = ({B}, 4)"),
    ("dfinal", np.zeros(N, dtype=object), "dfinal (Real(4)): expected float64, got object"),
])
def test_a_bad_cotangent_of_gradient_is_named_before_any_segment(truncate, argument, value,
                                                                  words):
    m, params = _elman()
    xs, w = _data()
    given = {"dys": w, argument: value}
    with pytest.raises((TypeError, ValueError)) as info:
        rec.gradient(m, params, xs, given.pop("dys"), truncate=truncate, **given)
    assert words in str(info.value), str(info.value)


def test_several_wires_are_named_by_position():
    x = Real()
    m = dtrace(function(x @ x @ x, x @ x @ x)(lambda s, a, b: (Tanh(x)(s * a), s + b, s)), 0.0)
    a = np.ones((2, 5))
    with pytest.raises(ValueError, match=r"xs\[1\] \(Real\(\)\): expected shape \(batch, time\) "
                                         r"= \(2, 5\), got \(2, 4\)"):
        rec.run(m, {}, [a, a[:, 1:]])
    with pytest.raises(TypeError, match=r"dxs\[1\] \(Real\(\)\): expected float64, got "
                                        r"complex128"):
        rec.jvp(m, {}, [a, a], dxs=[None, a + 1j])
    with pytest.raises(ValueError, match=r"dys\[0\] \(Real\(\)\): expected shape"):
        rec.gradient(m, {}, [a, a], [a[:1], None])


def test_a_clocked_machine_refuses_a_direction_of_inputs_it_does_not_have():
    x = Real()
    counter = dtrace(function(x, x @ x)(lambda s: (s + 1, s)), 5.0)
    with pytest.raises(TypeError, match="dxs: .* has no input"):
        rec.jvp(counter, {}, 4, dxs=np.ones((1, 4)))
    assert rec.jvp(counter, {}, 4, dstate=1.0)[1].tolist() == [[1.0] * 4]


def test_exactly_converted_data_gives_the_oracles_numbers():
    """ints and float32 data on a float64 machine: converted, then the hand-written
    Elman forward pass, forward mode and BPTT of the same (float64) numbers."""
    m, params = _elman()
    Wx, Wh, b = _values(m, params)
    g = np.random.default_rng(3)
    xs = g.integers(-2, 3, size=(B, T, N_IN))                    # int64
    dxs = g.normal(size=(B, T, N_IN)).astype(np.float32)        # float32
    h0 = g.integers(-1, 2, size=N)
    dys = g.integers(-3, 4, size=(B, T, N)).astype(np.int32)
    ys, last = rec.run(m, params, xs, state=h0)
    ref, ref_last = elman_forward(Wx, Wh, b, np.tile(h0, (B, 1)).astype(float), xs.astype(float))
    assert np.abs(ys - ref).max() < 1e-12 and np.abs(last - ref_last).max() < 1e-12
    _, tangents = rec.jvp(m, params, xs, dxs=dxs, state=h0)
    zero = np.zeros_like
    _, ref_t = elman_jvp(Wx, Wh, b, np.tile(h0, (B, 1)).astype(float), xs.astype(float),
                         zero(Wx), zero(Wh), zero(b), np.zeros((B, N)), dxs.astype(float))
    assert np.abs(tangents - ref_t).max() < 1e-12
    grads = rec.gradient(m, params, xs, dys, state=np.tile(h0, (B, 1)))
    ref_g = elman_bptt(Wx, Wh, b, np.tile(h0, (B, 1)).astype(float), xs.astype(float),
                       dys.astype(float))
    for p, name in zip(m.params, ["Wx", "Wh", "b"]):
        assert np.abs(grads[p] - ref_g[name]).max() < 1e-10, name
    assert np.abs(grads["xs"] - ref_g["xs"]).max() < 1e-10


def test_a_float32_machine_refuses_float64_data_with_the_conversion():
    m, params = _elman("float32")
    xs, w = _data()
    with pytest.raises(TypeError, match=r"xs \(Real\(2, dtype='float32'\)\): expected float32, "
                                        r"got float64, which would lose precision; pass "
                                        r"xs.astype\(np.float32\)"):
        rec.run(m, params, xs)
    with pytest.raises(TypeError, match=r"params\['elman.Wx'\] .* pass params\['elman.Wx'\].astype"):
        rec.run(m, {**params, m.params[0]: params[m.params[0]].astype(float)},
                xs.astype(np.float32))
    ys, _ = rec.run(m, params, xs.astype(np.float32))
    assert ys.dtype == np.float32
    with pytest.raises(TypeError, match=r"dys \(Real\(4, dtype='float32'\)\): expected float32"):
        rec.gradient(m, params, xs.astype(np.float32), w)


def test_two_layers_of_one_kind_are_told_apart_by_their_unique_names():
    both = elman(2, 3) @ elman(1, 2)
    params = both.init(0)
    assert both.names[3] == "elman_1.Wx"
    with pytest.raises(ValueError, match=r"params\['elman_1.Wx'\] \(Real\(1, 2\)\): expected shape"):
        rec.run(both, {**params, "elman_1.Wx": np.zeros(5)}, [np.zeros((2, 4, 2)),
                                                              np.zeros((2, 4, 1))])
    with pytest.raises(ValueError, match=r"'elman_1.Wx' is given twice, by its name and by its handle"):
        rec.run(both, {**params, both.params[3]: np.zeros(5)}, [np.zeros((2, 4, 2)),
                                                                np.zeros((2, 4, 1))])


# -- smoothing: named results against oracles; siblings agree ----------------------------------

def _chain(seed=0, T=7):
    g = np.random.default_rng(seed)
    A, Q = 0.9 * np.eye(2) + 0.05 * g.normal(size=(2, 2)), 0.3 * np.eye(2)
    L, R = g.normal(size=(1, 2)), np.array([[0.5]])
    ys = g.normal(size=(T, 1))
    ys[2] = np.nan
    args = (np.zeros(2), np.eye(2), A, np.zeros(2), Q, L, np.zeros(1), R)
    return state_space(*args, ys), args, ys


def test_smooth_chain_names_its_results_and_matches_the_brute_force_joint_gaussian():
    chain, args, ys = _chain()
    smoothed = bffg.smooth_chain(chain)
    oracle = joint_gaussian_loglik(*args, ys)
    assert isinstance(smoothed, bffg.SmoothedChain) and smoothed._fields == (
        "log_evidence", "means", "covariances", "lag_one")
    assert abs(smoothed.log_evidence - oracle.log_likelihood) < 1e-9
    assert np.abs(smoothed.means - oracle.means).max() < 1e-9
    assert np.abs(smoothed.covariances - oracle.covs).max() < 1e-9
    assert np.abs(smoothed.lag_one - oracle.lag_one_covs).max() < 1e-9
    log_p, means, covs, lag = smoothed                  # still a 4-tuple
    assert log_p == smoothed.log_evidence and means is smoothed.means and lag is smoothed.lag_one
    assert bffg.backward_filter(chain).log_evidence == pytest.approx(log_p, abs=1e-12)
    unrolled = bffg.backward_filter(chain.unroll())
    assert unrolled.log_evidence == pytest.approx(log_p, abs=1e-9)


def test_smooth_hmm_names_its_results_and_matches_forward_backward():
    p, K, E = [0.6, 0.4], [[0.8, 0.2], [0.3, 0.7]], [[0.9, 0.1], [0.2, 0.8]]
    ys = [0, 1, -1, 1, 0]
    smoothed = bffg.smooth_hmm(hidden_markov(p, K, E, ys))
    log_p, gamma = hmm_forward_backward(p, K, E, ys)
    assert isinstance(smoothed, bffg.SmoothedHMM)
    assert smoothed._fields == ("log_evidence", "marginals")
    assert abs(smoothed.log_evidence - log_p) < 1e-12
    assert np.abs(smoothed.marginals - gamma).max() < 1e-12
    evidence, marginals = smoothed
    assert evidence == smoothed.log_evidence and marginals is smoothed.marginals


def _all_refuse(calls):
    found = []
    for call in calls:
        with pytest.raises(ValueError) as info:
            call()
        found.append(str(info.value))
    return found


def test_an_overflowing_chain_is_refused_by_every_entry_point_alike():
    huge = 1e300
    chain = state_space([0.0], [[huge]], [[huge]], None, [[huge]], [[1.0]], None, [[huge]],
                        [huge, 2 * huge])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        found = _all_refuse([lambda: bffg.smooth_chain(chain),
                             lambda: bffg.backward_filter(chain),
                             lambda: bffg.backward_filter(chain.unroll()),
                             lambda: bffg.backward_filter(chain.unroll(), batched=False),
                             lambda: bffg.optic(chain.unroll()).backward()])
    assert len(set(found)) == 1 and "impossible" in found[0], found


def test_impossible_symbols_are_refused_by_every_entry_point():
    hmm = hidden_markov([1.0, 0.0], np.eye(2), np.eye(2), [1, 0])
    found = _all_refuse([lambda: bffg.smooth_hmm(hmm), lambda: bffg.backward_filter(hmm),
                         lambda: bffg.backward_filter(hmm.unroll()),
                         lambda: bffg.backward_filter(hmm.unroll(), batched=False),
                         lambda: bffg.optic(hmm.unroll()).backward()])
    assert all("impossible" in message for message in found), found


def test_each_smoother_refuses_the_others_box_naming_the_right_one():
    chain, _, _ = _chain()
    hmm = hidden_markov([0.5, 0.5], np.eye(2), np.eye(2), [0, 1])
    with pytest.raises(TypeError, match="smooth_chain smooths one Chain box .* which smooth_hmm"):
        bffg.smooth_chain(hmm)
    with pytest.raises(TypeError, match="smooth_hmm smooths one HiddenMarkov box .* which "
                                        "smooth_chain"):
        bffg.smooth_hmm(chain)
    with pytest.raises(TypeError, match=r"backward_filter\(diagram\).marginals\(\)"):
        bffg.smooth_chain(chain.unroll())


I2 = np.eye(2)
C = np.array([1.0 + 0.5j, 0.0])             # complex data: its imaginary part must not vanish

COMPLEX = {
    "Observe y": lambda: Observe([[1.0, 0.0]], None, [[1.0]], C[:1]),
    "Observe L": lambda: Observe(np.array([C]), None, [[1.0]], [0.0]),
    "Observe.at y": lambda: Observe([[1.0]], None, [[1.0]], [0.0]).at(C[:1]),
    "Gaussian A": lambda: Gaussian(I2 + 0j),
    "Gaussian beta": lambda: Gaussian(I2, C),
    "Gaussian Q": lambda: Gaussian(I2, Q=I2 * (1 + 0j)),
    "Prior m": lambda: Prior(C, I2),
    "Prior P": lambda: Prior([0.0, 0.0], I2 + 0j),
    "Stochastic K": lambda: Stochastic(I2 + 0j),
    "Categorical p": lambda: Categorical(np.array([0.5, 0.5]) + 0j),
    "Emit E": lambda: Emit(I2 + 0j, 0),
    "Emit y": lambda: Emit(I2, 1 + 0j),
    "Transition Q": lambda: Transition(np.sin, [[1 + 0j]], Gaussian([[1.0]], Q=[[1.0]])),
    "Chain ys": lambda: Chain(Prior([0.0], [[1.0]]), 1.0 * np.eye(1), None, np.eye(1),
                              np.eye(1), None, np.eye(1), C[:, None]),
    "Chain A per step": lambda: Chain(Prior([0.0], [[1.0]]), np.ones((2, 1, 1)) + 0j, None,
                                      np.eye(1), np.eye(1), None, np.eye(1), np.zeros((2, 1))),
    "HiddenMarkov p": lambda: HiddenMarkov(np.array([0.5, 0.5]) + 0j, I2, I2, [0, 1]),
    "HiddenMarkov ys": lambda: HiddenMarkov([0.5, 0.5], I2, I2, np.array([0, 1]) + 0j),
    "hidden_markov ys": lambda: hidden_markov([0.5, 0.5], I2, I2, np.array([0, 1]) + 0j),
    "state_space ys": lambda: state_space([0.0], [[1.0]], [[1.0]], None, [[1.0]], [[1.0]], None,
                                          [[1.0]], C),
    "state_space m0": lambda: state_space(C[:1], [[1.0]], [[1.0]], None, [[1.0]], [[1.0]], None,
                                          [[1.0]], [0.0]),
    "local_level ys": lambda: local_level(C, 1.0, 1.0),
    "local_level variance": lambda: local_level([1.0, 2.0], 1 + 0j, 1.0),
    "nonlinear_chain ys": lambda: nonlinear_chain(np.sin, 0.1, 0.2, C, x0=0.5),
    "nonlinear_chain x0": lambda: nonlinear_chain(np.sin, 0.1, 0.2, [0.1], x0=0.5 + 1j),
    "nonlinear_chain slope": lambda: nonlinear_chain(np.sin, 0.1, 0.2, [0.1], 0.0, slope=1j),
    "binary_tree leaves": lambda: binary_tree(1, 2, leaves=np.tile(C, (2, 1))),
    "binary_tree sigma": lambda: binary_tree(1, 2, sigma=1 + 0j),
}


@pytest.mark.parametrize("case", sorted(COMPLEX))
def test_complex_data_is_refused_never_cast(case):
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # a ComplexWarning would be a silent cast
        with pytest.raises(TypeError, match="imaginary part would be lost"):
            COMPLEX[case]()


@pytest.mark.parametrize("make", [lambda: Prior(["1.0"], [[1.0]]),
                                  lambda: Observe([[1.0]], None, [[1.0]], ["2"]),
                                  lambda: local_level(["1", "2"], 1.0, 1.0)])
def test_numbers_written_as_strings_are_refused(make):
    with pytest.raises(TypeError, match="real numbers, got dtype <U"):
        make()


def test_int_observations_are_the_same_numbers():
    ints = bffg.smooth_chain(local_level(np.array([3, 1, 4, 1, 5]), 1.0, 2.0))
    floats = bffg.smooth_chain(local_level([3.0, 1.0, 4.0, 1.0, 5.0], 1.0, 2.0))
    assert ints.log_evidence == floats.log_evidence
    assert np.array_equal(ints.means, floats.means)


@pytest.mark.parametrize("f, error, words", [
    (lambda x: x + 0.5j, TypeError, "Transition f1: f returned [0.5+0.5j] at [0.5]: complex128"),
    (lambda x: np.array([x[0], x[0]]), ValueError, "Transition f1: f returned shape (2,)"),
    (lambda x: x * np.nan, ValueError, "Transition f1: f returned [nan] at [0.5]: not finite"),
])
def test_both_schedules_and_the_optic_refuse_a_bad_transition_alike(f, error, words):
    model = nonlinear_chain(f, 0.1, 0.2, [0.3, -0.1], x0=0.5)
    found = set()
    for sample in (lambda: bffg.backward_filter(model).sample(0),
                   lambda: bffg.backward_filter(model, batched=False).sample(0),
                   lambda: bffg.optic(model).forward(bffg.optic(model).backward()[0], rng=0)):
        with pytest.raises(error) as info:
            sample()
        found.add(str(info.value))
    assert len(found) == 1 and words in found.pop()


def test_the_optic_checks_the_message_and_the_start_it_is_given():
    kernel = bffg.optic(Gaussian(np.eye(1), Q=np.eye(1)))
    message = bffg.GaussianMessage
    with pytest.raises(ValueError, match=r"message.F: entry \[0\] is nan"):
        kernel.backward(message(0.0, np.array([np.nan]), np.eye(1)))
    with pytest.raises(TypeError, match=r"message.F: expected float64, got complex128"):
        kernel.backward(message(0.0, np.array([1j]), np.eye(1)))
    with pytest.raises(ValueError, match=r"message.H: expected shape \(1, 1\), got \(2, 2\)"):
        kernel.backward(message(0.0, np.zeros(1), np.eye(2)))
    with pytest.raises(TypeError, match="a GaussianMessage on Real"):
        kernel.backward(bffg.DiscreteMessage(0.0, np.ones(1)))
    closed = bffg.optic(Prior([0.0], [[1.0]]) >> Observe([[1.0]], None, [[1.0]], [0.5]))
    with pytest.raises(TypeError, match="message: the optic ends in the unit"):
        closed.backward(message.one(1))
    residual, _ = kernel.backward()
    with pytest.raises(TypeError, match="on_x: the optic starts from Real"):
        kernel.forward(residual)
    with pytest.raises(ValueError, match=r"on_x.cov: entry \[0, 0\] is inf"):
        kernel.forward(residual, bffg.Marginal(np.zeros(1), np.full((1, 1), np.inf)))
    # and a good start gives N(x, 1) pushed through x′ ~ N(x, 1): variance P + 1
    out = kernel.forward(residual, bffg.Marginal(np.array([2]), np.array([[3]])))
    assert out.mean.tolist() == [2.0] and out.cov.tolist() == [[4.0]]


# -- the command: no option silently ignored ----------------------------------------------------

def _options(capsys, *command) -> set:
    with pytest.raises(SystemExit):
        cli.main([*command, "--help"])
    words = [w.rstrip(",") for w in capsys.readouterr().out.split()]
    return {w for w in words if w.startswith("-") and w not in ("-h", "--help")}


#: every option of every subcommand, and the keyword its function receives it as
HONOURED = {
    ("demo", "iris"): {"--out": "out", "--steps": "steps", "--lr": "lr", "--seed": "seed"},
    ("demo", "recurrent"): {"--out": "out", "--steps": "steps", "--lr": "lr", "--seed": "seed"},
    ("demo", "smoothing"): {"--out": "out"},
    ("digits", ): {"--steps": "steps", "--seed": "seed"},
    ("circuits", ): {"--seed": "seed"},
}


def test_every_option_is_listed_here(capsys):
    """A new option must be added to HONOURED (and so be tested), or refused."""
    for command in (("demo", ), ("digits", ), ("circuits", )):
        listed = set().union(*(o for c, o in HONOURED.items() if c[0] == command[0]))
        assert _options(capsys, *command) == listed, command
    assert _options(capsys, "compile") == {"-o", "--output", "--name", "--backend"}


@pytest.mark.parametrize("command", sorted(HONOURED))
def test_every_option_a_subcommand_takes_reaches_its_function(command, monkeypatch, tmp_path):
    seen = {}

    def record(name):
        def function(*args, **kwargs):
            seen.update(kwargs, **({"out": args[0]} if args else {}), called=name)
            return {}
        return function

    for which in cli._DEMOS:
        monkeypatch.setitem(cli._DEMOS, which, record(which))
    monkeypatch.setattr(cli, "digits", record("digits"))
    monkeypatch.setattr(cli, "circuits", record("circuits"))
    values = {"--out": str(tmp_path / "x"), "--steps": "7", "--lr": "0.5", "--seed": "3"}
    given = [w for option in HONOURED[command] for w in (option, values[option])]
    assert cli.main([*command, *given]) == 0
    assert seen.pop("called") == command[-1]
    expected = {key: type(seen.get(key, ""))(values[option]) if key != "out" else values[option]
                for option, key in HONOURED[command].items()}
    assert {k: seen[k] for k in expected} == expected


@pytest.mark.parametrize("option, value", [("--steps", "5"), ("--lr", "0.1"), ("--seed", "2")])
def test_an_option_the_smoothing_demo_does_not_take_is_refused(option, value, capsys, tmp_path):
    never = tmp_path / "never"
    with pytest.raises(SystemExit) as exit:
        cli.main(["demo", "smoothing", option, value, "--out", str(never)])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert f"{option} does not apply to the smoothing demo" in err and "--out" in err
    assert not never.exists()                            # refused before any work
