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
import warnings
from copy import deepcopy
from typing import Protocol

import torch
from torch import nn
from torchdiffeq import odeint, odeint_adjoint

from ._bijector import Bijector
from ._fourier import momentum_orbits
from ._resize import check_larger, embed_offsets, orbit_sums

__all__ = ["EquivariantVelocity", "ContinuousBijector"]

_DENSE_MAX_SITES = 144  # beyond, FFTs beat the dense convolution matrix on a CPU
#: order of accuracy of the fixed-step torchdiffeq solvers
_FIXED_STEP_ORDERS = {"euler": 1, "midpoint": 2, "rk4": 4, "explicit_adams": 4,
                      "implicit_adams": 4}
#: most steps the step control gives a fixed-step solver
_MAX_STEPS = 1000
_PROBE_ROWS = 1  # rows of the batch on which the step control measures the error


class Velocity(Protocol):
    """What :class:`ContinuousBijector` integrates (:class:`EquivariantVelocity`, or
    :class:`~skphys.flows.BlockVelocity` on the blocks of a MERA flow)."""

    def __call__(self, t: torch.Tensor,
                 phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


class EquivariantVelocity(nn.Module):
    """The velocity field :math:`v(\\phi, t)` and its exact divergence.

    The weight of offset orbit ``o`` is ``weight[a, o, f] / |o|``, so that one optimizer step
    of size ``lr`` on every parameter moves each feature's kernel by ``O(n_orbits lr)`` rather
    than ``O(n_sites lr)``. The sum over ``y`` is one product with the dense kernel matrix
    (gathered from the orbit weights by one indexing operation), or, on large lattices, real
    FFTs: every orbit is closed under :math:`x - y \\to y - x`, so the kernel's Fourier
    transform is real, a fixed (momentum, orbit) matrix applied to the weights.

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
    convolution : {"auto", "dense", "fft"}
        Sum over ``y`` as one product with the dense ``(n_sites, n_sites)`` kernel matrix, or
        by real FFTs; ``"auto"`` takes the dense matrix up to 144 sites.

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import EquivariantVelocity
    >>> velocity = EquivariantVelocity((4, 4), n_frequencies=2, n_time_kernels=3)
    >>> v, div = velocity(torch.tensor(0.5), torch.randn(3, 1, 4, 4))
    >>> v.shape, div.shape
    (torch.Size([3, 1, 4, 4]), torch.Size([3]))
    >>> float(v.abs().max())  # zero weights at initialization: the identity flow
    0.0
    """

    # buffers (float64 constants are cast where used)
    offset_labels: torch.Tensor  # orbit of x - y, flattened over the pairs of sites
    orbit_spectrum: torch.Tensor  # (momentum, orbit)
    time_frequencies: torch.Tensor
    time_phases: torch.Tensor
    weight_scale: torch.Tensor  # 1 / orbit size, (orbit, 1, 1, 1)

    def __init__(self, shape, channels: int = 1, n_frequencies: int = 8, n_time_kernels: int = 5,
                 convolution: str = "auto"):
        super().__init__()
        self.shape = tuple(shape)
        self.channels = channels
        self.n_features = n_frequencies + 1
        self.n_time_kernels = n_time_kernels
        # offsets are labelled like momenta: x - y and y - x, reflections and permutations
        labels, n_orbits = momentum_orbits(self.shape)
        self.origin = int(labels[(0,) * len(self.shape)])
        if convolution == "auto":
            convolution = "dense" if math.prod(self.shape) <= _DENSE_MAX_SITES else "fft"
        if convolution not in ("dense", "fft"):
            raise ValueError(f"convolution must be 'auto', 'dense' or 'fft', got {convolution!r}")
        self.convolution = convolution
        # orbit of the offset x - y for every pair of sites (rows x, columns y)
        sites = torch.stack(torch.meshgrid(*(torch.arange(n) for n in self.shape),
                                           indexing="ij"), -1).flatten(0, -2)
        offsets = (sites[:, None] - sites[None, :]) % torch.tensor(self.shape)
        offset_labels = labels[tuple(offsets.unbind(-1))]
        self.offset_labels_shape = offset_labels.shape
        self.register_buffer("offset_labels", offset_labels.flatten(), persistent=False)
        dims = tuple(range(1, len(self.shape) + 1))
        indicators = nn.functional.one_hot(labels, n_orbits).movedim(-1, 0).to(torch.float64)
        orbit_sizes = indicators.flatten(1).sum(1)
        weight_scale = 1 / orbit_sizes
        spectrum = torch.fft.rfftn(indicators, dim=dims).real.flatten(1).T  # momentum, orbit
        # K_a(t) = sin(2 pi m_a t + phase_a): 1, cos(2 pi t), sin(2 pi t), cos(4 pi t), ...
        a = torch.arange(n_time_kernels, dtype=torch.float64)
        time_frequencies = 2 * math.pi * torch.div(a + 1, 2, rounding_mode="floor")
        time_phases = (math.pi / 2) * ((a == 0) | (a % 2 == 1)).to(torch.float64)
        # constants kept in float64 (cast where used): conversions of the module keep them exact
        for name, value in [("orbit_spectrum", spectrum.contiguous()),
                            ("time_frequencies", time_frequencies), ("time_phases", time_phases)]:
            self.register_buffer(name, value, persistent=False)
        self.register_buffer("weight_scale", weight_scale.view(-1, 1, 1, 1).float(),
                             persistent=False)
        self.weight = nn.Parameter(
            torch.zeros(n_time_kernels, n_orbits, self.n_features, channels, channels)
        )
        self.frequencies = nn.Parameter(torch.empty(n_frequencies))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero weights (the identity flow) and frequencies spread over ``[0.5, 4]``."""
        nn.init.zeros_(self.weight)
        with torch.no_grad():
            self.frequencies.copy_(torch.linspace(0.5, 4.0, self.frequencies.numel()))

    def transfer_from(self, source: EquivariantVelocity) -> None:
        """Set the weights and frequencies from a velocity fitted on a smaller lattice.

        The kernel over offsets, :math:`W_{[x-y]}` (``weight / |orbit|`` per offset), is
        embedded in this lattice: every offset the smaller lattice has keeps its kernel
        (shared between ``d`` and ``-d`` where only the larger lattice tells them apart),
        the longer offsets start at zero; the weight of each orbit here is the sum of the
        kernel over it. Features, time kernels and channels must agree.
        """
        if not isinstance(source, EquivariantVelocity):
            raise ValueError(f"cannot transfer a {type(source).__name__} into an "
                             f"EquivariantVelocity: the architectures differ")
        check_larger(source.shape, self.shape)
        w_source, w_self = source.weight.shape, self.weight.shape
        if (w_source[0], *w_source[2:]) != (w_self[0], *w_self[2:]):
            raise ValueError(
                f"cannot transfer a velocity of {source.n_features - 1} frequencies, "
                f"{source.n_time_kernels} time kernels and {source.channels} channel(s) into "
                f"one of {self.n_features - 1}, {self.n_time_kernels} and {self.channels}")
        with torch.no_grad():
            labels = momentum_orbits(source.shape)[0]
            weight = source.weight.detach().to(torch.float64).movedim(1, 0)  # o, a, f, c, d
            scale = source.weight_scale.to(torch.float64)[:, None]  # 1 / orbit size
            per_offset = (weight * scale)[labels.to(weight.device)]
            kernel = embed_offsets(per_offset, self.shape)  # *shape, a, f, c, d
            labels, n_orbits = momentum_orbits(self.shape)
            weight = orbit_sums(kernel, labels, n_orbits).movedim(0, 1)
            self.weight.copy_(weight.to(self.weight.dtype))
            self.frequencies.copy_(source.frequencies)

    def _spectral_weights(self, weight: torch.Tensor) -> torch.Tensor:
        """Fourier transform of the kernel: ``(..., momentum, feature, out, in)``."""
        return torch.einsum("ko,...ofcd->...kfcd", self.orbit_spectrum.to(weight.dtype), weight)

    def _convolve_dense(self, features: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``sum_y W_[x-y] H(phi_y)`` as one matrix product: ``(batch, C * n_sites)``."""
        kernel = w.index_select(0, self.offset_labels).view(*self.offset_labels_shape,
                                                            *w.shape[1:])  # x, y, F, out, in
        kernel = kernel.permute(2, 4, 1, 3, 0).reshape(features[0].numel(), -1)
        return features.flatten(1) @ kernel

    def _convolve_fft(self, features: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The same periodic convolution by real FFTs: ``(batch, C, *shape)``."""
        dims = tuple(range(-len(self.shape), 0))
        k_features = torch.fft.rfftn(features, dim=dims)
        k_shape = k_features.shape[3:]
        k_features = torch.view_as_real(k_features).flatten(3, -2)  # batch, F, C, k, re/im
        k_velocity = torch.einsum("kfcd,bfdkr->bckr", self._spectral_weights(w), k_features)
        k_velocity = k_velocity.reshape(*k_velocity.shape[:2], *k_shape, 2)
        return torch.fft.irfftn(torch.view_as_complex(k_velocity), s=self.shape, dim=dims)

    def forward(self, t: torch.Tensor, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocity ``(batch, C, *shape)`` and divergence ``(batch,)`` at time ``t``."""
        basis = torch.sin((self.time_frequencies * t + self.time_phases).to(phi.dtype))
        w = (basis @ self.weight.flatten(1)).view(self.weight.shape[1:]) * self.weight_scale
        dims = tuple(range(2, phi.dim()))
        x = phi.unsqueeze(1)  # batch, 1, C, *shape
        omega_x = self.frequencies.view(-1, 1, *(1,) * len(self.shape)) * x
        features = torch.cat([x, torch.sin(omega_x)], dim=1)  # batch, F, C, *shape
        convolve = self._convolve_dense if self.convolution == "dense" else self._convolve_fft
        velocity = convolve(features, w).view(phi.shape)
        # divergence: only the y = x term depends on phi_x, and only its diagonal in channels
        w0 = torch.diagonal(w[self.origin], dim1=-2, dim2=-1)  # F, C
        sine_div = torch.cos(omega_x).sum(tuple(d + 1 for d in dims))  # batch, F - 1, C
        divergence = math.prod(self.shape) * w0[0].sum() + (
            sine_div * (self.frequencies[:, None] * w0[1:])
        ).sum((1, 2))
        return velocity, divergence


class _Augmented(nn.Module):
    """ODE right-hand side on the state (field, accumulated log-determinant)."""

    velocity: Velocity

    def __init__(self, velocity: Velocity):
        super().__init__()
        self.velocity = velocity

    def forward(self, t, state):
        return self.velocity(t, state[0])


class ContinuousBijector(Bijector):
    """Bijector integrating :class:`EquivariantVelocity` from ``t = 0`` (prior) to ``t = 1``.

    The log-determinant is the integral of the exact divergence, computed by the same solver
    steps as the field; it is the log-determinant of the *discrete* map only up to the
    solver's error. Reverse-KL training exploits any such error: a stiff velocity whose
    integrated divergence overstates the volume change of the discrete map lowers the loss
    while ``q`` stops being normalized (``ln Z`` from the importance weights comes out wrong by
    that amount, unseen by the ESS). A fixed-step solver therefore controls its step count
    from the error it measures: in training mode, on the first call and every
    ``check_every``-th call after, :meth:`calibrate` compares the integrated divergence of a row
    of the batch with the exact log-determinant of the discrete map (:meth:`log_det_error`)
    and sets the step count ``n`` (at least ``n_steps``, at most 1000) whose predicted error is
    ``log_det_tol / 2`` in both directions of integration. With an error ``delta`` in
    ``log q``, importance-weighted averages move by at most ``std(delta)`` standard deviations
    of the observable. The step count is a buffer (``solver_steps``): it is saved with the
    weights and used unchanged in evaluation mode, i.e. for sampling after a fit.

    Parameters
    ----------
    velocity : EquivariantVelocity
    method : str
        torchdiffeq solver: ``"rk4"`` (fixed step, default), ``"euler"``, ``"midpoint"``, or an
        adaptive one (``"dopri5"``) that uses ``rtol``/``atol``.
    n_steps : int
        Minimum number of steps of a fixed-step solver.
    adjoint : bool
        Backpropagate with the adjoint method (memory independent of the number of steps).
    rtol, atol : float
        Tolerances of adaptive solvers.
    log_det_tol : float
        Largest error of the integrated divergence against the log-determinant of the
        discrete map, in nats, of a fixed-step solver (``inf``: exactly ``n_steps`` steps).
    check_every : int
        Training calls (forward or inverse) between two step-count checks.

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import ContinuousBijector, EquivariantVelocity
    >>> velocity = EquivariantVelocity((4, 4), n_frequencies=2, n_time_kernels=3)
    >>> flow = ContinuousBijector(velocity)
    >>> generator = torch.Generator().manual_seed(0)
    >>> with torch.no_grad():
    ...     _ = flow.rhs.velocity.weight.normal_(0.0, 0.03, generator=generator)
    >>> z = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    >>> x, log_det = flow(z)  # training mode: the first call sets the step count
    >>> flow.steps()
    10
    >>> z_back, log_det_inv = flow.inverse(x)
    >>> bool((z_back - z).abs().max() < 1e-5), bool((log_det + log_det_inv).abs().max() < 1e-4)
    (True, True)
    """

    solver_steps: torch.Tensor

    def __init__(self, velocity: Velocity, method: str = "rk4", n_steps: int = 10,
                 adjoint: bool = False, rtol: float = 1e-6, atol: float = 1e-8,
                 log_det_tol: float = 0.01, check_every: int = 50):
        super().__init__()
        self.rhs = _Augmented(velocity)
        self.method = method
        self.n_steps = n_steps
        self.adjoint = adjoint
        self.rtol = rtol
        self.atol = atol
        self.log_det_tol = log_det_tol
        self.check_every = check_every
        self.register_buffer("solver_steps", torch.tensor(n_steps))
        self._calls = 0  # training calls since the weights were set; calibrate at 0
        self._wanted: dict[bool, int] = {}  # step count each direction (t1 > t0?) needs

    def steps(self) -> int:
        """Number of steps a fixed-step solver takes with the current weights."""
        return int(self.solver_steps)

    def _solve(self, field: torch.Tensor, t0: float, t1: float, n_steps: int):
        times = torch.tensor([t0, t1], device=field.device, dtype=field.dtype)
        options = {"step_size": 1.0 / n_steps} if self.method in _FIXED_STEP_ORDERS else None
        solve = odeint_adjoint if self.adjoint else odeint
        state = (field, field.new_zeros(field.shape[0]))
        phi, log_det = solve(self.rhs, state, times, method=self.method, options=options,
                             rtol=self.rtol, atol=self.atol)
        return phi[-1], log_det[-1]

    def log_det_error(self, field: torch.Tensor, t0: float = 0.0, t1: float = 1.0,
                      n_steps: int | None = None) -> torch.Tensor:
        """Integrated divergence minus the exact ``log|det|`` of the discrete solver map.

        The Jacobian of the map ``field -> solve(field)`` is taken by autograd (one
        vectorized backward pass per row) in float64 on a copy of this bijector, so the
        difference is the solver's error, not rounding. ``(rows,)``; ``n_steps`` defaults
        to the current step count.
        """
        return self._log_det_error(deepcopy(self).double(), field, t0, t1,
                                   self.steps() if n_steps is None else n_steps)

    @staticmethod
    def _log_det_error(copy: ContinuousBijector, field: torch.Tensor, t0: float, t1: float,
                       n: int) -> torch.Tensor:
        """:meth:`log_det_error` with ``copy``, a float64 copy of the bijector."""
        errors = []
        for row in field.detach().double():
            def solve(flat, row=row):
                return copy._solve(flat.view(1, *row.shape), t0, t1, n)[0].flatten()
            flat = row.flatten().requires_grad_(True)
            with torch.enable_grad():
                jacobian = torch.autograd.functional.jacobian(solve, flat, vectorize=True)
            with torch.no_grad():
                integrated = copy._solve(flat.view(1, *row.shape), t0, t1, n)[1][0]
            errors.append(integrated - torch.linalg.slogdet(jacobian)[1])
        return torch.stack(errors)

    def calibrate(self, field: torch.Tensor, t0: float = 0.0, t1: float = 1.0) -> float:
        """Set the step count of a fixed-step solver for the current weights.

        Measures :meth:`log_det_error` on the first row of ``field`` with the current count
        ``n``, raises ``n`` by the solver's order (the error falls as ``n**-order``) while the
        error exceeds ``log_det_tol``, then takes the count whose predicted error is
        ``log_det_tol / 2`` (never below ``n_steps``) for this direction of integration; the
        bijector uses the larger of the two directions' counts. Returns the error at the last
        ``n`` tried (nats; NaN, unmeasured, for an infinite tolerance, which sets
        ``n_steps``). Warns (RuntimeWarning) if 1000 steps do not reach the tolerance.
        """
        if math.isinf(self.log_det_tol):
            self._wanted.clear()
            self.solver_steps.fill_(self.n_steps)
            return math.nan
        order = _FIXED_STEP_ORDERS[self.method]
        probe = field[:_PROBE_ROWS]
        copy = deepcopy(self).double()
        n = self.steps()
        while True:
            error = float(self._log_det_error(copy, probe, t0, t1, n).abs().max())
            if not math.isfinite(error):
                wanted = _MAX_STEPS + 1
            else:
                wanted = math.ceil(n * (2 * error / self.log_det_tol) ** (1 / order))
            if error <= self.log_det_tol or n >= _MAX_STEPS:
                break
            n = min(max(wanted, n + 1), _MAX_STEPS)
        if not error <= self.log_det_tol:  # NaN too
            warnings.warn(
                f"the ODE's integrated divergence misses the log-determinant of the "
                f"{n}-step solver map by {error:.3g} nats (tolerance {self.log_det_tol:g}): "
                f"the velocity is too stiff and the flow's log q is inexact; lower the "
                f"learning rate", RuntimeWarning, stacklevel=2)
        self._wanted[t1 > t0] = min(max(wanted, self.n_steps), _MAX_STEPS)
        self.solver_steps.fill_(max(self._wanted.values()))
        return error

    @torch.compiler.disable
    def _controlled_steps(self, field: torch.Tensor, t0: float, t1: float) -> int:
        """The step count for this call, checked first on every ``check_every``-th
        training call (kept out of compiled graphs)."""
        if self.training and self.method in _FIXED_STEP_ORDERS:
            if self._calls % self.check_every == 0:
                self.calibrate(field, t0, t1)
            self._calls += 1
        return self.steps()

    def _integrate(self, field: torch.Tensor, t0: float, t1: float):
        return self._solve(field, t0, t1, self._controlled_steps(field, t0, t1))

    def transfer_from(self, source: Bijector) -> None:
        """Transfer the velocity from ``source`` (an :class:`EquivariantVelocity` re-expresses
        its kernel; others refuse); the solver settings are this bijector's own."""
        self._check_source(source)
        assert isinstance(source, ContinuousBijector)
        velocity = self.rhs.velocity
        transfer = getattr(velocity, "transfer_from", None)
        if transfer is None:
            raise ValueError(f"{type(velocity).__name__} is not re-expressed on another "
                             f"lattice")
        transfer(source.rhs.velocity)
        self._calls = 0
        self._wanted.clear()

    def forward(self, z):
        return self._integrate(z, 0.0, 1.0)

    def inverse(self, x):
        return self._integrate(x, 1.0, 0.0)
