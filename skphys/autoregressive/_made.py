"""MADE: a masked dense network whose output at site ``i`` sees only the sites before ``i``."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["MaskedLinear", "MADENetwork"]


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 ``mask`` of shape (out, in).

    Examples
    --------
    >>> import torch
    >>> from skphys.autoregressive import MaskedLinear
    >>> layer = MaskedLinear(torch.ones(3, 3).tril(-1))  # output i sees the inputs j < i only
    >>> jacobian = torch.autograd.functional.jacobian(layer, torch.zeros(3))
    >>> (jacobian != 0).int().tolist()
    [[0, 0, 0], [1, 0, 0], [1, 1, 0]]
    """

    mask: torch.Tensor  # buffer, shape (out_features, in_features)

    def __init__(self, mask: torch.Tensor):
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADENetwork(nn.Module):
    r"""Masked autoencoder for distribution estimation (Germain et al. 2015) on lattice sites.

    Every unit carries the index of a site (its *degree*): inputs and outputs that of their
    site, and the ``hidden_channels`` hidden units of site ``d`` see the inputs of sites
    ``<= d``; the outputs of site ``i`` see the hidden units of sites ``< i``. The output at
    site ``i`` therefore depends on the inputs at sites ``0 .. i-1`` only, in the row-major
    site order, and that of site 0 is a learned constant.

    Parameters
    ----------
    n_sites : int
        Number of sites (>= 2).
    in_channels, out_channels : int
        Input features per site and output parameters per site.
    hidden_channels : int, default=16
        Hidden units per site (``hidden_channels * n_sites`` per hidden layer).
    n_layers : int, default=2
        Hidden layers (>= 1).
    residual : bool, default=True
        Add each hidden layer after the first to its input (the masks of equal degrees keep
        the autoregressive property).

    Examples
    --------
    >>> import torch
    >>> from skphys.autoregressive import MADENetwork
    >>> net = MADENetwork(4, in_channels=1, out_channels=2)
    >>> net(torch.randn(3, 1, 4)).shape
    torch.Size([3, 2, 4])
    """

    def __init__(self, n_sites: int, in_channels: int, out_channels: int, *,
                 hidden_channels: int = 16, n_layers: int = 2, residual: bool = True):
        super().__init__()
        sites = torch.arange(n_sites)
        d_in = sites.repeat(in_channels)  # feature (c, i) at position c * n_sites + i
        d_hidden = sites.repeat(hidden_channels)
        d_out = sites.repeat(out_channels)
        self.first = MaskedLinear(d_hidden[:, None] >= d_in[None, :])
        self.hidden = nn.ModuleList(
            MaskedLinear(d_hidden[:, None] >= d_hidden[None, :]) for _ in range(n_layers - 1)
        )
        self.last = MaskedLinear(d_out[:, None] > d_hidden[None, :])
        self.residual = residual
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, in_channels, n_sites)`` to ``(batch, out_channels, n_sites)``."""
        h = self.first(x.flatten(1))
        for layer in self.hidden:
            z = layer(F.silu(h))
            h = h + z if self.residual else z
        return self.last(F.silu(h)).view(x.shape[0], self.out_channels, -1)

    def forward_site(self, x: torch.Tensor, site: int) -> torch.Tensor:
        """The output at one site, ``forward(x)[:, :, site]``, of shape (batch, out_channels)."""
        return self(x)[:, :, site]
