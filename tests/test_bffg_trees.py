"""BFFG on trees: the level-batched schedule against the closed form of a Gaussian random
walk down a binary tree (y ~ N(0, σ²K + τ²I), K_ij the depth of the most recent common
ancestor), against a brute-force joint Gaussian on random trees, and against the
box-by-box reference schedule (messages, marginals, samples, weights) on random trees with
non-square A, Q = 0, rank-1 Q, partial and missing observations, discrete kernels and a
nonlinear edge."""

import numpy as np
import pytest

from paralens.categories import Id, Real, add, copy
from paralens.categories.kernels import (
    Categorical, Emit, Finite, Gaussian, Observe, Prior, Stochastic, Transition)
from paralens.categories.markov import binary_tree
from paralens.interpreters.bffg import BoxFiltered, LevelFiltered, backward_filter, plan_of


# -- the closed form (plain NumPy) -----------------------------------------------------------

def mrca_depths(depth):
    """K_ij = depth of the most recent common ancestor of leaves i, j (K_ii = depth)."""
    n = 2 ** depth
    i = np.arange(n)
    xor = i[:, None] ^ i[None, :]
    bits = np.zeros_like(xor)
    nonzero = xor > 0
    bits[nonzero] = np.floor(np.log2(xor[nonzero])).astype(int) + 1
    return depth - bits


def log_normal(y, mean, cov):
    r = y - mean
    _, logdet = np.linalg.slogdet(2 * np.pi * cov)
    return -0.5 * r @ np.linalg.solve(cov, r) - 0.5 * logdet


def closed_form(ys, depth, sigma, tau, m0=None, p0=0.0):
    """log p(y), coordinate by coordinate (NaN entries dropped): y ~ N(m0, σ²K + p0 + τ²I)."""
    K = mrca_depths(depth)
    n, d = ys.shape
    total = 0.0
    for j in range(d):
        seen = ~np.isnan(ys[:, j])
        cov = sigma ** 2 * K + p0 + tau ** 2 * np.eye(n)
        mean = np.full(n, 0.0 if m0 is None else m0[j])
        total += log_normal(ys[seen, j], mean[seen], cov[np.ix_(seen, seen)])
    return total


def test_mrca_depths_by_hand():
    assert mrca_depths(2).tolist() == [[2, 1, 0, 0], [1, 2, 0, 0], [0, 0, 2, 1], [0, 0, 1, 2]]


@pytest.mark.parametrize("depth", [1, 2, 3, 5, 8, 10])
def test_binary_tree_log_evidence_is_the_closed_form(depth):
    rng = np.random.default_rng(depth)
    d, sigma, tau = 2, 0.7, 0.4
    ys = rng.normal(size=(2 ** depth, d)) * sigma * np.sqrt(depth) + 0.1
    tree = binary_tree(depth, d, sigma, tau, ys)
    expected = closed_form(ys, depth, sigma, tau)
    got = backward_filter(tree).log_evidence
    assert abs(got - expected) <= 1e-9 * max(1.0, abs(expected))


def test_binary_tree_with_prior_root_and_missing_leaves():
    rng = np.random.default_rng(1)
    depth, d, sigma, tau = 6, 3, 1.1, 0.3
    ys = rng.normal(size=(2 ** depth, d)) * 2
    ys[rng.random(ys.shape) < 0.3] = np.nan               # singular leaf messages
    ys[5] = np.nan                                        # a leaf seen not at all
    m0, p0 = np.array([0.5, -1.0, 2.0]), 0.8
    tree = binary_tree(depth, d, sigma, tau, ys, prior=Prior(m0, p0 * np.eye(d)))
    expected = closed_form(ys, depth, sigma, tau, m0, p0)
    for batched in (True, False):
        got = backward_filter(tree, batched=batched).log_evidence
        assert abs(got - expected) <= 1e-9 * max(1.0, abs(expected))


def test_binary_tree_marginals_are_the_joint_gaussians_conditionals():
    """The root's smoothing marginal (prior root) against conditioning the joint
    Gaussian of (root, leaves) by hand."""
    depth, d, sigma, tau, p0 = 4, 1, 0.9, 0.5, 2.0
    rng = np.random.default_rng(2)
    ys = rng.normal(size=(2 ** depth, d))
    tree = binary_tree(depth, d, sigma, tau, ys, prior=Prior([0.0], [[p0]]))
    root_mean, root_cov = backward_filter(tree).marginals()[0]
    n = 2 ** depth
    cov_y = sigma ** 2 * mrca_depths(depth) + p0 + tau ** 2 * np.eye(n)
    cross = np.full(n, p0)
    gain = np.linalg.solve(cov_y, cross)
    assert np.allclose(root_mean, gain @ ys[:, 0], atol=1e-12)
    assert np.allclose(root_cov, p0 - cross @ gain, atol=1e-12)


