"""PixelCNN: masked convolutions whose output at a site sees only the earlier sites."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["MaskedConv2d", "PixelCNNNetwork"]


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    """The bias of ``conv`` as a column (every convolution here has one)."""
    assert conv.bias is not None
    return conv.bias[:, None]


class MaskedConv2d(nn.Conv2d):
    """A ``(2h+1) x (2h+1)`` convolution that sees only the raster-earlier kernel positions.

    The kernel keeps the rows above the centre and, in the centre row, the columns left of
    the centre; with ``include_center`` (type B) also the centre itself, without it (type A)
    not. With ``one_row`` the kernel is the centre row alone, ``1 x (2h+1)``: on a lattice of
    one row (a 1-D chain) the other rows would only ever see the zero padding. Zero padding
    keeps the size: sites outside the lattice contribute nothing.

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
                 include_center: bool, one_row: bool = False):
        size = 2 * half_kernel + 1
        rows = 1 if one_row else size
        super().__init__(in_channels, out_channels, (rows, size),
                         padding=(rows // 2, half_kernel))
        mask = torch.ones(rows, size)
        mask[rows // 2 + 1:] = 0
        mask[rows // 2, half_kernel + int(include_center):] = 0
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
        one_row = self.grid[0] == 1
        self.first = MaskedConv2d(in_channels, hidden_channels, half, include_center=False,
                                  one_row=one_row)
        self.hidden = nn.ModuleList(
            MaskedConv2d(hidden_channels, hidden_channels, 1, include_center=True,
                         one_row=one_row)
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
        """The output at one site, ``(batch, out_channels)``, computed on the sites it needs.

        Equal to ``forward(x)[:, :, site]``. Each layer is evaluated only at the sites that
        the output at ``site`` depends on through the later layers (the site itself for the
        last, at most a few rows of a few columns for the first), each as one gather of its
        masked kernel's inputs and one matrix product. This is what makes sequential sampling
        cheap: a step costs a few sites of a full pass.
        """
        index, later = self._site_plan(site, x.device)
        batch, n_sites = x.shape[0], x.shape[2]
        # layout (positions, channels, batch), so that the gathers copy whole rows. The first
        # layer as a dense matrix from the sites to its positions: the kernel taps scattered
        # there, those off the lattice into a spare column that is dropped
        n_positions, n_taps = index.shape
        taps = self.first.weight[:, :, self.first.mask.bool()].permute(2, 0, 1)
        dense = taps.new_zeros(n_positions, n_sites + 1, *taps.shape[1:])
        rows = torch.arange(n_positions, device=x.device).repeat_interleave(n_taps)
        dense[rows, index.flatten()] = taps.repeat(n_positions, 1, 1)
        dense = dense[:, :n_sites].transpose(1, 2).reshape(n_positions, taps.shape[1], -1)
        h = dense @ x.permute(2, 1, 0).reshape(-1, batch) + _bias(self.first)
        for layer, (index, keep) in zip(self._hidden(), later):
            weight = layer.weight[:, :, layer.mask.bool()]  # (out, in, taps)
            weight = weight.transpose(1, 2).reshape(weight.shape[0], -1)  # taps major
            g = F.pad(F.silu(h), (0, 0, 0, 0, 0, 1))[index.flatten()]
            z = weight @ g.reshape(index.shape[0], -1, batch) + _bias(layer)
            h = h[keep] + z if self.residual else z
        out = self.last.weight[:, :, 0, 0] @ F.silu(h[0]) + _bias(self.last)
        return out.T

    def _hidden(self) -> list[MaskedConv2d]:
        return cast("list[MaskedConv2d]", list(self.hidden))

    def _site_plan(self, site: int, device: torch.device
                   ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Index tensors of :meth:`forward_site` at ``site`` (cached per site and device):
        for the first layer, the input site of each kernel tap at each position it is
        evaluated at (``n_sites``, the zero slot, off the lattice); for each later layer the
        same into the previous layer's positions, and where its own positions lie there."""
        cache: dict = self.__dict__.setdefault("_plans", {})
        key = (site, str(device))
        if key in cache:
            return cache[key]
        n_rows, n_cols = self.grid

        def taps(mask: torch.Tensor) -> list[tuple[int, int]]:
            half_rows, half_cols = mask.shape[0] // 2, mask.shape[1] // 2
            return [(i - half_rows, j - half_cols) for i, j in mask.nonzero().tolist()]

        def inside(r: int, c: int) -> bool:
            return 0 <= r < n_rows and 0 <= c < n_cols

        # the positions of each layer, from the last (the site) back to the first
        positions = [[divmod(site, n_cols)]]
        for layer in reversed(self._hidden()):
            needed = {(r + dr, c + dc) for r, c in positions[0] for dr, dc in taps(layer.mask)}
            positions.insert(0, sorted(p for p in needed if inside(*p)))
        first = [[r * n_cols + c if inside(r, c) else n_rows * n_cols
                  for r, c in ((r + dr, c + dc) for dr, dc in taps(self.first.mask))]
                 for r, c in positions[0]]
        later = []
        for layer, before, after in zip(self._hidden(), positions, positions[1:]):
            slot = {p: i for i, p in enumerate(before)}
            index = [[slot.get((r + dr, c + dc), len(before)) for dr, dc in taps(layer.mask)]
                     for r, c in after]
            later.append((torch.tensor(index, device=device),
                          torch.tensor([slot[p] for p in after], device=device)))
        cache[key] = torch.tensor(first, device=device), later
        return cache[key]
