"""Real scalar field theories: phi^4 in the Albergo convention and the free Gaussian field."""

from __future__ import annotations

import math

from .._constraints import check_real
from ._theory import LatticeTheory, all_neighbor_sum, forward_neighbor_sum

__all__ = ["Phi4", "FreeScalar"]


class Phi4(LatticeTheory):
    r"""Real scalar :math:`\phi^4` theory in the convention of Albergo, Kanwar and Shanahan.

    .. math::

        S[\phi] = \sum_x \Big[ -2 \sum_\mu \phi_x \phi_{x+\hat\mu}
                  + (2d + m^2)\,\phi_x^2 + \lambda\,\phi_x^4 \Big]

    (no factor 1/2 anywhere; in two dimensions ``m2 = -4`` cancels the on-site quadratic term).

    Parameters
    ----------
    shape : tuple of int
        Lattice extents, periodic boundaries.
    m2 : float
        Bare mass squared :math:`m^2` (may be negative).
    lam : float
        Quartic coupling :math:`\lambda \ge 0`; ``lam = 0`` needs ``m2 > 0``.

    See Also
    --------
    Phi4.from_hopping, Phi4.to_hopping : the hopping-parameter form.

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice import Phi4
    >>> theory = Phi4((8, 8), m2=-4.0, lam=8.0)
    >>> theory.action(torch.zeros(3, 64)).tolist()
    [0.0, 0.0, 0.0]
    """

    internal_symmetries = ("z2",)

    def __init__(self, shape, m2: float, lam: float):
        super().__init__(shape)
        self.m2 = check_real("m2", m2)
        self.lam = check_real("lam", lam, low=0.0)
        if self.lam == 0.0 and self.m2 <= 0.0:
            raise ValueError(f"m2 must be > 0 when lam == 0 (unbounded action), got m2={m2!r}")

    @property
    def _mass_term(self) -> float:
        return 2 * self.ndim + self.m2

    def action(self, x):
        phi = self._field(x)[:, 0]
        hop = (phi * forward_neighbor_sum(phi, self.ndim)).flatten(1).sum(1)
        phi2 = phi.square().flatten(1)
        return -2 * hop + (self._mass_term * phi2 + self.lam * phi2.square()).sum(1)

    def grad_action(self, x):
        phi = self._field(x)[:, 0]
        g = -2 * all_neighbor_sum(phi, self.ndim) + 2 * self._mass_term * phi
        g = g + 4 * self.lam * phi**3
        return g.flatten(1)

    def local_action(self, x):
        phi = self._field(x)[:, 0]
        phi2 = phi.square()
        loc = -2 * phi * all_neighbor_sum(phi, self.ndim) + self._mass_term * phi2
        return (loc + self.lam * phi2.square()).flatten(1)

    # -- hopping form ---------------------------------------------------------------------
    def to_hopping(self) -> tuple[float, float, float]:
        r"""Parameters of the hopping form :math:`(\kappa, \lambda_h, c)`.

        :math:`S = \sum_x[-2\kappa\sum_\mu\psi_x\psi_{x+\mu} + (1-2\lambda_h)\psi_x^2
        + \lambda_h\psi_x^4]` with :math:`\phi = c\,\psi`, :math:`\kappa = c^2`,
        :math:`\lambda_h = \lambda\kappa^2`. Susceptibilities of :math:`\phi` are those of
        :math:`\psi` times :math:`c^2`.

        Examples
        --------
        >>> kappa, lam_h, c = Phi4((8, 8), m2=-4.0, lam=8.0).to_hopping()
        >>> round(kappa, 6), lam_h
        (0.25, 0.5)
        """
        b = self._mass_term
        if self.lam == 0.0:
            kappa = 1.0 / b
        else:
            kappa = (-b + math.sqrt(b * b + 8 * self.lam)) / (4 * self.lam)
        return kappa, self.lam * kappa**2, math.sqrt(kappa)

    @classmethod
    def from_hopping(cls, shape, kappa: float, lam_h: float) -> Phi4:
        r"""Build the theory from hopping parameters :math:`(\kappa, \lambda_h)`.

        Inverse of :meth:`to_hopping`: :math:`\lambda = \lambda_h/\kappa^2` and
        :math:`m^2 = (1 - 2\lambda_h)/\kappa - 2d`.

        Examples
        --------
        >>> Phi4.from_hopping((8, 8), kappa=0.25, lam_h=0.5)
        Phi4(shape=(8, 8), m2=-4.0, lam=8.0)
        """
        kappa = check_real("kappa", kappa, low=0.0, low_inclusive=False)
        lam_h = check_real("lam_h", lam_h, low=0.0)
        ndim = len(shape) if not isinstance(shape, int) else 1
        return cls(shape, m2=(1 - 2 * lam_h) / kappa - 2 * ndim, lam=lam_h / kappa**2)


class FreeScalar(LatticeTheory):
    r"""Free (Gaussian) real scalar field.

    .. math::

        S[\phi] = \sum_x \Big[ \tfrac12 \sum_\mu (\phi_{x+\hat\mu} - \phi_x)^2
                  + \tfrac12 m^2 \phi_x^2 \Big]

    Note the factors 1/2 (the Gaussian convention, unlike :class:`Phi4`). Its partition
    function and propagator are exact: :func:`skphys.lattice.exact.free_scalar_log_z`.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents, periodic boundaries.
    m2 : float
        Mass squared, > 0.

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice import FreeScalar
    >>> FreeScalar((4, 4), m2=1.0).action(torch.ones(1, 16)).item()
    8.0
    """

    internal_symmetries = ("z2",)

    def __init__(self, shape, m2: float):
        super().__init__(shape)
        self.m2 = check_real("m2", m2, low=0.0, low_inclusive=False)

    def action(self, x):
        phi = self._field(x)[:, 0]
        hop = (phi * forward_neighbor_sum(phi, self.ndim)).flatten(1).sum(1)
        return -hop + (self.ndim + 0.5 * self.m2) * phi.square().flatten(1).sum(1)

    def grad_action(self, x):
        phi = self._field(x)[:, 0]
        return (-all_neighbor_sum(phi, self.ndim) + (2 * self.ndim + self.m2) * phi).flatten(1)

    def local_action(self, x):
        phi = self._field(x)[:, 0]
        loc = -phi * all_neighbor_sum(phi, self.ndim) + (self.ndim + 0.5 * self.m2) * phi.square()
        return loc.flatten(1)
