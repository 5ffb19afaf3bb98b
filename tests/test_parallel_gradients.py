"""The parallel schedule's gradients are the loops': jax.grad of the parallel filter's
log p(y) (``interpreters.parallel`` under JAX, ``lax.associative_scan``) equals R of
``chains.log_likelihood`` (the backward filter's reverse loop, in NumPy) in every
parameter, covariances compared along symmetric directions (their domain: the parallel
filter symmetrises them), with rank-deficient Q, a missing stretch and a transition
given per step."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from paralens.categories.chains import log_likelihood  # noqa: E402
from paralens.interpreters.likelihood import Likelihood  # noqa: E402
from paralens.interpreters.numpy import compile  # noqa: E402
from paralens.interpreters.parallel import parallel_filter  # noqa: E402
from paralens.lenses import R  # noqa: E402

NAMES = ("m0", "P0", "A", "beta", "Q", "L", "b", "R")


@pytest.fixture(autouse=True)
def x64():
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


@pytest.mark.parametrize("seed, d, k, varying", [(0, 2, 1, False), (1, 3, 2, True)])
def test_jax_gradients_of_the_parallel_filter_are_those_of_the_loops(seed, d, k, varying):
    rng = np.random.default_rng(seed)
    T = 12
    root = rng.normal(size=(d, d - 1))
    params = {"m0": rng.normal(size=d), "P0": np.eye(d),
              "A": 0.9 * np.eye(d) + 0.1 * rng.normal(size=(d, d)),
              "beta": 0.1 * rng.normal(size=d), "Q": root @ root.T / d,      # rank d − 1
              "L": rng.normal(size=(k, d)), "b": 0.1 * rng.normal(size=k),
              "R": 0.3 * np.eye(k)}
    ys = rng.normal(size=(T, k))
    ys[4:7] = np.nan
    ys[9, 0] = np.nan
    steps = params["A"] + 0.05 * rng.normal(size=(T, d, d)) if varying else None

    def total(*values):
        named = dict(zip(NAMES, values))
        if varying:
            named["A"] = named["A"] + jnp.asarray(steps - params["A"])
        return jnp.sum(parallel_filter(*(named[n] for n in NAMES), jnp.asarray(ys), xp=jnp)[2])
    grads = jax.grad(total, argnums=tuple(range(8)))(*(jnp.asarray(params[n]) for n in NAMES))

    model = log_likelihood(d, k, varying=("A", ) if varying else ())
    data = (ys[None], steps[None]) if varying else (ys[None], )
    value, expected = Likelihood(model).value_and_grad(
        {n: v for n, v in params.items() if n in model.names}, *data)
    assert np.isclose(float(total(*(jnp.asarray(params[n]) for n in NAMES))), value,
                      rtol=1e-12)
    expected = dict(expected)
    if varying:                     # the loops' per-step A: its cotangent summed over the steps
        args = [params[n] for n in model.names] + list(data)
        cotangents = compile(R(model.diagram).put, summed=range(len(model.names)))(
            *args, np.ones(1))
        expected["A"] = np.asarray(cotangents[-1])[0].sum(axis=0)
    for name, got in zip(NAMES, grads):
        got, want = np.asarray(got), np.asarray(expected[name])
        if name in ("P0", "Q", "R"):
            got, want = 0.5 * (got + got.T), 0.5 * (want + want.T)
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10, err_msg=name)
