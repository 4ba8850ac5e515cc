"""Affine coupling layers with checkerboard masks (Albergo, Kanwar, Shanahan 2019)."""

from __future__ import annotations

import torch
from torch import nn

from ..lattice._theory import checkerboard
from ._bijector import Bijector

__all__ = ["checkerboard_mask", "AffineCoupling"]


def checkerboard_mask(shape: tuple[int, ...], parity: int) -> torch.Tensor:
    """Float mask of ``shape``: 1 on sites whose coordinate sum has the given parity."""
    odd = checkerboard(shape).view(shape)
    return (odd if parity else ~odd).to(torch.get_default_dtype())


class AffineCoupling(Bijector):
    r"""Affine coupling on a checkerboard: the active sites are scaled and shifted.

    .. math::

        x_a = e^{s(z_f)} \odot z_a + t(z_f), \qquad x_f = z_f,

    where ``f`` are the frozen sites (``mask == 1``) and ``s, t`` come from a network applied
    to the frozen field. With ``z2_equivariant=True`` the network output is symmetrized so
    that ``s`` is even and ``t`` odd in the field, making the layer commute with
    :math:`\phi \to -\phi`.

    Parameters
    ----------
    mask : Tensor of shape ``shape``
        1 on frozen sites, 0 on active ones.
    net : nn.Module
        Maps ``(batch, C, *shape)`` to ``(batch, 2 C, *shape)``: ``s`` then ``t`` channels.
    z2_equivariant : bool
        Symmetrize ``s`` (even) and ``t`` (odd).
    """

    def __init__(self, mask: torch.Tensor, net: nn.Module, z2_equivariant: bool = False):
        super().__init__()
        self.register_buffer("mask", mask)
        self.net = net
        self.z2_equivariant = z2_equivariant

    def _scale_shift(self, frozen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        channels = frozen.shape[1]
        if self.z2_equivariant:
            both = self.net(torch.cat([frozen, -frozen]))
            plus, minus = both.chunk(2)
            s = 0.5 * (plus[:, :channels] + minus[:, :channels])
            t = 0.5 * (plus[:, channels:] - minus[:, channels:])
        else:
            out = self.net(frozen)
            s, t = out[:, :channels], out[:, channels:]
        active = 1 - self.mask
        return s * active, t * active

    def forward(self, z):
        s, t = self._scale_shift(z * self.mask)
        x = z * torch.exp(s) + t
        return x, s.flatten(1).sum(1)

    def inverse(self, x):
        s, t = self._scale_shift(x * self.mask)
        z = (x - t) * torch.exp(-s)
        return z, -s.flatten(1).sum(1)
