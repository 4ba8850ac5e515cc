"""Local Metropolis updates in checkerboard order, vectorized over sites and chains."""

from __future__ import annotations

import math

import torch

from .._constraints import check_int, check_real
from ._adaptation import DualAveraging
from ._mcmc_result import (
    MCMCResult,
    check_fraction,
    run_chains,
    start_chains,
    warn_chain_quality,
)
from ._theory import LatticeTheory, checkerboard

__all__ = ["metropolis"]


class _MetropolisKernel:
    """One sweep (both checkerboard colours) of single-site Metropolis for every chain."""

    def __init__(
        self,
        theory: LatticeTheory,
        generator: torch.Generator,
        device: torch.device,
        adapter: DualAveraging | None,
        scale: float | None,
    ):
        self.theory = theory
        self.generator = generator
        self.adapter = adapter
        self.scale = scale
        if isinstance(theory, LatticeTheory):  # the checkerboard colours by default
            self.colours = theory.update_sets(device)
        else:
            odd = checkerboard(theory.shape, device)
            self.colours = (~odd, odd)
        self.accepted = torch.zeros((), dtype=torch.int64, device=device)
        self.n_nan = torch.zeros((), dtype=torch.int64, device=device)
        self.n_proposals = 0
        self.n_sweeps = 0

    def freeze(self) -> None:
        if self.adapter is not None:
            self.scale = self.adapter.final

    def _propose(self, x: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
        """``x`` with every site of ``colour`` moved, as ``(batch, n_components, n_sites)``."""
        kind = self.theory.field_type
        if kind == "spin":
            return torch.where(colour, -x, x)
        scale = self.scale
        assert scale is not None, "a proposal scale is set for every theory but spins"
        rand = torch.rand if kind == "angle" else torch.randn
        noise = rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        if kind == "angle":
            moved = torch.remainder(x + scale * math.pi * (2 * noise - 1), 2 * math.pi)
        else:
            moved = x + scale * noise
        return torch.where(colour, moved, x)

    def __call__(self, x: torch.Tensor, adapt: bool) -> torch.Tensor:
        batch, n_comp, n_sites = x.shape[0], self.theory.n_components, self.theory.n_sites
        spins = self.theory.field_type == "spin"
        field = x.view(batch, n_comp, n_sites)
        prob_sum: torch.Tensor | float = 0.0
        for colour in self.colours:
            proposal = self._propose(field, colour)
            delta = self.theory.local_action(proposal.view(batch, -1))
            delta = delta - self.theory.local_action(field.reshape(batch, -1))
            # NaN (not a diverged +-inf) at a finite proposal: the theory's; counted, rejected.
            nan = torch.isnan(delta) & colour & torch.isfinite(proposal).all(1)
            self.n_nan += nan.sum()
            self.n_proposals += batch * int(colour.sum())
            # Sites of one colour do not neighbour each other: independent decisions.
            prob = torch.sigmoid(-delta) if spins else torch.exp(-delta.clamp(min=0.0))
            prob = torch.nan_to_num(prob, nan=0.0)  # a NaN action change: rejected
            u = torch.rand(prob.shape, generator=self.generator, device=x.device, dtype=x.dtype)
            accept = (u < prob) & colour
            field = torch.where(accept[:, None, :], proposal, field)
            if not adapt:
                self.accepted += accept.sum()
            elif self.adapter is not None:
                prob_sum = prob_sum + prob[:, colour].sum()
        if not adapt:
            self.n_sweeps += 1
        elif self.adapter is not None:
            self.scale = self.adapter.update(float(prob_sum) / (batch * n_sites))
        return field.reshape(batch, -1)


def metropolis(
    theory: LatticeTheory,
    n_samples: int,
    *,
    n_chains: int = 16,
    n_burnin: int = 500,
    thin: int = 1,
    proposal_scale: float | None = None,
    target_acceptance: float = 0.5,
    adapt_proposal_scale: bool = True,
    init: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    device=None,
    dtype: torch.dtype = torch.float64,
    progress: bool = False,
) -> MCMCResult:
    """Single-site Metropolis in checkerboard order on many chains at once.

    One update is a sweep: all sites of one checkerboard colour are proposed at once, then all
    of the other. On a bipartite lattice (every extent even) sites of one colour do not
    interact, so the action changes by the sum of the per-site changes of
    ``theory.local_action`` and every site is accepted or rejected independently with
    probability ``min(1, exp(-dS_x))``. Proposals: ``theta + scale * U(-pi, pi)`` wrapped into
    ``[0, 2 pi)`` for angles; ``phi + scale * N(0, 1)`` per component for real and complex
    fields (both components of a complex site move together); a flip for spins, accepted with
    the heat-bath (Glauber) probability ``1 / (1 + exp(dS_x))`` instead. The proposal scale is
    tuned during burn-in by dual averaging so that the mean per-site acceptance probability
    approaches ``target_acceptance``, then frozen.

    Parameters
    ----------
    theory : LatticeTheory
        A theory with a ``local_action`` (all but ``IsingDual``) on a lattice with even extents.
        The sites updated together are ``theory.update_sets()``: the two checkerboard colours,
        or one site at a time for a non-local action (a learned one, ``as_theory()``, where
        the even extents are not needed).
    n_samples : int
        Samples stored per chain after burn-in.
    n_chains : int, default=16
        Independent chains, advanced together as one batch.
    n_burnin : int, default=500
        Sweeps discarded at the start (and used to adapt the proposal scale); may be 0.
    thin : int, default=1
        Sweeps between stored samples.
    proposal_scale : float, optional
        Starting (or, with ``adapt_proposal_scale=False``, fixed) proposal scale; at most 1 for
        angles, where 1 proposes uniformly on the circle. Default 1. Not used for spins.
    target_acceptance : float, default=0.5
        Per-site acceptance rate the adaptation aims at, in (0, 1).
    adapt_proposal_scale : bool, default=True
        Tune the proposal scale during burn-in (never for spins).
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
        ``acceptance`` is the fraction of accepted single-site proposals after burn-in (the
        flip rate for spins), ``step_size`` the frozen proposal scale (``None`` for spins),
        ``n_evaluations`` the single-site updates per chain after burn-in
        (``n_sweeps * n_sites``).

    Raises
    ------
    ValueError
        For a lattice with an odd extent, a theory without a local action or one whose
        local action does not have shape ``(n_chains, n_sites)``, and invalid arguments.

    Warns
    -----
    UnreliableEstimateWarning
        When the chains hardly moved or visited too few distinct states
        (:func:`~skphys.lattice.reliability.chain_problems`), and when proposals had a NaN
        action change (counted in ``info["n_nan_action"]``, and rejected).

    Notes
    -----
    Why heat-bath for spins: in a fixed sweep order the Metropolis rule flips every spin with
    zero local field for sure, so configurations in which all spins have zero field (e.g.
    alternating stripes) flip back and forth forever. The chain keeps the Boltzmann
    distribution invariant but is not ergodic, and chains that fall into such cycles bias the
    averages, visibly on small lattices. Heat-bath probabilities lie strictly between 0 and 1,
    so any set of sites of one colour can flip in one step and the chain is ergodic.

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice import Ising
    >>> from skphys.lattice.mcmc import metropolis
    >>> res = metropolis(Ising((4, 4), temperature=2.5), 100, n_chains=4, n_burnin=50,
    ...                  generator=torch.Generator().manual_seed(0))
    >>> tuple(res.samples.shape), res.step_size
    ((4, 100, 16), None)
    """
    if isinstance(theory, LatticeTheory):
        if type(theory).local_action is LatticeTheory.local_action:
            raise ValueError(
                f"metropolis needs theory.local_action, which {type(theory).__name__} does not "
                "define; use hmc"
            )
        if any(n % 2 for n in theory.shape) and (
                type(theory).update_sets is LatticeTheory.update_sets):
            raise ValueError(
                f"checkerboard Metropolis needs every lattice extent even, got shape "
                f"{theory.shape}"
            )
    n_samples = check_int("n_samples", n_samples, 1)
    n_chains = check_int("n_chains", n_chains, 1)
    n_burnin = check_int("n_burnin", n_burnin, 0)
    thin = check_int("thin", thin, 1)
    target_acceptance = check_fraction("target_acceptance", target_acceptance)
    x, generator = start_chains(
        theory, n_chains, init=init, generator=generator, device=device, dtype=dtype,
        n_samples=n_samples, n_updates=n_burnin + n_samples * thin,
    )
    _check_local_action(theory, x)
    adapter = None
    if theory.field_type == "spin":
        if proposal_scale is not None:
            raise ValueError("proposal_scale must be None for spin theories (spins are flipped)")
    else:
        upper = 1.0 if theory.field_type == "angle" else math.inf
        proposal_scale = check_real(
            "proposal_scale",
            1.0 if proposal_scale is None else proposal_scale,
            low=0.0,
            low_inclusive=False,
            high=upper,
        )
        if adapt_proposal_scale:
            adapter = DualAveraging(proposal_scale, target_acceptance, upper=upper)
    kernel = _MetropolisKernel(theory, generator, x.device, adapter, proposal_scale)
    samples, wall_time = run_chains(
        kernel,
        x,
        n_samples=n_samples,
        n_burnin=n_burnin,
        thin=thin,
        progress=progress,
        method="metropolis",
        end_burnin=kernel.freeze,
    )
    result = MCMCResult(
        samples=samples,
        acceptance=kernel.accepted.item() / (kernel.n_sweeps * n_chains * theory.n_sites),
        step_size=kernel.scale,
        n_evaluations=float(kernel.n_sweeps * theory.n_sites),
        wall_time=wall_time,
        method="metropolis",
        info={"n_nan_action": int(kernel.n_nan.item())},
    )
    warn_chain_quality(
        result, theory, n_nan=result.info["n_nan_action"], n_proposals=kernel.n_proposals,
        remedy="Check the theory's couplings, or run more burn-in (n_burnin) or give a "
        "smaller proposal_scale."
    )
    return result


def _check_local_action(theory: LatticeTheory, x: torch.Tensor) -> None:
    """The local action of the initial states must be a real tensor ``(n_chains, n_sites)``
    (once per call: a wrong shape would broadcast into wrong acceptance decisions)."""
    local = theory.local_action(x)
    name = type(theory).__name__
    if not isinstance(local, torch.Tensor) or not local.dtype.is_floating_point:
        raise TypeError(
            f"{name}.local_action(x) must return a real floating-point torch.Tensor, got "
            f"{getattr(local, 'dtype', type(local).__name__)}"
        )
    if local.shape != (x.shape[0], theory.n_sites):
        raise ValueError(
            f"{name}.local_action(x) must return shape (n_chains, n_sites) = "
            f"({x.shape[0]}, {theory.n_sites}), got {tuple(local.shape)}"
        )
