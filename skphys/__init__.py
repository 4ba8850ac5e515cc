"""skphys: scikit-learn-style machine-learning-physics estimators on PyTorch.

Subpackages
-----------
lattice
    Lattice theories, observables, exact results, statistics and reference Monte Carlo.
datasets
    Thermalized Monte Carlo configurations (Ising, XY, phi^4).
flows
    Bijectors and flow densities on lattice fields (pure PyTorch).
autoregressive
    Autoregressive networks and conditionals for spins and angles (pure PyTorch).
"""

from ._autoregressive_hamiltonian import AutoregressiveHamiltonian
from ._distiller import BottleneckDistiller, scan_latent_dim
from ._flow_sampler import FlowSampler
from ._persistence import load
from ._rg_flow import RGFlow
from ._temperature_scan import heat_capacity_peak, temperature_scan
from ._version import __version__
from ._translator import PhysicsTranslator
from .exceptions import NonFiniteLossError, UnreliableEstimateWarning

__all__ = [
    "__version__",
    "FlowSampler",
    "RGFlow",
    "AutoregressiveHamiltonian",
    "PhysicsTranslator",
    "BottleneckDistiller",
    "scan_latent_dim",
    "temperature_scan",
    "heat_capacity_peak",
    "load",
    "NonFiniteLossError",
    "UnreliableEstimateWarning",
]
