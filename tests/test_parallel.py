"""The parallel-in-time filter and smoother (``interpreters.parallel``, ``reference/bffg.md``
§11) against the sequential ones on the IR (``categories.chains`` run by the NumPy
interpreter): log p(y), the filtered, smoothed and lag-one moments ≤ 1e-10 on random
models (d ∈ {1, 2, 4}, batches, missing entries and all-missing stretches, rank-deficient
Q and Q = 0 at some steps, every parameter per step); JAX equal to NumPy; the two
operators associative (hypothesis, random valid elements with singular C and J) and the
scan equal to the fold of its operator."""

from __future__ import annotations

import subprocess
import sys
from functools import reduce

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from paralens.categories.chains import GAUSSIAN_PARAMETERS, kalman_filter, smoother
from paralens.interpreters.numpy import compile
from paralens.interpreters.parallel import (
    associative_scan, filtering_operator, parallel_filter, parallel_smoother, smoothing_operator)

ORDER = ("A", "beta", "Q", "L", "b", "R")       # the varying parameters' order on the wires
TOL = 1e-10


def psd(rng, n, rank=None, floor=0.0):
    """A random n × n positive semi-definite matrix of the given rank, plus floor·I."""
    B = rng.normal(size=(n, n if rank is None else rank)) / np.sqrt(n)
    return B @ B.T + floor * np.eye(n)


def model(seed, d, k, T, batch=3, varying=(), q_rank=None, zero_q=(), missing=0.3):
    """Parameters by name (a name in ``varying`` per step: (T, …)) and observations
    (batch, T, k) with missing entries and all-missing stretches."""
    rng = np.random.default_rng(seed)

    def transition():
        return 0.9 * np.linalg.qr(rng.normal(size=(d, d)))[0] + 0.2 * rng.normal(size=(d, d)) / d

    makers = {"A": transition, "beta": lambda: rng.normal(size=d),
              "Q": lambda: psd(rng, d, q_rank), "L": lambda: rng.normal(size=(k, d)),
              "b": lambda: rng.normal(size=k), "R": lambda: psd(rng, k, floor=0.2)}
    params = {"m0": rng.normal(size=d), "P0": psd(rng, d, floor=0.3)}
    for name in ORDER:
        params[name] = (np.stack([makers[name]() for _ in range(T)]) if name in varying
                        else makers[name]())
    for t in zero_q:
        params["Q"][t] = 0.0
    ys = rng.normal(size=(batch, T, k))
    ys[rng.random(ys.shape) < missing] = np.nan
    if T > 6:
        ys[0, 2:5] = np.nan             # an all-missing stretch in the middle
        ys[-1, :2] = np.nan             # at the start
        ys[-1, -2:] = np.nan            # at the end
    return params, ys


def sequential(params, ys, varying=(), filtered=False):
    """``chains.smoother`` (or ``kalman_filter``) on the NumPy interpreter: the oracle."""
    d, k = params["m0"].shape[0], ys.shape[-1]
    varying = tuple(n for n in ORDER if n in varying)
    para = (kalman_filter if filtered else smoother)(d, k, varying=varying)
    fixed = [params[n] for n in GAUSSIAN_PARAMETERS if n not in varying]
    steps = [np.broadcast_to(params[n], ys.shape[:1] + params[n].shape) for n in varying]
    return compile(para.diagram)(*fixed, ys, *steps)


def arguments(params):
    return [params[n] for n in GAUSSIAN_PARAMETERS]


