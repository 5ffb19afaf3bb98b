"""The recurrent-network oracles of ``rnn_reference`` checked against each other
and against central differences, in float64.

Tolerances: ``CD_RTOL`` between an exact derivative and a central difference
(step 1e-6: truncation ~1e-12, rounding ~1e-10 relative), ``EXACT_RTOL``
between two exact computations of the same quantity (rounding only).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnn_reference import (
    GRU_PARAMS, central_difference, elman_bptt, elman_forward, elman_jvp,
    elman_truncated_bptt, gru_forward, sigmoid)

B, T, N_IN, N = 3, 24, 2, 4
CD_RTOL, CD_ATOL = 1e-6, 1e-9
EXACT_RTOL, EXACT_ATOL = 1e-10, 1e-12
NAMES = ("Wx", "Wh", "b", "h0", "xs")


def problem(seed=0, T=T):
    """Elman inputs with an orthogonal recurrent matrix and small inputs, so
    that a cotangent at step T still reaches h0 (see
    test_problem_has_long_range_dependence); cotangents dys, dhT, and
    tangents for all five inputs."""
    rng = np.random.default_rng(seed)
    args = dict(
        Wx=rng.normal(size=(N_IN, N)) / math.sqrt(N_IN),
        Wh=np.linalg.qr(rng.normal(size=(N, N)))[0],
        b=rng.normal(size=N) * 0.1,
        h0=rng.normal(size=(B, N)) * 0.5,
        xs=rng.normal(size=(B, T, N_IN)) * 0.5)
    dys = rng.normal(size=(B, T, N))
    dhT = rng.normal(size=(B, N))
    tangents = {k: rng.normal(size=v.shape) for k, v in args.items()}
    return args, dys, dhT, tangents


def loss(args, dys, dhT=None):
    ys, hT = elman_forward(**args)
    out = np.sum(dys * ys)
    return out if dhT is None else out + np.sum(dhT * hT)


def along(args, name, tangent, f):
    """``s -> f(args with args[name] + s * tangent)``, for central_difference
    in the scalar s."""
    def g(s):
        moved = dict(args)
        moved[name] = args[name] + float(s) * tangent
        return f(moved)
    return g


def along_all(args, tangents, f):
    def g(s):
        return f({k: args[k] + float(s) * tangents[k] for k in args})
    return g


def zero_tangents(args):
    return {k: np.zeros_like(v) for k, v in args.items()}


def jvp(args, tangents):
    return elman_jvp(**args, **{"d" + k: v for k, v in tangents.items()})


# -- the helper itself -----------------------------------------------------------

def test_central_difference_on_known_derivative():
    x = np.linspace(-2.0, 2.0, 7)
    v = np.arange(1.0, 8.0)
    np.testing.assert_allclose(central_difference(np.sin, x, v), np.cos(x) * v,
                               rtol=1e-9, atol=1e-10)
    # a scalar-valued f
    assert abs(central_difference(lambda y: np.sum(y ** 3), x, v)
               - np.sum(3 * x ** 2 * v)) < 1e-7


# -- forward conventions ---------------------------------------------------------

def test_forward_conventions():
    args, *_ = problem()
    ys, hT = elman_forward(**args)
    assert ys.shape == (B, T, N) and hT.shape == (B, N)
    Wx, Wh, b, h0, xs = (args[k] for k in NAMES)
    # ys[:, 0] is the state after the first step, from h0 (the state before it)
    np.testing.assert_array_equal(ys[:, 0], np.tanh(xs[:, 0] @ Wx + h0 @ Wh + b))
    np.testing.assert_array_equal(ys[:, 1], np.tanh(xs[:, 1] @ Wx + ys[:, 0] @ Wh + b))
    np.testing.assert_array_equal(hT, ys[:, -1])
    # batch rows do not interact
    for i in range(B):
        yi, _ = elman_forward(Wx, Wh, b, h0[i:i + 1], xs[i:i + 1])
        np.testing.assert_allclose(yi[0], ys[i], rtol=EXACT_RTOL, atol=EXACT_ATOL)


def test_forward_scalar_by_hand():
    """B = n_in = n = 1, with math.tanh: independent of any array layout."""
    wx, wh, b, h, xs = 0.7, -1.1, 0.2, 0.4, [0.3, -0.8, 1.5, 0.1]
    expected = []
    for x in xs:
        h = math.tanh(x * wx + h * wh + b)
        expected.append(h)
    ys, hT = elman_forward(np.array([[wx]]), np.array([[wh]]), np.array([b]),
                           np.array([[0.4]]), np.array(xs).reshape(1, -1, 1))
    np.testing.assert_allclose(ys.ravel(), expected, rtol=1e-15)
    assert hT[0, 0] == ys[0, -1, 0]


# -- reverse: BPTT ---------------------------------------------------------------

@pytest.mark.parametrize("with_dhT", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_bptt_against_central_difference(name, with_dhT):
    args, dys, dhT, tangents = problem(seed=1)
    dhT = dhT if with_dhT else None
    grads = elman_bptt(**args, dys=dys, dhT=dhT)
    assert grads[name].shape == args[name].shape
    exact = np.sum(grads[name] * tangents[name])
    fd = central_difference(along(args, name, tangents[name], lambda a: loss(a, dys, dhT)),
                            0.0, 1.0)
    assert abs(exact - fd) <= CD_RTOL * abs(fd) + CD_ATOL, (exact, fd)


def test_bptt_all_directions_at_once():
    args, dys, dhT, tangents = problem(seed=2)
    grads = elman_bptt(**args, dys=dys, dhT=dhT)
    exact = sum(np.sum(grads[k] * tangents[k]) for k in NAMES)
    fd = central_difference(along_all(args, tangents, lambda a: loss(a, dys, dhT)), 0.0, 1.0)
    assert abs(exact - fd) <= CD_RTOL * abs(fd) + CD_ATOL, (exact, fd)


def test_problem_has_long_range_dependence():
    """The test problems are not trivially short-memory: dhT alone, T steps
    later, still moves the h0 gradient (else truncation tests would be weak)."""
    for seed in range(12):
        args, dys, dhT, _ = problem(seed)
        dh0 = elman_bptt(**args, dys=np.zeros_like(dys), dhT=dhT)["h0"]
        assert np.abs(dh0).max() > 1e-5, seed


def test_bptt_is_reverse_causal():
    """A cotangent at time k alone gives xs gradients that vanish exactly after k."""
    args, dys, _, _ = problem(seed=3)
    k = 9
    only = np.zeros_like(dys)
    only[:, k] = dys[:, k]
    dxs = elman_bptt(**args, dys=only)["xs"]
    assert np.all(dxs[:, k + 1:] == 0.0)
    assert np.all(np.abs(dxs[:, :k + 1]).sum(axis=(0, 2)) > 0)


# -- forward mode: JVP -----------------------------------------------------------

def test_jvp_primal_is_the_forward():
    args, _, _, tangents = problem(seed=4)
    ys, _ = jvp(args, tangents)
    np.testing.assert_array_equal(ys, elman_forward(**args)[0])


@pytest.mark.parametrize("name", NAMES + ("all",))
def test_jvp_against_central_difference(name):
    args, _, _, tangents = problem(seed=5)
    if name == "all":
        used = tangents
        f = along_all(args, tangents, lambda a: elman_forward(**a)[0])
    else:
        used = zero_tangents(args)
        used[name] = tangents[name]
        f = along(args, name, tangents[name], lambda a: elman_forward(**a)[0])
    _, dys = jvp(args, used)
    np.testing.assert_allclose(dys, central_difference(f, 0.0, 1.0),
                               rtol=CD_RTOL, atol=CD_ATOL)


def test_jvp_and_bptt_are_adjoint():
    """<dys, J t> + <dhT, (J t)_T> == <J^T (dys, dhT), t>: two exact methods."""
    args, dys, dhT, tangents = problem(seed=6)
    _, ydot = jvp(args, tangents)
    forward = np.sum(dys * ydot) + np.sum(dhT * ydot[:, -1])
    grads = elman_bptt(**args, dys=dys, dhT=dhT)
    reverse = sum(np.sum(grads[k] * tangents[k]) for k in NAMES)
    assert abs(forward - reverse) <= EXACT_RTOL * abs(forward) + EXACT_ATOL, (forward, reverse)


@pytest.mark.parametrize("j", [0, 1, 11, T - 1])
def test_causality(j):
    """Perturbing x_j changes no y_k with k < j, exactly; it does change y_j."""
    args, _, _, tangents = problem(seed=7)
    t = zero_tangents(args)
    t["xs"][:, j] = tangents["xs"][:, j]
    _, ydot = jvp(args, t)
    assert np.all(ydot[:, :j] == 0.0)
    assert np.all(np.abs(ydot[:, j:]).sum(axis=(0, 2)) > 0)
    # and the forward itself: bitwise the same outputs before j
    moved = dict(args, xs=args["xs"] + t["xs"])
    before, after = elman_forward(**args)[0], elman_forward(**moved)[0]
    np.testing.assert_array_equal(after[:, :j], before[:, :j])
    assert np.all(after[:, j] != before[:, j])


# -- truncated BPTT --------------------------------------------------------------

PARAMS = ("Wx", "Wh", "b")


def assert_params_close(got, want, rtol=EXACT_RTOL, atol=EXACT_ATOL):
    for k in PARAMS:
        np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=atol, err_msg=k)


@pytest.mark.parametrize("k", [T, T + 1, 10 * T])
def test_truncated_with_long_segments_is_full_bptt(k):
    args, dys, _, _ = problem(seed=8)
    assert_params_close(elman_truncated_bptt(**args, dys=dys, k=k),
                        elman_bptt(**args, dys=dys))


@pytest.mark.parametrize("k", [1, 3, 7, T - 1])
def test_truncated_is_the_sum_of_segment_bptts(k):
    """Another construction: full BPTT on each segment, started from the carried state."""
    args, dys, _, _ = problem(seed=9)
    ys, _ = elman_forward(**args)
    want = {p: np.zeros_like(args[p]) for p in PARAMS}
    for s in range(0, T, k):
        start = args["h0"] if s == 0 else ys[:, s - 1]
        g = elman_bptt(args["Wx"], args["Wh"], args["b"], start,
                       args["xs"][:, s:s + k], dys[:, s:s + k])
        for p in PARAMS:
            want[p] += g[p]
    got = elman_truncated_bptt(**args, dys=dys, k=k)
    assert_params_close(got, want)
    # truncation matters here: not the full gradient
    full = elman_bptt(**args, dys=dys)
    assert not np.allclose(got["Wh"], full["Wh"], rtol=1e-3)


def test_truncated_k1_closed_form():
    """k = 1: each step's own gradient, the previous state constant (vectorised)."""
    args, dys, _, _ = problem(seed=10)
    ys, _ = elman_forward(**args)
    prev = np.concatenate([args["h0"][:, None], ys[:, :-1]], axis=1)
    dz = dys * (1 - ys ** 2)
    want = dict(Wx=np.einsum("bti,btn->in", args["xs"], dz),
                Wh=np.einsum("bti,btn->in", prev, dz),
                b=dz.sum(axis=(0, 1)))
    assert_params_close(elman_truncated_bptt(**args, dys=dys, k=1), want)


