"""Pickling paralens objects, and DisCoPy's own idioms on paralens diagrams.

Pickle: every diagram (types, every registered generator, loops, kernels, chains,
random diagrams and circuits), Para maps, machines and learners come back equal,
their parameter handles one object per parameter, their caches dropped; a learner
pickled into another process trains there to the same parameters, bit for bit, as
in this one. DisCoPy: ``to_tree``/``from_tree`` (and its JSON ``dumps``/``loads``)
give back an equal diagram, and ``foliation`` lays a paralens diagram out in the
same layers as DisCoPy lays out a plain diagram of the same shape (the oracle:
DisCoPy itself, on ``discopy.symmetric`` boxes of the same names and wiring)."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from discopy import symmetric
from discopy.utils import dumps, from_tree, loads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paralens.categories import (
    Bias, Diagram, Generator, Machine, Para, Param, Real, Relu, Sigmoid, Tanh, dense, elman,
    gru, logic_gate_network, lookup_table, normal, pseudo_linear, reverse)
from paralens.categories import kernels, markov
from paralens.categories.boolean import BooleanDifference
from paralens.categories.circuits import PseudoLinear
from paralens.categories.strategies import circuits, diagrams, machines
from paralens.interpreters import bffg
from paralens.interpreters import recurrent as rec
from paralens.interpreters.boolean import Circuit
from paralens.interpreters.codegen import compiler_for
from paralens.interpreters.training import Trainer
from paralens.lenses import R
from paralens.lenses.learner import Learner
from paralens.lenses.losses import mse, softmax_cross_entropy, xor
from paralens.lenses.optimisers import GD, RDA, Adagrad, Adam, Momentum, Nesterov

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROOT = Path(__file__).resolve().parent.parent


def again(obj):
    return pickle.loads(pickle.dumps(obj))


def same_bits(a, b) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same_bits, a, b))
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_params_alike(mine, theirs):
    """The same parameters, in order: names, types and initialisers' draws."""
    assert [(p.name, p.ty) for p in mine] == [(p.name, p.ty) for p in theirs]
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    assert all(same_bits(p.initial(rng_a), q.initial(rng_b)) for p, q in zip(mine, theirs))


def assert_keyed_by(values, params):
    """``values`` (Parameters) holds exactly these handles (by identity), one per parameter."""
    assert len({id(p) for p in params}) == len(params)
    assert {id(k) for k in values.handles} == {id(p) for p in params}


# -- diagrams ------------------------------------------------------------------------------

def registered_boxes():
    boxes = []
    for name, cls in sorted(Generator.registry.items()):
        if "<locals>" in cls.__qualname__:
            continue                    # a test's own generator, defined in a function
        if cls is BooleanDifference:
            boxes += [BooleanDifference(PseudoLinear.example(n)) for n in (1, 2, 3)]
            continue
        boxes += [cls.example(n) for n in (1, 2, 3)]
    return boxes


@pytest.mark.parametrize("box", registered_boxes(), ids=repr)
def test_every_registered_generator_pickles_and_trees(box):
    for copy in (again(box), from_tree(box.to_tree()), loads(dumps(box))):
        assert copy == box and type(copy) is type(box)
        assert copy.__dict__.keys() - {"_layers"} == box.__dict__.keys() - {"_layers"}
        assert (copy.dom, copy.cod, copy.name) == (box.dom, box.cod, box.name)
        xs = [sample(w, k, type(box).sample) for k, w in enumerate(box.dom.inside)]
        assert same_bits(run(copy, xs), run(box, xs))               # and means the same


def run(diagram, xs):
    """The diagram's outputs on ``xs``: a circuit run on bits (oracle generators
    included), any other diagram compiled as training compiles it."""
    if all(w.kind == "Bool" for w in diagram.dom.inside + diagram.cod.inside):
        return Circuit(diagram)(*xs)
    return compiler_for(diagram)(diagram)(*xs)


