"""The most probable path of a hidden Markov chain as the backward filter read over
(max, ×) (``interpreters.semiring``, ``reference/bffg.md`` §13).

Oracles: every one of the S^T paths enumerated (small S, T; missing symbols; a
batch), and a log-space Viterbi written here (S = 10, T = 200). Random parameters
make ties improbable, so the path itself is compared, state by state. The (max, ×)
table holds inside loops, hoisted or run step by step.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from paralens.categories import Einsum, Real, Sum, function
from paralens.categories.chains import hmm_backward_filter, hmm_log_likelihood
from paralens.categories.stateful import Loop
from paralens.interpreters.hoist import hoisted
from paralens.interpreters.numpy import RULES, _stepwise_loop, compile, derived
from paralens.interpreters.plan import flatten
from paralens.interpreters.semiring import MAX_PRODUCT, most_probable_path


def chain(rng, S, n, batch=None):
    """Random p, K, E (rows on the simplex, bounded away from 0), shared or per series."""
    lead = () if batch is None else (batch, )
    draw = lambda *shape: rng.dirichlet(np.ones(shape[-1]), size=lead + shape[:-1])
    return draw(S), draw(S, S), draw(S, n)


def symbols(rng, n, batch, T, missing=0.3):
    ys = rng.integers(0, n, size=(batch, T)).astype(float)
    ys[rng.random((batch, T)) < missing] = np.nan
    return ys


def log_joint(p, K, E, ys, paths):
    """log p(x, y) of paths (P, T), the same for every series, or (batch, P, T): (batch, P).
    The parameters are shared or given per series (a batch axis in front)."""
    B, T = ys.shape
    S, n = E.shape[-2:]
    p, K, E = (np.broadcast_to(p, (B, S)), np.broadcast_to(K, (B, S, S)),
               np.broadcast_to(E, (B, S, n)))
    x = np.broadcast_to(paths, (B, ) + np.shape(paths)[-2:])
    b = np.arange(B)[:, None]
    total = np.log(p[b, x[:, :, 0]])
    for t in range(T - 1):
        total += np.log(K[b, x[:, :, t], x[:, :, t + 1]])
    for t in range(T):
        seen = ~np.isnan(ys[:, t])
        y = np.where(seen, ys[:, t], 0).astype(int)[:, None]
        total += np.where(seen[:, None], np.log(E[b, x[:, :, t], y]), 0.0)
    return total


def own(p, K, E, ys, path):
    """log p(x, y) of each series' own path (batch, T)."""
    return log_joint(p, K, E, ys, path[:, None, :])[:, 0]


def enumerated(p, K, E, ys, unique=True):
    """The arg-max and the max of log p(x, y) over all S^T paths. ``unique``: check that
    the best path is unique, the second best below it by more than rounding (paths with
    the same transitions and emissions in another order tie whatever the parameters)."""
    S, T = E.shape[-2], ys.shape[1]
    paths = np.array(list(itertools.product(range(S), repeat=T)), dtype=int).reshape(-1, T)
    scores = log_joint(p, K, E, ys, paths)
    best = np.argmax(scores, axis=1)
    if unique and len(paths) > 1:
        top2 = np.sort(scores, axis=1)[:, -2:]
        assert np.all(top2[:, 1] - top2[:, 0] > 1e-9), "a tie: the oracle has no one path"
    return paths[best], scores[np.arange(len(ys)), best]


def log_viterbi(p, K, E, ys):
    """The textbook Viterbi in log space, one series at a time: δ_0 = log p + log E[:, y_0],
    δ_{t+1}(j) = max_i δ_t(i) + log K[i, j] + log E[j, y_{t+1}], back-pointers, traced back."""
    lp, lK, lE = np.log(p), np.log(K), np.log(E)
    paths, best = [], []
    for y in ys:
        T = len(y)
        emit = [lE[:, int(v)] if not np.isnan(v) else np.zeros(len(p)) for v in y]
        delta, back = lp + emit[0], []
        for t in range(1, T):
            scores = delta[:, None] + lK
            back.append(np.argmax(scores, axis=0))
            delta = np.max(scores, axis=0) + emit[t]
        x = [int(np.argmax(delta))]
        for pointers in reversed(back):
            x.append(int(pointers[x[-1]]))
        paths.append(x[::-1])
        best.append(np.max(delta))
    return np.array(paths), np.array(best)


