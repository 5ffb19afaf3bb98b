"""Compile a diagram to JAX: jax.numpy source, jitted; loops as ``lax.scan``.

The same plan and passes as the NumPy code generator (:mod:`.codegen`), written
by the same emitters with ``np`` read as ``jax.numpy`` (a :class:`Dialect` that
renames it), so that what runs on an accelerator is what the NumPy code
computes. A loop over time (``categories.stateful.Loop``: a machine, R of it,
its tangent) is one ``lax.scan`` (``reverse=True`` for the backward loop of
BPTT) whose body is the stage's plan: the program and its compile time do not
grow with the number of steps. The backward half of checkpointed BPTT
(``Recompute``) is a reverse scan over segments, each rerun forward from its
stored state by an inner scan and differentiated by an inner reverse scan.

:func:`compile` takes what ``codegen.compile`` takes (``summed``, ``name``,
``arguments``, ``results``) and returns a :class:`Compiled`: ``.source`` is a
module that imports only ``jax`` (and ``math`` from the standard library, where a
helper needs it); ``.function`` is its function under ``jax.jit``. Parameters are arguments, never closed over, so
nothing recompiles when their values change.

Precision: JAX computes in float32 unless 64-bit mode is on. A float64 diagram
compiles only with it on (``jax.config.update("jax_enable_x64", True)`` before
any array is made); otherwise the compiler refuses rather than compute in
float32 silently. Build float32 models (``Real(n, dtype="float32")``,
``dense(…, dtype="float32")``) for accelerators.

>>> import numpy as np
>>> import jax
>>> jax.config.update("jax_enable_x64", True)
>>> from paralens.categories import Real, Sigmoid, cells
>>> from paralens.lenses import R
>>> step = compile(R(Sigmoid(Real(3))).backward)
>>> print(step.source.split("def ")[-1])
diagram(x0, x1):
    v6 = x1 * x0 * (1.0 - x0)
    return v6
<BLANKLINE>
>>> float(step(np.full(3, 0.5), np.ones(3))[0])
0.25
>>> rnn = compile(cells.elman(2, 3).diagram)
>>> print(rnn.source.split("def diagram")[-1])
(x0, x1, x2, x3, x4):
    v15 = x0 if x0.ndim == 2 else jnp.repeat(x0, x4.shape[1], axis=0)
    v19 = x4.reshape((x4.shape[0] * x4.shape[1], 2))
    v20 = v19 @ v15 if v15.ndim == 2 else linear(v15, v19)
    v12 = v20.reshape(x4.shape[:2] + (3,))
<BLANKLINE>
    def v25(v26, v27):
        v28, = v26
        v29, = v27
        v34 = v28 @ x1 if x1.ndim == 2 else linear(x1, v28)
        v37 = jnp.tanh(v29 + v34 + x2)
        return ((v37,), (jnp.broadcast_to(v37, v12.shape[:1] + (3,)),))
    (v13,), (v14,) = scan(v25, (x3,), (v12,), 1)
    v5 = v13
    v6 = v14
    return (v5, v6)
<BLANKLINE>

x Wx, which does not depend on the state, runs on the whole sequence before the scan
(``interpreters.hoist``, as in NumPy); the scan carries the recurrence only.
"""

from __future__ import annotations

import ast

import numpy as np

try:
    import jax
    import jax.numpy as jnp
    from jax import lax
except ImportError as error:       # pragma: no cover - the message is the point
    raise ImportError("paralens.interpreters.jax needs JAX, an optional extra: "
                      "pip install \"paralens[jax]\" (or pip install jax)") from error

from . import codegen, numpy as interpreter
from .codegen import (ARITHMETIC, EMITTERS, HELPERS, INLINE, _same_length, _stacking,
                      hoisted_loop, loop_parts, optimise, stage_plan)
from .plan import RuleTable, flatten, sum_over_batch
from .source import Block, Dialect, _assign, define, dtype_of, py, template

