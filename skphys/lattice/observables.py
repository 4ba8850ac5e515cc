r"""Batched observables of lattice configurations.

Every function takes configurations as the rows of a 2-D array ``(n_samples, n_features)``,
sites in row-major order of the lattice ``shape`` with periodic boundaries (the layout of
:class:`skphys.lattice.LatticeTheory`). It accepts a :class:`torch.Tensor` or a
:class:`numpy.ndarray` and returns the same kind: NumPy in, NumPy out (a NumPy scalar for
ensemble averages); tensor in, tensor out (differentiable, on the input's device and dtype).
Integer input (e.g. Ising spins) is promoted to float64.

Per-configuration observables return shape ``(n_samples,)``; ensemble quantities (Binder
cumulant, correlators, correlation length, helicity modulus) average over the rows.

Conventions follow ``docs/conventions.rst``: the two-point susceptibility is
:math:`\chi_2 = (\sum_x\phi_x)^2 / V` (Albergo et al.), the correlation length comes from the
effective mass of the zero-momentum (time-slice) correlator along axis 0, and the XY
observables use angles in :math:`[0, 2\pi)`.
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections.abc import Callable
from typing import TypeVar, cast

import numpy as np
import torch

from .._constraints import check_real
from ._theory import LatticeTheory, check_shape

__all__ = [
    "magnetization",
    "abs_magnetization",
    "complex_magnetization",
    "two_point_susceptibility",
    "energy_per_site",
    "binder_cumulant",
    "two_point_function",
    "zero_momentum_correlator",
    "effective_mass",
    "correlation_length",
    "plaquette_winding",
    "vortex_density",
    "helicity_modulus",
]

Array = torch.Tensor | np.ndarray
_F = TypeVar("_F", bound=Callable)


def _numpy_compatible(arg: str) -> Callable[[_F], _F]:
    """Let a torch function take a NumPy array as its argument ``arg`` and return NumPy.

    Only ``arg`` decides the kind of the result; a 0-d result comes back as a NumPy scalar.
    """

    def decorator(func: _F) -> _F:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            data = bound.arguments[arg]
            if not isinstance(data, np.ndarray):
                return func(*args, **kwargs)
            if data.dtype.kind not in "biuf":
                raise TypeError(
                    f"{arg} must be an array of real numbers, got dtype {data.dtype}"
                    + (" (complex values: pass the real and imaginary parts as separate "
                       "real features)" if data.dtype.kind == "c" else "")
                )
            bound.arguments[arg] = torch.from_numpy(np.ascontiguousarray(data))
            return func(*bound.args, **bound.kwargs).detach().cpu().numpy()[()]

        return cast(_F, wrapper)

    return decorator


def _float_tensor(x, name: str) -> torch.Tensor:
    """Check that ``x`` is a real tensor and return it as floating point (integers to
    float64); complex values are refused rather than cast, which would drop their imaginary
    parts."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray, got {type(x).__name__}")
    if x.is_complex():
        raise TypeError(
            f"{name} must hold real numbers, got {x.dtype}: a complex field is stored as real "
            "rows (the real parts of all sites, then the imaginary parts)"
        )
    return x if x.is_floating_point() else x.to(torch.float64)


def _rows(x, name: str = "x", n_components: int = 1) -> torch.Tensor:
    """Check that ``x`` is a 2-D tensor of rows and return it as floating point."""
    x = _float_tensor(x, name)
    if x.dim() != 2 or x.shape[1] % n_components:
        per_row = f" with a multiple of {n_components} features" if n_components > 1 else ""
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features){per_row}, got shape {tuple(x.shape)}"
        )
    return x


def _lattice(x, shape, name: str = "x") -> torch.Tensor:
    """View the rows of ``x`` as fields of shape ``(n_samples, *shape)``."""
    x = _rows(x, name)
    shape = check_shape(shape)
    if x.shape[1] != math.prod(shape):
        raise ValueError(
            f"{name} has {x.shape[1]} features per row but shape={shape} has "
            f"{math.prod(shape)} sites"
        )
    return x.reshape(x.shape[0], *shape)


def _mean_correlation(phi: torch.Tensor, volume: int) -> torch.Tensor:
    """Ensemble mean of ``(1/volume) sum_x phi_x phi_{x+y}`` over the axes of ``phi`` but 0.

    Periodic in every axis; computed from the power spectrum (Wiener-Khinchin).
    """
    dims = tuple(range(1, phi.dim()))
    spectrum = torch.fft.rfftn(phi, dim=dims)
    power = (spectrum.real.square() + spectrum.imag.square()).mean(0)
    return torch.fft.irfftn(power, s=phi.shape[1:], dim=tuple(range(power.dim()))) / volume


