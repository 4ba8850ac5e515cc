r"""Action prediction: the action of a path integral at a new inverse temperature from two.

The lattice action of 0+1D quantum mechanics splits exactly as :math:`S_\beta = K/\beta +
\beta U` (:class:`~skphys.lattice.PathIntegral`), so two actions at :math:`\beta_1, \beta_2`
(known or learned, e.g. ``estimator.as_theory()``) determine it at any :math:`\beta_3`
(L. Wang, "Action Prediction", arXiv:2405.10493; ``docs/conventions.rst``).
"""

from __future__ import annotations

import torch

from .._constraints import check_real
from ._theory import LatticeTheory

__all__ = ["PredictedAction", "predict_action", "prediction_coefficients"]


def prediction_coefficients(betas, beta) -> tuple[float, float]:
    r"""The coefficients :math:`(c_1, c_2)` of :math:`S_3 = c_1S_1 + c_2S_2`.

    .. math::

        c_1 = \frac{\beta_1(\beta_3^2 - \beta_2^2)}{\beta_3(\beta_1^2 - \beta_2^2)}, \qquad
        c_2 = \frac{\beta_2(\beta_1^2 - \beta_3^2)}{\beta_3(\beta_1^2 - \beta_2^2)},

    the solution of :math:`c_1/\beta_1 + c_2/\beta_2 = 1/\beta_3` (kinetic part) and
    :math:`c_1\beta_1 + c_2\beta_2 = \beta_3` (potential part).

    Parameters
    ----------
    betas : (float, float)
        :math:`\beta_1 \ne \beta_2`, both > 0.
    beta : float
        :math:`\beta_3 > 0`.

    Returns
    -------
    (float, float)

    Examples
    --------
    >>> from skphys.lattice import prediction_coefficients
    >>> prediction_coefficients((4.0, 8.0), 8.0) == (0.0, 1.0)
    True
    >>> [round(c, 6) for c in prediction_coefficients((4.0, 8.0), 6.0)]
    [0.388889, 0.555556]
    """
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas must be two inverse temperatures (beta1, beta2), got "
                         f"{betas!r}") from None
    b1 = check_real("betas[0]", b1, low=0.0, low_inclusive=False)
    b2 = check_real("betas[1]", b2, low=0.0, low_inclusive=False)
    b3 = check_real("beta", beta, low=0.0, low_inclusive=False)
    if b1 == b2:
        raise ValueError(f"betas must differ, got {betas!r}: one action cannot separate the "
                         f"kinetic and the potential part")
    den = b3 * (b1**2 - b2**2)
    return b1 * (b3**2 - b2**2) / den, b2 * (b1**2 - b3**2) / den


