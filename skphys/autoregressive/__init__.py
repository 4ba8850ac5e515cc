"""Autoregressive models of lattice configurations (pure PyTorch).

:math:`q(x) = \\prod_i q(x_i \\mid x_{<i})` in row-major site order, with exact
``log_prob`` and sequential sampling: masked networks (:class:`MADENetwork`,
:class:`PixelCNNNetwork`) give the parameters of per-site conditionals (:class:`Bernoulli` for
spins, :class:`BetaMixture` for angles, :class:`NormalMixture` for real fields), assembled
by :class:`AutoregressiveModel`. The
estimator-level architecture objects that build these models are :class:`skphys.PixelCNN`
and :class:`skphys.MADE`.
"""

from ._conditionals import Bernoulli, BetaMixture, NormalMixture, sample_log_gamma
from ._made import MADENetwork, MaskedLinear
from ._model import AutoregressiveModel
from ._pixelcnn import MaskedConv2d, PixelCNNNetwork

__all__ = [
    "AutoregressiveModel",
    "MADENetwork",
    "MaskedLinear",
    "PixelCNNNetwork",
    "MaskedConv2d",
    "Bernoulli",
    "BetaMixture",
    "NormalMixture",
    "sample_log_gamma",
]