__all__ = ["compile", "Compiled", "JAX", "EMITTERS_JAX", "scan", "enable_x64"]


# -- helpers the emitted code calls (copied into its source) ---------------------------------

def scan(step, carry, xs, states=0, reverse=False, axis=1):
    """``lax.scan`` of ``step`` over the time axis (``axis``) of the sequences ``xs``,
    as NumPy's loop runs it: the carry is settled first to the shapes the steps give
    it (a state or a sum that gains the batch axis at the first step; shapes are
    static, so this is found while tracing), each step's new carry is broadcast to
    them, and the first ``states`` entries of the final carry have the shapes the
    last step gives them. Returns (carry, the stacked outputs, time on ``axis``)."""
    xs = tuple(jnp.moveaxis(x, axis, 0) for x in xs)

    def body(c, x):
        new, ys = step(c, x)
        return tuple(jnp.broadcast_to(n, o.shape).astype(o.dtype) for n, o in zip(new, c)), ys
    steps = xs[0].shape[0] if xs else 0
    first = tuple(x[0] for x in xs) if steps else ()
    last = carry                        # the shapes the last step gives (no steps: the carry)
    for _ in range(len(carry) + 1 if steps else 0):
        last = jax.eval_shape(step, carry, first)[0]
        if all(c.shape == s.shape for c, s in zip(carry, last)):
            break
        carry = tuple(jnp.broadcast_to(c, jnp.broadcast_shapes(c.shape, s.shape))
                      for c, s in zip(carry, last))
    else:
        if steps:                       # settled by the last broadcast: its step's shapes
            last = jax.eval_shape(step, carry, first)[0]
    carry, ys = lax.scan(body, carry, xs, reverse=reverse)
    carry = tuple(c[(0, ) * (c.ndim - len(s.shape))] if k < states else c
                  for k, (c, s) in enumerate(zip(carry, last)))
    return carry, tuple(jnp.moveaxis(y, 0, axis) for y in ys)


# -- the loop over time as lax.scan ---------------------------------------------------------

def _name(text: str) -> ast.Name:
    return ast.Name(text, ast.Load())


def _target(names) -> ast.expr:
    """``a, b, = …`` (a tuple target, even of one name or none)."""
    return ast.Tuple([ast.Name(n, ast.Store()) for n in names], ast.Store())


def _tuple(nodes) -> ast.Tuple:
    return ast.Tuple(list(nodes), ast.Load())


def _function(name: str, params, body) -> ast.FunctionDef:
    return ast.FunctionDef(name, ast.arguments([], [ast.arg(p) for p in params], None, [], [],
                                               None, []), body, [], None, lineno=0)