class PredictedAction(LatticeTheory):
    r"""The action at :math:`\beta_3` predicted from two actions at :math:`\beta_1, \beta_2`.

    :math:`S_3(x) = c_1 S_1(x) + c_2 S_2(x)` with the coefficients of
    :func:`prediction_coefficients`. If :math:`S_i = K/\beta_i + \beta_i U + C_i` for one
    pair of functionals :math:`K, U` and constants :math:`C_i` (as for
    :class:`PathIntegral` at one ``n_sites`` and potential, and for actions learned from its
    data), then :math:`S_3 = K/\beta_3 + \beta_3 U + C_3`, :math:`C_3 = c_1C_1 + c_2C_2`: the
    action at :math:`\beta_3` up to a constant, which no sampler sees. Build it with
    :func:`predict_action`.

    **Normalization.** A learned action :math:`S_i = -\ln q_i` (``as_theory()`` of a density
    estimator) is normalized, :math:`\int dx\,e^{-S_i} = 1`, so :math:`C_i = \ln Z_i +
    \frac N2\ln(2\pi a_i)` for the path-integral :math:`Z_i` with its measure
    :math:`\prod dx/\sqrt{2\pi a_i}`. The prediction then has
    :math:`\ln\int dx\,e^{-S_3} = \ln Z_3 + \frac N2\ln(2\pi a_3) - c_1C_1 - c_2C_2`: an
    estimate of it (a :class:`~skphys.FlowSampler` trained on this theory, or importance
    sampling) measures :math:`\ln Z_3 - c_1\ln Z_1 - c_2\ln Z_2` plus known terms.

    Parameters
    ----------
    actions : (LatticeTheory, LatticeTheory)
        The actions at :math:`\beta_1` and :math:`\beta_2`: theories on the same lattice with
        the same field type (e.g. ``PathIntegral`` or ``ah.as_theory()``).
    betas : (float, float)
        :math:`\beta_1 \ne \beta_2`.
    beta : float
        :math:`\beta_3`, where the action is predicted.

    Attributes
    ----------
    coefficients : (float, float)
        :math:`(c_1, c_2)`.

    Notes
    -----
    The force is :math:`c_1\nabla S_1 + c_2\nabla S_2`. Outside :math:`[\beta_1, \beta_2]`
    one coefficient is negative: the errors of the two actions no longer average, they
    add with weights :math:`|c_1| + |c_2| > 1`. Symmetries are those both actions have.
    It saves with an estimator that holds it when both actions do.

    Examples
    --------
    >>> from skphys.lattice import PathIntegral, PredictedAction
    >>> s1, s2 = PathIntegral(16, 2.0), PathIntegral(16, 4.0)
    >>> pred = PredictedAction((s1, s2), betas=(2.0, 4.0), beta=3.0)
    >>> [round(c, 4) for c in pred.coefficients], pred.shape, pred.has_sign_symmetry
    ([0.3889, 0.5556], (16,), True)
    """

    def __init__(self, actions, betas, beta: float):
        try:
            first, second = actions
        except (TypeError, ValueError):
            raise ValueError(f"actions must be two lattice theories, got {actions!r}") from None
        for action in (first, second):
            if not isinstance(action, LatticeTheory):
                raise TypeError(f"actions must be LatticeTheory instances (e.g. PathIntegral or "
                                f"estimator.as_theory()), got {type(action).__name__}")
        if first.shape != second.shape or first.n_components != second.n_components:
            raise ValueError(f"the two actions must live on the same lattice, got shapes "
                             f"{first.shape} and {second.shape}")
        if first.field_type != second.field_type:
            raise ValueError(f"the two actions must have the same field type, got "
                             f"{first.field_type!r} and {second.field_type!r}")
        super().__init__(first.shape)
        self.coefficients = prediction_coefficients(betas, beta)
        self.actions = (first, second)
        self.betas = tuple(float(b) for b in betas)
        self.beta = float(beta)
        self.field_type = first.field_type
        self.n_components = first.n_components
        self.internal_symmetries = tuple(s for s in first.internal_symmetries
                                         if s in second.internal_symmetries)

    @property
    def symmetries(self) -> tuple[str, ...]:
        """The symmetries both actions have."""
        second = self.actions[1].symmetries
        return tuple(s for s in self.actions[0].symmetries if s in second)

    def action(self, x):
        (c1, c2), (s1, s2) = self.coefficients, self.actions
        return c1 * s1.action(x) + c2 * s2.action(x)

    def grad_action(self, x):
        (c1, c2), (s1, s2) = self.coefficients, self.actions
        return c1 * s1.grad_action(x) + c2 * s2.grad_action(x)

    def local_action(self, x):
        (c1, c2), (s1, s2) = self.coefficients, self.actions
        return c1 * s1.local_action(x) + c2 * s2.local_action(x)

    def update_sets(self, device=None) -> tuple[torch.Tensor, ...]:
        """The checkerboard colours when both actions use them, else one site per set."""
        if all(type(s).update_sets is LatticeTheory.update_sets for s in self.actions):
            return super().update_sets(device)
        return tuple(torch.eye(self.n_sites, dtype=torch.bool, device=device))

    def initial_state(self, n: int, *, generator=None, device=None, dtype=torch.float64):
        """The initial states of the action at the nearer of :math:`\\beta_1, \\beta_2`."""
        nearer = min(range(2), key=lambda i: abs(self.betas[i] - self.beta))
        return self.actions[nearer].initial_state(n, generator=generator, device=device,
                                                  dtype=dtype)


def predict_action(actions, betas, beta: float) -> PredictedAction:
    r"""Predict the action of a path integral at :math:`\beta_3` from two at
    :math:`\beta_1, \beta_2`.

    The lattice action of 0+1D quantum mechanics (:class:`PathIntegral`, ``N`` slices,
    :math:`a = \beta/N`) splits exactly into a kinetic and a potential part,

    .. math::

        S_\beta[x] = \frac{K[x]}{\beta} + \beta\,U[x], \qquad
        K = N\sum_i\frac{(x_{i+1} - x_i)^2}2, \qquad U = \frac1N\sum_i V(x_i),

    so two actions (learned up to constants :math:`C_1, C_2`) give the action at any
    :math:`\beta_3`:

    .. math::

        S_3 = c_1S_1 + c_2S_2 + C_3, \qquad
        c_1 = \frac{\beta_1(\beta_3^2 - \beta_2^2)}{\beta_3(\beta_1^2 - \beta_2^2)}, \quad
        c_2 = \frac{\beta_2(\beta_1^2 - \beta_3^2)}{\beta_3(\beta_1^2 - \beta_2^2)}

    (L. Wang, "Action Prediction", arXiv:2405.10493). The constant does not change the
    Boltzmann law; the result is a :class:`LatticeTheory` that :func:`~skphys.lattice.mcmc.hmc`,
    :func:`~skphys.lattice.mcmc.metropolis` and :class:`~skphys.FlowSampler` accept.

    Parameters
    ----------
    actions : (LatticeTheory, LatticeTheory)
        The actions at :math:`\beta_1` and :math:`\beta_2`, e.g. ``ah.as_theory()`` of two
        :class:`~skphys.AutoregressiveHamiltonian` fitted on paths at those inverse
        temperatures (same ``n_sites``), or the exact :class:`PathIntegral` theories.
    betas : (float, float)
        :math:`\beta_1 \ne \beta_2`.
    beta : float
        :math:`\beta_3`.

    Returns
    -------
    PredictedAction

    Examples
    --------
    From the exact actions the prediction is exact:

    >>> import torch
    >>> from skphys.lattice import PathIntegral, predict_action
    >>> s1, s2 = (PathIntegral(32, b, "double_well") for b in (4.0, 8.0))
    >>> s3 = predict_action((s1, s2), (4.0, 8.0), beta=16.0)
    >>> x = torch.randn(5, 32, dtype=torch.float64)
    >>> exact = PathIntegral(32, 16.0, "double_well").action(x)
    >>> bool(torch.allclose(s3.action(x), exact))
    True
    """
    return PredictedAction(actions, betas, beta)
