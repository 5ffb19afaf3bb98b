"""The demos of the ``paralens`` command, as functions (``interpreters.cli`` parses the
command line and calls them).

* ``demo``: a 4-16-3 sigmoid MLP on Iris (shipped in the package) trained by gradient
  descent: the learner model ; loss ; cap ; optimiser is one diagram, compiled to NumPy
  source; the training and held-out accuracy, and PNG drawings of the model and of both
  halves of the lens R(model ; loss).
* ``demo_recurrent``: a GRU learns next-step prediction of noisy sines (``sines``) by
  BPTT through its loop.
* ``demo_smoothing``: the Nile's flow, the local-level model fitted by maximum likelihood
  (gradients through the backward filter), then smoothed by BFFG (a
  stretch of years treated as missing): log p(y), the smoothed level with its 95% band,
  a plot and a drawing of the model.
* ``digits``: a softmax classifier on the 8×8 digits with Adam.
* ``circuits``: Boolean circuits by RDA: its Iris table (``rda_iris_table``) and
  logic-gate networks on the digits (``gate_network_digits``, ``DIGITS_NETWORKS``).

Each checks its arguments, and that it can write its drawings, before any work; a
folder it cannot write is a ``UsageError``.

>>> sines(2, 5).shape                              # (sequences, steps + 1, 1)
(2, 6, 1)
>>> import numpy as np
>>> train, held_out = iris_split(np.zeros((15, 4)), np.repeat([0, 1, 2], 5))
>>> int(train.sum()), int(held_out.sum())          # every fifth row of each class held out
(12, 3)
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

__all__ = ["demo", "demo_recurrent", "demo_smoothing", "digits", "circuits", "sines",
           "iris_split", "rda_iris_table", "gate_network_digits", "PUBLISHED_RDA_IRIS",
           "DIGITS_NETWORKS", "UsageError"]


class UsageError(ValueError):
    """A mistake in what was asked for, found before any work: one line, status 2."""


def _writable_folder(out: str, option: str = "--out"):
    """Make the folder ``out`` if needed, and check that a file can be written in it."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"{option} {out}: is a file, not a folder")
    try:
        os.makedirs(out, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        raise UsageError(f"{option} {out}: cannot write there ({error.strerror})") from None


def iris_split(X, y):
    """Every fifth row of each class (its 1st, 6th, 11th, …) held out: 10 per class."""
    held_out = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        held_out[rows[::5]] = True
    return ~held_out, held_out


def demo(out: str = "paralens-output", steps: int = 2000, lr: float = 2.4, hidden: int = 16,
         seed: int = 0, draw: bool = True) -> dict:
    from ..categories import Para, Real, Sigmoid, dense
    from ..lenses.datasets import iris, one_hot
    from ..lenses.learner import Learner
    from ..lenses.losses import mse
    from ..lenses.optimisers import GD

    from .training import NonFiniteLoss, Trainer

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"demo: steps must be a whole number ≥ 1, got {steps!r}")
    if draw:
        _writable_folder(out)          # before training, not after it
    X, y, classes = iris()
    train, test = iris_split(X, y)
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    Z, Y = (X - mean) / std, one_hot(y, len(classes))
    print(f"Iris (UCI iris.data variant): {train.sum()} training rows, {test.sum()} held out "
          f"(the 1st, 6th, 11th, ... row of each class); features standardised on the training rows")

    model = Para.id(Real(4)).then(dense(4, hidden, Sigmoid), dense(hidden, 3, Sigmoid))
    learner = Learner(model, mse(Real(3)), GD(lr=lr))
    trainer = Trainer(learner)
    lens = learner.lens
    print(f"model: {model.diagram.size} boxes, {len(model.params)} parameter wires; "
          f"lens R(model ; loss): forward {lens.forward.size} boxes, backward "
          f"{lens.backward.size} boxes, residual of {len(lens.residual)} wires; "
          f"the learner's step compiled to {len(trainer.step_function.source.splitlines())} "
          f"lines of NumPy")

    state, params = learner.init(seed)
    stopped = None
    try:
        state, params = trainer.fit(state, params, Z[train], Y[train], steps)
    except NonFiniteLoss as error:
        print(f"stopped: {error}", file=sys.stderr)
        state, params, stopped = error.opt_state, error.params, error.step

    accuracy = _accuracy(model, params, {"training": (Z[train], y[train]),
                                         "held-out": (Z[test], y[test])})
    if trainer.history:
        print(f"final loss {trainer.history[-1]:.4f}; ", end="")
    print(f"training accuracy {accuracy['training']:.3f}, "
          f"held-out accuracy {accuracy['held-out']:.3f}")

    if draw:
        import matplotlib
        matplotlib.use("Agg")
        for name, diagram, size in (("model", model.diagram, (8, 7)),
                                    ("lens-forward", lens.forward, (14, 12)),
                                    ("lens-backward", lens.backward, (16, 16))):
            path = os.path.join(out, f"{name}.png")
            diagram.draw(path=path, figsize=size)
            print(f"wrote {path}")
    return {"accuracy": accuracy, "params": params, "state": state, "stopped": stopped,
            "history": trainer.history}


