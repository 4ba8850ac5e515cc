"""Lattice theories, observables, exact results, statistics and reference Monte Carlo.

Pure PyTorch / NumPy: nothing in this package depends on scikit-learn.

Submodules
----------
observables
    Batched observables (magnetization, susceptibility, correlators, XY vortices, ...).
exact
    Exact results: Kaufman's finite-lattice Ising partition function, Gaussian fields,
    the Ising dual, Onsager's infinite-volume values.
stats
    Gamma-method autocorrelation, errors of means, bootstrap, jackknife, ESS.
mcmc
    Reference Monte Carlo: HMC, local Metropolis, Wolff cluster updates.
"""

from ._complex import ComplexPhi4
from ._ising_dual import IsingDual
from ._scalar import FreeScalar, Phi4
from ._spin import XY, Ising
from ._theory import LatticeTheory

from . import exact, mcmc, observables, stats  # public submodules

THEORIES = {cls.__name__: cls for cls in (Phi4, FreeScalar, ComplexPhi4, XY, Ising, IsingDual)}
"""Registry of the theories by class name (used to rebuild saved estimators safely)."""

__all__ = [
    "LatticeTheory",
    "Phi4",
    "FreeScalar",
    "ComplexPhi4",
    "XY",
    "Ising",
    "IsingDual",
    "THEORIES",
    "exact",
    "mcmc",
    "observables",
    "stats",
]