@pytest.mark.parametrize("S, n, T", [(2, 3, 1), (2, 2, 2), (3, 3, 3), (3, 2, 5), (2, 4, 7)])
def test_the_path_and_its_probability_are_the_best_of_all_paths(S, n, T):
    rng = np.random.default_rng(100 * S + 10 * n + T)
    p, K, E = chain(rng, S, n)
    ys = symbols(rng, n, 6, T)
    path, logp = most_probable_path(p, K, E, ys)
    want_path, want = enumerated(p, K, E, ys)
    assert path.shape == (6, T) and logp.shape == (6, )
    np.testing.assert_array_equal(path, want_path)
    np.testing.assert_allclose(logp, want, rtol=1e-12, atol=0)
    # the value returned is the probability of the path returned
    np.testing.assert_allclose(own(p, K, E, ys, path), want, rtol=1e-12, atol=0)


def test_every_symbol_missing_is_the_most_probable_walk_of_the_chain():
    rng = np.random.default_rng(1)
    p, K, E = chain(rng, 3, 2)
    ys = np.full((2, 4), np.nan)
    path, logp = most_probable_path(p, K, E, ys)
    want_path, want = enumerated(p, K, E, ys)
    np.testing.assert_array_equal(path, want_path)
    np.testing.assert_allclose(logp, want, rtol=1e-12, atol=0)


def test_parameters_given_per_series():
    rng = np.random.default_rng(2)
    B = 5
    p, K, E = chain(rng, 3, 3, batch=B)
    ys = symbols(rng, 3, B, 4)
    path, logp = most_probable_path(p, K, E, ys)
    for b in range(B):
        want_path, want = enumerated(p[b], K[b], E[b], ys[b:b + 1])
        np.testing.assert_array_equal(path[b:b + 1], want_path)
        np.testing.assert_allclose(logp[b], want[0], rtol=1e-12, atol=0)


def test_a_long_chain_against_the_log_space_viterbi():
    rng = np.random.default_rng(3)
    S, n, T = 10, 6, 200
    p, K, E = chain(rng, S, n)
    ys = symbols(rng, n, 3, T, missing=0.2)
    path, logp = most_probable_path(p, K, E, ys)
    want_path, want = log_viterbi(p, K, E, ys)
    np.testing.assert_array_equal(path, want_path)
    np.testing.assert_allclose(logp, want, rtol=1e-12, atol=0)
    assert np.all(logp < -100)          # far below what unnormalised products could hold


# -- the same diagram over two semirings -----------------------------------------------------

def test_over_sum_product_the_filter_from_the_last_leaf_is_log_p():
    rng = np.random.default_rng(4)
    S, n = 3, 4
    p, K, E = chain(rng, S, n)
    ys = symbols(rng, n, 4, 6)
    logp, h0, hs = compile(hmm_backward_filter(S, n).diagram)(p, K, E, ys[:, :-1], ys[:, -1])
    want = compile(hmm_log_likelihood(S, n).diagram)(p, K, E, ys)
    np.testing.assert_allclose(logp, want, rtol=1e-13)
    paths = np.array(list(itertools.product(range(S), repeat=6)))
    np.testing.assert_allclose(logp, np.log(np.exp(log_joint(p, K, E, ys, paths)).sum(axis=1)),
                               rtol=1e-12)
    assert h0.shape == (4, S) and hs.shape == (4, 5, S)


def test_the_forward_filter_over_max_product_gives_the_most_probable_paths_value():
    """``hmm_log_likelihood`` (the forward filter, its log-scales summed) read over
    (max, ×) is log max_x p(x, y) too: the same value as the backward filter's root and
    as enumeration."""
    rng = np.random.default_rng(5)
    S, n, T = 3, 3, 4
    p, K, E = chain(rng, S, n)
    ys = symbols(rng, n, 5, T)
    got = compile(hmm_log_likelihood(S, n).diagram, rules=MAX_PRODUCT)(p, K, E, ys)
    np.testing.assert_allclose(got, enumerated(p, K, E, ys, unique=False)[1], rtol=1e-12,
                               atol=0)
    _, logp = most_probable_path(p, K, E, ys)
    np.testing.assert_allclose(got, logp, rtol=1e-12, atol=0)


