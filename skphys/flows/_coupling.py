"""Affine coupling layers with checkerboard masks (Albergo, Kanwar, Shanahan 2019)."""

from __future__ import annotations

import torch
from torch import nn

from ..lattice._theory import checkerboard
from ._bijector import Bijector

__all__ = ["checkerboard_mask", "AffineCoupling"]


def checkerboard_mask(shape: tuple[int, ...], parity: int) -> torch.Tensor:
    """Checkerboard mask of a lattice, 1.0 on the sites whose coordinate sum has ``parity``.

    Returns a float tensor of the lattice ``shape``.

    Examples
    --------
    >>> from skphys.flows import checkerboard_mask
    >>> checkerboard_mask((3, 4), 1).int().tolist()
    [[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]]
    >>> bool((checkerboard_mask((3, 4), 0) + checkerboard_mask((3, 4), 1) == 1).all())
    True
    """
    odd = checkerboard(shape).view(shape)
    return (odd if parity else ~odd).to(torch.get_default_dtype())


class AffineCoupling(Bijector):
    r"""Affine coupling on a checkerboard: the active sites are scaled and shifted.

    .. math::

        x_a = e^{s(z_f)} \odot z_a + t(z_f), \qquad x_f = z_f,

    where ``f`` are the frozen sites (``mask == 1``) and ``s, t`` come from a network applied
    to the frozen field.

    With ``z2_equivariant=True`` the network must be odd, :math:`N(-z) = -N(z)` (e.g. a
    :class:`CircularConvNet` without biases and with an odd activation such as ``tanh``), and
    output three channel groups :math:`(a, b, t)`: then :math:`t` is odd and
    :math:`s = a \odot b + c` even in the field (:math:`c` a learnable constant, which an even
    function of odd features cannot provide), so the layer commutes exactly with
    :math:`\phi \to -\phi` at the cost of a single network evaluation.

    Parameters
    ----------
    mask : Tensor of shape ``shape``
        1 on frozen sites, 0 on active ones.
    net : nn.Module
        Maps ``(batch, C, *shape)`` to ``(batch, 2 C, *shape)`` (``s`` then ``t`` channels),
        or, with ``z2_equivariant``, to ``(batch, 3 C, *shape)`` (``a``, ``b``, ``t``).
    z2_equivariant : bool
        Use an odd ``net`` to make ``s`` even and ``t`` odd. The layer then starts as the
        identity (see :meth:`reset_parameters`).

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import AffineCoupling, CircularConvNet, checkerboard_mask
    >>> net = CircularConvNet(2, 1, 3, [4], activation=torch.nn.Tanh, bias=False)
    >>> layer = AffineCoupling(checkerboard_mask((4, 4), 0), net, z2_equivariant=True)
    >>> z = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> torch.equal(layer(z)[0], z)  # the identity until trained
    True
    >>> g = torch.Generator().manual_seed(1)
    >>> with torch.no_grad():  # any odd network: the layer commutes with phi -> -phi
    ...     for p in layer.parameters():
    ...         _ = p.normal_(0.0, 0.5, generator=g)
    >>> x, log_det = layer(z)
    >>> torch.allclose(layer(-z)[0], -x), torch.allclose(layer(-z)[1], log_det)
    (True, True)
    """

    mask: torch.Tensor  # buffer: 1 on the frozen sites
    log_scale: nn.Parameter | None  # the constant c of s = a b + c, with z2_equivariant

    def __init__(self, mask: torch.Tensor, net: nn.Module, z2_equivariant: bool = False):
        super().__init__()
        self.register_buffer("mask", mask)
        self.net = net
        self.z2_equivariant = z2_equivariant
        self.log_scale = nn.Parameter(torch.zeros(())) if z2_equivariant else None
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """With ``z2_equivariant``, zero the ``b`` and ``t`` outputs of the network's last layer.

        The layer then starts as the identity (``s = a b + c = 0``, ``t = 0``) without being
        stuck at a saddle point: ``b`` gets a gradient (``ds/db = a`` is not zero) and, once
        it moves, so does ``a``. Without symmetry the network keeps its own initialization.
        """
        if not self.z2_equivariant:
            return
        assert self.log_scale is not None  # created with z2_equivariant
        nn.init.zeros_(self.log_scale)
        linear = (nn.Linear, nn.modules.conv._ConvNd)
        last = [m for m in self.net.modules() if isinstance(m, linear)][-1]
        with torch.no_grad():
            for p in (last.weight, last.bias):
                if p is not None:
                    p[p.shape[0] // 3:].zero_()

    def _scale_shift(self, frozen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(frozen)
        if self.z2_equivariant:
            a, b, t = out.chunk(3, dim=1)
            s = a * b + self.log_scale
        else:
            s, t = out.chunk(2, dim=1)
        active = 1 - self.mask
        return s * active, t * active

    def forward(self, z):
        s, t = self._scale_shift(z * self.mask)
        x = z * torch.exp(s) + t
        return x, s.flatten(1).sum(1)

    def transfer_from(self, source: Bijector) -> None:
        """Copy the network and constant of ``source``: its convolutions are periodic and
        local, the same functions on any lattice; only the mask is this lattice's own."""
        self._check_source(source)
        assert isinstance(source, AffineCoupling)
        if source.z2_equivariant != self.z2_equivariant:
            raise ValueError("cannot transfer between an equivariant and a non-equivariant "
                             "coupling")
        try:
            self.net.load_state_dict(source.net.state_dict())
        except RuntimeError as error:  # other channels or kernel sizes
            raise ValueError(f"cannot transfer the coupling network: {error}") from None
        if self.log_scale is not None and source.log_scale is not None:
            with torch.no_grad():
                self.log_scale.copy_(source.log_scale)

    def inverse(self, x):
        s, t = self._scale_shift(x * self.mask)
        z = (x - t) * torch.exp(-s)
        return z, -s.flatten(1).sum(1)