def _loop(box, args, numbers, outs, read, scope):
    """C ⊗ S ⊗ Seq(X) → S ⊗ Seq(Y) ⊗ Z as one ``lax.scan``: the carry is the state and
    the running sums, the scanned inputs the sequences (time-major views), the
    stacked outputs the per-step Y (broadcast to the batch, as NumPy's stacking
    does); ``reverse`` runs the steps last to first. The carry's shapes are settled
    while tracing (:func:`scan`)."""
    split = hoisted_loop(box, args, numbers, outs, read, scope)
    if split is not None:               # its stateless parts run on whole sequences
        return split
    (nC, nS, consts, initial, seqs, states, ys, sums, snaps, used_ys, used_sums, used_snaps,
     timed) = loop_parts(box, args, numbers, outs, read)
    plan = stage_plan(box, used_ys, used_sums)
    first = seqs[timed[0]]
    before = [_same_length(box, k, seqs[k], first) for k in timed[1:]]

    step, carry, xs = scope.temporary(), scope.temporary(), scope.temporary()
    inner_state = [scope.temporary() for _ in range(nS)]
    inner_sums = [scope.temporary() for _ in used_sums]
    inner_xs = [scope.temporary() for _ in timed]
    inputs = list(consts) + [_name(s) for s in inner_state]
    slices = iter(inner_xs)
    for x, number in zip(seqs, numbers[nC + nS:]):
        inputs.append(x if number else _name(next(slices)))
    numbered = {k for k, number in enumerate(numbers) if number and not nC <= k < nC + nS}
    body, returned = scope.body(plan, inputs, scope.reserve(len(plan.wires)), numbered)
    new_state = returned[:nS]
    batch = py("x.shape[:1]", x=first)
    same, _ = _stacking(plan, box, used_ys)     # a y of the same value as an earlier one
    stacked = []
    for k, expr in zip(used_ys, returned[nS:nS + len(used_ys)]):
        if k in same:
            continue
        shape = box.ys.inside[k].shape
        stacked.append(py("np.broadcast_to(y, batch + shape)", y=expr, batch=batch, shape=shape))
    added = [py("a + z", a=_name(a), z=z) for a, z in zip(inner_sums, returned[nS + len(used_ys):])]
    statements = [_assign_tuple(inner_state + inner_sums, _name(carry)),
                  _assign_tuple(inner_xs, _name(xs))] + body
    statements.append(ast.Return(_tuple([_tuple(list(new_state) + added), _tuple(stacked)])))
    function = _function(step, [carry, xs], statements)

    zeros = [py("np.zeros(shape, dtype=dtype)", shape=box.sums.inside[k].shape,
                dtype=dtype_of(box.sums.inside[k].dtype)) for k in used_sums]
    start = _tuple(list(initial) + zeros)
    stacked_ys = [ys[k] for k in used_ys if k not in same]
    carried = _target(states + [sums[k] for k in used_sums])
    if used_snaps:                      # the state stored every k steps: a scan over segments
        functions, after = _segmented(box, scope, step, start, [seqs[k] for k in timed],
                                      [box.xs.inside[k] for k in timed], first,
                                      carried, stacked_ys, [snaps[j] for j in used_snaps],
                                      used_snaps, before)
    else:
        functions = []
        call = py("scan(f, c, xs, n)", f=_name(step), c=start,
                  xs=_tuple([seqs[k] for k in timed]), n=nS)
        if box.reverse:
            call.keywords.append(ast.keyword("reverse", ast.Constant(True)))
        after = [ast.Assign([ast.Tuple([carried, _target(stacked_ys)], ast.Store())], call,
                            lineno=0)]
    after += [_assign([ys[k]], _name(ys[earlier])) for k, earlier in same.items()]
    return before + [function] + functions + after


def _segments(a, rank: int, pad, n, k) -> ast.expr:
    """A sequence (batch, T, …) as (segments, k, batch, …), padded with zeros to n·k steps."""
    return py("np.pad(np.swapaxes(a, 0, 1), ((0, p),) + ((0, 0),) * r)"
              ".reshape((n, k) + a.shape[:1] + a.shape[2:])", a=a, p=pad, r=rank + 1, n=n, k=k)


