"""Exact results for the lattice theories of :mod:`skphys.lattice`.

* the two-dimensional Ising model on a finite ``L x L`` torus (Kaufman 1949): ``ln Z``, the
  energy and the heat capacity per site, from exact derivatives of Kaufman's formula; and,
  for ``L <= 12``, ``<m^2>`` from the row-to-row transfer matrix;
* the infinite square-lattice Ising model (Onsager 1944, Yang 1952);
* the continuous (Hubbard-Stratonovich) dual of the Ising model, :class:`IsingDual`;
* the Gaussian fields :class:`FreeScalar` and :class:`ComplexPhi4` at ``lam = 0``: ``ln Z`` and
  the propagator, diagonal in momentum space;
* the 0+1D path integral :class:`PathIntegral`: ``ln Z`` of the harmonic oscillator in closed
  form, and ``ln Z`` and the correlator for any potential by the transfer matrix.

Everything is computed in float64 and returned as Python floats (or NumPy arrays where the
input is an array). Conventions: ``docs/conventions.rst``.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
import numpy.typing as npt
import torch
from scipy.integrate import quad
from scipy.special import ellipkm1

from .._constraints import check_int, check_real
from ._complex import ComplexPhi4
from ._ising_dual import IsingDual
from ._path_integral import PathIntegral
from ._scalar import FreeScalar
from ._theory import momenta_cos_sum

__all__ = [
    "T_C",
    "ising_log_z",
    "ising_energy",
    "ising_heat_capacity",
    "ising_magnetization_sq",
    "ising_dual_log_z",
    "free_scalar_log_z",
    "free_scalar_propagator",
    "complex_free_log_z",
    "complex_free_propagator",
    "onsager_log_z",
    "onsager_free_energy",
    "onsager_energy",
    "onsager_magnetization",
    "harmonic_oscillator_log_z",
    "path_integral_log_z",
    "path_integral_correlator",
]

T_C: float = 2.0 / math.log1p(math.sqrt(2.0))
"""Critical temperature of the square-lattice Ising model, :math:`2/\\ln(1+\\sqrt2)`."""

Temperature = float | npt.ArrayLike

_BETA_GROUND = 50.0
"""Above this inverse temperature ln Z is ``2 N beta + ln 2`` to double precision."""


# -- input checks ----------------------------------------------------------------------------
def _check_size(L) -> int:
    if isinstance(L, bool) or not isinstance(L, Integral):
        raise TypeError(f"L must be an int, got {L!r}")
    if L < 2:
        raise ValueError(f"L must be >= 2, got {L!r}")
    return int(L)


def _check_temperature(temperature) -> tuple[np.ndarray, bool]:
    """Return the temperatures as a flat float64 array and whether the input was a scalar."""
    if np.ndim(temperature) == 0:
        t = check_real("temperature", temperature, low=0.0, low_inclusive=False)
        return np.array([t]), True
    array = np.asarray(temperature, dtype=np.float64)
    if array.size == 0:
        raise ValueError("temperature must not be empty")
    if not np.all(np.isfinite(array) & (array > 0)):
        raise ValueError(f"every temperature must be finite and > 0, got {temperature!r}")
    return array.ravel(), False


def _as_output(values: np.ndarray, scalar: bool, temperature) -> float | np.ndarray:
    return float(values[0]) if scalar else values.reshape(np.shape(temperature))


# -- Kaufman's finite-lattice partition function ------------------------------------------
def _kaufman_log_z(L: int, beta: torch.Tensor) -> torch.Tensor:
    r"""Kaufman's ``ln Z`` of the ``L x L`` periodic Ising model for each entry of ``beta``.

    Written so that every differentiated quantity is smooth in ``beta``: the only factor that
    can vanish, :math:`2\sinh(L\gamma_0/2)` (it changes sign at :math:`T_c`), is kept out of
    the logarithm and rescaled by a detached constant, as is the overall scale of the sum of
    the four terms. Autograd through this function gives exact derivatives.
    """
    b = beta[:, None]
    s = torch.sinh(2 * b)
    # cosh(gamma_k) - 1 = (s - 1)^2 / s + 2 sin^2(pi k / 2L) > 0 for k = 1 .. 2L - 1
    k = torch.arange(1, 2 * L, dtype=beta.dtype, device=beta.device)
    h = (s - 1).square() / s + 2 * torch.sin(math.pi * k / (2 * L)).square()
    y = L * torch.asinh(torch.sqrt(h / 2))  # L gamma_k / 2 > 0
    log_2cosh = y + torch.log1p(torch.exp(-2 * y))
    log_2sinh = y + torch.log(-torch.expm1(-2 * y))
    odd_cosh, odd_sinh = log_2cosh[:, 0::2].sum(1), log_2sinh[:, 0::2].sum(1)
    even_cosh, even_sinh = log_2cosh[:, 1::2].sum(1), log_2sinh[:, 1::2].sum(1)
    # gamma_0 = 2K + ln tanh K keeps its sign (negative above T_c)
    y0 = L * (2 * beta + torch.log(torch.tanh(beta))) / 2
    c0 = y0.abs().detach()
    up, down = torch.exp(y0 - c0), torch.exp(-y0 - c0)
    logs = torch.stack([odd_cosh, odd_sinh, even_cosh + c0, even_sinh + c0])
    top = logs.max(0).values.detach()
    terms = (
        torch.exp(odd_cosh - top)
        + torch.exp(odd_sinh - top)
        + torch.exp(even_cosh + c0 - top) * (up + down)
        + torch.exp(even_sinh + c0 - top) * (up - down)
    )
    prefactor = -math.log(2.0) + 0.5 * L * L * torch.log(2 * torch.sinh(2 * beta))
    return prefactor + top + torch.log(terms)


def _kaufman_derivatives(L: int, temperature, order: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """``d^order ln Z / d beta^order`` (order 0, 1 or 2), the flat temperatures, scalar flag."""
    L = _check_size(L)
    t, scalar = _check_temperature(temperature)
    with torch.enable_grad():
        beta = torch.tensor(1.0 / t, dtype=torch.float64, requires_grad=order > 0)
        # deep in the ordered phase continue with the ground-state asymptote (the corrections,
        # O(N exp(-8 beta)), are below rounding), keeping sinh(2 beta) finite
        clamped = beta.clamp(max=_BETA_GROUND)
        out = _kaufman_log_z(L, clamped) + 2 * L * L * (beta - clamped)
        for i in range(order):
            (out,) = torch.autograd.grad(out.sum(), beta, create_graph=i + 1 < order)
    return out.detach().numpy(), t, scalar


def ising_log_z(L: int, temperature: Temperature) -> float | np.ndarray:
    r"""Exact :math:`\ln Z` of the Ising model on an ``L x L`` torus (Kaufman 1949).

    .. math::

        Z = \tfrac12 (2\sinh 2K)^{L^2/2} \Big[\prod_{r=0}^{L-1} 2\cosh\tfrac{L\gamma_{2r+1}}2
            + \prod 2\sinh\tfrac{L\gamma_{2r+1}}2 + \prod 2\cosh\tfrac{L\gamma_{2r}}2
            + \prod 2\sinh\tfrac{L\gamma_{2r}}2\Big]

    with :math:`K = 1/T`, :math:`\cosh\gamma_k = \cosh 2K\coth 2K - \cos(\pi k/L)` and
    :math:`\gamma_0 = 2K + \ln\tanh K`, which is negative above :math:`T_c` (the last product
    is then negative). The four terms are combined in log space, so any ``L`` and any
    temperature work without overflow.

    Parameters
    ----------
    L : int
        Linear size, >= 2 (``H = -sum s_i s_j`` over the ``2 L^2`` bonds made by
        :class:`~skphys.lattice.Ising` with ``shape=(L, L)``).
    temperature : float or array_like
        Temperature(s), finite and > 0.

    Returns
    -------
    float or ndarray
        :math:`\ln Z`, with the shape of ``temperature``.

    Examples
    --------
    >>> from skphys.lattice.exact import T_C, ising_log_z
    >>> round(ising_log_z(4, T_C), 10)
    15.5219154588
    >>> ising_log_z(4, [2.0, 3.0]).round(6)
    array([17.105367, 13.281033])
    """
    values, _, scalar = _kaufman_derivatives(L, temperature, 0)
    return _as_output(values, scalar, temperature)


def ising_energy(L: int, temperature: Temperature) -> float | np.ndarray:
    r"""Exact energy per site :math:`u = -\frac1N \partial\ln Z/\partial\beta` on an L x L torus.

    The derivative of Kaufman's formula (:func:`ising_log_z`) is exact (automatic
    differentiation), also at :math:`T_c`.

    Parameters
    ----------
    L : int
        Linear size, >= 2.
    temperature : float or array_like
        Temperature(s), finite and > 0.

    Returns
    -------
    float or ndarray
        :math:`u = \langle H\rangle / N`, with the shape of ``temperature``.

    Examples
    --------
    >>> from skphys.lattice.exact import ising_energy, onsager_energy
    >>> abs(ising_energy(64, 2.0) - onsager_energy(2.0)) < 1e-12
    True
    """
    values, _, scalar = _kaufman_derivatives(L, temperature, 1)
    return _as_output(-values / L**2, scalar, temperature)


def ising_heat_capacity(L: int, temperature: Temperature) -> float | np.ndarray:
    r"""Exact heat capacity per site :math:`c = \frac{\beta^2}N \partial^2\ln Z/\partial\beta^2`.

    Second derivative of Kaufman's formula (:func:`ising_log_z`), exact and finite at every
    temperature; at ``L = 16`` its maximum lies near ``T = 2.317``.

    Parameters
    ----------
    L : int
        Linear size, >= 2.
    temperature : float or array_like
        Temperature(s), finite and > 0.

    Returns
    -------
    float or ndarray
        :math:`c = \beta^2 \mathrm{Var}(H) / N`, with the shape of ``temperature``.

    Notes
    -----
    The derivative is a difference of terms of order :math:`N/\beta^2`, so the absolute
    accuracy is about ``1e-11``; far above :math:`T_c` (``T >~ 1e3``), where
    :math:`c \approx 2/T^2`, the relative accuracy degrades accordingly.

    Examples
    --------
    >>> from skphys.lattice.exact import T_C, ising_heat_capacity
    >>> c = ising_heat_capacity(16, [2.0, T_C, 3.0])
    >>> bool(c[1] > c[0] and c[1] > c[2])
    True
    """
    values, t, scalar = _kaufman_derivatives(L, temperature, 2)
    return _as_output(values / (t**2 * L**2), scalar, temperature)


# -- the row-to-row transfer matrix ----------------------------------------------------------
_MAX_TRANSFER_L = 12
"""Largest L of :func:`ising_magnetization_sq`: its transfer matrix has ``4**L`` entries."""


def ising_magnetization_sq(L: int, temperature: Temperature) -> float | np.ndarray:
    r"""Exact :math:`\langle m^2\rangle`, :math:`m = \frac1N\sum_i s_i`, on an L x L torus.

    From the symmetric row-to-row transfer matrix
    :math:`T_{cc'} = e^{\beta[\frac12 E(c) + c\cdot c' + \frac12 E(c')]}` over the
    :math:`2^L` row configurations (:math:`E(c) = \sum_j c_j c_{j+1}`) and the diagonal
    matrix :math:`D` of their row magnetizations, with translation invariance from row to
    row,

    .. math::

        \langle M^2\rangle = L \sum_{r=0}^{L-1}
        \frac{\operatorname{Tr}(D\,T^r D\,T^{L-r})}{\operatorname{Tr} T^L},

    evaluated in the eigenbasis of :math:`T` (float64, ``T`` divided by its largest entry).
    Zero field, so :math:`\langle m\rangle = 0` and this is also the variance.

    Parameters
    ----------
    L : int
        Linear size, 2 to 12 (``L = 12`` diagonalizes a 4096 x 4096 matrix per temperature).
    temperature : float or array_like
        Temperature(s), finite and > 0.

    Returns
    -------
    float or ndarray
        :math:`\langle m^2\rangle`, with the shape of ``temperature``.

    Examples
    --------
    >>> from skphys.lattice.exact import T_C, ising_magnetization_sq
    >>> round(ising_magnetization_sq(8, T_C), 6)
    0.646912
    >>> ising_magnetization_sq(4, [1.0, 100.0]).round(3)  # ordered; nearly 1/N
    array([0.999, 0.065])
    """
    L = _check_size(L)
    if L > _MAX_TRANSFER_L:
        raise ValueError(f"L must be <= {_MAX_TRANSFER_L} for the transfer matrix, got {L}")
    t, scalar = _check_temperature(temperature)
    rows = 1.0 - 2.0 * ((np.arange(2**L)[:, None] >> np.arange(L)) & 1)
    in_row = (rows * np.roll(rows, 1, axis=1)).sum(1)
    exponent = rows @ rows.T + 0.5 * (in_row[:, None] + in_row[None, :])
    exponent -= exponent.max()
    row_m = rows.sum(1)
    values = np.empty_like(t)
    for i, beta in enumerate(1.0 / t):
        eigenvalues, basis = np.linalg.eigh(np.exp(beta * exponent))
        mu = eigenvalues / np.abs(eigenvalues).max()
        weights = (basis.T @ (row_m[:, None] * basis)) ** 2
        powers = mu[None, :] ** np.arange(L + 1)[:, None]  # mu^r, r = 0..L
        trace = sum(powers[r] @ weights @ powers[L - r] for r in range(L))
        values[i] = trace / powers[L].sum() / L**3  # L * <M_0 M_r> summed, over N^2
    return _as_output(values, scalar, temperature)


# -- Onsager: the infinite lattice ------------------------------------------------------
def _onsager_q(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sinh 2K`` and ``q = 2 tanh^2 2K - 1 = (s^2 - 1)/(s^2 + 1)`` (``1 - q^2 = kappa^2``)."""
    s = np.sinh(2.0 / t)
    return s, (s * s - 1) / (s * s + 1)


