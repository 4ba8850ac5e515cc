"""The base class every skphys estimator inherits.

It owns what the five estimators share and nothing of their mathematics: the ``device`` and
``dtype`` parameters, the local random generators seeded from ``random_state``, building and
seeding the torch module, the training loop with its ``history_``, input validation at the
numpy/torch boundary, and persistence (pickle, ``copy.deepcopy``, ``sklearn.base.clone``,
``save`` / :func:`skphys.load`).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data
from torch.optim.lr_scheduler import LRScheduler

from . import _distributed, _persistence
from ._constraints import (
    Boolean,
    Constraint,
    Instance,
    Integer,
    Options,
    check_memory,
    naming,
    validate_params,
)
from ._optimizer import Adam
from ._parameter_object import ParameterObject
from ._torch_utils import (
    init_parameters,
    registrations,
    resolve_device,
    resolve_dtype,
    seed_from,
    to_numpy,
)
from ._training import (
    TrainingOutcome,
    TrainingSettings,
    make_optimizer,
    restart_schedule,
    run_lbfgs,
    run_training,
)
from .lattice import LatticeTheory

__all__ = ["TorchEstimator", "COMMON_CONSTRAINTS"]


class _Device(Constraint):
    def describe(self) -> str:
        return "'auto', 'cpu', 'cuda' or 'cuda:N'"

    def check(self, name, value):
        if isinstance(value, torch.device):
            value = str(value)
        if not isinstance(value, str):
            raise self._type_error(name, value)
        resolve_device(value)  # ValueError naming the device
        return value


class _RandomState(Constraint):
    def describe(self) -> str:
        return "None, an int or a numpy RandomState"

    def check(self, name, value):
        if value is not None and not isinstance(value, (numbers.Integral, np.random.RandomState)):
            raise self._type_error(name, value)
        check_random_state(value)
        return value


COMMON_CONSTRAINTS: dict[str, Constraint] = {
    "max_iter": Integer(1),
    "batch_size": Integer(1),
    "optimizer": Instance(Adam, description="a skphys.Adam"),
    "warm_start": Boolean(),
    "device": _Device(),
    "dtype": Options("float32", "float64"),
    "random_state": _RandomState(),
    "verbose": Integer(0),
}
"""Constraints of the parameters every estimator has; each estimator's table extends it."""


