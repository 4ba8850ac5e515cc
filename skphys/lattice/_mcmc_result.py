"""The result of a reference Monte Carlo run, and the chain bookkeeping all samplers share.

:func:`~skphys.lattice.mcmc.hmc`, :func:`~skphys.lattice.mcmc.metropolis` and
:func:`~skphys.lattice.mcmc.wolff` validate their arguments, start their chains, run burn-in
(with adaptation) and production, and package the chains the same way; this module holds that
common part and the :class:`MCMCResult` they return.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Real

import torch
from tqdm.auto import tqdm

from .._constraints import check_memory
from .._torch_utils import resolve_device
from ..exceptions import UnreliableEstimateWarning
from . import reliability
from ._theory import LatticeTheory

__all__ = ["MCMCResult"]


class ChainQualityWarning(UnreliableEstimateWarning):
    """A sampler's chains hardly moved or visited few distinct states (the thresholds of
    :mod:`skphys.lattice.reliability`); a caller that checks its chains itself, such as the
    command line's tables, may silence exactly this warning."""


@dataclass
class MCMCResult:
    """Markov chains drawn by :func:`hmc`, :func:`metropolis` or :func:`wolff`.

    Attributes
    ----------
    samples : torch.Tensor
        Shape ``(n_chains, n_samples, n_features)``: chain-major, so that ``samples[c]`` is the
        time series of chain ``c`` (what autocorrelation analysis wants).
    acceptance : float
        Mean acceptance after burn-in: of trajectories (HMC), of single-site proposals
        (Metropolis), ``1.0`` for Wolff cluster flips.
    step_size : float or None
        The frozen HMC leapfrog step or Metropolis proposal scale; ``None`` for Wolff and for
        spin flips.
    n_evaluations : float
        Cost per chain after burn-in, in the natural unit of the method: gradient evaluations
        (HMC), single-site updates, ``n_sweeps * n_sites`` (Metropolis), sites flipped by
        clusters, averaged over chains (Wolff).
    wall_time : float
        Seconds spent after burn-in (production only).
    method : str
        ``"hmc"``, ``"metropolis"`` or ``"wolff"``.
    info : dict
        Method-specific extras: ``n_leapfrog`` and ``trajectory_length`` (HMC),
        ``mean_cluster_size`` (Wolff); ``n_nan_action`` (HMC, Metropolis): proposals whose
        action (change) was NaN at a finite configuration, rejected and warned about.

    Examples
    --------
    >>> import torch
    >>> from skphys.lattice import Ising
    >>> from skphys.lattice.mcmc import wolff
    >>> res = wolff(Ising((4, 4), temperature=2.5), 20, n_chains=3, n_burnin=5,
    ...             generator=torch.Generator().manual_seed(0))
    >>> tuple(res.samples.shape), tuple(res.flat().shape)
    ((3, 20, 16), (60, 16))
    """

    samples: torch.Tensor
    acceptance: float
    step_size: float | None
    n_evaluations: float
    wall_time: float
    method: str
    info: dict = field(default_factory=dict)

    @property
    def n_chains(self) -> int:
        """Number of chains."""
        return self.samples.shape[0]

    @property
    def n_samples(self) -> int:
        """Number of stored samples per chain."""
        return self.samples.shape[1]

    def flat(self) -> torch.Tensor:
        """All samples as rows, ``(n_chains * n_samples, n_features)``, chain after chain."""
        return self.samples.reshape(-1, self.samples.shape[-1])


# -- argument checks shared by the samplers ------------------------------------------------------
#: Most updates (burn-in plus production) one call runs per chain: beyond it a run takes days
#: even at a microsecond per update, which is always a mistake in ``n_samples``, ``thin`` or
#: ``n_burnin`` rather than a plan.
MAX_UPDATES = 10**9


def check_run_size(n_chains: int, n_samples: int, n_updates: int, n_features: int,
                   dtype: torch.dtype, device: torch.device) -> None:
    """Refuse, before allocating, a run whose stored samples exceed the device's memory or
    that would run more than :data:`MAX_UPDATES` updates per chain."""
    if n_updates > MAX_UPDATES:
        raise ValueError(
            f"n_burnin + n_samples * thin = {n_updates:.3g} updates per chain is more than "
            f"{MAX_UPDATES:.0e} (days of work): use a smaller n_samples, thin or n_burnin"
        )
    itemsize = torch.empty((), dtype=dtype).element_size()
    check_memory(float(n_chains) * (n_samples + 4) * n_features * itemsize, device,
                 f"n_chains={n_chains} chains of n_samples={n_samples} samples of "
                 f"{n_features} values", "use a smaller n_samples or n_chains")


