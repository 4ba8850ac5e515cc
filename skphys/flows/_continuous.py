"""Equivariant continuous normalizing flow (Gerdes, de Haan, Rainone, Bondesan, Cheng 2022).

The field follows :math:`d\\phi_x/dt = v_x(\\phi, t)` from the prior sample at ``t = 0`` to
the model sample at ``t = 1``, with

.. math::

    v_x(\\phi, t) = \\sum_y \\sum_{a, f} W_{[x - y], a, f}\\, K_a(t)\\, H_f(\\phi_y),

odd features :math:`H_f(\\phi) = \\sin(\\omega_f\\phi)` (learnable frequencies) plus
:math:`H_0(\\phi) = \\phi`, a Fourier basis :math:`K_a(t)` in time, and weights tied over the
orbits of the lattice offset :math:`x - y` under translations, reflections and (for equal
extents) axis permutations: the flow is equivariant under the lattice symmetries and
:math:`\\phi\\to-\\phi`. The sum over :math:`y` is a periodic convolution done by FFT. Only the
:math:`y = x` term depends on :math:`\\phi_x`, so the divergence is exact and cheap:
:math:`\\sum_x \\sum_{a,f} W_{0,a,f} K_a(t) H_f'(\\phi_x)`.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchdiffeq import odeint, odeint_adjoint

from ._bijector import Bijector
from ._fourier import momentum_orbits

__all__ = ["EquivariantVelocity", "ContinuousFlow"]


class EquivariantVelocity(nn.Module):
    """The velocity field :math:`v(\\phi, t)` and its exact divergence.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents.
    channels : int
        Real components per site (1 for a real field, 2 for a complex one).
    n_frequencies : int
        Number of sine features :math:`\\sin(\\omega_f\\phi)` besides :math:`\\phi` itself.
    n_time_kernels : int
        Size of the Fourier basis in time: 1, cos(2 pi t), sin(2 pi t), cos(4 pi t), ...
    """

    def __init__(self, shape, channels: int = 1, n_frequencies: int = 8, n_time_kernels: int = 5):
        super().__init__()
        self.shape = tuple(shape)
        # offsets are labelled like momenta: x - y and y - x, reflections and permutations
        labels, n_orbits = momentum_orbits(self.shape)
        self.register_buffer("labels", labels)
        self.register_buffer("origin_label", labels[(0,) * len(self.shape)].clone())
        self.n_features = n_frequencies + 1
        self.n_time_kernels = n_time_kernels
        self.channels = channels
        self.weight = nn.Parameter(
            torch.zeros(n_orbits, n_time_kernels, self.n_features, channels, channels)
        )
        self.frequencies = nn.Parameter(torch.empty(n_frequencies))
        self.reset_parameters()

    def reset_parameters(self, generator=None):
        nn.init.zeros_(self.weight)  # the identity flow
        with torch.no_grad():
            self.frequencies.copy_(torch.linspace(0.5, 4.0, self.frequencies.numel()))

    def _time_basis(self, t: torch.Tensor) -> torch.Tensor:
        j = torch.arange(1, self.n_time_kernels, device=t.device, dtype=t.dtype)
        harmonics = 2 * math.pi * torch.div(j + 1, 2, rounding_mode="floor") * t
        rest = torch.where(j % 2 == 1, torch.cos(harmonics), torch.sin(harmonics))
        return torch.cat([torch.ones(1, device=t.device, dtype=t.dtype), rest])

    def forward(self, t: torch.Tensor, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocity ``(batch, C, *shape)`` and divergence ``(batch,)`` at time ``t``."""
        w = torch.einsum("oafcd,a->ofcd", self.weight, self._time_basis(t))  # orbit, feat, out, in
        omega = self.frequencies.view(1, -1, 1, *(1,) * len(self.shape))
        x = phi.unsqueeze(1)  # batch, 1, C, *shape
        features = torch.cat([x, torch.sin(omega * x)], dim=1)  # batch, F, C, *shape
        dims = tuple(range(-len(self.shape), 0))
        kernel = w[self.labels]  # *shape, F, out, in
        kernel = kernel.permute(*range(len(self.shape), kernel.dim()), *range(len(self.shape)))
        k_kernel = torch.fft.rfftn(kernel, dim=dims)  # F, out, in, *k
        k_features = torch.fft.rfftn(features, dim=dims)  # batch, F, in, *k
        k_velocity = torch.einsum("fod...,bfd...->bo...", k_kernel.to(k_features.dtype),
                                  k_features)
        velocity = torch.fft.irfftn(k_velocity, s=self.shape, dim=dims)
        # divergence: only the y = x term depends on phi_x, and only its diagonal in channels
        w0 = torch.diagonal(w[self.origin_label], dim1=-2, dim2=-1)  # F, C
        d_features = torch.cat([torch.ones_like(x), omega * torch.cos(omega * x)], dim=1)
        divergence = (d_features * w0.view(1, *w0.shape, *(1,) * len(self.shape))).flatten(1)
        return velocity, divergence.sum(1)


class _Augmented(nn.Module):
    """ODE right-hand side on the state (field, accumulated log-determinant)."""

    def __init__(self, velocity: EquivariantVelocity):
        super().__init__()
        self.velocity = velocity

    def forward(self, t, state):
        phi, _ = state
        v, div = self.velocity(t, phi)
        return v, div


class ContinuousFlow(Bijector):
    """Bijector integrating :class:`EquivariantVelocity` from ``t = 0`` (prior) to ``t = 1``.

    Parameters
    ----------
    velocity : EquivariantVelocity
    method : str
        torchdiffeq solver: ``"rk4"`` (fixed step, default), ``"euler"``, ``"midpoint"``, or an
        adaptive one (``"dopri5"``) that uses ``rtol``/``atol``.
    n_steps : int
        Steps of a fixed-step solver.
    adjoint : bool
        Backpropagate with the adjoint method (memory independent of the number of steps).
    rtol, atol : float
        Tolerances of adaptive solvers.

    Notes
    -----
    The log-determinant is the integral of the exact divergence along the discretized path;
    its error relative to the discretized map is of the order of the solver's error
    (``O(h^4)`` for RK4).
    """

    def __init__(self, velocity: EquivariantVelocity, method: str = "rk4", n_steps: int = 10,
                 adjoint: bool = False, rtol: float = 1e-6, atol: float = 1e-8):
        super().__init__()
        self.rhs = _Augmented(velocity)
        self.method = method
        self.n_steps = n_steps
        self.adjoint = adjoint
        self.rtol = rtol
        self.atol = atol

    def _integrate(self, field: torch.Tensor, t0: float, t1: float):
        times = torch.tensor([t0, t1], device=field.device, dtype=field.dtype)
        options = {"step_size": 1.0 / self.n_steps} if self.method in ("rk4", "euler",
                                                                        "midpoint") else None
        solve = odeint_adjoint if self.adjoint else odeint
        state = (field, field.new_zeros(field.shape[0]))
        phi, log_det = solve(self.rhs, state, times, method=self.method, options=options,
                             rtol=self.rtol, atol=self.atol)
        return phi[-1], log_det[-1]

    def forward(self, z):
        return self._integrate(z, 0.0, 1.0)

    def inverse(self, x):
        return self._integrate(x, 1.0, 0.0)
