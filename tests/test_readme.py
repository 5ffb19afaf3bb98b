"""The README's tour runs as written."""

import pathlib
import re

import matplotlib

matplotlib.use("Agg")


def test_the_tour_runs():
    text = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_the_two_setup_commands_are_there():
    text = (pathlib.Path(__file__).parent.parent / "README.md").read_text()
    commands = [line for line in text.splitlines() if line.startswith("python3 -m venv")]
    assert len(commands) == 2
    assert commands[0].endswith("paralens demo") and commands[1].endswith("pytest")
    ci = (pathlib.Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert commands[1] in ci
