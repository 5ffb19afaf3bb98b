"""Recurrence (categories.stateful, categories.cells) against independent oracles
(``reference/delayed-trace.md`` §3–§5, §8; DESIGN.md principle 8).

Every numeric result of the library is checked against something it did not
compute: the hand-written NumPy RNNs of ``rnn_reference`` (forward, JVP, BPTT,
GRU), central and mixed finite differences, and the unrolled diagram (n copies
of the stage, a different diagram from the one Loop box, differentiated box by
box). Where two library computations are compared (the loop against its
unrolling, D ∘ dtr against dtr ∘ D), the hand oracle is checked too.

Tolerances. ``EXACT``: two exact computations of the same quantity in float64,
differing only in the order of floating-point operations (measured ≲ 4e-15 on
O(1) values; 1e-12 leaves room). ``ADJOINT``: sums of many products (the
adjoint identity, BPTT against the hand BPTT). ``CD_RTOL``: an exact derivative
against a central difference with step 1e-6 (truncation ~1e-12, rounding
~1e-10 relative). ``MIXED``: a second derivative against a 4-point mixed
difference with step ε = 1e-4: its truncation error is O(ε²) times fourth
derivatives, measured 2.7e-6 relative here (it scales as ε²: 2.7e-4 at ε = 1e-3),
rounding ~1e-8; so 1e-5, and the same second derivative is also checked against
a central difference of the hand JVP (an exact first derivative) at CD_RTOL.

Every run goes through the library's public API and a compiler: the NumPy
interpreter, and the code generator where it can compile a Loop (skipped, with
the generator's own reason, while it cannot).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from paralens.categories import (
    Bias, Machine, Mul, Para, Param, Real, Seq, Sigmoid, Tanh, delay, discard, dtrace, elman,
    function, gru)
from paralens.interpreters import codegen
from paralens.interpreters import numpy as interpreter
from paralens.lenses import R, tangent
from rnn_reference import (
    central_difference, elman_bptt, elman_forward, elman_jvp, gru_forward)

B, T, N_IN, N = 3, 24, 2, 4
EXACT = 1e-12
ADJOINT = 1e-10
CD_RTOL, CD_ATOL = 1e-6, 1e-9
MIXED = 1e-5
NAMES = ("Wx", "Wh", "b", "h0", "xs")


# -- compilers -------------------------------------------------------------------

def _codegen_reason():
    """Why the code generator cannot run a Loop yet (None once it can)."""
    try:
        codegen.compile(elman(1, 1).diagram)
    except NotImplementedError as error:
        if "Loop" in str(error):
            return f"codegen cannot compile a Loop yet: {error}"
        raise
    return None


CODEGEN_SKIP = _codegen_reason()
COMPILERS = [
    pytest.param(interpreter.compile, id="numpy"),
    pytest.param(codegen.compile, id="codegen",
                 marks=pytest.mark.skipif(CODEGEN_SKIP is not None,
                                          reason=str(CODEGEN_SKIP))),
]


def as_tuple(x):
    return x if isinstance(x, tuple) else (x, )


def run(compile, diagram, *args, summed=()):
    return as_tuple(compile(diagram, summed=summed)(*args))


def bptt(compile, diagram, args, cotangents, summed=()):
    """The backward half of R(diagram) at args, on the output cotangents."""
    lens = R(diagram)
    kept = run(compile, lens.forward, *args)[:len(lens.residual)]
    return run(compile, lens.backward, *kept, *cotangents, summed=summed)


def err(a, b) -> float:
    """max |a − b| relative to max(1, max |b|)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b), initial=0.0) / max(1.0, np.max(np.abs(b), initial=0.0)))


def assert_close(a, b, tol, what=""):
    e = err(a, b)
    print(f"{what}: {e:.2e} (tolerance {tol:g})")      # shown with pytest -s
    assert e <= tol, f"{what}: error {e:.3g} > {tol:g}"
    return e


def assert_cd(exact, cd, what=""):
    """An exact derivative against a central difference (rtol CD_RTOL, atol CD_ATOL)."""
    exact, cd = np.asarray(exact), np.asarray(cd)
    scale = max(np.max(np.abs(cd)), 1e-300)
    print(f"{what}: {np.max(np.abs(exact - cd)) / scale:.2e} relative (tolerance {CD_RTOL:g})")
    np.testing.assert_allclose(exact, cd, rtol=CD_RTOL, atol=CD_ATOL, err_msg=what)


def steps(seq):
    """A sequence (B, T, …) as the T per-step arrays the unrolled diagram reads."""
    return [seq[:, t] for t in range(seq.shape[1])]


# -- problems --------------------------------------------------------------------

