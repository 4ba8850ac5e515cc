r"""0+1D quantum mechanics as a lattice theory: the Euclidean path integral of a particle.

A periodic imaginary-time lattice of ``N`` sites at inverse temperature :math:`\beta`, spacing
:math:`a = \beta/N`, units :math:`m = \hbar = 1` (``docs/conventions.rst``).
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral

import torch

from .._constraints import check_real
from ._theory import LatticeTheory

__all__ = ["PathIntegral"]

_POTENTIALS = ("harmonic", "double_well")


class PathIntegral(LatticeTheory):
    r"""Euclidean path integral of a particle in a potential (0+1D quantum mechanics).

    Periodic imaginary time with ``n_sites`` sites :math:`x_0, \dots, x_{N-1}`
    (:math:`x_N \equiv x_0`), spacing :math:`a = \beta/N`, :math:`m = \hbar = 1`:

    .. math::

        S[x] = \sum_i \Big[\frac{(x_{i+1} - x_i)^2}{2a} + a\,V(x_i)\Big], \qquad
        Z_N = \int \prod_i \frac{dx_i}{\sqrt{2\pi a}}\, e^{-S[x]},

    and :math:`Z_N \to \operatorname{Tr} e^{-\beta H}` as :math:`a \to 0` at fixed
    :math:`\beta`. The action splits exactly into a kinetic and a potential part,
    :math:`S = K/\beta + \beta U` with :math:`K[x] = N\sum_i (x_{i+1} - x_i)^2/2`
    (:meth:`kinetic_term`) and :math:`U[x] = \frac1N\sum_i V(x_i)` (:meth:`potential_term`),
    which is what :func:`skphys.predict_action` builds on. Exact :math:`\ln Z_N`,
    :math:`\langle x^2\rangle` and the correlator :math:`\langle x_0 x_t\rangle`:
    :func:`~skphys.lattice.exact.harmonic_oscillator_log_z` (closed form) and
    :func:`~skphys.lattice.exact.path_integral_log_z`,
    :func:`~skphys.lattice.exact.path_integral_correlator` (transfer matrix, any ``V``).

    Parameters
    ----------
    n_sites : int
        Number of imaginary-time slices :math:`N \ge 2`; the lattice shape is ``(n_sites,)``.
    beta : float
        Inverse temperature :math:`\beta > 0` (the extent of imaginary time).
    potential : {"harmonic", "double_well"} or callable, default="harmonic"
        :math:`V(x)`: ``"harmonic"``, :math:`\omega^2 x^2/2`; ``"double_well"``, the double
        well of L. Wang's "Action Estimation" (arXiv:2405.10493),
        :math:`(\lambda/4)(x^2 - v^2)^2`, barrier :math:`\lambda v^4/4`; or a callable taking
        a tensor of positions and returning :math:`V` elementwise, differentiable by autograd
        and bounded below, growing at large :math:`|x|` (e.g. ``lambda x: x**4``).
    omega : float, default=1.0
        Frequency :math:`\omega > 0` of the harmonic potential (used only by it).
    lam : float, default=4.0
        Quartic coupling :math:`\lambda > 0` of the double well (used only by it).
    v : float, default=1.4
        Position :math:`\pm v` of the minima of the double well (used only by it).

    Attributes
    ----------
    a : float
        Lattice spacing :math:`\beta / N`.

    Notes
    -----
    The harmonic and double-well actions are invariant under :math:`x \to -x`
    (``internal_symmetries == ("z2",)``); nothing is assumed of a callable potential.

    A theory with a callable potential works everywhere in a running process (samplers,
    estimators, :func:`sklearn.base.clone`, pickling a module-level function), but saving an
    estimator that holds it (``estimator.save(path)``) raises a ``TypeError``: a saved file
    holds parameters, never code, and :func:`skphys.load` never runs code from a file. To
    save a model of your own potential, subclass :class:`PathIntegral` in an importable module
    and override :meth:`potential_energy` (declaring ``internal_symmetries`` if it has any);
    import that module before :func:`skphys.load`.

    At large :math:`\beta` the path sits in one well and tunnels rarely: local and HMC chains
    then mix slowly between the wells (see :func:`skphys.datasets.make_path_integral`).

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice import PathIntegral
    >>> theory = PathIntegral(64, beta=8.0, potential="double_well")
    >>> theory.shape, theory.a, theory.has_sign_symmetry
    ((64,), 0.125, True)
    >>> x = torch.full((2, 64), 1.4, dtype=torch.float64)  # both paths sit in a minimum
    >>> theory.action(x).tolist()
    [0.0, 0.0]
    >>> x = torch.randn(3, 64, dtype=torch.float64)
    >>> K, U = theory.kinetic_term(x), theory.potential_term(x)
    >>> torch.allclose(theory.action(x), K / 8.0 + 8.0 * U)
    True
    """

    def __init__(self, n_sites, beta: float, potential: str | Callable = "harmonic",
                 omega: float = 1.0, lam: float = 4.0, v: float = 1.4):
        if not isinstance(n_sites, Integral) or isinstance(n_sites, bool):
            raise TypeError(f"n_sites must be an int, got {n_sites!r}")
        super().__init__((int(n_sites),))
        self.beta = check_real("beta", beta, low=0.0, low_inclusive=False)
        if not (callable(potential) or potential in _POTENTIALS):
            raise ValueError(f"potential must be one of {_POTENTIALS} or a callable V(x) of a "
                             f"tensor, got {potential!r}")
        self.potential = potential if callable(potential) else str(potential)
        self.omega = check_real("omega", omega, low=0.0, low_inclusive=False)
        self.lam = check_real("lam", lam, low=0.0, low_inclusive=False)
        self.v = check_real("v", v)
        if not callable(potential) and type(self).potential_energy is _BUILTIN_V:
            self.internal_symmetries = ("z2",)  # a subclass declares its own

    @property
    def a(self) -> float:
        """Lattice spacing :math:`a = \\beta / N`."""
        return self.beta / self.n_sites

    def potential_energy(self, x: torch.Tensor) -> torch.Tensor:
        """The potential :math:`V(x)`, elementwise on a tensor of positions of any shape.

        Subclasses may override it to define a potential that :func:`skphys.save` can store.
        """
        if callable(self.potential):
            return self.potential(x)
        if self.potential == "harmonic":
            return 0.5 * self.omega**2 * x.square()
        return 0.25 * self.lam * (x.square() - self.v**2).square()

    def kinetic_term(self, x: torch.Tensor) -> torch.Tensor:
        r"""The kinetic part :math:`K[x] = N\sum_i (x_{i+1} - x_i)^2 / 2` of each row.

        Independent of :math:`\beta`; the action is :math:`S = K/\beta + \beta U`.
        """
        x = self._field(x)[:, 0]
        return 0.5 * self.n_sites * (torch.roll(x, -1, 1) - x).square().sum(1)

    def potential_term(self, x: torch.Tensor) -> torch.Tensor:
        r"""The potential part :math:`U[x] = \frac1N\sum_i V(x_i)` of each row (the
        imaginary-time average of :math:`V`); the action is :math:`S = K/\beta + \beta U`."""
        x = self._field(x)[:, 0]
        return self.potential_energy(x).mean(1)

    def action(self, x):
        x = self._field(x)[:, 0]
        a = self.a
        kinetic = (torch.roll(x, -1, 1) - x).square().sum(1) / (2 * a)
        return kinetic + a * self.potential_energy(x).sum(1)

    def local_action(self, x):
        x = self._field(x)[:, 0]
        a = self.a
        hop = (torch.roll(x, -1, 1) - x).square() + (torch.roll(x, 1, 1) - x).square()
        return hop / (2 * a) + a * self.potential_energy(x)

    def grad_action(self, x):
        x = self._field(x)[:, 0]
        a = self.a
        hop = (2 * x - torch.roll(x, -1, 1) - torch.roll(x, 1, 1)) / a
        return hop + a * self._potential_force(x)

    def _potential_force(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`V'(x)` elementwise: analytic for the built-in potentials, else autograd."""
        if type(self).potential_energy is _BUILTIN_V and not callable(self.potential):
            if self.potential == "harmonic":
                return self.omega**2 * x
            return self.lam * x * (x.square() - self.v**2)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.potential_energy(xg).sum(), xg)
        return g


_BUILTIN_V = PathIntegral.potential_energy