def onsager_log_z(temperature: Temperature) -> float | np.ndarray:
    r"""Onsager's :math:`\ln Z / N` of the infinite square-lattice Ising model.

    .. math::

        \frac{\ln Z}{N} = \ln(2\cosh 2K) + \frac1\pi\int_0^{\pi/2}
            \ln\frac{1 + \sqrt{1 - \kappa^2\sin^2\phi}}{2}\,d\phi,
        \qquad \kappa = \frac{2\sinh 2K}{\cosh^2 2K}.

    Parameters
    ----------
    temperature : float or array_like
        Temperature(s), finite and > 0.

    Returns
    -------
    float or ndarray
        :math:`\ln Z / N`; :math:`\frac12\ln 2 + 2G/\pi` at :math:`T_c` (G: Catalan).

    Examples
    --------
    >>> from skphys.lattice.exact import T_C, onsager_log_z
    >>> round(onsager_log_z(T_C), 10)
    0.9296953983
    """
    t, scalar = _check_temperature(temperature)
    _, q = _onsager_q(t)

    def integral(qi: float) -> float:
        # 1 - kappa^2 sin^2 phi = cos^2 phi + q^2 sin^2 phi, non-negative without rounding
        def f(phi):
            return math.log((1 + math.hypot(math.cos(phi), qi * math.sin(phi))) / 2)

        return quad(f, 0.0, math.pi / 2, epsabs=1e-14, epsrel=1e-13)[0]

    values = np.log(2 * np.cosh(2 / t)) + np.array([integral(qi) for qi in q]) / math.pi
    return _as_output(values, scalar, temperature)


