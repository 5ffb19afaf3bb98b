"""BFFG is a functor on the IR: optic(κ₁ ; κ₂) = optic(κ₁) ; optic(κ₂), backward (the
pullback) and forward (guiding), and the evidence of a pushed prior, as hypothesis
properties over the sizes of three spaces; and each law fails on a wrong rule."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from paralens.categories import Real, function, laws, messages
from paralens.interpreters.numpy import compile

SIZES = st.integers(1, 3)


@settings(max_examples=25, deadline=None)
@given(SIZES, SIZES, SIZES)
def test_bffg_preserves_composition(d0, d1, d2):
    report = laws.check(laws.kernel_laws(d0, d1, d2), compile, sample=laws.covariances(),
                        trials=3, batch=4, seed=d0 + 3 * d1 + 9 * d2)
    report.assert_ok()


def test_the_laws_catch_a_wrong_pullback(monkeypatch):
    """A pullback whose F⁻ adds Ĥβ instead of subtracting it breaks functoriality and the
    evidence law. (Forgetting the −½ log det M term would not: by the determinant
    lemma those terms compose on their own, so the laws hold without them; finite
    differences and the Kalman oracle catch that.)"""
    real = messages._pulled

    def wrong_sign(d, beta, Q, c, F, H):
        c_new, G, Hh, inverse = real(d, beta, Q, c, F, H)
        return c_new, G + 2.0 * (Hh @ beta), Hh, inverse
    monkeypatch.setattr(messages, "_pulled", wrong_sign)
    report = laws.check(laws.kernel_laws(2, 2, 2), compile, sample=laws.covariances())
    failed = {failure.law for failure in report.failures}
    assert "BFFG preserves composition (backward: pullback)" in failed
    assert "the evidence of a pushed prior is that of the pulled-back message" in failed


def test_the_guiding_law_catches_a_wrong_guided_kernel(monkeypatch):
    from paralens.categories import kernel_laws
    real = kernel_laws._guided_step

    def transposed(d_in, d_out):            # G A P Aᵀ G (no transpose of G): wrong
        step = real(d_in, d_out)
        dom = step.dom

        @function(dom, step.cod)
        def wrong(m, P, A, b, Q, F, H):
            mean, cov = step(m, P, A, b, Q, F, H)
            return mean, cov + 0.1 * (Q @ H)
        return wrong
    monkeypatch.setattr(kernel_laws, "_guided_step", transposed)
    report = laws.check(laws.guide_composition(2, 2, 2), compile, sample=laws.covariances())
    assert not report.ok


def test_covariances_draws_positive_semi_definite_matrices():
    sample = laws.covariances()
    rng = np.random.default_rng(0)
    M = sample(Real(3, 3).inside[0], rng, 5)
    assert M.shape == (5, 3, 3)
    assert np.all(np.linalg.eigvalsh(M) > -1e-12) and np.allclose(M, np.swapaxes(M, 1, 2))
    assert sample(Real(2, 3).inside[0], rng, 0).shape == (2, 3)
