"""paralens: compositional learning with string diagrams of parametrised lenses.

``import paralens`` is the entry point. Its three subpackages are the
repository's three folders, installed under this one name:

* ``paralens.categories``: types, generators, diagrams, Para, machines (St(C),
  the delayed trace), Markov kernels, the laws;
* ``paralens.lenses``: lenses whose halves are diagrams, forward mode, learners,
  losses, optimisers, data sets;
* ``paralens.interpreters``: the flat plan and one module per semantics
  (``numpy``, ``codegen``, ``sympy``, ``boolean``, ``recurrent``, ``bffg``), and
  training.

The names most used are also here, imported when first used (so that
``import paralens.categories`` costs only what it needs): the builders (types,
generators, layers, cells, kernels and ready models, losses, optimisers,
schedules) and the runners (``compile``: the NumPy code generator; ``run``,
``jvp``, ``gradient`` for machines; ``backward_filter``, ``smooth_chain``,
``smooth_hmm`` for smoothing, ``Likelihood`` to fit chains; ``Trainer``, ``TruncatedTrainer``, ``save``, ``load``):

>>> import numpy as np
>>> import paralens as pl
>>> model = pl.dense(4, 3, pl.Sigmoid)
>>> learner = pl.Learner(model, pl.mse(pl.Real(3)), pl.GD(lr=0.5))
>>> pl.R(pl.Tanh(pl.Real(2))).dom
Real(2)
>>> params = model.init(seed=0)
>>> pl.compile(model.diagram)(*params.values(), np.zeros((2, 4))).shape
(2, 3)
"""

import importlib
import os

__version__ = "0.1.0"

#: where each name of the entry point lives
_FROM = {
    ".categories": [
    "Add", "add", "And", "BatchWeight", "Bias", "Bits", "Bool", "BooleanDifference", "Box", "Broadcast",
    "CompositionError", "Constant", "Copy", "copy", "Cos", "delay", "dense", "describe",
    "Diagram", "Discard", "discard", "dtrace", "Einsum", "elman", "Exp", "Eye", "FeedbackFunctor",
    "forward_derivative", "from_feedback", "function", "gate_layer", "Gather", "Generator",
    "gru", "Id", "laws", "lecun", "Linear", "LinearGenerator", "LinearT", "Log",
    "logic_gate_network", "LogDet", "LogSumExp", "lookup_table", "Loop", "Machine", "machine",
    "MajorityBatch", "Mul", "Neg", "normal", "Not", "One", "Or", "OracleGenerator",
    "Outer", "Para", "Param", "Parameters", "Parity", "Permutation", "pseudo_linear", "PseudoLinear",
    "random_bits", "Real", "Reciprocal", "Relu", "reverse", "Scale", "Scatter", "Scope", "Seq",
    "Sigmoid", "Sin", "Softmax", "Solve", "Spread", "Sqrt", "Step", "step_of", "Sum", "sum_batch",
    "SumBatch", "swap", "Swap", "Tanh", "Ty", "VoteBatch", "Wire", "Xor", "Zero", "zero",
    "zero_bits", "zeros",
    ],
    ".categories.kernels": ["Gaussian", "Prior", "Observe", "Transition", "Stochastic",
                            "Categorical", "Emit", "Chain", "HiddenMarkov", "Finite"],
    ".categories.markov": ["state_space", "local_level", "hidden_markov", "nonlinear_chain",
                           "binary_tree"],
    ".categories.linalg": ["Einsum", "Solve", "LogDet", "Eye"],
    ".categories.chains": ["log_likelihood", "kalman_filter", "smoother", "local_level_likelihood",
                           "hmm_log_likelihood", "hmm_filter", "hmm_smoother"],
    ".lenses": ["Lens", "R", "tangent"],
    ".lenses.learner": ["Learner"],
    ".lenses.losses": ["loss", "mse", "softmax_cross_entropy", "binary_cross_entropy_with_logits",
                       "hinge", "huber", "dot", "xor", "codewords", "nearest"],
    ".lenses.schedules": ["Schedule", "constant_schedule", "linear_schedule",
                          "exponential_decay", "cosine_decay_schedule",
                          "warmup_cosine_decay_schedule", "piecewise_constant_schedule"],
    ".lenses.optimisers": ["Optimiser", "GD", "Momentum", "Nesterov", "Adagrad", "Adam", "AdamW", "RDA"],
    ".lenses.datasets": ["iris", "digits", "one_hot", "rda_iris", "binary_digits", "nile"],
    ".interpreters": ["flatten"],
    # the runners, beside the builders
    ".interpreters.codegen": ["compile"],
    ".interpreters.recurrent": ["run", "jvp", "gradient", "initial_state"],
    ".interpreters.bffg": ["backward_filter", "smooth_chain", "smooth_hmm", "sample_chain",
                           "sample_hmm"],
    ".interpreters.semiring": ["most_probable_path"],
    ".interpreters.likelihood": ["Likelihood"],
    ".interpreters.training": ["Trainer", "TruncatedTrainer", "Evaluation", "NonFiniteLoss",
                               "CheckpointError", "save", "load"],
}
_SUBPACKAGES = ("categories", "lenses", "interpreters")

# Installed, the subpackages are inside this folder (setuptools' package-dir mapping put
# them there). Imported from a checkout (its root on sys.path, as ``python -m`` or a
# notebook in it does), they are the folders beside this one: look there too.
_here = os.path.dirname(os.path.abspath(__file__))
_root = os.path.dirname(_here)
if not os.path.isdir(os.path.join(_here, "categories")) and all(
        os.path.isfile(os.path.join(_root, name, "__init__.py")) for name in _SUBPACKAGES):
    __path__.append(_root)
_WHERE = {name: module for module, names in _FROM.items() for name in names}

__all__ = sorted([*_WHERE, *_SUBPACKAGES])
del _here, _root


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module("." + name, __name__)
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'paralens' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value         # found once
    return value


def __dir__():
    return __all__