# -- magnetization and susceptibility -------------------------------------------------------


@_numpy_compatible("x")
def magnetization(x: Array) -> Array:
    r"""Magnetization :math:`m = \frac1V\sum_x \phi_x` of each configuration.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray of shape (n_samples, n_features)
        Real fields or spins, one configuration per row.

    Returns
    -------
    torch.Tensor or numpy.ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.lattice.observables import magnetization
    >>> magnetization(np.array([[1.0, 1.0, -1.0, 1.0], [-1.0, -1.0, -1.0, -1.0]])).tolist()
    [0.5, -1.0]
    """
    return _rows(x).mean(1)


@_numpy_compatible("x")
def abs_magnetization(x: Array) -> Array:
    r"""Absolute magnetization :math:`|m|` of each configuration.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray of shape (n_samples, n_features)
        Real fields or spins, one configuration per row.

    Returns
    -------
    torch.Tensor or numpy.ndarray of shape (n_samples,)

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice.observables import abs_magnetization
    >>> abs_magnetization(torch.tensor([[1.0, -3.0], [2.0, 2.0]])).tolist()
    [1.0, 2.0]
    """
    # the wrapper has made x a tensor, so the result is a tensor
    return cast(torch.Tensor, magnetization(x)).abs()


@_numpy_compatible("x")
def complex_magnetization(x: Array) -> Array:
    r"""Modulus of the mean complex field, :math:`|\frac1V\sum_x\phi_x|`, of each row.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray of shape (n_samples, 2 * n_sites)
        Complex fields: the real parts of all sites, then the imaginary parts
        (the layout of :class:`skphys.lattice.ComplexPhi4`).

    Returns
    -------
    torch.Tensor or numpy.ndarray of shape (n_samples,)

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice.observables import complex_magnetization
    >>> x = torch.tensor([[3.0, 3.0, 4.0, 4.0]])  # phi = 3 + 4i on both sites
    >>> complex_magnetization(x).tolist()
    [5.0]
    """
    x = _rows(x, n_components=2)
    mean = x.reshape(x.shape[0], 2, -1).mean(2)
    return torch.linalg.vector_norm(mean, dim=1)


@_numpy_compatible("x")
def two_point_susceptibility(x: Array) -> Array:
    r"""Two-point susceptibility :math:`\chi_2 = (\sum_x \phi_x)^2 / V` of each row.

    The convention of Albergo, Kanwar and Shanahan: :math:`\chi_2 = \sum_y G(y)` for the
    (disconnected) two-point function :math:`G`, so the ensemble mean of the result is
    :math:`\langle\chi_2\rangle` (0.75(1) at the tutorial point ``L=8, m2=-4, lam=8``).

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray of shape (n_samples, n_features)
        Real fields, one configuration per row; ``V = n_features``.

    Returns
    -------
    torch.Tensor or numpy.ndarray of shape (n_samples,)

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice.observables import two_point_susceptibility
    >>> two_point_susceptibility(torch.full((2, 16), 0.5)).tolist()
    [4.0, 4.0]
    """
    x = _rows(x)
    return x.sum(1).square() / x.shape[1]


@_numpy_compatible("x")
def energy_per_site(theory: LatticeTheory, x: Array) -> Array:
    r"""Energy per site, ``theory.energy(x) / theory.n_sites``, of each row.

    Parameters
    ----------
    theory : LatticeTheory
        The theory whose :meth:`~skphys.lattice.LatticeTheory.energy` is used (the action
        for field theories, :math:`H` for spin models).
    x : torch.Tensor or numpy.ndarray of shape (n_samples, theory.n_features)
        Configurations.

    Returns
    -------
    torch.Tensor or numpy.ndarray of shape (n_samples,)

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice import Ising
    >>> from skphys.lattice.observables import energy_per_site
    >>> energy_per_site(Ising((4, 4), temperature=2.0), torch.ones(1, 16)).tolist()
    [-2.0]
    """
    if not isinstance(theory, LatticeTheory):
        raise TypeError(f"theory must be a LatticeTheory, got {type(theory).__name__}")
    x = _rows(x)
    energy = theory.energy(x) / theory.n_sites
    nan = torch.isnan(energy) & torch.isfinite(x).all(1)
    if nan.any():
        warnings.warn(
            f"the energy of {type(theory).__name__} is NaN for {int(nan.sum())} of "
            f"{x.shape[0]} finite configurations (|x| up to {float(x.abs().max()):.3g}: "
            "overflow in the energy's terms)", RuntimeWarning, stacklevel=3)
    return energy


