"""Recurrent cells of :class:`skphys.PhysicsTranslator` (its ``cell`` parameter).

Each cell is an architecture object: it holds the cell's own settings (hidden width, readout
rows), and calling it (``cell()`` or ``cell.build()``) returns a new
:class:`skphys.nn.RecurrentTranslator` with that core. The class is the switch between cores.
"""

from __future__ import annotations

from typing import ClassVar

from .._constraints import Integer
from .._docstrings import fill_doc
from .._parameter_object import Architecture
from ..nn import RecurrentTranslator

__all__ = ["GRUCell", "LSTMCell", "RNNCell", "MultiplicativeCell"]


_PARAMETERS = """Parameters
    ----------
    hidden_channels : int, default={hidden_channels}
        Dimension of the hidden state.
    n_readout : int, default=2
        Rows of the quadratic readout :math:`r_i = \\lVert U h_i + c\\rVert^2`."""


class _RecurrentCell(Architecture):
    """Shared implementation of the translator's cells (``_core`` names the torch core)."""

    _core: ClassVar[str]
    _parameter_constraints = {
        "hidden_channels": Integer(1),
        "n_readout": Integer(1),
    }

    def __init__(self, *, hidden_channels: int = 16, n_readout: int = 2):
        self.hidden_channels = hidden_channels
        self.n_readout = n_readout

    def build(self) -> RecurrentTranslator:
        """A new :class:`skphys.nn.RecurrentTranslator` with this core (not yet initialized
        from the estimator's generator)."""
        return RecurrentTranslator(self._core, self.hidden_channels, self.n_readout)


@fill_doc(parameters=_PARAMETERS.format(hidden_channels=16))
class GRUCell(_RecurrentCell):
    """Gated recurrent unit (:class:`torch.nn.GRU`).

    {parameters}

    Examples
    --------
    >>> from skphys import PhysicsTranslator
    >>> from skphys.architectures import GRUCell
    >>> net = GRUCell(hidden_channels=8).build()
    >>> type(net.core).__name__, net.hidden_channels
    ('GRU', 8)
    >>> PhysicsTranslator(GRUCell(hidden_channels=8)).get_params()["cell__hidden_channels"]
    8
    """

    _core = "gru"


@fill_doc(parameters=_PARAMETERS.format(hidden_channels=16))
class LSTMCell(_RecurrentCell):
    """Long short-term memory (:class:`torch.nn.LSTM`); its hidden states are the outputs
    ``h`` (the cell state also starts from a learned vector at the wall).

    {parameters}

    Examples
    --------
    >>> import torch
    >>> from skphys.architectures import LSTMCell
    >>> net = LSTMCell(hidden_channels=4)()
    >>> r, hidden, (h, c) = net(torch.zeros(2, 7))
    >>> r.shape, hidden.shape, c.shape
    (torch.Size([2, 7]), torch.Size([2, 7, 4]), torch.Size([1, 2, 4]))
    """

    _core = "lstm"


@fill_doc(parameters=_PARAMETERS.format(hidden_channels=16))
class RNNCell(_RecurrentCell):
    """Elman recurrent cell with a tanh nonlinearity (:class:`torch.nn.RNN`).

    {parameters}

    Examples
    --------
    >>> from skphys.architectures import RNNCell
    >>> net = RNNCell(hidden_channels=5, n_readout=1).build()
    >>> type(net.core).__name__, net.readout.out_features
    ('RNN', 1)
    """

    _core = "rnn"


@fill_doc(parameters=_PARAMETERS.format(hidden_channels=2))
class MultiplicativeCell(_RecurrentCell):
    r"""Linear multiplicative cell :math:`h_i = (W_0 + V_i W_1)\,h_{i-1}` (the seed talk's): the
    default cell of :class:`skphys.PhysicsTranslator`.

    Its step is affine in the potential, the form of the transfer matrix of the discrete
    Schrödinger recursion (conventions §7, :class:`skphys.nn.MultiplicativeRNN`); with a
    two-dimensional state, the size of that transfer matrix (the default), it can represent
    the recursion exactly.

    {parameters}

    Examples
    --------
    >>> from skphys import PhysicsTranslator
    >>> from skphys.architectures import MultiplicativeCell
    >>> net = MultiplicativeCell().build()
    >>> tuple(net.core.weight.shape)
    (2, 2)

    It is the translator's default, which trains it in float64 with an L-BFGS refinement (see
    :class:`skphys.PhysicsTranslator`):

    >>> PhysicsTranslator().cell == MultiplicativeCell()
    True
    """

    _core = "multiplicative"

    def __init__(self, *, hidden_channels: int = 2, n_readout: int = 2):
        super().__init__(hidden_channels=hidden_channels, n_readout=n_readout)
