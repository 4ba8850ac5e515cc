"""skphys: scikit-learn-style machine-learning-physics estimators on PyTorch.

Subpackages
-----------
lattice
    Lattice theories, observables, exact results, statistics and reference Monte Carlo.
datasets
    Thermalized Monte Carlo configurations (Ising, XY, phi^4).
"""

from ._flow_sampler import FlowSampler
from ._persistence import load
from ._version import __version__
from .exceptions import NonFiniteLossError

__all__ = ["__version__", "FlowSampler", "load", "NonFiniteLossError"]
