"""Likelihood: log p(y), its gradient, the flat objective for scipy and fits, against
independent references: central differences, the Nile's maximum-likelihood estimates
(Durbin & Koopman 2012, §2.10: σ²ε = 15099, σ²η = 1469.1, diffuse log-likelihood
−632.54) and the exact diffuse smoother written in the test (the posterior of a flat
prior on the first level: a tridiagonal precision, solved densely)."""

import numpy as np
import pytest

import paralens as pl
from paralens.categories.chains import local_level_likelihood, log_likelihood, smoother
from paralens.interpreters import codegen
from paralens.interpreters.likelihood import Likelihood
from paralens.interpreters.numpy import compile

YEARS, FLOW = pl.nile()


def test_the_gradient_is_that_of_central_differences():
    rng = np.random.default_rng(0)
    model = log_likelihood(2, 1)
    params = model.parameters({"m0": [0.1, -0.2], "P0": np.eye(2), "A": [[0.9, 0.1], [0.0, 0.8]],
                               "beta": [0.05, 0.0], "Q": 0.1 * np.eye(2), "L": [[1.0, 0.5]],
                               "b": [0.2], "R": [[0.3]]})
    ys = rng.normal(size=(3, 7, 1))
    ys[1, 2] = np.nan
    nll = Likelihood(model)
    value, grad = nll.value_and_grad(params, ys)
    assert np.isclose(value, np.sum(compile(model.diagram)(*params.values(), ys)), rtol=1e-14)
    for name in model.names:                 # covariances along symmetric directions
        symmetric = name in ("P0", "Q", "R")
        numeric, analytic = np.zeros_like(params[name]), np.zeros_like(params[name])
        for index in np.ndindex(numeric.shape):
            if symmetric and index[0] > index[1]:
                continue
            direction = np.zeros_like(numeric)
            direction[index] = 1.0
            if symmetric:
                direction[index[::-1]] = 1.0
            step = params.copy(), params.copy()
            for sign, p in zip((1, -1), step):
                p[name] = np.asarray(p[name], dtype=float) + sign * 1e-6 * direction
            numeric[index] = (nll.value(step[0], ys) - nll.value(step[1], ys)) / 2e-6
            analytic[index] = np.sum(grad[name] * direction)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7, err_msg=name)


def test_the_objective_is_minus_log_p_on_a_flat_vector():
    model = local_level_likelihood(1000.0, diffuse=True)
    nll = Likelihood(model, compile=codegen.compile)
    start = {"log_level_variance": 7.0, "log_noise_variance": 9.0}
    objective = nll.objective(start, FLOW[None, 1:, None])
    np.testing.assert_array_equal(objective.x0, [7.0, 9.0])
    value, grad = objective(objective.x0)
    v, g = nll.value_and_grad(start, FLOW[None, 1:, None])
    assert value == -v and np.array_equal(grad, -np.array([g[n] for n in model.names]))
    assert objective.parameters([1.0, 2.0])["log_noise_variance"] == 2.0
    with pytest.raises(ValueError, match="a vector of 2"):
        objective.parameters([1.0])


def test_the_nile_by_l_bfgs_reaches_durbin_and_koopman():
    minimize = pytest.importorskip("scipy.optimize").minimize      # scipy comes with jax
    model = local_level_likelihood(float(FLOW[0]), diffuse=True)
    objective = Likelihood(model).objective(
        {"log_level_variance": np.log(1000.0), "log_noise_variance": np.log(10000.0)},
        FLOW[None, 1:, None])
    result = minimize(objective, objective.x0, jac=True, method="L-BFGS-B")
    level, noise = np.exp(result.x)
    assert abs(noise / 15099 - 1) < 1e-3 and abs(level / 1469.1 - 1) < 1e-3
    assert abs(-result.fun - (-632.54)) < 0.01


