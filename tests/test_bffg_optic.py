"""BFFG as an optic (reference §8): sequential functoriality, optic(f >> g) =
optic(f) >> optic(g), on random Gaussian kernel chains (messages, guided marginals and
guided samples); the composite-kernel identity (pulling back through
(A₂A₁, A₂β₁ + β₂, A₂Q₁A₂ᵀ + Q₂) = pulling back through κ₂ then κ₁, and the composite guided
kernel's marginal = κ₁^{κ₂h} ; κ₂^h); and the tensor being only lax (a joint message with
off-diagonal H blocks is not a tensor of messages)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from paralens.categories import Real, copy
from paralens.categories.kernels import Gaussian as Kernel, Observe
from paralens.interpreters.bffg import (
    GaussianMessage, Marginal, Weighted, factor, optic, pullback, tensor)

TOL = 1e-12


def close(a, b, tol=TOL):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(1.0, float(np.abs(b).max()) if b.size else 1.0)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tol * scale))


def same_message(a, b, tol=TOL):
    return close(a.c, b.c, tol) and close(a.F, b.F, tol) and close(a.H, b.H, tol)


def covariance(rng, d):
    kind = rng.integers(3)
    if kind == 0:
        return np.zeros((d, d))                               # deterministic: Q = 0
    B = rng.uniform(-1, 1, size=(d, 1 if kind == 1 else d))   # rank 1, or full
    return B @ B.T


def kernel(rng, d_in, d_out, name="κ"):
    return Kernel(rng.uniform(-1, 1, size=(d_out, d_in)), rng.uniform(-1, 1, size=d_out),
                  covariance(rng, d_out), name=name)


def message(rng, d):
    """A random message with H ⪰ 0 of any rank (singular: partial observation)."""
    B = rng.uniform(-1, 1, size=(d, int(rng.integers(0, d + 1))))
    return GaussianMessage(float(rng.normal()), rng.uniform(-1, 1, size=d), B @ B.T)


def chain(rng, dims, observe=False):
    """Kernels through the given dimensions; with ``observe``, each inner node is also
    observed (a copy, an observation leaf beside the next kernel)."""
    diagram = None
    for j, (a, b) in enumerate(zip(dims, dims[1:])):
        step = kernel(rng, a, b, name=f"κ{j}")
        if observe and rng.random() < 0.5:
            k = int(rng.integers(1, 3))
            y = rng.normal(size=k)
            y[rng.random(k) < 0.3] = np.nan
            leaf = Observe(rng.uniform(-1, 1, size=(k, a)), None, np.eye(k), y, name=f"y{j}")
            step = copy(Real(a)) >> leaf @ step
        diagram = step if diagram is None else diagram >> step
    return diagram


dims = st.lists(st.integers(1, 3), min_size=2, max_size=4)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), dims, dims, st.booleans())
def test_the_optic_of_a_composite_is_the_composite_of_the_optics(seed, first, second, observe):
    rng = np.random.default_rng(seed)
    second = [first[-1]] + second[1:]
    f, g = chain(rng, first, observe), chain(rng, second, observe)
    whole, parts = optic(f >> g), optic(f) >> optic(g)
    h = message(rng, second[-1])
    r_whole, on_x_whole = whole.backward(h)
    r_parts, on_x_parts = parts.backward(h)
    assert same_message(on_x_whole, on_x_parts)
    # guided marginals, from a marginal on X
    B = rng.uniform(-1, 1, size=(first[0], first[0]))
    start = Marginal(rng.normal(size=first[0]), B @ B.T)
    m_whole, m_parts = whole.forward(r_whole, start), parts.forward(r_parts, start)
    assert close(m_whole.mean, m_parts.mean) and close(m_whole.cov, m_parts.cov)
    # guided samples, one seed: the same draws, the same log-weights
    x = Weighted(rng.normal(size=first[0]), 0.25)
    s_whole, s_parts = whole.forward(r_whole, x, rng=seed), parts.forward(r_parts, x, rng=seed)
    assert close(s_whole.x, s_parts.x)
    assert abs(s_whole.log_weight - s_parts.log_weight) <= TOL
    assert abs(s_whole.log_weight - 0.25) <= 1e-10        # exact auxiliaries: weight 1


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))
def test_the_composite_kernel_pulls_back_as_its_two_kernels(seed, d0, d1, d2):
    rng = np.random.default_rng(seed)
    k1, k2 = kernel(rng, d0, d1), kernel(rng, d1, d2)
    A = k2.A @ k1.A
    beta = k2.A @ k1.beta + k2.beta
    Q = k2.A @ k1.Q @ k2.A.T + k2.Q
    h = message(rng, d2)
    composite = pullback(A, beta, Q, h)
    stepwise = pullback(k1.A, k1.beta, k1.Q, pullback(k2.A, k2.beta, k2.Q, h))
    assert same_message(composite, stepwise)
    # the same through the optics, and the composite guided kernel's marginal from a
    # point x equals κ₁^{κ₂h} ; κ₂^h
    one = optic(Kernel(A, beta, 0.5 * (Q + Q.T)))
    two = optic(k1) >> optic(k2)
    (r1, m1), (r2, m2) = one.backward(h), two.backward(h)
    assert same_message(m1, m2)
    x = Marginal(rng.normal(size=d0), np.zeros((d0, d0)))
    a, b = one.forward(r1, x), two.forward(r2, x)
    assert close(a.mean, b.mean) and close(a.cov, b.cov)


def test_the_composite_guided_kernel_by_monte_carlo():
    """An oracle beside the algebra: the guided marginal from a point, against
    self-normalised importance sampling of the prior chain weighted by h."""
    rng = np.random.default_rng(0)
    k1, k2 = kernel(rng, 2, 2), kernel(rng, 2, 1)
    k1 = Kernel(k1.A, k1.beta, k1.Q + 0.3 * np.eye(2))
    h = GaussianMessage(0.0, np.array([0.7]), np.array([[2.0]]))
    composite = optic(k1) >> optic(k2)
    residual, _ = composite.backward(h)
    x = np.array([0.3, -0.2])
    got = composite.forward(residual, Marginal(x, np.zeros((2, 2))))
    n = 400_000
    mid = x @ k1.A.T + k1.beta + rng.multivariate_normal(np.zeros(2), k1.Q, size=n)
    end = mid @ k2.A.T + k2.beta + np.sqrt(k2.Q[0, 0]) * rng.standard_normal((n, 1))
    w = np.exp(end[:, 0] * 0.7 - 0.5 * 2.0 * end[:, 0] ** 2)
    mean = (w * end[:, 0]).sum() / w.sum()
    var = (w * (end[:, 0] - mean) ** 2).sum() / w.sum()
    assert abs(got.mean[0] - mean) < 0.01 and abs(got.cov[0, 0] - var) < 0.01


def test_optic_composition_checks_types():
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="cannot compose"):
        optic(kernel(rng, 1, 2)) >> optic(kernel(rng, 3, 1))
    with pytest.raises(TypeError, match="one wire each side"):
        optic(kernel(rng, 1, 1) @ kernel(rng, 1, 1))


# -- the tensor is only lax -------------------------------------------------------------------

def test_product_messages_pull_back_to_product_messages():
    rng = np.random.default_rng(1)
    k1, k2 = kernel(rng, 2, 1), kernel(rng, 1, 2)
    h1, h2 = message(rng, 1), message(rng, 2)
    A = np.zeros((3, 3))
    A[:1, :2], A[1:, 2:] = k1.A, k2.A
    Q = np.zeros((3, 3))
    Q[:1, :1], Q[1:, 1:] = k1.Q, k2.Q
    joint = pullback(A, np.concatenate([k1.beta, k2.beta]), Q, tensor(h1, h2))
    apart = tensor(pullback(k1.A, k1.beta, k1.Q, h1), pullback(k2.A, k2.beta, k2.Q, h2))
    assert same_message(joint, apart)
    f1, f2 = factor(joint, 2)
    assert same_message(tensor(f1, f2), joint)


def test_a_joint_message_with_off_diagonal_blocks_is_not_a_tensor_of_messages():
    """The counterexample: y = x₁ + x₂ observed with unit noise gives on R ⊗ R the message
    H = [[1, 1], [1, 1]], F = y (1, 1): log h(x₁, x₂) − log h(x₁, 0) − log h(0, x₂) + log h(0, 0)
    = −x₁ x₂ ≠ 0, whereas for h₁ ⊗ h₂ it is 0 for all x; so no pair of messages has this
    tensor, and pulling it back through κ₁ ⊗ κ₂ stays coupled."""
    y = 0.4
    joint = GaussianMessage(-0.5 * y ** 2 - 0.5 * np.log(2 * np.pi), np.array([y, y]),
                     np.array([[1.0, 1.0], [1.0, 1.0]]))
    x1, x2 = 0.7, -1.3
    mixed = (joint.log([x1, x2]) - joint.log([x1, 0.0]) - joint.log([0.0, x2])
             + joint.log([0.0, 0.0]))
    assert np.isclose(mixed, -x1 * x2)
    rng = np.random.default_rng(2)
    h1, h2 = message(rng, 1), message(rng, 1)
    product = tensor(h1, h2)
    product_mixed = (product.log([x1, x2]) - product.log([x1, 0.0]) - product.log([0.0, x2])
                     + product.log([0.0, 0.0]))
    assert abs(product_mixed) < 1e-12
    with pytest.raises(ValueError, match="not a tensor of messages"):
        factor(joint, 1)
    # pulled back through κ₁ ⊗ κ₂ (block-diagonal), the coupling remains
    pulled = pullback(np.diag([2.0, 0.5]), np.zeros(2), np.diag([0.3, 0.0]), joint)
    assert abs(pulled.H[0, 1]) > 0.1
    with pytest.raises(ValueError, match="not a tensor of messages"):
        factor(pulled, 1)
