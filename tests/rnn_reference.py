"""Independent NumPy references for recurrent networks (plain NumPy, no paralens).

These are the oracles the library's recurrent constructions are tested
against, and the hand-written baseline they are benchmarked against, so this
module must never import paralens.

Conventions
-----------
* batch first, time on axis 1: ``xs`` has shape ``(B, T, n_in)``;
* weights laid out ``(in, out)``, as a practitioner writes ``x @ W``;
* ``h0`` of shape ``(B, n)`` is the state *before* step 0; the outputs are the
  states *after* each step: ``ys[:, t] = h_t`` for ``t = 0 .. T-1``, and the
  final state ``h_T`` equals ``ys[:, -1]``.

Elman (tanh) step::

    h_t = tanh(x_t @ Wx + h_{t-1} @ Wh + b)     Wx (n_in, n), Wh (n, n), b (n,)

The cotangent convention of the reverse passes: the gradients returned are
those of the scalar ``L = sum(dys * ys) + sum(dhT * h_T)``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "elman_forward", "elman_bptt", "elman_truncated_bptt", "elman_jvp",
    "sigmoid", "gru_forward", "GRU_PARAMS", "central_difference",
]


# -- Elman -----------------------------------------------------------------------

def elman_forward(Wx, Wh, b, h0, xs):
    """Run the Elman tanh RNN over ``xs``.

    Returns ``(ys, hT)``: ``ys`` of shape ``(B, T, n)`` with ``ys[:, t] = h_t``
    (the state after step ``t``) and ``hT = ys[:, -1]`` (``h0`` when ``T == 0``).
    """
    B, T, _ = xs.shape
    n = Wh.shape[0]
    ys = np.empty((B, T, n), dtype=np.result_type(Wx, Wh, b, h0, xs))
    h = h0
    for t in range(T):
        h = np.tanh(xs[:, t] @ Wx + h @ Wh + b)
        ys[:, t] = h
    return ys, h


def elman_bptt(Wx, Wh, b, h0, xs, dys, dhT=None):
    """Backpropagation through time, written by hand.

    Gradients of ``L = sum(dys * ys) + sum(dhT * h_T)`` (``dhT=None`` means
    zero) with respect to every input, as ``dict(Wx=, Wh=, b=, h0=, xs=)`` with
    the shapes of the inputs. One forward pass storing the states, then one
    backward loop over time: ``dh`` collects the output cotangent of step
    ``t``, ``dz = dh * (1 - h_t**2)``, the parameter gradients are accumulated
    per step and ``dh = dz @ Wh.T`` is carried to step ``t - 1``.
    """
    ys, hT = elman_forward(Wx, Wh, b, h0, xs)
    B, T, _ = xs.shape
    dWx = np.zeros_like(Wx)
    dWh = np.zeros_like(Wh)
    db = np.zeros_like(b)
    dxs = np.empty_like(xs)
    dh = np.zeros_like(hT) if dhT is None else np.array(dhT, dtype=hT.dtype)
    WxT, WhT = Wx.T, Wh.T
    for t in range(T - 1, -1, -1):
        dh += dys[:, t]
        h = ys[:, t]
        h_prev = ys[:, t - 1] if t > 0 else h0
        dz = dh * (1.0 - h * h)
        dWx += xs[:, t].T @ dz
        dWh += h_prev.T @ dz
        db += dz.sum(axis=0)
        dxs[:, t] = dz @ WxT
        dh = dz @ WhT
    return dict(Wx=dWx, Wh=dWh, b=db, h0=dh, xs=dxs)


def elman_truncated_bptt(Wx, Wh, b, h0, xs, dys, k):
    """Truncated BPTT over consecutive segments of length ``k``.

    The sequence is cut into segments ``[0, k), [k, 2k), ...`` (the last may be
    shorter). The forward state is carried across segments, but no gradient
    flows back across a boundary: each segment's initial state is a constant.
    Equivalently, the backward loop runs over the whole sequence and resets the
    carried ``dh`` to zero when it crosses a segment start. Returns the summed
    parameter gradients ``dict(Wx=, Wh=, b=)``; for ``k >= T`` they are those of
    full BPTT with ``dhT = 0``.
    """
    if k < 1:
        raise ValueError(f"segment length k must be >= 1, got {k}")
    ys, _ = elman_forward(Wx, Wh, b, h0, xs)
    T = xs.shape[1]
    dWx = np.zeros_like(Wx)
    dWh = np.zeros_like(Wh)
    db = np.zeros_like(b)
    dh = np.zeros_like(h0, dtype=ys.dtype)
    for t in range(T - 1, -1, -1):
        dh += dys[:, t]
        h = ys[:, t]
        h_prev = ys[:, t - 1] if t > 0 else h0
        dz = dh * (1.0 - h * h)
        dWx += xs[:, t].T @ dz
        dWh += h_prev.T @ dz
        db += dz.sum(axis=0)
        if t % k == 0:                 # t starts a segment: h_prev is a constant
            dh = np.zeros_like(dh)
        else:
            dh = dz @ Wh.T
    return dict(Wx=dWx, Wh=dWh, b=db)


def elman_jvp(Wx, Wh, b, h0, xs, dWx, dWh, db, dh0, dxs):
    """Forward-mode derivative (real-time recurrent): carry ``h`` and its tangent.

    With ``z_t = x_t @ Wx + h_{t-1} @ Wh + b``::

        ż_t = ẋ_t @ Wx + x_t @ dWx + ḣ_{t-1} @ Wh + h_{t-1} @ dWh + db
        ḣ_t = (1 - h_t**2) * ż_t

    Returns ``(ys, ẏs)``, both ``(B, T, n)``; ``ẏs[:, t]`` is the directional
    derivative of ``ys[:, t]`` along the given tangents.
    """
    B, T, _ = xs.shape
    n = Wh.shape[0]
    dtype = np.result_type(Wx, Wh, b, h0, xs)
    ys = np.empty((B, T, n), dtype=dtype)
    dys = np.empty((B, T, n), dtype=dtype)
    h, dh = h0, dh0
    for t in range(T):
        x, dx = xs[:, t], dxs[:, t]
        dz = dx @ Wx + x @ dWx + dh @ Wh + h @ dWh + db
        h = np.tanh(x @ Wx + h @ Wh + b)
        dh = (1.0 - h * h) * dz
        ys[:, t] = h
        dys[:, t] = dh
    return ys, dys


# -- GRU -------------------------------------------------------------------------

GRU_PARAMS = {
    # name: (rows, cols) in terms of n_in and n
    "Wz": ("n_in", "n"), "Uz": ("n", "n"), "bz": ("n",),
    "Wr": ("n_in", "n"), "Ur": ("n", "n"), "br": ("n",),
    "Wc": ("n_in", "n"), "Uc": ("n", "n"), "bc": ("n",),
}


def sigmoid(x):
    """Logistic function as ``(1 + tanh(x / 2)) / 2``: no overflow, and exactly
    0 or 1 far in the tails."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def gru_forward(params, h0, xs):
    """Run a GRU-like gated cell over ``xs``; returns ``(ys, hT)`` like
    :func:`elman_forward`.

    ``params`` holds ``(in, out)``-layout arrays named as in ``GRU_PARAMS``.
    One step, with ``σ`` the logistic function and ``*`` elementwise::

        z  = σ(x @ Wz + h @ Uz + bz)          update gate
        r  = σ(x @ Wr + h @ Ur + br)          reset gate
        c  = tanh(x @ Wc + (r * h) @ Uc + bc) candidate
        h' = (1 - z) * h + z * c

    (The reset gate multiplies the state before ``Uc``, as in Cho et al. 2014;
    ``z = 1`` takes the candidate, so with ``z = r = 1`` the cell is the Elman
    cell with ``Wx, Wh, b = Wc, Uc, bc``.)
    """
    p = params
    B, T, _ = xs.shape
    n = p["Uc"].shape[0]
    ys = np.empty((B, T, n), dtype=np.result_type(h0, xs, *p.values()))
    h = h0
    for t in range(T):
        x = xs[:, t]
        z = sigmoid(x @ p["Wz"] + h @ p["Uz"] + p["bz"])
        r = sigmoid(x @ p["Wr"] + h @ p["Ur"] + p["br"])
        c = np.tanh(x @ p["Wc"] + (r * h) @ p["Uc"] + p["bc"])
        h = (1.0 - z) * h + z * c
        ys[:, t] = h
    return ys, h


# -- finite differences ----------------------------------------------------------

def central_difference(f, x, v, eps=1e-6):
    """``(f(x + eps v) - f(x - eps v)) / (2 eps)``: the derivative of ``f`` at
    ``x`` along ``v`` to O(eps**2). ``f`` may return a scalar or an array."""
    x = np.asarray(x, dtype=float)
    v = np.asarray(v, dtype=float)
    return (np.asarray(f(x + eps * v)) - np.asarray(f(x - eps * v))) / (2.0 * eps)
