"""Base class of lattice theories and the nearest-neighbour helpers they share.

A theory knows its lattice ``shape`` and evaluates a batched, differentiable action on
configurations stored as rows of a 2-D tensor ``(batch, n_features)``; sites are in row-major
order of ``shape`` and boundaries are periodic (see ``docs/conventions.rst``). Nothing here
knows about scikit-learn.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch

__all__ = ["LatticeTheory"]


def check_shape(shape) -> tuple[int, ...]:
    """Return ``shape`` as a tuple of ints >= 2, or raise a ValueError naming it."""
    if isinstance(shape, Integral):
        shape = (int(shape),)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of ints, got {shape!r}") from None
    if not shape or not all(isinstance(s, Integral) and not isinstance(s, bool) for s in shape):
        raise TypeError(f"shape must be a non-empty tuple of ints, got {shape!r}")
    if any(s < 2 for s in shape):
        raise ValueError(f"every lattice extent in shape must be >= 2, got {shape!r}")
    return tuple(int(s) for s in shape)


def check_count(name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as an int >= ``minimum``, or raise naming the parameter ``name``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def check_real(name: str, value, *, low=None, high=None, low_inclusive=True) -> float:
    """Return ``value`` as a finite float, or raise naming the parameter ``name``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {op} {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")
    return value


def forward_neighbor_sum(phi: torch.Tensor, ndim: int) -> torch.Tensor:
    """Sum over directions of the forward neighbour, ``sum_mu phi(x + mu)``.

    ``phi`` has shape ``(batch, *shape)`` with ``ndim`` lattice dimensions.
    """
    dims = range(phi.dim() - ndim, phi.dim())
    return sum(torch.roll(phi, -1, d) for d in dims)


def all_neighbor_sum(phi: torch.Tensor, ndim: int) -> torch.Tensor:
    """Sum over all ``2 * ndim`` nearest neighbours, ``sum_mu [phi(x+mu) + phi(x-mu)]``."""
    dims = range(phi.dim() - ndim, phi.dim())
    return sum(torch.roll(phi, -1, d) + torch.roll(phi, 1, d) for d in dims)


def checkerboard(shape: tuple[int, ...], device=None) -> torch.Tensor:
    """Boolean mask ``(n_sites,)`` of the sites whose coordinates have an odd sum."""
    coords = torch.meshgrid(*(torch.arange(n, device=device) for n in shape), indexing="ij")
    return (sum(coords) % 2 == 1).flatten()


def momenta_cos_sum(shape: tuple[int, ...], *, half: bool = False) -> torch.Tensor:
    """``sum_mu 2 cos(k_mu)`` on the momentum grid of ``shape`` (float64).

    With ``half=True`` the last axis is the non-negative half used by ``torch.fft.rfftn``.
    """
    axes = []
    for i, n in enumerate(shape):
        k = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
        if half and i == len(shape) - 1:
            k = k[: n // 2 + 1]
        axes.append(2 * torch.cos(k))
    grids = torch.meshgrid(*axes, indexing="ij")
    return sum(grids)


class LatticeTheory:
    """A statistical theory on a periodic hypercubic lattice.

    Subclasses define :meth:`action` (the negative log of the unnormalized Boltzmann weight)
    and may override :meth:`grad_action` with an analytic force and :meth:`local_action` (the
    part of the action that depends on one site, used by local Metropolis updates).

    Attributes
    ----------
    shape : tuple of int
        Lattice extents; sites are stored in row-major order of ``shape``.
    field_type : {"real", "complex", "spin", "angle"}
        What a site holds.
    n_components : int
        Real numbers per site (2 for a complex field: real parts of all sites, then imaginary).
    symmetries : tuple of str
        Exact symmetries of the action: internal ("z2", "u1") and lattice ("translation",
        "reflection", and "rotation" when all extents are equal).

    Examples
    --------
    A theory needs only its action; the force then comes from autograd:

    >>> import torch
    >>> from skphys.lattice import LatticeTheory
    >>> class Gaussian(LatticeTheory):
    ...     def action(self, x):
    ...         return 0.5 * x.square().sum(1)
    >>> theory = Gaussian((2, 3))
    >>> x = torch.ones(4, theory.n_features, dtype=torch.float64)
    >>> theory.n_sites, theory.action(x).tolist(), bool(torch.equal(theory.grad_action(x), x))
    (6, [3.0, 3.0, 3.0, 3.0], True)
    """

    field_type = "real"
    n_components = 1
    internal_symmetries: tuple[str, ...] = ()
    _param_names: tuple[str, ...] = ()

    def __init__(self, shape):
        self.shape = check_shape(shape)

    # -- geometry ---------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        """Number of lattice dimensions."""
        return len(self.shape)

    @property
    def n_sites(self) -> int:
        """Number of lattice sites."""
        return math.prod(self.shape)

    @property
    def n_features(self) -> int:
        """Length of one configuration row: ``n_components * n_sites``."""
        return self.n_components * self.n_sites

    @property
    def symmetries(self) -> tuple[str, ...]:
        """Exact symmetries of the action (internal first, then lattice)."""
        lattice = ("translation", "reflection")
        if len(set(self.shape)) == 1 and self.ndim > 1:
            lattice += ("rotation",)
        return tuple(self.internal_symmetries) + lattice

    def _field(self, x: torch.Tensor) -> torch.Tensor:
        """View rows ``(batch, n_features)`` as ``(batch, n_components, *shape)``."""
        if x.dim() != 2 or x.shape[1] != self.n_features:
            raise ValueError(
                f"x must have shape (n_samples, {self.n_features}) for {self!r}, "
                f"got {tuple(x.shape)}"
            )
        return x.reshape(x.shape[0], self.n_components, *self.shape)

    # -- physics ----------------------------------------------------------------------------
    def action(self, x: torch.Tensor) -> torch.Tensor:
        """Action ``S(x)`` of each row of ``x``, shape ``(batch,)``."""
        raise NotImplementedError

    def grad_action(self, x: torch.Tensor) -> torch.Tensor:
        """Gradient of the action with respect to each row (the HMC force with a minus sign)."""
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.action(xg).sum(), xg)
        return g

    def local_action(self, x: torch.Tensor) -> torch.Tensor:
        """Part of the action that depends on each site with its neighbours held fixed.

        Shape ``(batch, n_sites)``. On a bipartite lattice, changing the sites of one
        checkerboard colour changes the action by the sum of the changes of this quantity over
        those sites, which is what local Metropolis updates use.
        """
        raise NotImplementedError(f"{type(self).__name__} has no local action")

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Energy of each configuration; the action for field theories (``temperature = 1``)."""
        return self.action(x)

    def initial_state(self, n: int, *, generator=None, device=None, dtype=torch.float64):
        """``n`` random configurations to start Markov chains from (a hot start)."""
        return 0.5 * torch.randn(
            n, self.n_features, generator=generator, device=device, dtype=dtype
        )

    def canonicalize(self, x: torch.Tensor) -> torch.Tensor:
        """Map configurations to the canonical domain (angles into [0, 2 pi))."""
        return x

    # -- bookkeeping --------------------------------------------------------------------------
    def get_params(self) -> dict:
        """Parameters that reconstruct the theory: ``type(theory)(**theory.get_params())``."""
        params = {"shape": self.shape}
        params.update({name: getattr(self, name) for name in self._param_names})
        return params

    def __sklearn_clone__(self) -> LatticeTheory:
        """An equal, independent theory: estimators holding a theory can be cloned."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_params() == other.get_params()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self.get_params().items())))
