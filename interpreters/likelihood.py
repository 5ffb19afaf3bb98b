"""Likelihoods: log p(y) of a model on data, its gradient, and maximum-likelihood fits.

A likelihood model is a Para map whose output is one number per series, log p(y)
(``categories.chains.log_likelihood``, ``local_level_likelihood``, ``hmm_log_likelihood``, or
one's own). :class:`Likelihood` compiles it and its reverse derivative R once;
the total over a batch of series is the objective:

* ``value(params, *data)``, ``value_and_grad(params, *data)``: Σ log p and its
  gradient with respect to every parameter (reverse mode through the backward
  filter: R of the loops);
* ``objective(params, *data)``: −Σ log p and its gradient on a flat vector, for
  ``scipy.optimize.minimize(objective, objective.x0, jac=True, method="L-BFGS-B")``;
* ``fit(params, *data, optimiser=…, steps=…)``: gradient steps by one of the
  library's optimisers (a ``Learner`` whose loss is −log p(y)), the history of
  −Σ log p kept, stopping with a clear error (and the last good parameters kept
  in ``last``) if a step leaves the model's domain.

A model of ``categories.chains`` declares the domain of its parameters
(``constraints``: covariances positive semi-definite, R positive definite,
stochastic vectors and matrices); values outside it are refused at every call and
after every step, naming the parameter. Parametrise so that no step can leave it
(``local_level_likelihood`` reads log-variances).

Data may hold NaN where an observation is missing (the models skip it).

>>> import numpy as np
>>> from paralens.categories.chains import local_level_likelihood
>>> model = local_level_likelihood(m0=0.0, P0=1.0)
>>> nll = Likelihood(model)
>>> params = model.init()                     # both log-variances 0: variances 1
>>> round(nll.value(params, np.array([[[0.5]]])), 6)         # log N(0.5; 0, 1 + 1)
-1.328012
>>> value, grad = nll.value_and_grad(params, np.array([[[0.5]]]))
>>> sorted(grad)
['log_level_variance', 'log_noise_variance']
"""

from __future__ import annotations

import numbers

import numpy as np

from ..categories import Para, Real
from ..categories.chains import check_constraints
from ..lenses import R
from ..lenses.learner import Learner
from ..lenses.losses import loss
from . import numpy as interpreter

__all__ = ["Likelihood", "Objective", "Fitted"]


def _model(model) -> Para:
    if not isinstance(model, Para):
        raise TypeError(f"Likelihood: the model must be a Para map whose output is log p(y), "
                        f"got {type(model).__name__}")
    if model.cod != Real():
        raise TypeError(f"Likelihood: the model's output must be one number per series "
                        f"(Real()), log p(y); it gives {model.cod!r}")
    return model


class Objective:
    """−Σ log p(y) and its gradient as functions of one flat vector θ of the parameters
    (in the model's order, each raveled): ``objective(θ) = (value, gradient)``, as
    ``scipy.optimize.minimize(..., jac=True)`` takes it; ``x0`` the starting point and
    ``parameters(θ)`` the parameters it stands for.

    >>> import numpy as np
    >>> from paralens.categories.chains import local_level_likelihood
    >>> model = local_level_likelihood(0.0, 1.0)
    >>> objective = Likelihood(model).objective(model.init(), np.array([[[0.5]]]))
    >>> objective.x0, round(float(objective(objective.x0)[0]), 6)
    (array([0., 0.]), 1.328012)
    """

    def __init__(self, likelihood: "Likelihood", params, data):
        self.likelihood, self.data = likelihood, data
        self.template = likelihood.model.parameters(params)
        self.shapes = [np.shape(v) for v in self.template.values()]
        self.x0 = np.concatenate([np.ravel(v) for v in self.template.values()]) \
            if self.shapes else np.zeros(0)
        self.evaluations = 0

    def parameters(self, theta):
        """The parameters θ stands for, keyed by name."""
        theta = np.asarray(theta, dtype=float)
        if theta.shape != self.x0.shape:
            raise ValueError(f"Objective: θ must be a vector of {self.x0.size}, got shape "
                             f"{theta.shape}")
        values, k = self.template.copy(), 0
        for name, shape in zip(self.likelihood.model.names, self.shapes):
            size = int(np.prod(shape, dtype=int))
            values[name] = theta[k:k + size].reshape(shape)
            k += size
        return values

    def __call__(self, theta):
        self.evaluations += 1
        value, grad = self.likelihood.value_and_grad(self.parameters(theta), *self.data)
        flat = np.concatenate([np.ravel(g) for g in grad.values()]) if self.shapes else \
            np.zeros(0)
        return -value, -flat


class Fitted(tuple):
    """(parameters, history): the fitted parameters and −Σ log p before each step;
    ``path``, the parameters before each step and after the last (with
    ``fit(..., keep_path=True)``; else None).

    >>> fitted = Fitted({"a": 1.0}, [2.0, 1.5])
    >>> fitted.params, fitted.history, fitted.path
    ({'a': 1.0}, [2.0, 1.5], None)
    """

    def __new__(cls, params, history, path=None):
        fitted = super().__new__(cls, (params, history))
        fitted.path = path
        return fitted

    @property
    def params(self):
        return self[0]

    @property
    def history(self) -> list:
        return self[1]


