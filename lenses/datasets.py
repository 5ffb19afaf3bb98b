"""Data sets shipped with paralens (nothing is downloaded at run time).

* ``iris()``: Fisher's Iris, the UCI ``iris.data`` variant (rows 35 and 38 as
  in that file), 150 rows in class order. UCI Machine Learning Repository,
  CC BY 4.0.
* ``digits()``: Optical Recognition of Handwritten Digits (E. Alpaydin,
  C. Kaynak), 1,797 images of 8×8 pixel counts 0–16, as distributed with
  scikit-learn. UCI Machine Learning Repository, CC BY 4.0.
* ``nile()``: the annual flow volume of the Nile at Aswan, 1871–1970 (10⁸ m³),
  the classic local-level (Kalman) example; public domain, as distributed with
  statsmodels; first analysed by Cobb (1978), *Biometrika* 65(2), 243–51; see
  Durbin & Koopman, *Time Series Analysis by State Space Methods*, ch. 2.

>>> X, y, classes = iris()
>>> X.shape, y.shape, classes
((150, 4), (150,), ('Iris-setosa', 'Iris-versicolor', 'Iris-virginica'))
>>> X, y = digits()
>>> X.shape, y.shape, int(X.max()), sorted(set(y.tolist())) == list(range(10))
((1797, 64), (1797,), 16, True)
>>> years, volumes = nile()
>>> years.shape, int(years[0]), int(years[-1]), float(volumes[0])
((100,), 1871, 1970, 1120.0)
>>> x_train, y_train, x_test, y_test = rda_iris(classes=3, labels="one-hot")
>>> x_train.shape, y_train.shape, x_test.shape, y_test.shape, x_train.dtype
((75, 4), (75, 3), (75, 4), (75, 3), dtype('bool'))
"""

from __future__ import annotations

import csv
import gzip
from importlib import resources

import numpy as np

__all__ = ["iris", "digits", "nile", "one_hot", "rda_iris", "binary_digits", "bits_of"]


def iris():
    """Features (150, 4), class indices (150,), class names."""
    with resources.files(__package__).joinpath("data/iris.csv").open() as file:
        rows = list(csv.reader(file))[1:]
    classes = tuple(sorted({row[4] for row in rows}))
    X = np.array([[float(v) for v in row[:4]] for row in rows])
    y = np.array([classes.index(row[4]) for row in rows])
    return X, y, classes


def digits():
    """Pixels (1797, 64) as floats 0–16, labels (1797,) in 0–9."""
    with resources.files(__package__).joinpath("data/digits.csv.gz").open("rb") as file:
        table = np.loadtxt(gzip.open(file, "rt"), delimiter=",")
    return table[:, :64], table[:, 64].astype(int)


def nile():
    """Years (100,) as ints 1871–1970, and the Nile's annual flow (100,) in 10⁸ m³."""
    with resources.files(__package__).joinpath("data/nile.csv").open() as file:
        table = np.loadtxt(file, delimiter=",", skiprows=1)
    return table[:, 0].astype(int), table[:, 1]


def _classes(y, n: int, where: str, bound: str) -> np.ndarray:
    """``y`` as class indices, each a whole number from 0 to n − 1."""
    y = np.asarray(y)
    if y.size == 0:
        return y.astype(int)
    if y.dtype.kind not in "iu":
        raise TypeError(f"{where}: class indices must be whole numbers, got dtype {y.dtype}")
    bad = np.flatnonzero((y < 0) | (y >= n))
    if bad.size:
        raise ValueError(f"{where}: class index {y.flat[bad[0]]} (at position {bad[0]}) "
                         f"{bound}")
    return y


def one_hot(y: np.ndarray, n: int) -> np.ndarray:
    """Rows of the identity matrix: class k ↦ e_k, for k from 0 to n − 1.

    >>> one_hot([2, 0], 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    return np.eye(n)[_classes(y, n, "one_hot", f"is outside 0 to {n - 1}")]


def bits_of(y: np.ndarray, n_bits: int) -> np.ndarray:
    """Class indices as ``n_bits`` bits, least significant first."""
    y = _classes(y, 2 ** n_bits, "bits_of", f"does not fit in {n_bits} bits")
    return ((y[:, None] >> np.arange(n_bits)) & 1).astype(bool)


def rda_iris(classes: int = 2, labels: str = "binary"):
    """The RDA Iris protocol (reference §7.1), on the UCI ``iris.data`` variant:

    * setosa and versicolor (``classes=2``) or all three;
    * each feature min–max normalised over that subset, its bit set when > 0.5;
    * labels as the class index in binary (1 or 2 bits) or one-hot (2 or 3 bits);
    * within each class (stable order), the first 25 rows train, the last 25 test.

    Returns (x_train, y_train, x_test, y_test) as bool arrays, the training rows
    in class order (RDA's single pass)."""
    if classes not in (2, 3) or labels not in ("binary", "one-hot"):
        raise ValueError(f"rda_iris: classes is 2 or 3 and labels 'binary' or 'one-hot', "
                         f"got {classes!r}, {labels!r}")
    X, y, _ = iris()
    keep = y < classes
    X, y = X[keep], y[keep]
    low, high = X.min(axis=0), X.max(axis=0)
    bits = (X - low) / (high - low) > 0.5
    if labels == "binary":
        targets = bits_of(y, 1 if classes == 2 else 2)
    else:
        targets = np.eye(classes, dtype=bool)[y]
    order = np.argsort(y, kind="stable")
    train, test = [], []
    for c in range(classes):
        rows = order[y[order] == c]
        train += list(rows[:25])
        test += list(rows[-25:])
    return bits[train], targets[train], bits[test], targets[test]


def binary_digits(threshold: float = 8.0, classes=None):
    """The 8×8 digits as 64 bits (a pixel is set when its count 0–16 is ≥
    ``threshold``), optionally only the given classes. Returns (bits, labels)."""
    X, y = digits()
    if classes is not None:
        keep = np.isin(y, classes)
        X, y = X[keep], y[keep]
    return X >= threshold, y
