"""Bijections with tractable Jacobians: the interface every flow layer implements."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Bijector", "Composed"]


class Bijector(nn.Module):
    """An invertible map ``x = f(z)`` of lattice fields ``(batch, channels, *shape)``.

    :meth:`forward` returns ``(x, log|det df/dz|)`` and :meth:`inverse` returns
    ``(z, log|det df^{-1}/dx|)``, each log-determinant of shape ``(batch,)``.

    Examples
    --------
    >>> import math, torch
    >>> from skphys.flows import Bijector
    >>> class Double(Bijector):  # x = 2 z: log|det| = n_components * log 2
    ...     def forward(self, z):
    ...         return 2 * z, z.new_full(z.shape[:1], z[0].numel() * math.log(2))
    ...     def inverse(self, x):
    ...         return x / 2, x.new_full(x.shape[:1], -x[0].numel() * math.log(2))
    >>> z = torch.randn(3, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    >>> x, log_det = Double()(z)
    >>> torch.equal(Double().inverse(x)[0], z), log_det.shape, round(float(log_det[0]), 4)
    (True, torch.Size([3]), 2.7726)
    """

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def inverse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class Composed(Bijector):
    """Composition of bijectors; the first one in the list acts first on ``z``.

    The log-determinants of the layers add up, and :meth:`inverse` undoes them in reverse
    order.

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import AffineCoupling, CircularConvNet, Composed, checkerboard_mask
    >>> flow = Composed([AffineCoupling(checkerboard_mask((4, 4), parity),
    ...                                 CircularConvNet(2, 1, 2, [8])) for parity in (0, 1)])
    >>> z = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> x, log_det = flow(z)
    >>> z_back, log_det_inv = flow.inverse(x)
    >>> torch.allclose(z_back, z, atol=1e-6), torch.allclose(log_det, -log_det_inv), log_det.shape
    (True, True, torch.Size([3]))
    """

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
