"""Backprop as Functor: Learn and L_ε,e : Para → Learn (reference §5).

* L preserves composition, identities and the tensor, on random small dense
  networks, for the quadratic error and for a non-quadratic one (cosh);
* Learn's own laws: associativity and units;
* U and r against an independent oracle: central finite differences of
  E(p, a, b) = Σ_j e(I_j(p, a), b_j), and one step of ``lenses.learner.Learner``
  (MSE, GD, batch of one);
* the caveat of §5: L does not respect learner equivalence under
  reparametrisation (φ(p) = 2p);
* errors in the user's language.

Learners are compared by evaluating I, U and r at random points.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paralens.categories import Mul, Para, Param, Real, Scale, Sigmoid, Tanh, dense, function, normal
from paralens.interpreters.numpy import compile
from paralens.lenses.learn import Error, LearnMap, evaluate, functor, quadratic, run
from paralens.lenses.learner import Learner
from paralens.lenses.losses import mse
from paralens.lenses.optimisers import GD

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
EPS = 0.3

#: e(x, y) = cosh(x − y): ∂e/∂x = sinh(x − y) is a bijection in y, so Theorem III.2
#: applies, and r = a − arcsinh(∇_a E) is not the quadratic error's a − ∇_a E.
cosh = Error("cosh", value=lambda x, y: np.cosh(x - y), dx=lambda x, y: np.sinh(x - y),
             inverse=lambda x, g: x - np.arcsinh(g))
ERRORS = [quadratic, cosh]


def close(x, y, tol=1e-9) -> bool:
    """Nested tuples of arrays equal up to ``tol``, with the same shapes."""
    if isinstance(x, (tuple, list)):
        return len(x) == len(y) and all(close(u, v, tol) for u, v in zip(x, y))
    return np.shape(x) == np.shape(y) and np.allclose(x, y, rtol=tol, atol=tol)


def draws(rng, ty, scale=1.0) -> tuple:
    """One random value per wire of ``ty``."""
    return tuple(scale * rng.normal(size=w.shape) for w in ty.inside)


def values(rng, model: Para) -> dict:
    """A random value for each parameter handle (biases too, unlike ``init``)."""
    return {h: rng.normal(size=h.ty.inside[0].shape) for h in model.params}


def at(handles, p: dict) -> tuple:
    return tuple(p[h] for h in handles)


ACTIVATIONS = st.sampled_from([Sigmoid, Tanh])


@st.composite
def chains(draw, count=2):
    """``count`` composable chains of dense layers (Sigmoid or Tanh), 1–3 wide."""
    widths = draw(st.lists(st.integers(1, 3), min_size=count + 1, max_size=count + 2))
    layers = [dense(i, o, draw(ACTIVATIONS)) for i, o in zip(widths, widths[1:])]
    cuts = sorted(draw(st.permutations(range(1, len(layers))))[:count - 1])
    bounds = [0] + cuts + [len(layers)]
    return [layers[i].then(*layers[i + 1:j]) for i, j in zip(bounds, bounds[1:])]


# --- functoriality ------------------------------------------------------------------------


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: e.name)
@settings(max_examples=25, **SETTINGS)
@given(chains(count=2), st.integers(0, 2 ** 32 - 1))
def test_functor_preserves_composition(error, fg, seed):
    """L(f >> g) = L(f) >> L(g) on I, U and r.

    Para's f >> g has its parameters in data-flow order, P ⊗ Q (f's first), as
    Learn's composite L(f) >> L(g) has P × Q. Both are fed the same value for each
    parameter handle, and their updates are compared handle by handle."""
    f, g = fg
    L = functor(EPS, error, compile)
    rng = np.random.default_rng(seed)
    p = {**values(rng, f), **values(rng, g)}
    a, c = draws(rng, f.dom), draws(rng, g.cod, 0.5)
    para = f >> g
    assert [h for h in para.params] == list(f.params + g.params)       # P ⊗ Q
    whole, parts = L(para), L(f) >> L(g)
    assert whole.dom == parts.dom and whole.cod == parts.cod
    assert parts.params == f.param_type @ g.param_type                  # P × Q
    p_whole, p_parts = at(para.params, p), at(f.params + g.params, p)

    assert close(whole.implement(p_whole, a), parts.implement(p_parts, a))
    (u_whole, r_whole), (u_parts, r_parts) = whole.put(p_whole, a, c), parts.put(p_parts, a, c)
    assert close(u_whole, at(para.params, dict(zip(f.params + g.params, u_parts))))
    assert close(r_whole, r_parts)


@settings(max_examples=15, **SETTINGS)
@given(chains(count=1), chains(count=1), st.integers(0, 2 ** 32 - 1))
def test_functor_preserves_tensor(f, g, seed):
    """L(f @ g) = L(f) @ L(g): here both put f's parameters first."""
    (f,), (g,) = f, g
    L = functor(EPS, quadratic, compile)
    rng = np.random.default_rng(seed)
    para = f @ g
    p = at(para.params, {**values(rng, f), **values(rng, g)})
    a, b = draws(rng, para.dom), draws(rng, para.cod)
    assert close(evaluate(L(para), p, a, b), evaluate(L(f) @ L(g), p, a, b))


