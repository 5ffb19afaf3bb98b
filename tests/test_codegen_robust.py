"""The code generator never emits broken source.

Generated modules for large random diagrams and learners (deep chains, wide
fans, repeated and non-finite constants) parse, run and equal the NumPy
interpreter (or, for circuits, the per-example Boolean interpreter), bit for
bit where every pass is exact. The function's name is checked before any code
is built. The helpers exist once, in ``paralens.interpreters.runtime``.
"""

from __future__ import annotations

import ast
import builtins
import functools
import inspect
import math
import operator
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paralens.categories import (
    Add, And, Bits, Bool, Constant, Cos, Diagram, Exp, Generator, Linear, Mul, Neg, One, Para, Real, Relu,
    Scale, Sigmoid, Sin, Softmax, Step, SumBatch, Tanh, VoteBatch, Xor, Zero, copy, dense,
    function)
from paralens.interpreters import (bitsliced, boolean, circuit, codegen, numpy as interpreter, runtime,
                          source)
from paralens.interpreters.cli import main
from paralens.lenses import R
from paralens.lenses.learner import Learner
from paralens.lenses.losses import mse, softmax_cross_entropy
from paralens.lenses.optimisers import GD, Adagrad, Adam, Momentum, Nesterov

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.data_too_large])
NAN, INF = float("nan"), float("inf")


def as_tuple(x):
    return x if isinstance(x, tuple) else (x, )


def random_inputs(d, seed=0, batch=5):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, *w.shape)).astype(w.dtype) for w in d.dom.inside]


def function_of(step) -> ast.FunctionDef:
    tree = ast.parse(step.source)              # the source parses
    return next(s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == step.name)


def depth(node) -> int:
    children = [c for c in ast.iter_child_nodes(node) if not isinstance(c, ast.expr_context)]
    return 1 + max(map(depth, children), default=0)


def assert_well_formed(step):
    """The emitted function: bounded expressions, no expression computed twice in a
    statement, and each temporary deleted right after the statement that last reads it."""
    fn = function_of(step)
    returned = {n.id for n in ast.walk(fn.body[-1]) if isinstance(n, ast.Name)}
    last_read, deleted = {}, {}
    for k, statement in enumerate(fn.body):
        if isinstance(statement, ast.Delete):
            for target in statement.targets:
                assert target.id not in deleted, f"{target.id} deleted twice"
                deleted[target.id] = k
            continue
        value = statement.value
        assert depth(value) <= source.MAX_DEPTH + 1, ast.unparse(statement)
        work = [ast.dump(n) for n in ast.walk(value)
                if isinstance(n, (ast.BinOp, ast.Call, ast.Compare, ast.Subscript))]
        assert len(work) == len(set(work)), f"computed twice: {ast.unparse(statement)}"
        for n in ast.walk(value):
            if isinstance(n, ast.Name):
                assert n.id not in deleted, f"{n.id} read after its del: {ast.unparse(statement)}"
                last_read[n.id] = k
    temporaries = {t.id for s in fn.body if isinstance(s, ast.Assign)
                   for t in ast.walk(s.targets[0]) if isinstance(t, ast.Name)}
    for name in temporaries - returned:
        if name in last_read:
            assert deleted.get(name) == last_read[name] + 1, f"{name} not freed after its last use"


def assert_same(d, summed=(), seed=0, batch=5, exact=True):
    """The compiled diagram equals the NumPy interpreter: bit for bit (NaN where it
    gives NaN), or to 1e-12 where a pass reassociates products of constants."""
    args = random_inputs(d, seed, batch)
    step = codegen.compile(d, summed=summed)
    assert_well_formed(step)
    with np.errstate(all="ignore"):
        expected = as_tuple(interpreter.compile(d, summed=summed)(*args))
        got = as_tuple(step(*args))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        g = np.asarray(g)
        assert g.dtype == e.dtype
        g = np.broadcast_to(g, np.shape(e))
        if exact:
            np.testing.assert_array_equal(g, e)
        else:
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12, equal_nan=True)
    return step


# -- random diagrams of up to 2,000 boxes -------------------------------------------------

