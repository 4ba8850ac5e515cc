"""Complex scalar phi^4 theory (two real components per site)."""

from __future__ import annotations

from .._constraints import check_real
from ._theory import LatticeTheory, all_neighbor_sum, forward_neighbor_sum

__all__ = ["ComplexPhi4"]


class ComplexPhi4(LatticeTheory):
    r"""Complex :math:`\phi^4` theory (Hu, Li, Wang, You, arXiv:1903.00804).

    .. math::

        S = -t \sum_{\langle ij\rangle} (\phi_i^*\phi_j + \mathrm{c.c.})
            + \sum_i \big(\mu |\phi_i|^2 + \lambda |\phi_i|^4\big)

    A configuration row holds the real parts of all sites, then the imaginary parts
    (``n_features = 2 * n_sites``). As :math:`\lambda\to\infty` at fixed :math:`|\phi|` it
    becomes the XY model; at :math:`\lambda = 0` it is Gaussian with
    :func:`skphys.lattice.exact.complex_free_log_z`.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents, periodic boundaries.
    t : float
        Hopping, >= 0.
    mu : float
        On-site mass term (may be negative when ``lam > 0``).
    lam : float
        Quartic coupling, >= 0; ``lam = 0`` needs ``mu > 2 d t``.

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice import ComplexPhi4
    >>> theory = ComplexPhi4((4, 4), t=1.0, mu=4.5, lam=0.0)
    >>> theory.n_features
    32
    """

    field_type = "complex"
    n_components = 2
    internal_symmetries = ("u1",)

    def __init__(self, shape, t: float, mu: float, lam: float):
        super().__init__(shape)
        self.t = check_real("t", t, low=0.0)
        self.mu = check_real("mu", mu)
        self.lam = check_real("lam", lam, low=0.0)
        if self.lam == 0.0 and self.mu <= 2 * self.ndim * self.t:
            raise ValueError(
                f"mu must be > 2 * d * t = {2 * self.ndim * self.t} when lam == 0 "
                f"(unbounded action), got mu={mu!r}"
            )

    def action(self, x):
        phi = self._field(x)
        hop = (phi * forward_neighbor_sum(phi, self.ndim)).flatten(1).sum(1)
        r2 = phi.square().sum(1).flatten(1)
        return -2 * self.t * hop + (self.mu * r2 + self.lam * r2.square()).sum(1)

    def grad_action(self, x):
        phi = self._field(x)
        r2 = phi.square().sum(1, keepdim=True)
        g = -2 * self.t * all_neighbor_sum(phi, self.ndim) + 2 * self.mu * phi
        return (g + 4 * self.lam * r2 * phi).flatten(1)

    def local_action(self, x):
        phi = self._field(x)
        r2 = phi.square().sum(1)
        hop = (phi * all_neighbor_sum(phi, self.ndim)).sum(1)
        return (-2 * self.t * hop + self.mu * r2 + self.lam * r2.square()).flatten(1)
