"""DisCoPy's feedback syntax translated into machines and run by our NumPy loop,
against DisCoPy's own stream semantics, the Fibonacci recurrence, a shift by
hand and the independent Elman oracle (tests/rnn_reference.py)."""

import numpy as np
import pytest
from discopy import python, stream
from discopy.feedback import Box, Copy, Diagram, FollowedBy, Functor, Swap, Ty

from paralens.categories import Add, Bias, Linear, Para, Param, Real, Tanh, delay, function
from paralens.categories.feedback import FeedbackFunctor, from_feedback
from paralens.interpreters.numpy import compile

from rnn_reference import elman_forward

X = Ty('X')
fby, wait = FollowedBy(X), Swap(X, X.d).feedback()
zero, one = Box('zero', Ty(), X.head), Box('one', Ty(), X.head)
copy, plus = Copy(X), Box('plus', X @ X, X)


@Diagram.feedback
@Diagram.from_callable(X.d, X @ X)
def fib(x):                             # DisCoPy's doctest, word for word
    y = fby(zero(), plus.d(fby.d(one.d(), wait.d(x)), x))
    return (y, y)


fib_ = (copy.d >> one.d @ wait.d @ X.d
               >> fby.d @ X.d
               >> plus.d
               >> zero @ X.d
               >> fby >> copy).feedback()

OURS = FeedbackFunctor(ob={X: Real()}, ar={zero: 0.0, one: 1.0, plus: Add(Real())})


def run(m, xs, params=None):
    """The output sequences of a machine, by the NumPy interpreter (one Loop box)."""
    params = params or {}
    out = compile(m.diagram)(*[params[p] for p in m.params], *m.initial, *xs)
    out = out if isinstance(out, tuple) else (out, )
    return out[len(m.state):]


def clock(steps):
    return [np.zeros((1, steps, 0))]


@pytest.mark.parametrize("diagram", [fib, fib_], ids=["traced", "layered"])
def test_the_fibonacci_doctest_run_by_our_loop(diagram):
    (ys, ) = run(OURS(diagram), clock(10))
    assert ys.ravel().tolist() == [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]


def test_three_hundred_steps_follow_the_recurrence():
    (ys, ) = run(OURS(fib), clock(300))
    y = ys.ravel()
    assert y[0] == 0 and y[1] == 1
    assert np.array_equal(y[2:], y[1:-1] + y[:-2])           # the recurrence, every step
    exact = [0, 1]
    while len(exact) < 300:
        exact.append(exact[-1] + exact[-2])
    assert [int(v) for v in y[:79]] == exact[:79]             # exact while float64 is
    np.testing.assert_allclose(y, np.array(exact, dtype=float), rtol=1e-15)


def test_agrees_with_discopys_stream_semantics_up_to_20():
    cod = stream.Category(python.Ty, python.Function)
    F = Functor(
        ob={X: int},
        ar={zero: cod.ar.singleton(python.Function(lambda: 0, (), int)),
            one: cod.ar.singleton(python.Function(lambda: 1, (), int)),
            plus: lambda x, y: x + y}, cod=cod)
    (ys, ) = run(OURS(fib), clock(21))
    ours = [int(v) for v in ys.ravel()]
    for n in range(21):
        theirs = F(fib).unroll(n).now()[:n + 1]
        assert tuple(ours[:n + 1]) == theirs, n
    assert F(fib).unroll(9).now()[:10] == (0, 1, 1, 2, 3, 5, 8, 13, 21, 34)


@pytest.mark.parametrize("wire", [Real(), Real(3)])
def test_wait_is_the_one_step_delay(wire):
    m = from_feedback(wait, ob={X: wire}, ar={})
    assert (m.dom, m.cod, m.state) == (wire, wire, wire)
    xs = np.random.default_rng(0).normal(size=(2, 7) + wire.inside[0].shape)
    (ys, ) = run(m, [xs])
    np.testing.assert_array_equal(ys[:, 1:], xs[:, :-1])      # by hand: x at t − 1 …
    np.testing.assert_array_equal(ys[:, 0], 0 * xs[:, 0])     # … after the fill value
    np.testing.assert_array_equal(ys, run(delay(wire), [xs])[0])
    (filled, ) = run(from_feedback(wait, ob={X: wire}, ar={}, fill=-1.0), [xs])
    assert np.all(filled[:, 0] == -1.0)