@settings(max_examples=15, **SETTINGS)
@given(chains(count=1), st.integers(0, 2 ** 32 - 1))
def test_functor_preserves_identities(f, seed):
    """L(id_A) is Learn's identity, and identities are units on both sides,
    in Para before L as in Learn after it."""
    (f,) = f
    L = functor(EPS, quadratic, compile)
    rng = np.random.default_rng(seed)
    A, B = f.dom, f.cod
    a, b = draws(rng, A), draws(rng, A)
    assert close(evaluate(L(Para.id(A)), (), a, b), evaluate(LearnMap.id(A), (), a, b))
    assert L(A) == A

    p = at(f.params, values(rng, f))
    a, b = draws(rng, A), draws(rng, B)
    expected = evaluate(L(f), p, a, b)
    assert evaluate(LearnMap.id(A) >> L(f), p, a, b) == expected       # exactly
    assert evaluate(L(f) >> LearnMap.id(B), p, a, b) == expected
    assert close(evaluate(L(Para.id(A) >> f >> Para.id(B)), p, a, b), expected)


@settings(max_examples=10, **SETTINGS)
@given(chains(count=3), st.integers(0, 2 ** 32 - 1))
def test_learn_composition_is_associative(fgh, seed):
    f, g, h = fgh
    L = functor(EPS, quadratic, compile)
    rng = np.random.default_rng(seed)
    p = at(f.params + g.params + h.params, {**values(rng, f), **values(rng, g), **values(rng, h)})
    a, c = draws(rng, f.dom), draws(rng, h.cod)
    assert evaluate((L(f) >> L(g)) >> L(h), p, a, c) == evaluate(L(f) >> (L(g) >> L(h)), p, a, c)


# --- U and r against independent oracles ---------------------------------------------------


def _two_inputs() -> Para:
    """(w, a, c) ↦ w·a + c·c, a Para map with two input wires."""
    x = Real(2)
    w = Param(x, "w", normal(1.0))
    return Para((w, ), function(x @ x @ x, x)(lambda w, a, c: w * a + c * c))


MODELS = {
    "dense-sigmoid": lambda: dense(3, 2, Sigmoid),
    "dense-tanh>>dense-sigmoid": lambda: dense(2, 3, Tanh) >> dense(3, 2, Sigmoid),
    "tensor": lambda: dense(2, 2, Tanh) @ dense(1, 2, Sigmoid),
    "two-inputs": _two_inputs,
}