def _segmented(box, scope, step, start, seqs, wires, first, carried, stacked, snaps,
               used_snaps, before) -> tuple:
    """A forward loop that stores its state before every k-th step, as a scan over the
    segments of k steps (the sequences padded to whole segments, the padded steps
    leaving the carry as it was) whose carry at each segment's start is the stored
    state: memory O(T/k) for the stored states, as NumPy's loop."""
    nS, k = len(box.state), box.snapshots
    T, n, pad = scope.temporary(), scope.temporary(), scope.temporary()
    before += [_assign([T], py("x.shape[1]", x=first)),
               _assign([n], py("-(-T // k)", T=_name(T), k=k)),
               _assign([pad], py("n * k - T", n=_name(n), k=k, T=_name(T)))]
    masked, mc, mx = scope.temporary(), scope.temporary(), scope.temporary()
    new, ys = scope.temporary(), scope.temporary()
    masked_step = _function(masked, [mc, mx], [
        ast.Assign([ast.Tuple([ast.Name(new, ast.Store()), ast.Name(ys, ast.Store())],
                              ast.Store())],
                   py("f(c, x[:-1])", f=_name(step), c=_name(mc), x=_name(mx)), lineno=0),
        ast.Return(py("(tuple(np.where(x[-1], a, b) for a, b in zip(new, c)), ys)",
                      x=_name(mx), new=_name(new), c=_name(mc), ys=_name(ys)))])
    seg, sc, sx, inner, inner_ys = (scope.temporary() for _ in range(5))
    batch = py("x.shape[:1]", x=first)
    stored = [py("np.broadcast_to(c[j], batch + shape)", c=_name(sc), j=j, batch=batch,
                 shape=box.state.inside[j].shape) for j in used_snaps]
    segment_step = _function(seg, [sc, sx], [
        ast.Assign([ast.Tuple([ast.Name(inner, ast.Store()), ast.Name(inner_ys, ast.Store())],
                              ast.Store())],
                   py("scan(f, c, xs, s, axis=0)", f=_name(masked), c=_name(sc), xs=_name(sx),
                      s=nS), lineno=0),
        ast.Return(_tuple([_name(inner), py("ys + stored", ys=_name(inner_ys),
                                            stored=_tuple(stored))]))])
    scanned = [_segments(x, len(w.shape), _name(pad), _name(n), k) for x, w in zip(seqs, wires)]
    scanned.append(py("(np.arange(n * k) < T).reshape(n, k)", n=_name(n), k=k, T=_name(T)))
    call = py("scan(f, c, xs, s, axis=0)", f=_name(seg), c=start, xs=_tuple(scanned), s=nS)
    after = [ast.Assign([ast.Tuple([carried, _target(stacked + snaps)], ast.Store())], call,
                        lineno=0)]
    for name in stacked:
        after.append(_assign([name], py("np.swapaxes(y.reshape((-1,) + y.shape[2:])[:T], 0, 1)",
                                        y=_name(name), T=_name(T))))
    for name in snaps:
        after.append(_assign([name], py("np.swapaxes(s, 0, 1)", s=_name(name))))
    return [masked_step, segment_step], after


def _assign_tuple(names, value) -> ast.Assign:
    return ast.Assign([_target(names)], value, lineno=0)




# -- the backward half of checkpointed BPTT: a reverse scan over segments -------------------