def test_binary_tree_checks_its_arguments():
    with pytest.raises(ValueError, match="2\\^depth leaves"):
        binary_tree(3, 2, 1.0, 1.0, np.zeros((7, 2)))
    with pytest.raises(ValueError, match="tau must be > 0"):
        binary_tree(3, 2, 1.0, 0.0)
    assert backward_filter(binary_tree(3, 2, 1.0, 1.0)).log_evidence == 0.0   # nothing seen


# -- random trees: the batched schedule against the reference --------------------------------

def random_covariance(rng, d):
    kind = rng.integers(4)
    if kind == 0:
        return np.zeros((d, d))                                       # deterministic
    if kind == 1:
        v = rng.normal(size=(d, 1))
        return v @ v.T                                                # rank 1
    B = rng.normal(size=(d, d))
    return B @ B.T + (0.1 if kind == 2 else 0.0) * np.eye(d)


def random_observe(rng, d, name):
    k = int(rng.integers(1, 4))
    L = rng.normal(size=(k, d))
    B = rng.normal(size=(k, k))
    y = rng.normal(size=k)
    y[rng.random(k) < 0.3] = np.nan
    return Observe(L, rng.normal(size=k), B @ B.T + 0.2 * np.eye(k), y, name=name)


def random_subtree(rng, d, depth, names, nonlinear=False):
    """A diagram Real(d) → I: the node copied to 0–3 children (edges to nodes of 1–3
    dimensions, non-square A) and observations."""
    x = Real(d)
    children = []
    for _ in range(int(rng.integers(0, 4)) if depth else 0):
        d2 = int(rng.integers(1, 4))
        name = f"κ{next(names)}"
        A, beta, Q = rng.normal(size=(d2, d)), rng.normal(size=d2), random_covariance(rng, d2)
        if nonlinear and rng.random() < 0.3:
            edge = Transition(lambda v, A=A, beta=beta: A @ np.tanh(v) + beta, Q + 0.1 * np.eye(d2),
                              Gaussian(A, beta, Q + 0.1 * np.eye(d2)), name=name)
        else:
            edge = Gaussian(A, beta, Q, name=name)
        children.append(edge >> random_subtree(rng, d2, depth - 1, names, nonlinear))
    for _ in range(int(rng.integers(0 if children else 1, 3))):
        children.append(random_observe(rng, d, f"y{next(names)}"))
    diagram = copy(x, len(children))
    body = children[0]
    for child in children[1:]:
        body = body @ child
    return diagram >> body


def random_tree(seed, nonlinear=False, depth=4):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 4))
    B = rng.normal(size=(d, d))
    import itertools
    prior = Prior(rng.normal(size=d), B @ B.T + 0.1 * np.eye(d) if seed % 3 else np.zeros((d, d)))
    return prior >> random_subtree(rng, d, depth, itertools.count(), nonlinear)


def random_discrete_tree(seed, depth=4):
    rng = np.random.default_rng(seed)
    import itertools
    names = itertools.count()

    def stochastic(n, m):
        K = rng.random((n, m)) + 0.05
        return K / K.sum(axis=1, keepdims=True)

    def node(n, depth):
        children = []
        for _ in range(int(rng.integers(0, 4)) if depth else 0):
            m = int(rng.integers(2, 4))
            children.append(Stochastic(stochastic(n, m), name=f"K{next(names)}") >> node(m, depth - 1))
        for _ in range(int(rng.integers(0 if children else 1, 3))):
            E = stochastic(n, 3)
            y = None if rng.random() < 0.2 else int(rng.integers(3))
            children.append(Emit(E, y, name=f"e{next(names)}"))
        body = children[0]
        for child in children[1:]:
            body = body @ child
        return copy(Finite(n), len(children)) >> body

    n = int(rng.integers(2, 4))
    return Categorical(stochastic(1, n)[0]) >> node(n, depth)


def close(a, b, tol=1e-12):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and np.all(np.abs(a - b) <= tol * np.maximum(1.0, np.abs(b)))


def assert_same_filter(diagram, seed=0):
    box = backward_filter(diagram, batched=False)
    level = backward_filter(diagram)
    assert isinstance(box, BoxFiltered) and isinstance(level, LevelFiltered)
    assert close(level.log_evidence, box.log_evidence)
    for (outs_a, pulled_a), (outs_b, pulled_b) in zip(level.residuals, box.residuals):
        for a, b in zip(outs_a + pulled_a, outs_b + pulled_b):
            assert close(a.c, b.c)
            for name in ("F", "H", "h"):
                if hasattr(b, name):
                    assert close(getattr(a, name), getattr(b, name))
    values_a, weight_a = level.sample(seed)
    values_b, weight_b = box.sample(seed)
    assert all(close(a, b) for a, b in zip(values_a, values_b))
    assert abs(weight_a - weight_b) <= 1e-12 * max(1.0, abs(weight_b))
    return box, level