def onsager_free_energy(temperature: Temperature) -> float | np.ndarray:
    r"""Onsager's free energy per site :math:`f = -T \ln Z / N` (infinite lattice).

    Parameters
    ----------
    temperature : float or array_like
        Temperature(s), finite and > 0.

    Returns
    -------
    float or ndarray
        :math:`f`, with the shape of ``temperature``.

    Examples
    --------
    >>> from skphys.lattice.exact import T_C, onsager_free_energy
    >>> round(onsager_free_energy(T_C), 10)
    -2.1096511446
    """
    t, scalar = _check_temperature(temperature)
    return _as_output(-t * onsager_log_z(t), scalar, temperature)


def onsager_energy(temperature: Temperature) -> float | np.ndarray:
    r"""Onsager's energy per site of the infinite square-lattice Ising model.

    .. math::

        u = -\coth 2K \Big[1 + \frac2\pi (2\tanh^2 2K - 1)\, K_1(\kappa)\Big]

    with :math:`K_1` the complete elliptic integral of the first kind (modulus
    :math:`\kappa`); the bracket's second term vanishes at :math:`T_c`, where
    :math:`u = -\sqrt2`.

    Parameters
    ----------
    temperature : float or array_like
        Temperature(s), finite and > 0.

    Returns
    -------
    float or ndarray
        :math:`u`, with the shape of ``temperature``.

    Examples
    --------
    >>> from skphys.lattice.exact import T_C, onsager_energy
    >>> round(onsager_energy(T_C), 12)
    -1.414213562373
    """
    t, scalar = _check_temperature(temperature)
    s, q = _onsager_q(t)
    elliptic = np.zeros_like(q)
    nonzero = q != 0
    elliptic[nonzero] = q[nonzero] * ellipkm1(q[nonzero] ** 2)  # K(m = kappa^2 = 1 - q^2)
    values = -np.sqrt(1 + s * s) / s * (1 + 2 / math.pi * elliptic)
    return _as_output(values, scalar, temperature)


