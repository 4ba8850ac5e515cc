"""A minimal estimator on the skphys base, used to test the base itself.

It fits a multivariate Gaussian by maximum likelihood with the shared fit template and
training loop. It is test infrastructure, not part of the library.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.base import DensityMixin

from skphys import Adam
from skphys._base import COMMON_CONSTRAINTS, TorchEstimator


class _GaussianModule(torch.nn.Module):
    def __init__(self, n_features: int):
        super().__init__()
        self.mean = torch.nn.Parameter(torch.empty(n_features))
        self.tril = torch.nn.Parameter(torch.empty(n_features, n_features))

    def reset_parameters(self, generator=None):
        torch.nn.init.normal_(self.mean, std=0.1, generator=generator)
        torch.nn.init.normal_(self.tril, std=0.01, generator=generator)

    def scale(self):
        lower = torch.tril(self.tril, -1)
        return lower + torch.diag(torch.exp(torch.diagonal(self.tril)))

    def log_prob(self, x):
        scale = self.scale()
        z = torch.linalg.solve_triangular(scale, (x - self.mean).T, upper=False).T
        n = x.shape[1]
        return (-0.5 * z.square().sum(1) - torch.diagonal(self.tril).sum()
                - 0.5 * n * math.log(2 * math.pi))


class GaussianDensity(DensityMixin, TorchEstimator):
    """Maximum-likelihood multivariate Gaussian (test estimator)."""

    _parameter_constraints = COMMON_CONSTRAINTS
    _key_metric = "nll"

    def __init__(self, *, max_iter=100, batch_size=64,
                 optimizer=Adam(0.05, lr_schedule="constant", n_iter_no_change=10),
                 warm_start=False, device="auto", dtype="float32", random_state=None,
                 verbose=0):
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.warm_start = warm_start
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def _build_module(self):
        return _GaussianModule(self.n_features_in_)

    def _loss(self, data):
        def loss_fn(step):
            idx = torch.randperm(len(data), generator=self._generator, device=data.device)
            loss = -self.module_.log_prob(data[idx[: self.batch_size]]).mean()
            return loss, {"nll": float(loss.detach())}

        return loss_fn

    def _fit_module(self, X):
        self._train(self._loss(self._to_tensor(X)))

    def score_samples(self, X):
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        with torch.no_grad():
            return self.module_.log_prob(self._to_tensor(X)).cpu().numpy().astype(np.float64)

    def score(self, X, y=None):
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples=1):
        self._check_fitted()
        with torch.no_grad():
            z = torch.randn(n_samples, self.n_features_in_, generator=self._generator,
                            device=self._device, dtype=self._dtype)
            return (z @ self.module_.scale().T + self.module_.mean).cpu().numpy()
