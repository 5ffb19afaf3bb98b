"""Guided samples of a chain and of an HMM drawn without unrolling them
(``bffg.sample_chain``, ``bffg.sample_hmm``): their moments are the exact smoother's to
Monte Carlo error (5 standard errors, fixed seeds), rank-deficient Q and missing
stretches included; the joint law of two consecutive HMM states is enumeration's."""

import itertools

import numpy as np
import pytest

from paralens.categories import markov
from paralens.interpreters import bffg

N = 20000


def chain_box():
    rng = np.random.default_rng(0)
    A = np.array([[0.9, 0.2], [0.0, 0.8]])
    Q = np.array([[0.1, 0.0], [0.0, 0.0]])                 # rank 1: the second coordinate
    ys = rng.normal(size=(15, 1))
    ys[5:9] = np.nan
    return markov.state_space(np.zeros(2), np.eye(2), A, [0.1, 0.0], Q, [[1.0, 0.0]], [0.2],
                              [[0.3]], ys)


def test_chain_samples_have_the_smoothed_moments():
    box = chain_box()
    exact = bffg.smooth_chain(box)
    draws = bffg.sample_chain(box, rng=1, size=N)
    assert draws.shape == (N, 15, 2)
    sd = np.sqrt(np.einsum("tii->ti", exact.covariances))
    z = (draws.mean(axis=0) - exact.means) / (sd / np.sqrt(N))
    assert np.abs(z).max() < 5, np.abs(z).max()
    centred = draws - exact.means
    cov = np.einsum("nti,ntj->tij", centred, centred) / N
    lag = np.einsum("nti,ntj->tij", centred[:, :-1], centred[:, 1:]) / N
    scale = np.sqrt(np.einsum("ti,tj->tij", sd, sd))        # the sd of a product, ~ sd_i sd_j
    assert np.abs(cov - exact.covariances).max() < 5 * np.sqrt(2 / N) * scale.max()
    assert np.abs(lag - exact.lag_one).max() < 5 * np.sqrt(2 / N) * scale.max()


def test_chain_samples_are_reproducible_and_refuse_other_boxes():
    box = chain_box()
    np.testing.assert_array_equal(bffg.sample_chain(box, rng=3, size=2),
                                  bffg.sample_chain(box, rng=np.random.default_rng(3), size=2))
    hmm = markov.hidden_markov([0.5, 0.5], np.eye(2), np.eye(2), [0, 1])
    with pytest.raises(TypeError, match="sample_chain smooths one Chain box"):
        bffg.sample_chain(hmm)
    with pytest.raises(NotImplementedError, match=r"sample_chain\(box\)"):
        bffg.backward_filter(box, batched=False).sample(0)


def hmm_box():
    return markov.hidden_markov([0.3, 0.5, 0.2],
                                [[0.8, 0.15, 0.05], [0.1, 0.8, 0.1], [0.3, 0.0, 0.7]],
                                [[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]], [0, 1, None, 1, 0, 0])


def test_hmm_samples_have_the_smoothed_marginals_and_pairs():
    box = hmm_box()
    draws = bffg.sample_hmm(box, rng=2, size=N)
    assert draws.shape == (N, 6) and draws.dtype.kind == "i"
    gamma = bffg.smooth_hmm(box).marginals
    freq = np.stack([(draws == s).mean(axis=0) for s in range(3)], axis=1)
    se = np.sqrt(gamma * (1 - gamma) / N) + 1e-12
    assert np.abs((freq - gamma) / se).max() < 5
    # the law of (x_1, x_2) against enumeration of all 3⁶ paths
    p, K, E, ys = box.p, box.K, box.E, box.ys
    joint = np.zeros((3, 3))
    for path in itertools.product(range(3), repeat=6):
        w = p[path[0]] * np.prod([K[a, b] for a, b in zip(path, path[1:])]) * np.prod(
            [E[s, y] for s, y in zip(path, ys) if y >= 0])
        joint[path[1], path[2]] += w
    joint /= joint.sum()
    counts = np.zeros((3, 3))
    np.add.at(counts, (draws[:, 1], draws[:, 2]), 1.0)
    se = np.sqrt(joint * (1 - joint) / N) + 1e-12
    assert np.abs((counts / N - joint) / se).max() < 5
    assert not np.any(counts[joint == 0])        # a structural zero of K is never drawn
