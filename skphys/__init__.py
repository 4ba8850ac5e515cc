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
nn
    Recurrent translators and latent recurrences (pure PyTorch).
architectures
    The architecture objects the estimators take (also exported here).
"""

from ._autoregressive_hamiltonian import AutoregressiveHamiltonian
from ._distiller import BottleneckDistiller, scan_latent_dim
from ._flow_sampler import FlowSampler
from ._optimizer import Adam
from ._persistence import load
from ._rg_flow import RGFlow
from ._temperature_scan import heat_capacity_peak, temperature_scan
from ._translator import PhysicsTranslator
from ._version import __version__
from .architectures import (
    MADE,
    ContinuousFlow,
    CouplingBlock,
    CouplingFlow,
    GRUCell,
    LSTMCell,
    MERAFlow,
    MultiplicativeCell,
    ODEBlock,
    PixelCNN,
    RNNCell,
)
from .exceptions import NonFiniteLossError, UnreliableEstimateWarning

__all__ = [
    "__version__",
    "FlowSampler",
    "RGFlow",
    "AutoregressiveHamiltonian",
    "PhysicsTranslator",
    "BottleneckDistiller",
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "MultiplicativeCell",
    "PixelCNN",
    "MADE",
    "CouplingFlow",
    "ContinuousFlow",
    "MERAFlow",
    "CouplingBlock",
    "ODEBlock",
    "scan_latent_dim",
    "temperature_scan",
    "heat_capacity_peak",
    "Adam",
    "load",
    "NonFiniteLossError",
    "UnreliableEstimateWarning",
]
