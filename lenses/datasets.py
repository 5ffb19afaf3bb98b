"""Data sets shipped with paralens (nothing is downloaded at run time).

* ``iris()``: Fisher's Iris, the UCI ``iris.data`` variant (rows 35 and 38 as
  in that file), 150 rows in class order. UCI Machine Learning Repository,
  CC BY 4.0.

>>> X, y, classes = iris()
>>> X.shape, y.shape, classes
((150, 4), (150,), ('Iris-setosa', 'Iris-versicolor', 'Iris-virginica'))
"""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np

__all__ = ["iris", "one_hot"]


def iris():
    """Features (150, 4), class indices (150,), class names."""
    with resources.files("lenses").joinpath("data/iris.csv").open() as file:
        rows = list(csv.reader(file))[1:]
    classes = tuple(sorted({row[4] for row in rows}))
    X = np.array([[float(v) for v in row[:4]] for row in rows])
    y = np.array([classes.index(row[4]) for row in rows])
    return X, y, classes


def one_hot(y: np.ndarray, n: int) -> np.ndarray:
    """Rows of the identity matrix: class k ↦ e_k."""
    return np.eye(n)[y]
