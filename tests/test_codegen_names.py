"""The compiled step speaks the names of its wires (``codegen.compile(…, arguments=,
results=)``): the parameters are the arguments' names made distinct identifiers, and
a docstring lists every argument and result by name and type.

The oracle for "names change nothing" is the unnamed step itself: the named one
computes the same arrays bit for bit, and its source is the unnamed source with
``x0``, ``x1``, … renamed and a docstring added (so no name can shadow anything),
on a feed-forward learner with Adam and on a recurrent one (two ``for`` loops),
with names chosen to collide with everything the module uses for itself."""

from __future__ import annotations

import ast
import builtins
import inspect
import json
import keyword
import subprocess
import sys
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from paralens.categories import Real, Sigmoid, Tanh, cells, dense, elman
from paralens.interpreters import codegen, numpy as interpreter
from paralens.interpreters.source import identifiers, named_wires
from paralens.lenses import R
from paralens.lenses.learner import Learner
from paralens.lenses.losses import mse
from paralens.lenses.optimisers import GD, Adam


def adam_learner():
    return Learner(dense(4, 3) >> dense(3, 2), mse(Real(2)), Adam())


def recurrent_learner(recompute=None):
    return Learner(elman(1, 4) >> dense(4, 1), mse(Real(1)), GD(), recompute=recompute)


#: the names a learner's caller gives (unique, dotted), in the order of the step's wires
ADAM_ARGUMENTS = ([f"adam.m.{p}" for p in ("dense.W", "dense.b", "dense_1.W", "dense_1.b")]
                  + [f"adam.v.{p}" for p in ("dense.W", "dense.b", "dense_1.W", "dense_1.b")]
                  + ["adam.t", "dense.W", "dense.b", "dense_1.W", "dense_1.b", "x", "label"])
ADAM_RESULTS = ADAM_ARGUMENTS[:-2] + ["loss"]
ADAM_PARAMETERS = ("adam_m_dense_W", "adam_m_dense_b", "adam_m_dense_1_W",
                   "adam_m_dense_1_b", "adam_v_dense_W", "adam_v_dense_b",
                   "adam_v_dense_1_W", "adam_v_dense_1_b", "adam_t", "dense_W", "dense_b",
                   "dense_1_W", "dense_1_b", "x", "label")
RNN_ARGUMENTS = ["elman.Wx", "elman.Wh", "elman.b", "dense.W", "dense.b", "x", "label"]
RNN_RESULTS = RNN_ARGUMENTS[:-2] + ["loss"]


def adam_inputs(learner, seed=0, batch=5):
    """A real Adam state after a few updates: moments of both signs, second moments
    positive, a step count; the parameters seeded; random data."""
    rng = np.random.default_rng(seed)
    state, params = learner.init(seed)
    P = [params[p] for p in learner.model.params]
    m = [rng.normal(size=p.shape) for p in P]
    v = [rng.uniform(0.1, 1.0, size=p.shape) for p in P]
    return m + v + [np.float64(3.0)] + P + [rng.normal(size=(batch, 4)),
                                            rng.normal(size=(batch, 2))]


def rnn_inputs(learner, seed=0, batch=3, steps=6):
    rng = np.random.default_rng(seed)
    _, params = learner.init(seed)
    return [params[p] for p in learner.model.params] + [
        rng.normal(size=(batch, steps, 1)), rng.normal(size=(batch, steps, 1))]


def types(ty):
    """Each wire of a type as a type of its own."""
    return [ty[k:k + 1] for k in range(len(ty.inside))]


def as_tuple(x):
    return x if isinstance(x, tuple) else (x, )


def assert_bitwise(got, want):
    got, want = as_tuple(got), as_tuple(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype
        assert np.array_equal(g, w), np.max(np.abs(g - w))


def chained(step, args, n_state, steps=3):
    """Run ``steps`` steps, each one's state and parameters the next one's (data fixed)."""
    outs = []
    for _ in range(steps):
        out = as_tuple(step(*args))
        outs.append(out)
        args = list(out[:n_state]) + list(args[n_state:])
    return outs


def function_def(source, name):
    (fn, ) = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)
              and n.name == name]
    return fn