def sample(wire, seed: int, declared=None):
    """A batch of 3 random values of a wire: bits, or reals in [0.5, 1.5], or drawn by
    the generator's own ``sample`` where it declares one (``Generator.sample``)."""
    g = np.random.default_rng(seed)
    if declared is not None:
        return declared(wire, g, 3)
    shape = (3, ) + wire.shape
    return g.integers(0, 2, shape).astype(bool) if wire.kind == "Bool" else \
        g.uniform(0.5, 1.5, shape).astype(wire.dtype)


def test_types_pickle_and_tree():
    x = Real(2, 3, dtype="float32") @ Real(1) @ Real(4)
    for copy in (again(x), from_tree(x.to_tree()), loads(dumps(x))):
        assert copy == x and [w.dtype for w in copy.inside] == [w.dtype for w in x.inside]


@settings(max_examples=60, **SETTINGS)
@given(diagrams(max_boxes=6), diagrams(max_boxes=4), st.data())
def test_random_diagrams_pickle_and_tree(f, g, data):
    h = data.draw(diagrams(dom=f.cod, max_boxes=4))
    for d in (f, f @ g, f >> h, (f @ g) >> (h @ g.cod)):   # traced functions and trees of parts
        for copy in (again(d), from_tree(d.to_tree()), Diagram.from_tree(d.to_tree()),
                     loads(dumps(d))):
            assert copy == d and copy.dom == d.dom and copy.cod == d.cod


@settings(max_examples=30, **SETTINGS)
@given(circuits(max_gates=6))
def test_random_circuits_pickle_and_tree(c):
    assert again(c) == c
    assert loads(dumps(c)) == c


def test_a_long_chain_pickles_without_recursion():
    x = Real(2)
    chain = Diagram.id(x).then(*[Tanh(x)] * 5_000)            # a tree of parts 5,000 deep
    chain = chain @ Sigmoid(x) >> Diagram.id(x) @ Relu(x)
    copy = again(chain)
    assert copy == chain and copy.size == chain.size == 5_002
    model = dense(2, 2, Tanh).then(*[dense(2, 2, Tanh) for _ in range(400)])
    copy = again(model)
    assert copy.diagram == model.diagram
    assert_params_alike(copy.params, model.params)


def test_caches_are_not_pickled_and_a_machine_compiles_afresh():
    m = elman(2, 3)
    params = m.init(0)
    xs = np.random.default_rng(0).normal(size=(2, 5, 2))
    ys, final = rec.run(m, params, xs)
    rec.jvp(m, params, xs)
    grads = rec.gradient(m, params, xs, np.ones((2, 5, 3)))
    assert {"_diagram", "_tangent", "_lenses"} <= m.__dict__.keys()
    assert "_compiled_by" in m.diagram.__dict__     # compiled functions, kept on the loop
    copy, values = again((m, params))
    assert not {"_diagram", "_tangent", "_lenses"} & copy.__dict__.keys()
    assert "_compiled_by" not in copy.diagram.__dict__
    assert_keyed_by(values, copy.params)
    ys2, final2 = rec.run(copy, values, xs)
    grads2 = rec.gradient(copy, values, xs, np.ones((2, 5, 3)))
    assert same_bits(ys, ys2) and same_bits(final, final2)
    assert all(same_bits(grads[p], grads2[q]) for p, q in zip(m.params, copy.params))


def test_what_lenses_and_traced_functions_derive_is_not_pickled():
    learner = Learner(dense(3, 2, Tanh), mse(Real(2)), GD(lr=0.1))
    lens = learner.lens
    assert lens == R((learner.model >> learner.loss).diagram)    # caches its equations
    _ = lens.put, lens.get
    layer = learner.model.diagram
    _ = layer.inside                                            # lays the traced function out
    assert {"put", "get", "_equations"} <= lens.__dict__.keys()
    assert layer._parts._layout is not None
    copy = again(learner)
    assert copy.lens.__dict__.keys() == {"dom", "cod", "residual", "forward", "backward"}
    assert copy.model.diagram._parts._layout is None
    assert copy.lens == lens and copy.lens.put == lens.put and copy.model.diagram == layer


# -- Para maps, machines, kernels: the ready models ----------------------------------------