def assert_close(got, want, what):
    names = ("means", "covariances", "lag-one", "log p")
    for name, g, w in zip(names if len(got) == 4 else ("means", "covariances", "log p"),
                          got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, f"{what}: {name} has shape {g.shape}, want {w.shape}"
        assert np.all(np.isfinite(g)), f"{what}: {name} not finite"
        error = float(np.abs(g - w).max())
        assert error <= TOL, f"{what}: {name} differs by {error:.1e}"


CASES = {
    "d=1 k=1": dict(d=1, k=1, T=11),
    "d=2 k=1 Q rank 1": dict(d=2, k=1, T=12, q_rank=1),
    "d=2 k=2 Q = 0": dict(d=2, k=2, T=9, q_rank=0),
    "d=4 k=3": dict(d=4, k=3, T=17),
    "d=4 k=2 Q rank 2": dict(d=4, k=2, T=13, q_rank=2),
    "d=2 k=2 one step": dict(d=2, k=2, T=1),
    "d=2 k=1 two steps": dict(d=2, k=1, T=2),
    "d=2 k=2 all varying, Q = 0 at some steps": dict(
        d=2, k=2, T=10, varying=ORDER, q_rank=1, zero_q=(0, 3, 4, 9)),
    "d=4 k=2 transition varying": dict(d=4, k=2, T=14, varying=("A", "beta", "Q")),
    "d=1 k=2 observation varying": dict(d=1, k=2, T=8, varying=("L", "b", "R")),
    "d=2 k=3 mostly missing": dict(d=2, k=3, T=16, missing=0.8),
}


@pytest.mark.parametrize("name", list(CASES))
def test_parallel_smoother_and_filter_equal_the_sequential_ones(name):
    case = dict(CASES[name])
    params, ys = model(list(CASES).index(name), **case)
    varying = case.get("varying", ())
    assert_close(parallel_smoother(*arguments(params), ys), sequential(params, ys, varying),
                 f"smoother {name}")
    assert_close(parallel_filter(*arguments(params), ys),
                 sequential(params, ys, varying, filtered=True), f"filter {name}")


def test_per_series_parameters_and_a_single_series():
    params, ys = model(7, d=2, k=2, T=9, batch=3, varying=ORDER)
    want = parallel_smoother(*arguments(params), ys)
    per_series = dict(params)
    for n in ORDER:         # (batch, T, …): the same values for each series
        per_series[n] = np.broadcast_to(params[n], ys.shape[:1] + params[n].shape)
    assert_close(parallel_smoother(*arguments(per_series), ys), want, "(batch, T, …)")
    one = parallel_smoother(*arguments(params), ys[1])
    assert one[0].shape == (9, 2) and np.ndim(one[3]) == 0
    assert_close(one, [w[1] for w in want], "one series (T, k)")
    filtered = parallel_filter(*arguments(params), ys[1])
    assert_close(filtered, [w[1] for w in sequential(params, ys, ORDER, filtered=True)],
                 "one series, filter")


def test_last_lag_one_covariance_is_with_the_state_after_the_data():
    params, ys = model(3, d=2, k=1, T=6, varying=("A", ))
    _, covs, lag, _ = parallel_smoother(*arguments(params), ys)
    np.testing.assert_allclose(lag[:, -1], covs[:, -1] @ params["A"][-1].T, rtol=0, atol=1e-14)


def test_singular_element_covariances_stay_finite():
    """P0 = 0 (a known start), Q = 0 and Q of rank 1: C and J singular or 0 in the filter."""
    rng = np.random.default_rng(11)
    d, k, T = 2, 1, 12
    v = rng.normal(size=(d, 1))
    params = {"m0": rng.normal(size=d), "P0": np.zeros((d, d)),
              "A": np.linalg.qr(rng.normal(size=(d, d)))[0], "beta": rng.normal(size=d),
              "Q": np.stack([np.zeros((d, d)) if t % 3 == 0 else v @ v.T for t in range(T)]),
              "L": rng.normal(size=(k, d)), "b": rng.normal(size=k), "R": 0.5 * np.eye(k)}
    ys = rng.normal(size=(2, T, k))
    ys[0, 4:8] = np.nan
    assert_close(parallel_filter(*arguments(params), ys),
                 sequential(params, ys, ("Q", ), filtered=True), "filter, P0 = 0")
    params["P0"] = psd(rng, d, rank=1)      # the smoother needs A P Aᵀ + Q ≻ 0 after step 0
    params["Q"][0] = v @ v.T + np.eye(d)
    assert_close(parallel_smoother(*arguments(params), ys), sequential(params, ys, ("Q", )),
                 "smoother, P0 and Q of rank 1, Q = 0 at some steps")


def test_a_singular_predicted_covariance_is_refused_by_name():
    params, ys = model(5, d=2, k=1, T=5, varying=("Q", ))
    params["P0"] = np.zeros((2, 2))
    params["Q"][0] = 0.0                    # x₁ = A x₀ + β exactly
    with pytest.raises(ValueError, match=r"A P Aᵀ \+ Q of x_1 .* singular.*chains.smoother"):
        parallel_smoother(*arguments(params), ys)
    assert np.all(np.isfinite(parallel_filter(*arguments(params), ys)[0]))


def test_bad_shapes_are_refused_naming_the_parameter():
    params, ys = model(1, d=2, k=1, T=4)
    bad = dict(params, Q=np.eye(3))
    with pytest.raises(ValueError,
                       match=r"parallel_smoother: Q has shape \(3, 3\); expected \(2, 2\)"):
        parallel_smoother(*arguments(bad), ys)
    bad = dict(params, L=np.ones((5, 1, 2)))
    with pytest.raises(ValueError,
                       match=r"parallel_filter: L has shape \(5, 1, 2\).*\(4, 1, 2\) per step"):
        parallel_filter(*arguments(bad), ys)
    with pytest.raises(ValueError, match=r"m0 has shape \(2, 2\)"):
        parallel_filter(*arguments(dict(params, m0=np.eye(2))), ys)
    with pytest.raises(ValueError, match=r"ys has shape \(4,\)"):
        parallel_filter(*arguments(params), ys[0, :, 0])
    singular = dict(params, R=np.zeros((1, 1)), P0=np.zeros((2, 2)))   # y₀ = L m0 + b exactly
    with pytest.raises(ValueError, match=r"parallel_filter: the covariance L Q Lᵀ \+ R of y_0 .* "
                                         r"not positive definite"):
        parallel_filter(*arguments(singular), np.ones((1, 4, 1)))
    with pytest.raises(TypeError, match="xp is NumPy or jax.numpy"):
        parallel_filter(*arguments(params), ys, xp=list)


# -- the operators and the scan -------------------------------------------------------------------

def filtering_element(rng, d, c_rank, j_rank, batch=()):
    def matrix():
        return rng.normal(size=batch + (d, d))

    def psd_batch(rank):
        B = rng.normal(size=batch + (d, rank)) / np.sqrt(d)
        return B @ np.swapaxes(B, -1, -2)
    return (matrix(), rng.normal(size=batch + (d, )), psd_batch(c_rank),
            rng.normal(size=batch + (d, )), psd_batch(j_rank))


def smoothing_element(rng, d, l_rank, batch=()):
    B = rng.normal(size=batch + (d, l_rank)) / np.sqrt(d)
    return (rng.normal(size=batch + (d, d)) / np.sqrt(d), rng.normal(size=batch + (d, )),
            B @ np.swapaxes(B, -1, -2))


def assert_elements_close(left, right, what):
    for i, (l, r) in enumerate(zip(left, right)):
        scale = 1.0 + max(np.abs(l).max(), np.abs(r).max())
        assert np.abs(l - r).max() <= 1e-10 * scale, f"{what}: component {i} differs"


ranks = st.integers(0, 4)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 4), st.lists(ranks, min_size=6, max_size=6))
def test_the_filtering_operator_is_associative(seed, d, rank_list):
    rng = np.random.default_rng(seed)
    rank_list = [min(r, d) for r in rank_list]           # C and J ⪰ 0, singular or 0 allowed
    a, b, c = (filtering_element(rng, d, rank_list[2 * i], rank_list[2 * i + 1], (2, ))
               for i in range(3))
    assert_elements_close(filtering_operator(filtering_operator(a, b), c),
                          filtering_operator(a, filtering_operator(b, c)), "(a•b)•c = a•(b•c)")


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 4), st.lists(ranks, min_size=3, max_size=3))
def test_the_smoothing_operator_is_associative(seed, d, rank_list):
    rng = np.random.default_rng(seed)
    a, b, c = (smoothing_element(rng, d, min(r, d), (2, )) for r in rank_list)
    assert_elements_close(smoothing_operator(smoothing_operator(a, b), c),
                          smoothing_operator(a, smoothing_operator(b, c)), "(a•b)•c = a•(b•c)")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 33), st.booleans())