def problem(seed=0, t=T, n_in=N_IN, n=N, batch=B):
    """Elman inputs as in test_rnn_reference (orthogonal Wh, small inputs: the
    dependence on early steps survives to step T), cotangents and tangents."""
    rng = np.random.default_rng(seed)
    args = dict(
        Wx=rng.normal(size=(n_in, n)) / math.sqrt(n_in),
        Wh=np.linalg.qr(rng.normal(size=(n, n)))[0],
        b=rng.normal(size=n) * 0.1,
        h0=rng.normal(size=(batch, n)) * 0.5,
        xs=rng.normal(size=(batch, t, n_in)) * 0.5)
    dys = rng.normal(size=(batch, t, n))
    dhT = rng.normal(size=(batch, n))
    tangents = {k: rng.normal(size=v.shape) for k, v in args.items()}
    return args, dys, dhT, tangents


def ordered(d):
    return [d[k] for k in NAMES]


def only(tangents, which):
    """The tangents with all but ``which`` set to zero (``all``: none)."""
    return {k: (v if which in ("all", k) else np.zeros_like(v)) for k, v in tangents.items()}


def hand_jvp(args, tangents):
    return elman_jvp(**args, **{"d" + k: v for k, v in tangents.items()})


def test_elman_lays_out_its_diagram_as_the_oracles_do():
    rnn = elman(N_IN, N)
    assert [p.name for p in rnn.params] == ["Wx", "Wh", "b"]
    assert rnn.diagram.dom == (Real(N_IN, N) @ Real(N, N) @ Real(N) @ Real(N)
                               @ Seq(Real(N_IN)))
    assert rnn.diagram.cod == Real(N) @ Seq(Real(N))


@pytest.mark.parametrize("compile", COMPILERS)
def test_forward_is_the_hand_elman(compile):
    args, *_ = problem()
    hT, ys = run(compile, elman(N_IN, N).diagram, *ordered(args))
    ys_ref, hT_ref = elman_forward(**args)
    assert_close(ys, ys_ref, EXACT, "ys")
    assert_close(hT, hT_ref, EXACT, "hT")


# -- forward mode (oracle 1): the lifted D is the JVP of the unrolled map -------------

@pytest.mark.parametrize("compile", COMPILERS)
@pytest.mark.parametrize("which", ["xs", "h0", "Wx", "Wh", "b", "all"])
def test_tangent_of_the_loop_is_the_jvp_of_the_unrolled_map(compile, which):
    t = 20
    args, _, _, tangents = problem(seed=1, t=t)
    tangents = only(tangents, which)
    rnn = elman(N_IN, N)
    hT, ys, dhT, dys = run(compile, tangent(rnn.diagram), *ordered(args), *ordered(tangents))

    # the unrolled diagram's own tangent (t copies of the stage, box by box)
    unrolled = tangent(rnn.unroll(t).diagram)
    P = [args["Wx"], args["Wh"], args["b"], args["h0"]]
    dP = [tangents["Wx"], tangents["Wh"], tangents["b"], tangents["h0"]]
    out = run(compile, unrolled, *P, *steps(args["xs"]), *dP, *steps(tangents["xs"]))
    u_hT, u_ys, u_dhT, u_dys = out[0], out[1:t + 1], out[t + 1], out[t + 2:]
    assert len(u_dys) == t
    assert_close(ys, np.stack(u_ys, axis=1), EXACT, "ys vs unrolled")
    assert_close(dys, np.stack(u_dys, axis=1), EXACT, "ẏs vs unrolled")
    assert_close(dhT, u_dhT, EXACT, "ḣT vs unrolled")

    # the hand real-time JVP
    ys_ref, dys_ref = hand_jvp(args, tangents)
    assert_close(ys, ys_ref, EXACT, "ys vs hand")
    assert_close(dys, dys_ref, EXACT, "ẏs vs hand")
    assert_close(dhT, dys_ref[:, -1], EXACT, "ḣT vs hand")

    # central differences of the library's own forward map
    forward = compile(rnn.diagram)

    def moved(s):
        hT_, ys_ = forward(*[args[k] + s * tangents[k] for k in NAMES])
        return np.concatenate([ys_.ravel(), hT_.ravel()])
    cd = central_difference(moved, 0.0, 1.0)
    assert_cd(np.concatenate([dys.ravel(), dhT.ravel()]), cd, "central difference")
    if which != "all":
        assert np.max(np.abs(dys)) > 1e-3        # the direction is felt


# -- reverse mode (oracle 2): BPTT ---------------------------------------------------

@pytest.mark.parametrize("compile", COMPILERS)
def test_bptt_dotted_with_a_direction_is_the_tangent_paired_with_the_cotangent(compile):
    args, dys, dhT, tangents = problem(seed=2)
    rnn = elman(N_IN, N)
    grads = bptt(compile, rnn.diagram, ordered(args), [dhT, dys], summed=[0, 1, 2])
    _, _, dot_hT, dot_ys = run(compile, tangent(rnn.diagram), *ordered(args),
                               *ordered(tangents))
    lhs = sum(np.sum(g * tangents[k]) for k, g in zip(NAMES, grads))
    rhs = np.sum(dys * dot_ys) + np.sum(dhT * dot_hT)
    assert_close(lhs, rhs, ADJOINT, "⟨∇L, v⟩ vs Σ⟨∂L/∂y, ẏ⟩")