class Likelihood:
    """log p(y) of ``model`` (a Para map to Real(), one number per series) on data,
    compiled once with ``compile`` (the NumPy interpreter by default; the code
    generator, ``interpreters.codegen.compile``, or JAX's, ``interpreters.jax.compile``,
    run the same diagrams).

    >>> import numpy as np
    >>> from paralens.categories.chains import log_likelihood
    >>> nll = Likelihood(log_likelihood(1, 1))
    >>> round(nll.value(nll.model.init(), np.array([[[0.5]], [[0.5]]])), 6)   # two series
    -2.656024
    """

    def __init__(self, model: Para, compile=None):
        self.model = _model(model)
        self.compile = compile or interpreter.compile
        n = len(self.model.params)
        self._value = self.compile(self.model.diagram)
        self._put = self.compile(R(self.model.diagram).put, summed=range(n))

    def _arguments(self, params, data, where: str = ""):
        values = self.model.parameters(params)
        check_constraints(self.model, values, where)
        if len(data) != len(self.model.dom):
            raise TypeError(f"Likelihood: the model reads {len(self.model.dom)} data "
                            f"input{'s' if len(self.model.dom) != 1 else ''} "
                            f"({self.model.dom!r}), {len(data)} given")
        return values, list(values.values()) + list(data)

    def value(self, params, *data) -> float:
        """Σ log p(y) over the series of the data."""
        _, args = self._arguments(params, data)
        return float(np.sum(self._value(*args)))

    def value_and_grad(self, params, *data):
        """(Σ log p(y), its gradient keyed by parameter name)."""
        values, args = self._arguments(params, data)
        logp = np.asarray(self._value(*args))
        cotangent = np.ones_like(logp)
        out = self._put(*args, cotangent)
        out = out if isinstance(out, tuple) else (out, )
        grad = values.copy()
        for name, g, v in zip(self.model.names, out, values.values()):
            grad[name] = np.broadcast_to(np.asarray(g), np.shape(v)).copy()
        return float(np.sum(logp)), grad

    def objective(self, params, *data) -> Objective:
        """−Σ log p(y) and its gradient on a flat vector, starting from ``params``."""
        self._arguments(params, data)
        return Objective(self, params, data)

    def fit(self, params, *data, optimiser=None, steps: int = 100,
            keep_path: bool = False) -> Fitted:
        """``steps`` steps of ``optimiser`` (default Adam, rate 0.1) on −Σ log p(y) over
        all the data, from ``params``: (parameters, history of −Σ log p before each
        step), and with ``keep_path`` the parameters at every step (``.path``). A step
        that makes −log p or a parameter not finite stops the fit with an error naming
        the step; ``self.last`` keeps the last finite parameters."""
        if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
            raise TypeError(f"fit: steps must be a whole number ≥ 0, got {steps!r}")
        if optimiser is None:
            from ..lenses.optimisers import Adam
            optimiser = Adam(lr=0.1)
        learner = Learner(self.model, loss(Real(), lambda w, logp: -(w * logp)), optimiser,
                          reduction="sum")
        step = self.compile(learner.diagram)
        values, args = self._arguments(params, data)
        state = [np.zeros(w.shape, dtype=w.dtype) for w in learner.state_type.inside]
        current = [np.asarray(v) for v in values.values()]
        weights = np.ones(())      # every series' weight 1: one value, shared by the batch
        history = []
        self.last = values
        path = [values] if keep_path else None
        for k in range(int(steps)):
            out = step(*state, *current, *data, weights)
            out = out if isinstance(out, tuple) else (out, )
            objective = learner.objective(out[-1])
            new_state = list(out[:len(state)])
            new = list(out[len(state):len(state) + len(current)])
            bad = [n for n, v in zip(self.model.names, new) if not np.all(np.isfinite(v))]
            if not np.isfinite(objective) or bad:
                what = f"parameter {bad[0]}" if bad else "−log p(y)"
                raise FloatingPointError(
                    f"fit: step {k} made {what} not finite; the last finite parameters (after "
                    f"step {k - 1}) are in .last. Lower the rate, or parametrise so that no "
                    f"step can leave the model's domain (a log-variance)")
            fitted = values.copy()
            for name, v in zip(self.model.names, new):
                fitted[name] = v
            try:
                check_constraints(self.model, fitted, f" after step {k}")
            except ValueError as error:
                raise ValueError(f"fit: step {k} left the model's domain: {error}; the last "
                                 f"parameters inside it (after step {k - 1}) are in .last. "
                                 f"Lower the rate, or parametrise so that no step can leave "
                                 f"it (log-variances, a softmax)") from None
            history.append(objective)
            state, current = new_state, new
            self.last = fitted
            if keep_path:
                path.append(fitted)
        return Fitted(self.last, history, path)
