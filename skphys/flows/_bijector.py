"""Bijections with tractable Jacobians: the interface every flow layer implements."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Bijector", "Composed"]


class Bijector(nn.Module):
    """An invertible map ``x = f(z)`` of lattice fields ``(batch, channels, *shape)``.

    :meth:`forward` returns ``(x, log|det df/dz|)`` and :meth:`inverse` returns
    ``(z, log|det df^{-1}/dx|)``, each log-determinant of shape ``(batch,)``.
    """

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class Composed(Bijector):
    """Composition of bijectors; the first one in the list acts first on ``z``."""

    def __init__(self, bijectors):
        super().__init__()
        self.bijectors = nn.ModuleList(bijectors)

    def forward(self, z):
        log_det = z.new_zeros(z.shape[0])
        for bijector in self.bijectors:
            z, ld = bijector(z)
            log_det = log_det + ld
        return z, log_det

    def inverse(self, x):
        log_det = x.new_zeros(x.shape[0])
        for bijector in reversed(self.bijectors):
            x, ld = bijector.inverse(x)
            log_det = log_det + ld
        return x, log_det
