"""Architecture objects: the network of each estimator as one parameter object.

An estimator takes its architecture the way ``GaussianProcessRegressor`` takes its kernel:
``FlowSampler(theory, flow=CouplingFlow(n_layers=8))``. The class of the object is the
switch between architectures; its parameters are reachable as nested estimator parameters
(``flow__n_layers``) for ``set_params``, :func:`sklearn.base.clone` and
:class:`~sklearn.model_selection.GridSearchCV`. Calling ``build`` returns the pure-PyTorch
module (from :mod:`skphys.flows`, :mod:`skphys.autoregressive`, :mod:`skphys.nn`).
"""

# autoregressive networks: AutoregressiveHamiltonian (network=)
from ._autoregressive import MADE, PixelCNN

# normalizing flows: FlowSampler (flow=CouplingFlow/ContinuousFlow), RGFlow (flow=MERAFlow)
from ._flows import ContinuousFlow, CouplingBlock, CouplingFlow, MERAFlow, ODEBlock

# recurrent cells: PhysicsTranslator (cell=)
from ._recurrent import GRUCell, LSTMCell, MultiplicativeCell, RNNCell

__all__ = [
    # autoregressive networks
    "PixelCNN",
    "MADE",
    # normalizing flows
    "CouplingFlow",
    "ContinuousFlow",
    "MERAFlow",
    "CouplingBlock",
    "ODEBlock",
    # recurrent cells
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "MultiplicativeCell",
]