def onsager_magnetization(temperature: Temperature) -> float | np.ndarray:
    r"""Spontaneous magnetization of the infinite lattice (Onsager, Yang).

    :math:`M = (1 - \sinh^{-4} 2K)^{1/8}` below :math:`T_c` and 0 above.

    Parameters
    ----------
    temperature : float or array_like
        Temperature(s), finite and > 0.

    Returns
    -------
    float or ndarray
        :math:`M`, with the shape of ``temperature``.

    Examples
    --------
    >>> from skphys.lattice.exact import onsager_magnetization
    >>> onsager_magnetization([2.0, 3.0]).round(6)
    array([0.911319, 0.      ])
    """
    t, scalar = _check_temperature(temperature)
    s, _ = _onsager_q(t)
    values = np.clip(1 - s**-4.0, 0.0, None) ** 0.125
    return _as_output(values, scalar, temperature)


# -- the Ising dual --------------------------------------------------------------------
def _ising_chain_log_z(L: int, beta: float) -> float:
    """``ln Z`` of the periodic Ising chain, ``ln[(2 cosh K)^L + (2 sinh K)^L]``."""
    return L * math.log(2 * math.cosh(beta)) + math.log1p(math.tanh(beta) ** L)


def ising_dual_log_z(shape, temperature: float) -> float:
    r"""Exact :math:`\ln Z_x` of the continuous Ising dual :class:`~skphys.lattice.IsingDual`.

    With :math:`\prod_i\cosh x_i = 2^{-N}\sum_s e^{s\cdot x}` the Gaussian integral gives

    .. math::

        \ln Z_x = \ln Z_\text{Ising} - N\ln 2 + \frac N2\ln 2\pi
                  + \frac12\ln\det(K + \alpha I) + \frac{\alpha N}2 ,

    where :math:`Z_\text{Ising}` is the partition function of
    :class:`~skphys.lattice.Ising` with the same shape and temperature (Kaufman's formula
    for ``(L, L)``, the transfer matrix for a chain ``(L,)``).

    Parameters
    ----------
    shape : tuple of int
        ``(L,)`` or ``(L, L)``.
    temperature : float
        Ising temperature, > 0.

    Returns
    -------
    float
        :math:`\ln \int e^{-S(x)}\,dx` with ``S = IsingDual(shape, temperature).action``.

    Examples
    --------
    >>> from skphys.lattice.exact import T_C, ising_dual_log_z
    >>> round(ising_dual_log_z((4, 4), T_C), 6)
    37.376732
    """
    theory = IsingDual(shape, temperature)
    shape, n = theory.shape, theory.n_sites
    if len(shape) == 1:
        log_z_ising = _ising_chain_log_z(shape[0], 1.0 / theory.temperature)
    elif len(shape) == 2 and shape[0] == shape[1]:
        log_z_ising = float(ising_log_z(shape[0], theory.temperature))  # a float: scalar T
    else:
        raise ValueError(f"shape must be (L,) or (L, L), got {shape!r}")
    log_det = torch.log(theory.coupling_eigenvalues()).sum().item()
    return (
        log_z_ising
        - n * math.log(2.0)
        + 0.5 * n * math.log(2 * math.pi)
        + 0.5 * log_det
        + 0.5 * theory.alpha * n
    )


