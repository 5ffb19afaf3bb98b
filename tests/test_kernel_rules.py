"""Every registered kernel has its meaning in every BFFG table that claims it, and no
table names what is not a kernel. The claims are data: a chain box (``Chain``,
``HiddenMarkov``) is one box whose meaning is a loop (``categories.chains``), so only
the backward filter's table reads it (its log p(y)); a nonlinear ``Transition`` has no
exact guided marginals, only guided samples weighted against its auxiliary."""

import pytest

from paralens.categories.generator import KERNELS
from paralens.interpreters import bffg, bffg_levels

LOOPS = {"Chain", "HiddenMarkov"}
NO_EXACT_GUIDE = {"Transition"}

CLAIMS = {
    "PULLBACK": (bffg.PULLBACK, set()),
    "GUIDE": (bffg.GUIDE, LOOPS | NO_EXACT_GUIDE),
    "SAMPLE": (bffg.SAMPLE, LOOPS),
    "STACK": (bffg_levels.STACK, LOOPS),
    "BATCH_PULLBACK": (bffg_levels.BATCH_PULLBACK, LOOPS),
    "BATCH_GUIDE": (bffg_levels.BATCH_GUIDE, LOOPS | NO_EXACT_GUIDE),
    "BATCH_SAMPLE": (bffg_levels.BATCH_SAMPLE, LOOPS),
}


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_each_table_covers_the_kernels_it_claims(name):
    table, left_out = CLAIMS[name]
    assert set(table) == set(KERNELS) - left_out, name