def module_names(source, name) -> set:
    """Every name the module binds at its top level and every name its function
    ``name`` reads or binds (the helpers' own locals are their own)."""
    tree = ast.parse(source)
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
    fn = function_def(source, name)
    names |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
    return names


def assert_renamed(named, unnamed, params, name="step"):
    """The named source is the unnamed one with x0, x1, … renamed to ``params`` and a
    docstring first; no parameter is any other name the unnamed module uses."""
    n = len(params)
    assert not set(params) & (module_names(unnamed, name) - {f"x{k}" for k in range(n)})
    rename = {f"x{k}": p for k, p in enumerate(params)}
    tree = ast.parse(unnamed)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in rename:
            node.id = rename[node.id]
        elif isinstance(node, ast.arg) and node.arg in rename:
            node.arg = rename[node.arg]
    fn = function_def(ast.unparse(tree), name)
    got = function_def(named, name)
    doc = got.body[0]
    assert isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
    got.body = got.body[1:]
    assert ast.dump(got) == ast.dump(fn)
    before = named[:named.index(f"def {name}(")]
    assert before == unnamed[:unnamed.index(f"def {name}(")]     # helpers, constants


def assert_parameters(compiled, params):
    """The function takes ``params``, as written and as Python reads them."""
    code = compiled.function.__code__
    assert code.co_varnames[:code.co_argcount] == tuple(params)
    assert list(inspect.signature(compiled.function).parameters) == list(params)
    assert f"def {compiled.name}({', '.join(params)}):" in compiled.source


# -- a learner's step, named ----------------------------------------------------------------

def test_a_named_adam_step_is_the_unnamed_one_bit_for_bit():
    learner = adam_learner()
    d = learner.diagram
    named = codegen.compile(d, name="step", arguments=ADAM_ARGUMENTS, results=ADAM_RESULTS)
    unnamed = codegen.compile(d, name="step")
    assert_parameters(named, ADAM_PARAMETERS)
    assert_renamed(named.source, unnamed.source, ADAM_PARAMETERS)
    args = adam_inputs(learner)
    n_state = len(learner.state_type.inside) + len(learner.model.params)
    for got, want in zip(chained(named, args, n_state), chained(unnamed, args, n_state)):
        assert_bitwise(got, want)
    # called by keyword with the names in the source, the raw function agrees too
    keywords = dict(zip(ADAM_PARAMETERS, args))
    assert_bitwise(named.function(**keywords), unnamed(*args))


def test_the_docstring_lists_each_argument_and_result_by_name_and_type():
    d = adam_learner().diagram
    named = codegen.compile(d, name="step", arguments=ADAM_ARGUMENTS, results=ADAM_RESULTS)
    doc = inspect.getdoc(named.function).splitlines()
    wires = [f"{w} {w.dtype}" for w in d.dom.inside], [f"{w} {w.dtype}" for w in d.cod.inside]
    assert doc == (["Arguments:"] + [f"    {n}: {t}" for n, t in zip(ADAM_ARGUMENTS, wires[0])]
                   + ["", "Returns, in order:"]
                   + [f"    {n}: {t}" for n, t in zip(ADAM_RESULTS, wires[1])])
    assert "    dense.W: Real(4, 3) float64" in doc
    assert doc[-1] == "    loss: Real() float64"


def test_the_compiled_object_exposes_the_signature():
    d = adam_learner().diagram
    named = codegen.compile(d, name="step", arguments=ADAM_ARGUMENTS, results=ADAM_RESULTS)
    assert named.arguments == tuple(zip(ADAM_ARGUMENTS, types(d.dom)))
    assert named.results == tuple(zip(ADAM_RESULTS, types(d.cod)))
    assert named.signature.startswith("step(adam.m.dense.W: Real(4, 3) float64, ")
    assert named.signature.endswith(", loss: Real() float64)")
    assert named.signature == codegen.signature(d, "step", ADAM_ARGUMENTS, ADAM_RESULTS)
    unnamed = codegen.compile(d, name="step")
    assert unnamed.arguments == tuple((None, t) for t in types(d.dom))
    assert unnamed.results == tuple((None, t) for t in types(d.cod))
    assert unnamed.signature == (f"step({', '.join(f'{w} {w.dtype}' for w in d.dom.inside)}) → "
                                 f"({', '.join(f'{w} {w.dtype}' for w in d.cod.inside)})")


