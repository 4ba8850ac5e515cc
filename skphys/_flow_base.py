"""The machinery shared by the flow estimators (FlowSampler, RGFlow).

A flow estimator owns a module with the :class:`skphys.flows.LatticeFlow` interface
(``sample``, ``log_prob``, ``to_latent``, ``from_latent``) and an optional target theory; this
base trains it (reverse KL, forward KL or both), draws raw, Metropolis-corrected and reweighted
samples, and reports the sampler diagnostics. Subclasses add their parameters, validate them in
:meth:`_validate_params` and build the module in :meth:`_build_module`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, DensityMixin, TransformerMixin

from ._base import TorchEstimator, _check_int, _check_positive
from ._reweighting import ReweightingMixin
from ._torch_utils import draw_in_chunks, to_numpy
from .lattice import LatticeTheory
from .lattice.mcmc import independence_metropolis
from .lattice._theory import check_shape
from .lattice.stats import ess

__all__ = ["FlowEstimator"]

_LOSSES = ("auto", "reverse_kl", "forward_kl", "both")


class FlowEstimator(ReweightingMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                    DensityMixin, TorchEstimator):
    """Base of the flow estimators: training, sampling and diagnostics of a lattice flow.

    Subclasses store (at least) ``theory``, ``lattice_shape``, ``loss``, ``forward_weight``,
    ``path_gradient``, ``batch_size``, ``monitor_every``, ``monitor_size`` and the training
    parameters read by :class:`skphys._base.TorchEstimator`.
    """

    _key_metric = "ess"
    #: the ``method`` values of :meth:`sample` (subclasses that add one extend this)
    _sample_methods: tuple[str, ...] = ("flow", "mh", "importance")

    # -- set-up -------------------------------------------------------------------------------
    def _channels(self) -> int:
        return self.theory.n_components if self.theory is not None else 1

    def _check_lattice(self, shape: tuple[int, ...]) -> None:
        """Refuse lattice shapes the flow cannot handle (hook for subclasses)."""

    def _resolve_shape(self, n_features: int | None) -> tuple[int, ...]:
        """The lattice shape from ``lattice_shape``, ``theory`` or the data, checked."""
        if self.theory is not None and not isinstance(self.theory, LatticeTheory):
            raise TypeError(
                f"theory must be a skphys.lattice theory or None, got {type(self.theory).__name__}"
            )
        shape = None if self.lattice_shape is None else check_shape(self.lattice_shape)
        if self.theory is not None:
            if shape is not None and shape != self.theory.shape:
                raise ValueError(
                    f"lattice_shape={shape} does not match the theory's shape "
                    f"{self.theory.shape}"
                )
            shape = self.theory.shape
        if shape is None:
            if n_features is None:
                raise ValueError("fit() without data needs a theory")
            if n_features < 2:
                raise ValueError(
                    f"a lattice needs at least 2 sites, got n_features = {n_features}"
                )
            shape = (n_features // self._channels(),)
        expected = self._channels() * math.prod(shape)
        if n_features is not None and n_features != expected:
            raise ValueError(
                f"X has {n_features} features per row but lattice {shape} with "
                f"{self._channels()} component(s) per site needs {expected}"
            )
        self._check_lattice(shape)
        return shape

    def _validate_params(self) -> None:
        if self.loss not in _LOSSES:
            raise ValueError(f"loss must be one of {_LOSSES}, got {self.loss!r}")
        _check_positive("forward_weight", self.forward_weight)
        _check_int("monitor_size", self.monitor_size, 1)
        _check_int("monitor_every", self.monitor_every, 0)

    # -- training -----------------------------------------------------------------------------
    def _monitor(self) -> dict[str, float]:
        """ESS/N and independence Metropolis-Hastings acceptance on a fresh monitor batch."""
        with torch.no_grad():
            x, log_q = self.module_.sample(self.monitor_size, generator=self._generator,
                                           device=self._device, dtype=self._dtype)
            log_w = self._log_weights(x, log_q)
        chain = independence_metropolis(log_w, generator=self._cpu_generator)
        return {"ess": ess(log_w), "acceptance": chain.acceptance}

    def _loss_fn(self, data: torch.Tensor | None) -> Callable:
        mode = self.loss
        if mode == "auto":
            mode = "reverse_kl" if data is None else "forward_kl"
        if mode in ("reverse_kl", "both") and self.theory is None:
            raise ValueError(f"loss={mode!r} needs a theory")
        if mode in ("forward_kl", "both") and data is None:
            raise ValueError(f"loss={mode!r} needs data: call fit(X)")
        monitor = self.theory is not None and self.monitor_every > 0
        draw = self.module_.sample_path if self.path_gradient else self.module_.sample

        def loss_fn(step):
            loss = 0.0
            if mode in ("reverse_kl", "both"):
                x, log_q = draw(self.batch_size, generator=self._generator,
                                device=self._device, dtype=self._dtype)
                loss = loss + (log_q + self.theory.action(x)).mean()
            if mode in ("forward_kl", "both"):
                idx = torch.randint(len(data), (self.batch_size,), generator=self._generator,
                                    device=self._device)
                forward = -self.module_.log_prob(data[idx]).mean()
                loss = loss + (self.forward_weight * forward if mode == "both" else forward)
            metrics = {}
            if monitor and (step % self.monitor_every == 0 or step == 1):
                metrics.update(self._monitor())
            return loss, metrics

        return loss_fn

    def fit(self, X=None, y=None):
        """Train the flow: by reverse KL from ``theory`` when ``X`` is None, else on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), optional
            Configurations (rows in row-major site order; complex fields: real parts, then
            imaginary parts).
        y : Ignored

        Returns
        -------
        self
        """
        self._validate_params()
        warm = self.warm_start and hasattr(self, "module_")
        if X is not None:
            X = self._validate_X(X, reset=not warm)
            shape = self._resolve_shape(X.shape[1])
        else:
            shape = self._resolve_shape(None)
            if not warm:
                self.n_features_in_ = self._channels() * math.prod(shape)
        if warm and tuple(shape) != tuple(self.lattice_shape_):
            raise ValueError("warm_start needs the same lattice shape as the previous fit")
        self._setup(reset=not warm)
        if not warm:
            self.lattice_shape_ = tuple(shape)
            self._init_module()
        data = None if X is None else self._to_tensor(X)
        self.module_.train()
        self._train(self._loss_fn(data))
        self.module_.eval()
        if self.theory is not None:
            with torch.no_grad():
                x, log_w = self._proposals(4 * self.monitor_size)
            self.ess_ = ess(log_w)
            self.acceptance_rate_ = independence_metropolis(
                log_w, generator=self._cpu_generator
            ).acceptance
        return self

    # -- sampling -----------------------------------------------------------------------------
    def _draw(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` fresh flow samples and ``log q``, drawn in bounded-memory batches."""
        return draw_in_chunks(
            lambda m: self.module_.sample(m, generator=self._generator, device=self._device,
                                          dtype=self._dtype),
            n, max(self.batch_size, 1024),
        )

    def sample(self, n_samples: int = 1, method: str = "flow", *, burn_in: int = 100):
        """Draw configurations.

        Parameters
        ----------
        n_samples : int
            Number of configurations.
        method : {"flow", "mh", "importance"}
            ``flow``: raw flow samples; ``mh``: an independence Metropolis-Hastings chain of
            ``n_samples`` states after ``burn_in`` proposals, exact for the theory;
            ``importance``: flow samples with their log importance weights.
        burn_in : int, default=100
            Proposals discarded at the start of the Metropolis-Hastings chain.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        log_w : ndarray of shape (n_samples,)
            Only for ``method="importance"``: ``-S(x) - log q(x)``.
        """
        self._check_fitted()
        n = _check_int("n_samples", n_samples, 1)
        if method not in self._sample_methods:
            raise ValueError(f"method must be one of {self._sample_methods}, got {method!r}")
        if method == "flow":
            return to_numpy(self._draw(n)[0])
        self._require_theory(f"sample(method={method!r})")
        if method == "importance":
            x, log_w = self._proposals(n)
            return to_numpy(x), to_numpy(log_w).astype(np.float64)
        return to_numpy(self._metropolis_samples(n, burn_in))

    def score_samples(self, X):
        """Log density ``log q(x)`` of the flow for each row of ``X``."""
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        with torch.no_grad():
            return to_numpy(self.module_.log_prob(self._to_tensor(X))).astype(np.float64)

    def score(self, X, y=None):
        """Mean log-likelihood ``mean log q(x)`` of ``X``."""
        return float(np.mean(self.score_samples(X)))

    def transform(self, X):
        """Latent coordinates ``z = f^{-1}(x)`` (exact inverse of :meth:`inverse_transform`)."""
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        with torch.no_grad():
            return to_numpy(self.module_.to_latent(self._to_tensor(X)))

    def inverse_transform(self, Z):
        """Field configurations ``x = f(z)`` from latent rows ``Z``."""
        self._check_fitted()
        Z = self._validate_X(Z, reset=False)
        with torch.no_grad():
            return to_numpy(self.module_.from_latent(self._to_tensor(Z)))

    @property
    def _n_features_out(self):
        return self.n_features_in_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = [self.dtype]
        tags.non_deterministic = self.device != "cpu" and torch.cuda.is_available()
        return tags
