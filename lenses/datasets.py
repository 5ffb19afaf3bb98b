"""Data sets shipped with paralens (nothing is downloaded at run time).

* ``iris()``: Fisher's Iris, the UCI ``iris.data`` variant (rows 35 and 38 as
  in that file), 150 rows in class order. UCI Machine Learning Repository,
  CC BY 4.0.
* ``digits()``: Optical Recognition of Handwritten Digits (E. Alpaydin,
  C. Kaynak), 1,797 images of 8×8 pixel counts 0–16, as distributed with
  scikit-learn. UCI Machine Learning Repository, CC BY 4.0.

>>> X, y, classes = iris()
>>> X.shape, y.shape, classes
((150, 4), (150,), ('Iris-setosa', 'Iris-versicolor', 'Iris-virginica'))
>>> X, y = digits()
>>> X.shape, y.shape, int(X.max()), sorted(set(y.tolist())) == list(range(10))
((1797, 64), (1797,), 16, True)
"""

from __future__ import annotations

import csv
import gzip
from importlib import resources

import numpy as np

__all__ = ["iris", "digits", "one_hot"]


def iris():
    """Features (150, 4), class indices (150,), class names."""
    with resources.files("lenses").joinpath("data/iris.csv").open() as file:
        rows = list(csv.reader(file))[1:]
    classes = tuple(sorted({row[4] for row in rows}))
    X = np.array([[float(v) for v in row[:4]] for row in rows])
    y = np.array([classes.index(row[4]) for row in rows])
    return X, y, classes


def digits():
    """Pixels (1797, 64) as floats 0–16, labels (1797,) in 0–9."""
    with resources.files("lenses").joinpath("data/digits.csv.gz").open("rb") as file:
        table = np.loadtxt(gzip.open(file, "rt"), delimiter=",")
    return table[:, :64], table[:, 64].astype(int)


def one_hot(y: np.ndarray, n: int) -> np.ndarray:
    """Rows of the identity matrix: class k ↦ e_k."""
    return np.eye(n)[y]
