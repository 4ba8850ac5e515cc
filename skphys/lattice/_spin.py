"""Spin models: the Ising model (spins +-1) and the XY model (angles in [0, 2 pi))."""

from __future__ import annotations

import math

import torch

from .._constraints import check_real
from ._theory import LatticeTheory, all_neighbor_sum, forward_neighbor_sum

__all__ = ["Ising", "XY"]


class Ising(LatticeTheory):
    r"""Ising model :math:`H = -J\sum_{\langle ij\rangle} s_i s_j` with :math:`J = k_B = 1`.

    The action is :math:`S = H / T`. Spins are stored as floats ``+1.0`` / ``-1.0``.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents, periodic boundaries.
    temperature : float
        Temperature :math:`T > 0` (critical point of the square lattice at
        :math:`T_c = 2/\ln(1+\sqrt2) \approx 2.269`).

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice import Ising
    >>> Ising((4, 4), temperature=2.0).energy(torch.ones(1, 16)).item()
    -32.0
    """

    field_type = "spin"
    internal_symmetries = ("z2",)

    def __init__(self, shape, temperature: float):
        super().__init__(shape)
        self.temperature = check_real("temperature", temperature, low=0.0, low_inclusive=False)

    def energy(self, x):
        s = self._field(x)[:, 0]
        return -(s * forward_neighbor_sum(s, self.ndim)).flatten(1).sum(1)

    def action(self, x):
        return self.energy(x) / self.temperature

    def grad_action(self, x):
        raise TypeError("the Ising action is defined on discrete spins and has no gradient")

    def local_action(self, x):
        s = self._field(x)[:, 0]
        return (-s * all_neighbor_sum(s, self.ndim) / self.temperature).flatten(1)

    def initial_state(self, n, *, generator=None, device=None, dtype=torch.float64):
        bits = torch.randint(0, 2, (n, self.n_features), generator=generator, device=device)
        return (2 * bits - 1).to(dtype)


class XY(LatticeTheory):
    r"""XY (plane rotator) model :math:`H = -J\sum_{\langle ij\rangle}\cos(\theta_i - \theta_j)`.

    Angles are stored in :math:`[0, 2\pi)`; the action is :math:`S = H / T` and is smooth, so
    HMC applies as well as Wolff cluster updates. BKT transition near :math:`T \approx 0.893`.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents, periodic boundaries.
    temperature : float
        Temperature, > 0.

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice import XY
    >>> XY((4, 4), temperature=1.0).energy(torch.zeros(1, 16)).item()
    -32.0
    """

    field_type = "angle"
    internal_symmetries = ("o2",)

    def __init__(self, shape, temperature: float):
        super().__init__(shape)
        self.temperature = check_real("temperature", temperature, low=0.0, low_inclusive=False)

    def _bond_cos(self, theta):
        dims = range(1, theta.dim())
        return sum(torch.cos(theta - torch.roll(theta, -1, d)) for d in dims)

    def energy(self, x):
        theta = self._field(x)[:, 0]
        return -self._bond_cos(theta).flatten(1).sum(1)

    def action(self, x):
        return self.energy(x) / self.temperature

    def grad_action(self, x):
        theta = self._field(x)[:, 0]
        dims = range(1, theta.dim())
        g = sum(
            torch.sin(theta - torch.roll(theta, -1, d)) + torch.sin(theta - torch.roll(theta, 1, d))
            for d in dims
        )
        return (g / self.temperature).flatten(1)

    def local_action(self, x):
        theta = self._field(x)[:, 0]
        dims = range(1, theta.dim())
        c = sum(
            torch.cos(theta - torch.roll(theta, -1, d)) + torch.cos(theta - torch.roll(theta, 1, d))
            for d in dims
        )
        return (-c / self.temperature).flatten(1)

    def initial_state(self, n, *, generator=None, device=None, dtype=torch.float64):
        u = torch.rand(n, self.n_features, generator=generator, device=device, dtype=dtype)
        return 2 * math.pi * u

    def canonicalize(self, x):
        return torch.remainder(x, 2 * math.pi)
