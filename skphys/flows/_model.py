"""A normalizing-flow density on lattice fields: a standard-normal prior pushed through a bijector."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._bijector import Bijector, Composed
from ._continuous import ContinuousFlow, EquivariantVelocity
from ._convnet import CircularConvNet
from ._coupling import AffineCoupling, checkerboard_mask
from ._fourier import FourierGaussian

__all__ = ["LatticeFlow", "coupling_flow", "continuous_flow"]

_ACTIVATIONS = {"leaky_relu": nn.LeakyReLU, "tanh": nn.Tanh, "silu": nn.SiLU}
_ODD_ACTIVATIONS = ("tanh",)


class LatticeFlow(nn.Module):
    """Flow density ``q(x)``: ``z ~ N(0, 1)`` per component, ``x = f(z)``.

    Configurations are rows ``(batch, channels * n_sites)`` (all sites of channel 0, then
    channel 1, ...), reshaped to ``(batch, channels, *shape)`` for the bijector.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents.
    channels : int
        Real components per site.
    bijector : Bijector
        The map from latent to field.
    """

    def __init__(self, shape, channels: int, bijector: Bijector):
        super().__init__()
        self.shape = tuple(shape)
        self.channels = channels
        self.bijector = bijector
        self.n_features = channels * math.prod(self.shape)

    def _fields(self, rows: torch.Tensor) -> torch.Tensor:
        return rows.reshape(rows.shape[0], self.channels, *self.shape)

    def prior_log_prob(self, z_rows: torch.Tensor) -> torch.Tensor:
        """Log density of the standard-normal prior, per row."""
        return -0.5 * z_rows.square().sum(1) - 0.5 * self.n_features * math.log(2 * math.pi)

    def sample(self, n: int, *, generator=None, device=None, dtype=None):
        """Draw ``n`` rows and their log densities ``(x, log q(x))``."""
        z = torch.randn(n, self.n_features, generator=generator, device=device, dtype=dtype)
        x, log_det = self.bijector(self._fields(z))
        return x.reshape(n, -1), self.prior_log_prob(z) - log_det

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log q(x)`` of each row, through the inverse map."""
        z, log_det = self.bijector.inverse(self._fields(x))
        return self.prior_log_prob(z.reshape(x.shape[0], -1)) + log_det

    def to_latent(self, x: torch.Tensor) -> torch.Tensor:
        """``z = f^{-1}(x)`` as rows."""
        return self.bijector.inverse(self._fields(x))[0].reshape(x.shape[0], -1)

    def from_latent(self, z: torch.Tensor) -> torch.Tensor:
        """``x = f(z)`` as rows."""
        return self.bijector(self._fields(z))[0].reshape(z.shape[0], -1)


def coupling_flow(shape, channels: int, *, n_layers: int, hidden_channels, kernel_size: int,
                  activation: str, final_tanh: bool, z2_equivariant: bool,
                  fourier_layer: bool) -> LatticeFlow:
    """Affine-coupling flow with alternating checkerboard masks (and an optional Fourier layer).

    ``n_layers`` coupling layers alternate the parity of the frozen sublattice; each has its
    own periodic convolutional network mapping the frozen field to ``s`` and ``t``. With
    ``z2_equivariant`` the networks are odd (no biases, an odd ``activation``) and every layer
    commutes with ``phi -> -phi`` (see :class:`AffineCoupling`). With ``fourier_layer`` a
    :class:`FourierGaussian` acts first on the prior sample.
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    if z2_equivariant and activation not in _ODD_ACTIVATIONS:
        raise ValueError(
            f"z2_equivariant=True needs an odd activation, one of {_ODD_ACTIVATIONS}, "
            f"got {activation!r}"
        )
    out_channels = (3 if z2_equivariant else 2) * channels
    layers: list[Bijector] = [FourierGaussian(shape)] if fourier_layer else []
    for i in range(n_layers):
        net = CircularConvNet(len(shape), channels, out_channels, hidden_channels, kernel_size,
                              _ACTIVATIONS[activation], final_tanh=final_tanh,
                              bias=not z2_equivariant)
        layers.append(AffineCoupling(checkerboard_mask(shape, i % 2), net, z2_equivariant))
    return LatticeFlow(shape, channels, Composed(layers))


def continuous_flow(shape, channels: int, *, n_frequencies: int, n_time_kernels: int,
                    ode_method: str, ode_steps: int, adjoint: bool,
                    fourier_layer: bool) -> LatticeFlow:
    """Equivariant continuous flow, optionally preceded by a :class:`FourierGaussian` layer."""
    velocity = EquivariantVelocity(shape, channels, n_frequencies, n_time_kernels)
    layers: list[Bijector] = [FourierGaussian(shape)] if fourier_layer else []
    layers.append(ContinuousFlow(velocity, method=ode_method, n_steps=ode_steps, adjoint=adjoint))
    return LatticeFlow(shape, channels, Composed(layers))
