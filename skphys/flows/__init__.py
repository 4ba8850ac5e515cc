"""Normalizing-flow building blocks for lattice fields (pure PyTorch).

Bijectors act on fields of shape ``(batch, channels, *lattice_shape)`` and return the
transformed field with ``log|det J|`` of shape ``(batch,)``.
"""

from ._activation import Tanh, tanh
from ._bijector import Bijector, Composed
from ._blocks import BlockMLP, BlockVelocity, block_coupling, block_masks, block_ode
from ._continuous import ContinuousBijector, EquivariantVelocity
from ._convnet import CircularConvNet
from ._coupling import AffineCoupling, checkerboard_mask
from ._dequantization import AffineMap, LogitMap
from ._fourier import FourierGaussian, momentum_orbits
from ._mera import MERA, level_depths, max_levels, mera_levels
from ._model import LatticeFlow, mera_flow

__all__ = [
    "Bijector",
    "Composed",
    "AffineCoupling",
    "checkerboard_mask",
    "CircularConvNet",
    "FourierGaussian",
    "LogitMap",
    "AffineMap",
    "momentum_orbits",
    "EquivariantVelocity",
    "ContinuousBijector",
    "BlockMLP",
    "BlockVelocity",
    "block_masks",
    "block_coupling",
    "block_ode",
    "MERA",
    "max_levels",
    "mera_levels",
    "level_depths",
    "LatticeFlow",
    "mera_flow",
    "tanh",
    "Tanh",
]
