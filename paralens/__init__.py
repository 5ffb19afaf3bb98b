"""paralens: compositional learning with string diagrams of parametrised lenses.

``import paralens`` is the entry point. Its three subpackages are the
repository's three folders, installed under this one name:

* ``paralens.categories``: types, generators, diagrams, Para, R, the laws;
* ``paralens.lenses``: lenses whose halves are diagrams, learners, losses,
  optimisers, data sets;
* ``paralens.interpreters``: the flat plan and one module per semantics
  (``numpy``, ``codegen``, ``sympy``, ``boolean``), and training.

The names most used are also here:

>>> import paralens as pl
>>> model = pl.dense(4, 3, pl.Sigmoid)
>>> learner = pl.Learner(model, pl.mse(pl.Real(3)), pl.GD(lr=0.5))
>>> pl.R(pl.Tanh(pl.Real(2))).dom
Real(2)
"""

from . import categories, interpreters, lenses
from .categories import *  # noqa: F401,F403  (the syntax: types, generators, Para, R's pieces)
from .categories import __all__ as _categories
from .lenses import Lens, R
from .lenses.datasets import binary_digits, digits, iris, one_hot, rda_iris
from .lenses.learner import Learner
from .lenses.losses import codewords, dot, mse, nearest, softmax_cross_entropy, xor
from .lenses.optimisers import RDA, GD, Adagrad, Adam, Momentum, Nesterov, Optimiser
from .interpreters import flatten
from .interpreters.training import CheckpointError, NonFiniteLoss, Trainer

__version__ = "0.1.0"

__all__ = sorted([
    *_categories, "categories", "lenses", "interpreters", "Lens", "R", "Learner",
    "mse", "softmax_cross_entropy", "dot", "xor", "codewords", "nearest",
    "Optimiser", "GD", "Momentum", "Nesterov", "Adagrad", "Adam", "RDA",
    "iris", "digits", "one_hot", "rda_iris", "binary_digits",
    "flatten", "Trainer", "NonFiniteLoss", "CheckpointError"])