X = Real(3)
NUMBERS = [0.5, -1.0, 2.0, 0.0, -0.0, NAN, INF, -INF]      # products of these are exact
NONLINEAR = [Tanh(X), Sigmoid(X), Sin(X), Cos(X), Exp(X), Relu(X), Step(X)]


def block(kind, c, f):
    """A diagram X → X. Those that end in a scaling end with a negation too, so two
    scalings never meet (c·(d·x) ↦ (c·d)·x is the one pass that may round)."""
    i = Diagram.id(X)
    return {
        "f": f,
        "neg": Neg(X),
        "scale": Scale(c, X) >> Neg(X),
        "square": copy(X) >> Mul(X),
        "double": copy(X) >> Add(X) >> Neg(X),                   # a + a ↦ 2·a
        "by constant": Constant(c, X) @ i >> Mul(X) >> Neg(X),    # c ⊙ x ↦ c·x
        "plus constant": Constant(c, X) @ i >> Add(X),
        "minus": copy(X) >> f @ Neg(X) >> Add(X),                 # a + (−b) ↦ a − b
        "affine": Scale(c, X) >> Neg(X) >> Constant(1.0, X) @ i >> Add(X),
        "residual": copy(X) >> f @ i >> Add(X),
    }[kind]


blocks = st.builds(block, st.sampled_from(["f", "neg", "scale", "square", "double", "by constant",
                                           "plus constant", "minus", "affine", "residual"]),
                   st.sampled_from(NUMBERS), st.sampled_from(NONLINEAR))