@pytest.mark.parametrize("compile", COMPILERS)
def test_bptt_is_the_hand_bptt_for_every_input(compile):
    args, dys, dhT, _ = problem(seed=3)
    grads = bptt(compile, elman(N_IN, N).diagram, ordered(args), [dhT, dys],
                 summed=[0, 1, 2])
    ref = elman_bptt(**args, dys=dys, dhT=dhT)
    for name, g in zip(NAMES, grads):
        assert g.shape == ref[name].shape, name
        assert_close(g, ref[name], ADJOINT, name)


@pytest.mark.parametrize("compile", COMPILERS)
def test_bptt_is_r_of_the_unrolled_diagram(compile):
    t = 5
    args, dys, dhT, _ = problem(seed=4, t=t)
    rnn = elman(N_IN, N)
    loop = bptt(compile, rnn.diagram, ordered(args), [dhT, dys], summed=[0, 1, 2])
    P = [args["Wx"], args["Wh"], args["b"], args["h0"]]
    unrolled = bptt(compile, rnn.unroll(t).diagram, P + steps(args["xs"]),
                    [dhT] + steps(dys), summed=[0, 1, 2])
    for name, a, b in zip(NAMES[:4], loop, unrolled):
        assert_close(a, b, EXACT, name)
    assert_close(loop[4], np.stack(unrolled[4:], axis=1), EXACT, "xs")


def test_parameter_cotangents_summed_over_the_batch_are_the_batch_sum():
    args, dys, dhT, _ = problem(seed=5)
    diagram = elman(N_IN, N).diagram
    each = bptt(interpreter.compile, diagram, ordered(args), [dhT, dys])
    summed = bptt(interpreter.compile, diagram, ordered(args), [dhT, dys], summed=[0, 1, 2])
    ref = elman_bptt(**args, dys=dys, dhT=dhT)
    for name, a, s in zip(NAMES[:3], each, summed):
        assert a.shape == (B, ) + ref[name].shape, name          # per example
        assert s.shape == ref[name].shape, name                  # summed
        assert_close(s, a.sum(axis=0), EXACT, name)
        assert_close(s, ref[name], ADJOINT, name)
    for name, a, s in zip(NAMES[3:], each[3:], summed[3:]):     # h0, xs: per example
        assert_close(s, a, 0.0, name)
        assert_close(s, ref[name], ADJOINT, name)


def test_bptt_of_a_loss_on_the_outputs_only():
    """The final state discarded: its cotangent is zero (the hand BPTT with dhT = 0)."""
    args, dys, _, _ = problem(seed=6)
    diagram = elman(N_IN, N).diagram >> discard(Real(N)) @ Seq(Real(N))
    grads = bptt(interpreter.compile, diagram, ordered(args), [dys], summed=[0, 1, 2])
    ref = elman_bptt(**args, dys=dys)
    for name, g in zip(NAMES, grads):
        assert_close(g, ref[name], ADJOINT, name)


def test_bptt_of_a_loss_on_the_final_state_only():
    args, _, dhT, _ = problem(seed=7)
    diagram = elman(N_IN, N).diagram >> Real(N) @ discard(Seq(Real(N)))
    grads = bptt(interpreter.compile, diagram, ordered(args), [dhT], summed=[0, 1, 2])
    ref = elman_bptt(**args, dys=np.zeros((B, T, N)), dhT=dhT)
    for name, g in zip(NAMES, grads):
        assert_close(g, ref[name], ADJOINT, name)


def test_summing_a_sequence_output_over_the_batch_keeps_its_time_axis():
    args, dys, dhT, _ = problem(seed=8)
    diagram = elman(N_IN, N).diagram
    each = bptt(interpreter.compile, diagram, ordered(args), [dhT, dys])
    try:
        summed = bptt(interpreter.compile, diagram, ordered(args), [dhT, dys], summed=[4])
    except (TypeError, ValueError) as error:        # refusing it is fine too
        assert "Seq" in str(error) or "sequence" in str(error)
        return
    assert summed[4].shape in [(T, N_IN), (1, T, N_IN)]
    assert_close(summed[4].reshape(T, N_IN), each[4].sum(axis=0), EXACT, "Σ_batch dxs")


# -- causality (oracle 3) ------------------------------------------------------------