# -- Gaussian fields ---------------------------------------------------------------------
def _free_scalar_spectrum(shape, m2: float) -> np.ndarray:
    """Eigenvalues ``m2 + sum_mu (2 - 2 cos k_mu)`` of the free-scalar Hessian, array ``shape``."""
    theory = FreeScalar(shape, m2)
    return theory.m2 + 2 * theory.ndim - momenta_cos_sum(theory.shape).numpy()


def free_scalar_log_z(shape, m2: float) -> float:
    r"""Exact :math:`\ln Z` of :class:`~skphys.lattice.FreeScalar` (any dimension).

    .. math::

        \ln Z = \frac N2\ln 2\pi - \frac12\sum_k \ln\Big(m^2 + \sum_\mu (2 - 2\cos k_\mu)\Big)

    for :math:`S = \sum_x[\frac12\sum_\mu(\phi_{x+\mu}-\phi_x)^2 + \frac12 m^2\phi_x^2]`.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents, periodic boundaries.
    m2 : float
        Mass squared, > 0.

    Returns
    -------
    float
        :math:`\ln\int e^{-S}\,d\phi`.

    Examples
    --------
    >>> from skphys.lattice.exact import free_scalar_log_z
    >>> round(free_scalar_log_z((8, 8), m2=0.1), 8)
    19.92516644
    """
    eig = _free_scalar_spectrum(shape, m2)
    return float(0.5 * eig.size * math.log(2 * math.pi) - 0.5 * np.log(eig).sum())