@st.composite
def chains(draw, max_boxes=2000):
    """A deep chain of blocks, all of one kind or mixed."""
    length = draw(st.integers(1, max_boxes // 4))
    if draw(st.booleans()):
        parts = [draw(blocks)] * length
    else:
        parts = draw(st.lists(blocks, min_size=1, max_size=min(length, 60)))
        parts = [parts[k % len(parts)] for k in range(length)]
    return Diagram.id(X).then(*parts)


@st.composite
def fans(draw, max_boxes=2000):
    """x copied to n blocks whose results are added up, pairwise or all at once
    (traced: DisCoPy's tensor of many diagrams is slow to build)."""
    n = draw(st.integers(2, max_boxes // 6))
    parts = draw(st.lists(blocks, min_size=1, max_size=8))
    if draw(st.booleans()):
        total = lambda *xs: functools.reduce(operator.add, xs)
    else:
        total = Add(X, n)
    return function(X, X)(lambda a: total(*(parts[k % len(parts)](a) for k in range(n))))


@settings(max_examples=12, **SETTINGS)
@given(st.one_of(chains(), fans()))
def test_large_diagrams_compile_to_source_that_equals_the_interpreter(d):
    assert_same(d)


@settings(max_examples=6, **SETTINGS)
@given(chains(max_boxes=400))
def test_both_halves_of_the_lens_of_a_large_diagram(d):
    lens = R(d)
    assert_same(lens.forward)
    assert_same(lens.backward, exact=False)


KINDS = ["f", "neg", "scale", "square", "double", "by constant", "plus constant", "minus",
         "affine", "residual"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_largest_chains_and_fans_of_each_block(kind):
    """About 2,000 boxes each: a chain of one block, and fans of 300 of them."""
    parts = [block(kind, c, f) for c, f in zip(NUMBERS, NONLINEAR * 2)]
    chain = Diagram.id(X).then(*(parts[k % len(parts)] for k in range(2000 // len(parts[0]) + 1)))
    assert len(chain) >= 2000
    assert_same(chain)
    for total in (lambda *xs: functools.reduce(operator.add, xs), Add(X, 300)):
        assert_same(function(X, X)(lambda a: total(*(parts[k % len(parts)](a) for k in range(300)))))


OPTIMISERS = [GD(lr=0.1), Momentum(), Nesterov(), Adagrad(), Adam()]


@settings(max_examples=6, **SETTINGS)
@given(st.integers(1, 14), st.sampled_from([Sigmoid, Tanh, Relu]), st.sampled_from(OPTIMISERS),
       st.sampled_from([mse, softmax_cross_entropy]), st.integers(0, 2 ** 16))
def test_large_learners_compile_to_source_that_equals_the_interpreter(depth_, act, opt, loss, seed):
    model = Para.id(Real(3)).then(*[dense(3, 3, act) for _ in range(depth_)])
    learner = Learner(model, loss(Real(3)), opt)
    state, params = learner.init(seed)
    args = [*state, *[params[p] for p in model.params], *random_inputs(Diagram.id(Real(3) @ Real(3)), seed)]
    step = codegen.compile(learner.diagram)
    assert_well_formed(step)
    expected = interpreter.compile(learner.diagram)(*args)
    for g, e in zip(step(*args), expected):
        np.testing.assert_allclose(np.broadcast_to(g, np.shape(e)), e, rtol=1e-12, atol=1e-12)


B = Bool(2)


def bool_block(kind, pattern):
    i = Diagram.id(B)
    return {"not": function(B, B)(lambda a: ~a),
            "and self": copy(B) >> And(B),
            "and one": One(B) @ i >> And(B),
            "and zero": Zero(B) @ i >> And(B) >> function(B, B)(lambda a: ~a),
            "xor zero": Zero(B) @ i >> Xor(B),
            "xor bits": Bits(pattern, B) @ i >> Xor(B),
            "and bits": Bits(pattern, B) @ i >> And(B)}[kind]


bool_blocks = st.builds(bool_block, st.sampled_from(
    ["not", "and self", "and one", "and zero", "xor zero", "xor bits", "and bits"]),
    st.lists(st.booleans(), min_size=2, max_size=2))


@st.composite
def circuits(draw, max_boxes=2000):
    """A deep chain of blocks on Bool(2), or a wide XOR of blocks of one input."""
    if draw(st.booleans()):
        parts = draw(st.lists(bool_blocks, min_size=1, max_size=30))
        length = draw(st.integers(1, max_boxes // 3))
        return Diagram.id(B).then(*(parts[k % len(parts)] for k in range(length)))
    n = draw(st.integers(2, max_boxes // 4))
    parts = draw(st.lists(bool_blocks, min_size=1, max_size=8))
    total = (lambda *xs: functools.reduce(operator.xor, xs)) if draw(st.booleans()) else Xor(B, n)
    return function(B, B)(lambda a: total(*(parts[k % len(parts)](a) for k in range(n))))


@settings(max_examples=10, **SETTINGS)
@given(circuits(), st.sampled_from([1, 64, 130]))
def test_large_circuits_compile_to_source_that_equals_the_per_example_interpreter(d, batch):
    step = boolean.compile(d)
    assert_well_formed(step)
    bits = np.random.default_rng(batch).integers(0, 2, (batch, 2)).astype(bool)
    expected = boolean.Circuit(d)(bits)
    got = step(bits)
    np.testing.assert_array_equal(np.broadcast_to(got, np.shape(expected)), expected)


# -- the cases that used to break -------------------------------------------------------------

def test_tanh_composed_200_times_and_its_lens():
    chain = Diagram.id(X).then(*[Tanh(X)] * 200)
    step = assert_same(chain)
    x = random_inputs(chain)[0]
    oracle = x
    for _ in range(200):
        oracle = np.tanh(oracle)
    np.testing.assert_array_equal(step(x), oracle)
    lens = R(chain)
    assert_same(lens.forward)
    assert_same(lens.backward)


def test_a_200_layer_learner():
    model = Para.id(Real(2)).then(*[dense(2, 2, Sigmoid) for _ in range(200)])
    learner = Learner(model, mse(Real(2)), GD(lr=0.1))
    state, params = learner.init(0)
    args = [*state, *[params[p] for p in model.params], *random_inputs(Diagram.id(Real(2) @ Real(2)))]
    step = codegen.compile(learner.diagram)
    assert_well_formed(step)
    for g, e in zip(step(*args), interpreter.compile(learner.diagram)(*args)):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("nary", [False, True], ids=["traced a ^ b ^ …", "Xor(x, 300)"])
def test_an_xor_of_300_bool_wires(nary):
    b = Bool(1)
    d = Xor(b, 300) if nary else function(b ** 300, b)(lambda *xs: functools.reduce(operator.xor, xs))
    step = boolean.compile(d)
    assert_well_formed(step)
    bits = np.random.default_rng(0).integers(0, 2, (300, 70, 1)).astype(bool)
    np.testing.assert_array_equal(step(*bits), np.logical_xor.reduce(bits, axis=0))


def test_an_affine_recurrence_unrolled_101_times():
    acc = function(X, X)(lambda a: 0.9 * a + 1)
    step = assert_same(Diagram.id(X).then(*[acc] * 101))
    x = random_inputs(acc)[0]
    oracle = x
    for _ in range(101):
        oracle = 0.9 * oracle + 1.0
    np.testing.assert_array_equal(step(x), oracle)


def test_a_function_named_like_its_helper_is_refused_and_others_run():
    with pytest.raises(ValueError, match="'softmax'.*helper"):
        codegen.compile(Softmax(Real(3)), name="softmax")
    x = np.random.default_rng(0).normal(size=(4, 3))
    e = np.exp(x - x.max(axis=1, keepdims=True))
    got = codegen.compile(Softmax(Real(3)), name="soft")(x)
    np.testing.assert_allclose(got, e / e.sum(axis=1, keepdims=True), rtol=1e-15)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("c", [NAN, INF, -INF], ids=["nan", "inf", "-inf"])
def test_non_finite_constants_are_numbers(c, dtype):
    x = Real(3, dtype=dtype)
    scale = assert_same(Scale(c, x))
    constant = assert_same(Constant(c, x))
    assert "np.nan" in scale.source if math.isnan(c) else "np.inf" in constant.source
    out = constant()
    assert out.dtype == dtype and out.shape == (3, )
    np.testing.assert_array_equal(out, np.full(3, c, dtype=dtype))
    with np.errstate(invalid="ignore"):
        scaled = scale(np.array([[1.0, -2.0, 0.0]], dtype=dtype))
    assert scaled.dtype == dtype
    np.testing.assert_array_equal(scaled, np.array([[c, -2.0 * c, 0.0 * c]], dtype=dtype))
    assert_same(Constant(c, x) @ Diagram.id(x) >> Mul(x))           # folded to a scaling
    assert_same(Constant(c, x) @ Diagram.id(x) >> Add(x))


def test_gradient_descent_with_an_infinite_rate():
    model = Para.id(Real(3)).then(dense(3, 2, Sigmoid))
    learner = Learner(model, mse(Real(2)), GD(lr=INF))
    state, params = learner.init(0)
    args = [*state, *[params[p] for p in model.params], *random_inputs(Diagram.id(Real(3) @ Real(2)))]
    step = codegen.compile(learner.diagram)
    assert "np.inf" in step.source
    with np.errstate(all="ignore"):
        got, expected = step(*args), interpreter.compile(learner.diagram)(*args)
    assert not all(np.isfinite(g).all() for g in got)       # the update is not finite
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


def test_an_argument_used_twice_is_computed_once():
    step = codegen.compile(copy(X) >> Mul(X) >> Step(X))     # (x·x > 0).astype(…)
    products = [n for n in ast.walk(function_of(step)) if isinstance(n, ast.BinOp)]
    assert len(products) == 1, step.source
    x = np.array([[0.0, 2.0, -1.0]])
    np.testing.assert_array_equal(step(x), [[0.0, 1.0, 1.0]])
    spread = codegen.compile(function(Real(), X)(lambda s: Spread3(-s)))
    calls = [n for n in ast.walk(function_of(spread)) if isinstance(n, ast.UnaryOp)]
    assert len(calls) == 1, spread.source
    np.testing.assert_array_equal(spread(np.array([1.0, 2.0])), [[-1.0] * 3, [-2.0] * 3])


def Spread3(s):
    from paralens.categories import Spread
    return Spread(X)(s)


# -- the function's name ------------------------------------------------------------------------

REFUSED = {
    "def": "keyword", "class": "keyword", "lambda": "keyword", "a b": "not a Python identifier",
    "1x": "not a Python identifier", "f(); import os": "not a Python identifier",
    "": "not a Python identifier", "softmax": "helper", "unbroadcast": "helper",
    "popcount": "helper", "xor_batch": "helper", "np": "NumPy", "math": "imports",
    "len": "built-in", "K0": "constant", "K12": "constant", "x0": "argument", "v3": "temporary",
    "__builtins__": "double underscores", "ﬁ": "read it as 'fi'",
}

CIRCUIT = function(Bool(1) @ Bool(1), Bool(1))(lambda a, b: a & b)


@pytest.mark.parametrize("name", sorted(REFUSED))
@pytest.mark.parametrize("compiler", ["codegen", "boolean"])
def test_names_that_would_break_the_module_are_refused_before_building(name, compiler, monkeypatch):
    def built(*args):
        raise AssertionError("code was built for a refused name")
    module = {"codegen": codegen, "boolean": bitsliced}[compiler]
    monkeypatch.setattr(module, "flatten", built)
    with pytest.raises(ValueError) as error:
        if compiler == "codegen":
            codegen.compile(Sigmoid(X), name=name)
        else:
            boolean.compile(CIRCUIT, name=name)
    message = str(error.value)
    assert repr(name) in message and REFUSED[name] in message, message


def test_a_name_is_a_string():
    with pytest.raises(ValueError, match="a name is a string, not int"):
        codegen.compile(Sigmoid(X), name=3)


def test_refusing_a_name_runs_none_of_it(tmp_path):
    marker = tmp_path / "ran"
    name = (f"f():\n    pass\nimport builtins\nbuiltins.PARALENS_RAN = 1\n"
            f"open({str(marker)!r}, 'w').close()\ndef g")
    for compile_ in (lambda: codegen.compile(Sigmoid(X), name=name),
                     lambda: boolean.compile(CIRCUIT, name=name)):
        with pytest.raises(ValueError, match="not a Python identifier"):
            compile_()
    assert not hasattr(builtins, "PARALENS_RAN") and not marker.exists()


def test_names_that_are_fine_are_kept():
    for name in ("step", "gd_step", "circuit", "Softmax", "batch", "x", "K", "v_3", "match"):
        assert codegen.compile(Sigmoid(X), name=name).function.__name__ == name
        assert boolean.compile(CIRCUIT, name=name).function.__name__ == name


def test_the_command_refuses_a_bad_name_in_one_line_before_any_work(tmp_path):
    marker = tmp_path / "imported"
    (tmp_path / "target_module.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nfrom categories import Real, Sigmoid\n"
        "d = Sigmoid(Real(3))\n")
    out = tmp_path / "step.py"
    run = subprocess.run([sys.executable, "-m", "paralens.interpreters.cli", "compile", "target_module:d",
                          "-o", str(out), "--name", "f(); import os"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "'f(); import os'" in run.stderr, run.stderr
    assert "not a Python identifier" in run.stderr and run.stdout == ""
    assert not out.exists() and not marker.exists()


def test_the_command_accepts_a_good_name(tmp_path, monkeypatch, capsys):
    (tmp_path / "target_module2.py").write_text("from paralens.categories import Real, Sigmoid\n"
                                                "d = Sigmoid(Real(3))\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert main(["compile", "target_module2:d", "-o", "step.py", "--name", "forward"]) == 0
    namespace = {}
    exec((tmp_path / "step.py").read_text(), namespace)
    x = np.array([[0.0, 1.0, -1.0]])
    np.testing.assert_allclose(namespace["forward"](x), 1 / (1 + np.exp(-x)), rtol=1e-15)


# -- the helpers, written once ------------------------------------------------------------------

def test_the_interpreters_call_the_helpers_the_generated_code_copies():
    x = Real(3)
    for kind, box in (("Softmax", Softmax(x)), ("Linear", Linear(3, 2))):
        fn = interpreter.RULES[kind](box)
        assert fn is getattr(runtime, {"Softmax": "softmax", "Linear": "linear"}[kind])
    assert interpreter.unbroadcast is runtime.unbroadcast and boolean.popcount is runtime.popcount
    assert circuit._Words.count is runtime.count
    for dialect in (codegen.NUMPY, bitsliced.WORDS):
        assert all(fn is getattr(runtime, name) for name, fn in dialect.helpers.items())
    step = codegen.compile(Softmax(x) >> Softmax(x))
    assert step.source.count("def softmax(") == 1
    assert inspect.getsource(runtime.softmax) in step.source
    votes = boolean.compile(function(Bool(2), Bool(2) @ Bool(2))(
        lambda a: (SumBatch(Bool(2))(a), VoteBatch(Bool(2))(a, ~a))))
    for helper in ("popcount", "count", "xor_batch", "vote_batch"):
        assert votes.source.count(f"def {helper}(") == 1
        assert inspect.getsource(getattr(runtime, helper)) in votes.source


def test_every_helper_runs_on_its_own():
    """The helpers' sources, in a namespace with nothing but np and math, compute
    what the helpers compute."""
    namespace = {"np": np, "math": math}
    for name in runtime.__all__:
        exec(inspect.getsource(getattr(runtime, name)), namespace)
    rng = np.random.default_rng(0)
    a, W = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    words = rng.integers(0, 2 ** 63, size=(3, 2), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    index = np.array([0, 2, 0, 1])
    M = rng.normal(size=(3, 3)) + 4 * np.eye(3)
    calls = {"softmax": (a, ), "logsumexp": (a, ), "linear": (W, a), "linear_t": (W.T, a),
             "solve_vector": (M, a), "logdet": (M, ),
             "observed": (np.where(a > 1, np.nan, a), ),
             "one_hot": (np.array([[0.0, np.nan, 2.0]]), 3),
             "outer_sum": (a, a), "unbroadcast": (a, (3, )), "popcount": (words, ),
             "count": (words, 130, 1), "xor_batch": (words, 130, 1),
             "vote_batch": (words, ~words, 130, 1),
             "scatter": (words[:, [0, 1, 0, 1]], *circuit.scatter_plan(index), 3, (3, ))}
    assert set(calls) == set(runtime.__all__)
    for name, args in calls.items():
        got, expected = namespace[name](*args), getattr(runtime, name)(*args)
        for g, e in zip(*((got, expected) if isinstance(got, tuple) else ((got, ), (expected, )))):
            np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("fallback", [False, True])
def test_popcount_with_and_without_bitwise_count(fallback, monkeypatch):
    if fallback:
        monkeypatch.delattr(np, "bitwise_count", raising=False)
    words = np.random.default_rng(1).integers(0, 2 ** 64, size=200, dtype=np.uint64)
    words[:3] = [0, 1, 2 ** 64 - 1]
    got = runtime.popcount(words)
    assert got.dtype == np.uint8
    assert got.tolist() == [bin(int(w)).count("1") for w in words]


# -- structure: rewrite tables, the split Boolean module, no import cycles ------------------------

def test_the_rewrite_tables_name_generators():
    for table in (codegen.SUBTRACTIONS, codegen.SCALARS, bitsliced.Z2):
        assert set(table) <= set(Generator.registry)


def test_the_folding_rules():
    x = Real(3)
    plan = codegen.compile(copy(x) >> Diagram.id(x) @ Neg(x) >> Add(x)).plan
    assert plan.count("Sub") == 1 and plan.count("Neg") == 0
    shared = copy(x) >> Diagram.id(x) @ (Neg(x) >> copy(x)) >> Add(x) @ Diagram.id(x)
    assert codegen.compile(shared).plan.count("Sub") == 0      # the negation is needed elsewhere
    plan = codegen.compile(Constant(3.0, x) @ Diagram.id(x) >> Mul(x) >> Scale(0.5, x)).plan
    assert [eq.kind for eq in plan.equations] == ["Scale"] and plan.equations[0].box.c == 1.5
    plan = codegen.compile(copy(x) >> Add(x)).plan
    assert [(eq.kind, eq.box.c) for eq in plan.equations] == [("Scale", 2.0)]
    b = Bool(2)
    d = function(b @ b, b)(lambda p, q: (p & 1) ^ (q & 0) ^ 0)
    assert [eq.kind for eq in bitsliced.optimise(boolean.Circuit(d).plan).equations] == []


OLD_PUBLIC = ['BATCH_LEVEL', 'BitSliced', 'Circuit', 'CircuitReport', 'CompiledCircuit', 'GATES',
              'ONES', 'RULES', 'Unsafe', 'WORDS', 'WORD_EMITTERS', 'WORD_HELPERS',
              'boolean_difference', 'cached_property', 'check', 'check_inputs', 'codegen',
              'compile', 'dependencies', 'evaluate', 'flatten', 'fold_z2', 'gate_count',
              'last_uses', 'math', 'np', 'pack', 'popcount', 'rule_of', 'unpack',
              'unsafe_products']


def test_the_boolean_module_keeps_every_public_name():
    assert not [name for name in OLD_PUBLIC if not hasattr(boolean, name)]
    assert boolean.compile is bitsliced.compile and boolean.Circuit is circuit.Circuit


MODULES = ["bits", "bitsliced", "boolean", "circuit", "codegen", "numpy", "passes",
           "plan", "runtime", "safety", "source"]


@pytest.mark.parametrize("name", MODULES)
def test_no_interpreter_module_imports_another_inside_a_function(name):
    path = inspect.getsourcefile(codegen).replace("codegen.py", f"{name}.py")
    tree = ast.parse(open(path).read())
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            hidden = [ast.unparse(node) for node in ast.walk(fn)
                      if isinstance(node, ast.ImportFrom) and node.level == 1]
            assert not hidden, f"{name}.{fn.name}: {hidden}"


def test_a_spread_run_time_number_folds_into_a_product_only_where_the_shape_is_kept():
    """a ⊙ spread(s) ↦ a · s for a batch weight s (one number at run time) when a has
    its wire's axes; never when both sides are numbers (the features would be lost
    before a sum over them), never when a is a number alone."""
    from paralens.categories import BatchWeight, Exp, Spread, Sum
    x, one = Real(3), Real()
    cases = {
        "weighted input": lambda a: a * Spread(x)(BatchWeight(x)(a)),
        "weight squared, summed": lambda a: Sum(x)(
            Spread(x)(BatchWeight(x)(a)) * Spread(x)(BatchWeight(x)(a) * 2.0)),
        "number alone, summed": lambda a: Sum(x)(
            Spread(x)(Exp(one)(BatchWeight(x)(a))) * Spread(x)(BatchWeight(x)(a))),
    }
    a = np.random.default_rng(0).normal(size=(5, 3))
    for name, body in cases.items():
        cod = x if name == "weighted input" else one
        d = function(x, cod)(body)
        np.testing.assert_allclose(codegen.compile(d)(a), interpreter.compile(d)(a),
                                   rtol=1e-15, err_msg=name)
    folded = codegen.compile(function(x, x)(cases["weighted input"])).source
    assert "broadcast_to" not in folded


def test_a_product_with_a_spread_value_per_example_is_a_broadcast_not_a_spread():
    """u ⊙ spread(1/s) ↦ u / s[..., None] and u ⊙ spread(s) ↦ u · s[..., None] (s one
    number per example): equal to the interpreter whichever of u and s has the batch."""
    from paralens.categories import Reciprocal, Spread, Sum
    x = Real(3, 2)
    normalise = function(x, x)(lambda u: u * Spread(x)(Reciprocal(Real())(Sum(x)(u))))
    scaled = function(x @ Real(), x)(lambda u, s: u * Spread(x)(s))
    rng = np.random.default_rng(0)
    for diagram, text in ((normalise, "/ np.asarray("), (scaled, "* np.asarray(")):
        compiled = codegen.compile(diagram)
        assert text in compiled.source and "broadcast_to" not in compiled.source
        for batch_u, batch_s in ((4, 4), (None, 4), (4, None), (None, None)):
            u = rng.uniform(0.5, 2.0, size=((batch_u, ) if batch_u else ()) + (3, 2))
            args = [u] if diagram is normalise else [
                u, rng.uniform(0.5, 2.0, size=(batch_s, ) if batch_s else ())]
            np.testing.assert_allclose(compiled(*args), interpreter.compile(diagram)(*args),
                                       rtol=1e-15)