def test_the_unrolled_jacobian_is_causal_exactly():
    """∂y_k/∂x_j by forward mode (one-hot ẋ, one per example of a batch) and by
    BPTT (one-hot cotangents, one per example): every block with j > k is exactly 0,
    the blocks j ≤ k are not, and both agree with the hand JVP."""
    t, n_in, n = 20, N_IN, 3
    args, *_ = problem(seed=9, t=t, n=n, batch=1)
    rnn = elman(n_in, n)

    k = t * n_in                                # forward: one example per input coordinate
    xs = np.repeat(args["xs"], k, axis=0)
    h0 = np.repeat(args["h0"], k, axis=0)
    dxs = np.eye(k).reshape(k, t, n_in)
    zeros = [np.zeros_like(args["Wx"]), np.zeros_like(args["Wh"]), np.zeros_like(args["b"]),
             np.zeros_like(h0)]
    P = [args["Wx"], args["Wh"], args["b"]]
    *_, dys = run(interpreter.compile, tangent(rnn.diagram), *P, h0, xs, *zeros, dxs)
    J_fwd = dys.reshape(t, n_in, t, n).transpose(2, 3, 0, 1)      # [k, m, j, i]

    m = t * n                                   # reverse: one example per output coordinate
    cot = np.eye(m).reshape(m, t, n)
    grads = bptt(interpreter.compile, rnn.diagram,
                 P + [np.repeat(args["h0"], m, axis=0), np.repeat(args["xs"], m, axis=0)],
                 [np.zeros((m, n)), cot])
    J_rev = grads[4].reshape(t, n, t, n_in)                       # [k, m, j, i]

    _, dys_hand = elman_jvp(*P, h0, xs, *zeros[:3], zeros[3], dxs)
    J_hand = dys_hand.reshape(t, n_in, t, n).transpose(2, 3, 0, 1)

    for J, how in [(J_fwd, "forward"), (J_rev, "reverse")]:
        for kk in range(t):
            for j in range(t):
                block = J[kk, :, j, :]
                if j > kk:
                    assert np.all(block == 0.0), (how, kk, j, np.max(np.abs(block)))
                else:
                    assert np.any(block != 0.0), (how, kk, j)
    assert_close(J_fwd, J_hand, EXACT, "forward Jacobian vs hand")
    assert_close(J_rev, J_hand, EXACT, "reverse Jacobian vs hand")


# -- chain rule (oracle 4) -----------------------------------------------------------

def composite_problem(seed=10, t=22, batch=2):
    rng = np.random.default_rng(seed)
    f, g = elman(3, 4), elman(4, 2)
    pf = [rng.normal(size=(3, 4)) / math.sqrt(3), np.linalg.qr(rng.normal(size=(4, 4)))[0],
          rng.normal(size=4) * 0.1]
    pg = [rng.normal(size=(4, 2)) / 2.0, np.linalg.qr(rng.normal(size=(2, 2)))[0],
          rng.normal(size=2) * 0.1]
    h1, h2 = rng.normal(size=(batch, 4)) * 0.5, rng.normal(size=(batch, 2)) * 0.5
    xs = rng.normal(size=(batch, t, 3)) * 0.5
    primal = dict(pf=pf, pg=pg, h1=h1, h2=h2, xs=xs)
    dot = dict(pf=[rng.normal(size=p.shape) for p in pf],
               pg=[rng.normal(size=p.shape) for p in pg],
               h1=rng.normal(size=h1.shape), h2=rng.normal(size=h2.shape),
               xs=rng.normal(size=xs.shape))
    return f, g, primal, dot


def composite_args(a):
    """The composite's inputs: the parameters in data-flow order (the first machine's
    first), then the states."""
    return [*a["pf"], *a["pg"], a["h1"], a["h2"], a["xs"]]


def test_composite_machine_types():
    f, g, *_ = composite_problem()
    c = f >> g
    assert [p.name for p in c.params] == ["Wx", "Wh", "b"] * 2
    assert c.params[:3] == f.params and c.params[3:] == g.params
    assert c.names == ("elman.Wx", "elman.Wh", "elman.b", "elman_1.Wx", "elman_1.Wh", "elman_1.b")
    assert c.state == Real(4) @ Real(2) and c.dom == Real(3) and c.cod == Real(2)


def test_chain_rule_on_a_composite_of_two_machines():
    f, g, a, d = composite_problem()
    c = f >> g
    compile = interpreter.compile
    h1T, h2T, zs, dh1T, dh2T, dzs = run(compile, tangent(c.diagram), *composite_args(a),
                                        *composite_args(d))
    # the composite of the tangents, machine by machine
    _, ys1, _, dys1 = run(compile, tangent(f.diagram), *a["pf"], a["h1"], a["xs"],
                          *d["pf"], d["h1"], d["xs"])
    _, zs2, _, dzs2 = run(compile, tangent(g.diagram), *a["pg"], a["h2"], ys1,
                          *d["pg"], d["h2"], dys1)
    assert_close(zs, zs2, EXACT, "outputs")
    assert_close(dzs, dzs2, EXACT, "tangent outputs")
    # the hand JVP, chained
    ys_h, dys_h = elman_jvp(*a["pf"], a["h1"], a["xs"], *d["pf"], d["h1"], d["xs"])
    zs_h, dzs_h = elman_jvp(*a["pg"], a["h2"], ys_h, *d["pg"], d["h2"], dys_h)
    assert_close(zs, zs_h, EXACT, "outputs vs hand")
    assert_close(dzs, dzs_h, EXACT, "tangents vs hand")
    assert_close(dh1T, dys_h[:, -1], EXACT, "first state's tangent vs hand")
    assert_close(dh2T, dzs_h[:, -1], EXACT, "second state's tangent vs hand")
    # central differences of the composite's forward map
    forward = compile(c.diagram)
    flat, dflat = composite_args(a), composite_args(d)

    def moved(s):
        return forward(*[p + s * q for p, q in zip(flat, dflat)])[2]
    assert_cd(dzs, central_difference(moved, 0.0, 1.0), "central difference")