def free_scalar_propagator(shape, m2: float) -> np.ndarray:
    r"""Exact propagator :math:`G(x) = \langle\phi_0\phi_x\rangle` of
    :class:`~skphys.lattice.FreeScalar`.

    .. math::

        G(x) = \frac1N\sum_k \frac{e^{ik\cdot x}}{m^2 + \sum_\mu(2 - 2\cos k_\mu)}

    (an inverse FFT); by translation invariance
    :math:`\langle\phi_y\phi_{y+x}\rangle = G(x)` for every ``y``.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents, periodic boundaries.
    m2 : float
        Mass squared, > 0.

    Returns
    -------
    ndarray of shape ``shape``
        :math:`G(x)` indexed by the separation ``x``.

    Examples
    --------
    >>> from skphys.lattice.exact import free_scalar_propagator
    >>> G = free_scalar_propagator((8, 8), m2=0.1)
    >>> G.shape, bool(G[0, 0] > G[0, 1] > G[0, 4] > 0)
    ((8, 8), True)
    """
    return np.fft.ifftn(1.0 / _free_scalar_spectrum(shape, m2)).real


def _complex_free_spectrum(shape, mu: float, t: float) -> np.ndarray:
    """``mu - 2 t sum_mu cos k_mu`` on the momentum grid (validated by :class:`ComplexPhi4`)."""
    theory = ComplexPhi4(shape, t=t, mu=mu, lam=0.0)
    return theory.mu - theory.t * momenta_cos_sum(theory.shape).numpy()


def complex_free_log_z(shape, mu: float, t: float = 1.0) -> float:
    r"""Exact :math:`\ln Z` of the free complex field ``ComplexPhi4(shape, t, mu, lam=0)``.

    With the measure :math:`\prod_x d\,\mathrm{Re}\phi_x\, d\,\mathrm{Im}\phi_x`,

    .. math::

        \ln Z = N\ln\pi - \sum_k \ln\Big(\mu - 2t\sum_\mu \cos k_\mu\Big).

    Parameters
    ----------
    shape : tuple of int
        Lattice extents, periodic boundaries.
    mu : float
        On-site mass term, > ``2 d t``.
    t : float, default=1.0
        Hopping, >= 0.

    Returns
    -------
    float
        :math:`\ln\int e^{-S}\,d\mathrm{Re}\phi\,d\mathrm{Im}\phi`.

    Examples
    --------
    >>> from skphys.lattice.exact import complex_free_log_z
    >>> round(complex_free_log_z((8, 8), mu=4.5), 8)
    -14.21720181
    """
    eig = _complex_free_spectrum(shape, mu, t)
    return float(eig.size * math.log(math.pi) - np.log(eig).sum())


def complex_free_propagator(shape, mu: float, t: float = 1.0) -> np.ndarray:
    r"""Exact :math:`\langle \mathrm{Re}\phi_0\,\mathrm{Re}\phi_x\rangle` of the free complex field.

    With :math:`\phi = a + ib` the action of ``ComplexPhi4(shape, t, mu, lam=0)`` is
    :math:`S = \sum_x[-2t\sum_\mu(a_x a_{x+\mu} + b_x b_{x+\mu}) + \mu(a_x^2 + b_x^2)]`, i.e.
    :math:`a^T(\mu - tA)a + b^T(\mu - tA)b` with :math:`A` the adjacency matrix. Hence

    .. math::

        \langle a_0 a_x\rangle = \langle b_0 b_x\rangle
        = \frac1N\sum_k \frac{e^{ik\cdot x}}{2(\mu - 2t\sum_\mu\cos k_\mu)},
        \qquad \langle a_0 b_x\rangle = 0,

    and :math:`\langle\phi_0^*\phi_x\rangle` is twice this.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents, periodic boundaries.
    mu : float
        On-site mass term, > ``2 d t``.
    t : float, default=1.0
        Hopping, >= 0.

    Returns
    -------
    ndarray of shape ``shape``
        :math:`\langle\mathrm{Re}\phi_0\,\mathrm{Re}\phi_x\rangle` indexed by ``x``.

    Examples
    --------
    >>> from skphys.lattice.exact import complex_free_propagator
    >>> round(float(complex_free_propagator((2,), mu=1.0, t=0.0)[0]), 6)
    0.5
    """
    return np.fft.ifftn(0.5 / _complex_free_spectrum(shape, mu, t)).real


# -- the 0+1D path integral ------------------------------------------------------------------

_TAIL = 60.0
"""The grid of the transfer matrix ends where the density is below ``exp(-_TAIL)``."""
_SCAN = 100.0
"""Positions ``|x| <= _SCAN`` are scanned for the grid's range."""


