"""Exact expectations from a model with a tractable density: importance weights and
independence Metropolis-Hastings, shared by the flow and autoregressive estimators."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import torch

from ._base import _check_int
from ._torch_utils import to_numpy
from .exceptions import UnreliableEstimateWarning
from .lattice.mcmc import independence_metropolis
from .lattice.stats import (
    _MIN_TAIL_WEIGHTS, ess, importance_mean, log_mean_exp, mean_error, pareto_k, tau_int,
)

__all__ = ["ReweightingMixin"]

_ESTIMATE_METHODS = ("mh", "importance")
_MAX_TRUSTED_PARETO_K = 0.7  # Vehtari et al.: above it importance sampling is impractical


def _tail_shape(log_w: np.ndarray) -> float:
    """:func:`pareto_k` of the weights, NaN when there are too few to fit a tail."""
    return pareto_k(log_w) if len(log_w) >= _MIN_TAIL_WEIGHTS else math.nan


def _warn_if_heavy_tailed(log_w: np.ndarray, what: str) -> None:
    """Warn (:class:`UnreliableEstimateWarning`) when the weights' tail makes ``what``
    untrustworthy (called by the estimator method the user called)."""
    k = _tail_shape(log_w)
    if k > _MAX_TRUSTED_PARETO_K:  # False for NaN
        warnings.warn(
            f"the importance weights have a heavy tail (Pareto k = {k:.2f} > "
            f"{_MAX_TRUSTED_PARETO_K}): {what} can be many quoted errors from the true "
            f"value, as the model misses part of the target. Train longer or use a Markov "
            f"chain on the target.", UnreliableEstimateWarning, stacklevel=3)


class ReweightingMixin:
    """Corrects the samples of a fitted model ``q`` towards ``p = exp(-theory.action) / Z``:
    independence Metropolis-Hastings, importance-weighted estimates, sampler diagnostics.

    The estimator provides ``theory``, ``_draw(n) -> (x, log q(x))`` (fresh samples),
    ``_check_fitted`` and a CPU ``_cpu_generator``.
    """

    def _require_theory(self, what: str) -> None:
        if self.theory is None:
            raise ValueError(f"{what} needs a theory (the target action)")

    def _log_weights(self, x: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
        return -self.theory.action(x) - log_q

    def _proposals(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` fresh model samples and their log importance weights."""
        x, log_q = self._draw(n)
        with torch.no_grad():
            return x, self._log_weights(x, log_q)

    def _metropolis_samples(self, n: int, burn_in) -> torch.Tensor:
        """``n`` states of an independence Metropolis-Hastings chain after ``burn_in``."""
        burn_in = _check_int("burn_in", burn_in, 0)
        x, log_w = self._proposals(n + burn_in)
        chain = independence_metropolis(log_w, generator=self._cpu_generator)
        return x[torch.as_tensor(chain.index[burn_in:], device=x.device)]

    def diagnose(self, n_samples: int = 8192) -> dict:
        """Sampler diagnostics on ``n_samples`` fresh model samples (never a training batch).

        Returns
        -------
        dict
            ``ess`` (ESS/N) and ``ess_err`` (bootstrap), ``pareto_k`` the tail shape of the
            weights (:func:`skphys.lattice.stats.pareto_k`: from 0.5 up their variance is
            infinite and ESS/N and every importance-sampling error bar, ``log_z_err``
            included, are unreliable; NaN below 25 samples), ``acceptance`` of an
            independence Metropolis-Hastings chain through the samples, ``tau_int`` of the
            action along that chain, ``kl`` the reverse KL estimate ``ln Z - E_q[log w]``,
            ``log_z`` (LSE of the log-weights minus ln N) and ``log_z_err`` (delta-method
            error).
        """
        self._check_fitted()
        self._require_theory("diagnose")
        n = _check_int("n_samples", n_samples, 2)
        x, log_q = self._draw(n)
        with torch.no_grad():
            action = to_numpy(self.theory.action(x)).astype(np.float64)
        log_w_np = -action - to_numpy(log_q).astype(np.float64)
        seed = int(torch.randint(2**31 - 1, (1,), generator=self._cpu_generator))
        ess_value, ess_err = ess(log_w_np, return_error=True, n_boot=200, random_state=seed)
        chain = independence_metropolis(log_w_np, generator=self._cpu_generator)
        log_z, log_z_err = log_mean_exp(log_w_np, return_error=True)
        return {
            "ess": ess_value,
            "ess_err": ess_err,
            "pareto_k": _tail_shape(log_w_np),
            "acceptance": chain.acceptance,
            "tau_int": tau_int(action[chain.index]).tau,
            "kl": float(log_z - log_w_np.mean()),
            "log_z": log_z,
            "log_z_err": log_z_err,
        }

    def estimate(self, observable: Callable, n_samples: int = 8192, method: str = "mh"):
        """Estimate of ``<observable>`` under the theory, exact up to its error.

        Parameters
        ----------
        observable : callable
            Maps configurations ``(n, n_features)`` (numpy) to values ``(n,)``.
        n_samples : int, default=8192
            Fresh proposals used.
        method : {"mh", "importance"}, default="mh"
            ``mh``: mean over the independence Metropolis-Hastings chain with the error from
            its integrated autocorrelation time; ``importance``: self-normalized importance
            sampling with the delta-method error
            (:func:`skphys.lattice.stats.importance_mean`).

        Returns
        -------
        (mean, error) : tuple of float

        Warns
        -----
        UnreliableEstimateWarning
            When the weights' Pareto tail shape exceeds 0.7 (both methods draw on the same
            weights): the model misses part of the target and the error understates the
            distance to the true value. At the Ising dual, L = 16, T_c, a flow with
            ``pareto_k`` 0.85 put ``<|m|>`` 7-10 errors high with either method.
        """
        self._check_fitted()
        self._require_theory("estimate")
        n = _check_int("n_samples", n_samples, 2)
        if method not in _ESTIMATE_METHODS:
            raise ValueError(f"method must be one of {_ESTIMATE_METHODS}, got {method!r}")
        x, log_w = self._proposals(n)
        values = np.asarray(observable(to_numpy(x)), dtype=np.float64)
        if values.shape != (n,):
            raise ValueError(f"observable must return shape ({n},), got {values.shape}")
        log_w = to_numpy(log_w).astype(np.float64)
        _warn_if_heavy_tailed(log_w, "the estimate")
        if method == "importance":
            return importance_mean(values, log_w)
        chain = independence_metropolis(log_w, generator=self._cpu_generator)
        result = mean_error(values[chain.index])
        return result.mean, result.error