def test_bptt_of_a_composite_is_the_hand_bptt_chained():
    f, g, a, _ = composite_problem(seed=11, t=12)
    rng = np.random.default_rng(12)
    dzs = rng.normal(size=a["xs"].shape[:2] + (2, ))
    dh1T, dh2T = rng.normal(size=a["h1"].shape), rng.normal(size=a["h2"].shape)
    grads = bptt(interpreter.compile, (f >> g).diagram, composite_args(a), [dh1T, dh2T, dzs],
                 summed=range(6))
    ys1, _ = elman_forward(*a["pf"], a["h1"], a["xs"])
    rg = elman_bptt(*a["pg"], a["h2"], ys1, dzs, dh2T)
    rf = elman_bptt(*a["pf"], a["h1"], a["xs"], rg["xs"], dh1T)
    expected = [rf["Wx"], rf["Wh"], rf["b"], rg["Wx"], rg["Wh"], rg["b"], rf["h0"], rg["h0"],
                rf["xs"]]
    for k, (got, want) in enumerate(zip(grads, expected)):
        assert_close(got, want, ADJOINT, f"input {k}")


# -- D commutes with the delayed trace (oracle 7) ------------------------------------

def test_tangent_commutes_with_the_delayed_trace():
    """D(dtrⁱ f) = dtr^{(i,0)}(D f): the tangent of the Elman loop against the
    delayed trace, over the state paired with its tangent, of the tangent of the
    stage f : P ⊗ S ⊗ X → S ⊗ Y, started at (h0, 0); both against the hand JVP."""
    t = 21
    args, _, _, tangents = problem(seed=13, t=t)
    tangents["h0"] = np.zeros_like(tangents["h0"])          # dtr^{(i,0)}: ṡ₀ = 0
    rnn = elman(N_IN, N)
    stage = rnn.stage                            # P ⊗ S ⊗ X → S ⊗ Y (the traced stage)
    P, S, X = stage.param_type, Real(N), Real(N_IN)
    D = tangent(stage.diagram)                   # (P S X)(Ṗ Ṡ Ẋ) → (S Y)(Ṡ Ẏ)
    dots = tuple(Param(p.ty, "d" + p.name) for p in stage.params)

    @function(P @ P @ S @ S @ X @ X, S @ S @ Real(N) @ Real(N))
    def paired(*w):
        p, dp, (s, ds, x, dx) = w[:3], w[3:6], w[6:]
        s1, y, ds1, dy = D(*p, s, x, *dp, ds, dx)
        return s1, ds1, y, dy
    traced = dtrace(Para(stage.params + dots, paired), (np.zeros(N), np.zeros(N)))
    assert traced.state == S @ S and traced.dom == X @ X

    P3 = [args["Wx"], args["Wh"], args["b"]]
    dP3 = [tangents["Wx"], tangents["Wh"], tangents["b"]]
    hT, ys, dhT, dys = run(interpreter.compile, tangent(rnn.diagram), *ordered(args),
                           *ordered(tangents))
    s, ds, ys2, dys2 = run(interpreter.compile, traced.diagram, *P3, *dP3, args["h0"],
                           tangents["h0"], args["xs"], tangents["xs"])
    assert_close(ys, ys2, EXACT, "ys")
    assert_close(dys, dys2, EXACT, "ẏs")
    assert_close(dhT, ds, EXACT, "final state's tangent")
    ys_h, dys_h = hand_jvp(args, tangents)
    assert_close(dys2, dys_h, EXACT, "ẏs vs hand")


# -- Schwarz (oracle 6) --------------------------------------------------------------