def finite_difference(E, values: tuple, h=1e-6) -> tuple:
    """∇E at ``values`` (a tuple of arrays) by central differences, entry by entry."""
    gradient = []
    for k, v in enumerate(values):
        g = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            up, down = [x.copy() for x in values], [x.copy() for x in values]
            up[k][i] += h
            down[k][i] -= h
            g[i] = (E(tuple(up)) - E(tuple(down))) / (2 * h)
        gradient.append(g)
    return tuple(gradient)


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: e.name)
@pytest.mark.parametrize("name", MODELS)
def test_update_and_request_against_finite_differences(name, error):
    """U = p − ε∇_p E and ∂e/∂x(a, r) = ∇_a E, with ∇E by central differences of
    E(p, a, b) = Σ_j e(I_j(p, a), b_j); for the quadratic error, r = a − ∇_a E."""
    model = MODELS[name]()
    learner = functor(EPS, error, compile)(model)
    rng = np.random.default_rng(7)
    for _ in range(3):
        p = at(model.params, values(rng, model))
        a, b = draws(rng, model.dom), draws(rng, model.cod)

        def E(p, a):
            return sum(error.value(x, y).sum() for x, y in zip(learner.implement(p, a), b))
        grad_p = finite_difference(lambda p: E(p, a), p)
        grad_a = finite_difference(lambda a: E(p, a), a)

        update, request = learner.put(p, a, b)
        assert close(update, tuple(v - EPS * g for v, g in zip(p, grad_p)), 1e-7)
        assert close(tuple(error.dx(x, y) for x, y in zip(a, request)), grad_a, 1e-7)
        if error is quadratic:
            assert close(request, tuple(x - g for x, g in zip(a, grad_a)), 1e-7)
        assert close(learner.update(p, a, b), update, 0) and close(learner.request(p, a, b), request, 0)


def test_implement_is_the_dense_layer():
    """I((W, b), a) = σ(a W + b), written out in NumPy."""
    model = dense(3, 2, Sigmoid)
    rng = np.random.default_rng(1)
    (W, b), a = at(model.params, values(rng, model)), rng.normal(size=3)
    (y, ) = functor(EPS, quadratic, compile)(model).implement((W, b), (a, ))
    assert close(y, 1 / (1 + np.exp(-(a @ W + b))))


@pytest.mark.parametrize("name", [name for name in MODELS if name != "tensor"])
def test_update_is_one_step_of_the_learner(name):
    """With the quadratic error, U is one step of ``lenses.learner.Learner``
    (MSE loss, GD with learning rate ε) on a batch of one example. (The MSE
    loss takes one output wire, hence no tensor model here.)"""
    model = MODELS[name]()
    step = compile(Learner(model, mse(model.cod), GD(lr=EPS)).diagram)
    rng = np.random.default_rng(3)
    p = at(model.params, values(rng, model))
    a, b = draws(rng, model.dom), draws(rng, model.cod)
    *stepped, loss = step(*p, *a, *b)
    learner = functor(EPS, quadratic, compile)(model)
    assert close(learner.update(p, a, b), tuple(stepped))
    (y, ), (t, ) = learner.implement(p, a), b
    assert np.isclose(loss, 0.5 * ((y - t) ** 2).sum())


def test_run_folds_the_update_over_examples():
    """``run`` is repeated U; on data from a line, the error goes down."""
    learner = functor(0.1, quadratic, compile)(dense(1, 1))
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(50, 1))
    data = [((x, ), (3 * x - 1, )) for x in xs]
    p = (np.zeros((1, 1)), np.zeros(1))
    by_hand = p
    for a, b in data[:3]:
        by_hand = learner.update(by_hand, a, b)
    assert run(learner, p, data[:3]) == by_hand
    W, b = run(learner, p, data * 4)
    assert close((W, b), (np.array([[3.]]), np.array([-1.])), 1e-3)


# --- the caveat: reparametrisation ---------------------------------------------------------