def test_without_names_the_source_is_as_before():
    d = adam_learner().diagram
    plain = codegen.compile(d, name="step")
    given_none = codegen.compile(d, name="step", arguments=None, results=None)
    assert plain.source == given_none.source
    fn = function_def(plain.source, "step")
    assert [a.arg for a in fn.args.args] == [f"x{k}" for k in range(len(d.dom.inside))]
    assert ast.get_docstring(fn) is None
    # only the results named: the parameters stay x0, x1, …; the docstring names the results
    results_only = codegen.compile(d, name="step", results=ADAM_RESULTS)
    assert_parameters(results_only, [f"x{k}" for k in range(len(d.dom.inside))])
    doc = inspect.getdoc(results_only.function)
    assert "    Real(4, 3) float64" in doc.splitlines() and "    loss: Real() float64" in doc


def test_a_named_recurrent_step_is_the_unnamed_one_bit_for_bit():
    learner = recurrent_learner()
    d = learner.diagram
    named = codegen.compile(d, name="step", arguments=RNN_ARGUMENTS, results=RNN_RESULTS)
    unnamed = codegen.compile(d, name="step")
    params = ["elman_Wx", "elman_Wh", "elman_b", "dense_W", "dense_b", "x", "label"]
    assert_parameters(named, params)
    assert_renamed(named.source, unnamed.source, params)
    loops = [n for n in ast.walk(function_def(named.source, "step")) if isinstance(n, ast.For)]
    assert len(loops) == 2                        # forward and BPTT, still loops
    args = rnn_inputs(learner)
    n_params = len(learner.model.params)
    for got, want in zip(chained(named, args, n_params), chained(unnamed, args, n_params)):
        assert_bitwise(got, want)
    for steps in (1, 9):                          # the loops read the named sequences' lengths
        args = rnn_inputs(learner, seed=steps, steps=steps)
        assert_bitwise(named(*args), unnamed(*args))


def test_a_named_recurrent_step_refuses_sequences_of_two_lengths_as_before():
    learner = recurrent_learner()
    named = codegen.compile(learner.diagram, arguments=RNN_ARGUMENTS, results=RNN_RESULTS)
    unnamed = codegen.compile(learner.diagram)
    args = rnn_inputs(learner)
    args[-1] = args[-1][:, :-1]
    messages = []
    for compiled in (named, unnamed):
        with pytest.raises(ValueError, match="5 steps, other sequences have 6") as error:
            compiled.function(*args)
        messages.append(str(error.value))
    assert messages[0] == messages[1]


def test_a_checkpointed_learner_takes_names_whichever_compiler_runs_it():
    learner = recurrent_learner(recompute=3)
    d = learner.diagram
    compile_ = codegen.compiler_for(d)
    assert compile_ is interpreter.compile               # its backward half is interpreted
    named = compile_(d, arguments=RNN_ARGUMENTS, results=RNN_RESULTS)
    assert named.arguments == tuple(zip(RNN_ARGUMENTS, types(d.dom)))
    assert named.results == tuple(zip(RNN_RESULTS, types(d.cod)))
    args = rnn_inputs(learner, steps=7)
    assert_bitwise(named(*args), interpreter.compile(d)(*args))
    with pytest.raises(ValueError, match=r"^results: 5 names for the 6 wires "):
        compile_(d, arguments=RNN_ARGUMENTS, results=RNN_RESULTS[:-1])