READY_PARAS = {
    "dense": lambda: dense(4, 3, Sigmoid),
    "dense chain": lambda: dense(4, 5, Tanh) >> dense(5, 3, Relu) >> dense(3, 2),
    "lookup_table": lambda: lookup_table(3, 2),
    "pseudo_linear": lambda: pseudo_linear(5),
    "logic_gate_network": lambda: logic_gate_network(6, [5, 4, 2], seed=1),
    "tied": lambda: (lambda layer: layer >> layer)(dense(3, 3, Tanh)),   # one handle, twice
    "normal init": lambda: Para((Param(Real(3), "b", normal(0.5)), ), Bias(Real(3))),
}


@pytest.mark.parametrize("name", READY_PARAS)
def test_ready_para_maps_pickle(name):
    model = READY_PARAS[name]()
    values = model.init(2)
    copy, copied = again((model, values))
    assert copy.diagram == model.diagram and (copy.dom, copy.cod) == (model.dom, model.cod)
    assert copy.param_type == model.param_type
    assert_params_alike(copy.params, model.params)
    assert_keyed_by(copied, copy.params)
    assert all(same_bits(copied[q], values[p]) for p, q in zip(model.params, copy.params))
    assert all(same_bits(copy.init(5)[q], model.init(5)[p])
               for p, q in zip(model.params, copy.params))


@pytest.mark.parametrize("make", [lambda: elman(3, 4), lambda: gru(2, 3),
                                  lambda: elman(2, 2) >> gru(2, 3)], ids=["elman", "gru", "both"])
def test_ready_machines_pickle_and_run_the_same(make):
    m = make()
    params = m.init(1)
    copy, values = again((m, params))
    assert copy.stage.diagram == m.stage.diagram and copy.state == m.state
    assert copy.diagram == m.diagram                      # the loop box, rebuilt
    assert all(same_bits(a, b) for a, b in zip(copy.initial, m.initial))
    assert_params_alike(copy.params, m.params)
    assert_keyed_by(values, copy.params)
    xs = np.random.default_rng(0).normal(size=(2, 6, m.dom.inside[0].shape[0]))
    ys, final = rec.run(m, params, xs)
    ys2, final2 = rec.run(copy, values, xs)
    assert same_bits(ys, ys2) and same_bits(final, final2)


@settings(max_examples=25, **SETTINGS)
@given(machines(max_boxes=2))
def test_random_machines_pickle(m):
    copy = again(m)
    assert copy.stage.diagram == m.stage.diagram and copy.diagram == m.diagram
    assert (copy.state, copy.dom, copy.cod) == (m.state, m.dom, m.cod)
    assert all(same_bits(a, b) and a.flags.writeable == b.flags.writeable
               for a, b in zip(copy.initial, m.initial))
    assert_params_alike(copy.params, m.params)
    assert from_tree(m.diagram.to_tree()) == m.diagram


def kernel_models():
    return {
        "state_space": markov.state_space(
            np.zeros(2), np.eye(2), [[1.0, 1.0], [0.0, 1.0]], None, 0.1 * np.eye(2),
            [[1.0, 0.0]], [0.5], [[0.2]], [0.1, np.nan, 0.4, 0.2]),
        "time-varying": markov.state_space(
            np.zeros(1), np.eye(1), np.linspace(0.5, 1.0, 3)[:, None, None], None,
            np.full((3, 1, 1), 0.3), [[1.0]], None, [[0.4]], [0.2, -0.1, 0.3, 0.0]),
        "local_level": markov.local_level([1120.0, 1160.0, np.nan, 1210.0], 1469.1, 15099.0),
        "hidden_markov": markov.hidden_markov([0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]],
                                              [[0.7, 0.3], [0.1, 0.9]], [0, 1, None, 1]),
        "nonlinear_chain": markov.nonlinear_chain(np.sin, 0.1, 0.2, [0.3, np.nan, -0.1], x0=0.5),
        "binary_tree": markov.binary_tree(3, 2, sigma=1.0, tau=0.5,
                                          leaves=np.random.default_rng(0).normal(size=(8, 2))),
        "kernels": (kernels.Prior(np.zeros(2), np.eye(2)) >> kernels.Gaussian(np.eye(2), Q=np.eye(2))
                    >> kernels.Observe(np.eye(2), np.zeros(2), np.eye(2), [1.0, np.nan])),
    }


