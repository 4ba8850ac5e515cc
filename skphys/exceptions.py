"""Exceptions raised by skphys."""

from __future__ import annotations

import math

__all__ = ["NonFiniteLossError", "UnreliableEstimateWarning", "InvalidModelFileError"]


class NonFiniteLossError(FloatingPointError):
    """Training produced a non-finite loss or gradient.

    The estimator's parameters have been restored to those of the step with the lowest loss
    (a loss that grew large before it overflowed marks a model already diverged), or to the
    initial ones when the outputs of those are not finite, so it stays usable (e.g. for
    ``sample`` or a ``warm_start`` fit with a smaller ``learning_rate``); the message says
    whether the outputs of the restored model were checked to be finite.

    Attributes
    ----------
    step : int
        The step at which the loss (or gradient) was not finite.
    value : float
        The offending value.
    restored_step : int
        The step whose parameters were restored (0: the initial parameters).
    what : str
        ``"loss"`` or ``"gradient"``.

    Examples
    --------
    A learning rate far too large for a Gaussian fit:

    >>> import numpy as np
    >>> from skphys import Adam, CouplingFlow, FlowSampler, NonFiniteLossError
    >>> X = np.random.default_rng(0).normal(size=(64, 4))
    >>> flow = FlowSampler(flow=CouplingFlow(n_layers=2, hidden_channels=4), max_iter=50,
    ...                    optimizer=Adam(1e9, clip_grad_norm=100.0), monitor_every=0,
    ...                    device="cpu", random_state=0)
    >>> try:
    ...     flow.fit(X)
    ... except NonFiniteLossError as error:
    ...     print(error.restored_step < error.step)
    True
    """

    def __init__(self, step: int, value: float, restored_step: int, what: str = "loss", *,
                 restored_loss: float | None = None, checked: bool = False):
        self.step = step
        self.value = value
        self.restored_step = restored_step
        self.what = what
        lowest = (f" (the lowest loss, {restored_loss:.4g})"
                  if restored_loss is not None and math.isfinite(restored_loss) else "")
        usable = ", whose outputs were checked to be finite" if checked else ""
        super().__init__(
            f"the training {what} became {value} at step {step}; the parameters were restored "
            f"to those of step {restored_step}{lowest}{usable}. Try a smaller learning_rate, "
            f"gradient clipping (clip_grad_norm) or float64."
        )
        self._message = self.args[0]

    def __reduce__(self):
        return _rebuild_non_finite, (type(self), self.__dict__)


def _rebuild_non_finite(cls, state):
    error = cls.__new__(cls)
    error.__dict__.update(state)
    error.args = (state["_message"],)
    return error


class UnreliableEstimateWarning(UserWarning):
    """An estimate whose error bar cannot be trusted.

    Issued by every estimate with an error bar (``estimate``, ``diagnose``,
    ``AutoregressiveHamiltonian.free_energy``, the command-line tables) and by the reference
    samplers of :mod:`skphys.lattice.mcmc` (chains that hardly moved, or proposals with a NaN
    action) when a threshold of
    :mod:`skphys.lattice.reliability` is crossed: the importance weights' Pareto tail shape
    (:func:`skphys.lattice.stats.pareto_k`) exceeds 0.5, where their variance is infinite,
    so importance-weighted means and the independence Metropolis-Hastings chain (whose
    proposals are the same samples) can sit many quoted errors from the true value; or a
    Markov chain moved in under 5 % of its steps, visited under 20 distinct states, or is
    too short for its autocorrelation time. Train longer, or use a Markov chain that does
    not rely on the model covering the target (e.g. ``RGFlow.sample(method="bulk_hmc")`` or
    :func:`skphys.lattice.mcmc.hmc`).

    Examples
    --------
    A flow two steps into its training misses the soft zero mode of a light free field, whose
    variance under the target is 1 / m^2 = 100:

    >>> import warnings
    >>> from skphys import CouplingFlow, FlowSampler, UnreliableEstimateWarning
    >>> from skphys.lattice import FreeScalar
    >>> flow = FlowSampler(FreeScalar((2, 2), m2=0.01),
    ...                    flow=CouplingFlow(n_layers=2, hidden_channels=8), max_iter=2,
    ...                    monitor_every=0, device="cpu", dtype="float64",
    ...                    random_state=0).fit()
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     mean, error = flow.estimate(lambda x: x[:, 0] ** 2, 20_000, method="importance")
    >>> [w.category.__name__ for w in caught]
    ['UnreliableEstimateWarning']
    """


class InvalidModelFileError(ValueError):
    """:func:`skphys.load` refused a file that is not a valid skphys model.

    The file is not an archive written by ``estimator.save`` (another format, truncated or
    corrupted), or it was altered after saving (a future format version, an unknown entry,
    an invalid parameter value, weights that do not fit the model or are not finite, shared
    references that would multiply when decoded). The message says which; nothing the file
    describes has been built.

    Attributes
    ----------
    path : str
        The file.
    reason : str
        Why it is not a valid skphys model.

    Examples
    --------
    >>> import os, tempfile
    >>> from skphys import load
    >>> from skphys.exceptions import InvalidModelFileError
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "model.pt")
    ...     with open(path, "w") as f:
    ...         _ = f.write("not a model")
    ...     try:
    ...         load(path)
    ...     except InvalidModelFileError as error:
    ...         print(error.reason)
    it is not a zip archive written by torch.save (a truncated file, or another format)
    """

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path} is not a valid skphys model file: {reason}")

    def __reduce__(self):
        return type(self), (self.path, self.reason)
