"""The ``paralens`` command: its arguments parsed and checked, then the work dispatched.

* ``paralens demo [iris | recurrent | smoothing]``: the demos (``interpreters.demos``):
  an MLP on Iris through the lens functor, a GRU predicting noisy sines, the Nile
  smoothed by BFFG;
* ``paralens digits``: a softmax classifier on the 8×8 digits with Adam;
* ``paralens circuits``: Boolean circuits trained by RDA (the Iris table, digits);
* ``paralens compile module:attr -o step.py`` writes a diagram, Para map or
  learner as a module that imports nothing but NumPy (``--backend jax``: nothing
  but JAX, for ``jax.jit``).

A mistake in the command (a bad value, an option the command does not take, a module
or attribute that does not exist, a path that cannot be written) is reported in one
line on stderr with exit status 2, before any work starts.

>>> sorted(DEMO_OPTIONS["recurrent"]), DEMO_OPTIONS["smoothing"]   # smoothing: --out only
(['lr', 'seed', 'steps'], {})
"""

from __future__ import annotations

import argparse
import math
import os
import sys

from .demos import (DIGITS_NETWORKS, PUBLISHED_RDA_IRIS, UsageError, circuits,  # noqa: F401
                    demo, demo_recurrent, demo_smoothing, digits, gate_network_digits,
                    iris_split, rda_iris_table, sines)

__all__ = ["main", "compile_target", "UsageError", "DEMO_OPTIONS"]

#: the options each demo takes, with their defaults (``--out`` is every demo's); the
#: command refuses any other, rather than ignore it
DEMO_OPTIONS = {
    "iris": {"steps": 2000, "lr": 2.4, "seed": 0},
    "recurrent": {"steps": 300, "lr": 0.01, "seed": 0},
    "smoothing": {},
}
_DEMOS = {"iris": demo, "recurrent": demo_recurrent, "smoothing": demo_smoothing}


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _writable_file(path: str, option: str = "-o"):
    """Check that ``path`` can be written, leaving what is there untouched."""
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a folder, not a file")
    existed = os.path.exists(path)
    try:
        with open(path, "a"):
            pass
    except OSError as error:
        raise UsageError(f"{option} {path}: cannot write there ({error.strerror})") from None
    if not existed:
        os.remove(path)