@pytest.mark.parametrize("name", kernel_models())
def test_kernel_models_pickle_and_tree_and_smooth_the_same(name):
    model = kernel_models()[name]
    evidence = bffg.backward_filter(model).log_evidence
    for copy in (again(model), from_tree(model.to_tree()), loads(dumps(model))):
        assert copy == model
        for box, box2 in zip(model.boxes, copy.boxes):
            for key, value in box.__dict__.items():
                if isinstance(value, np.ndarray):       # read-only, repeated arrays kept so
                    other = box2.__dict__[key]
                    assert other.flags.writeable == value.flags.writeable
                    if value.ndim and value.strides[0] == 0:
                        assert other.strides[0] == 0
        assert bffg.backward_filter(copy).log_evidence == evidence


def test_kernels_are_equal_by_value():
    A = np.array([[1.0, 0.5], [0.0, 1.0]])
    assert kernels.Gaussian(A, Q=np.eye(2)) == kernels.Gaussian(A.copy(), Q=np.eye(2))
    assert kernels.Gaussian(A, Q=np.eye(2)) != kernels.Gaussian(A.T, Q=np.eye(2))
    assert kernels.Observe([[1.0]], y=[np.nan]) == kernels.Observe([[1.0]], y=[np.nan])
    assert kernels.Observe([[1.0]], y=[np.nan]) != kernels.Observe([[1.0]], y=[0.0])
    assert kernels.Gaussian(A, Q=np.eye(2)) != kernels.Gaussian(A, Q=np.eye(2), name="other")
    aux = kernels.Gaussian(np.eye(1), Q=np.eye(1))
    assert kernels.Transition(np.sin, 0.1, aux) == kernels.Transition(np.sin, 0.1, aux)
    assert kernels.Transition(np.sin, 0.1, aux) != kernels.Transition(np.cos, 0.1, aux)


def test_a_lambda_in_a_box_is_refused_naming_the_box():
    step = kernels.Transition(lambda x: np.sin(x), 0.1,
                              kernels.Gaussian(np.eye(1), Q=np.eye(1)), name="f1")
    model = kernels.Prior([0.0], [[1.0]]) >> step
    with pytest.raises(pickle.PicklingError, match=r"the box f1: Real\(1\) → Real\(1\): its f "
                                                   r"is the function .*<lambda>.* a lambda"):
        pickle.dumps(model)
    with pytest.raises(TypeError, match=r"f1: Real\(1\) → Real\(1\): its f is the function "
                                        r".*<lambda>, which a tree cannot store"):
        model.to_tree()


def test_a_lambda_initialiser_is_refused_naming_the_parameter():
    bad = Para((Param(Real(3), "b", lambda rng, shape: rng.normal(size=shape)), ), Bias(Real(3)))
    learner = Learner(dense(2, 3) >> bad, mse(Real(3)), GD(lr=0.1))
    for what in (bad, learner, Machine(Para(bad.params, bad.diagram), Real(3))):
        with pytest.raises(pickle.PicklingError, match=r"cannot pickle the map: the init of its "
                                                       r"parameter b \(Real\(3\)\) is the "
                                                       r"function .*<lambda>"):
            pickle.dumps(what)


def test_normal_is_a_picklable_initialiser_drawing_normal_entries():
    init = again(normal(0.25))
    assert same_bits(init(np.random.default_rng(4), (3, 2)),
                     np.random.default_rng(4).normal(0.0, 0.25, size=(3, 2)))


# -- learners ------------------------------------------------------------------------------

OPTIMISERS = [lambda: GD(lr=0.1), lambda: Momentum(lr=0.05, gamma=0.9),
              lambda: Nesterov(lr=0.05, gamma=0.8), lambda: Adagrad(lr=0.1),
              lambda: Adam(lr=0.01)]
ACTIVATIONS = [Sigmoid, Tanh, Relu, None]