def test_the_nile_by_adam_reaches_the_same_and_keeps_its_path():
    model = local_level_likelihood(float(FLOW[0]), diffuse=True)
    nll = Likelihood(model)
    fit = nll.fit({"log_level_variance": np.log(1000.0), "log_noise_variance": np.log(10000.0)},
                  FLOW[None, 1:, None], optimiser=pl.Adam(lr=0.2), steps=150, keep_path=True)
    params, history = fit
    assert len(history) == 150 and len(fit.path) == 151 and history[-1] < history[0]
    assert abs(np.exp(params["log_noise_variance"]) / 15099 - 1) < 1e-3
    assert abs(np.exp(params["log_level_variance"]) / 1469.1 - 1) < 1e-3
    # the history is −log p at the parameters before each step
    assert np.isclose(history[-1], -nll.value(fit.path[-2], FLOW[None, 1:, None]), rtol=1e-12)


def exact_diffuse_smoother(y, level, noise):
    """E[x | y] under a flat prior on x₀: the precision diag(1/σ²ε) + L/σ²η (L the path
    graph's Laplacian) applied to y/σ²ε, solved densely."""
    T = len(y)
    laplacian = np.diag(np.r_[1.0, 2.0 * np.ones(T - 2), 1.0]) - np.eye(T, k=1) - np.eye(T, k=-1)
    precision = np.eye(T) / noise + laplacian / level
    return np.linalg.solve(precision, y / noise), np.diag(np.linalg.inv(precision))


def test_the_fitted_smoothed_level_is_the_exact_diffuse_smoother():
    """At the fitted variances: the first level after y₀ is N(y₀, σ²ε) under a flat prior,
    so the smoother with that prior and y₀ not read again is the exact diffuse one."""
    level, noise = 1469.1, 15099.0
    model = smoother(1, 1)
    params = model.parameters({"m0": FLOW[:1], "P0": [[noise]], "A": [[1.0]], "beta": [0.0],
                               "Q": [[level]], "L": [[1.0]], "b": [0.0], "R": [[noise]]})
    ys = FLOW.copy()
    ys[0] = np.nan
    means, covs, _, _ = compile(model.diagram)(*params.values(), ys[None, :, None])
    exact_mean, exact_var = exact_diffuse_smoother(FLOW, level, noise)
    np.testing.assert_allclose(means[0, :, 0], exact_mean, rtol=1e-10)
    np.testing.assert_allclose(covs[0, :, 0, 0], exact_var, rtol=1e-10)


def test_a_step_out_of_the_domain_stops_the_fit_naming_the_step():
    """A raw variance parameter driven negative by a large rate: the fit stops with the
    step named and the last finite parameters kept."""
    model = log_likelihood(1, 1)
    params = model.parameters({"m0": [0.0], "P0": [[1.0]], "A": [[1.0]], "beta": [0.0],
                               "Q": [[4.0]], "L": [[1.0]], "b": [0.0], "R": [[4.0]]})
    ys = np.zeros((1, 3, 1))                 # the data call for smaller variances
    nll = Likelihood(model)
    with np.errstate(all="ignore"), pytest.raises(
            ValueError, match=r"fit: step \d+ left the model's domain: parameter [QRP0]+ after "
                              r"step \d+ is not"):
        nll.fit(params, ys, optimiser=pl.GD(lr=10.0), steps=50)
    pl.categories.chains.check_constraints(model, nll.last)        # inside, and finite
    assert all(np.all(np.isfinite(v)) for v in nll.last.values())
    with pytest.raises(ValueError, match="parameter R is not positive definite"):
        nll.value({**params, "R": [[0.0]]}, ys)


def test_bad_models_and_data_are_refused():
    with pytest.raises(TypeError, match="output must be one number per series"):
        Likelihood(smoother(1, 1))
    with pytest.raises(TypeError, match="reads 1 data input"):
        Likelihood(log_likelihood(1, 1)).value(log_likelihood(1, 1).init())
    with pytest.raises(TypeError, match="steps must be a whole number"):
        Likelihood(log_likelihood(1, 1)).fit(log_likelihood(1, 1).init(), np.zeros((1, 2, 1)),
                                             steps=2.5)