def check_fraction(name: str, value) -> float:
    """Return ``value`` as a float in the open interval (0, 1), or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    fraction = float(value)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {value!r}")
    return fraction


def start_chains(
    theory: LatticeTheory,
    n_chains: int,
    *,
    init: torch.Tensor | None,
    generator: torch.Generator | None,
    device,
    dtype: torch.dtype,
    n_samples: int = 1,
    n_updates: int = 1,
) -> tuple[torch.Tensor, torch.Generator]:
    """Validate the chain set-up and return the initial states and the generator to use.

    The device is ``device`` if given, else that of ``init``, else that of ``generator``, else
    the CPU. Without a ``generator`` a fresh ``torch.Generator`` with a non-deterministic seed
    is created (the global RNG is never touched). ``n_samples`` stored and ``n_updates`` run
    per chain are checked by :func:`check_run_size` before anything is allocated.
    """
    if not isinstance(theory, LatticeTheory):
        raise TypeError(f"theory must be a LatticeTheory, got {type(theory).__name__}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    if init is not None and not isinstance(init, torch.Tensor):
        raise TypeError(f"init must be a torch.Tensor or None, got {type(init).__name__}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {generator!r}")
    if device is not None:
        device = resolve_device(device)  # the library's check: a ValueError naming it
    elif init is not None:
        device = init.device
    elif generator is not None:
        device = generator.device
    else:
        device = torch.device("cpu")
    check_run_size(n_chains, n_samples, n_updates, theory.n_features, dtype, device)
    if generator is None:
        generator = torch.Generator(device=device)
        generator.seed()  # non-deterministic, like numpy's default_rng(None)
    elif generator.device.type != device.type:
        raise ValueError(
            f"generator lives on {generator.device} but the chains run on {device}; "
            "pass a torch.Generator(device=...) on the same device"
        )
    if init is None:
        x = theory.initial_state(n_chains, generator=generator, device=device, dtype=dtype)
    else:
        if init.shape != (n_chains, theory.n_features):
            raise ValueError(
                f"init must have shape (n_chains, n_features) = ({n_chains}, "
                f"{theory.n_features}), got {tuple(init.shape)}"
            )
        x = init.detach().to(device=device, dtype=dtype).clone()
        if not torch.isfinite(x).all():
            raise ValueError("init must contain only finite values")
        if theory.field_type == "spin" and not (x.abs() == 1).all():
            raise ValueError("init of a spin theory must contain only +1.0 and -1.0")
    return theory.canonicalize(x), generator


def run_chains(
    update: Callable[[torch.Tensor, bool], torch.Tensor],
    x: torch.Tensor,
    *,
    n_samples: int,
    n_burnin: int,
    thin: int,
    progress: bool,
    method: str,
    end_burnin: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, float]:
    """Run ``n_burnin`` adaptive updates, then ``n_samples * thin`` frozen ones.

    ``update(x, adapt)`` advances all chains by one update. ``end_burnin`` (if given) is called
    between the two phases, e.g. to freeze a step size. Every ``thin``-th production state is
    stored. Returns the samples ``(n_chains, n_samples, n_features)`` and the production wall
    time in seconds.
    """
    samples = x.new_empty(x.shape[0], n_samples, x.shape[1])
    with tqdm(total=n_burnin + n_samples * thin, disable=not progress, desc=method) as bar:
        for _ in range(n_burnin):
            x = update(x, True)
            bar.update()
        if end_burnin is not None:
            end_burnin()
        _synchronize(x.device)
        start = time.perf_counter()
        for i in range(n_samples):
            for _ in range(thin):
                x = update(x, False)
            samples[:, i] = x
            bar.update(thin)
        _synchronize(x.device)
        wall_time = time.perf_counter() - start
    return samples, wall_time


def _synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work, so that wall times measure the computation."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _distinct_rows(samples: torch.Tensor) -> int:
    """Number of distinct configurations among ``samples`` ``(..., n_features)``.

    Rows are compared through one fixed random projection (distinct states of a continuous or
    spin field project to distinct numbers but for a measure-zero set), which costs one
    matrix-vector product and a sort of ``n`` numbers instead of a sort of the rows.
    """
    rows = samples.reshape(-1, samples.shape[-1]).to(torch.float64)
    weights = torch.rand(rows.shape[1], generator=torch.Generator().manual_seed(0),
                         dtype=torch.float64).to(rows.device) + 0.5
    return int(torch.unique(rows @ weights).numel())


def warn_chain_quality(result: MCMCResult, theory: LatticeTheory, *, remedy: str,
                       n_nan: int = 0, n_proposals: int = 0) -> None:
    """Warn (:class:`~skphys.UnreliableEstimateWarning`, through
    :mod:`skphys.lattice.reliability`) when the chains of ``result`` cannot support error
    bars: they hardly moved or visited few distinct states (the distinct-state check only
    once at least ``MIN_DISTINCT_STATES`` samples are stored); separately, when ``n_nan`` of
    ``n_proposals`` proposals had a NaN action and were rejected."""
    n_stored = result.n_chains * result.n_samples
    n_distinct = (_distinct_rows(result.samples)
                  if n_stored >= reliability.MIN_DISTINCT_STATES else None)
    problems = reliability.chain_problems(
        acceptance=result.acceptance, n_distinct=n_distinct,
        n_states=reliability.state_count(theory))
    reliability.warn_unreliable(problems, f"averages over these {result.method} chains",
                                remedy, stacklevel=3, category=ChainQualityWarning)
    if n_nan:
        reliability.warn_unreliable(
            [f"{n_nan} of {n_proposals} proposals had a NaN action at a finite configuration "
             f"and were rejected"],
            f"averages over these {result.method} chains of {type(theory).__name__}",
            "The chains sample exp(-S) only where the action is a number: check the "
            "theory's action.", stacklevel=3)
