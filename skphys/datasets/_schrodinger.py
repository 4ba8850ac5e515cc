"""Potentials and ground-state densities of the 1-D Schrödinger equation (conventions §7)."""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh_tridiagonal
from scipy.ndimage import gaussian_filter1d
from sklearn.utils import check_random_state

from .._constraints import check_int, check_real

__all__ = ["make_schrodinger_1d", "schrodinger_ground_state"]

#: potential families: (correlation length / box length, standard deviation of V for a box of
#: length 10; it scales as 1 / length^2 so that families look alike at any box size)
_KINDS = {
    "smooth": (0.08, 0.3),
    "deep": (0.08, 3.0),
    "rough": (0.015, 0.5),
}


def schrodinger_ground_state(V, spacing: float):
    r"""Ground state of :math:`-\psi'' + V\psi = E\psi` on a grid with hard walls.

    Units :math:`\hbar^2/2m = 1`; the wave function vanishes just outside the grid. The
    Hamiltonian is the tridiagonal matrix :math:`2/a^2 + V_i` on the diagonal and
    :math:`-1/a^2` beside it, diagonalized in float64 with
    :func:`scipy.linalg.eigh_tridiagonal` (lowest eigenpair only).

    Parameters
    ----------
    V : array_like of shape (n_sites,) or (n_samples, n_sites)
        Potential values on the grid.
    spacing : float
        Grid spacing :math:`a`.

    Returns
    -------
    energy : float or ndarray of shape (n_samples,)
        Ground-state energy :math:`E_0`.
    density : ndarray of the shape of ``V``
        :math:`\rho = |\psi_0|^2` normalized so that :math:`\sum_i \rho_i a = 1`.

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.datasets import schrodinger_ground_state
    >>> x = np.linspace(-6, 6, 601)
    >>> energy, rho = schrodinger_ground_state(x**2, spacing=x[1] - x[0])  # omega = 1
    >>> round(energy, 3)
    1.0
    """
    V = np.asarray(V, dtype=np.float64)
    spacing = check_real("spacing", spacing, 0.0, low_inclusive=False)
    if V.ndim not in (1, 2) or V.shape[-1] < 3:
        raise ValueError(f"V must have shape (n_sites,) or (n_samples, n_sites) with n_sites "
                         f">= 3, got {V.shape}")
    if not np.all(np.isfinite(V)):
        raise ValueError("V must contain only finite values")
    rows = np.atleast_2d(V)
    off = np.full(rows.shape[1] - 1, -1.0 / spacing**2)
    energies = np.empty(len(rows))
    densities = np.empty_like(rows)
    for i, v in enumerate(rows):
        w, psi = eigh_tridiagonal(2.0 / spacing**2 + v, off, select="i", select_range=(0, 0))
        energies[i] = w[0]
        rho = psi[:, 0] ** 2
        densities[i] = rho / (rho.sum() * spacing)
    if V.ndim == 1:
        return float(energies[0]), densities[0]
    return energies, densities


def make_schrodinger_1d(n_samples: int = 4000, n_sites: int = 100, kind: str = "smooth",
                        spacing: float = 0.1, random_state=None):
    r"""Random 1-D potentials and their ground-state densities.

    Each potential is a Gaussian random field: white noise smoothed with a Gaussian kernel,
    scaled to unit standard deviation and multiplied by the family's depth. With the box length
    :math:`\ell = n_\text{sites}\, a` and units :math:`\hbar^2/2m = 1`, the standard deviation
    of :math:`V` is :math:`s\,(10/\ell)^2`:

    - ``"smooth"``: correlation length :math:`0.08\,\ell`, :math:`s = 0.3` (shallow: the
      density spreads over most of the box);
    - ``"deep"``: the same correlations, :math:`s = 3` (the density sits in one or two wells,
      with classically forbidden regions around them);
    - ``"rough"``: correlation length :math:`0.015\,\ell` (about one and a half grid spacings
      at the defaults), :math:`s = 0.5`.

    Hard walls: :math:`\psi = 0` outside the grid. The potentials are returned in the gauge
    :math:`\tilde V = V - E_0`, in which the discrete law reads :math:`\psi'' = \tilde V\psi`
    (conventions §7).

    Parameters
    ----------
    n_samples : int, default=4000
        Number of potentials.
    n_sites : int, default=100
        Grid points.
    kind : {"smooth", "deep", "rough"}, default="smooth"
        Potential family.
    spacing : float, default=0.1
        Grid spacing :math:`a`.
    random_state : int, RandomState instance or None
        Randomness of the potentials.

    Returns
    -------
    V : ndarray of shape (n_samples, n_sites)
        Shifted potentials :math:`V - E_0`.
    rho : ndarray of shape (n_samples, n_sites)
        Ground-state densities, :math:`\sum_i \rho_i a = 1`.

    Examples
    --------
    >>> from skphys.datasets import make_schrodinger_1d
    >>> V, rho = make_schrodinger_1d(n_samples=3, n_sites=50, random_state=0)
    >>> V.shape, rho.shape, bool(abs(rho.sum(1) * 0.1 - 1).max() < 1e-12)
    ((3, 50), (3, 50), True)
    """
    check_int("n_samples", n_samples, 1)
    check_int("n_sites", n_sites, 3)
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    spacing = check_real("spacing", spacing, 0.0, low_inclusive=False)
    rng = check_random_state(random_state)
    length = n_sites * spacing
    correlation, depth = _KINDS[kind]
    sigma = max(correlation * n_sites, 0.5)  # in grid points
    noise = gaussian_filter1d(rng.standard_normal((n_samples, n_sites)), sigma, axis=1,
                              mode="reflect")
    noise /= noise.std(axis=1, keepdims=True)
    V = depth * (10.0 / length) ** 2 * noise
    energy, rho = schrodinger_ground_state(V, spacing)
    return V - energy[:, None], rho
