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
preprocessing
    Dequantization, bits per dimension and RG-level selection for image data.
"""

import importlib
from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:  # for type checkers; at run time each name is imported on first use
    from ._autoregressive_hamiltonian import AutoregressiveHamiltonian
    from ._couplings import coupling_terms, learned_couplings
    from ._distiller import BottleneckDistiller, scan_latent_dim
    from ._flow_sampler import FlowSampler
    from ._learned_theory import LearnedAction
    from ._optimizer import Adam
    from ._persistence import load
    from ._rg_flow import RGFlow
    from ._temperature_scan import coupling_scan, heat_capacity_peak, temperature_scan
    from ._translator import PhysicsTranslator
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
    from .exceptions import InvalidModelFileError, NonFiniteLossError, UnreliableEstimateWarning

# ``import skphys`` stays light (no torch), so that ``skphys --help`` is fast: the public
# names below are imported from their modules on first use (PEP 562).
_LAZY = {
    "AutoregressiveHamiltonian": "._autoregressive_hamiltonian",
    "BottleneckDistiller": "._distiller",
    "scan_latent_dim": "._distiller",
    "FlowSampler": "._flow_sampler",
    "learned_couplings": "._couplings",
    "coupling_terms": "._couplings",
    "LearnedAction": "._learned_theory",
    "Adam": "._optimizer",
    "load": "._persistence",
    "RGFlow": "._rg_flow",
    "heat_capacity_peak": "._temperature_scan",
    "temperature_scan": "._temperature_scan",
    "coupling_scan": "._temperature_scan",
    "PhysicsTranslator": "._translator",
    **dict.fromkeys(("MADE", "ContinuousFlow", "CouplingBlock", "CouplingFlow", "GRUCell",
                     "LSTMCell", "MERAFlow", "MultiplicativeCell", "ODEBlock", "PixelCNN",
                     "RNNCell"), ".architectures"),
    "NonFiniteLossError": ".exceptions",
    "UnreliableEstimateWarning": ".exceptions",
    "InvalidModelFileError": ".exceptions",
}
_SUBPACKAGES = ("lattice", "datasets", "flows", "autoregressive", "nn", "architectures",
                "preprocessing")


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_SUBPACKAGES})


__all__ = [
    "__version__",
    "FlowSampler",
    "RGFlow",
    "AutoregressiveHamiltonian",
    "LearnedAction",
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
    "learned_couplings",
    "coupling_terms",
    "temperature_scan",
    "coupling_scan",
    "heat_capacity_peak",
    "Adam",
    "load",
    "NonFiniteLossError",
    "UnreliableEstimateWarning",
    "InvalidModelFileError",
]
