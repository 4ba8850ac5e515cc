"""The optimizer parameter object shared by every estimator."""

from __future__ import annotations

from ._constraints import Integer, Optional, Options, Real
from ._parameter_object import ParameterObject
from ._training import TrainingSettings

__all__ = ["Adam"]


class Adam(ParameterObject):
    """Adam with a learning-rate schedule, gradient clipping and optional early stopping.

    The ``optimizer`` parameter of every skphys estimator. Each estimator has its own default
    instance (see its ``optimizer`` parameter); change one setting with, e.g.,
    ``est.set_params(optimizer__learning_rate=1e-3)``.

    Parameters
    ----------
    learning_rate : float, default=1e-3
        Adam step size (at the start of the schedule).
    lr_schedule : {"cosine", "constant"}, default="cosine"
        ``cosine`` anneals the rate to 0 over ``max_iter`` steps; ``constant`` keeps it.
    clip_grad_norm : float or None, default=None
        Rescale the gradient to at most this norm before each step.
    tol : float or None, default=None
        Early stopping: stop after ``n_iter_no_change`` steps in which the monitored value
        (the loss, or the estimator's validation score) did not improve by ``tol``.
        None trains for ``max_iter`` steps.
    n_iter_no_change : int, default=50
        Patience of the early stopping.

    Examples
    --------
    >>> from skphys import Adam, FlowSampler
    >>> from skphys.lattice import FreeScalar
    >>> flow = FlowSampler(FreeScalar((4, 4), m2=1.0), optimizer=Adam(1e-2, clip_grad_norm=10.0))
    >>> flow.get_params()["optimizer__learning_rate"]
    0.01
    """

    _parameter_constraints = {
        "learning_rate": Real(0.0, low_inclusive=False),
        "lr_schedule": Options("cosine", "constant"),
        "clip_grad_norm": Optional(Real(0.0, low_inclusive=False)),
        "tol": Optional(Real(0.0)),
        "n_iter_no_change": Integer(1),
    }

    def __init__(self, learning_rate: float = 1e-3, *, lr_schedule: str = "cosine",
                 clip_grad_norm: float | None = None, tol: float | None = None,
                 n_iter_no_change: int = 50):
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.clip_grad_norm = clip_grad_norm
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change

    def __call__(self, max_iter: int, **settings) -> TrainingSettings:
        """The :class:`~skphys._training.TrainingSettings` of a fit of ``max_iter`` steps."""
        return TrainingSettings(
            max_iter=max_iter, learning_rate=self.learning_rate, lr_schedule=self.lr_schedule,
            clip_grad_norm=self.clip_grad_norm, tol=self.tol,
            n_iter_no_change=self.n_iter_no_change, **settings,
        )