def harmonic_oscillator_log_z(n_sites: int, beta: float, omega: float = 1.0) -> float:
    r"""Exact :math:`\ln Z_N` of the harmonic :class:`~skphys.lattice.PathIntegral`.

    For :math:`V = \omega^2x^2/2` on :math:`N` sites, :math:`a = \beta/N`, with the measure
    :math:`\prod_i dx_i/\sqrt{2\pi a}`:

    .. math::

        \ln Z_N = -\frac12\sum_{k=0}^{N-1}\ln\Big(2 - 2\cos\frac{2\pi k}{N} + a^2\omega^2\Big),

    which tends to :math:`-\ln(2\sinh(\beta\omega/2))` as :math:`N \to \infty`.

    Parameters
    ----------
    n_sites : int
        Number of time slices :math:`N \ge 2`.
    beta : float
        Inverse temperature, > 0.
    omega : float, default=1.0
        Frequency, > 0.

    Returns
    -------
    float

    Examples
    --------
    >>> from skphys.lattice.exact import harmonic_oscillator_log_z
    >>> round(harmonic_oscillator_log_z(16, beta=4.0), 8)
    -1.97614849
    """
    n = check_int("n_sites", n_sites, 2)
    beta = check_real("beta", beta, low=0.0, low_inclusive=False)
    omega = check_real("omega", omega, low=0.0, low_inclusive=False)
    k = 2 * np.pi * np.arange(n) / n
    return float(-0.5 * np.log(2 - 2 * np.cos(k) + (beta * omega / n) ** 2).sum())


def _check_path_integral(theory) -> PathIntegral:
    if not isinstance(theory, PathIntegral):
        raise TypeError(f"theory must be a skphys.lattice.PathIntegral, got {theory!r}")
    return theory


