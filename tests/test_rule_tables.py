"""Rule tables: one name, one class, one rule; every generator has a rule in every
table that claims it, and no table has a key that names nothing.

The claims are read from data, never from a skip: a table of Real values claims
the generators not ``over = "Bool"``, a Boolean table those not ``over = "Real"``;
wirings (boxes that declare a ``wiring``) leave no equation, so no table claims
them; an oracle generator declares its own rule (``bits``); and the Boolean
tables list what they leave to a default (``bitsliced.UNCOMPILED``,
``safety.CONSTANTS`` and ``safety.BLACK_BOXES``).
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from paralens.categories import Bool, Box, Generator, Real, Relu
from paralens.categories.generator import OPERATIONS
from paralens.interpreters import bitsliced, circuit, codegen, safety
from paralens.interpreters import numpy as inp
from paralens.interpreters import sympy as isp
from paralens.interpreters.plan import FUSED_BATCH_SUM, RuleTable, flatten

# -- one name, one class ---------------------------------------------------------------

LEAKY_RELU = '''
from paralens.categories import Generator, Real

class {name}(Generator):
    """A user's leaky ReLU: max(x, x / 10)."""

    def __init__(self, x):
        self.x = x
        super().__init__("{name}", x, x)
'''


def define(source: str, module: str = "user_module") -> types.ModuleType:
    """Run ``source`` as the module ``module`` (a user's file, a notebook cell)."""
    namespace = types.ModuleType(module)
    exec(source, namespace.__dict__)
    return namespace


@pytest.fixture
def registry():
    """The registry, restored after the test (a test's generators are kept out)."""
    saved = dict(Generator.registry)
    yield Generator.registry
    Generator.registry.clear()
    Generator.registry.update(saved)


def test_a_users_class_named_like_a_built_in_is_refused_at_its_definition(registry):
    with pytest.raises(TypeError) as error:
        define(LEAKY_RELU.format(name="Relu"))
    assert str(error.value) == ("a generator named Relu already exists "
                                "(paralens.categories.smooth.Relu); give yours another name")
    assert registry["Relu"] is Relu
    y = inp.compile(Relu(Real(2)))(np.array([-1.0, 2.0]))
    np.testing.assert_array_equal(y, [0.0, 2.0])       # the built-in keeps its rule


def test_a_plan_level_operation_name_is_taken_too(registry):
    with pytest.raises(TypeError, match=r"a plan-level operation named Sub already exists "
                                        r"\(paralens\.interpreters\.codegen\.Sub\)"):
        define(LEAKY_RELU.format(name="Sub"))
    assert "Sub" not in registry


def test_the_same_definition_run_again_replaces_it(registry):
    first = define(LEAKY_RELU.format(name="LeakyRelu")).LeakyRelu
    second = define(LEAKY_RELU.format(name="LeakyRelu")).LeakyRelu      # the cell, rerun
    assert first is not second and registry["LeakyRelu"] is second
    try:
        inp.RULES["LeakyRelu"] = lambda box: (lambda x: np.maximum(x, x / 10))
        for cls in (first, second):          # a box made before the rerun still runs
            y = inp.compile(cls(Real(2)))(np.array([-1.0, 2.0]))
            np.testing.assert_array_equal(y, [-0.1, 2.0])
    finally:
        del inp.RULES["LeakyRelu"]
    with pytest.raises(TypeError, match="LeakyRelu already exists"):
        define(LEAKY_RELU.format(name="LeakyRelu"), module="another_module")


def test_a_subclass_with_a_new_name_has_no_rule_until_one_is_declared(registry):
    class Leaky(Relu):
        """Relu's type and derivative, another meaning."""

    box = Leaky(Real(2))
    for build in (inp.compile, codegen.compile):
        with pytest.raises(NotImplementedError, match=r"Leaky"):
            build(box)
    with pytest.raises(NotImplementedError, match=r"no SymPy rule for Leaky"):
        isp.evaluate(box, isp.symbols(Real(2), "x"))
    try:
        inp.RULES["Leaky"] = inp.RULES["Relu"]          # declared: Relu's rule is meant
        np.testing.assert_array_equal(inp.compile(box)(np.array([-1.0, 2.0])), [0.0, 2.0])
    finally:
        del inp.RULES["Leaky"]


def test_a_box_whose_class_does_not_own_its_name_has_no_rule(registry):
    class Sigmoid(Box):                 # not a generator: a plain box, named like one
        pass

    box = Sigmoid("σ?", Real(2), Real(2))
    assert flatten(box).equations[0].kind.endswith("<locals>.Sigmoid")
    with pytest.raises(NotImplementedError, match=r"no NumPy rule for σ\?"):
        inp.compile(box)
    del registry["Relu"]                # a generator taken out of the registry
    assert flatten(Relu(Real(2))).equations[0].kind == "paralens.categories.smooth.Relu"


@pytest.mark.parametrize("table", [inp.RULES, isp.RULES, codegen.EMITTERS, circuit.RULES],
                         ids=["numpy", "sympy", "codegen", "circuit"])
def test_a_misspelt_key_fails_loudly(table):
    with pytest.raises(LookupError, match=r"Rleu is neither a generator nor a plan-level "
                                          r"operation \(did you mean Relu\?\)"):
        table["Rleu"] = table.get("Relu")
    assert "Rleu" not in table
    with pytest.raises(LookupError, match="Sigmiod"):
        RuleTable("rules", {"Sigmoid": None, "Sigmiod": None})


# -- every generator has a rule in every table that claims it ---------------------------

def examples() -> dict:
    """A box of every registered generator: its own example, or (for one built from
    another, like the Boolean difference of an oracle) one found in a backward half."""
    found = {}
    for name, cls in sorted(Generator.registry.items()):
        try:
            found.setdefault(name, cls.example(2))
        except NotImplementedError:
            continue
    for box in list(found.values()):
        try:
            backward = box.backward()
        except (NotImplementedError, TypeError):
            continue
        for inner in flatten(backward).equations:
            found.setdefault(inner.kind, inner.box)
    return found


EXAMPLES = examples()


def wiring(name) -> bool:
    """A wiring only renumbers values: no equation, so no rule anywhere."""
    return getattr(EXAMPLES[name], "wiring", None) is not None


def oracle(name) -> bool:
    """An oracle generator carries its own rule on bits."""
    return circuit.is_oracle(EXAMPLES[name])


def over(name) -> str | None:
    return Generator.registry[name].over


#: table ↦ (what it is, the generators it claims)
TABLES = {
    "NumPy rules": (inp.RULES, lambda n: over(n) != "Bool" and not wiring(n)),
    "SymPy rules": (isp.RULES, lambda n: over(n) != "Bool" and not wiring(n)),
    "NumPy emitters": (codegen.EMITTERS, lambda n: over(n) != "Bool" and not wiring(n)),
    "Boolean rules": (circuit.RULES, lambda n: over(n) != "Real" and not wiring(n)
                      and not oracle(n)),
    "word emitters": (bitsliced.WORD_EMITTERS, lambda n: over(n) != "Real" and not wiring(n)
                      and not oracle(n) and n not in bitsliced.UNCOMPILED),
    "dependency rules": (safety.DEPENDENCY_RULES, lambda n: over(n) != "Real" and not wiring(n)
                         and not oracle(n) and n not in safety.CONSTANTS | safety.BLACK_BOXES),
}


def missing(table, claims) -> list:
    return sorted(n for n in Generator.registry if claims(n) and n not in table)


def test_every_registered_generator_has_an_example():
    assert sorted(set(Generator.registry) - set(EXAMPLES)) == []


@pytest.mark.parametrize("what", TABLES)
def test_every_generator_has_a_rule_in_every_table_that_claims_it(what):
    table, claims = TABLES[what]
    assert missing(table, claims) == [], what


def test_the_check_finds_a_generator_with_no_rule(registry):
    new = define(LEAKY_RELU.format(name="LeakyRelu")).LeakyRelu
    EXAMPLES["LeakyRelu"] = new(Real(2))
    try:
        for what in ("NumPy rules", "SymPy rules", "NumPy emitters"):
            assert missing(*TABLES[what]) == ["LeakyRelu"]
        assert missing(*TABLES["Boolean rules"]) == []      # a Real generator
    finally:
        del EXAMPLES["LeakyRelu"]


def test_the_exclusions_are_what_they_say():
    wirings = sorted(n for n in EXAMPLES if wiring(n))
    assert wirings == ["Copy", "Discard", "Permutation", "Swap"]
    assert all(flatten(EXAMPLES[n]).equations == [] for n in wirings)
    oracles = sorted(n for n in EXAMPLES if oracle(n))
    assert oracles == ["PseudoLinear"] and all(over(n) == "Bool" for n in oracles)
    for name in bitsliced.UNCOMPILED | safety.CONSTANTS | safety.BLACK_BOXES:
        assert name in Generator.registry and over(name) != "Real", name
    assert not bitsliced.UNCOMPILED & set(bitsliced.WORD_EMITTERS)
    assert not (safety.CONSTANTS | safety.BLACK_BOXES) & set(safety.DEPENDENCY_RULES)
    assert all(len(EXAMPLES[n].dom) == 0 for n in safety.CONSTANTS)     # they read nothing


def test_oracle_generators_and_their_differences_are_refused_by_the_compiler_by_name():
    box = EXAMPLES["PseudoLinear"]
    for diagram in (box, box.backward()):
        with pytest.raises(NotImplementedError, match="not compiled to source; run the circuit"):
            bitsliced.compile(diagram)
        circuit.Circuit(diagram)            # but they run


def test_a_boolean_generator_with_no_dependency_rule_is_named():
    class Copycat(Generator):          # a user's, with circuit rules but no dependency rule
        over = "Bool"

        def __init__(self, x):
            super().__init__("COPYCAT", x, x)
    try:
        circuit.RULES["Copycat"] = lambda box, layout: (lambda x: x)
        box = Copycat(Bool(2))
        circuit.Circuit(box)(np.ones((3, 2), bool))
        with pytest.raises(NotImplementedError, match=r"no dependency rule for COPYCAT \(Copycat\)"):
            safety.unsafe_products(box)
    finally:
        del circuit.RULES["Copycat"], Generator.registry["Copycat"]


# -- no key names nothing ---------------------------------------------------------------

KEYED = {**{what: table for what, (table, _) in TABLES.items()},
         "gate counts": circuit.GATES, "fused batch sums": FUSED_BATCH_SUM,
         "subtractions": codegen.SUBTRACTIONS, "scalar folds": codegen.SCALARS,
         "Z2 folds": bitsliced.Z2, "batch-level boxes": circuit.BATCH_LEVEL,
         **{f"{d} {part}": getattr(dialect, part) for d, dialect in
            (("NumPy", codegen.NUMPY), ("words", bitsliced.WORDS))
            for part in ("inline", "arithmetic", "scalars")}}


@pytest.mark.parametrize("what", KEYED)
def test_every_key_names_a_generator_or_a_plan_level_operation(what):
    stray = sorted(k for k in KEYED[what] if k not in Generator.registry and k not in OPERATIONS)
    assert stray == [], what


def test_the_plan_level_operations_are_documented_and_not_generators():
    assert sorted(OPERATIONS) == ["Loop", "OuterSum", "OverTime", "Recompute", "ScaledBy",
                                  "ScaledByEach", "Sub"]
    for name, cls in OPERATIONS.items():
        assert cls.__doc__ and not issubclass(cls, Generator) and name not in Generator.registry


def test_the_rule_tables_are_checked_tables():
    for what, table in KEYED.items():
        if isinstance(table, dict):
            assert isinstance(table, RuleTable), what
