"""Causal recurrent networks that translate a potential sequence into a density sequence.

Pure torch: nothing here knows of scikit-learn. A translator reads the potential site by site
from the left wall, ``h_i = cell(V_i, h_{i-1})``, and reads the (unnormalized) density out of
each hidden state, ``r_i = P(h_i)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["CELLS", "MultiplicativeRNN", "RecurrentTranslator"]

#: recurrent cells a :class:`RecurrentTranslator` can use
CELLS = ("rnn", "gru", "lstm", "multiplicative")


class MultiplicativeRNN(nn.Module):
    r"""Linear recurrence whose step matrix depends on the input: :math:`h_i = W(v_i)\,h_{i-1}`.

    :math:`W(v) = W_0 + v\,W_1` is affine in the input, the form of the transfer matrix of a
    discretized second-order linear equation (conventions §7). :math:`W_0` starts at the
    identity, so a fresh network neither blows up nor kills the state over long sequences.

    Parameters
    ----------
    hidden_channels : int
        Dimension of the state.

    Examples
    --------
    >>> import torch
    >>> from skphys.nn import MultiplicativeRNN
    >>> cell = MultiplicativeRNN(3)
    >>> cell.reset_parameters(torch.Generator().manual_seed(0))
    >>> hs, last = cell(torch.zeros(2, 5), torch.ones(2, 3))
    >>> hs.shape, bool(torch.equal(hs[:, -1], last))
    (torch.Size([2, 5, 3]), True)
    """

    def __init__(self, hidden_channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(hidden_channels, hidden_channels))
        self.weight_v = nn.Parameter(torch.empty(hidden_channels, hidden_channels))

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        bound = 0.1 / math.sqrt(self.weight.shape[0])
        with torch.no_grad():
            nn.init.uniform_(self.weight, -bound, bound, generator=generator)
            self.weight.add_(torch.eye(self.weight.shape[0]))
            nn.init.uniform_(self.weight_v, -bound, bound, generator=generator)

    def step_matrices(self, v: torch.Tensor) -> torch.Tensor:
        """:math:`W(v)` for every entry of ``v``: shape ``v.shape + (hidden, hidden)``."""
        return self.weight + v[..., None, None] * self.weight_v

    def forward(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run over ``v`` of shape (batch, length) from ``h`` (batch, hidden).

        Returns the states (batch, length, hidden) and the last state.
        """
        matrices = self.step_matrices(v)
        states = []
        for i in range(v.shape[1]):
            h = (matrices[:, i] @ h[..., None])[..., 0]
            states.append(h)
        return torch.stack(states, 1), h


class RecurrentTranslator(nn.Module):
    r"""Potential-to-density translator: a causal recurrent core and a quadratic readout.

    The state starts from a learned vector :math:`h_{-1}` at the left wall. The readout
    :math:`r_i = \lVert U h_i + c\rVert^2` is non-negative and, for a linear core, exactly
    represents :math:`\rho = \psi^2` of a state linear in :math:`\psi`.
    :class:`skphys.PhysicsTranslator` builds it from its cell architecture object
    (:class:`skphys.architectures.GRUCell` and its siblings).

    Parameters
    ----------
    cell : {"rnn", "gru", "lstm", "multiplicative"}
        Recurrent core: :class:`torch.nn.RNN` (tanh), :class:`torch.nn.GRU`,
        :class:`torch.nn.LSTM` or :class:`MultiplicativeRNN`.
    hidden_channels : int
        Dimension of the hidden state.
    n_readout : int, default=2
        Rows of :math:`U`.

    Examples
    --------
    >>> import torch
    >>> from skphys.nn import RecurrentTranslator
    >>> net = RecurrentTranslator("gru", 8)
    >>> net.reset_parameters(torch.Generator().manual_seed(0))
    >>> r, hidden, state = net(torch.zeros(4, 30))
    >>> r.shape, hidden.shape, bool((r >= 0).all())
    (torch.Size([4, 30]), torch.Size([4, 30, 8]), True)
    """

    def __init__(self, cell: str, hidden_channels: int, n_readout: int = 2):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        self.cell = cell
        self.hidden_channels = hidden_channels
        if cell == "multiplicative":
            self.core = MultiplicativeRNN(hidden_channels)
        else:
            kind = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell]
            self.core = kind(1, hidden_channels, batch_first=True)
        n_initial = 2 if cell == "lstm" else 1  # the LSTM also carries a cell state
        self.initial = nn.Parameter(torch.zeros(n_initial, hidden_channels))
        self.readout = nn.Linear(hidden_channels, n_readout)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """PyTorch's default uniform initialization of the torch cores, drawn from ``generator``.

        The initial state starts at zero (at one for the multiplicative core, which is linear
        and would stay at zero).
        """
        with torch.no_grad():
            if self.cell != "multiplicative":
                bound = 1.0 / math.sqrt(self.hidden_channels)
                for p in self.core.parameters():
                    nn.init.uniform_(p, -bound, bound, generator=generator)
                self.initial.zero_()
            else:
                nn.init.uniform_(self.initial, 0.5, 1.5, generator=generator)

    def initial_state(self, batch: int):
        """The state at the left wall, before the first site."""
        if self.cell == "lstm":
            return tuple(s.expand(1, batch, -1).contiguous() for s in self.initial)
        if self.cell == "multiplicative":
            return self.initial[0].expand(batch, -1)
        return self.initial.expand(1, batch, -1).contiguous()

    def forward(self, v: torch.Tensor, state=None):
        """Translate ``v`` of shape (batch, length), continuing from ``state`` if given.

        Returns
        -------
        r : Tensor of shape (batch, length)
            Unnormalized density.
        hidden : Tensor of shape (batch, length, hidden_channels)
            The hidden state after each site (for an LSTM its output ``h``).
        state
            The state after the last site, to continue from.
        """
        if state is None:
            state = self.initial_state(v.shape[0])
        if self.cell == "multiplicative":
            hidden, state = self.core(v, state)
        else:
            hidden, state = self.core(v[..., None], state)
        return self.readout(hidden).square().sum(-1), hidden, state
