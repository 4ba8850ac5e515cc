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
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ._base import TorchEstimator
from ._constraints import Constraint, Instance, Optional, check_int, check_memory
from ._distributed import draw_sharded
from ._learned_theory import LearnedAction
from ._torch_utils import to_numpy
from .lattice import LatticeTheory
from .lattice._theory import check_shape, evaluate_action
from .lattice.mcmc import independence_metropolis
from .lattice.reliability import (
    MAX_PARETO_K,
    chain_mean_error,
    chain_problems,
    state_count,
    tail_shape,
    warn_unreliable,
    weight_problems,
)
from .lattice.stats import ess, importance_mean, log_mean_exp, tau_int

__all__ = ["DensityModel", "GenerativeEstimator", "FitData", "THEORY_CONSTRAINT",
           "FIT_CHECK_SIZE", "HELD_OUT_TOL"]

_SAMPLE_METHODS = ("model", "mh", "importance")
_ESTIMATE_METHODS = ("mh", "importance")
_MIN_SQUARE_SIDE = 4  # flat data of n = k^2 >= 16 features may well be a k x k lattice
FIT_CHECK_SIZE = 4096
"""Fresh model samples of the check at the end of a fit from the action."""
HELD_OUT_TOL = 0.01
"""Nats per site by which the held-out NLL of ``fit(X)`` may still fall in the second half of
the steps (whose learning rate the cosine schedule takes to zero) before the fit warns that
it has not converged."""
_REWEIGHTING_REMEDY = ("Train longer (a larger max_iter, or warm_start=True to continue), "
                       "or use a Markov chain that does not rely on the model covering the "
                       "target (skphys.lattice.mcmc).")

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


class HeldOut(NamedTuple):
    """The held-out rows of ``fit(X)`` and, filled in during training, the lowest NLL per
    site on them (``best["nll"]``) and the parameters that gave it (``best["state"]``)."""

    rows: np.ndarray
    best: dict