def test_the_forward_half_of_a_checkpointed_loop_compiles_with_names():
    machine = cells.gru(3, 5)
    forward = R(machine.loop(recompute=3)).forward
    args = [machine.init(0)[p] for p in machine.params]
    rng = np.random.default_rng(4)
    args += [rng.normal(size=(2, 5)), rng.normal(size=(2, 8, 3))]
    names = [f"gru.{p.name}" for p in machine.params] + ["state", "x"]
    results = [f"out{k}" for k in range(len(forward.cod.inside))]
    named = codegen.compile(forward, arguments=names, results=results)
    unnamed = codegen.compile(forward)
    params = identifiers(names, codegen.NUMPY, avoid={"diagram"})
    assert_renamed(named.source, unnamed.source, params, "diagram")
    assert_bitwise(named(*args), unnamed(*args))


def test_a_lens_half_with_summed_outputs_takes_names():
    model = dense(4, 5, Sigmoid) >> dense(5, 3, Tanh)
    back = R(model.diagram).backward
    names = [f"residual[{k}]" for k in range(len(back.dom.inside) - 1)] + ["dy"]
    results = [f"d.{p.name}" for p in model.params] + ["dx"]
    summed = range(len(model.params))
    named = codegen.compile(back, summed=summed, name="backward", arguments=names,
                            results=results)
    unnamed = codegen.compile(back, summed=summed, name="backward")
    assert_renamed(named.source, unnamed.source, [f"residual_{k}" for k in range(len(names) - 1)]
                   + ["dy"], "backward")
    rng = np.random.default_rng(2)
    args = [rng.normal(size=(6, ) + w.shape) for w in back.dom.inside]
    assert_bitwise(named(*args), unnamed(*args))


# -- adversarial names ------------------------------------------------------------------------

HOSTILE = ["lambda", "def", "None", "True", "class", "__debug__", "len", "range", "str",
           "ValueError", "sum", "np", "math", "numpy", "linear", "linear_t", "outer_sum",
           "unbroadcast", "softmax", "logsumexp", "x0", "x1", "x2", "v15", "v20", "t0", "t1",
           "K0", "step", "dense.W", "dense_W", "dense[W]", "dense W", "dense_W_2", "Δw", "ﬁ",
           "fi", "é", "e\u0301", "名前", "x²", "x2", "²x", "", "", ".", "[0]", "a[0].b", "1st",
           " ", "\n", 'q"""', "q'''", "\\", "_", "__init__", "__class__", "lambda_", "t0_"]


def hostile_pool(unnamed_source, n) -> list:
    """HOSTILE, then every name the unnamed step itself uses (its temporaries, loop
    steps, constants, helpers, the built-ins it calls) but its arguments."""
    return HOSTILE + sorted(module_names(unnamed_source, "step") - {f"x{k}" for k in range(n)})


def check_identifiers(params, names, avoid=("step", )):
    assert len(params) == len(names) == len(set(params))
    for p in params:
        assert p.isidentifier() and unicodedata.normalize("NFKC", p) == p
        # ``_`` is no built-in: only an interactive session (or a doctest) binds it
        assert not keyword.iskeyword(p) and p not in set(dir(builtins)) - {"_"}
        assert p not in avoid and p not in {"np", "math"} | set(codegen.HELPERS)
        assert not (p[:1] in "Kxvt" and p[1:].isdigit())


@pytest.mark.parametrize("which", ["adam", "recurrent"])
def test_hostile_names_on_a_learners_step(which):
    """Every hostile name, and every name the unnamed step uses, as an argument and
    as a result, in turn: the step is the unnamed one renamed, bit for bit."""
    learner = adam_learner() if which == "adam" else recurrent_learner()
    d = learner.diagram
    n, m = len(d.dom.inside), len(d.cod.inside)
    unnamed = codegen.compile(d, name="step")
    pool = hostile_pool(unnamed.source, n)
    assert {"v20", "t0", "linear", "range", "ValueError"} <= set(pool)
    for offset in range(0, len(pool), n):
        names = [pool[(offset + k) % len(pool)] for k in range(n)]
        results = [pool[(offset + 3 + k) % len(pool)] for k in range(m)]
        named = codegen.compile(d, name="step", arguments=names, results=results)
        params = identifiers(names, codegen.NUMPY, avoid={"step"})
        check_identifiers(params, names)
        assert_parameters(named, params)
        assert_renamed(named.source, unnamed.source, params)
        args = adam_inputs(learner, seed=offset) if which == "adam" else \
            rnn_inputs(learner, seed=offset)
        assert_bitwise(named(*args), unnamed(*args))
        assert named.arguments == tuple(zip(names, types(d.dom)))
        assert named.results == tuple(zip(results, types(d.cod)))