@_numpy_compatible("x")
def binder_cumulant(x: Array) -> Array:
    r"""Binder cumulant :math:`U_4 = 1 - \langle m^4\rangle / (3\langle m^2\rangle^2)`.

    Averages over the rows; :math:`m` is the :func:`magnetization`. :math:`U_4 \to 2/3` in an
    ordered phase and :math:`\to 0` for Gaussian fluctuations of :math:`m`.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray of shape (n_samples, n_features)
        An ensemble of real fields or spins.

    Returns
    -------
    torch.Tensor or numpy scalar
        A 0-d tensor for tensor input; NaN when every magnetization is 0 (the ratio is 0/0).

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice.observables import binder_cumulant
    >>> ordered = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
    >>> round(binder_cumulant(ordered).item(), 6)
    0.666667
    """
    m2 = cast(torch.Tensor, magnetization(x)).square()  # x is a tensor here
    return 1 - m2.square().mean() / (3 * m2.mean().square())


# -- correlators ------------------------------------------------------------------------------


@_numpy_compatible("x")
def two_point_function(x: Array, shape, connected: bool = False) -> Array:
    r"""Ensemble two-point function :math:`G(y) = \frac1V\sum_x\langle\phi_x\phi_{x+y}\rangle`.

    Computed with FFTs, :math:`O(V\log V)` per row. The connected function subtracts
    :math:`\langle\phi\rangle^2`, where :math:`\langle\phi\rangle` is the mean field over all
    sites and rows.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray of shape (n_samples, n_sites)
        An ensemble of real fields, sites in row-major order of ``shape``.
    shape : tuple of int
        Lattice extents (periodic boundaries).
    connected : bool, default=False
        Subtract :math:`\langle\phi\rangle^2`.

    Returns
    -------
    torch.Tensor or numpy.ndarray of shape ``shape``
        ``G[y]`` for the separation vector ``y`` (taken modulo ``shape``).

    See Also
    --------
    zero_momentum_correlator : the sum of :math:`G` over all axes but the first.

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice.observables import two_point_function
    >>> x = torch.tensor([[1.0, -1.0, 1.0, -1.0]])  # staggered field on a 4-site ring
    >>> two_point_function(x, (4,)).round().tolist()
    [1.0, -1.0, 1.0, -1.0]
    """
    phi = _lattice(x, shape)
    if connected:
        phi = phi - phi.mean()
    return _mean_correlation(phi, phi[0].numel())


@_numpy_compatible("x")
def zero_momentum_correlator(x: Array, shape, connected: bool = False) -> Array:
    r"""Zero-momentum (time-slice) correlator along the first lattice axis.

    .. math::

        G(t) = \frac1V \sum_{\tau} \langle \Phi(\tau)\, \Phi(\tau + t) \rangle,
        \qquad \Phi(\tau) = \sum_{\vec y} \phi(\tau, \vec y),

    i.e. :math:`t` runs along axis 0 and the field is first summed over the other axes; this
    equals :func:`two_point_function` summed over all axes but the first. ``connected``
    subtracts the mean field first, giving the sum of the connected two-point function.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray of shape (n_samples, n_sites)
        An ensemble of real fields, sites in row-major order of ``shape``.
    shape : tuple of int
        Lattice extents (periodic boundaries); ``shape[0]`` is the "time" extent.
    connected : bool, default=False
        Subtract :math:`\langle\phi\rangle^2` from the two-point function.

    Returns
    -------
    torch.Tensor or numpy.ndarray of shape (shape[0],)

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice.observables import zero_momentum_correlator
    >>> x = torch.tensor([[1.0, 1.0, -1.0, -1.0]])  # time slices +1, -1 on a 2x2 lattice
    >>> zero_momentum_correlator(x, (2, 2)).tolist()
    [2.0, -2.0]
    """
    phi = _lattice(x, shape)
    if connected:
        phi = phi - phi.mean()
    slices = phi.reshape(*phi.shape[:2], -1).sum(2)
    return _mean_correlation(slices, phi[0].numel())


