"""Bijections with tractable Jacobians: the interface every flow layer implements."""

from __future__ import annotations

from typing import cast

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

    def transfer_from(self, source: Bijector) -> None:
        """Set this bijector's parameters from ``source``, the same kind of bijector fitted on
        a lattice with the same dimension and no larger extents, re-expressed for this one
        (see :meth:`skphys.flows.LatticeFlow.transfer_from`).

        A bijector whose parameters do not depend on the lattice size copies them; one that
        cannot be re-expressed (this default) raises ValueError.
        """
        raise ValueError(f"{type(self).__name__} holds lattice-size-dependent state that is "
                         f"not re-expressed on another lattice")

    def _check_source(self, source: Bijector) -> None:
        """ValueError unless ``source`` is a bijector of this one's class."""
        if type(source) is not type(self):
            raise ValueError(f"cannot transfer a {type(source).__name__} into a "
                             f"{type(self).__name__}: the architectures differ")


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

    def transfer_from(self, source: Bijector) -> None:
        """Transfer every layer from the matching layer of ``source`` (same layers, same
        order)."""
        self._check_source(source)
        assert isinstance(source, Composed)
        if len(source.bijectors) != len(self.bijectors):
            raise ValueError(f"cannot transfer {len(source.bijectors)} layers into "
                             f"{len(self.bijectors)}: the architectures differ")
        for mine, theirs in zip(self.bijectors, source.bijectors):
            cast(Bijector, mine).transfer_from(cast(Bijector, theirs))