@pytest.mark.parametrize("k", [4, 5])
@pytest.mark.parametrize("name", PARAMS)
def test_truncated_against_central_difference(k, name):
    """Truncated BPTT is the exact gradient of the loss in which each segment
    restarts from its start state, held fixed at its value under the base
    parameters (a stop-gradient)."""
    args, dys, _, tangents = problem(seed=11)
    ys, _ = elman_forward(**args)
    starts = {s: (args["h0"] if s == 0 else ys[:, s - 1]) for s in range(0, T, k)}

    def segmented_loss(a):
        total = 0.0
        for s, start in starts.items():
            y, _ = elman_forward(a["Wx"], a["Wh"], a["b"], start, a["xs"][:, s:s + k])
            total += np.sum(dys[:, s:s + k] * y)
        return total

    grads = elman_truncated_bptt(**args, dys=dys, k=k)
    exact = np.sum(grads[name] * tangents[name])
    fd = central_difference(along(args, name, tangents[name], segmented_loss), 0.0, 1.0)
    assert abs(exact - fd) <= CD_RTOL * abs(fd) + CD_ATOL, (exact, fd)


def test_truncated_rejects_k_below_one():
    args, dys, _, _ = problem()
    with pytest.raises(ValueError):
        elman_truncated_bptt(**args, dys=dys, k=0)


