"""Thermalized, decorrelated Monte Carlo configurations of the reference lattice models."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from numbers import Integral
from pathlib import Path
from typing import cast

import numpy as np
import torch
from sklearn.utils import check_random_state

from .._constraints import check_int
from .._io import atomic_write
from .._torch_utils import seed_from
from .._version import __version__
from ..lattice import XY, Ising, IsingDual, LatticeTheory, Phi4
from ..lattice.mcmc import hmc, wolff
from ..lattice.observables import abs_magnetization, energy_per_site
from ..lattice.stats import tau_int

__all__ = ["make_ising", "make_xy", "make_phi4"]

_N_CHAINS = 8
_BURNIN = 200
_PILOT = 200


def _check_temperatures(temperatures) -> np.ndarray:
    t = np.atleast_1d(np.asarray(temperatures, dtype=np.float64))
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"temperatures must be a number or a 1-D sequence, got {temperatures!r}")
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError(f"temperatures must be finite and > 0, got {temperatures!r}")
    return t


def _spacing(chains: torch.Tensor, theory: LatticeTheory) -> int:
    """Updates between stored samples: at least twice the largest tau_int of ``|m|`` and energy."""
    rows = chains.reshape(-1, chains.shape[-1])
    # observables of a tensor are tensors
    series = [
        cast(torch.Tensor, abs_magnetization(rows)).reshape(chains.shape[:2]),
        cast(torch.Tensor, energy_per_site(theory, rows)).reshape(chains.shape[:2]),
    ]
    tau = max(tau_int(s.cpu().numpy()).tau for s in series)
    return max(1, math.ceil(2 * tau))


def _sample_decorrelated(
    theory: LatticeTheory,
    n_samples: int,
    generator: torch.Generator,
    *,
    sampler: Callable,
    freeze: Callable = lambda pilot: {},
) -> np.ndarray:
    """Burn in, measure tau_int on a pilot run, then keep samples spaced by >= 2 tau_int.

    ``freeze(pilot)`` gives the production run the settings adapted during the pilot run (the
    HMC step size).
    """
    n_per_chain = math.ceil(n_samples / _N_CHAINS)
    pilot = sampler(theory, _PILOT, n_chains=_N_CHAINS, n_burnin=_BURNIN, generator=generator)
    production = sampler(
        theory,
        n_per_chain,
        n_chains=_N_CHAINS,
        n_burnin=0,
        thin=_spacing(pilot.samples, theory),
        init=pilot.samples[:, -1],
        generator=generator,
        **freeze(pilot),
    )
    return production.flat()[:n_samples].cpu().numpy()


def _frozen_step_size(pilot) -> dict:
    return {"step_size": pilot.step_size, "adapt_step_size": False}


def _cached(name: str, params: dict, random_state, cache_dir, compute: Callable):
    """Return ``compute()``, read from / written to ``cache_dir`` when the seed is an int."""
    if cache_dir is None or not isinstance(random_state, Integral):
        return compute()
    key = json.dumps({"name": name, "params": params, "seed": int(random_state),
                      "version": __version__}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{name}-{digest}.npz"
    if path.exists():
        with np.load(path) as stored:
            return tuple(stored[k] for k in sorted(stored.files))
    arrays = compute()
    with atomic_write(path) as f:
        np.savez(f, **{f"a{i}": a for i, a in enumerate(arrays)})
    return arrays


def _make_spin_data(name, theory_cls, shape, temperatures, n_samples, random_state, cache_dir):
    temperatures = _check_temperatures(temperatures)
    n_samples = check_int("n_samples", n_samples, 1)
    theories = [theory_cls(shape, temperature=float(t)) for t in temperatures]

    def compute():
        generator = torch.Generator().manual_seed(seed_from(check_random_state(random_state)))
        X = np.concatenate(
            [_sample_decorrelated(th, n_samples, generator, sampler=wolff) for th in theories]
        )
        return X, np.repeat(temperatures, n_samples)

    params = {"shape": list(theories[0].shape), "temperatures": temperatures.tolist(),
              "n_samples": n_samples}
    return _cached(name, params, random_state, cache_dir, compute)


def make_ising(shape, temperatures, n_samples, random_state=None, *, cache_dir=None):
    """Equilibrium Ising configurations at one or several temperatures.

    Wolff cluster updates on 8 chains per temperature: a burn-in of 200 cluster updates, a
    pilot run measuring the integrated autocorrelation time of ``|m|`` and of the energy, then
    samples kept every ``ceil(2 tau_int)`` updates, so successive rows of a chain are
    decorrelated.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents (periodic).
    temperatures : float or sequence of float
        Temperatures (J = k_B = 1).
    n_samples : int
        Configurations per temperature.
    random_state : int, RandomState instance or None
        Seeds the sampler's own generator; the global RNGs are not used.
    cache_dir : str or path-like, optional
        If given and ``random_state`` is an int, the result is stored in (and later read from)
        this folder; files are written atomically.

    Returns
    -------
    X : ndarray of shape (len(temperatures) * n_samples, n_sites)
        Spins +1.0 / -1.0, rows in row-major site order, grouped by temperature.
    T : ndarray of shape (len(temperatures) * n_samples,)
        The temperature of each row.

    Examples
    --------
    >>> from skphys.datasets import make_ising
    >>> X, T = make_ising((4, 4), [1.5, 3.0], n_samples=10, random_state=0)
    >>> X.shape, sorted(set(T.tolist()))
    ((20, 16), [1.5, 3.0])
    """
    return _make_spin_data("ising", Ising, shape, temperatures, n_samples, random_state,
                           cache_dir)


def make_ising_dual(shape, temperatures, n_samples, random_state=None, *, cache_dir=None):
    """Equilibrium configurations of the continuous Ising dual field
    (:class:`~skphys.lattice.IsingDual`).

    Ising spins from :func:`make_ising`, each mapped to one field drawn from
    :math:`x \\mid s \\sim N(Cs, C)` (:meth:`~skphys.lattice.IsingDual.sample_field`): exact
    samples of the dual field's law, as decorrelated as the spins.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents (periodic).
    temperatures : float or sequence of float
        Temperatures (J = k_B = 1).
    n_samples : int
        Configurations per temperature.
    random_state : int, RandomState instance or None
        Seeds the spins' sampler and the fields' noise; the global RNGs are not used.
    cache_dir : str or path-like, optional
        On-disk cache of the spins, as in :func:`make_ising`.

    Returns
    -------
    X : ndarray of shape (len(temperatures) * n_samples, n_sites)
        Dual fields, grouped by temperature.
    T : ndarray of shape (len(temperatures) * n_samples,)
        The temperature of each row.

    Examples
    --------
    >>> from skphys.datasets import make_ising_dual
    >>> X, T = make_ising_dual((4, 4), [2.0, 3.0], n_samples=5, random_state=0)
    >>> X.shape, X.dtype
    ((10, 16), dtype('float64'))
    """
    rng = check_random_state(random_state)
    spins, T = make_ising(shape, temperatures, n_samples, int(rng.randint(2**31 - 1)),
                          cache_dir=cache_dir)
    generator = torch.Generator().manual_seed(seed_from(rng))
    X = np.empty_like(spins)
    for t in dict.fromkeys(T.tolist()):  # the temperatures in their order
        rows = T == t
        X[rows] = IsingDual(tuple(shape), temperature=t).sample_field(
            torch.as_tensor(spins[rows]), generator=generator).numpy()
    return X, T


def make_xy(shape, temperatures, n_samples, random_state=None, *, cache_dir=None):
    """Equilibrium XY configurations (angles in [0, 2 pi)) at one or several temperatures.

    Wolff cluster updates with random reflection axes, thermalized and thinned exactly as in
    :func:`make_ising`.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents (periodic).
    temperatures : float or sequence of float
        Temperatures (J = k_B = 1).
    n_samples : int
        Configurations per temperature.
    random_state : int, RandomState instance or None
        Seeds the sampler's own generator.
    cache_dir : str or path-like, optional
        On-disk cache, as in :func:`make_ising`.

    Returns
    -------
    X : ndarray of shape (len(temperatures) * n_samples, n_sites)
        Angles, grouped by temperature.
    T : ndarray of shape (len(temperatures) * n_samples,)
        The temperature of each row.

    Examples
    --------
    >>> from skphys.datasets import make_xy
    >>> X, T = make_xy((4, 4), 0.9, n_samples=5, random_state=0)
    >>> X.shape, bool(((X >= 0) & (X < 6.2832)).all())
    ((5, 16), True)
    """
    return _make_spin_data("xy", XY, shape, temperatures, n_samples, random_state, cache_dir)


def make_phi4(shape, m2, lam, n_samples, random_state=None, *, cache_dir=None):
    """Equilibrium configurations of real phi^4 theory (Albergo convention).

    HMC on 8 chains with the step size tuned in burn-in and then frozen; samples are kept every
    ``ceil(2 tau_int)`` trajectories (tau_int of ``|m|`` and of the action per site, measured on a
    pilot run).

    Parameters
    ----------
    shape : tuple of int
        Lattice extents (periodic).
    m2, lam : float
        Parameters of :class:`skphys.lattice.Phi4`.
    n_samples : int
        Number of configurations.
    random_state : int, RandomState instance or None
        Seeds the sampler's own generator.
    cache_dir : str or path-like, optional
        On-disk cache, as in :func:`make_ising`.

    Returns
    -------
    X : ndarray of shape (n_samples, n_sites)

    Examples
    --------
    >>> from skphys.datasets import make_phi4
    >>> make_phi4((4, 4), m2=-4.0, lam=8.0, n_samples=6, random_state=0).shape
    (6, 16)
    """
    theory = Phi4(shape, m2=m2, lam=lam)
    n_samples = check_int("n_samples", n_samples, 1)

    def compute():
        generator = torch.Generator().manual_seed(seed_from(check_random_state(random_state)))
        return (
            _sample_decorrelated(
                theory, n_samples, generator, sampler=hmc, freeze=_frozen_step_size
            ),
        )

    params = {"shape": list(theory.shape), "m2": theory.m2, "lam": theory.lam,
              "n_samples": n_samples}
    (X,) = _cached("phi4", params, random_state, cache_dir, compute)
    return X