def _potential_on(theory: PathIntegral, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        values = theory.potential_energy(torch.as_tensor(x, dtype=torch.float64))
    v = np.asarray(torch.as_tensor(values, dtype=torch.float64).cpu().numpy(), dtype=np.float64)
    if v.shape != x.shape:
        raise ValueError(f"the potential must act elementwise: V of an array of shape {x.shape} "
                         f"has shape {v.shape}")
    return v


def _grid_range(theory: PathIntegral) -> tuple[float, float]:
    r"""Where the density of one site exceeds :math:`e^{-60}`, from two bounds of it: the
    classical :math:`e^{-\beta\Delta V}` and the WKB ground state
    :math:`e^{-2\int\sqrt{2\Delta V}}`."""
    x = np.linspace(-_SCAN, _SCAN, 200_001)
    v = _potential_on(theory, x)
    if np.isnan(v).any():
        raise ValueError("the potential is NaN somewhere on [-100, 100]; pass x_range")
    i0 = int(np.argmin(v))
    dv = np.nan_to_num(v - v[i0], posinf=np.inf)
    root = np.sqrt(2 * np.minimum(dv, 1e300))
    dx = x[1] - x[0]
    w = np.zeros_like(x)  # int sqrt(2 dV) outward from the minimum
    w[i0 + 1:] = np.cumsum(0.5 * (root[i0 + 1:] + root[i0:-1])) * dx
    w[:i0] = np.cumsum((0.5 * (root[:i0] + root[1:i0 + 1]))[::-1])[::-1] * dx
    inside = np.flatnonzero(np.minimum(theory.beta * dv, 2 * w) < _TAIL)
    if inside[0] == 0 or inside[-1] == len(x) - 1:
        raise ValueError("the potential does not confine the particle within |x| <= 100 "
                         "(it must grow at large |x|); pass x_range")
    return float(x[inside[0]]), float(x[inside[-1]])


def _transfer_spectrum(theory: PathIntegral, x_range, n_grid):
    """Grid, eigenvalues relative to the largest, their eigenvectors and ``ln Z``."""
    theory = _check_path_integral(theory)
    n, a = theory.n_sites, theory.a
    if x_range is None:
        lo, hi = _grid_range(theory)
    else:
        try:
            lo, hi = (float(check_real("x_range", v)) for v in x_range)
        except (TypeError, ValueError):
            raise ValueError(f"x_range must be a pair (low, high) of floats, got "
                             f"{x_range!r}") from None
        if not lo < hi:
            raise ValueError(f"x_range must have low < high, got {x_range!r}")
    if n_grid is None:  # the hopping kernel, of width sqrt(a), spans >= 6 grid points
        n_grid = max(401, math.ceil((hi - lo) * 6 / math.sqrt(a)) + 1)
    if not isinstance(n_grid, Integral) or n_grid < 3:
        raise ValueError(f"n_grid must be an int >= 3, got {n_grid!r}")
    x = np.linspace(lo, hi, int(n_grid))
    dx = x[1] - x[0]
    v = _potential_on(theory, x)
    if not np.all(np.isfinite(v)):
        raise ValueError("the potential is not finite on the grid; pass a narrower x_range")
    v_min = float(v.min())
    half = np.exp(-0.5 * a * (v - v_min))
    kernel = np.exp(-np.subtract.outer(x, x) ** 2 / (2 * a))
    t = dx / math.sqrt(2 * math.pi * a) * half[:, None] * kernel * half[None, :]
    lam, vec = np.linalg.eigh(t)
    lam, vec = lam[::-1], vec[:, ::-1]
    w = np.clip(lam / lam[0], 0.0, None)  # rounding can make the smallest slightly negative
    log_z = n * math.log(lam[0]) + math.log(np.sum(w**n)) - theory.beta * v_min
    return x, w, vec, log_z


def path_integral_log_z(theory, *, x_range=None, n_grid=None) -> float:
    r"""Exact :math:`\ln Z_N` of a :class:`~skphys.lattice.PathIntegral`, any potential.

    By the transfer matrix on a grid :math:`x_j` of spacing :math:`\Delta`,

    .. math::

        T_{jk} = \frac{\Delta}{\sqrt{2\pi a}}\exp\Big(-\frac{(x_j - x_k)^2}{2a}
        - \frac a2\big(V(x_j) + V(x_k)\big)\Big), \qquad
        \ln Z_N = \ln\operatorname{Tr}T^N = \ln\sum_n\lambda_n^N,

    the trapezoidal rule for every :math:`\int dx_i`, which converges spectrally
    (exponentially) in :math:`\Delta` for a smooth potential. Exact at finite :math:`N`: the
    lattice theory itself, not its continuum limit. Cost: one symmetric eigendecomposition of
    size ``n_grid``.

    Parameters
    ----------
    theory : PathIntegral
    x_range : (float, float), optional
        Ends of the grid. Default: where the density of one site falls below
        :math:`e^{-60}`, estimated from the classical :math:`e^{-\beta\Delta V}` and the WKB
        ground state, scanning :math:`|x| \le 100`.
    n_grid : int, optional
        Grid points. Default: six per :math:`\sqrt a` (the width of the hopping kernel),
        at least 401.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        When the default range finds no confining potential in :math:`|x| \le 100`, or the
        potential is not finite on the grid.

    See Also
    --------
    harmonic_oscillator_log_z : the closed form of the harmonic oscillator.
    path_integral_correlator : :math:`\langle x_0x_t\rangle` and :math:`\langle x^2\rangle`.

    Examples
    --------
    >>> from skphys.lattice import PathIntegral
    >>> from skphys.lattice.exact import path_integral_log_z
    >>> round(path_integral_log_z(PathIntegral(64, beta=8.0, potential="double_well")), 8)
    -13.68390864
    """
    return float(_transfer_spectrum(theory, x_range, n_grid)[3])


def path_integral_correlator(theory, *, x_range=None, n_grid=None) -> np.ndarray:
    r"""Exact correlator :math:`\langle x_0 x_t\rangle` of a
    :class:`~skphys.lattice.PathIntegral`, :math:`t = 0, \dots, N-1`.

    From the eigenvalues :math:`\lambda_n` and eigenvectors :math:`u_n` of the transfer
    matrix (:func:`path_integral_log_z`), with :math:`X = \mathrm{diag}(x_j)`:

    .. math::

        \langle x_0 x_t\rangle = \frac{\sum_{mn}\lambda_m^t\lambda_n^{N-t}
        (u_m^\top X u_n)^2}{\sum_n\lambda_n^N};

    ``correlator[0]`` is :math:`\langle x^2\rangle`. By translation invariance
    :math:`\langle x_s x_{s+t}\rangle` is the same for every ``s``.

    Parameters
    ----------
    theory : PathIntegral
    x_range, n_grid
        The grid, as in :func:`path_integral_log_z`.

    Returns
    -------
    ndarray of shape (n_sites,)

    Examples
    --------
    >>> from skphys.lattice import PathIntegral
    >>> from skphys.lattice.exact import path_integral_correlator
    >>> c = path_integral_correlator(PathIntegral(32, beta=4.0))  # harmonic, omega = 1
    >>> round(float(c[0]), 6)  # <x^2>, near coth(2) / 2 = 0.518657 of the continuum
    0.517697
    """
    x, w, vec, _ = _transfer_spectrum(theory, x_range, n_grid)
    n = theory.n_sites
    m2 = (vec.T @ (x[:, None] * vec)) ** 2
    norm = np.sum(w**n)
    return np.array([(w**t) @ m2 @ (w ** (n - t)) for t in range(n)]) / norm