def test_names_that_sanitise_alike_stay_apart_in_order():
    names = ["dense.W", "dense_W", "dense[W]", "dense W", "dense_W_2", "é", "e\u0301", "", "",
             "x0", "x0_", "lambda", "lambda_", "step"]
    assert identifiers(names, codegen.NUMPY, avoid={"step"}) == (
        "dense_W", "dense_W_2", "dense_W_3", "dense_W_4", "dense_W_2_2", "é", "é_2", "_",
        "__2", "x0_", "x0__2", "lambda_", "lambda__2", "step_")


def test_a_parameter_the_dialect_adds_is_avoided():
    from paralens.interpreters.bitsliced import WORDS       # its functions may take ``batch``
    assert identifiers(["batch", "batch_"], WORDS) == ("batch_", "batch__2")
    assert identifiers(["batch"], codegen.NUMPY) == ("batch", )


def test_names_python_would_read_otherwise_are_written_as_python_reads_them():
    # NFKC: Python reads "ﬁ" as "fi" and "y²" as "y2"; written so, they collide visibly
    assert identifiers(["ﬁ", "fi", "y²", "y2", "x²", "²x", "1st", "a[0].b", "名前", " ", "\n"]) \
        == ("fi", "fi_2", "y2", "y2_2", "x2_", "_2x", "_1st", "a_0_b", "名前", "_", "__2")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=6), min_size=1, max_size=12))
def test_any_strings_make_distinct_parameters_python_reads_as_written(names):
    params = identifiers(names, codegen.NUMPY, avoid={"step"})
    check_identifiers(params, names)
    code = compile(f"def step({', '.join(params)}):\n    return locals()\n", "<t>", "exec")
    namespace = {}
    exec(code, namespace)
    assert tuple(namespace["step"](*range(len(params)))) == params


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(max_size=4), min_size=3, max_size=3),
       st.lists(st.text(max_size=4), min_size=1, max_size=1))
def test_any_strings_name_a_compiled_model(names, results):
    model = dense(4, 3, Sigmoid)
    d = model.diagram
    named = codegen.compile(d, name="predict", arguments=names, results=results)
    unnamed = codegen.compile(d, name="predict")
    assert_renamed(named.source, unnamed.source,
                   identifiers(names, codegen.NUMPY, avoid={"predict"}), "predict")
    rng = np.random.default_rng(0)
    args = [rng.normal(size=w.shape) for w in d.dom.inside[:-1]] + [rng.normal(size=(3, 4))]
    assert_bitwise(named(*args), unnamed(*args))
    assert inspect.getdoc(named.function)     # compiles, whatever the names hold


def test_the_docstring_holds_any_name_and_the_module_still_compiles():
    names = ['a"""b', "c'''d", "e\\", "line\nbreak", "", " padded "]
    d = Sigmoid(Real(1)) @ Sigmoid(Real(2)) @ Sigmoid(Real(3)) @ Sigmoid(Real(1)) \
        @ Sigmoid(Real(2)) @ Sigmoid(Real(3))
    named = codegen.compile(d, name="f", arguments=names, results=names[::-1])
    doc = inspect.getdoc(named.function).splitlines()
    assert doc[1:4] == ['    a"""b: Real(1) float64', "    c'''d: Real(2) float64",
                        "    e\\: Real(3) float64"]
    assert doc[4:7] == ["    'line\\nbreak': Real(1) float64", "    '': Real(2) float64",
                        "    ' padded ': Real(3) float64"]
    assert doc[8:] == ["Returns, in order:", "    ' padded ': Real(1) float64",
                       "    '': Real(2) float64", "    'line\\nbreak': Real(3) float64",
                       "    e\\: Real(1) float64", "    c'''d: Real(2) float64",
                       '    a"""b: Real(3) float64']


