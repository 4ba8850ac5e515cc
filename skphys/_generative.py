"""The shared base of the density estimators of lattice configurations (flows, RG flows,
autoregressive models): lattice shape, raw and exact sampling, importance weights,
estimates and diagnostics.

The contract with a subclass is the :class:`DensityModel` interface of its ``module_`` and
the class attributes documented on :class:`GenerativeEstimator`; nothing else of the subclass
is read here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import ClassVar, NamedTuple, Protocol, cast

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, DensityMixin, TransformerMixin

from ._base import TorchEstimator
from ._constraints import Constraint, Instance, Optional, check_int
from ._torch_utils import draw_in_chunks, to_numpy
from .exceptions import UnreliableEstimateWarning
from .lattice import LatticeTheory
from .lattice._theory import check_shape
from .lattice.mcmc import independence_metropolis
from .lattice.stats import (
    _MIN_TAIL_WEIGHTS,
    ess,
    importance_mean,
    log_mean_exp,
    mean_error,
    pareto_k,
    tau_int,
)

__all__ = ["DensityModel", "GenerativeEstimator", "FitData", "THEORY_CONSTRAINT",
           "warn_if_heavy_tailed"]

_SAMPLE_METHODS = ("model", "mh", "importance")
_ESTIMATE_METHODS = ("mh", "importance")
MAX_TRUSTED_PARETO_K = 0.7  # Vehtari et al.: above it importance sampling is impractical
_MIN_SQUARE_SIDE = 4  # flat data of n = k^2 >= 16 features may well be a k x k lattice

THEORY_CONSTRAINT: Constraint = Optional(
    Instance(LatticeTheory, description="a skphys.lattice.LatticeTheory"))
"""The constraint of the ``theory`` parameter of the generative estimators."""


class DensityModel(Protocol):
    """The torch-module interface of every generative model (flows, autoregressive models).

    ``sample(n, *, generator, device, dtype) -> (x, log_q)``: ``n`` independent rows
    ``(n, n_features)`` and their exact log density; ``log_prob(x) -> (n,)``: the exact,
    normalized log density of rows ``x``.
    """

    def sample(self, n: int, *, generator: torch.Generator | None = None, device=None,
               dtype=None) -> tuple[torch.Tensor, torch.Tensor]: ...

    def log_prob(self, x: torch.Tensor) -> torch.Tensor: ...


class FitData(NamedTuple):
    """What :meth:`GenerativeEstimator._validate_fit_data` passes to the other fit hooks."""

    X: np.ndarray | None
    lattice_shape: tuple[int, ...]


def tail_shape(log_w: np.ndarray) -> float:
    """:func:`~skphys.lattice.stats.pareto_k` of the weights, NaN when there are too few."""
    return pareto_k(log_w) if len(log_w) >= _MIN_TAIL_WEIGHTS else math.nan


def warn_if_heavy_tailed(log_w: np.ndarray, what: str) -> None:
    """Warn (:class:`UnreliableEstimateWarning`) when the weights' tail makes ``what``
    untrustworthy (called by the estimator method the user called)."""
    k = tail_shape(log_w)
    if k > MAX_TRUSTED_PARETO_K:  # False for NaN
        warnings.warn(
            f"the importance weights have a heavy tail (Pareto k = {k:.2f} > "
            f"{MAX_TRUSTED_PARETO_K}): {what} can be many quoted errors from the true "
            f"value, as the model misses part of the target. Train longer or use a Markov "
            f"chain on the target.", UnreliableEstimateWarning, stacklevel=3)


class GenerativeEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, DensityMixin,
                          TorchEstimator):
    """Base of the estimators whose ``module_`` is a :class:`DensityModel` of configurations.

    It resolves the lattice, draws raw (``method="model"``) and exact samples (independence
    Metropolis-Hastings towards ``p = exp(-theory.action) / Z``, or importance weights), and
    gives :meth:`estimate`, :meth:`diagnose`, :meth:`score_samples` and the tags.

    A subclass has the parameters ``theory`` (a :class:`~skphys.lattice.LatticeTheory` or
    None) and ``lattice_shape``, sets ``_field_types`` (the theory field types it models) and
    ``_other_estimator`` (named in the error for any other field type), and implements the
    fit hooks of :class:`~skphys._base.TorchEstimator` from :meth:`_initialize` on.
    """

    #: field types of the theories this estimator models
    _field_types: ClassVar[tuple[str, ...]] = ("real", "complex")
    #: the estimator to use instead for other field types
    _other_estimator: ClassVar[str] = ""

    # -- the lattice ----------------------------------------------------------------------------
    def _check_params(self, params: dict) -> None:
        theory = params["theory"]
        if theory is not None and theory.field_type not in self._field_types:
            raise TypeError(
                f"{type(self).__name__} models {' or '.join(self._field_types)} fields, but "
                f"{type(theory).__name__} has {theory.field_type} sites: use "
                f"{self._other_estimator} for it"
            )

    def _channels(self) -> int:
        """Real numbers per site (2 for a complex field)."""
        return self.theory.n_components if self.theory is not None else 1

    def _check_lattice(self, shape: tuple[int, ...]) -> None:
        """Hook: refuse lattice shapes the model cannot handle (ValueError)."""

    def _resolve_lattice_shape(self, n_features: int | None) -> tuple[int, ...]:
        """The lattice shape from ``theory``, ``lattice_shape`` or, failing both, the data (a
        1-D chain, with a warning when the row length is a square >= 16)."""
        shape = None if self.lattice_shape is None else check_shape(self.lattice_shape)
        if self.theory is not None:
            if shape is not None and shape != self.theory.shape:
                raise ValueError(f"lattice_shape={shape} does not match the theory's shape "
                                 f"{self.theory.shape}")
            shape = self.theory.shape
        if shape is None:
            if n_features is None:
                raise ValueError(f"{type(self).__name__}.fit() without data needs a theory")
            if n_features < 2:
                raise ValueError(f"a lattice needs at least 2 sites, got n_features = "
                                 f"{n_features}")
            side = math.isqrt(n_features)
            if side >= _MIN_SQUARE_SIDE and side * side == n_features:
                warnings.warn(
                    f"X has {n_features} = {side} x {side} features and neither lattice_shape "
                    f"nor theory was given: treating each row as a 1-D chain of {n_features} "
                    f"sites. Pass lattice_shape=({side}, {side}) for a square lattice, or "
                    f"lattice_shape=({n_features},) to keep the chain without this warning.",
                    UserWarning, stacklevel=4)
            shape = (n_features // self._channels(),)
        expected = self._channels() * math.prod(shape)
        if n_features is not None and n_features != expected:
            raise ValueError(
                f"X has {n_features} features per row but lattice {shape} with "
                f"{self._channels()} component(s) per site needs {expected}"
            )
        self._check_lattice(shape)
        return shape

    def _check_values(self, X: np.ndarray, *, fitting: bool) -> None:
        """Hook: refuse values outside the model's domain (spins, angles); ValueError.

        ``fitting`` is True for the data of ``fit``, whose domain comes from the parameters,
        and False afterwards, when it is the fitted one."""

    def _validate_fit_data(self, X, y, *, reset: bool) -> FitData:
        if X is None:
            return FitData(None, self._resolve_lattice_shape(None))
        X = self._validate_X(X, reset=reset)
        self._check_values(X, fitting=True)
        return FitData(X, self._resolve_lattice_shape(X.shape[1]))

    def _check_warm_start(self, data: FitData) -> None:
        if tuple(data.lattice_shape) != tuple(self.lattice_shape_):
            raise ValueError(
                f"warm_start needs the lattice of the previous fit, {self.lattice_shape_}; "
                f"got {data.lattice_shape}"
            )

    def _initialize(self, data: FitData) -> None:
        self.lattice_shape_ = tuple(data.lattice_shape)
        if data.X is None:
            self.n_features_in_ = self._channels() * math.prod(data.lattice_shape)

    def _configurations(self, X) -> torch.Tensor:
        """Validate ``X`` against the fitted lattice and return it as a tensor."""
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        self._check_values(X, fitting=False)
        return self._to_tensor(X)

    # -- densities ------------------------------------------------------------------------------
    def score_samples(self, X):
        """Exact log density ``log q(x)`` of the model for each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        x = self._configurations(X)
        with torch.no_grad():
            return to_numpy(self.module_.log_prob(x)).astype(np.float64)

    def score(self, X, y=None):
        """Mean log-likelihood ``mean log q(x)`` of the rows of ``X``."""
        return float(np.mean(self.score_samples(X)))

    # -- sampling -------------------------------------------------------------------------------
    def _require_theory(self, what: str) -> LatticeTheory:
        """The ``theory`` (ValueError naming ``what`` when there is none)."""
        if self.theory is None:
            raise ValueError(f"{what} needs a theory (the target action)")
        return self.theory

    def _draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` fresh model samples and their ``log q``, in bounded-memory batches."""
        model = cast(DensityModel, self.module_)  # what every subclass builds
        x, log_q = draw_in_chunks(
            lambda m: model.sample(m, generator=self._generator, device=self._device,
                                   dtype=self._dtype),
            n, max(self.batch_size, 1024),
        )
        return x, log_q

    def _log_weights(self, x: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
        return -self.theory.action(x) - log_q

    def _proposals(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` fresh model samples and their log importance weights."""
        x, log_q = self._draw(n)
        with torch.no_grad():
            return x, self._log_weights(x, log_q)

    def _metropolis_samples(self, n: int, n_burnin: int) -> torch.Tensor:
        """``n`` states of an independence Metropolis-Hastings chain after ``n_burnin``."""
        x, log_w = self._proposals(n + n_burnin)
        chain = independence_metropolis(log_w, generator=self._cpu_generator)
        return x[torch.as_tensor(chain.index[n_burnin:], device=x.device)]

    def sample(self, n_samples: int = 1, method: str = "model", *, n_burnin: int = 100):
        """Draw configurations.

        Parameters
        ----------
        n_samples : int, default=1
            Number of configurations.
        method : {"model", "mh", "importance"}, default="model"
            ``model``: independent draws of the trained model (not exact for the theory);
            ``mh``: an independence Metropolis-Hastings chain of ``n_samples`` states through
            model draws after ``n_burnin`` proposals, exact for the theory; ``importance``:
            model draws with their log importance weights ``-S(x) - log q(x)``.
        n_burnin : int, default=100
            Proposals discarded at the start of the Metropolis-Hastings chain.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        log_w : ndarray of shape (n_samples,)
            Only for ``method="importance"``.
        """
        self._check_fitted()
        n = check_int("n_samples", n_samples, 1)
        n_burnin = check_int("n_burnin", n_burnin, 0)
        methods = self._sample_methods()
        if method not in methods:
            raise ValueError(f"method must be one of {methods}, got {method!r}")
        if method == "model":
            return to_numpy(self._draw(n)[0])
        self._require_theory(f"sample(method={method!r})")
        if method == "importance":
            x, log_w = self._proposals(n)
            return to_numpy(x), to_numpy(log_w).astype(np.float64)
        return to_numpy(self._metropolis_samples(n, n_burnin))

    def _sample_methods(self) -> tuple[str, ...]:
        """The ``method`` values of :meth:`sample` (a subclass that adds one extends it)."""
        return _SAMPLE_METHODS

    # -- exact estimates ------------------------------------------------------------------------
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
            action along that chain, ``kl`` the reverse KL estimate ``ln Z - E_q[log w]``
            in nats, ``log_z`` (LSE of the log-weights minus ln N) and ``log_z_err``
            (delta-method error).
        """
        self._check_fitted()
        self._require_theory("diagnose")
        n = check_int("n_samples", n_samples, 2)
        x, log_q = self._draw(n)
        with torch.no_grad():
            action = to_numpy(self.theory.action(x)).astype(np.float64)
        log_w = -action - to_numpy(log_q).astype(np.float64)
        seed = int(torch.randint(2**31 - 1, (1,), generator=self._cpu_generator))
        ess_value, ess_err = ess(log_w, return_error=True, n_boot=200, random_state=seed)
        chain = independence_metropolis(log_w, generator=self._cpu_generator)
        log_z, log_z_err = log_mean_exp(log_w, return_error=True)
        return {
            "ess": ess_value,
            "ess_err": ess_err,
            "pareto_k": tail_shape(log_w),
            "acceptance": chain.acceptance,
            "tau_int": tau_int(action[chain.index]).tau,
            "kl": float(log_z - log_w.mean()),
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
            distance to the true value.
        """
        self._check_fitted()
        self._require_theory("estimate")
        n = check_int("n_samples", n_samples, 2)
        if method not in _ESTIMATE_METHODS:
            raise ValueError(f"method must be one of {_ESTIMATE_METHODS}, got {method!r}")
        x, log_w_tensor = self._proposals(n)
        values = np.asarray(observable(to_numpy(x)), dtype=np.float64)
        if values.shape != (n,):
            raise ValueError(f"observable must return shape ({n},), got {values.shape}")
        log_w = to_numpy(log_w_tensor).astype(np.float64)
        warn_if_heavy_tailed(log_w, "the estimate")
        if method == "importance":
            return importance_mean(values, log_w)
        chain = independence_metropolis(log_w, generator=self._cpu_generator)
        result = mean_error(values[chain.index])
        return result.mean, result.error

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = [self.dtype]
        tags.non_deterministic = self.device != "cpu" and torch.cuda.is_available()
        return tags

