"""Wolff single-cluster updates for the Ising and XY models, all chains grown at once."""

from __future__ import annotations

import math

import torch

from .._constraints import check_int
from ._mcmc_result import MCMCResult, run_chains, start_chains, warn_chain_quality
from ._spin import XY, Ising
from ._theory import LatticeTheory

__all__ = ["wolff"]


def bond_clusters(open_bonds: list[torch.Tensor]) -> torch.Tensor:
    """Label the connected components of a bond configuration on a periodic lattice.

    Parameters
    ----------
    open_bonds : list of torch.Tensor
        One bool tensor ``(batch, *shape)`` per lattice dimension ``k``: whether the bond
        between ``x`` and ``x + e_k`` (periodic) is open.

    Returns
    -------
    torch.Tensor
        ``(batch, n_sites)`` int64: for every site, the smallest row-major index of a site of
        its cluster.

    Notes
    -----
    Min-label hooking with pointer jumping (Shiloach-Vishkin style): each round hooks every
    label root onto the smallest label among the open-bond neighbours of its sites, then jumps
    pointers twice. Labels only decrease and always name a site of the same cluster, and the
    rounds stop when nothing changes; their number grows roughly like the log of the cluster
    diameter, where growing a cluster front by front takes a diameter's worth of rounds.
    """
    batch, *shape = open_bonds[0].shape
    n_sites = math.prod(shape)
    dims = range(1, len(shape) + 1)
    # Adding n_sites to the label across a closed bond takes it out of every minimum.
    penalty = [n_sites * ~bond for bond in open_bonds]
    label = torch.arange(n_sites, device=open_bonds[0].device).expand(batch, n_sites)
    while True:
        grid = label.view(batch, *shape)
        smallest = grid
        for d, pen in zip(dims, penalty):
            smallest = torch.minimum(smallest, torch.roll(grid, -1, d) + pen)
            smallest = torch.minimum(smallest, torch.roll(grid + pen, 1, d))
        new = label.scatter_reduce(1, label, smallest.view(batch, n_sites), reduce="amin")
        new = new.gather(1, new)
        new = new.gather(1, new)
        if torch.equal(new, label):
            return label
        label = new


class _WolffKernel:
    """One Wolff cluster flip per chain, for all chains at once."""

    def __init__(self, theory: Ising | XY, generator: torch.Generator, device: torch.device):
        self.theory = theory
        self.generator = generator
        self.beta = 1.0 / theory.temperature
        self.flipped = torch.zeros((), dtype=torch.int64, device=device)
        self.n_updates = 0

    def __call__(self, x: torch.Tensor, adapt: bool) -> torch.Tensor:
        batch, shape = x.shape[0], self.theory.shape
        field = x.view(batch, *shape)
        if isinstance(self.theory, XY):
            # Project on a random unit vector r = (cos a, sin a) per chain.
            axis = torch.rand(batch, generator=self.generator, device=x.device, dtype=x.dtype)
            axis = 2 * math.pi * axis.view(batch, *(1,) * len(shape))
            sigma = torch.cos(field - axis)
        else:
            sigma = field
        # Wolff tests each bond at most once, with its own uniform: drawing them all up front
        # fixes a bond configuration whose cluster through the seed is the Wolff cluster.
        open_bonds = []
        for d in range(1, len(shape) + 1):
            prob = -torch.expm1((-2 * self.beta * sigma * torch.roll(sigma, -1, d)).clamp(max=0))
            u = torch.rand(field.shape, generator=self.generator, device=x.device, dtype=x.dtype)
            open_bonds.append(u < prob)
        seed = torch.randint(
            self.theory.n_sites, (batch, 1), generator=self.generator, device=x.device
        )
        label = bond_clusters(open_bonds)
        cluster = (label == label.gather(1, seed)).view(field.shape)
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
        ``acceptance`` is 1.0 and ``step_size`` None; ``n_evaluations`` is the number of sites
        flipped by clusters per chain after burn-in (averaged over chains), and
        ``info["mean_cluster_size"]`` the mean cluster size.

    Raises
    ------
    ValueError
        For a theory other than Ising and XY, and for invalid arguments.

    Warns
    -----
    UnreliableEstimateWarning
        When the chains visited too few distinct states (a low temperature:
        :func:`~skphys.lattice.reliability.chain_problems`).

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
    n_samples = check_int("n_samples", n_samples, 1)
    n_chains = check_int("n_chains", n_chains, 1)
    n_burnin = check_int("n_burnin", n_burnin, 0)
    thin = check_int("thin", thin, 1)
    x, generator = start_chains(
        theory, n_chains, init=init, generator=generator, device=device, dtype=dtype,
        n_samples=n_samples, n_updates=n_burnin + n_samples * thin,
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
    result = MCMCResult(
        samples=samples,
        acceptance=1.0,
        step_size=None,
        n_evaluations=n_flipped / n_chains,
        wall_time=wall_time,
        method="wolff",
        info={"mean_cluster_size": n_flipped / (kernel.n_updates * n_chains)},
    )
    warn_chain_quality(result, theory, remedy="Run longer chains (n_samples, thin); at a low "
                       "temperature the chains visit few states.")
    return result
