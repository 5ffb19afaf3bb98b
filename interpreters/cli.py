"""The ``paralens`` command.

``paralens demo`` trains a 4-16-3 sigmoid MLP on Iris (shipped in the package)
by gradient descent through the lens R(model ; loss), prints the diagram's
size and the training and held-out accuracy, and writes PNG drawings of the
model and of both lens halves.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

__all__ = ["main", "demo", "iris_split"]


def iris_split(X, y):
    """Every fifth row of each class (its 1st, 6th, 11th, …) held out: 10 per class."""
    held_out = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        held_out[rows[::5]] = True
    return ~held_out, held_out


def demo(out: str = "paralens-output", steps: int = 2000, lr: float = 2.0, hidden: int = 16,
         seed: int = 0, draw: bool = True) -> dict:
    from categories import Para, Real, Sigmoid, dense
    from lenses.datasets import iris, one_hot
    from lenses.losses import mse

    from .training import GradientDescent, NonFiniteLoss

    X, y, classes = iris()
    train, test = iris_split(X, y)
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    Z, Y = (X - mean) / std, one_hot(y, len(classes))
    print(f"Iris (UCI iris.data variant): {train.sum()} training rows, {test.sum()} held out "
          f"(the 1st, 6th, 11th, ... row of each class); features standardised on the training rows")

    model = Para.id(Real(4)).then(dense(4, hidden, Sigmoid), dense(hidden, 3, Sigmoid))
    trainer = GradientDescent(model, mse(Real(3)), lr=lr)
    lens = trainer.lens
    print(f"model: {model.diagram.size} boxes, {len(model.params)} parameter wires; "
          f"lens R(model ; loss): forward {lens.forward.size} boxes, backward "
          f"{lens.backward.size} boxes, residual of {len(lens.residual)} wires")

    params = model.init(seed)
    stopped = None
    try:
        params = trainer.fit(params, Z[train], Y[train], steps)
    except NonFiniteLoss as error:
        print(f"stopped: {error}", file=sys.stderr)
        params, stopped = error.params, error.step

    from .numpy import compile
    predict = compile(model.diagram)
    accuracy = {}
    for name, rows in (("training", train), ("held-out", test)):
        scores = predict(*[params[p] for p in model.params], Z[rows])
        accuracy[name] = float(np.mean(scores.argmax(axis=1) == y[rows]))
    print(f"final loss {trainer.history[-1]:.4f}; training accuracy {accuracy['training']:.3f}, "
          f"held-out accuracy {accuracy['held-out']:.3f}")

    if draw:
        import matplotlib
        matplotlib.use("Agg")
        os.makedirs(out, exist_ok=True)
        for name, diagram, size in (("model", model.diagram, (8, 7)),
                                    ("lens-forward", lens.forward, (14, 12)),
                                    ("lens-backward", lens.backward, (16, 16))):
            path = os.path.join(out, f"{name}.png")
            diagram.draw(path=path, figsize=size)
            print(f"wrote {path}")
    return {"accuracy": accuracy, "params": params, "stopped": stopped,
            "history": trainer.history}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="paralens", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("demo", help="train an MLP on Iris through the lens functor")
    run.add_argument("--out", default="paralens-output", help="folder for the PNG drawings")
    run.add_argument("--steps", type=int, default=2000)
    run.add_argument("--lr", type=float, default=2.0)
    run.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "demo":
        result = demo(args.out, steps=args.steps, lr=args.lr, seed=args.seed)
        return 0 if result["stopped"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