# -- bad names: refused in the caller's terms, by both compilers ---------------------------

@pytest.mark.parametrize("compile_", [codegen.compile, interpreter.compile])
def test_wrong_names_are_refused_before_anything_is_built(compile_):
    d = dense(4, 3).diagram                          # Real(4, 3) ⊗ Real(3) ⊗ Real(4) → Real(3)
    with pytest.raises(ValueError, match=r"^arguments: 2 names for the 3 wires Real\(4, 3\) @ "
                                         r"Real\(3\) @ Real\(4\)$"):
        compile_(d, arguments=["W", "b"])
    with pytest.raises(ValueError, match=r"^results: 2 names for the 1 wire Real\(3\)$"):
        compile_(d, results=["y", "z"])
    with pytest.raises(TypeError, match=r"^arguments\[1\]: a name is a string, got int 3 "
                                        r"\(for wire 1, Real\(3\)\)$"):
        compile_(d, arguments=["W", 3, "x"])
    with pytest.raises(TypeError, match=r"^results: expected a list or tuple of names, one per "
                                        r"wire of Real\(3\), got str 'y'$"):
        compile_(d, results="y")
    with pytest.raises(TypeError, match=r"^arguments: expected a list or tuple .* got set"):
        compile_(d, arguments={"W", "b", "x"})
    compiled = compile_(d, arguments=("W", "b", "x"), results=["y"])
    assert compiled.arguments == (("W", Real(4, 3)), ("b", Real(3)), ("x", Real(4)))
    assert compiled.results == (("y", Real(3)), )


def test_named_wires_is_what_both_compilers_keep():
    d = dense(4, 3).diagram
    assert named_wires(d) == (((None, Real(4, 3)), (None, Real(3)), (None, Real(4))),
                              ((None, Real(3)), ))
    assert interpreter.compile(d).arguments == named_wires(d)[0]


# -- the saved module ------------------------------------------------------------------------------

RUN = """
import importlib.util, json, sys
import numpy as np
spec = importlib.util.spec_from_file_location("step_module", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
data = np.load(sys.argv[2])
params = json.loads(sys.argv[3])
out = module.step(**{p: data[f"a{k}"] for k, p in enumerate(params)})
out = out if isinstance(out, tuple) else (out, )
np.savez(sys.argv[4], *out)
print(json.dumps(sorted(m.split(".")[0] for m in sys.modules if m.startswith("paralens"))))
"""


@pytest.mark.parametrize("which", ["adam", "recurrent"])
def test_a_saved_named_module_runs_with_numpy_alone(tmp_path, which):
    learner = adam_learner() if which == "adam" else recurrent_learner()
    names, results = (ADAM_ARGUMENTS, ADAM_RESULTS) if which == "adam" else \
        (RNN_ARGUMENTS, RNN_RESULTS)
    args = adam_inputs(learner) if which == "adam" else rnn_inputs(learner)
    named = codegen.compile(learner.diagram, name="step", arguments=names, results=results)
    path = tmp_path / "step_module.py"
    named.save(str(path))
    params = list(inspect.signature(named.function).parameters)
    np.savez(tmp_path / "in.npz", **{f"a{k}": a for k, a in enumerate(args)})
    # -I: no PYTHONPATH, no current directory, no user site: paralens cannot be imported
    done = subprocess.run([sys.executable, "-I", "-c", RUN, str(path), str(tmp_path / "in.npz"),
                           json.dumps(params), str(tmp_path / "out.npz")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    saved = np.load(tmp_path / "out.npz")
    assert_bitwise(tuple(saved[f"arr_{k}"] for k in range(len(saved.files))),
                   as_tuple(codegen.compile(learner.diagram, name="step")(*args)))


def test_a_learner_names_its_wires_as_the_generated_step_speaks_them():
    """The names a caller gives above are the learner's own: optimiser state, parameters
    in data-flow order, x, label; results end with the loss."""
    learner = adam_learner()
    assert learner.arguments == ADAM_ARGUMENTS and learner.results == ADAM_RESULTS
    assert recurrent_learner().arguments == RNN_ARGUMENTS

