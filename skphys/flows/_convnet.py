"""Convolutional networks with periodic ("circular") padding, for any lattice dimension."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ._activation import Tanh

__all__ = ["CircularConvNet"]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


class CircularConvNet(nn.Sequential):
    """Stack of periodic convolutions with activations between them.

    Parameters
    ----------
    ndim : int
        Lattice dimension (1, 2 or 3).
    in_channels, out_channels : int
        Channels of the input and output fields.
    hidden_channels : sequence of int
        Channels of the hidden layers.
    kernel_size : int
        Odd kernel size; padding keeps the lattice shape.
    activation : type of nn.Module
        Activation class between layers (e.g. ``nn.LeakyReLU`` or :class:`~skphys.flows.Tanh`).
    final_tanh : bool
        Apply ``tanh`` to the output (the tutorial recipe does, bounding ``s``).
    bias : bool
        Whether the convolutions have biases (no bias + odd activation gives an odd network).

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import CircularConvNet
    >>> net = CircularConvNet(2, 1, 2, [8], kernel_size=3)
    >>> z = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> net(z).shape
    torch.Size([3, 2, 4, 4])
    >>> torch.allclose(net(z.roll(1, dims=-1)), net(z).roll(1, dims=-1), atol=1e-6)  # periodic
    True
    """

    def __init__(
        self,
        ndim: int,
        in_channels: int,
        out_channels: int,
        hidden_channels: Sequence[int],
        kernel_size: int = 3,
        activation: type[nn.Module] = nn.LeakyReLU,
        final_tanh: bool = False,
        bias: bool = True,
    ):
        if ndim not in _CONV:
            raise ValueError(f"convolutional flows support 1, 2 or 3 dimensions, got {ndim}")
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        conv = _CONV[ndim]
        sizes = [in_channels, *hidden_channels, out_channels]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(conv(c_in, c_out, kernel_size, padding=kernel_size // 2,
                               padding_mode="circular", bias=bias))
            if i < len(sizes) - 2:
                layers.append(activation())
        if final_tanh:
            layers.append(Tanh())
        super().__init__(*layers)