def test_an_elman_network_written_as_a_feedback_diagram():
    """h_t = tanh(x_t Wx + h_{t−1} Wh + b), the memory started by FollowedBy(H)."""
    I, H = Ty('I'), Ty('H')
    h0, cell = Box('h0', Ty(), H.head), Box('cell', I @ H, H)
    rnn = (I @ h0 @ H.d >> I @ FollowedBy(H) >> cell >> Copy(H)).feedback()
    n_in, n = 3, 4
    x, h = Real(n_in), Real(n)
    Wx, Wh, b = Param(Real(n_in, n), "Wx"), Param(Real(n, n), "Wh"), Param(h, "b")

    @function(Wx.ty @ Wh.ty @ b.ty @ x @ h, h)
    def step(wx, wh, bias, a, s):
        return Tanh(h)(Bias(h)(bias, Linear(n_in, n)(wx, a) + Linear(n, n)(wh, s)))
    rng = np.random.default_rng(1)
    start = rng.normal(size=n)
    m = from_feedback(rnn, ob={I: x, H: h}, ar={h0: start, cell: Para((Wx, Wh, b), step)})
    values = {p: rng.normal(size=p.ty.inside[0].shape) / 2 for p in (Wx, Wh, b)}
    xs = rng.normal(size=(5, 9, n_in))
    (ys, ) = run(m, [xs], values)
    expected, _ = elman_forward(values[Wx], values[Wh], values[b], np.tile(start, (5, 1)), xs)
    np.testing.assert_allclose(ys, expected, rtol=1e-12, atol=1e-14)


# --- bad input: a clear error naming the wire or the box --------------------------------

def test_a_feedback_without_a_delay_on_its_memory_is_refused_or_filled():
    """DisCoPy's own example shape, Box('f', x @ m.d, y @ m).feedback(): f reads its
    memory m.d at step 0, where it has no value. Refused, naming box and wire; with
    fill=0 it is read through δ⁰ (zero at step 0, then the previous memory)."""
    f = Box('f', X @ X.d, X @ X)
    add = function(Real() @ Real(), Real() @ Real())(lambda a, m: (a + m, a + m))
    with pytest.raises(ValueError, match=r"box f acts at step 0 but reads X\.d, the memory "
                                         r"of \(f\)\.feedback\(\), which has no value"):
        from_feedback(f.feedback(), ob={X: Real()}, ar={f: add})
    m = from_feedback(f.feedback(), ob={X: Real()}, ar={f: add}, fill=0.0)
    xs = np.arange(1.0, 7.0)[None]
    (ys, ) = run(m, [xs])
    assert ys.ravel().tolist() == np.cumsum(xs).tolist()      # the running sum, by hand


def test_sliding_holds_under_the_translation():
    """DisCoPy's sliding law, (f ; y ⊗ h).feedback() ~ (x ⊗ h.d ; f).feedback(): with no
    initial value in the feedback (the fill value stands for DisCoPy's empty memory)
    both sides are the same stream (reference §7; the delayed trace's dinaturality
    fails only through its initial value)."""
    M, N = Ty('M'), Ty('N')
    h, f = Box('h', M, N), Box('f', X @ N.d, X @ M)
    lhs, rhs = (f >> X @ h).feedback(), (X @ h.d >> f).feedback()
    r = Real()

    @function(r @ r, r @ r)
    def f_(a, n):
        return a * n + a, Tanh(r)(a - n)
    ar = {h: function(r, r)(lambda m: 2 * m + 1), f: f_}
    ob = {X: r, M: r, N: r}
    xs = [np.random.default_rng(2).normal(size=(3, 8))]
    (left, ), (right, ) = (run(from_feedback(d, ob, ar, fill=0.0), xs) for d in (lhs, rhs))
    np.testing.assert_allclose(left, right, rtol=1e-13)
    a, out, n = xs[0], [], np.zeros(3)                          # by hand
    for t in range(8):
        out.append(a[:, t] * n + a[:, t])
        n = 2 * np.tanh(a[:, t] - n) + 1
    np.testing.assert_allclose(left, np.stack(out, axis=1), rtol=1e-13)


def test_the_algebraic_loop_guard():
    """DisCoPy's types put a register on every loop; a reading built by hand, with a
    box reading its memory at the same step, shows the guard that refuses the rest."""
    from paralens.categories.adapter import StreamNode, StreamReading, StreamWire
    x0 = StreamWire(X, 0, False, "X")
    f = Box('f', X @ X, X @ X)
    body = StreamReading((x0, x0), (x0, x0),
                         (StreamNode("box", f, "f", 0, (x0, x0), (x0, x0)), ), "f")
    loop = StreamReading((x0, ), (x0, ), (StreamNode("feedback", None, "(f).feedback()", 0,
                                                     (x0, ), (x0, ), body=body, mem=1), ), "")
    add = function(Real() @ Real(), Real() @ Real())(lambda a, m: (a + m, a + m))
    with pytest.raises(ValueError, match=r"memory X of \(f\)\.feedback\(\) reaches its own "
                                         r"input at the same step through the box f"):
        FeedbackFunctor({X: Real()}, {f: add}).translate(loop)


def test_a_missing_type_or_box_is_named():
    with pytest.raises(TypeError, match="no type for the wire X"):
        from_feedback(fib_, ob={}, ar={zero: 0.0, one: 1.0, plus: Add(Real())})
    with pytest.raises(TypeError, match="gives nothing for the box plus"):
        from_feedback(fib_, ob={X: Real()}, ar={zero: 0.0, one: 1.0})
    with pytest.raises(TypeError, match=r"plus.* is Real\(\) @ Real\(\) → Real\(\) .* gives it"):
        from_feedback(fib_, ob={X: Real()}, ar={zero: 0.0, one: 1.0, plus: Add(Real(2))})
