"""Exceptions raised by skphys."""

from __future__ import annotations

__all__ = ["NonFiniteLossError"]


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