def test_second_tangent_is_symmetric_and_the_mixed_difference():
    """T(T F)((a, u), (v, 0)) has last block D²F(a)[u, v]: symmetric in u, v, and
    the 4-point mixed central difference of the hand forward map."""
    t = 20
    args, _, _, u = problem(seed=14, t=t, batch=2)
    _, _, _, v = problem(seed=15, t=t, batch=2)
    a = ordered(args)
    U, V = ordered(u), ordered(v)
    Z = [np.zeros_like(x) for x in a]
    tt = interpreter.compile(tangent(tangent(elman(N_IN, N).diagram)))
    out_uv, out_vu = as_tuple(tt(*a, *U, *V, *Z)), as_tuple(tt(*a, *V, *U, *Z))
    assert len(out_uv) == 8
    d2_uv, d2_vu = out_uv[-1], out_vu[-1]               # the ys block of D²F[u, v]
    assert_close(d2_uv, d2_vu, EXACT, "symmetry")
    assert_close(out_uv[-2], out_vu[-2], EXACT, "symmetry (final state)")
    # the first-order blocks are the hand JVPs along u and v
    assert_close(out_uv[3], hand_jvp(args, u)[1], EXACT, "JF u")
    assert_close(out_uv[5], hand_jvp(args, v)[1], EXACT, "JF v")

    def F(s, r):
        return elman_forward(**{k: args[k] + s * u[k] + r * v[k] for k in NAMES})[0]
    e = 1e-4
    mixed = (F(e, e) - F(e, -e) - F(-e, e) + F(-e, -e)) / (4 * e * e)
    assert_close(d2_uv, mixed, MIXED, "mixed difference")

    def jvp_along_u(s):                 # the hand JVP along u, at a + s v
        return hand_jvp({k: args[k] + s * v[k] for k in NAMES}, u)[1]
    assert_cd(d2_uv, central_difference(jvp_along_u, 0.0, 1.0), "CD of the hand JVP")
    assert np.max(np.abs(d2_uv)) > 1e-2


# -- GRU ------------------------------------------------------------------------------

def gru_problem(seed=16, t=20, n_in=2, n=3, batch=2):
    rng = np.random.default_rng(seed)
    cell = gru(n_in, n)
    params = {p.name: rng.normal(size=p.ty.inside[0].shape) / math.sqrt(p.ty.inside[0].shape[0])
              for p in cell.params}
    h0 = rng.normal(size=(batch, n)) * 0.5
    xs = rng.normal(size=(batch, t, n_in))
    return cell, params, h0, xs, rng


def test_gru_forward_is_the_hand_gru():
    cell, params, h0, xs, _ = gru_problem()
    hT, ys = run(interpreter.compile, cell.diagram, *[params[p.name] for p in cell.params],
                 h0, xs)
    ys_ref, hT_ref = gru_forward(params, h0, xs)
    assert_close(ys, ys_ref, EXACT, "ys")
    assert_close(hT, hT_ref, EXACT, "hT")


def test_gru_bptt_is_the_central_difference():
    cell, params, h0, xs, rng = gru_problem(seed=17)
    names = [p.name for p in cell.params]
    dys, dhT = rng.normal(size=xs.shape[:2] + (3, )), rng.normal(size=h0.shape)
    grads = bptt(interpreter.compile, cell.diagram, [params[k] for k in names] + [h0, xs],
                 [dhT, dys], summed=range(len(names)))
    inputs = dict(params, h0=h0, xs=xs)

    def loss(moved):
        ys, hT = gru_forward({k: moved[k] for k in names}, moved["h0"], moved["xs"])
        return np.sum(dys * ys) + np.sum(dhT * hT)
    for name, g in zip(names + ["h0", "xs"], grads):
        assert g.shape == inputs[name].shape, name
        v = rng.normal(size=g.shape)

        def along(s, name=name, v=v):
            return loss(dict(inputs, **{name: inputs[name] + s * v}))
        cd = central_difference(along, 0.0, 1.0)
        assert_cd(np.sum(g * v), cd, name)


# -- the delay register (yanking fails, §2) ------------------------------------------

def test_delay_is_the_trace_of_a_swap():
    xs = np.arange(5.0).reshape(1, 5, 1)
    i = np.array([-1.0])
    s, ys = run(interpreter.compile, delay(Real(1), i).diagram, i, xs)
    assert ys.ravel().tolist() == [-1.0, 0.0, 1.0, 2.0, 3.0]
    assert s.ravel().tolist() == [4.0]


def test_a_machine_followed_by_a_delay_register():
    """elman ; δ: the outputs shifted one step, the register's initial value first;
    forward, BPTT and the tangent against the hand Elman shifted by hand."""
    args, dys, _, tangents = problem(seed=19, t=9)
    rng = np.random.default_rng(20)
    m = elman(N_IN, N) >> delay(Real(N))
    assert m.state == Real(N) @ Real(N)
    i, di, dh, ds = rng.normal(size=(4, B, N))
    P = [args["Wx"], args["Wh"], args["b"], args["h0"]]
    _, s, zs = run(interpreter.compile, m.diagram, *P, i, args["xs"])
    ys, _ = elman_forward(**args)
    assert_close(zs[:, 0], i, 0.0, "the register's initial value")
    assert_close(zs[:, 1:], ys[:, :-1], EXACT, "shifted outputs")
    assert_close(s, ys[:, -1], EXACT, "the register's final state")
    grads = bptt(interpreter.compile, m.diagram, P + [i, args["xs"]], [dh, ds, dys],
                 summed=[0, 1, 2])
    shifted = np.zeros_like(dys)
    shifted[:, :-1] = dys[:, 1:]
    shifted[:, -1] += ds                        # the register's final state is y_{T-1}
    ref = elman_bptt(**args, dys=shifted, dhT=dh)
    for name, g in zip(NAMES, grads[:4] + grads[5:]):
        assert_close(g, ref[name], ADJOINT, name)
    assert_close(grads[4], dys[:, 0], 0.0, "the register's initial value's cotangent")
    out = run(interpreter.compile, tangent(m.diagram), *P, i, args["xs"],
              *[tangents[k] for k in NAMES[:4]], di, tangents["xs"])
    _, dys_h = hand_jvp(args, tangents)
    assert_close(out[5][:, 0], di, 0.0, "ẏ₀")
    assert_close(out[5][:, 1:], dys_h[:, :-1], EXACT, "ẏ shifted")