@_numpy_compatible("G")
def effective_mass(G: Array) -> Array:
    r"""Effective mass :math:`m_\mathrm{eff}(t) = \operatorname{arccosh}
    \frac{G(t-1) + G(t+1)}{2\,G(t)}` of a periodic correlator.

    Exact for :math:`G(t) \propto \cosh[m(t - T/2)]`, the single-state correlator on a
    periodic lattice of extent :math:`T`.

    Parameters
    ----------
    G : torch.Tensor or numpy.ndarray of shape (..., T)
        Correlator(s) along the last axis, ``T >= 3``, e.g. from
        :func:`zero_momentum_correlator`.

    Returns
    -------
    torch.Tensor or numpy.ndarray of shape (..., T - 2)
        Element ``i`` is :math:`m_\mathrm{eff}(t = i + 1)`, for ``t = 1, ..., T - 2``; NaN
        where the argument of arccosh is below 1 (no decaying state, e.g. noise).

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.lattice.observables import effective_mass
    >>> t = np.arange(8)
    >>> np.round(effective_mass(np.cosh(0.5 * (t - 4))), 6).tolist()
    [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    """
    G = _float_tensor(G, "G")
    if G.dim() == 0 or G.shape[-1] < 3:
        raise ValueError(
            f"G must have at least 3 entries along its last axis, got shape {tuple(G.shape)}"
        )
    ratio = (G[..., :-2] + G[..., 2:]) / (2 * G[..., 1:-1])
    return torch.where(ratio >= 1, torch.acosh(ratio.clamp(min=1)), torch.nan)