class _Parser(argparse.ArgumentParser):
    """argparse, its complaints in one line."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _whole(least: int):
    """An argparse type: a whole number ≥ least (``--steps`` 1, ``--seed`` 0)."""
    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be a whole number ≥ {least}, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be a whole number ≥ {least}, got {value}")
        return value
    return whole


_count, _seed = _whole(1), _whole(0)


def _rate(text: str) -> float:
    """A finite positive number (``--lr``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite positive number, got {text}")
    return value


def main(argv=None):
    parser = _Parser(prog="paralens", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("demo", help="train an MLP on Iris through the lens functor "
                                           "(demo recurrent: a GRU predicts noisy sines; demo "
                                           "smoothing: the Nile smoothed by BFFG)")
    run.add_argument("which", nargs="?", choices=["iris", "recurrent", "smoothing"],
                     default="iris", help="iris (default), recurrent or smoothing (the Nile "
                                          "local-level model smoothed by BFFG)")
    run.add_argument("--out", default="paralens-output", help="folder for the PNG drawings")
    for option, kind, what in (("steps", _count, "training steps"),
                               ("lr", _rate, "learning rate"),
                               ("seed", _seed, "seed of the initial parameters, the data order")):
        defaults = ", ".join(f"{taken[option]} for {which}"
                             for which, taken in DEMO_OPTIONS.items() if option in taken)
        refused = " and ".join(w for w, taken in DEMO_OPTIONS.items() if option not in taken)
        run.add_argument(f"--{option}", type=kind, default=None,
                         help=f"{what} (default: {defaults}; not for {refused})")
    run_digits = commands.add_parser("digits", help="train a softmax classifier on 8×8 digits with Adam")
    run_digits.add_argument("--steps", type=_count, default=1500)
    run_digits.add_argument("--seed", type=_seed, default=0)
    run_circuits = commands.add_parser(
        "circuits", help="Boolean circuits by RDA: the Iris table and digits with logic gates")
    run_circuits.add_argument("--seed", type=_seed, default=0)
    emit = commands.add_parser("compile", help="write a diagram or learner as a NumPy module")
    emit.add_argument("target", help="module:attribute naming a diagram, a Para map or a learner")
    emit.add_argument("-o", "--output", required=True, help="the .py file to write")
    emit.add_argument("--name", default="step", help="the function's name in the module")
    emit.add_argument("--backend", choices=("numpy", "jax"), default="numpy",
                      help="what the module computes on (jax needs paralens[jax])")
    args = parser.parse_args(argv)
    if args.command == "compile":
        return compile_target(args.target, args.output, args.name, args.backend)
    if args.command == "demo":
        options = _demo_options(run, args)
    try:
        if args.command == "demo":
            result = _DEMOS[args.which](args.out, **options)
            return 0 if result.get("stopped") is None else 1
        if args.command == "digits":
            digits(steps=args.steps, seed=args.seed)
            return 0
        if args.command == "circuits":
            circuits(seed=args.seed)
            return 0
    except UsageError as error:
        print(f"paralens {args.command}: {error}", file=sys.stderr)
        return 2


def _demo_options(parser, args) -> dict:
    """The options the chosen demo takes (the defaults where not given); one it does not
    take is refused (status 2), never ignored."""
    taken = DEMO_OPTIONS[args.which]
    for option in ("steps", "lr", "seed"):
        if getattr(args, option) is not None and option not in taken:
            own = ", ".join(f"--{o}" for o in ("out", *taken))
            why = ", which trains nothing" if not {"steps", "lr"} & set(taken) else ""
            parser.error(f"--{option} does not apply to the {args.which} demo{why} (its "
                         f"options: {own})")
    return {option: default if getattr(args, option) is None else getattr(args, option)
            for option, default in taken.items()}


def compile_target(target: str, output: str, name: str = "step", backend: str = "numpy") -> int:
    """``paralens compile pkg.module:attr -o step.py``: the NumPy source of a diagram
    (or of a Para map's diagram, or a learner's step), importing nothing but NumPy;
    with ``backend="jax"`` its jax.numpy source, importing nothing but JAX (a float64
    diagram's module runs with ``jax_enable_x64`` on). The target is never called; a
    mistake (the name, the target, the output path, JAX not installed) is reported
    in one line, status 2, before anything is imported or written."""
    compiler_module = None
    try:
        obj, diagram = _target(target, output, name)
        if backend == "jax":
            try:
                from . import jax as compiler_module
            except ImportError as error:
                raise UsageError(str(error)) from None
            compiler_module.enable_x64()       # only the source is written: any precision
    except UsageError as error:
        print(f"paralens compile: {error}", file=sys.stderr)
        return 2
    from . import codegen
    arguments, results = _wire_names(obj, diagram)
    compiler = compiler_module.compile if backend == "jax" else \
        codegen.compiler_for(diagram)               # a circuit: bit-sliced
    named = {"arguments": arguments, "results": results} \
        if compiler in (codegen.compile, getattr(compiler_module, "compile", None)) else {}
    compiler(diagram, name=name, **named).save(output)
    print(f"wrote {output}: "
          f"{codegen.signature(diagram, name, named.get('arguments'), named.get('results'))}")
    return 0


def _wire_names(obj, diagram):
    """The names of a learner's, a Para map's or a machine's wires (None for a bare
    diagram, or an object whose ``diagram`` is not the one compiled)."""
    if getattr(obj, "diagram", None) is diagram and hasattr(obj, "arguments"):
        return list(obj.arguments), list(obj.results)
    return None, None


def _compilable(obj):
    """The diagram of a diagram, a Para map or a learner; else None."""
    from ..categories import Diagram
    diagram = obj if isinstance(obj, Diagram) else getattr(obj, "diagram", None)
    return diagram if isinstance(diagram, Diagram) else None


def _target(target: str, output: str, name: str):
    """The diagram ``module:attribute`` names, once the name, the target and the
    output path are known to be good."""
    import importlib
    import traceback
    import types

    from .source import check_name
    try:
        check_name(name)
    except ValueError as error:
        raise UsageError(f"--name: {error}") from None
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"expected module:attribute, got {target!r}")
    _writable_file(output)
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name + ".").startswith(error.name + "."):
            raise UsageError(f"no module named {error.name!r} (looked in {os.getcwd()} and on "
                             f"the Python path)") from None
        raise UsageError(f"importing {module_name} failed: {_first_line(error)}") from None
    except Exception as error:
        where = traceback.extract_tb(error.__traceback__)[-1]
        raise UsageError(f"importing {module_name} failed: {type(error).__name__}: "
                         f"{_first_line(error)} ({os.path.basename(where.filename)}, line "
                         f"{where.lineno})") from None
    if not hasattr(module, attribute):
        found = sorted(k for k, v in vars(module).items()
                       if not k.startswith("_") and _compilable(v) is not None)
        raise UsageError(f"module {module_name} has no attribute {attribute!r}"
                         + (f" (it has: {', '.join(found)})" if found else ""))
    obj = getattr(module, attribute)
    diagram = _compilable(obj)
    if diagram is None:
        kind = ("a function" if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType))
                else f"of type {type(obj).__name__}")
        hint = " (it is not called: name its result in the module)" if callable(obj) else ""
        raise UsageError(f"{target} is {kind}, not a diagram, a Para map or a learner{hint}")
    return obj, diagram


if __name__ == "__main__":
    sys.exit(main())