def test_a_sequence_of_no_steps():
    args, dys, dhT, tangents = problem(seed=21, t=0)
    diagram = elman(N_IN, N).diagram
    hT, ys = run(interpreter.compile, diagram, *ordered(args))
    assert ys.shape == (B, 0, N)
    assert_close(hT, args["h0"], 0.0, "hT = h0")
    grads = bptt(interpreter.compile, diagram, ordered(args), [dhT, dys], summed=[0, 1, 2])
    ref = elman_bptt(**args, dys=dys, dhT=dhT)
    for name, g in zip(NAMES, grads):
        assert_close(g, ref[name], 0.0, name)
    _, _, dhT_, dys_ = run(interpreter.compile, tangent(diagram), *ordered(args),
                           *ordered(tangents))
    assert dys_.shape == (B, 0, N)
    assert_close(dhT_, tangents["h0"], 0.0, "ḣT = ḣ0")


# -- float32 --------------------------------------------------------------------------

def test_float32_machines_keep_float32():
    args, dys, dhT, tangents = problem(seed=18, t=20)
    f32 = {k: v.astype(np.float32) for k, v in args.items()}
    t32 = {k: v.astype(np.float32) for k, v in tangents.items()}
    rnn = elman(N_IN, N, dtype="float32")
    assert all(w.dtype == np.float32 for w in rnn.diagram.dom.inside)
    assert all(s.dtype == np.float32 for s in rnn.initial)
    out = run(interpreter.compile, rnn.diagram, *ordered(f32))
    dot = run(interpreter.compile, tangent(rnn.diagram), *ordered(f32), *ordered(t32))
    grads = bptt(interpreter.compile, rnn.diagram, ordered(f32),
                 [dhT.astype(np.float32), dys.astype(np.float32)], summed=[0, 1, 2])
    lens = R(rnn.diagram)
    kept = run(interpreter.compile, lens.forward, *ordered(f32))
    for arrays, what in [(out, "forward"), (dot, "tangent"), (grads, "BPTT"),
                         (kept, "residuals")]:
        assert [a.dtype for a in arrays] == [np.float32] * len(arrays), what
    # and they are the float64 numbers, to float32 precision
    assert_close(out[1], elman_forward(**args)[0], 1e-5, "ys")
    assert_close(dot[3], hand_jvp(args, tangents)[1], 1e-4, "ẏs")
    ref = elman_bptt(**args, dys=dys, dhT=dhT)
    for name, g in zip(NAMES, grads):
        assert_close(g, ref[name], 1e-4, name)


# -- bad input: clear errors naming the wire and the box -----------------------------

@pytest.fixture(scope="module")
def compiled():
    rnn = elman(N_IN, N)
    return rnn, interpreter.compile(rnn.diagram), interpreter.compile(tangent(rnn.diagram))


def test_a_sequence_without_its_time_axis_is_refused(compiled):
    _, forward, _ = compiled
    args, *_ = problem(t=5)
    for xs in [args["xs"][:, 0], args["xs"][0], args["xs"][..., :1]]:
        with pytest.raises(ValueError) as info:
            forward(*ordered(dict(args, xs=xs)))
        message = str(info.value)
        assert "input 4" in message and "Seq(Real(2))" in message and "dtrace" in message
        assert "(batch, time, 2)" in message and str(xs.shape) in message


@pytest.mark.parametrize("dtype", [np.complex128])
def test_a_sequence_of_the_wrong_dtype_is_refused(compiled, dtype):
    _, forward, _ = compiled
    args, *_ = problem(t=5)
    with pytest.raises(TypeError) as info:
        forward(*ordered(dict(args, xs=args["xs"].astype(dtype))))
    message = str(info.value)
    assert "Seq(Real(2))" in message and "dtrace" in message
    assert "float64" in message and np.dtype(dtype).name in message


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_a_sequence_that_converts_exactly_is_converted(compiled, dtype):
    _, forward, _ = compiled
    args, *_ = problem(t=5)
    xs = np.round(args["xs"] * 4)           # whole numbers, exact in every dtype here
    converted = forward(*ordered(dict(args, xs=xs.astype(dtype))))
    direct = forward(*ordered(dict(args, xs=xs)))
    assert all(np.array_equal(a, b) for a, b in zip(converted, direct))


