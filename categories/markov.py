"""Ready smoothing models: diagrams of Markov kernels (``categories.kernels``) for the
BFFG interpreter (``interpreters.bffg``).

>>> import numpy as np
>>> tree = binary_tree(2, 1, sigma=1.0, tau=0.5, leaves=np.zeros((4, 1)))
>>> tree.dom, tree.cod
(Ty(), Ty())
"""

from __future__ import annotations

import numpy as np

from .adapter import Id, Real
from .kernels import Gaussian, Observe, Prior
from .structural import copy

__all__ = ["binary_tree"]


# -- trees ----------------------------------------------------------------------------------

def _tensor(diagrams):
    """The tensor of a list of diagrams, paired up level by level (depth log n)."""
    while len(diagrams) > 1:
        paired = [a @ b for a, b in zip(diagrams[::2], diagrams[1::2])]
        diagrams = paired + ([diagrams[-1]] if len(diagrams) % 2 else [])
    return diagrams[0]


def binary_tree(depth: int, d: int, sigma: float = 1.0, tau: float = 1.0, leaves=None,
                prior: Prior | None = None):
    """A Gaussian random walk down a complete binary tree of the given depth, with unit-length
    edges: the root x ~ ``prior`` (default: fixed at 0, ``Prior(0, 0)``), every child
    x′ ~ N(x, σ² I) of its parent (each edge a ``Gaussian(I, Q=σ² I)``), and each of the
    2^depth leaves observed as y ~ N(x, τ² I): ``leaves`` (2^depth, d), NaN entries missing
    (None: nothing observed). With the root at 0, the leaves' observations are
    y ~ N(0, σ² K + τ² I) coordinate by coordinate, K_ij the depth of the most recent
    common ancestor of leaves i and j (K_ii = depth). The leaves are numbered left to right:
    the ancestors of leaf i at level l are i >> (depth − l).

    The diagram is I → I: prior, then per level a copy of every node and two edges, then the
    observations; its 2^(depth+1) − 1 nodes are built and flattened in time linear in
    their number.
    """
    if int(depth) != depth or depth < 0:
        raise ValueError(f"binary_tree: the depth must be an int ≥ 0, got {depth!r}")
    if int(d) != d or d < 1:
        raise ValueError(f"binary_tree: the dimension must be an int ≥ 1, got {d!r}")
    depth, d, n = int(depth), int(d), 2 ** int(depth)
    for value, what in [(sigma, "sigma"), (tau, "tau")]:
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"binary_tree: {what} must be a finite number ≥ 0, got {value!r}")
    if not tau > 0:
        raise ValueError("binary_tree: the leaf noise tau must be > 0")
    ys = np.full((n, d), np.nan) if leaves is None else np.array(leaves, dtype=float)
    if ys.shape != (n, d):
        raise ValueError(f"binary_tree: the leaves must be ({n}, {d}) (2^depth leaves, one "
                         f"vector each), got shape {ys.shape}")
    x = Real(d)
    if prior is None:
        prior = Prior(np.zeros(d), np.zeros((d, d)), name="root")
    elif not isinstance(prior, Prior) or prior.cod != x:
        raise TypeError(f"binary_tree: the prior must be a Prior on {x!r}, got {prior!r}")
    eye, Q = np.eye(d), sigma ** 2 * np.eye(d)
    diagram = prior
    for level in range(depth):
        edge = Gaussian(eye, Q=Q, name=f"edge{level + 1}")
        branch = copy(x) >> edge @ edge
        diagram = diagram >> _tensor([branch] * 2 ** level)
    leaf = Observe(eye, None, tau ** 2 * eye, ys[0], name="y0")
    return diagram >> _tensor([leaf] + [leaf.at(ys[i], name=f"y{i}") for i in range(1, n)])
