"""Category, monoidal, reverse-derivative and lens laws on random diagrams."""

import pytest
from hypothesis import HealthCheck, given, settings

from paralens.categories import Generator, Linear, LinearGenerator, Mul, Real, laws
from paralens.categories.strategies import composable, diagrams
from paralens.interpreters.numpy import RULES, compile
from paralens.lenses import R

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Generators on Real wires (the Boolean ones are checked over Z2 in test_boolean.py)
REAL = sorted(n for n, cls in Generator.registry.items() if cls.over != "Bool")


def assert_laws(law_list, **kwargs):
    laws.check(law_list, compile, **kwargs).assert_ok()


@settings(max_examples=60, **SETTINGS)
@given(composable(count=3))
def test_category_laws(chain):
    assert_laws(laws.category_laws(*chain))


@settings(max_examples=60, **SETTINGS)
@given(diagrams(), diagrams())
def test_monoidal_laws(f, g):
    assert_laws(laws.monoidal_laws(f, g))


@settings(max_examples=100, **SETTINGS)
@given(composable(count=2, max_boxes=4))
def test_rd_1_to_5_on_random_diagrams(chain):
    f, g = chain
    assert_laws(laws.rd_laws(f, g, higher=False))


@settings(max_examples=300, **SETTINGS)
@given(composable(count=2))
def test_R_is_a_functor(chain):
    f, g = chain
    assert R(f >> g) == R(f) >> R(g)          # literally equal lenses
    assert_laws(laws.lens_laws(R, f, g))      # tensor and put, as maps


@pytest.mark.parametrize("name", REAL)
def test_every_generator_satisfies_rd_1_to_7(name):
    cls = Generator.registry[name]
    box = cls.example(2)
    sample = cls.sample or (laws.uniform(0.5, 2.0) if not cls.total else laws.uniform(-1.0, 1.0))
    batch = 4 if getattr(cls, "per_example", True) else 0     # batch-level boxes: one example
    assert_laws(laws.generator_laws(box, R), sample=sample, batch=batch)


@settings(max_examples=20, **SETTINGS)
@given(composable(count=2, max_boxes=2, n=1))
def test_rd_6_and_7_on_small_composites(chain):
    f, g = chain
    assert_laws(laws.rd_laws(f >> g, higher=True)[-2:])


# --- the checks catch wrong derivatives, and say which law and where --------

@pytest.fixture
def wrong_generators():
    """Two user generators with wrong reverse derivatives, registered for the test only."""
    from paralens.categories import copy, function

    class SkewMul(Mul):
        """x ⊗ y ↦ x ⊙ y with a wrong reverse derivative: (dz ⊙ y, 2 dz ⊙ x)."""

        def backward(self):
            x = self.x
            return function(x @ x @ x, x @ x)(lambda a, b, dz: (dz * b, 2 * (dz * a)))

    class Squaring(LinearGenerator):
        """The identity, claiming a 'transpose' that squares the cotangent."""

        def __init__(self, x):
            self.x = x
            super().__init__("Squaring", x, x)

        def transpose(self):
            return copy(self.x) >> Mul(self.x)

    RULES["SkewMul"] = RULES["Mul"]
    RULES["Squaring"] = lambda box: (lambda v: v)
    yield SkewMul, Squaring
    del RULES["SkewMul"], RULES["Squaring"]
    del Generator.registry["SkewMul"], Generator.registry["Squaring"]


def test_wrong_second_derivative_breaks_rd_7(wrong_generators):
    SkewMul, _ = wrong_generators
    report = laws.check(laws.rd_laws(SkewMul(Real(2))), compile)
    failed = {f.law for f in report.failures}
    assert "RD.7 symmetry of second derivatives" in failed
    assert "RD.7 symmetry of second derivatives: FAILS" in str(report)
    assert "fails at" in str(report)


def test_nonlinear_cotangent_breaks_rd_2_and_rd_6(wrong_generators):
    _, Squaring = wrong_generators
    report = laws.check(laws.rd_laws(Squaring(Real(2))), compile)
    failed = {f.law for f in report.failures}
    assert "RD.2 R[f] additive in the cotangent" in failed
    assert "RD.6 R[f] linear in the cotangent" in failed


def test_finite_differences_catch_a_consistent_but_wrong_derivative():
    """A backward that forgets (1 − y) still satisfies RD.1–RD.7; the oracle does not."""
    from paralens.categories import Sigmoid, function

    class Forgetful(Sigmoid):
        def backward(self):
            return function(self.x @ self.x, self.x)(lambda y, dy: dy * y)

    RULES["Forgetful"] = RULES["Sigmoid"]
    try:
        box = Forgetful(Real(3))
        assert laws.check(laws.generator_laws(box, R), compile).ok
        report = laws.check_finite_differences(box, compile)
        assert not report.ok and "R[f] = finite differences: FAILS" in str(report)
        assert laws.check_finite_differences(Sigmoid(Real(3)), compile).ok
    finally:
        del RULES["Forgetful"], Generator.registry["Forgetful"]


@pytest.mark.parametrize("name", [n for n in REAL
                                  if not getattr(Generator.registry[n], "discrete", False)])
def test_every_generator_passes_the_finite_difference_law(name):
    cls = Generator.registry[name]
    sample = cls.sample or (laws.uniform(0.5, 2.0) if not (cls.total and cls.smooth)
                            else laws.uniform(-1, 1))
    laws.check_finite_differences(cls.example(2), compile, sample=sample).assert_ok()


@pytest.mark.parametrize("box", [Mul(Real(3, dtype="float32")), Linear(2, 3, "float32")],
                         ids=["Mul", "Linear"])
def test_laws_in_single_precision(box):
    laws.check(laws.generator_laws(box, R), compile).assert_ok()
    laws.check_finite_differences(box, compile).assert_ok()


def test_softmax_is_for_vector_wires():
    from paralens.categories import Softmax
    for bad in (Real(), Real(2, 3), Real(0)):
        with pytest.raises(TypeError, match="Softmax acts on a vector wire"):
            Softmax(bad)


# The public names of ``categories.laws`` before the delayed-trace laws moved to
# ``categories.trace_laws`` and the report and sampling to ``categories.checking``:
# its ``__all__``, and ``Failure`` (a report's entries).
OLD_ALL = ["Law", "Report", "check", "category_laws", "monoidal_laws", "rd_laws", "lens_laws",
           "generator_laws", "check_finite_differences", "plus", "uniform", "StreamLaw",
           "check_streams", "trace_naturality", "trace_strength", "trace_vanishing", "yanking",
           "yanking_delay", "dinaturality", "dinaturality_transported", "tangent_machine",
           "tangent_commutes_with_dtrace", "tangent_chain_rule", "tangent_finite_differences"]


#: BFFG's laws, from categories.kernel_laws
KERNEL_LAWS = ["covariances", "evidence_composition", "guide_composition", "kernel_laws",
               "pullback_composition"]


def test_every_law_is_still_reached_from_laws():
    import paralens
    from paralens.categories import checking, kernel_laws, trace_laws
    assert not [name for name in OLD_ALL + ["Failure"] if not hasattr(laws, name)]
    # ``from laws import *`` as before, and BFFG's laws
    assert sorted(laws.__all__) == sorted(OLD_ALL + KERNEL_LAWS)
    for home in (trace_laws, checking, kernel_laws):         # re-exported, not copied
        for name in home.__all__:
            assert getattr(laws, name) is getattr(home, name), name
    assert paralens.laws is laws
