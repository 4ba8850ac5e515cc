"""Hybrid (Hamiltonian) Monte Carlo for lattice theories with a differentiable action."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .._constraints import check_int, check_real
from ._adaptation import DualAveraging
from ._mcmc_result import (
    MAX_UPDATES,
    MCMCResult,
    check_fraction,
    run_chains,
    start_chains,
    warn_chain_quality,
)
from ._theory import LatticeTheory, evaluate_action

__all__ = ["hmc", "leapfrog"]

GradFn = Callable[[torch.Tensor], torch.Tensor]


def _integrate(
    grad_action: GradFn,
    x: torch.Tensor,
    p: torch.Tensor,
    grad: torch.Tensor,
    step_size: float,
    n_steps: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Leapfrog from ``(x, p)`` given the force ``grad`` at ``x``; also return the end force.

    Costs ``n_steps`` gradient evaluations.
    """
    p = torch.add(p, grad, alpha=-0.5 * step_size)
    for step in range(n_steps):
        x = torch.add(x, p, alpha=step_size)
        grad = grad_action(x)
        p.sub_(grad, alpha=step_size if step < n_steps - 1 else 0.5 * step_size)
    return x, p, grad


def leapfrog(
    theory: LatticeTheory, x: torch.Tensor, p: torch.Tensor, *, step_size: float, n_steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Integrate Hamilton's equations for ``H = S(x) + p^2 / 2`` with the leapfrog scheme.

    The map is symplectic and time-reversible: integrating back from ``(x', -p')`` returns
    ``(x, -p)`` up to rounding, and ``H`` is conserved up to :math:`O(\epsilon^2)`.

    Parameters
    ----------
    theory : LatticeTheory
        Theory whose ``grad_action`` is the force (with a minus sign).
    x, p : torch.Tensor
        Positions and momenta, both ``(batch, n_features)``.
    step_size : float
        Leapfrog step :math:`\epsilon > 0`.
    n_steps : int
        Number of steps (gradient evaluations), from 1 to 10^9.

    Returns
    -------
    x, p : torch.Tensor
        The end point of the trajectory.

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice import FreeScalar
    >>> from skphys.lattice.mcmc import leapfrog
    >>> theory = FreeScalar((4, 4), m2=1.0)
    >>> x, p = torch.randn(2, 16, dtype=torch.float64), torch.randn(2, 16, dtype=torch.float64)
    >>> x1, p1 = leapfrog(theory, x, p, step_size=0.1, n_steps=10)
    >>> x0, p0 = leapfrog(theory, x1, -p1, step_size=0.1, n_steps=10)
    >>> torch.allclose(x0, x) and torch.allclose(-p0, p)
    True
    """
    step_size = check_real("step_size", step_size, low=0.0, low_inclusive=False)
    n_steps = check_int("n_steps", n_steps, 1, MAX_UPDATES)
    grad = theory.grad_action(x)
    x, p, _ = _integrate(theory.grad_action, x, p, grad, step_size, n_steps)
    return x, p


def _n_leapfrog(trajectory_length: float, step_size: float) -> int:
    """``ceil(trajectory_length / step_size)``, ignoring rounding noise in the ratio."""
    return max(1, math.ceil(trajectory_length / step_size * (1 - 1e-12)))


#: Trajectories in a row that the adapted step size may spend at its floor with the acceptance
#: still below the target before the run stops: the action is too stiff for ``max_leapfrog``.
_FLOOR_PATIENCE = 5


def _check_leapfrog_count(trajectory_length: float, step_size: float, max_leapfrog: int) -> None:
    """Refuse, before any work, a step that needs more than ``max_leapfrog`` leapfrog steps."""
    if trajectory_length / step_size > max_leapfrog:
        raise ValueError(
            f"step_size={step_size:.3g} with trajectory_length={trajectory_length:.3g} needs "
            f"{trajectory_length / step_size:.3g} leapfrog steps per trajectory, more than "
            f"max_leapfrog={max_leapfrog}: give a larger step_size (at least "
            f"{trajectory_length / max_leapfrog:.3g}), a shorter trajectory_length or a larger "
            f"max_leapfrog"
        )


class _HMCKernel:
    """One HMC trajectory for every chain, with a shared step size and cached action/force."""

    def __init__(
        self,
        theory: LatticeTheory,
        x: torch.Tensor,
        generator: torch.Generator,
        trajectory_length: float,
        adapter: DualAveraging | None,
        step_size: float,
    ):
        self.theory = theory
        self.generator = generator
        self.trajectory_length = trajectory_length
        self.adapter = adapter
        self.step_size = step_size
        self.action = evaluate_action(theory, x)
        if not torch.isfinite(self.action).all():
            raise ValueError(
                f"the initial action is not finite for every chain of {theory!r}: check its "
                "parameters, or pass another init"
            )
        self.grad = theory.grad_action(x)
        self.accepted = torch.zeros((), dtype=torch.int64, device=x.device)
        self.n_nan = torch.zeros((), dtype=torch.int64, device=x.device)
        self.n_proposals = 0
        self.n_trajectories = 0
        self.n_grad = 0
        self._at_floor = 0

    def freeze(self) -> None:
        if self.adapter is not None:
            self.step_size = self.adapter.final

    def __call__(self, x: torch.Tensor, adapt: bool) -> torch.Tensor:
        n_steps = _n_leapfrog(self.trajectory_length, self.step_size)
        p = torch.randn(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        x_new, p_new, grad_new = _integrate(
            self.theory.grad_action, x, p, self.grad, self.step_size, n_steps
        )
        action_new = self.theory.action(x_new)
        # A NaN action where the end point is finite is the theory's, not a diverged
        # trajectory's: such proposals are rejected like the others but counted.
        self.n_nan += (torch.isnan(action_new) & torch.isfinite(x_new).all(1)).sum()
        self.n_proposals += x.shape[0]
        delta_h = action_new - self.action + 0.5 * (p_new.square() - p.square()).sum(1)
        # A diverged trajectory (non-finite delta_h) is always rejected.
        prob = torch.where(torch.isfinite(delta_h), torch.exp(-delta_h.clamp(min=0.0)), 0.0)
        u = torch.rand(prob.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        accept = u < prob
        x = torch.where(accept[:, None], self.theory.canonicalize(x_new), x)
        self.grad = torch.where(accept[:, None], grad_new, self.grad)
        self.action = torch.where(accept, action_new, self.action)
        if adapt:
            if self.adapter is not None:
                self._adapt(prob.mean().item())
        else:
            self.accepted += accept.sum()
            self.n_trajectories += 1
            self.n_grad += n_steps
        return x

    def _adapt(self, acceptance: float) -> None:
        """Next step size; stop when the floor cannot reach the target acceptance."""
        assert self.adapter is not None
        at_floor = self.step_size <= self.adapter.lower * (1 + 1e-9)
        self._at_floor = self._at_floor + 1 if at_floor and acceptance < self.adapter.target else 0
        if self._at_floor >= _FLOOR_PATIENCE:
            max_leapfrog = round(self.trajectory_length / self.adapter.lower)
            raise ValueError(
                f"hmc cannot sample {self.theory!r}: the adapted step_size reached its floor "
                f"trajectory_length / max_leapfrog = {self.adapter.lower:.3g} and the acceptance "
                f"is still {acceptance:.2g} (target_acceptance={self.adapter.target}); the "
                f"action is too stiff for {max_leapfrog} leapfrog steps per trajectory. Check "
                f"the theory's couplings, or shorten trajectory_length or raise max_leapfrog"
            )
        self.step_size = self.adapter.update(acceptance)


def hmc(
    theory: LatticeTheory,
    n_samples: int,
    *,
    n_chains: int = 16,
    n_burnin: int = 500,
    thin: int = 1,
    trajectory_length: float = 1.0,
    step_size: float | None = None,
    target_acceptance: float = 0.8,
    adapt_step_size: bool = True,
    max_leapfrog: int = 1000,
    init: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    device=None,
    dtype: torch.dtype = torch.float64,
    progress: bool = False,
) -> MCMCResult:
    r"""Hybrid Monte Carlo on many independent chains at once.

    Each update draws unit-mass Gaussian momenta, integrates Hamilton's equations for
    ``H = S(x) + p^2 / 2`` with ``n_leapfrog = ceil(trajectory_length / step_size)`` leapfrog
    steps using the theory's analytic force ``theory.grad_action``, and accepts or rejects the
    end point per chain with probability ``min(1, exp(-dH))``. During burn-in one step size
    shared by all chains is tuned by dual averaging (Hoffman & Gelman 2014) so that the
    chain-averaged acceptance probability approaches ``target_acceptance``; it is then frozen.
    Returned samples are canonicalized (XY angles in ``[0, 2 pi)``).

    Parameters
    ----------
    theory : LatticeTheory
        A theory with a differentiable action (``Phi4``, ``FreeScalar``, ``ComplexPhi4``,
        ``XY``, ``IsingDual``); not ``Ising``.
    n_samples : int
        Samples stored per chain after burn-in.
    n_chains : int, default=16
        Independent chains, advanced together as one batch.
    n_burnin : int, default=500
        Trajectories discarded at the start (and used to adapt the step size); may be 0.
    thin : int, default=1
        Trajectories between stored samples.
    trajectory_length : float, default=1.0
        Molecular-dynamics time of one trajectory.
    step_size : float, optional
        Leapfrog step: the starting point of the adaptation, or the fixed step when
        ``adapt_step_size=False``. Default ``trajectory_length / 10``.
    target_acceptance : float, default=0.8
        Acceptance rate the adaptation aims at, in (0, 1).
    adapt_step_size : bool, default=True
        Tune the step size during burn-in.
    max_leapfrog : int, default=1000
        Most leapfrog steps per trajectory: a ``step_size`` below
        ``trajectory_length / max_leapfrog`` is refused before any work, and that is the
        floor of the adapted step size. When the adaptation stays at the floor with the
        acceptance below the target for a few trajectories, the run stops with a ValueError
        (the action is too stiff for these settings, usually absurd couplings).
    init : torch.Tensor, optional
        Initial states ``(n_chains, n_features)``; default ``theory.initial_state``.
    generator : torch.Generator, optional
        Source of all randomness, on the chains' device. Without one a fresh generator with
        a non-deterministic seed is used (the global RNG is untouched): pass a seeded
        generator for reproducible chains.
    device : str or torch.device, optional
        Default: the device of ``init``, else of ``generator``, else the CPU.
    dtype : torch.dtype, default=torch.float64
        Floating-point type of the chains.
    progress : bool, default=False
        Show a progress bar.

    Returns
    -------
    MCMCResult
        ``acceptance`` is the fraction of accepted trajectories after burn-in, ``step_size``
        the frozen step, ``n_evaluations`` the gradient evaluations per chain after burn-in
        (one action evaluation per trajectory is not counted); ``info`` holds ``n_leapfrog``,
        ``trajectory_length`` and ``n_nan_action`` (proposals whose action was NaN at a
        finite configuration: rejected, and warned about).

    Raises
    ------
    ValueError
        For the Ising model (discrete spins: use :func:`wolff` or :func:`metropolis`), for an
        initial state with a non-finite action, for an action whose shape is not
        ``(n_chains,)``, for a step size that needs more than ``max_leapfrog`` leapfrog steps
        (given, or adapted to reach the target acceptance), and for invalid arguments.

    Warns
    -----
    UnreliableEstimateWarning
        When the chains hardly moved (acceptance below
        :data:`~skphys.lattice.reliability.MIN_ACCEPTANCE`) or visited too few distinct
        states (:func:`~skphys.lattice.reliability.chain_problems`), and when proposals had a
        NaN action (counted, and rejected).

    Notes
    -----
    The step size is adapted, the trajectory length is not. Two consequences of that:

    * the acceptance jumps where ``ceil(trajectory_length / step_size)`` changes, so with a
      few leapfrog steps per trajectory the achieved acceptance can miss the target by a few
      percent;
    * a mode of frequency :math:`\omega` with :math:`\omega\,T` (``T = trajectory_length``)
      close to a multiple of :math:`\pi` is carried back to (minus) itself by every trajectory
      -- exactly so in a Gaussian theory, whose modes are harmonic -- and decorrelates slowly.
      A long :math:`\tau_\text{int}` of the action of a free field is the usual symptom;
      shorten the trajectory below :math:`\pi / \omega_\text{max}`.

    See Also
    --------
    leapfrog : the integrator.

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice import FreeScalar
    >>> from skphys.lattice.mcmc import hmc
    >>> theory = FreeScalar((4, 4), m2=1.0)
    >>> res = hmc(theory, 200, n_chains=8, n_burnin=100,
    ...           generator=torch.Generator().manual_seed(1))
    >>> tuple(res.samples.shape)
    (8, 200, 16)
    >>> 0.6 < res.acceptance < 0.95
    True
    """
    if isinstance(theory, LatticeTheory) and theory.field_type == "spin":
        raise ValueError(
            f"hmc needs a differentiable action but {type(theory).__name__} has discrete "
            "spins: use wolff or metropolis"
        )
    n_samples = check_int("n_samples", n_samples, 1)
    n_chains = check_int("n_chains", n_chains, 1)
    n_burnin = check_int("n_burnin", n_burnin, 0)
    thin = check_int("thin", thin, 1)
    trajectory_length = check_real(
        "trajectory_length", trajectory_length, low=0.0, low_inclusive=False
    )
    if step_size is None:
        step_size = trajectory_length / 10
    step_size = check_real("step_size", step_size, low=0.0, low_inclusive=False)
    target_acceptance = check_fraction("target_acceptance", target_acceptance)
    max_leapfrog = check_int("max_leapfrog", max_leapfrog, 1)
    _check_leapfrog_count(trajectory_length, step_size, max_leapfrog)
    x, generator = start_chains(
        theory, n_chains, init=init, generator=generator, device=device, dtype=dtype,
        n_samples=n_samples, n_updates=n_burnin + n_samples * thin,
    )
    adapter = (
        DualAveraging(step_size, target_acceptance, lower=trajectory_length / max_leapfrog)
        if adapt_step_size
        else None
    )
    kernel = _HMCKernel(theory, x, generator, trajectory_length, adapter, step_size)
    samples, wall_time = run_chains(
        kernel,
        x,
        n_samples=n_samples,
        n_burnin=n_burnin,
        thin=thin,
        progress=progress,
        method="hmc",
        end_burnin=kernel.freeze,
    )
    result = MCMCResult(
        samples=samples,
        acceptance=kernel.accepted.item() / (kernel.n_trajectories * n_chains),
        step_size=kernel.step_size,
        n_evaluations=float(kernel.n_grad),
        wall_time=wall_time,
        method="hmc",
        info={
            "n_leapfrog": _n_leapfrog(trajectory_length, kernel.step_size),
            "trajectory_length": trajectory_length,
            "n_nan_action": int(kernel.n_nan.item()),
        },
    )
    warn_chain_quality(
        result, theory, n_nan=result.info["n_nan_action"], n_proposals=kernel.n_proposals,
        remedy="Check the theory's couplings, or run more burn-in (n_burnin) or give a "
        "smaller step_size."
    )
    return result
