"""Ready recurrent models: machines whose stages are built from generators.

Each is the delayed trace of a stage h ⊗ x → h ⊗ y over the hidden state h
(``categories.stateful``), starting from h = 0, with weights laid out (in,
out) as a practitioner writes them, and the output at each step the new
hidden state:

| cell | stage |
|---|---|
| ``elman`` | h′ = tanh(x Wx + h Wh + b) |
| ``gru`` | z = σ(x Wz + h Uz + bz), r = σ(x Wr + h Ur + br), c = tanh(x Wc + (r ∗ h) Uc + bc), h′ = (1 − z) ∗ h + z ∗ c |

>>> rnn = elman(3, 8)
>>> rnn.dom, rnn.cod, rnn.state
(Real(3), Real(8), Real(8))
>>> [p.name for p in rnn.params]
['Wx', 'Wh', 'b']
>>> [p.name for p in gru(3, 8).params]
['Wz', 'Uz', 'bz', 'Wr', 'Ur', 'br', 'Wc', 'Uc', 'bc']
"""

from __future__ import annotations

import numpy as np

from .adapter import Real, whole
from .para import Para, Param, Scope, lecun, zeros
from .smooth import Bias, Linear, Sigmoid, Tanh
from .stateful import Machine, dtrace
from .syntax import function

__all__ = ["elman", "gru"]


def _orthogonal_scale(rng, shape):
    """N(0, 1/n) recurrent weights: h Wh keeps the scale of h."""
    return rng.normal(0.0, 1.0 / np.sqrt(max(shape[0], 1)), size=shape)


def _sizes(n_in, n_hidden, who):
    return (whole(n_in, f"{who}(n_in, n_hidden): n_in"),
            whole(n_hidden, f"{who}(n_in, n_hidden): n_hidden", 1))


def elman(n_in: int, n_hidden: int, activation=Tanh, dtype="float64") -> Machine:
    """The Elman RNN: h′ = activation(x Wx + h Wh + b), output h′, h₀ = 0."""
    n_in, n = _sizes(n_in, n_hidden, "elman")
    x, h = Real(n_in, dtype=dtype), Real(n, dtype=dtype)
    scope = Scope("elman")
    Wx = Param(Real(n_in, n, dtype=dtype), "Wx", lecun, scope)
    Wh = Param(Real(n, n, dtype=dtype), "Wh", _orthogonal_scale, scope)
    b = Param(h, "b", zeros, scope)
    by_x, by_h, act = Linear(n_in, n, dtype), Linear(n, n, dtype), activation(h)

    @function(Wx.ty @ Wh.ty @ b.ty @ h @ x, h @ h)
    def stage(wx, wh, bias, state, a):
        new = act(Bias(h)(bias, by_x(wx, a) + by_h(wh, state)))
        return new, new
    return dtrace(Para((Wx, Wh, b), stage), h)


def gru(n_in: int, n_hidden: int, dtype="float64") -> Machine:
    """A gated recurrent cell (GRU-like; the equations in the module's table), h₀ = 0."""
    n_in, n = _sizes(n_in, n_hidden, "gru")
    x, h = Real(n_in, dtype=dtype), Real(n, dtype=dtype)
    params, scope = [], Scope("gru")
    for gate in "zrc":
        params += [Param(Real(n_in, n, dtype=dtype), f"W{gate}", lecun, scope),
                   Param(Real(n, n, dtype=dtype), f"U{gate}", _orthogonal_scale, scope),
                   Param(h, f"b{gate}", zeros, scope)]
    by_x, by_h, bias = Linear(n_in, n, dtype), Linear(n, n, dtype), Bias(h)
    sigmoid, tanh = Sigmoid(h), Tanh(h)
    dom = params[0].ty
    for p in params[1:]:
        dom = dom @ p.ty

    @function(dom @ h @ x, h @ h)
    def stage(wz, uz, bz, wr, ur, br, wc, uc, bc, state, a):
        z = sigmoid(bias(bz, by_x(wz, a) + by_h(uz, state)))
        r = sigmoid(bias(br, by_x(wr, a) + by_h(ur, state)))
        c = tanh(bias(bc, by_x(wc, a) + by_h(uc, r * state)))
        new = state + z * (c - state)           # (1 − z) h + z c
        return new, new
    return dtrace(Para(tuple(params), stage), h)