@st.composite
def learners(draw):
    """A random learner: 1 – 3 dense layers, an optimiser and a loss."""
    widths = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4))
    model = Para.id(Real(widths[0]))
    for n_in, n_out in zip(widths, widths[1:]):
        model = model >> dense(n_in, n_out, draw(st.sampled_from(ACTIVATIONS)))
    loss = draw(st.sampled_from([mse, softmax_cross_entropy]))(Real(widths[-1]))
    return Learner(model, loss, draw(st.sampled_from(OPTIMISERS))())


def assert_learners_alike(copy: Learner, learner: Learner):
    assert copy.diagram == learner.diagram and copy.lens == learner.lens
    assert copy.state_type == learner.state_type
    assert copy.model.diagram == learner.model.diagram
    assert copy.loss.diagram == learner.loss.diagram
    assert_params_alike(copy.model.params, learner.model.params)
    assert type(copy.optimiser) is type(learner.optimiser)
    assert vars(copy.optimiser) == vars(learner.optimiser)


@settings(max_examples=15, **SETTINGS)
@given(learners(), st.integers(0, 2**16))
def test_random_learners_pickle_and_step_the_same(learner, seed):
    state, params = learner.init(seed)
    copy, state2, params2 = again((learner, state, params))
    assert_learners_alike(copy, learner)
    assert_keyed_by(params2, copy.model.params)
    g = np.random.default_rng(seed)
    x = g.normal(size=(5, learner.model.dom.inside[0].shape[0]))
    t = g.normal(size=(5, learner.model.cod.inside[0].shape[0]))
    s1, p1, loss1 = Trainer(learner).step(state, params, x, t)
    s2, p2, loss2 = Trainer(copy).step(state2, params2, x, t)
    assert loss1 == loss2 and all(same_bits(a, b) for a, b in zip(s1, s2))
    assert all(same_bits(p1[p], p2[q]) for p, q in zip(learner.model.params, copy.model.params))


def test_boolean_and_recurrent_learners_pickle():
    lut = lookup_table(2, 1)
    rda = Learner(lut, xor(lut.cod), RDA(batch="vote"))
    assert_learners_alike(again(rda), rda)
    rnn = Learner(elman(2, 3), mse(Real(3)), Adam(lr=0.01), recompute=2)
    copy = again(rnn)
    assert_learners_alike(copy, rnn)
    assert copy.segment == rnn.segment and copy.input_type == rnn.input_type


# -- in another process --------------------------------------------------------------------

WORKER = """
import pickle, sys
from paralens.interpreters.training import Trainer
learner, state, params, x, t, steps = pickle.load(sys.stdin.buffer)
state, params = Trainer(learner).fit(state, params, x, t, steps=steps, batch_size=4,
                                     seed=3, show=False)
pickle.dump((learner, state, params), sys.stdout.buffer)
"""


