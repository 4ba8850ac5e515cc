"""Lattice theories, observables, exact results, statistics and reference Monte Carlo.

Pure PyTorch / NumPy: nothing in this package depends on scikit-learn.

Submodules
----------
observables
    Batched observables (magnetization, susceptibility, correlators, XY vortices, ...).
exact
    Exact results: Kaufman's finite-lattice Ising partition function, Gaussian fields,
    the Ising dual, Onsager's infinite-volume values, the 0+1D path integral.
stats
    Gamma-method autocorrelation, errors of means, bootstrap, jackknife, ESS.
mcmc
    Reference Monte Carlo: HMC, local Metropolis, Wolff cluster updates.
reliability
    When an error bar can be trusted: the thresholds for importance weights and Markov
    chains, and the warning every estimate gives when one is crossed.
"""

from . import exact, mcmc, observables, reliability, stats  # public submodules
from ._complex import ComplexPhi4
from ._ising_dual import IsingDual
from ._path_integral import PathIntegral
from ._prediction import PredictedAction, predict_action, prediction_coefficients
from ._scalar import FreeScalar, Phi4
from ._spin import XY, Ising
from ._symmetry import lattice_symmetries, random_symmetry_transform
from ._theory import THEORIES as _THEORIES
from ._theory import LatticeTheory

THEORIES = _THEORIES
"""Read-only mapping of every :class:`LatticeTheory` subclass defined so far, filled when each
class is defined: keys ``"module.qualname"`` (e.g. ``"skphys.lattice._scalar.Phi4"``), and a
bare class name (``"Phi4"``) is accepted when it is unambiguous. :func:`skphys.load` rebuilds
saved theories from it and never imports a module."""

__all__ = [
    "LatticeTheory",
    "Phi4",
    "FreeScalar",
    "ComplexPhi4",
    "XY",
    "Ising",
    "IsingDual",
    "PathIntegral",
    "PredictedAction",
    "predict_action",
    "prediction_coefficients",
    "lattice_symmetries",
    "random_symmetry_transform",
    "THEORIES",
    "exact",
    "mcmc",
    "observables",
    "reliability",
    "stats",
]