def _recompute(box, args, numbers, outs, read, scope):
    """C ⊗ Seq(X) ⊗ Seq(S)ₖ ⊗ S′ ⊗ Seq(Y′) ⊗ Z′ → C′ ⊗ S′ ⊗ Seq(X′): a reverse scan
    over the segments of ``every`` steps (the sequences padded to whole segments, the
    padded steps masked out), each segment rerun forward from its stored state by an
    inner scan of ``keeping`` that stacks the residuals, then differentiated by an
    inner reverse scan of ``backward``; only one segment's residuals are live at a
    time (memory O(T/k + k))."""
    C, S, X, Y = len(box.consts), len(box.state), len(box.xs), len(box.ys)
    c, xs = list(args[:C]), list(args[C:C + X])
    snaps, ds, dys, dz = (args[C + X:C + X + S], args[C + X + S:C + X + 2 * S],
                          args[C + X + 2 * S:C + X + 2 * S + Y], args[C + X + 2 * S + Y:])
    n_xs, n_ds, n_dys = (numbers[C:C + X], numbers[C + X + S:C + X + 2 * S],
                         numbers[C + X + 2 * S:C + X + 2 * S + Y])
    dc_out, ds_out, dx_out = outs[:C], outs[C:C + S], outs[C + S:]
    timed = [a for a, n in zip(xs + dys, n_xs + n_dys) if not n]
    if not timed:
        raise ValueError(f"{box.name}: none of its inputs is a sequence, so the number of "
                         f"steps is unknown")
    first, every = timed[0], box.every
    nM = len(box.kept)
    keeping = _stage(flatten(box.keeping), range(S + nM))
    used_dx = [k for k in range(X) if read[C + S + k]]     # the others are not computed
    backward = _stage(sum_over_batch(flatten(box.backward), box.batch_summed),
                      list(range(C + S)) + [C + S + k for k in used_dx])
    statements = [_same_length(box, k, a, first) for k, a in enumerate(xs)
                  if not n_xs[k] and a is not first]
    T, n, pad = scope.temporary(), scope.temporary(), scope.temporary()
    statements += [_assign([T], py("x.shape[1]", x=first)),
                   _assign([n], py("-(-T // k)", T=_name(T), k=every)),
                   _assign([pad], py("n * k - T", n=_name(n), k=every, T=_name(T)))]

    def segments(a, shape):
        return _segments(a, len(shape), _name(pad), _name(n), every)

    # the forward rerun of one step: carry the state, stack the residuals Mv
    fwd, fc, fx = scope.temporary(), scope.temporary(), scope.temporary()
    f_state = [scope.temporary() for _ in range(S)]
    f_x = [scope.temporary() for k in range(X) if not n_xs[k]]
    fx_iter = iter(f_x)
    inputs = c + [_name(s) for s in f_state] + [a if num else _name(next(fx_iter))
                                                for a, num in zip(xs, n_xs)]
    numbered = {k for k, a in enumerate(inputs) if k < C and numbers[k]} | \
        {C + S + k for k in range(X) if n_xs[k]}
    body, returned = scope.body(keeping, inputs, scope.reserve(len(keeping.wires)), numbered)
    batch = py("x.shape[:1]", x=first)
    kept = [py("np.broadcast_to(m, batch + shape)", m=m, batch=batch, shape=w.shape)
            for m, w in zip(returned[S:S + nM], box.kept.inside)]
    forward_step = _function(fwd, [fc, fx], [_assign_tuple(f_state, _name(fc)),
                                              _assign_tuple(f_x, _name(fx))] + body
                             + [ast.Return(_tuple([_tuple(returned[:S]), _tuple(kept)]))])

    # one backward step: carry (S′, C′ running), per step (Mv, X, Y′, valid)
    bwd, bc, bx = scope.temporary(), scope.temporary(), scope.temporary()
    b_ds = [scope.temporary() for _ in range(S)]
    b_dc = [scope.temporary() for _ in range(C)]
    b_mv = [scope.temporary() for _ in range(nM)]
    b_x = [scope.temporary() for k in range(X) if not n_xs[k]]
    b_dy = [scope.temporary() for k in range(Y) if not n_dys[k]]
    valid = scope.temporary()
    bx_iter, bdy_iter = iter(b_x), iter(b_dy)
    step_xs = [a if num else _name(next(bx_iter)) for a, num in zip(xs, n_xs)]
    m = [c[i] if kind == "c" else step_xs[i] if kind == "x" else _name(b_mv[i])
         for kind, i in box.source]
    m_numbers = [numbers[i] if kind == "c" else n_xs[i] if kind == "x" else False
                 for kind, i in box.source]
    inputs = m + [_name(s) for s in b_ds] + [a if num else _name(next(bdy_iter))
                                             for a, num in zip(dys, n_dys)] + list(dz)
    numbered = {k for k, num in enumerate(m_numbers) if num}
    numbered |= {len(m) + S + k for k in range(Y) if n_dys[k]}
    numbered |= {len(m) + S + Y + k for k in range(len(dz)) if numbers[C + X + 2 * S + Y + k]}
    body, returned = scope.body(backward, inputs, scope.reserve(len(backward.wires)), numbered)
    grads, new_ds, dx = returned[:C], returned[C:C + S], returned[C + S:]
    keep = _name(valid)
    new_ds = [py("np.where(v, d, o)", v=keep, d=d, o=_name(o)) for d, o in zip(new_ds, b_ds)]
    new_dc = [py("a + np.where(v, g, 0.0)", a=_name(a), v=keep, g=g) for a, g in zip(b_dc, grads)]
    dx = [py("np.broadcast_to(d, batch + shape)", d=d, batch=batch, shape=box.xs.inside[k].shape)
          for d, k in zip(dx, used_dx)]
    backward_step = _function(bwd, [bc, bx], [
        _assign_tuple(b_ds + b_dc, _name(bc)),
        _assign_tuple(b_mv + b_x + b_dy + [valid], _name(bx))] + body
        + [ast.Return(_tuple([_tuple(new_ds + new_dc), _tuple(dx)]))])

    # one segment, last first: rerun it, then its steps backward
    seg, sc, sx = scope.temporary(), scope.temporary(), scope.temporary()
    s_snap = [scope.temporary() for _ in range(S)]
    s_x = [scope.temporary() for _ in b_x]
    s_dy = [scope.temporary() for _ in b_dy]
    s_valid, s_mv, s_dx = scope.temporary(), scope.temporary(), scope.temporary()
    rerun = py("scan(f, s, xs, n, axis=0)", f=_name(fwd), s=_tuple([_name(a) for a in s_snap]),
               xs=_tuple([_name(a) for a in s_x]), n=S)
    inner = _tuple([_name(a) for a in s_x + s_dy] + [_name(s_valid)])
    inner = py("mv + rest", mv=_name(s_mv), rest=inner)
    differentiate = py("scan(f, c, xs, s, reverse=True, axis=0)", f=_name(bwd),
                       c=_name(sc), xs=_name("INNER"), s=S)
    segment_step = _function(seg, [sc, sx], [
        _assign_tuple(s_snap + s_x + s_dy + [s_valid], _name(sx)),
        ast.Assign([ast.Tuple([ast.Name("_", ast.Store()), ast.Name(s_mv, ast.Store())],
                              ast.Store())], rerun, lineno=0),
        _assign([s_dx], inner),
        ast.Return(_replace(differentiate, "INNER", _name(s_dx)))])

    # the outer reverse scan over segments
    ds0 = [py("np.full(shape, value, dtype=dtype)", shape=w.shape, value=a,
              dtype=dtype_of(w.dtype)) if num else a
           for a, w, num in zip(ds, box.state.inside, n_ds)]
    dc0 = [py("np.zeros(shape, dtype=dtype)", shape=w.shape, dtype=dtype_of(w.dtype))
           for w in box.consts.inside]
    seq_in = [py("np.swapaxes(s, 0, 1)", s=s) for s in snaps]  # time-major
    seq_in += [segments(a, w.shape) for a, w, num in zip(xs, box.xs.inside, n_xs) if not num]
    seq_in += [segments(a, w.shape) for a, w, num in zip(dys, box.ys.inside, n_dys) if not num]
    seq_in.append(py("(np.arange(n * k) < T).reshape(n, k)", n=_name(n), k=every, T=_name(T)))
    call = py("scan(f, c, xs, s, reverse=True, axis=0)", f=_name(seg), c=_tuple(ds0 + dc0),
              xs=_tuple(seq_in), s=S)
    stacked = [scope.temporary() for _ in used_dx]
    statements += [forward_step, backward_step, segment_step,
                   ast.Assign([ast.Tuple([_target(list(ds_out) + list(dc_out)), _target(stacked)],
                                         ast.Store())], call, lineno=0)]
    for name, a in zip([dx_out[k] for k in used_dx], stacked):
        statements.append(_assign([name], py(
            "np.swapaxes(d.reshape((-1,) + d.shape[2:])[:T], 0, 1)", d=_name(a), T=_name(T))))
    return statements