# -- GRU -------------------------------------------------------------------------

def gru_problem(seed=12):
    rng = np.random.default_rng(seed)
    shape = {"n_in": N_IN, "n": N}
    params = {k: rng.normal(size=tuple(shape[d] for d in dims)) / math.sqrt(shape[dims[0]])
              for k, dims in GRU_PARAMS.items()}
    return params, rng.normal(size=(B, N)) * 0.5, rng.normal(size=(B, T, N_IN))


def test_sigmoid_tails_are_exact():
    assert sigmoid(np.float64(800.0)) == 1.0 and sigmoid(np.float64(-800.0)) == 0.0
    np.testing.assert_allclose(sigmoid(np.linspace(-5, 5, 11)),
                               1 / (1 + np.exp(-np.linspace(-5, 5, 11))), rtol=1e-14)


def test_gru_one_step_by_formula():
    params, h0, xs = gru_problem()
    ys, hT = gru_forward(params, h0, xs)
    assert ys.shape == (B, T, N)
    np.testing.assert_array_equal(hT, ys[:, -1])
    p, x, h = params, xs[:, 0], h0
    lin = lambda W, U, bias, state: x @ p[W] + state @ p[U] + p[bias]
    z = 1 / (1 + np.exp(-lin("Wz", "Uz", "bz", h)))
    r = 1 / (1 + np.exp(-lin("Wr", "Ur", "br", h)))
    c = np.tanh(lin("Wc", "Uc", "bc", r * h))
    np.testing.assert_allclose(ys[:, 0], (1 - z) * h + z * c, rtol=1e-13, atol=1e-15)