def test_functor_does_not_respect_reparametrisation():
    """L does not respect learner equivalence (reference §5, CFGBL §6).

    f = dense(2, 2) with no activation, I((W, b), a) = a W + b, and f̃ = f
    reparametrised by φ(p̃) = 2p̃, so I_f̃(p̃, a) = I_f(φ p̃, a): the same map of
    BaF's Para, whose maps are taken modulo bijections of P. Their learners
    agree on I and r, but an equivalence via φ would need U_f(φ p̃) = φ(U_f̃(p̃)),
    and gradient descent is not invariant under reparametrisation:
    ∇_p̃ E_f̃ = 2 ∇_p E_f, so φ(U_f̃(p̃)) = 2p̃ − 4ε∇E while U_f(2p̃) = 2p̃ − ε∇E.
    No other bijection can do: I_f(ψ p̃, −) = I_f̃(p̃, −) determines ψ p̃ = 2p̃
    (b from a = 0, the rows of W from the basis vectors), which is checked
    too. So L(f) and L(f̃) are not equivalent learners, and training from
    corresponding points gives different functions after one step."""
    f = dense(2, 2)
    W, b = f.params
    new = (Param(W.ty, "W̃"), Param(b.ty, "b̃"))
    phi = Scale(2, W.ty) @ Scale(2, b.ty)
    f_tilde = f.reparametrise(new, phi)
    L = functor(EPS, quadratic, compile)
    learner, learner_tilde = L(f), L(f_tilde)

    rng = np.random.default_rng(5)
    p_tilde = draws(rng, f_tilde.param_type)
    phi_p = tuple(2 * v for v in p_tilde)
    a, t = draws(rng, f.dom), draws(rng, f.cod)

    # the same Para map up to φ, and the only bijection that makes it so
    assert close(learner_tilde.implement(p_tilde, a), learner.implement(phi_p, a))
    (zero, ) = learner_tilde.implement(p_tilde, (np.zeros(2), ))
    rows = [learner_tilde.implement(p_tilde, (e, ))[0] - zero for e in np.eye(2)]
    assert close((np.stack(rows, axis=0), zero), phi_p)

    # r agrees, U does not
    assert close(learner_tilde.request(p_tilde, a, t), learner.request(phi_p, a, t))
    u, u_tilde = learner.update(phi_p, a, t), learner_tilde.update(p_tilde, a, t)
    grad = tuple((v - w) / EPS for v, w in zip(phi_p, u))                # ∇_p E at φ p̃
    assert close(tuple(2 * v for v in u_tilde), tuple(v - 4 * EPS * g for v, g in zip(phi_p, grad)))
    difference = tuple(2 * x - y for x, y in zip(u_tilde, u))            # φ(Ũ) − U(φ p̃)
    assert close(difference, tuple(-3 * EPS * g for g in grad))
    assert max(np.abs(d).max() for d in difference) > 1e-3

    after, after_tilde = learner.implement(u, a), learner_tilde.implement(u_tilde, a)
    assert not close(after, after_tilde, 1e-6)


# --- errors ------------------------------------------------------------------------------


def test_errors_speak_the_users_language():
    L = functor(EPS, quadratic, compile)
    learner = L(dense(3, 2, Sigmoid))
    p = (np.zeros((3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match=r"input 0 \(wire Real\(3\)\) expected shape \(3,\), "
                                         r"got \(5, 3\).*one example at a time"):
        learner.put(p, (np.zeros((5, 3)), ), (np.zeros(2), ))
    with pytest.raises(TypeError, match=r"2 parameter arrays expected"):
        learner.implement(p[:1], (np.zeros(3), ))
    with pytest.raises(TypeError, match=r"cannot compose learners .*Real\(2\) ≠ Real\(4\)"):
        learner >> L(dense(4, 1))
    with pytest.raises(ValueError, match="ε > 0"):
        functor(0.0, quadratic, compile)
