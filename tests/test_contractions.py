"""The contractions the NumPy rule and the code generator write with NumPy's faster
operators equal ``np.einsum`` on every pattern of batched and shared operands."""

import itertools

import numpy as np
import pytest

from paralens.interpreters import runtime

SIZES = {"a": 2, "b": 3, "c": 4}


@pytest.mark.parametrize("spec", sorted(runtime.CONTRACTIONS))
def test_each_fast_contraction_is_the_einsum(spec):
    rng = np.random.default_rng(0)
    ins, out = spec.split("->")
    operands = ins.split(",")
    fast = runtime.contraction(spec)
    for batched in itertools.product([False, True], repeat=len(operands)):
        xs = [rng.normal(size=((5, ) if b else ()) + tuple(SIZES[c] for c in op))
              for op, b in zip(operands, batched)]
        full = ",".join("..." + op for op in operands) + "->..." + out
        np.testing.assert_allclose(fast(*xs), np.einsum(full, *xs), rtol=1e-13, atol=1e-13)


def test_a_renamed_spec_takes_the_fast_form_and_others_fall_back():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    np.testing.assert_allclose(runtime.contraction("jk,ik->ij")(a, b), np.einsum("jk,ik->ij", a, b))
    x, y, z = rng.normal(size=2), rng.normal(size=3), rng.normal(size=(2, 3))
    np.testing.assert_allclose(runtime.contraction("i,j,ij->")(x, y, z),
                               np.einsum("i,j,ij->", x, y, z))
