"""smooth_chain's two schedules, the loops of ``categories.chains`` and the parallel
prefix products of ``interpreters.parallel``, agree (log p, moments ≤ 1e-10) on chains
with missing stretches, rank-deficient Q and time-varying parameters; a schedule that is
not one is refused by name."""

import numpy as np
import pytest

from paralens.categories import markov
from paralens.interpreters import bffg


def box(seed, T=60, varying=False, rank=None):
    rng = np.random.default_rng(seed)
    d, k = 3, 2
    A = 0.9 * np.eye(d) + 0.05 * rng.normal(size=(d, d))
    root = rng.normal(size=(d, rank or d))
    Q = root @ root.T / d
    if varying:
        A = A + 0.05 * rng.normal(size=(T - 1, d, d))
    ys = rng.normal(size=(T, k))
    ys[10:25] = np.nan
    ys[3, 1] = np.nan
    return markov.state_space(rng.normal(size=d), np.eye(d), A, 0.1 * rng.normal(size=d), Q,
                              rng.normal(size=(k, d)), None, 0.5 * np.eye(k), ys)


@pytest.mark.parametrize("seed, varying, rank", [(0, False, None), (1, True, None),
                                                  (2, False, 1), (3, True, 2)])
def test_the_parallel_schedule_is_the_sequential_one(seed, varying, rank):
    chain = box(seed, varying=varying, rank=rank)
    a, b = bffg.smooth_chain(chain), bffg.smooth_chain(chain, schedule="parallel")
    assert abs(a.log_evidence - b.log_evidence) <= 1e-10 * abs(a.log_evidence)
    for x, y in zip(a[1:], b[1:]):
        assert x.shape == y.shape
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-10)


def test_an_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="schedule must be 'sequential' or 'parallel', got 'fast'"):
        bffg.smooth_chain(box(0), schedule="fast")