def test_a_tangent_sequence_of_another_length_is_refused(compiled):
    _, _, jvp = compiled
    args, _, _, tangents = problem(t=6)
    with pytest.raises(ValueError) as info:
        jvp(*ordered(args), *ordered(dict(tangents, xs=tangents["xs"][:, :-1])))
    message = str(info.value)
    assert "5 steps" in message and "6" in message and "Seq(Real(2))" in message
    assert "dtraceᵀ" in message


def test_sequences_of_another_length_in_a_tensor_of_machines_are_refused():
    both = elman(2, 3) @ elman(1, 2)
    rng = np.random.default_rng(0)
    args = [rng.normal(size=p.ty.inside[0].shape) for p in both.params]
    with pytest.raises(ValueError) as info:
        interpreter.compile(both.diagram)(*args, np.zeros((2, 3)), np.zeros((2, 2)),
                                         np.zeros((2, 7, 2)), np.zeros((2, 6, 1)))
    assert "6 steps, other sequences have 7" in str(info.value)
    assert "Seq(Real(1))" in str(info.value)


def test_a_cotangent_sequence_of_another_length_is_refused():
    args, dys, dhT, _ = problem(t=6)
    with pytest.raises(ValueError) as info:
        bptt(interpreter.compile, elman(N_IN, N).diagram, ordered(args), [dhT, dys[:, 1:]])
    assert "5 steps, other sequences have 6" in str(info.value)
    assert "dtrace⁻" in str(info.value)


def test_an_initial_state_of_the_wrong_shape_is_refused_at_the_call(compiled):
    _, forward, _ = compiled
    args, *_ = problem(t=5)
    with pytest.raises(ValueError) as info:
        forward(*ordered(dict(args, h0=np.zeros((B, N + 1)))))
    message = str(info.value)
    assert "input 3" in message and f"Real({N})" in message and "dtrace" in message
    assert f"({B}, {N + 1})" in message


def stage(s: Real, x: Real):
    return function(s @ x, s @ s)(lambda a, b: (a, a))


@pytest.mark.parametrize("initial", [np.zeros(4), np.zeros((2, 3))])
def test_dtrace_refuses_an_initial_state_of_the_wrong_shape(initial):
    with pytest.raises(ValueError) as info:
        dtrace(stage(Real(3), Real(2)), initial)
    message = str(info.value)
    assert "dtrace" in message and "state wire 0" in message and "Real(3)" in message
    assert str(initial.shape) in message and "(3,)" in message


def test_dtrace_refuses_an_initial_state_of_a_wider_dtype():
    with pytest.raises(TypeError) as info:
        dtrace(stage(Real(3, dtype="float32"), Real(2, dtype="float32")), np.zeros(3))
    assert "dtrace" in str(info.value) and "float64" in str(info.value)


def test_dtrace_refuses_a_stage_whose_state_is_not_in_front():
    x, s = Real(2), Real(3)
    not_in_front = function(x @ s, s @ s)(lambda a, b: (b, b))
    with pytest.raises(TypeError) as info:
        dtrace(not_in_front, s)
    assert "does not begin with the traced state Real(3)" in str(info.value)
    swapped_out = function(s @ x, x @ s)(lambda a, b: (b, a))
    with pytest.raises(TypeError) as info:
        dtrace(swapped_out, np.zeros(3))
    assert "does not begin with the traced state Real(3)" in str(info.value)
    with pytest.raises(TypeError) as info:
        Machine(not_in_front, s)
    assert "does not carry the state Real(3)" in str(info.value)


def test_dtrace_names_the_state_of_the_initial_value_when_it_is_not_in_front():
    x, s = Real(2), Real(3)
    with pytest.raises(TypeError) as info:
        dtrace(function(x @ s, s @ s)(lambda a, b: (b, b)), np.zeros(3))
    message = str(info.value)
    assert "traced state Real(3)" in message or "(3,)" in message


@pytest.mark.parametrize("generator", [Tanh, Sigmoid, Mul, Bias])
def test_an_elementwise_generator_on_a_sequence_wire_is_refused(generator):
    with pytest.raises(TypeError) as info:
        generator(Seq(Real(3)))
    message = str(info.value)
    assert generator.__name__ in message and "Seq(Real(3))" in message
    assert "one step" in message and "machine" in message


def test_a_generator_applied_to_a_sequence_wire_is_refused():
    h = Real(3)
    with pytest.raises(TypeError) as info:
        function(Seq(h), Seq(h))(lambda a: Tanh(h)(a))
    assert "Tanh" in str(info.value) and "argument 0 is Seq(Real(3))" in str(info.value)
    with pytest.raises(TypeError) as info:
        function(Seq(h) @ Seq(h), Seq(h))(lambda a, b: a * b)
    assert "Mul" in str(info.value) and "Seq(Real(3))" in str(info.value)
    with pytest.raises(TypeError, match="Seq"):
        function(Seq(h), Seq(h))(lambda a: a) >> Tanh(h)