class FitData(NamedTuple):
    """What :meth:`GenerativeEstimator._validate_fit_data` passes to the other fit hooks:
    the training rows (None for a fit from the action), the lattice and the held-out rows."""

    X: np.ndarray | None
    lattice_shape: tuple[int, ...]
    held_out: HeldOut | None = None


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
                raise ValueError(f"X has {n_features} feature(s) per row, but a lattice "
                                 f"needs at least 2 sites")
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
        shape = self._resolve_lattice_shape(X.shape[1])
        n_val = int(self.validation_fraction * len(X))
        if n_val == 0 or n_val == len(X):
            return FitData(X, shape)
        order = check_random_state(self.random_state).permutation(len(X))
        held_out = HeldOut(X[order[:n_val]], {"nll": math.inf, "state": None})
        return FitData(X[order[n_val:]], shape, held_out)

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

    # -- rows of fit(X) -------------------------------------------------------------------------
    def _training_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Hook: the data rows of a training batch as the maximum-likelihood loss sees them
        (RGFlow dequantizes them, AutoregressiveHamiltonian augments them)."""
        return rows

    def _with_validation(self, loss_fn: Callable, data: FitData) -> Callable:
        """``loss_fn`` that also records the NLL per site of the held-out rows (``val_nll``)
        and keeps the parameters that gave the lowest (``data.held_out``): at every step, or
        every ``ceil(n_held_out / batch_size)`` steps, so that it costs at most a training
        batch's forward pass per step."""
        if data.held_out is None:
            return loss_fn
        rows, best = self._to_tensor(data.held_out.rows), data.held_out.best
        n_sites = rows.shape[1] / self._channels()
        model = cast(DensityModel, self.module_)
        every = -(-len(rows) // self.batch_size)

        def tracked(step):
            loss, metrics = loss_fn(step)
            if step % every and step != 1:
                return loss, metrics
            with torch.no_grad():
                val_nll = float(-model.log_prob(rows).mean()) / n_sites
            if val_nll < best["nll"]:
                best["nll"] = val_nll
                best["state"] = {k: v.clone() for k, v in self.module_.state_dict().items()}
            return loss, {**metrics, "val_nll": val_nll}

        return tracked

    # -- the check at the end of fit --------------------------------------------------------------
    def _finish_fit(self, data: FitData) -> None:
        for name in ("ess_", "pareto_k_", "acceptance_rate_", "validation_score_",
                     "train_score_"):
            self.__dict__.pop(name, None)  # of an earlier fit
        if data.held_out is not None:
            assert data.X is not None  # rows are held out of fit(X) only
            self._check_generalization(data.X, data.held_out)
        if self.theory is not None:
            self._check_reweighting()

    def _check_reweighting(self) -> None:
        """ESS/N, Pareto k and independence Metropolis-Hastings acceptance on
        :data:`FIT_CHECK_SIZE` fresh samples; ConvergenceWarning when they show the model
        cannot be used for reweighting."""
        with torch.no_grad():
            _, log_w_tensor = self._proposals(FIT_CHECK_SIZE, strict=False)
        log_w = to_numpy(log_w_tensor).astype(np.float64)
        n_bad = int((np.isnan(log_w) | np.isposinf(log_w)).sum())
        if n_bad:
            self.ess_, self.pareto_k_, self.acceptance_rate_ = math.nan, math.inf, math.nan
            warnings.warn(
                f"{type(self).__name__} after {self.n_iter_} steps is not usable for "
                f"reweighting: {n_bad} of {FIT_CHECK_SIZE} fresh samples have a NaN or "
                f"infinite importance weight (the model's density or the action is not "
                f"finite there). {_REWEIGHTING_REMEDY}", ConvergenceWarning, stacklevel=4)
            return
        chain = independence_metropolis(log_w, generator=self._cpu_generator)
        self.ess_ = ess(log_w)
        self.pareto_k_ = tail_shape(log_w)
        self.acceptance_rate_ = chain.acceptance
        problems = weight_problems(log_w) + chain_problems(acceptance=chain.acceptance)
        if problems:
            warnings.warn(
                f"{type(self).__name__} after {self.n_iter_} steps is not usable for "
                f"reweighting (on {FIT_CHECK_SIZE} fresh samples: {'; '.join(problems)}; "
                f"ESS/N = {self.ess_:.3g}): its exact estimates will warn and can be biased. "
                f"{_REWEIGHTING_REMEDY}", ConvergenceWarning, stacklevel=4)

    def _check_generalization(self, X: np.ndarray, held_out: HeldOut) -> None:
        """Restore the parameters of the lowest held-out NLL, set ``validation_score_`` and
        ``train_score_`` (mean log-likelihood per site) and warn when the held-out NLL was
        still falling in the second half of the steps."""
        if held_out.best["state"] is not None:
            self.module_.load_state_dict(held_out.best["state"])
        rows = self._to_tensor(held_out.rows)
        train = self._to_tensor(X[:FIT_CHECK_SIZE])
        n_sites = rows.shape[1] / self._channels()
        model = cast(DensityModel, self.module_)
        with torch.no_grad():
            self.validation_score_ = float(model.log_prob(rows).mean()) / n_sites
            self.train_score_ = float(model.log_prob(train).mean()) / n_sites
        val_nll = self.history_["val_nll"].dropna().to_numpy()
        last = max(1, len(val_nll) // 2)
        if len(val_nll) > last:
            gain = val_nll[:-last].min() - val_nll[-last:].min()
            if gain > HELD_OUT_TOL:
                warnings.warn(
                    f"{type(self).__name__}: the held-out NLL per site was still falling in "
                    f"the second half of the steps (by {gain:.3g} nats per site, more than "
                    f"{HELD_OUT_TOL}): the fit has not converged. Increase max_iter (or "
                    f"continue with warm_start=True).", ConvergenceWarning, stacklevel=4)

    def _check_rows(self, name: str, n: int, rows_per_unit: int = 1) -> None:
        """ValueError naming ``name`` when ``n * rows_per_unit`` configurations, the result
        being asked for, cannot fit in the device's memory
        (:func:`~skphys._constraints.check_memory`)."""
        n_values = n * rows_per_unit * self.n_features_in_
        check_memory(n_values * torch.empty((), dtype=self._dtype).element_size(), self._device,
                     f"{name}={n} ({n * rows_per_unit} configurations of "
                     f"{self.n_features_in_} values)", f"reduce {name}")

    def _outputs_finite(self) -> bool:
        """Whether 64 model samples (from a generator of their own) and their log densities,
        by the sampling pass and by :meth:`score_samples`' pass, are finite."""
        model = cast(DensityModel, self.module_)
        generator = torch.Generator(device=self._device).manual_seed(0)
        with torch.no_grad():
            x, log_q = model.sample(64, generator=generator, device=self._device,
                                    dtype=self._dtype)
            return bool(torch.isfinite(x).all() and torch.isfinite(log_q).all()
                        and torch.isfinite(model.log_prob(x)).all())

    def _configurations(self, X) -> torch.Tensor:
        """Validate ``X`` against the fitted lattice and return it as a tensor."""
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        self._check_values(X, fitting=False)
        return self._to_tensor(X)

    # -- densities ------------------------------------------------------------------------------
    def as_theory(self, temperature: float | None = None) -> LatticeTheory:
        r"""The learned action :math:`S(x) = -\ln q_\theta(x)` as a lattice theory.

        A :class:`~skphys.LearnedAction` that the samplers (:func:`~skphys.lattice.hmc`,
        :func:`~skphys.lattice.metropolis`), :class:`~skphys.FlowSampler` and VAN
        (``AutoregressiveHamiltonian(theory=...)``) accept like any theory; its Boltzmann
        weight is the model density, so its :math:`\ln Z` is exactly 0. It holds this
        estimator (not a copy) and is saved and loaded with the estimator that holds it.

        Parameters
        ----------
        temperature : float, optional
            :math:`T` of the learned energy :math:`H = -T\ln q_\theta` (the theory's
            ``temperature`` and :meth:`~skphys.LearnedAction.energy`). Default: the
            temperature of ``theory``, else 1 (the action of a field theory is its energy).

        Returns
        -------
        LearnedAction
        """
        self._check_fitted()
        if temperature is None:
            temperature = getattr(self.theory, "temperature", 1.0)
        return LearnedAction(self, temperature=temperature)

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
            log_q = to_numpy(self.module_.log_prob(x)).astype(np.float64)
        return self._warn_nan("score_samples", log_q)

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
        """``n`` fresh model samples and their ``log q``, in bounded-memory batches; under
        torch.distributed each rank draws its share and every rank gets the union (so
        ``sample``, ``estimate`` and ``diagnose`` are collective: call them on every rank)."""
        model = cast(DensityModel, self.module_)  # what every subclass builds
        x, log_q = draw_sharded(
            lambda m: model.sample(m, generator=self._generator, device=self._device,
                                   dtype=self._dtype),
            n, max(self.batch_size, 1024),
        )
        return x, log_q

    def _weight_problems(self, log_w: np.ndarray) -> list[str]:
        """Why the importance weights ``log_w`` cannot support error bars: their own tail, or
        else the tail the end-of-fit check found (``pareto_k_``). A tail a sample has not
        yet reached is invisible to it, so either sighting counts."""
        problems = weight_problems(log_w)
        fitted_k = getattr(self, "pareto_k_", math.nan)
        if not problems and fitted_k > MAX_PARETO_K:
            problems.append(f"the check at the end of fit found a heavy tail of the "
                            f"importance weights (Pareto k = {fitted_k:.2f} > {MAX_PARETO_K} "
                            f"on {FIT_CHECK_SIZE} fresh samples), which these samples have "
                            f"not reached")
        return problems

    def _log_weights(self, x: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
        return -evaluate_action(self.theory, x) - log_q

    def _proposals(self, n: int, *, strict: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` fresh model samples and their log importance weights; with ``strict``, a
        ValueError when an action or a log density is NaN (or gives an infinite weight)."""
        x, log_q = self._draw(n)
        with torch.no_grad():
            log_w = self._log_weights(x, log_q)
        if strict:
            self._check_weights(x, log_q, log_w)
        return x, log_w

    def _check_weights(self, x: torch.Tensor, log_q: torch.Tensor, log_w: torch.Tensor) -> None:
        """ValueError saying whose values are not finite when a log weight is NaN or +inf
        (a weight of 0, an action of +inf, is a valid sample)."""
        bad = torch.isnan(log_w) | torch.isposinf(log_w)
        if not bool(bad.any()):
            return
        n_bad, n = int(bad.sum()), len(log_w)
        with torch.no_grad():
            action = evaluate_action(self.theory, x[bad])
        if not bool(torch.isfinite(action).all()):
            raise ValueError(
                f"the action of the theory ({type(self.theory).__name__}.action) returned "
                f"non-finite values (NaN or -inf) for {n_bad} of {n} model samples, so their "
                f"importance weights are undefined; check the theory's action there")
        raise ValueError(
            f"{type(self).__name__}'s log density (log q) is not finite for {n_bad} of {n} of "
            f"its own samples: the model is not usable; refit it (a smaller learning_rate, "
            f"float64)")

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
        self._check_rows("n_samples", n + (n_burnin if method == "mh" else 0))
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

        Warns
        -----
        UnreliableEstimateWarning
            When the weights' Pareto tail shape exceeds 0.5 or the chain barely moves (the
            thresholds of :mod:`skphys.lattice.reliability`): ``ess_err`` and ``log_z_err``
            then understate the errors.
        """
        self._check_fitted()
        self._require_theory("diagnose")
        n = check_int("n_samples", n_samples, 2)
        self._check_rows("n_samples", n)
        x, log_q = self._draw(n)
        with torch.no_grad():
            action_tensor = evaluate_action(self.theory, x)
        self._check_weights(x, log_q, -action_tensor - log_q)
        action = to_numpy(action_tensor).astype(np.float64)
        log_w = -action - to_numpy(log_q).astype(np.float64)
        seed = int(torch.randint(2**31 - 1, (1,), generator=self._cpu_generator))
        ess_value, ess_err = ess(log_w, return_error=True, n_boot=200, random_state=seed)
        chain = independence_metropolis(log_w, generator=self._cpu_generator)
        log_z, log_z_err = log_mean_exp(log_w, return_error=True)
        warn_unreliable(self._weight_problems(log_w)
                        + chain_problems(acceptance=chain.acceptance),
                        "the diagnostics' error bars (ess_err, log_z_err)", _REWEIGHTING_REMEDY)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the window: a diagnostic itself
            tau = tau_int(action[chain.index]).tau
        return {
            "ess": ess_value,
            "ess_err": ess_err,
            "pareto_k": tail_shape(log_w),
            "acceptance": chain.acceptance,
            "tau_int": tau,
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
            When the error cannot be trusted, by the thresholds of
            :mod:`skphys.lattice.reliability`: the weights' Pareto tail shape exceeds 0.5,
            in these samples or in the end-of-fit check (``pareto_k_``; both methods draw
            on the same weights: the model misses part of the target), or, for ``mh``, the
            chain moved in under 5 % of its steps, visited under 20 distinct states, or is
            too short for its autocorrelation time.
        """
        self._check_fitted()
        self._require_theory("estimate")
        n = check_int("n_samples", n_samples, 2)
        self._check_rows("n_samples", n)
        if method not in _ESTIMATE_METHODS:
            raise ValueError(f"method must be one of {_ESTIMATE_METHODS}, got {method!r}")
        x, log_w_tensor = self._proposals(n)
        values = np.asarray(observable(to_numpy(x)))
        if values.shape != (n,):
            raise ValueError(f"observable must return shape ({n},), got {values.shape}")
        if not np.isrealobj(values) or values.dtype.kind not in "biuf":
            raise TypeError(f"observable must return real numbers, got dtype {values.dtype}")
        values = values.astype(np.float64)
        if not np.isfinite(values).all():
            raise ValueError(
                f"observable returned non-finite values (NaN or inf) for "
                f"{int((~np.isfinite(values)).sum())} of {n} configurations")
        log_w = to_numpy(log_w_tensor).astype(np.float64)
        problems = self._weight_problems(log_w)
        if method == "importance":
            mean, error = importance_mean(values, log_w)
        else:
            chain = independence_metropolis(log_w, generator=self._cpu_generator)
            result, closed = chain_mean_error(values[chain.index])
            mean, error = result.mean, result.error
            problems += chain_problems(acceptance=chain.acceptance,
                                       n_distinct=len(np.unique(chain.index)),
                                       n_states=state_count(self.theory), window_closed=closed)
        warn_unreliable(problems, "the estimate", _REWEIGHTING_REMEDY)
        return mean, error

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = [self.dtype]
        tags.non_deterministic = self.device != "cpu" and torch.cuda.is_available()
        return tags