@_numpy_compatible("x")
def correlation_length(x: Array, shape, t: int | None = None, connected: bool = True) -> Array:
    r"""Correlation length :math:`\xi = 1/m_\mathrm{eff}(t)` of an ensemble.

    :math:`m_\mathrm{eff}` is the :func:`effective_mass` of the
    :func:`zero_momentum_correlator` along axis 0.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray of shape (n_samples, n_sites)
        An ensemble of real fields, sites in row-major order of ``shape``.
    shape : tuple of int
        Lattice extents; ``shape[0] >= 3`` is the "time" extent.
    t : int, optional
        Time separation, ``1 <= t <= shape[0] - 2``. Defaults to ``max(1, shape[0] // 4)``:
        at small ``t`` excited states bias :math:`m_\mathrm{eff}` upwards, while near
        ``shape[0] / 2`` the correlator is flat and the ratio in the arccosh is dominated by
        noise; on the benchmark line :math:`\xi \approx L/4` this default sits at
        :math:`t \approx \xi`.
    connected : bool, default=True
        Use the connected correlator (needed wherever :math:`\langle\phi\rangle \ne 0`).

    Returns
    -------
    torch.Tensor or numpy scalar
        NaN when :math:`m_\mathrm{eff}(t)` is undefined.

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.lattice.observables import correlation_length
    >>> G = np.cosh(0.5 * (np.arange(8) - 4))  # single-state correlator with m = 1/2
    >>> phi = np.fft.irfft(np.sqrt(np.fft.rfft(G).real), n=8)  # one row whose correlator is G
    >>> round(float(correlation_length(phi[None], (8,), connected=False)), 6)
    2.0
    """
    phi = _lattice(x, shape)
    n_time = phi.shape[1]
    if n_time < 3:
        raise ValueError(f"shape[0] must be >= 3 to define an effective mass, got shape={shape}")
    if t is None:
        t = max(1, n_time // 4)
    if isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= n_time - 2:
        raise ValueError(f"t must be an int in [1, {n_time - 2}], got {t!r}")
    G = zero_momentum_correlator(phi.flatten(1), phi.shape[1:], connected=connected)
    return 1 / effective_mass(G)[t - 1]


# -- XY model --------------------------------------------------------------------------------


def _wrap_angle(d: torch.Tensor) -> torch.Tensor:
    """Wrap angle differences into (-pi, pi]."""
    return math.pi - torch.remainder(math.pi - d, 2 * math.pi)


@_numpy_compatible("theta")
def plaquette_winding(theta: Array, shape) -> Array:
    r"""Winding number of every plaquette of a 2-D XY configuration.

    The plaquette ``(i, j)`` has corners ``(i, j) -> (i, j+1) -> (i+1, j+1) -> (i+1, j)``
    (counter-clockwise with axis 1 as :math:`x` and axis 0 as :math:`y`); its winding is the
    sum of the four angle differences along that loop, each wrapped into
    :math:`(-\pi, \pi]`, divided by :math:`2\pi`. A vortex :math:`\theta = \arg(z - z_0)`
    has winding +1; on a torus the windings sum to zero.

    Parameters
    ----------
    theta : torch.Tensor or numpy.ndarray of shape (n_samples, n_sites)
        Angles (any real values; only their values modulo :math:`2\pi` matter).
    shape : tuple of (int, int)
        2-D lattice extents (periodic boundaries).

    Returns
    -------
    torch.Tensor or numpy.ndarray of int64, shape ``(n_samples, *shape)``

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.lattice.observables import plaquette_winding
    >>> quarter_turns = np.array([[0.0, 0.5, 1.5, 1.0]]) * np.pi  # one plaquette, 2x2 torus
    >>> plaquette_winding(quarter_turns, (2, 2)).tolist()
    [[[1, -1], [-1, 1]]]
    """
    theta = _lattice(theta, shape, "theta")
    if theta.dim() != 3:
        raise ValueError(f"shape must be 2-D for plaquette windings, got shape={shape}")
    dx = _wrap_angle(torch.roll(theta, -1, 2) - theta)  # bond (i, j) -> (i, j + 1)
    dy = _wrap_angle(torch.roll(theta, -1, 1) - theta)  # bond (i, j) -> (i + 1, j)
    circulation = dx + torch.roll(dy, -1, 2) - torch.roll(dx, -1, 1) - dy
    return torch.round(circulation / (2 * math.pi)).to(torch.int64)


@_numpy_compatible("theta")
def vortex_density(theta: Array, shape) -> Array:
    r"""Density of vortices and antivortices, :math:`\frac1N\sum_p |w_p|`, of each row.

    :math:`w_p` is the :func:`plaquette_winding` of plaquette :math:`p`; there are as many
    plaquettes as sites, :math:`N`.

    Parameters
    ----------
    theta : torch.Tensor or numpy.ndarray of shape (n_samples, n_sites)
        XY angles, conventionally in :math:`[0, 2\pi)`.
    shape : tuple of (int, int)
        2-D lattice extents (periodic boundaries).

    Returns
    -------
    torch.Tensor or numpy.ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.lattice.observables import vortex_density
    >>> vortex_density(np.zeros((1, 16)), (4, 4)).tolist()
    [0.0]
    """
    theta = _rows(theta, "theta")
    windings = cast(torch.Tensor, plaquette_winding(theta, shape))  # theta is a tensor here
    return windings.abs().flatten(1).sum(1).to(theta.dtype) / theta.shape[1]


@_numpy_compatible("theta")
def helicity_modulus(theta: Array, shape, temperature: float, *,
                     per_sample: bool = False) -> Array:
    r"""Helicity modulus (spin stiffness) of an XY ensemble in the :math:`x` direction.

    .. math::

        \Upsilon = \frac1N\Big[\Big\langle\sum_i\cos(\theta_i - \theta_{i+\hat x})\Big\rangle
                   - \frac1T\Big\langle\Big(\sum_i\sin(\theta_i - \theta_{i+\hat x})\Big)^2
                   \Big\rangle\Big]

    with :math:`J = 1`. The :math:`x` direction is the **last** lattice axis (axis 1 of an
    ``(L, L)`` lattice, neighbours adjacent in a row); at the BKT transition
    :math:`\Upsilon` jumps to :math:`2T/\pi`.

    :math:`\Upsilon` is linear in expectation values, so it is also the mean of the
    per-configuration value
    :math:`\frac1N[\sum_i\cos(\theta_i - \theta_{i+\hat x})
    - \frac1T(\sum_i\sin(\theta_i - \theta_{i+\hat x}))^2]` returned with
    ``per_sample=True``: the form to reweight (importance sampling) or to give errors with
    :func:`skphys.lattice.stats.mean_error`.

    Parameters
    ----------
    theta : torch.Tensor or numpy.ndarray of shape (n_samples, n_sites)
        An ensemble of XY angles.
    shape : tuple of int
        Lattice extents (periodic boundaries).
    temperature : float
        Temperature :math:`T > 0` of the ensemble.
    per_sample : bool, default=False
        Return the per-configuration values, whose mean is :math:`\Upsilon`, instead of
        their mean.

    Returns
    -------
    torch.Tensor or numpy scalar
        A 0-d tensor for tensor input; with ``per_sample``, a tensor or array of shape
        ``(n_samples,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skphys.lattice.observables import helicity_modulus
    >>> float(helicity_modulus(np.zeros((3, 16)), (4, 4), temperature=1.0))  # ordered
    1.0
    >>> helicity_modulus(np.zeros((3, 16)), (4, 4), temperature=1.0, per_sample=True).tolist()
    [1.0, 1.0, 1.0]
    """
    temperature = check_real("temperature", temperature, low=0.0, low_inclusive=False)
    theta = _lattice(theta, shape, "theta")
    d = (theta - torch.roll(theta, -1, theta.dim() - 1)).flatten(1)
    values = (torch.cos(d).sum(1) - torch.sin(d).sum(1).square() / temperature) / d.shape[1]
    return values if per_sample else values.mean()