def _replace(node, old: str, new: ast.expr):
    """node with the name ``old`` replaced by ``new``."""
    for parent in ast.walk(node):
        for field, value in ast.iter_fields(parent):
            if isinstance(value, ast.Name) and value.id == old:
                setattr(parent, field, new)
            elif isinstance(value, list):
                for k, v in enumerate(value):
                    if isinstance(v, ast.Name) and v.id == old:
                        value[k] = new
    return node


def _stage(plan, outputs):
    """A sub-diagram's plan with only ``outputs`` kept, optimised."""
    from .plan import Plan
    plan = Plan(plan.inputs, plan.equations, tuple(plan.outputs[k] for k in outputs),
                plan.wires, plan.consumers)
    return optimise(plan)


# -- the dialect and the compiler ------------------------------------------------------------

EMITTERS_JAX = RuleTable("JAX emitters", dict(EMITTERS))
EMITTERS_JAX.update({"Loop": Block(_loop), "Recompute": Block(_recompute),
                     # one lax.logistic, which XLA fuses with its producer (a bias add);
                     # NumPy's 0.5 + 0.5·tanh(x/2) compiles to two fusions a layer
                     "Sigmoid": template("jax.nn.sigmoid(x)", "x")})

JAX = Dialect(EMITTERS_JAX, INLINE, ARITHMETIC, {"Constant", "Zero"},
              dict(HELPERS, scan=scan), title="JAX only",
              imports=("import jax", "import jax.numpy as jnp", "from jax import lax"),
              rename={"np": "jnp"}, modules=("jax", "jnp", "lax"), frees=False)