@pytest.mark.parametrize("seed", range(12))
def test_level_schedule_equals_the_reference_on_random_gaussian_trees(seed):
    box, level = assert_same_filter(random_tree(seed))
    for a, b in zip(level.marginals(), box.marginals()):
        assert close(a[0], b[0]) and close(a[1], b[1])


@pytest.mark.parametrize("seed", range(6))
def test_level_schedule_equals_the_reference_on_random_discrete_trees(seed):
    box, level = assert_same_filter(random_discrete_tree(seed))
    for a, b in zip(level.marginals(), box.marginals()):
        assert close(a, b)


@pytest.mark.parametrize("seed", range(4))
def test_level_schedule_equals_the_reference_with_nonlinear_edges(seed):
    diagram = random_tree(100 + seed, nonlinear=True)
    assert_same_filter(diagram, seed)


def test_level_schedule_on_a_binary_tree_equals_the_reference():
    rng = np.random.default_rng(5)
    ys = rng.normal(size=(2 ** 6, 4))
    ys[rng.random(ys.shape) < 0.2] = np.nan
    box, level = assert_same_filter(binary_tree(6, 4, 0.8, 0.3, ys))
    for a, b in zip(level.marginals(), box.marginals()):
        assert close(a[0], b[0]) and close(a[1], b[1])


def test_random_tree_log_evidence_is_the_brute_force_joint_gaussian():
    """An oracle, not self-agreement: a copy node with three partially observed children
    (reference §9.4), log p(y) against the joint Gaussian of the observations."""
    rng = np.random.default_rng(3)
    d = 2
    m0, P0 = rng.normal(size=d), np.eye(d) * 1.5
    edges = [(rng.normal(size=(2, d)), rng.normal(size=2), random_covariance(rng, 2))
             for _ in range(3)]
    obs = [random_observe(rng, 2, f"y{i}") for i in range(3)]
    diagram = Prior(m0, P0) >> copy(Real(d), 3) >> (
        (Gaussian(*edges[0]) >> obs[0]) @ (Gaussian(*edges[1]) >> obs[1])
        @ (Gaussian(*edges[2]) >> obs[2]))
    means, blocks, ys = [], [], []
    for (A, beta, Q), o in zip(edges, obs):
        seen = ~np.isnan(o.y)
        means.append((o.L @ (A @ m0 + beta) + o.b)[seen])
        blocks.append((o.L @ A, o.L @ Q @ o.L.T + o.R, seen))
        ys.append(o.y[seen])
    n = sum(len(y) for y in ys)
    cov = np.zeros((n, n))
    offsets = np.cumsum([0] + [len(y) for y in ys])
    for i, (Li, Si, si) in enumerate(blocks):
        for j, (Lj, _, sj) in enumerate(blocks):
            block = Li @ P0 @ Lj.T + (Si if i == j else 0.0)
            cov[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]] = block[np.ix_(si, sj)]
    expected = log_normal(np.concatenate(ys), np.concatenate(means), cov)
    for batched in (True, False):
        assert abs(backward_filter(diagram, batched=batched).log_evidence - expected) < 1e-10


# -- not a tree: refused, naming the box ------------------------------------------------------

def test_a_box_with_two_inputs_is_refused_naming_it():
    x = Real(1)
    dag = (Prior([0.0], [[1.0]]) @ Prior([0.0], [[1.0]]) >> add(x)
           >> Observe([[1.0]], None, [[1.0]], [0.3]))
    with pytest.raises(ValueError, match="Add.*2 wires.*not a tree"):
        backward_filter(dag)
    with pytest.raises(ValueError, match="not a tree"):
        backward_filter(dag, batched=False)


def test_a_model_with_inputs_is_refused():
    with pytest.raises(TypeError, match="start from the unit"):
        backward_filter(Gaussian(np.eye(1), Q=np.eye(1)) >> Observe([[1.0]], y=[0.0]))


# -- the plan is made once per diagram -------------------------------------------------------

def test_the_plan_and_stacked_parameters_are_kept_per_diagram():
    tree = binary_tree(4, 2, 1.0, 0.5, np.zeros((16, 2)))
    first = backward_filter(tree)
    plan = plan_of(tree)
    stacked = [g._params for g in plan.backward]
    assert all(p is not None for p in stacked)
    again = backward_filter(tree)
    assert plan_of(tree) is plan
    assert all(g._params is p for g, p in zip(plan.backward, stacked))
    assert again.log_evidence == first.log_evidence
    # one array operation per level and kind: the edges of a level are one group
    assert len(plan.backward) == 4 + 1 + 1        # four edge levels, the leaves, the root