def test_gru_with_open_gates_is_elman():
    """z = r = 1 exactly (biases far in the tail): the Elman cell on (Wc, Uc, bc)."""
    params, h0, xs = gru_problem()
    params = dict(params, bz=np.full(N, 800.0), br=np.full(N, 800.0),
                  Wz=np.zeros((N_IN, N)), Uz=np.zeros((N, N)),
                  Wr=np.zeros((N_IN, N)), Ur=np.zeros((N, N)))
    ys, _ = gru_forward(params, h0, xs)
    want, _ = elman_forward(params["Wc"], params["Uc"], params["bc"], h0, xs)
    np.testing.assert_allclose(ys, want, rtol=EXACT_RTOL, atol=EXACT_ATOL)


def test_gru_with_closed_update_gate_keeps_the_state():
    params, h0, xs = gru_problem()
    params = dict(params, bz=np.full(N, -800.0), Wz=np.zeros((N_IN, N)), Uz=np.zeros((N, N)))
    ys, _ = gru_forward(params, h0, xs)
    np.testing.assert_array_equal(ys, np.broadcast_to(h0[:, None], ys.shape))


def test_gru_is_causal():
    params, h0, xs = gru_problem()
    j = 13
    moved = xs.copy()
    moved[:, j] += 1.0
    before, after = gru_forward(params, h0, xs)[0], gru_forward(params, h0, moved)[0]
    np.testing.assert_array_equal(after[:, :j], before[:, :j])
    assert np.all(after[:, j] != before[:, j])