def enable_x64():
    """Turn on JAX's 64-bit mode (float64 diagrams need it; do it before making arrays)."""
    jax.config.update("jax_enable_x64", True)


_WIDE = {"float64", "int64", "uint64", "complex128"}


def _check_precision(plan, diagram):
    """Refuse a diagram JAX would compute in another precision than its wires say."""
    if jax.config.jax_enable_x64:
        return
    for wire in plan.wires:
        if str(wire.dtype) in _WIDE:
            raise TypeError(
                f"this diagram computes in {wire.dtype} (its wire {wire!r} among others), but "
                f"JAX is in 32-bit mode and would compute it in 32 bits; turn on 64-bit mode "
                f"first (jax.config.update(\"jax_enable_x64\", True), or "
                f"paralens.interpreters.jax.enable_x64()), or build the model in float32")


class Compiled(codegen.Compiled):
    """A diagram compiled to JAX source, jitted; calling it checks the inputs first
    (shapes and dtypes, as ``codegen.Compiled`` does, without moving arrays already on
    a device). ``function``: the jitted function; ``python``: the plain one (to jit
    yourself, with other options); ``source``; ``arguments``, ``results``,
    ``signature`` as in ``codegen.Compiled``."""

    dialect = JAX

    def __init__(self, diagram, summed=(), name: str = "diagram", *, arguments=None,
                 results=None, donate=()):
        self._donate = tuple(donate)
        super().__init__(diagram, summed, name, arguments=arguments, results=results)

    def _check_plan(self, diagram):
        for wire in self.plan.wires:
            if wire.kind == "Bool":
                raise TypeError(f"{wire!r}: JAX compiles diagrams of Real wires (circuits "
                                f"run bit-sliced: paralens.interpreters.bitsliced)")
        _check_precision(self.plan, diagram)

    def _define(self, source: str, name: str):
        self.python = define(source, name)
        return jax.jit(self.python, donate_argnums=self._donate)

    def check(self, args) -> list:
        """The inputs checked against the wires (:func:`numpy.check_inputs`): a JAX array
        by its shape and dtype alone (it stays where it is), anything else as NumPy
        reads it."""
        stand_ins = [np.broadcast_to(np.zeros((), a.dtype), a.shape)
                     if isinstance(a, jax.Array) else a for a in args]
        checked = interpreter.check_inputs(self.plan, self.diagram.dom, stand_ins, self._names)
        return [a.astype(c.dtype) if isinstance(a, jax.Array) and a.dtype != c.dtype
                else a if isinstance(a, jax.Array) else c for a, c in zip(args, checked)]

    def __call__(self, *args):
        return self.function(*self.check(args))


