"""The base class every skphys estimator inherits.

It owns what the five estimators share and nothing of their mathematics: the ``device`` and
``dtype`` parameters, the local random generators seeded from ``random_state``, building and
seeding the torch module, the training loop with its ``history_``, input validation at the
numpy/torch boundary, and persistence (pickle, ``copy.deepcopy``, ``sklearn.base.clone``,
``save`` / :func:`skphys.load`).
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _persistence
from ._torch_utils import init_parameters, resolve_device, resolve_dtype, seed_from, to_numpy
from ._training import (
    TrainingOutcome,
    TrainingSettings,
    make_optimizer,
    restart_schedule,
    run_lbfgs,
    run_training,
)

__all__ = ["TorchEstimator"]

_LR_SCHEDULES = (None, "constant", "cosine")


def _check_int(name, value, low, allow_none=False):
    """Return ``value`` as an int >= ``low`` (or None if allowed); ValueError naming ``name``."""
    if allow_none and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _check_bool(name, value) -> bool:
    """Return ``value`` as a bool (Python or NumPy); ValueError naming ``name`` otherwise."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def _check_positive(name, value, allow_none=False, allow_zero=False):
    if allow_none and value is None:
        return
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and np.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        kind = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{name} must be {kind}{' or None' if allow_none else ''}, got {value!r}")


