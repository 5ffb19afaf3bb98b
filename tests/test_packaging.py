"""The built wheel installs one top-level name, ``paralens``, and nothing else.

``lenses`` and ``categories`` are the import names of other distributions on
PyPI (python-lenses, categories): installing paralens must never overwrite
their files. The repository's folders install as ``paralens.categories``,
``paralens.lenses`` and ``paralens.interpreters``.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["pyproject.toml", "README.md", "paralens", "categories", "lenses", "interpreters"]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A copy of the repository's sources, as a checkout has them."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(
            ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                           if (ROOT / name).is_dir() else {}))
    return source


@pytest.fixture(scope="module")
def wheel(checkout, tmp_path_factory) -> Path:
    source, out = checkout, tmp_path_factory.mktemp("wheel")
    # built as pip builds it on install: in an isolated environment with the declared backend
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(out), str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    (wheel, ) = out.glob("paralens-*.whl")
    return wheel


def test_the_wheel_has_one_top_level_name(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top = {name.split("/")[0] for name in names}
        info = next(n for n in top if n.endswith(".dist-info"))
        assert top == {"paralens", info}, sorted(top)
        assert archive.read(f"{info}/top_level.txt").decode().split() == ["paralens"]
        entry = archive.read(f"{info}/entry_points.txt").decode()
    assert "paralens = paralens.interpreters.cli:main" in entry
    for needed in ["paralens/__init__.py", "paralens/py.typed", "paralens/categories/adapter.py",
                   "paralens/lenses/lens.py", "paralens/lenses/data/iris.csv",
                   "paralens/lenses/data/digits.csv.gz", "paralens/lenses/data/nile.csv",
                   "paralens/interpreters/codegen.py"]:
        assert needed in names, needed


def test_the_installed_wheel_imports_beside_other_lenses_and_categories(wheel, tmp_path):
    # a target folder that already holds another distribution's ``lenses`` and ``categories``
    site = tmp_path / "site"
    for other in ("lenses", "categories"):
        (site / other).mkdir(parents=True)
        (site / other / "__init__.py").write_text(f"OTHER = {other!r}\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--no-index",
                    "--target", str(site), str(wheel)], check=True, capture_output=True)
    assert (site / "lenses" / "__init__.py").read_text() == "OTHER = 'lenses'\n"
    assert (site / "categories" / "__init__.py").read_text() == "OTHER = 'categories'\n"
    assert not (site / "interpreters").exists()
    script = ("import paralens, lenses, categories\n"
              "assert lenses.OTHER == 'lenses' and categories.OTHER == 'categories'\n"
              "m = paralens.dense(4, 3, paralens.Sigmoid)\n"
              "x, y, classes = paralens.iris()\n"
              "print(paralens.lenses.__file__, len(x))\n")
    run = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r})\n"
                          + script], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    where, rows = run.stdout.split()
    assert Path(where).is_relative_to(site) and rows == "150"


def test_the_entry_point_names_every_public_name_and_each_resolves():
    import paralens
    import paralens.categories as categories
    assert set(categories.__all__) <= set(paralens.__all__)
    for name in paralens.__all__:
        assert getattr(paralens, name) is not None, name
    assert paralens.Learner is __import__("paralens.lenses.learner", fromlist=["Learner"]).Learner


def test_importing_the_syntax_does_not_import_the_interpreters():
    run = subprocess.run([sys.executable, "-c", "import sys, paralens.categories; "
                          "print(any(m.startswith('paralens.interpreters') for m in sys.modules))"],
                         capture_output=True, text=True)
    assert run.stdout.split() == ["False"], run.stderr


def test_a_checkout_imports_from_its_root_beside_an_installed_wheel(wheel, checkout, tmp_path):
    # from a checkout's root (on sys.path first, as `python -m paralens` or a notebook
    # there has it) the folder paralens/ holds only the entry point: the subpackages are
    # the folders beside it
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--no-index",
                    "--target", str(site), str(wheel)], check=True, capture_output=True)
    script = "import paralens.categories as c, paralens; print(c.__file__, paralens.Tanh.__name__)"
    run = subprocess.run([sys.executable, "-c", script], cwd=checkout, capture_output=True,
                         text=True, env={"PYTHONPATH": str(site), "PATH": ""})
    assert run.returncode == 0, run.stderr
    where, name = run.stdout.split()
    assert Path(where).is_relative_to(checkout) and name == "Tanh"