def test_the_scan_is_the_fold_of_its_operator(seed, n, reverse):
    rng = np.random.default_rng(seed)
    d = 2
    elements = [filtering_element(rng, d, 2, 1) for _ in range(n)]
    stacked = tuple(np.stack(parts) for parts in zip(*elements))
    got = associative_scan(filtering_operator, stacked, reverse=reverse)
    for t in range(n):
        if reverse:
            want = reduce(lambda later, earlier: filtering_operator(earlier, later),
                          elements[t:][::-1])
        else:
            want = reduce(filtering_operator, elements[:t + 1])
        assert_elements_close([g[t] for g in got], want, f"position {t} of {n}")


# -- JAX ----------------------------------------------------------------------------------------

def test_jax_equals_numpy():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    params, ys = model(13, d=2, k=2, T=10, varying=ORDER, q_rank=1, zero_q=(2, 5))
    args = arguments(params)
    for fn in (parallel_smoother, parallel_filter):
        want = fn(*args, ys)
        got = fn(*args, ys, xp=jax.numpy)
        for g, w in zip(got, want):
            assert isinstance(g, jax.Array)
            np.testing.assert_allclose(np.asarray(g), w, rtol=0, atol=1e-12)


def test_jax_refuses_float64_in_32_bit_mode_and_numpy_needs_no_jax():
    pytest.importorskip("jax")
    code = """
import numpy as np, jax
from paralens.interpreters.parallel import parallel_filter
I = np.eye(1)
args = [np.zeros(1), I, I, np.zeros(1), I, I, np.zeros(1), I, np.ones((3, 1))]
try:
    parallel_filter(*args, xp=jax.numpy)
except TypeError as error:
    print("refused:", error)
single = parallel_filter(*[a.astype(np.float32) for a in args], xp=jax.numpy)
print(single[0].dtype, bool(np.allclose(single[0], parallel_filter(*args)[0], atol=1e-5)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "refused:" in out and "jax_enable_x64" in out
    assert "float32 True" in out
    code = """
import sys
sys.modules["jax"] = None
import numpy as np
from paralens.interpreters.parallel import parallel_smoother
I = np.eye(1)
means = parallel_smoother(np.zeros(1), I, I, np.zeros(1), I, I, np.zeros(1), I, np.ones((2, 1)))[0]
print(round(float(means[0, 0]), 12))     # x₀ | y₀ = y₁ = 1: (1 + 1/2) / (1 + 1 + 1/2)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "0.6"