class TorchEstimator(BaseEstimator):
    """Base class of skphys estimators wrapping a torch module.

    Subclasses declare their parameters in ``__init__`` (which only stores them), implement
    :meth:`_build_module` and train by calling :meth:`_train` with a loss closure. The
    parameters this class reads, when the subclass has them, are ``device``, ``dtype``,
    ``random_state``, ``max_iter``, ``learning_rate``, ``lr_schedule``, ``clip_grad_norm``,
    ``tol``, ``n_iter_no_change``, ``warm_start`` and ``verbose``; every parameter whose
    default is a bool must be a bool.

    Fitted state lives in attributes ending in ``_``: ``module_`` (the torch module),
    ``device_`` (the resolved device as a string), ``history_`` (a DataFrame with one row per
    optimizer step: ``step``, ``loss``, the metrics of the estimator, ``wall_time``) and
    ``n_iter_``.

    Randomness comes only from generators seeded from ``random_state``: two CPU fits with the
    same integer ``random_state`` give bit-identical parameters, and the global torch RNG is
    never advanced.
    """

    #: metric shown next to the loss in the progress bar (a key of the loss closure's metrics)
    _key_metric: str | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _persistence.ESTIMATORS[cls.__name__] = cls

    # -- to implement -----------------------------------------------------------------------
    def _build_module(self) -> torch.nn.Module:
        """Return a new, unseeded torch module built from parameters and fitted sizes."""
        raise NotImplementedError

    # -- devices, dtypes, randomness ----------------------------------------------------------
    @property
    def _device(self) -> torch.device:
        return torch.device(self.device_)

    @property
    def _dtype(self) -> torch.dtype:
        return resolve_dtype(self.dtype)

    def _setup(self, reset: bool) -> None:
        """Validate the common parameters, resolve the device and seed the generators."""
        self._validate_common_params()
        if reset or not hasattr(self, "device_"):
            self.device_ = str(resolve_device(self.device))
            rng = check_random_state(getattr(self, "random_state", None))
            self._seeds = (seed_from(rng), seed_from(rng))
            self._generator = torch.Generator(device=self._device).manual_seed(self._seeds[0])
            self._cpu_generator = torch.Generator().manual_seed(self._seeds[1])

    def _validate_common_params(self) -> None:
        resolve_device(self.device)
        resolve_dtype(self.dtype)
        for name, low in (("max_iter", 1), ("batch_size", 1), ("n_iter_no_change", 1)):
            if hasattr(self, name):
                _check_int(name, getattr(self, name), low)
        if hasattr(self, "learning_rate"):
            _check_positive("learning_rate", self.learning_rate)
        if hasattr(self, "clip_grad_norm"):
            _check_positive("clip_grad_norm", self.clip_grad_norm, allow_none=True)
        if hasattr(self, "tol"):
            _check_positive("tol", self.tol, allow_none=True, allow_zero=True)
        if getattr(self, "lr_schedule", None) not in _LR_SCHEDULES:
            raise ValueError(
                f"lr_schedule must be None, 'constant' or 'cosine', got {self.lr_schedule!r}"
            )
        if hasattr(self, "verbose"):
            _check_int("verbose", self.verbose, 0)
        for name in self._flag_names():
            _check_bool(name, getattr(self, name))

    @classmethod
    def _flag_names(cls) -> list[str]:
        """The parameters whose default is a bool (``warm_start``, ``z2_equivariant``, ...)."""
        signature = inspect.signature(cls.__init__)
        return [name for name in cls._get_param_names()
                if isinstance(signature.parameters[name].default, bool)]

    def _init_module(self) -> None:
        """Build ``module_`` with parameters drawn from the estimator's own generator."""
        with torch.random.fork_rng(devices=[]):
            module = self._build_module()
        init_parameters(module, self._cpu_generator)
        self.module_ = module.to(device=self._device, dtype=self._dtype)
        self._optimizer = None

    # -- training ---------------------------------------------------------------------------
    def _train(self, loss_fn: Callable, *, monitor: str = "loss", description=None) -> None:
        """Run the training loop on ``module_`` and update ``history_`` and ``n_iter_``.

        ``loss_fn(step) -> (loss, metrics)``. With ``warm_start`` the optimizer state, the
        step count and the history carry over from the previous fit; the learning rate and
        its schedule start over (:func:`~skphys._training.restart_schedule`).
        """
        settings = TrainingSettings(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            lr_schedule=getattr(self, "lr_schedule", None),
            clip_grad_norm=getattr(self, "clip_grad_norm", None),
            tol=getattr(self, "tol", None),
            n_iter_no_change=getattr(self, "n_iter_no_change", 10),
            monitor=monitor,
            key_metric=self._key_metric,
            verbose=getattr(self, "verbose", 0),
            description=description or type(self).__name__,
        )
        params = [p for p in self.module_.parameters() if p.requires_grad]
        warm = getattr(self, "warm_start", False) and getattr(self, "_optimizer", None)
        if not warm:
            self._optimizer, self._scheduler = make_optimizer(params, settings)
            previous, offset = None, 0
        else:
            self._scheduler = restart_schedule(self._optimizer, settings)
            previous, offset = self.history_, self.n_iter_
        outcome = TrainingOutcome()
        try:
            run_training(
                params,
                loss_fn,
                settings,
                optimizer=self._optimizer,
                scheduler=self._scheduler,
                step_offset=offset,
                outcome=outcome,
            )
        except BaseException:
            self._optimizer = None
            raise
        finally:
            # the fitted state stays consistent even when training raised
            rows = pd.DataFrame(outcome.records)
            if previous is not None and "optimizer" in previous:
                rows = rows.assign(optimizer="adam")
            if previous is not None and outcome.records:
                rows = pd.concat([previous, rows], ignore_index=True)
            self.history_ = rows if previous is None or outcome.records else previous
            self.n_iter_ = offset + outcome.n_steps

    def _refine(self, loss_fn: Callable, max_iter: int, *, description=None) -> None:
        """Refine ``module_`` with full-batch L-BFGS after :meth:`_train` (see
        :func:`~skphys._training.run_lbfgs`); ``loss_fn`` must be deterministic.

        Its iterations continue ``history_`` (column ``optimizer``: "adam" before, "lbfgs"
        for these rows) and count in ``n_iter_``.
        """
        settings = TrainingSettings(
            max_iter=max_iter,
            learning_rate=1.0,
            key_metric=self._key_metric,
            verbose=getattr(self, "verbose", 0),
            description=f"{description or type(self).__name__} L-BFGS",
        )
        params = [p for p in self.module_.parameters() if p.requires_grad]
        outcome = TrainingOutcome()
        try:
            run_lbfgs(params, loss_fn, settings, step_offset=self.n_iter_, outcome=outcome)
        finally:
            history = self.history_
            if "optimizer" not in history:
                history = history.assign(optimizer="adam")
            rows = pd.DataFrame(outcome.records).assign(optimizer="lbfgs")
            self.history_ = pd.concat([history, rows], ignore_index=True)
            self.n_iter_ += outcome.n_steps

    # -- numpy <-> torch boundary -------------------------------------------------------------
    def _validate_X(self, X, *, reset: bool, n_features: int | None = None) -> np.ndarray:
        """Check ``X`` (numpy or torch) and return a float numpy array.

        ``n_features`` is the row length the lattice requires; sklearn's ``validate_data``
        checks it against ``n_features_in_`` on later calls.
        """
        if isinstance(X, torch.Tensor):
            X = to_numpy(X)
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        if reset and n_features is not None and X.shape[1] != n_features:
            raise ValueError(
                f"X has {X.shape[1]} features per row but the lattice needs {n_features}; "
                f"check lattice_shape / theory"
            )
        return X

    def _to_tensor(self, X) -> torch.Tensor:
        X = np.require(X, requirements="W")  # torch refuses read-only (e.g. memmapped) arrays
        return torch.as_tensor(X, device=self._device, dtype=self._dtype)

    def _check_fitted(self) -> None:
        check_is_fitted(self, "module_")

    # -- persistence ------------------------------------------------------------------------
    def __getstate__(self):
        state = super().__getstate__()
        state = dict(state)
        module = state.pop("module_", None)
        if module is not None:
            state["_module_state"] = {k: v.detach().cpu().clone()
                                      for k, v in module.state_dict().items()}
        for key in ("_generator", "_cpu_generator", "_optimizer", "_scheduler"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        module_state = state.pop("_module_state", None)
        super().__setstate__(state)
        if hasattr(self, "device_"):
            self.device_ = str(resolve_device(self.device_, fallback=True))
            self._generator = torch.Generator(device=self._device).manual_seed(self._seeds[0])
            self._cpu_generator = torch.Generator().manual_seed(self._seeds[1])
        if module_state is not None:
            self._restore_module(module_state)

    def _restore_module(self, module_state: dict) -> None:
        with torch.random.fork_rng(devices=[]):
            module = self._build_module()
        module = module.to(dtype=self._dtype)  # before loading: no float32 round trip
        module.load_state_dict(module_state)
        self.module_ = module.to(device=self._device)
        self._optimizer = None

    def _to_payload(self) -> dict:
        self._check_fitted()
        fitted = {
            k: _persistence.encode(v, k)
            for k, v in vars(self).items()
            if k.endswith("_") and not k.startswith("_") and k != "module_"
        }
        return {
            **_persistence._payload_header(self),
            "params": _persistence.encode(self.get_params(deep=False), "params"),
            "fitted": fitted,
            "seeds": list(self._seeds),
            "module_state": {
                k: v.detach().cpu().clone() for k, v in self.module_.state_dict().items()
            },
        }

    def _restore_payload(self, payload: dict, device=None) -> None:
        for key, value in payload["fitted"].items():
            setattr(self, key, _persistence.decode(value, device))
        wanted = device if device is not None else self.device_
        self.device_ = str(resolve_device(wanted, fallback=True))
        self._seeds = tuple(payload["seeds"])
        self._generator = torch.Generator(device=self._device).manual_seed(self._seeds[0])
        self._cpu_generator = torch.Generator().manual_seed(self._seeds[1])
        self._restore_module(payload["module_state"])

    def save(self, path) -> None:
        """Save the fitted estimator to ``path`` (tensors and plain values only).

        Load it back with :func:`skphys.load`, which uses ``torch.load(weights_only=True)``.
        The file is written to a temporary name and renamed, so an interrupted save never
        leaves a half-written file behind.
        """
        _persistence.save(self, path)