def compile(diagram, summed=(), name: str = "diagram", *, arguments=None,
            results=None) -> Compiled:
    """Compile a diagram to JAX (jax.numpy source under ``jax.jit``), with
    ``codegen.compile``'s options: ``summed`` (outputs summed over the batch),
    ``name``, ``arguments``, ``results`` (the wires' names)."""
    return Compiled(diagram, summed, name, arguments=arguments, results=results)


# -- training on devices ---------------------------------------------------------------------

class Devices:
    """Where a :class:`~paralens.interpreters.training.Trainer` keeps training (its
    ``devices``; its ``step_function`` is then :meth:`step`'s, which returns the
    outputs and a finite flag and donates its first inputs): on one
    device, or on several with the batch axis sharded over them and the parameters
    and optimiser state replicated (data parallel: the batch sums of the parameters'
    cotangents become XLA's cross-device reductions, so the sharded step is the
    single-device step). Values stay on the devices between steps (their buffers
    donated to the next step); the trainer fetches them every ``sync`` steps.

    >>> Devices().devices == jax.devices()[:1]
    True
    """

    #: steps between the trainer's reads of the devices (the losses, the finite flags)
    sync = 50

    def __init__(self, devices=None):
        from jax.sharding import Mesh, NamedSharding, PartitionSpec
        devices = jax.devices()[:1] if devices is None else list(devices)
        if not devices or not all(isinstance(d, jax.Device) for d in devices):
            raise TypeError(f"devices: a non-empty list of JAX devices (jax.devices()), got "
                            f"{devices!r}")
        self.devices = devices
        self.mesh = Mesh(np.array(devices), ("batch", ))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.batched = NamedSharding(self.mesh, PartitionSpec("batch"))

    def __repr__(self):
        return f"Devices({self.devices!r})"

    def step(self, diagram, kept: int, batched_in=(), batched_out=()):
        """The jitted step of a learner's diagram: (its outputs, whether the first
        ``kept`` of them, the new optimiser state and parameters, are all finite),
        those inputs donated; inputs and outputs at ``batched_in``/``batched_out``
        sharded over the batch, the others replicated."""
        python = Compiled(diagram).python

        def step(*args):
            out = python(*args)
            out = out if isinstance(out, tuple) else (out, )
            flags = [jnp.all(jnp.isfinite(v)) for v in out[:kept]]
            return out, jnp.all(jnp.stack(flags)) if flags else jnp.bool_(True)
        ins = tuple(self.batched if k in batched_in else self.replicated
                    for k in range(len(diagram.dom)))
        outs = (tuple(self.batched if k in batched_out else self.replicated
                      for k in range(len(diagram.cod))), self.replicated)
        return jax.jit(step, in_shardings=ins, out_shardings=outs,
                       donate_argnums=tuple(range(kept)))

    def check_batch(self, n: int, what: str = "the batch"):
        """Refuse a batch the devices cannot share equally."""
        k = len(self.devices)
        if n % k:
            raise ValueError(f"{what} has {n} examples, which the {k} devices cannot share "
                             f"equally: use a batch size that is a multiple of {k}")

    def put(self, arrays, batched: bool = False) -> list:
        """Arrays on the devices: sharded over the batch, or replicated."""
        return [jax.device_put(a, self.batched if batched else self.replicated) for a in arrays]

    @staticmethod
    def get(values):
        """Values from the devices, as NumPy arrays (one transfer for all)."""
        return jax.device_get(values)


compile.backend = Devices
