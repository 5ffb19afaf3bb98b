"""Every docstring example in the installed package, run as a test.

The modules are imported by their installed names (``paralens.…``), so the
examples run against the package a user imports; each example is one test,
named by its module and object.
"""

import doctest
import importlib
import pkgutil

import pytest

import paralens


def _modules():
    yield paralens
    for package in (paralens.categories, paralens.lenses, paralens.interpreters):
        yield package
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            yield importlib.import_module(info.name)


def _examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    seen = set()
    for module in _modules():
        if module.__name__ in seen:
            continue
        seen.add(module.__name__)
        for test in finder.find(module, module.__name__):
            if test.examples:
                yield test


EXAMPLES = sorted(_examples(), key=lambda test: test.name)


def test_every_module_is_reached():
    names = {test.name.rsplit(".", 1)[0] for test in EXAMPLES} | {test.name for test in EXAMPLES}
    for package in ("categories", "lenses", "interpreters"):
        assert any(name.startswith(f"paralens.{package}.") for name in names), package


@pytest.mark.parametrize("example", EXAMPLES, ids=[test.name for test in EXAMPLES])
def test_doctest(example):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    output = []
    runner.run(example, out=output.append, clear_globs=True)
    assert runner.failures == 0, "".join(output)