def sines(n: int, steps: int, seed: int = 0, noise: float = 0.05):
    """Noisy mixtures of two sines, (n, steps + 1, 1): random frequencies, phases and
    weights for each sequence, Gaussian noise of std ``noise`` (fixed by the seed)."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps + 1)
    f = rng.uniform(0.05, 0.25, size=(n, 2, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 2, 1))
    weight = rng.uniform(0.3, 1.0, size=(n, 2, 1))
    clean = (weight * np.sin(2 * np.pi * f * t + phase)).sum(axis=1)
    return (clean + noise * rng.normal(size=clean.shape))[..., None]


def demo_recurrent(out: str = "paralens-output", steps: int = 300, lr: float = 0.01,
                   hidden: int = 24, seed: int = 0, draw: bool = True) -> dict:
    """A gated recurrent cell learns next-step prediction of noisy mixtures of sines by
    BPTT through its loop (never unrolled); held-out loss against predicting the last
    value again, and a plot of the predictions."""
    from ..categories import Real, dense, gru
    from ..lenses.learner import Learner
    from ..lenses.losses import mse
    from ..lenses.optimisers import Adam

    from . import recurrent
    from .training import NonFiniteLoss, Trainer

    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"demo recurrent: steps must be a whole number ≥ 1, got {steps!r}")
    if draw:
        _writable_folder(out)
    data = sines(96, 60, seed=1234)
    train, test = data[:64], data[64:]
    print(f"noisy mixtures of two sines (seed 1234): {len(train)} training sequences, "
          f"{len(test)} held out, 60 steps each; the task: predict the next value")
    model = gru(1, hidden) >> dense(hidden, 1)
    learner = Learner(model, mse(Real(1)), Adam(lr=lr))
    trainer = Trainer(learner)
    print(f"model: a GRU cell (hidden {hidden}) then a dense read-out, one loop over time; "
          f"the step's stage: {model.stage.diagram.size} boxes; learner step compiled once, "
          f"for any sequence length")
    state, params = learner.init(seed)
    stopped = None
    try:
        state, params = trainer.fit(state, params, train[:, :-1], train[:, 1:], steps,
                                    batch_size=16, seed=seed)
    except NonFiniteLoss as error:
        print(f"stopped: {error}", file=sys.stderr)
        state, params, stopped = error.opt_state, error.params, error.step
    predicted, _ = recurrent.run(model, params, test[:, :-1])
    loss = float(np.mean((predicted - test[:, 1:]) ** 2))
    repeat = float(np.mean((test[:, :-1] - test[:, 1:]) ** 2))
    print(f"held-out mean squared error per step {loss:.4f} (repeating the last value: "
          f"{repeat:.4f}; the noise alone: {0.05 ** 2:.4f})")
    if draw:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        figure, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
        for k, ax in enumerate(axes):
            ax.plot(test[k, 1:, 0], color="0.6", label="truth")
            ax.plot(predicted[k, :, 0], color="C0", label="predicted")
        axes[0].legend(loc="upper right")
        axes[-1].set_xlabel("step")
        figure.suptitle("next-step prediction on held-out sequences")
        path = os.path.join(out, "recurrent-predictions.png")
        figure.savefig(path, dpi=90)
        plt.close(figure)
        print(f"wrote {path}")
        for name, stage, size in (("recurrent-machine", False, (5, 5)),
                                  ("recurrent-stage", True, (12, 10))):
            path = os.path.join(out, f"{name}.png")
            model.draw(stage=stage, path=path, figsize=size)
            print(f"wrote {path}")
    return {"loss": loss, "repeat": repeat, "params": params, "stopped": stopped,
            "history": trainer.history}


def demo_smoothing(out: str = "paralens-output", missing=(1900, 1920), draw: bool = True,
                   steps: int = 150) -> dict:
    """The local-level model on the Nile flow: its two variances fitted by maximum
    likelihood (gradient steps of Adam on Durbin & Koopman's exact diffuse
    log-likelihood, differentiated by R through the backward filter's loop), then the
    backward filter and the exact smoother at the fitted variances (BFFG, a loop over
    the years), with the years ``missing`` (first, last) treated as unobserved;
    log p(y) with and without them, the smoothed level with its 95% band, and a plot."""
    from ..categories.chains import local_level_likelihood
    from ..categories.markov import DIFFUSE_VARIANCE, local_level
    from ..lenses.datasets import nile
    from ..lenses.optimisers import Adam

    from .bffg import smooth_chain
    from .likelihood import Likelihood

    first, last = missing
    if draw:
        _writable_folder(out)
    years, volumes = nile()
    model = local_level_likelihood(float(volumes[0]), diffuse=True)
    start = model.parameters({"log_level_variance": np.log(1000.0),
                              "log_noise_variance": np.log(10000.0)})
    fitted, history = Likelihood(model).fit(start, volumes[None, 1:, None],
                                            optimiser=Adam(lr=0.2), steps=steps)
    noise = float(np.exp(fitted["log_noise_variance"]))
    level = float(np.exp(fitted["log_level_variance"]))
    gap = (years >= first) & (years <= last)
    observed = np.where(gap, np.nan, volumes)
    print(f"the Nile's annual flow at Aswan, {years[0]}–{years[-1]} (10⁸ m³), local-level model "
          f"(random walk plus noise), fitted by maximum likelihood ({steps} Adam steps on the "
          f"log-variances, from 10000 and 1000): noise variance {noise:.1f}, level variance "
          f"{level:.1f}, diffuse log-likelihood {-history[-1]:.3f} (Durbin & Koopman: 15099, "
          f"1469.1, −632.54); smoothed with the first level ~ N(first observation, "
          f"{DIFFUSE_VARIANCE:.0e})")
    full = smooth_chain(local_level(volumes, level, noise)).log_evidence
    diffuse = full + 0.5 * np.log(2 * np.pi * (DIFFUSE_VARIANCE + noise))
    print(f"log p(y), every year observed: {full:.3f} (without y₁₈₇₁'s own term, the diffuse "
          f"log-likelihood: {diffuse:.2f}; Durbin & Koopman: −632.54)")
    smoothed = smooth_chain(local_level(observed, level, noise))
    evidence, mean = smoothed.log_evidence, smoothed.means[:, 0]
    sd = np.sqrt(smoothed.covariances[:, 0, 0])
    print(f"log p(y), {first}–{last} missing ({gap.sum()} years): {evidence:.3f}")
    print("smoothed level, with its 95% band:")
    for year in sorted({int(years[0]), first - 1, (first + last) // 2, last + 1, 1950,
                        int(years[-1])}):
        t = int(np.flatnonzero(years == year)[0])
        note = " (missing)" if gap[t] else ""
        print(f"  {year}: {mean[t]:7.1f}  [{mean[t] - 1.96 * sd[t]:7.1f}, "
              f"{mean[t] + 1.96 * sd[t]:7.1f}]{note}")
    if draw:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        figure, ax = plt.subplots(figsize=(10, 4.5))
        ax.axvspan(first - 0.5, last + 0.5, color="0.92", label="treated as missing")
        ax.plot(years[~gap], volumes[~gap], "o", ms=3, color="0.35", label="observed flow")
        ax.plot(years[gap], volumes[gap], "o", ms=3, mfc="none", color="0.6",
                label="held back")
        ax.fill_between(years, mean - 1.96 * sd, mean + 1.96 * sd, color="C0", alpha=0.25,
                        label="95% band")
        ax.plot(years, mean, color="C0", label="smoothed level")
        ax.set_xlabel("year")
        ax.set_ylabel("flow (10⁸ m³)")
        ax.set_title("the Nile: local-level model smoothed by BFFG")
        ax.legend(loc="upper right", fontsize=8)
        path = os.path.join(out, "nile-smoothing.png")
        figure.savefig(path, dpi=90, bbox_inches="tight")
        plt.close(figure)
        print(f"wrote {path}")
        path = os.path.join(out, "nile-model.png")
        local_level(observed[:4], level, noise).unroll().draw(path=path, figsize=(8, 8))
        print(f"wrote {path} (the model unrolled for 4 years; it runs as one loop)")
    return {"log_evidence": evidence, "log_evidence_all_years": full, "years": years,
            "means": mean, "sd": sd, "missing": gap, "noise_variance": noise,
            "level_variance": level, "fit_history": history}


def _accuracy(model, params, splits) -> dict:
    from .numpy import compile
    predict = compile(model.diagram)
    weights = [params[p] for p in model.params]
    return {name: float(np.mean(predict(*weights, x).argmax(axis=1) == y))
            for name, (x, y) in splits.items()}


def digits(steps: int = 1500, batch_size: int = 128, lr: float = 1e-3, hidden: int = 64,
           seed: int = 0) -> dict:
    """A softmax classifier with one hidden layer on the 8×8 digits, trained with Adam."""
    from ..categories import Para, Real, Tanh, dense
    from ..lenses.datasets import digits as load_digits, one_hot
    from ..lenses.learner import Learner
    from ..lenses.losses import softmax_cross_entropy
    from ..lenses.optimisers import Adam

    from .training import Trainer

    X, y = load_digits()
    held_out = np.arange(len(y)) % 5 == 0
    Z, Y = X / 16.0, one_hot(y, 10)
    print(f"digits (UCI optical recognition, 8×8): {(~held_out).sum()} training images, "
          f"{held_out.sum()} held out (every 5th)")
    model = Para.id(Real(64)).then(dense(64, hidden, Tanh), dense(hidden, 10))
    learner = Learner(model, softmax_cross_entropy(Real(10)), Adam(lr=lr))
    trainer = Trainer(learner)
    state, params = trainer.fit(*learner.init(seed), Z[~held_out], Y[~held_out], steps,
                                batch_size=batch_size, seed=seed)
    accuracy = _accuracy(model, params, {"training": (Z[~held_out], y[~held_out]),
                                         "held-out": (Z[held_out], y[held_out])})
    print(f"final loss {trainer.history[-1]:.4f}; training accuracy {accuracy['training']:.3f}, "
          f"held-out accuracy {accuracy['held-out']:.3f}")
    return {"accuracy": accuracy, "history": trainer.history, "params": params,
            "model": model, "learner": learner}


#: RDA Table 1 (UCI iris.data): exact-match test accuracy, %
PUBLISHED_RDA_IRIS = {(2, "binary"): 98.0, (2, "one-hot"): 98.0, (3, "binary"): 73.3,
                      (3, "one-hot"): 73.3}


def rda_iris_table() -> dict:
    """The RDA Iris protocol (reference §7.1): a lookup table 4 → b trained by RDA
    in one class-ordered pass; exact-match test accuracy, %, per configuration."""
    from ..categories import lookup_table
    from ..lenses.datasets import rda_iris
    from ..lenses.learner import Learner
    from ..lenses.losses import xor
    from ..lenses.optimisers import RDA

    from . import boolean
    from .training import Trainer

    table = {}
    for (classes, labels), published in PUBLISHED_RDA_IRIS.items():
        x_train, y_train, x_test, y_test = rda_iris(classes, labels)
        model = lookup_table(4, y_train.shape[1])
        learner = Learner(model, xor(model.cod), RDA())
        state, params = Trainer(learner).fit(
            *learner.init(), x_train, y_train, steps=len(x_train), batch_size=1,
            shuffle=False, show=False)
        predicted = boolean.Circuit(model.diagram)(params[model.params[0]], x_test)
        table[classes, labels] = round(100 * float(np.all(predicted == y_test, axis=1).mean()), 1)
    return table


def gate_network_digits(classes, widths, bits: int, code: str, epochs: int, batch_size: int = 32,
                        rule: str = "vote", seed: int = 0, show: bool = True) -> dict:
    """A deep logic-gate network on the binarised 8×8 digits, trained by RDA:
    a fixed permutation (``seed``), 80 % to train, 20 % held out; each class a
    code word of ``bits`` output bits, the prediction the nearest code word."""
    from ..categories import logic_gate_network
    from ..lenses.datasets import binary_digits
    from ..lenses.learner import Learner
    from ..lenses.losses import codewords, nearest, xor
    from ..lenses.optimisers import RDA

    from . import boolean
    from .training import Trainer

    X, y = binary_digits(classes=classes)
    order = np.random.default_rng(seed).permutation(len(y))
    X, y = X[order], np.searchsorted(classes, y[order])
    n_train = int(0.8 * len(y))
    codes = codewords(len(classes), bits, code, seed)
    model = logic_gate_network(64, [*widths, bits], seed=seed)
    learner = Learner(model, xor(model.cod), RDA(batch=rule))
    trainer = Trainer(learner)
    predict = boolean.compile(model.diagram)
    state, params = learner.init(seed)
    curve = []
    for epoch in range(epochs):
        state, params = trainer.fit(state, params, X[:n_train], codes[y[:n_train]],
                                    steps=n_train // batch_size, batch_size=batch_size,
                                    seed=seed + epoch, show=False)
        out = predict(*[params[p] for p in model.params], X[n_train:])
        curve.append(float(np.mean(nearest(out, codes) == y[n_train:])))
        if show:
            sys.stderr.write(f"\repoch {epoch + 1}/{epochs}: held-out accuracy {curve[-1]:.3f}")
    if show:
        sys.stderr.write("\n")
    return {"held-out": curve[-1], "curve": curve, "gates": sum(widths) + bits,
            "and/xor gates": boolean.gate_count(model.diagram), "model": model,
            "params": params, "held-out examples": len(y) - n_train}


#: (classes, hidden widths, output bits, code words, epochs, batch size), trained by RDA's vote
DIGITS_NETWORKS = {
    "digits 0 vs 1": ((0, 1), [256, 128], 16, "groups", 20, 32),
    "digits, ten classes": (tuple(range(10)), [8192, 8192, 4096], 1024, "random", 100, 512),
}


def circuits(seed: int = 0) -> dict:
    """Boolean circuits trained by RDA: the Iris table, then digits."""
    table = rda_iris_table()
    print("RDA Iris (UCI iris.data; lookup table 4 → b, one class-ordered pass), "
          "exact-match test accuracy %:")
    for key, value in table.items():
        print(f"  {key[0]}-class {key[1]:8s} {value:5.1f}   (published {PUBLISHED_RDA_IRIS[key]:.1f})")
    results = {"iris": table}
    for name, args in DIGITS_NETWORKS.items():
        result = gate_network_digits(*args, seed=seed)
        results[name] = result
        print(f"{name}: logic-gate network of {result['gates']} learnable gates "
              f"({result['and/xor gates']} AND/XOR), held-out accuracy {result['held-out']:.3f} "
              f"on {result['held-out examples']} images")
    return results
