"""The continuous (Hubbard-Stratonovich) dual of the Ising model used by NeuralRG."""

from __future__ import annotations

import math
from typing import cast

import torch

from .._constraints import check_real
from ._theory import LatticeTheory, momenta_cos_sum

__all__ = ["IsingDual"]


class IsingDual(LatticeTheory):
    r"""Continuous dual of the Ising model (Li & Wang, arXiv:1802.02840).

    .. math::

        \pi(x) \propto \exp\!\big(-\tfrac12 x^T (K + \alpha I)^{-1} x\big)\prod_i \cosh x_i,
        \qquad K = A / T,

    with :math:`A` the periodic adjacency matrix and :math:`\alpha` chosen so that the smallest
    eigenvalue of :math:`K + \alpha I` is ``0.1`` (:math:`\alpha = 0.1 + 2d/T` for even
    extents). The action is :math:`S(x) = \tfrac12 x^T(K+\alpha I)^{-1}x - \sum_i\ln\cosh x_i`;
    :math:`(K+\alpha I)^{-1}` is applied in Fourier space. Ising spins given :math:`x` are
    independent with :math:`P(s_i = \pm1 | x) = (1 + e^{\mp 2x_i})^{-1}`, and
    :math:`\langle s_i s_j\rangle = E_\pi[\tanh x_i \tanh x_j]` for :math:`i \ne j`.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents, periodic boundaries.
    temperature : float
        Temperature of the Ising model, > 0.

    Examples
    --------
    >>> from skphys.lattice import IsingDual
    >>> round(IsingDual((4, 4), temperature=2.0).alpha, 6)
    2.1
    """

    internal_symmetries = ("z2",)

    def __init__(self, shape, temperature: float):
        super().__init__(shape)
        self.temperature = check_real("temperature", temperature, low=0.0, low_inclusive=False)
        self._kernel_cache: dict = {}

    def __getstate__(self):
        # the cached kernels live on whatever device the theory was last used on: never pickle
        # (or copy) them, so a theory used on a GPU unpickles on a machine without one
        return {**self.__dict__, "_kernel_cache": {}}

    @property
    def alpha(self) -> float:
        """Diagonal shift making the smallest eigenvalue of ``K + alpha I`` equal to 0.1."""
        return 0.1 - momenta_cos_sum(self.shape).min().item() / self.temperature

    def coupling_eigenvalues(self) -> torch.Tensor:
        """Eigenvalues of :math:`K + \\alpha I` on the momentum grid (float64, ``shape``)."""
        return momenta_cos_sum(self.shape) / self.temperature + self.alpha

    def _inverse_kernel(self, like: torch.Tensor) -> torch.Tensor:
        key = (like.device, like.dtype)
        if key not in self._kernel_cache:
            eig = momenta_cos_sum(self.shape, half=True) / self.temperature + self.alpha
            self._kernel_cache[key] = (1.0 / eig).to(device=like.device, dtype=like.dtype)
        return self._kernel_cache[key]

    def apply_inverse_coupling(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`(K+\\alpha I)^{-1} x` for each row, by FFT."""
        phi = self._field(x)[:, 0]
        dims = tuple(range(1, phi.dim()))
        k = torch.fft.rfftn(phi, dim=dims) * self._inverse_kernel(phi)
        return torch.fft.irfftn(k, s=self.shape, dim=dims).flatten(1)

    def action(self, x):
        quad = 0.5 * (x * self.apply_inverse_coupling(x)).sum(1)
        log_cosh = torch.logaddexp(x, -x) - math.log(2.0)
        return quad - log_cosh.sum(1)

    def grad_action(self, x):
        return self.apply_inverse_coupling(x) - torch.tanh(x)

    # -- Ising observables from the dual field ----------------------------------------------
    def spin_probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`P(s_i = +1 | x) = (1 + e^{-2x_i})^{-1}` for each site."""
        return torch.sigmoid(2 * x)

    def sample_spins(self, x: torch.Tensor, *, generator=None) -> torch.Tensor:
        """Draw Ising spins given the dual field (one spin configuration per row)."""
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return torch.where(u < self.spin_probabilities(x), 1.0, -1.0).to(x.dtype)

    def sample_field(self, spins: torch.Tensor, *, generator=None) -> torch.Tensor:
        r"""Draw the dual field given Ising spins: :math:`x \mid s \sim N(Cs, C)`,
        :math:`C = K + \alpha I`.

        The joint law :math:`\exp(-\tfrac12 x^T C^{-1} x + s^T x)` has the Ising model as its
        spin marginal and :math:`\pi` as its field marginal, so fields drawn from equilibrium
        Ising configurations (e.g. :func:`skphys.datasets.make_ising`) are exact, independent
        samples of :math:`\pi` whenever the spins are. Both products with :math:`C` and
        :math:`C^{1/2}` are taken in Fourier space.

        Parameters
        ----------
        spins : Tensor of shape (batch, n_sites)
            Spins +1 / -1.
        generator : torch.Generator, optional
            Source of the Gaussian noise.

        Returns
        -------
        Tensor of shape (batch, n_sites), the dtype and device of ``spins``

        Examples
        --------
        >>> import torch
        >>> from skphys.lattice import IsingDual
        >>> theory = IsingDual((4, 4), temperature=2.5)
        >>> x = theory.sample_field(torch.ones(3, 16), generator=torch.Generator().manual_seed(0))
        >>> x.shape
        torch.Size([3, 16])
        """
        s = self._field(spins)[:, 0]
        if not torch.all(s.abs() == 1):
            raise ValueError("spins must hold +1 / -1")
        dims = tuple(range(1, s.dim()))
        eig = self.coupling_eigenvalues().to(device=s.device)
        noise = torch.randn(s.shape, generator=generator, device=s.device, dtype=s.dtype)
        k = torch.fft.fftn(s, dim=dims) * eig + torch.fft.fftn(noise, dim=dims) * eig.sqrt()
        return torch.fft.ifftn(k, dim=dims).real.to(s.dtype).flatten(1)

    def ising_energy(self, x: torch.Tensor) -> torch.Tensor:
        """Improved estimator of the Ising energy, :math:`-\\sum_{<ij>}\\tanh x_i\\tanh x_j`."""
        tx = torch.tanh(self._field(x)[:, 0])
        dims = range(1, tx.dim())
        bonds = sum((tx * torch.roll(tx, -1, d)).flatten(1).sum(1) for d in dims)
        return -cast(torch.Tensor, bonds)  # at least one lattice axis

    def ising_magnetization_sq(self, x: torch.Tensor) -> torch.Tensor:
        """Improved estimator of :math:`m^2 = (\\sum_i s_i / N)^2` of the Ising spins."""
        tx = torch.tanh(x)
        n = self.n_sites
        return (n + tx.sum(1).square() - tx.square().sum(1)) / n**2
