"""Wolff single-cluster updates for the Ising and XY models, all chains grown at once."""

from __future__ import annotations

import math

import torch

from ._mcmc_result import MCMCResult, check_count, run_chains, start_chains
from ._spin import XY, Ising
from ._theory import LatticeTheory

__all__ = ["wolff"]


class _WolffKernel:
    """One Wolff cluster flip per chain; every chain's cluster grows in the same loop."""

    def __init__(self, theory: Ising | XY, generator: torch.Generator, device: torch.device):
        self.theory = theory
        self.generator = generator
        self.beta = 1.0 / theory.temperature
        self.flipped = torch.zeros((), dtype=torch.int64, device=device)
        self.n_updates = 0

    def _rand(self, *size: int, like: torch.Tensor) -> torch.Tensor:
        return torch.rand(size, generator=self.generator, device=like.device, dtype=like.dtype)

    def __call__(self, x: torch.Tensor, adapt: bool) -> torch.Tensor:
        batch, shape = x.shape[0], self.theory.shape
        dims = range(1, len(shape) + 1)
        field = x.view(batch, *shape)
        if isinstance(self.theory, XY):
            # Project on a random unit vector r = (cos a, sin a) per chain.
            axis = 2 * math.pi * self._rand(batch, like=x).view(batch, *(1,) * len(shape))
            sigma = torch.cos(field - axis)
        else:
            sigma = field
        # Each bond (x, x + mu) is tested at most once per update, so one uniform per bond can be
        # drawn up front: bond[k] says whether the bond from x forward along dim k is open.
        bonds = [
            self._rand(batch, *shape, like=x)
            < -torch.expm1((-2 * self.beta * sigma * torch.roll(sigma, -1, d)).clamp(max=0.0))
            for d in dims
        ]
        seed = torch.randint(
            self.theory.n_sites, (batch,), generator=self.generator, device=x.device
        )
        cluster = torch.zeros(batch, self.theory.n_sites, dtype=torch.bool, device=x.device)
        cluster[torch.arange(batch, device=x.device), seed] = True
        cluster = cluster.view(batch, *shape)
        frontier = cluster
        while frontier.any():
            reached = torch.zeros_like(cluster)
            for d, bond in zip(dims, bonds):
                reached |= torch.roll(frontier & bond, 1, d)
                reached |= torch.roll(frontier, -1, d) & bond
            frontier = reached & ~cluster
            cluster = cluster | frontier
        if isinstance(self.theory, XY):
            flipped = torch.remainder(math.pi + 2 * axis - field, 2 * math.pi)
        else:
            flipped = -field
        if not adapt:
            self.flipped += cluster.sum()
            self.n_updates += 1
        return torch.where(cluster, flipped, field).reshape(batch, -1)


def wolff(
    theory: Ising | XY,
    n_samples: int,
    *,
    n_chains: int = 16,
    n_burnin: int = 200,
    thin: int = 1,
    init: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    device=None,
    dtype: torch.dtype = torch.float64,
    progress: bool = False,
) -> MCMCResult:
    """Wolff single-cluster updates for the Ising and XY models, on many chains at once.

    Each update picks a random seed site per chain and grows its cluster by activating the
    bond between a cluster site ``i`` and a neighbour ``j`` outside the cluster with
    probability ``1 - exp(min(0, -2 beta sigma_i sigma_j))``, where ``sigma = s`` for Ising and
    ``sigma = r . s`` for XY with a random unit vector ``r`` per chain and update; the cluster
    is then flipped (``s -> -s``, or the XY spins reflected across the line orthogonal to
    ``r``). Every bond is tested at most once, with its own uniform number, so all chains'
    clusters can grow together, front by front, until every front is empty. The update is
    rejection-free.

    Parameters
    ----------
    theory : Ising or XY
        The spin model (any lattice shape, odd extents included).
    n_samples : int
        Samples stored per chain after burn-in.
    n_chains : int, default=16
        Independent chains, advanced together as one batch.
    n_burnin : int, default=200
        Cluster updates discarded at the start; may be 0.
    thin : int, default=1
        Cluster updates between stored samples.
    init : torch.Tensor, optional
        Initial states ``(n_chains, n_features)``; default ``theory.initial_state``.
    generator : torch.Generator, optional
        Source of all randomness, on the chains' device. Without one a fresh generator with
        torch's fixed default seed is used, so every such call gives the same chains: pass a
        seeded generator for independent runs or for explicit reproducibility.
    device : str or torch.device, optional
        Default: the device of ``init``, else of ``generator``, else the CPU.
    dtype : torch.dtype, default=torch.float64
        Floating-point type of the chains.
    progress : bool, default=False
        Show a progress bar.

    Returns
    -------
    MCMCResult
        ``acceptance`` is 1.0 and ``step_size`` None; ``n_evaluations`` is the number of sites
        flipped by clusters per chain after burn-in (averaged over chains), and
        ``info["mean_cluster_size"]`` the mean cluster size.

    Raises
    ------
    ValueError
        For a theory other than Ising and XY, and for invalid arguments.

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice import Ising
    >>> from skphys.lattice.mcmc import wolff
    >>> theory = Ising((8, 8), temperature=2.0)
    >>> res = wolff(theory, 100, n_chains=4, n_burnin=50,
    ...             generator=torch.Generator().manual_seed(0))
    >>> tuple(res.samples.shape), res.acceptance
    ((4, 100, 64), 1.0)
    >>> res.info["mean_cluster_size"] > 32  # ordered phase: clusters span the lattice
    True
    """
    if isinstance(theory, LatticeTheory) and not isinstance(theory, (Ising, XY)):
        raise ValueError(
            f"wolff supports the Ising and XY models, got {type(theory).__name__}; use hmc or "
            "metropolis"
        )
    n_samples = check_count("n_samples", n_samples)
    n_chains = check_count("n_chains", n_chains)
    n_burnin = check_count("n_burnin", n_burnin, minimum=0)
    thin = check_count("thin", thin)
    x, generator = start_chains(
        theory, n_chains, init=init, generator=generator, device=device, dtype=dtype
    )
    kernel = _WolffKernel(theory, generator, x.device)
    samples, wall_time = run_chains(
        kernel,
        x,
        n_samples=n_samples,
        n_burnin=n_burnin,
        thin=thin,
        progress=progress,
        method="wolff",
    )
    n_flipped = kernel.flipped.item()
    return MCMCResult(
        samples=samples,
        acceptance=1.0,
        step_size=None,
        n_evaluations=n_flipped / n_chains,
        wall_time=wall_time,
        method="wolff",
        info={"mean_cluster_size": n_flipped / (kernel.n_updates * n_chains)},
    )
