"""PixelCNN: masked convolutions whose output at a site sees only the earlier sites."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["MaskedConv2d", "PixelCNNNetwork"]


class MaskedConv2d(nn.Conv2d):
    """A ``(2h+1) x (2h+1)`` convolution that sees only the raster-earlier kernel positions.

    The kernel keeps the rows above the centre and, in the centre row, the columns left of
    the centre; with ``include_center`` (type B) also the centre itself, without it (type A)
    not. Zero padding keeps the size: sites outside the lattice contribute nothing.

    Examples
    --------
    >>> import torch
    >>> from skphys.autoregressive import MaskedConv2d
    >>> conv = MaskedConv2d(1, 2, 1, include_center=False)  # type A, 3 x 3
    >>> conv.mask.int().tolist()
    [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    >>> x, y = torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4)
    >>> y[0, 0, 2, 1] = 1.0  # the sites whose output changes all come later in raster order
    >>> (conv(y) != conv(x))[0].any(0).int().tolist()
    [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [1, 1, 1, 0]]
    """

    mask: torch.Tensor  # buffer (kernel, kernel) of 0/1

    def __init__(self, in_channels: int, out_channels: int, half_kernel: int, *,
                 include_center: bool):
        size = 2 * half_kernel + 1
        super().__init__(in_channels, out_channels, size, padding=half_kernel)
        mask = torch.ones(size, size)
        mask[half_kernel + 1:] = 0
        mask[half_kernel, half_kernel + int(include_center):] = 0
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class PixelCNNNetwork(nn.Module):
    r"""Masked convolutional network on a 1-D or 2-D lattice (van den Oord et al. 2016).

    The first layer is a type-A masked convolution of half-width ``half_kernel_size``; by
    default that is ``max(shape) - 1``, so it already covers *every* earlier site in raster
    order (the blind spot of stacked small masked kernels never arises). The next
    ``n_layers - 1`` layers are type-B ``3 x 3`` masked convolutions (residual blocks with
    ``residual``), and a ``1 x 1`` convolution gives the parameters of each site. A 1-D chain
    is a lattice of one row. The autoregressive order does not wrap around: the periodic
    boundary is a property of the target, not of the ordering, so the padding is zero.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents, one or two of them.
    in_channels, out_channels : int
        Input features and output parameters per site.
    hidden_channels : int, default=32
        Channels of the hidden layers.
    n_layers : int, default=3
        Masked convolutions (>= 1).
    half_kernel_size : int, optional
        Half-width of the first kernel; default ``max(shape) - 1``.
    residual : bool, default=True
        Residual connections around the type-B layers.

    Examples
    --------
    >>> import torch
    >>> from skphys.autoregressive import PixelCNNNetwork
    >>> net = PixelCNNNetwork((4, 4), in_channels=1, out_channels=1, hidden_channels=8)
    >>> net(torch.randn(2, 1, 16)).shape
    torch.Size([2, 1, 16])
    """

    def __init__(self, shape: tuple[int, ...], in_channels: int, out_channels: int, *,
                 hidden_channels: int = 32, n_layers: int = 3,
                 half_kernel_size: int | None = None, residual: bool = True):
        super().__init__()
        if len(shape) not in (1, 2):
            raise ValueError(f"PixelCNNNetwork needs a 1-D or 2-D lattice, got shape {shape}; "
                             "use MADENetwork")
        self.grid = (1, *shape) if len(shape) == 1 else tuple(shape)
        half = max(self.grid) - 1 if half_kernel_size is None else half_kernel_size
        self.first = MaskedConv2d(in_channels, hidden_channels, half, include_center=False)
        self.hidden = nn.ModuleList(
            MaskedConv2d(hidden_channels, hidden_channels, 1, include_center=True)
            for _ in range(n_layers - 1)
        )
        self.last = nn.Conv2d(hidden_channels, out_channels, 1)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, in_channels, n_sites)`` to ``(batch, out_channels, n_sites)``."""
        h = self.first(x.view(x.shape[0], x.shape[1], *self.grid))
        for layer in self.hidden:
            z = layer(F.silu(h))
            h = h + z if self.residual else z
        return self.last(F.silu(h)).flatten(2)

    def forward_site(self, x: torch.Tensor, site: int) -> torch.Tensor:
        """The output at one site, ``(batch, out_channels)``, computed on a small window.

        Equal to ``forward(x)[:, :, site]``. Each ``3 x 3`` layer reaches one row up and one
        column to each side, so the first layer is evaluated only on the ``n_layers`` rows
        ending at the site's row and the ``2 n_layers - 1`` columns around it (fewer at the
        edges, where the zero padding is the true one). This is what makes sequential
        sampling cheap: a step costs about ``n_layers (2 n_layers - 1)`` sites of a full pass.
        """
        row, col = divmod(site, self.grid[1])
        reach = len(self.hidden)
        top, left = max(0, row - reach), max(0, col - reach)
        right = min(self.grid[1] - 1, col + reach)
        padding = self.first.padding
        assert not isinstance(padding, str)  # MaskedConv2d pads by an int
        half = padding[0]
        h = F.pad(x.view(x.shape[0], x.shape[1], *self.grid), (half,) * 4)
        h = F.conv2d(h[:, :, top: row + 2 * half + 1, left: right + 2 * half + 1],
                     self.first.weight * self.first.mask, self.first.bias)
        for layer in self.hidden:
            z = layer(F.silu(h))
            h = h + z if self.residual else z
        return self.last(F.silu(h[:, :, -1:, col - left: col - left + 1]))[:, :, 0, 0]
