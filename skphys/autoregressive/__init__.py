"""Autoregressive models of lattice configurations (pure PyTorch).

:math:`q(x) = \\prod_i q(x_i \\mid x_{<i})` in row-major site order, with exact
``log_prob`` and sequential sampling: masked networks (:class:`MADE`, :class:`PixelCNN`) give
the parameters of per-site conditionals (:class:`Bernoulli` for spins, :class:`BetaMixture`
for angles), assembled by :class:`AutoregressiveModel`.
"""

from ._conditionals import Bernoulli, BetaMixture, sample_log_gamma
from ._made import MADE, MaskedLinear
from ._model import AutoregressiveModel
from ._pixelcnn import MaskedConv2d, PixelCNN

__all__ = [
    "AutoregressiveModel",
    "MADE",
    "MaskedLinear",
    "PixelCNN",
    "MaskedConv2d",
    "Bernoulli",
    "BetaMixture",
    "sample_log_gamma",
]