def test_max_product_holds_inside_the_loop_hoisted_or_step_by_step():
    rng = np.random.default_rng(6)
    S, n = 4, 3
    p, K, E = chain(rng, S, n)
    ys = symbols(rng, n, 3, 9)
    diagram = hmm_backward_filter(S, n).diagram
    loops = [eq.box for eq in flatten(diagram).equations if eq.kind == "Loop"]
    assert len(loops) == 1
    kinds = [eq.kind for eq in hoisted(loops[0]).equations]
    assert "OverTime" in kinds          # the emissions' contractions run on whole sequences
    stepwise = derived("step-by-step max-product rules", MAX_PRODUCT)
    stepwise["Loop"] = lambda box: _stepwise_loop(box, stepwise)
    args = (p, K, E, ys[:, :-1], ys[:, -1])
    got, want = compile(diagram, rules=MAX_PRODUCT)(*args), compile(diagram, rules=stepwise)(*args)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-14)
    np.testing.assert_allclose(got[0], enumerated(p, K, E, ys, unique=False)[1], rtol=1e-12,
                               atol=0)
    # and the default table still sums, inside the loop too
    summed = compile(diagram)(*args)[0]
    assert np.all(summed > got[0] + 1e-9)


def test_max_product_holds_in_the_parts_hoisted_out_of_a_loop():
    """A stage whose stateless part (a contraction, a sum) runs on whole sequences
    (``OverTime``, before and after the core loop): it too is read over (max, ×)."""
    v = Real(3)
    stage = function(Real(3, 3) @ Real() @ v, Real() @ v)(
        lambda M, s, x: (s + Sum(v)(x), M @ x))
    loop = Loop(stage, Real(3, 3), Real(), v, v)
    assert [eq.kind for eq in hoisted(loop).equations] == ["OverTime", "Loop", "OverTime"]
    rng = np.random.default_rng(8)
    M, s, xs = rng.random((3, 3)), rng.random(2), rng.random((2, 5, 3))
    final, ys = compile(loop, rules=MAX_PRODUCT)(M, s, xs)
    np.testing.assert_allclose(final, s + xs.max(axis=-1).sum(axis=1), rtol=1e-14)
    np.testing.assert_allclose(ys, np.max(M * xs[:, :, None, :], axis=-1), rtol=1e-14)
    final, ys = compile(loop)(M, s, xs)                 # RULES: sums
    np.testing.assert_allclose(final, s + xs.sum(axis=(1, 2)), rtol=1e-14)
    np.testing.assert_allclose(ys, xs @ M.T, rtol=1e-14)


def test_max_product_rules():
    v = Real(3)
    K = np.array([[0.2, 0.5, 0.1], [0.3, 0.3, 0.9], [0.6, 0.2, 0.2]])
    h = np.array([[0.5, 0.1, 0.4], [1.0, 2.0, 3.0]])
    pull = function(Real(3, 3) @ v, v)(lambda K, h: K @ h)
    np.testing.assert_array_equal(compile(pull, rules=MAX_PRODUCT)(K, h),
                                  np.max(K[None] * h[:, None, :], axis=-1))
    dot = function(v @ v, Real())(lambda a, b: a @ b)
    np.testing.assert_array_equal(compile(dot, rules=MAX_PRODUCT)(h[0], h), np.max(h[0] * h, -1))
    total = function(Real(2, 3), Real())(Sum(Real(2, 3)))
    np.testing.assert_array_equal(compile(total, rules=MAX_PRODUCT)(K[:2]), 0.9)
    # an einsum that sums no index is the same in every semiring
    outer = function(v @ v, Real(3, 3))(lambda a, b: Einsum("i,j->ij", v, v)(a, b).T)
    np.testing.assert_array_equal(compile(outer, rules=MAX_PRODUCT)(h[0], h[1]),
                                  compile(outer)(h[0], h[1]))


def test_a_contraction_with_no_max_product_rule_is_refused_by_name():
    square = function(Real(3, 3) @ Real(3, 3), Real(3, 3))(lambda a, b: a @ b)
    with pytest.raises(NotImplementedError, match=r"max-product rules: no rule for "
                                                  r"Einsum\(ij,jk->ik\), which sums over j; "
                                                  r"the contractions read over \(max, ×\) are "
                                                  r"ij,j->i, i,i->"):
        compile(square, rules=MAX_PRODUCT)


def test_the_default_table_is_untouched():
    assert MAX_PRODUCT is not RULES
    assert RULES["Einsum"] is not MAX_PRODUCT["Einsum"]
    assert RULES["Sum"] is not MAX_PRODUCT["Sum"]
    assert RULES["Loop"] is not MAX_PRODUCT["Loop"]
    assert set(MAX_PRODUCT) == set(RULES)


def test_bad_symbols_are_refused():
    p, K, E = chain(np.random.default_rng(7), 2, 2)
    with pytest.raises(ValueError, match=r"ys are the symbols \(batch, T\)"):
        most_probable_path(p, K, E, [0.0, 1.0])
    with pytest.raises(ValueError, match="no steps"):
        most_probable_path(p, K, E, np.zeros((2, 0)))
