"""paralens interpreters: one flat IR (``plan``) and one module per semantics,
each a rule table from generator name to implementation.

``interpreters.sympy`` is imported on first use (SymPy is slow to import).
"""

import importlib

from . import numpy, plan
from .plan import flatten

__all__ = ["numpy", "plan", "sympy", "flatten"]


def __getattr__(name):
    if name == "sympy":
        return importlib.import_module(".sympy", __name__)
    raise AttributeError(f"module 'interpreters' has no attribute {name!r}")
