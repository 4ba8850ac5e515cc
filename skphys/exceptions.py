"""Exceptions raised by skphys."""

from __future__ import annotations

__all__ = ["NonFiniteLossError", "UnreliableEstimateWarning"]


class NonFiniteLossError(FloatingPointError):
    """Training produced a non-finite loss or gradient.

    The estimator's parameters have been restored to those of the last step whose loss was
    finite, so it stays usable (e.g. for ``sample`` or a ``warm_start`` fit with a smaller
    ``learning_rate``).

    Attributes
    ----------
    step : int
        The step at which the loss (or gradient) was not finite.
    value : float
        The offending value.
    restored_step : int
        The step whose parameters were restored (0: the initial parameters).

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

    def __init__(self, step: int, value: float, restored_step: int, what: str = "loss"):
        self.step = step
        self.value = value
        self.restored_step = restored_step
        super().__init__(
            f"the training {what} became {value} at step {step}; the parameters were restored "
            f"to those of step {restored_step}. Try a smaller learning_rate, gradient clipping "
            f"(clip_grad_norm) or float64."
        )


class UnreliableEstimateWarning(UserWarning):
    """Importance weights too heavy-tailed for an estimate and its error bar to be trusted.

    Raised when the fitted Pareto tail shape of the weights
    (:func:`skphys.lattice.stats.pareto_k`) exceeds 0.7: the model misses part of the target,
    so importance-weighted means and the independence Metropolis-Hastings chain (whose
    proposals are the same samples) can sit many quoted errors from the true value. Train
    longer, or use a Markov chain that does not rely on the model covering the target (e.g.
    ``RGFlow.sample(method="bulk_hmc")`` or :func:`skphys.lattice.mcmc.hmc`).

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