def train_in_a_worker(learner, state, params, x, t, steps):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    done = subprocess.run([sys.executable, "-c", WORKER], env=env, capture_output=True,
                          input=pickle.dumps((learner, state, params, x, t, steps)),
                          timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    return pickle.loads(done.stdout)


def worker_cases():
    g = np.random.default_rng(11)
    x = g.normal(size=(12, 3))
    t = np.tanh(x @ g.normal(size=(3, 2)))
    xs = g.normal(size=(8, 5, 2))
    ts = np.cumsum(xs, axis=1)[..., :1].repeat(3, axis=2) * 0.1
    return {
        "GD": (Learner(dense(3, 4, Tanh) >> dense(4, 2), mse(Real(2)), GD(lr=0.1)), x, t),
        "Adam": (Learner(dense(3, 5, Sigmoid) >> dense(5, 2, Tanh), mse(Real(2)),
                         Adam(lr=0.05)), x, t),
        "Adam, recurrent": (Learner(elman(2, 3), mse(Real(3)), Adam(lr=0.05)), xs, ts),
    }


@pytest.mark.parametrize("name", worker_cases())
def test_a_pickled_learner_trains_in_another_process_to_the_same_bits(name):
    learner, x, t = worker_cases()[name]
    state, params = learner.init(0)
    mine_state, mine = Trainer(learner).fit(state, params, x, t, steps=6, batch_size=4,
                                            seed=3, show=False)
    # pickled after training here: whatever was compiled here is not sent
    copy, theirs_state, theirs = train_in_a_worker(learner, state, params, x, t, 6)
    assert_learners_alike(copy, learner)
    assert_keyed_by(theirs, copy.model.params)
    moved = [not same_bits(mine[p], params[p]) for p in learner.model.params]
    assert any(moved)                                   # training did move the parameters
    assert all(same_bits(mine[p], theirs[q])
               for p, q in zip(learner.model.params, copy.model.params))
    assert all(same_bits(a, b) for a, b in zip(mine_state, theirs_state))


# -- DisCoPy's foliation -------------------------------------------------------------------

def plain(d: Diagram) -> symmetric.Diagram:
    """The plain DisCoPy diagram of the same shape: a box of each name (a swap for a
    swap), on the same wires (named as paralens prints them), at the same offsets."""
    ty = lambda t: symmetric.Ty(*[repr(w) for w in t.inside])
    same = lambda box: symmetric.Swap(ty(box.left), ty(box.right)) \
        if isinstance(box, symmetric.Swap) else symmetric.Box(box.name, ty(box.dom), ty(box.cod))
    return symmetric.Diagram.decode(ty(d.dom), [(same(box), len(left))
                                                for left, box, _ in d.inside])


def layering(d) -> list:
    """Each layer as the names of its wires and boxes, left to right."""
    return [[("box", x.name) if k % 2 else ("wires", [str(w) for w in x.inside])
             for k, x in enumerate(layer)] for layer in d.inside]


def assert_foliates_as_discopy(d: Diagram, depth: bool = True):
    folded, oracle = d.foliation(), plain(d).foliation()
    assert layering(folded) == layering(oracle) and len(folded) == len(oracle)
    if depth:                   # DisCoPy's symmetric depth, through hypergraphs
        assert d.depth() == plain(d).depth()
    assert isinstance(folded, Diagram) and (folded.dom, folded.cod) == (d.dom, d.cod)
    assert folded.size == d.size
    return folded


@settings(max_examples=30, **SETTINGS)
@given(diagrams(max_boxes=5), diagrams(max_boxes=3))
def test_random_diagrams_foliate_as_discopy_and_mean_the_same(f, g):
    for d in (f, f @ g):
        folded = assert_foliates_as_discopy(d, depth=d is f)
        xs = [sample(w, k) for k, w in enumerate(d.dom.inside)]
        assert same_bits(run(d, xs), run(folded, xs))
        dys = [sample(w, 9 + k) for k, w in enumerate(d.cod.inside)]
        assert all(np.allclose(a, b, rtol=1e-12, atol=1e-12) for a, b in zip(
            run(R(d).put, xs + dys), run(R(folded).put, xs + dys)))
        assert same_bits(run(reverse(d), xs + dys), run(reverse(folded), xs + dys))
        for copy in (again(folded), from_tree(folded.to_tree()), loads(dumps(folded))):
            assert copy == folded


def test_foliation_of_a_known_diagram(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    x = Real(2)
    d = Tanh(x) @ Sigmoid(x) >> Tanh(x) @ x >> x @ Relu(x)
    folded = assert_foliates_as_discopy(d)
    assert layering(folded) == [
        [("wires", []), ("box", "Tanh"), ("wires", []), ("box", "Sigmoid"), ("wires", [])],
        [("wires", []), ("box", "Tanh"), ("wires", []), ("box", "Relu"), ("wires", [])]]
    assert len(folded) == folded.depth() == 2 and folded.size == 4
    assert folded.to_staircases() == d          # DisCoPy's inverse of foliation
    folded.draw(path=str(tmp_path / "foliated.png"))
    assert (tmp_path / "foliated.png").stat().st_size > 0


def test_ready_models_foliate_as_discopy():
    for model in (dense(3, 2, Tanh) >> dense(2, 2), lookup_table(2, 1), elman(2, 3).stage):
        assert_foliates_as_discopy(model.diagram)
