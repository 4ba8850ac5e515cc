"""skphys: scikit-learn-style machine-learning-physics estimators on PyTorch.

Subpackages
-----------
lattice
    Lattice theories, observables, exact results, statistics and reference Monte Carlo.
datasets
    Thermalized Monte Carlo configurations (Ising, XY, phi^4).
"""

from ._distiller import BottleneckDistiller, scan_latent_dim
from ._flow_sampler import FlowSampler
from ._persistence import load
from ._version import __version__
from ._translator import PhysicsTranslator
from .exceptions import NonFiniteLossError

__all__ = ["__version__", "FlowSampler", "load", "NonFiniteLossError", "PhysicsTranslator",
           "BottleneckDistiller", "scan_latent_dim"]
