"""Construction is linear: counted work, never wall-clock time.

Building a diagram, applying R, taking the lens halves, flattening them and
building a learner must cost the same per box whatever the size. Each check
counts the Python function calls made (a deterministic count of the work
done, independent of the machine's load) and the bytes allocated at the peak,
for a size n and for 10n, and asserts the ratio is that of linear growth
(≈ 10, allowed up to 13), far from the ≈ 100 of quadratic growth that a
DisCoPy layer's whole types would give.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc

import pytest

from paralens.categories import Diagram, Para, Real, Sigmoid, Tanh, dense
from paralens.interpreters.plan import flatten
from paralens.lenses import R
from paralens.lenses.learner import Learner
from paralens.lenses.losses import mse
from paralens.lenses.optimisers import GD, Adam


def work(build) -> tuple[int, int]:
    """(Python calls made, peak bytes allocated) while running ``build()``."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event == "call":
            calls += 1

    gc.collect()
    tracemalloc.start()
    sys.setprofile(count)
    try:
        result = build()
    finally:
        sys.setprofile(None)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert result is not None
    return calls, peak


def chain(n):
    x = Real(4)
    return Diagram.id(x).then(*[Tanh(x)] * n)


def lens_and_plans(n):
    lens = R(chain(n))
    return lens, flatten(lens.forward), flatten(lens.backward)


def learner(depth, optimiser=GD(lr=0.1)):
    layers = [dense(8, 8, Sigmoid) for _ in range(depth)]
    model = Para.id(Real(8)).then(*layers)
    step = Learner(model, mse(Real(8)), optimiser)
    return step, flatten(step.diagram)


def assert_linear(build, n, name):
    (calls, memory), (calls10, memory10) = work(lambda: build(n)), work(lambda: build(10 * n))
    assert 8 <= calls10 / calls <= 13, f"{name}: {calls} calls at {n}, {calls10} at {10 * n}"
    assert memory10 / memory <= 13, f"{name}: {memory} bytes at {n}, {memory10} at {10 * n}"


def test_a_chain_its_lens_and_both_halves_flattened_cost_linear_work():
    assert_linear(lens_and_plans, 300, "R + flatten of a Tanh chain")


def test_building_a_chain_costs_linear_work():
    assert_linear(chain, 1000, "Diagram.id(x).then(*boxes)")


@pytest.mark.parametrize("optimiser", [GD(lr=0.1), Adam()], ids=["GD", "Adam"])
def test_a_deep_learner_costs_linear_work(optimiser):
    assert_linear(lambda depth: learner(depth, optimiser), 12, "learner + flatten")


def test_the_lens_halves_store_linearly_many_type_entries():
    """The residual of R(chain of n boxes) has n wires; its halves' types are shared,
    not copied per layer: a chain of 10n boxes stores about 10× the entries."""
    def entries(n):
        lens = R(chain(n))
        seen, total, pending = set(), 0, [lens.forward, lens.backward]
        while pending:      # every type held by every node of both halves
            d = pending.pop()
            if id(d) in seen:
                continue
            seen.add(id(d))
            for ty in (d.dom, d.cod):
                total += 1 if ty._inside is None else len(ty._inside)
            if d._kind in ("then", "tensor"):
                pending += d._parts
        return total
    small, large = entries(200), entries(2000)
    assert 8 <= large / small <= 12, (small, large)