class TorchEstimator(BaseEstimator):
    """Base class of skphys estimators wrapping a torch module: the one ``fit``.

    :meth:`fit` is a template (in the manner of :class:`sklearn.mixture.BaseMixture`): it
    validates the parameters against the class's ``_parameter_constraints`` table, validates
    the data (:meth:`_validate_fit_data`), seeds the generators, builds the module on a fresh
    fit (:meth:`_initialize`, then :meth:`_build_module`), trains it (:meth:`_fit_module`) and
    checks the result (:meth:`_finish_fit`). What :meth:`_validate_fit_data` returns is passed
    to the other hooks as ``data``. Subclasses implement those hooks and never override
    ``fit``.

    Every estimator has the parameters of :data:`COMMON_CONSTRAINTS`: ``max_iter``,
    ``batch_size``, ``optimizer`` (a :class:`skphys.Adam`), ``warm_start``, ``device``,
    ``dtype``, ``random_state`` and ``verbose``.

    Fitted state lives in attributes ending in ``_``: ``module_`` (the torch module),
    ``device_`` (the resolved device as a string), ``history_`` (a DataFrame with one row per
    optimizer step: ``step``, ``loss``, the metrics of the estimator, ``wall_time``) and
    ``n_iter_``.

    Randomness comes only from generators seeded from ``random_state``: two CPU fits with the
    same integer ``random_state`` give bit-identical parameters, and the global torch RNG is
    never advanced.
    """

    #: one entry per constructor parameter (checked by :meth:`_validate_params`)
    _parameter_constraints: ClassVar[dict[str, Constraint]] = COMMON_CONSTRAINTS
    #: metric shown next to the loss in the progress bar (a key of the loss closure's metrics)
    _key_metric: str | None = None

    # set by fit (declared for the type checker only: no class attributes)
    module_: torch.nn.Module
    device_: str
    history_: pd.DataFrame
    n_iter_: int
    _seeds: tuple[int, ...]
    _generator: torch.Generator
    _cpu_generator: torch.Generator
    _optimizer: torch.optim.Optimizer | None
    _scheduler: LRScheduler | None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _persistence.ESTIMATORS[cls.__name__] = cls

    # -- the fit template ---------------------------------------------------------------------
    def fit(self, X=None, y=None):
        """Fit the estimator (see the class documentation for what ``X`` and ``y`` are).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), optional
            Training data; estimators that learn from a theory (``fit()``) accept None.
        y : array-like, optional
            Targets, for the estimators that have them; ignored otherwise.

        Returns
        -------
        self
        """
        self._validate_params()
        _distributed.init_from_env(resolve_device(self.device))  # under torchrun only
        warm = self.warm_start and hasattr(self, "module_")
        data = self._validate_fit_data(X, y, reset=not warm)
        if warm:
            self._check_warm_start(data)
        self._setup(reset=not warm)
        if not warm:
            self._initialize(data)
            self._init_module()
        self.module_.train()
        try:
            self._fit_module(data)
        finally:
            self.module_.eval()
        self._finish_fit(data)
        return self

    def _validate_params(self) -> None:
        """Check every parameter against ``_parameter_constraints`` (TypeError for a wrong
        type, ValueError for a wrong value, naming the parameter); parameter objects check
        themselves; :meth:`_check_params` then checks combinations."""
        checked = validate_params(self.get_params(deep=False), self._parameter_constraints,
                                  type(self).__name__)
        for name, value in checked.items():
            if isinstance(value, ParameterObject):
                checked[name] = value.validate(f"{name}__")
        self._check_params(checked)

    def _check_params(self, params: dict) -> None:
        """Hook: checks of several parameters together (ValueError naming them).

        ``params`` holds the checked values; a parameter object's entry is the dict of its
        own checked parameters."""

    def _validate_fit_data(self, X, y, *, reset: bool):
        """Hook: validate the arguments of ``fit`` and return what the other hooks take as
        ``data`` (by default the validated ``X``; ``y`` is ignored)."""
        if X is None:
            raise ValueError(f"{type(self).__name__}.fit needs X")
        return self._validate_X(X, reset=reset)

    def _check_warm_start(self, data) -> None:
        """Hook: refuse a ``warm_start`` fit on data the fitted module cannot continue on."""

    def _initialize(self, data) -> None:
        """Hook: fitted sizes and scales that :meth:`_build_module` needs (fresh fits only)."""

    def _build_module(self) -> torch.nn.Module:
        """Return a new, unseeded torch module built from parameters and fitted sizes."""
        raise NotImplementedError

    def _fit_module(self, data) -> None:
        """Hook: train ``module_`` (with :meth:`_train` and possibly :meth:`_refine`)."""
        raise NotImplementedError

    def _finish_fit(self, data) -> None:
        """Hook: end-of-fit checks and fitted attributes that need the trained module."""

    def set_params(self, **params):
        """Set parameters; nested ones (``flow__n_layers``, ``theory__lam``) replace the
        parameter object or theory with a modified copy, never changing the one passed in
        (which may be shared, e.g. a default)."""
        nested: dict[str, dict] = {}
        direct = {}
        for key, value in params.items():
            head, sep, sub = key.partition("__")
            if sep:
                nested.setdefault(head, {})[sub] = value
            else:
                direct[key] = value
        super().set_params(**direct)
        valid = self._get_param_names()
        for head, sub in nested.items():
            if head not in valid:
                raise ValueError(
                    f"Invalid parameter {head!r} for estimator {type(self).__name__}. Valid "
                    f"parameters are: {valid!r}."
                )
            setattr(self, head, _modified_copy(getattr(self, head), sub, head))
        return self

    # -- devices, dtypes, randomness ----------------------------------------------------------
    @property
    def _device(self) -> torch.device:
        return torch.device(self.device_)

    @property
    def _dtype(self) -> torch.dtype:
        return resolve_dtype(self.dtype)

    def _setup(self, reset: bool) -> None:
        """Resolve the device and seed the generators (fresh fits only; a warm start under
        torch.distributed of a model seeded outside it gets its rank's stream)."""
        if reset or not hasattr(self, "device_"):
            _distributed.require_seed(self.random_state)
            self.device_ = str(_distributed.rank_device(resolve_device(self.device)))
            rng = check_random_state(self.random_state)
            self._seeds = (seed_from(rng), seed_from(rng))
            self._seed_generators()
        elif self._generator.initial_seed() != _distributed.rank_seed(self._seeds[0]):
            self._seed_generators()

    def _seed_generators(self) -> None:
        """Seed ``_generator``, this process's sampling stream
        (:func:`~skphys._distributed.rank_seed`), and ``_cpu_generator``, the same on every
        rank, from ``_seeds``."""
        seed = _distributed.rank_seed(self._seeds[0])
        self._generator = torch.Generator(device=self._device).manual_seed(seed)
        self._cpu_generator = torch.Generator().manual_seed(self._seeds[1])

    def _init_module(self) -> None:
        """Build ``module_`` with parameters drawn from the estimator's own generator, once
        the fit's memory has been checked (:meth:`_build_checked`)."""
        with torch.random.fork_rng(devices=[]):
            module = self._build_checked()
        init_parameters(module, self._cpu_generator)
        self.module_ = module.to(device=self._device, dtype=self._dtype)
        self._optimizer = None

    def _build_checked(self) -> torch.nn.Module:
        """:meth:`_build_module`, refused (ValueError naming ``batch_size`` or the network)
        when a lower bound of the fit's memory exceeds the device's
        (:func:`~skphys._constraints.check_memory`): one batch of rows, checked before the
        build, plus the parameters with their gradients and Adam's two moments, counted as
        the build registers them (it stops at the first that overflows the budget)."""
        itemsize = torch.empty((), dtype=self._dtype).element_size()
        n_values = getattr(self, "n_features_in_", 1)
        batch_bytes = self.batch_size * n_values * itemsize
        what = (f"fitting {type(self).__name__} (batches of batch_size={self.batch_size} "
                f"rows of {n_values} values")
        check_memory(batch_bytes, self._device, what + ")",
                     "reduce batch_size (or the rows: the lattice)")
        network = "reduce the size of the network (hidden_channels, n_layers)"
        n_params = [0]

        def count(kind, value):
            if kind == "parameter":
                n_params[0] += value.numel()
                check_memory(batch_bytes + 4 * n_params[0] * itemsize, self._device,
                             f"{what}, at least {n_params[0]:.3g} parameters)", network)

        try:
            with registrations(count):
                return self._build_module()
        except RuntimeError as error:  # one tensor beyond what the allocator can give
            if "allocat" not in str(error) and "out of memory" not in str(error):
                raise
            raise ValueError(f"{what}): the network's parameters do not fit in memory "
                             f"({error}); {network}") from None

    @property
    def _local_batch_size(self) -> int:
        """This process's share of ``batch_size`` (all of it outside torch.distributed)."""
        return _distributed.shard_size(self.batch_size)

    # -- training ---------------------------------------------------------------------------
    def _train(self, loss_fn: Callable, *, monitor: str = "loss", description=None) -> None:
        """Run the training loop on ``module_`` and update ``history_`` and ``n_iter_``.

        ``loss_fn(step) -> (loss, metrics)``. With ``warm_start`` the optimizer state, the
        step count and the history carry over from the previous fit; the learning rate and
        its schedule start over (:func:`~skphys._training.restart_schedule`). Under
        torch.distributed the steps are data-parallel
        (:func:`~skphys._distributed.data_parallel`) and only rank 0 shows progress.
        """
        settings = self.optimizer(
            self._max_iter, monitor=monitor, key_metric=self._key_metric,
            verbose=_distributed.rank_zero_verbosity(self.verbose),
            description=description or type(self).__name__,
        )
        loss_fn, reduce = _distributed.data_parallel(self.module_, loss_fn, self.batch_size)
        params = [p for p in self.module_.parameters() if p.requires_grad]
        optimizer = getattr(self, "_optimizer", None) if self.warm_start else None
        if optimizer is None:
            optimizer, self._scheduler = make_optimizer(params, settings)
            self._optimizer = optimizer
            previous, offset = None, 0
        else:
            self._scheduler = restart_schedule(optimizer, settings)
            previous, offset = self.history_, self.n_iter_
        outcome = TrainingOutcome()
        try:
            run_training(
                params,
                loss_fn,
                settings,
                optimizer=optimizer,
                scheduler=self._scheduler,
                step_offset=offset,
                outcome=outcome,
                reduce=reduce,
                usable=self._outputs_finite,
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
        if settings.tol is not None and not (outcome.converged or outcome.interrupted):
            warnings.warn(
                f"{type(self).__name__} reached max_iter={self._max_iter} while its {monitor} "
                f"was still improving by more than tol={settings.tol} within "
                f"{settings.n_iter_no_change} steps: increase max_iter (or continue with "
                f"warm_start=True).", ConvergenceWarning, stacklevel=4)

    @property
    def _max_iter(self) -> int:
        """Hook: the optimizer steps of a fit, ``max_iter`` (an estimator whose default
        depends on the fit resolves None here)."""
        return self.max_iter

    def _outputs_finite(self) -> bool:
        """Hook: whether ``module_`` gives finite outputs, checked after a divergence of the
        training restored its parameters (see :func:`~skphys._training.run_training`)."""
        return True

    def _refine(self, loss_fn: Callable, max_iter: int, *, description=None) -> None:
        """Refine ``module_`` with full-batch L-BFGS after :meth:`_train` (see
        :func:`~skphys._training.run_lbfgs`); ``loss_fn`` must be deterministic.

        Its iterations continue ``history_`` (column ``optimizer``: "adam" before, "lbfgs"
        for these rows) and count in ``n_iter_``.
        """
        settings = TrainingSettings(
            max_iter=max_iter, learning_rate=1.0, key_metric=self._key_metric,
            verbose=_distributed.rank_zero_verbosity(self.verbose),
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
    def _validate_X(self, X, *, reset: bool, n_features: int | None = None,
                    input_name: str = "X") -> np.ndarray:
        """Check ``X`` (numpy or torch) and return a float numpy array.

        ``n_features`` is the row length the lattice requires; sklearn's ``validate_data``
        checks it against ``n_features_in_`` on later calls. Values must be finite in the
        estimator's ``dtype`` (beyond its range, e.g. ``|x| > 3.4e38`` for float32, they
        would become infinite in the module): ValueError naming ``input_name``.
        """
        if isinstance(X, torch.Tensor):
            X = to_numpy(X)
        with naming(input_name):  # sklearn's words, with the input named
            X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        limit = float(np.finfo(self.dtype).max)
        if X.size and float(np.abs(X).max()) > limit:
            raise ValueError(
                f"{input_name} has values beyond the range of dtype={self.dtype!r} "
                f"(|{input_name.lower()}| <= {limit:.3g}): the largest is "
                f"{float(np.abs(X).max()):.3g}; rescale the data or use dtype='float64'"
            )
        if reset and n_features is not None and X.shape[1] != n_features:
            raise ValueError(
                f"X has {X.shape[1]} features per row but the lattice needs {n_features}; "
                f"check lattice_shape / theory"
            )
        return X

    def _warn_nan(self, method: str, result: np.ndarray) -> np.ndarray:
        """``result``, with a RuntimeWarning when some of its rows hold NaN (inputs whose
        values overflow the module in its ``dtype``); never a silent NaN."""
        bad = np.isnan(result).reshape(len(result), -1).any(1) if result.size else []
        if np.any(bad):
            warnings.warn(
                f"{type(self).__name__}.{method} returned NaN for {int(np.sum(bad))} of "
                f"{len(result)} rows: their values overflow the model in dtype={self.dtype!r} "
                f"(values far outside the training data); rescale them or use "
                f"dtype='float64'", RuntimeWarning, stacklevel=3)
        return result

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
            self._seed_generators()
        if module_state is not None:
            self._restore_module(module_state)

    def _restore_module(self, module_state: dict) -> None:
        with torch.random.fork_rng(devices=[]):
            module = self._build_module()
        module = module.to(dtype=self._dtype)  # before loading: no float32 round trip
        module.load_state_dict(module_state)
        self.module_ = module.to(device=self._device).eval()  # as after fit
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
        # the fitted attributes its class declares, each of its kind, and a state dict that
        # matches the module its parameters build (checked on the meta device first)
        _persistence.restore_fitted(self, payload["fitted"], device)
        wanted = device if device is not None else self.device_
        self.device_ = str(resolve_device(wanted, fallback=True))
        self._seeds = tuple(payload["seeds"])
        self._seed_generators()
        _persistence.check_module_state(self, payload["module_state"])
        self._restore_module(payload["module_state"])

    def save(self, path) -> None:
        """Save the fitted estimator to ``path`` (tensors and plain values only).

        Load it back with :func:`skphys.load`, which uses ``torch.load(weights_only=True)``.
        The file is written to a temporary name and renamed, so an interrupted save never
        leaves a half-written file behind. Under torch.distributed only rank 0 writes (every
        rank holds the same fitted model).
        """
        if _distributed.is_rank_zero():
            _persistence.save(self, path)


def _modified_copy(value, params: dict, name: str):
    """A copy of the parameter ``name``'s value (a parameter object, a lattice theory or an
    estimator) with ``params`` changed."""
    if isinstance(value, ParameterObject):
        return clone(value).set_params(**params)
    if isinstance(value, LatticeTheory):
        current = value.get_params()
        unknown = sorted(set(params) - set(current))
        if unknown:
            raise ValueError(f"invalid parameter(s) {unknown} for {name}={value!r}; valid "
                             f"parameters are {sorted(current)}")
        return type(value)(**{**current, **params})
    if hasattr(value, "set_params"):  # a nested estimator: set in place, as scikit-learn does
        return value.set_params(**params)
    raise ValueError(f"{name}={value!r} has no parameters to set ({sorted(params)})")

