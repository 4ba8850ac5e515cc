"""A learnable Gaussian layer diagonal in momentum space (free-field correlations)."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from ._bijector import Bijector
from ._resize import check_larger, interpolate_momenta, orbit_sums

__all__ = ["FourierGaussian", "momentum_orbits"]


def momentum_orbits(shape: tuple[int, ...]) -> tuple[torch.Tensor, int]:
    """Label each lattice momentum by its orbit under the lattice symmetries.

    Momenta ``k`` and ``-k`` always share a label (so a function of the label is real in
    position space); reflections of each axis too, and permutations of axes when all extents
    are equal. Returns the integer labels of ``shape`` and the number of orbits.

    Examples
    --------
    >>> from skphys.flows import momentum_orbits
    >>> labels, n_orbits = momentum_orbits((5,))  # k and 5 - k share a label
    >>> labels.tolist(), n_orbits
    ([0, 1, 2, 2, 1], 3)
    >>> labels, n_orbits = momentum_orbits((3, 3))  # square lattice: axes may be swapped
    >>> labels.tolist(), n_orbits
    ([[0, 1, 1], [1, 2, 2], [1, 2, 2]], 3)
    """
    keys: dict[tuple[int, ...], int] = {}
    labels = torch.empty(shape, dtype=torch.long)
    for k in itertools.product(*(range(n) for n in shape)):
        folded = tuple(min(ki, n - ki) for ki, n in zip(k, shape))
        key = tuple(sorted(folded)) if len(set(shape)) == 1 else folded
        labels[k] = keys.setdefault(key, len(keys))
    return labels, len(keys)


class FourierGaussian(Bijector):
    r"""Linear map :math:`x = \mathcal F^{-1}[\sigma_k\, \mathcal F z]` with learnable
    :math:`\sigma_k > 0`, one per momentum orbit (see :func:`momentum_orbits`).

    Applied to white noise it produces any translation- and reflection-invariant Gaussian
    field, e.g. the free field with :math:`\sigma_k = (m^2 + \hat p^2)^{-1/2}`; as the first
    layer of a flow it captures the long-range correlations that local couplings learn
    slowly. :math:`\log|\det| = \sum_k \log\sigma_k` (per component). Initialized to the
    identity. :meth:`transfer_from` interpolates the scales of a layer fitted on a smaller
    lattice.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents.

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import FourierGaussian
    >>> layer = FourierGaussian((4, 4))
    >>> with torch.no_grad():  # leave the identity: sigma_k = exp(log_sigma) per orbit
    ...     _ = layer.log_sigma.copy_(torch.linspace(-1.0, 1.0, len(layer.log_sigma)))
    >>> z = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> x, log_det = layer(z)
    >>> torch.allclose(layer.inverse(x)[0], z, atol=1e-6), x.dtype, log_det.shape
    (True, torch.float32, torch.Size([2]))
    """

    labels: torch.Tensor  # buffer: the momentum orbit of each site

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        labels, n_orbits = momentum_orbits(tuple(shape))
        self.register_buffer("labels", labels)
        self.log_sigma = nn.Parameter(torch.zeros(n_orbits))
        self.shape = tuple(shape)

    def reset_parameters(self, generator=None):
        nn.init.zeros_(self.log_sigma)

    def transfer_from(self, source: Bijector) -> None:
        r"""Set :math:`\log\sigma_k` from a layer fitted on a smaller lattice, interpolated
        linearly in momentum along each axis (periodic in it), then
        averaged over each momentum orbit of this lattice.

        Interpolated rather than re-initialized: the layer carries the field's Gaussian
        correlations, whose spectrum at the momenta both lattices share is what the smaller
        lattice measured (exactly kept for an integer ratio of extents); the new, finer
        momenta in between get the smooth interpolant, and the lowest nonzero momentum, which
        is new, lies between the fitted values at zero and at the first shared momentum.
        """
        self._check_source(source)
        assert isinstance(source, FourierGaussian)
        check_larger(source.shape, self.shape)
        with torch.no_grad():
            grid = source.log_sigma.detach().to(torch.float64)[source.labels]
            values = interpolate_momenta(grid, self.shape)
            n_orbits = len(self.log_sigma)
            counts = orbit_sums(torch.ones(self.shape, dtype=torch.float64), self.labels,
                                n_orbits)
            means = orbit_sums(values, self.labels, n_orbits) / counts
            self.log_sigma.copy_(means.to(self.log_sigma.dtype))

    def _scale(self, field: torch.Tensor, sign: int) -> tuple[torch.Tensor, torch.Tensor]:
        log_sigma = self.log_sigma[self.labels]
        dims = tuple(range(2, field.dim()))
        k = torch.fft.fftn(field, dim=dims) * torch.exp(sign * log_sigma)
        out = torch.fft.ifftn(k, dim=dims).real
        log_det = sign * field.shape[1] * log_sigma.sum()
        return out, log_det.expand(field.shape[0])

    def forward(self, z):
        return self._scale(z, 1)

    def inverse(self, x):
        return self._scale(x, -1)
