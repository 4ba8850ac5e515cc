"""Latent linear recurrence: encoder, input-dependent step matrices, decoder.

Pure torch: nothing here knows of scikit-learn. A window of hidden states ``h_s, ..., h_{s+T-1}``
of a translator is compressed to ``g_s = E(h_s)`` in a ``d``-dimensional latent space, carried
along by ``g_{i+1} = M_{i+1} g_i`` and decoded back, either to the hidden states,
``h_i ~ D(g_i)``, or to the translator's density, ``rho_i ~ w . g_i + b``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TARGETS", "LatentRecurrence", "QuadraticMap"]

#: what a :class:`LatentRecurrence` decodes its latent states to
TARGETS = ("hidden", "density")


def _mlp(n_in: int, hidden_channels: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden_channels), nn.Tanh(),
                         nn.Linear(hidden_channels, n_out))


class QuadraticMap(nn.Module):
    r"""Map :math:`x \mapsto A\,[x, x \otimes x] + b + \mathrm{MLP}(x)`.

    The linear term in the monomials of degree one and two (``x_j x_k``, ``j <= k``) makes
    every quadratic map of :math:`x` exactly representable; a one-hidden-layer tanh network
    adds a smooth correction.

    Parameters
    ----------
    n_in, n_out : int
        Dimensions of :math:`x` and of the output.
    hidden_channels : int, default=32
        Width of the tanh network.

    Examples
    --------
    >>> import torch
    >>> from skphys.nn import QuadraticMap
    >>> f = QuadraticMap(3, 2)
    >>> f.linear.in_features  # 3 linear and 6 quadratic monomials
    9
    >>> f(torch.zeros(5, 4, 3)).shape
    torch.Size([5, 4, 2])
    """

    _pairs: torch.Tensor  # buffer (2, n_pairs): the indices j <= k of the monomials x_j x_k

    def __init__(self, n_in: int, n_out: int, hidden_channels: int = 32):
        super().__init__()
        rows, cols = torch.triu_indices(n_in, n_in)
        self.register_buffer("_pairs", torch.stack([rows, cols]), persistent=False)
        self.linear = nn.Linear(n_in + rows.numel(), n_out)
        self.mlp = _mlp(n_in, hidden_channels, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        quadratic = x[..., self._pairs[0]] * x[..., self._pairs[1]]
        return self.linear(torch.cat([x, quadratic], -1)) + self.mlp(x)


class LatentRecurrence(nn.Module):
    r"""Encoder, latent recurrence linear in :math:`g` and decoder.

    The step into site :math:`i+1` is :math:`g_{i+1} = M\,g_i` with :math:`M = 1 + N(u_{i+1})`,
    :math:`N` a one-hidden-layer tanh network whose last layer starts at zero (so :math:`M = 1`
    at initialization). Two targets:

    - ``"hidden"``: the step reads :math:`u_{i+1} = v_{i+1}`; encoder :math:`E` a
      one-hidden-layer tanh network of the hidden state; decoder :math:`D` a
      :class:`QuadraticMap` of :math:`g` to the hidden state, so that every quadratic map of
      the latent state (such as :math:`\psi^2`, :math:`\psi\psi'`) is exactly representable;
    - ``"density"`` (the alternative formulation): the step reads
      :math:`u_{i+1} = (v_i, v_{i+1})`; encoder a :class:`QuadraticMap` of the hidden state
      (the density and its derivatives are quadratic in a wave function); decoder *linear*,
      :math:`\hat\rho_i = w \cdot g_i + b`, so the density must be one direction of a linearly
      evolving latent state.

    Parameters
    ----------
    state_dim : int
        Dimension of the (translator's) hidden states read by the encoder (and, for
        ``"hidden"``, reconstructed).
    latent_dim : int
        Dimension :math:`d` of the bottleneck.
    hidden_channels : int, default=32
        Width of the small networks.
    target : {"hidden", "density"}, default="hidden"
        What the decoder reconstructs.

    Examples
    --------
    >>> import torch
    >>> from skphys.nn import LatentRecurrence
    >>> net = LatentRecurrence(state_dim=8, latent_dim=2)
    >>> net.reset_parameters()  # M = 1 until trained
    >>> net(torch.zeros(3, 8), torch.zeros(3, 10)).shape
    torch.Size([3, 10, 8])
    >>> bool(torch.equal(net.step_matrices(torch.ones(4, 1))[0], torch.eye(2)))
    True
    >>> net = LatentRecurrence(state_dim=8, latent_dim=3, target="density")
    >>> net(torch.zeros(3, 8), torch.zeros(3, 10)).shape, net.n_step_inputs
    (torch.Size([3, 10, 1]), 2)
    """

    encoder: nn.Module  # an MLP ("hidden") or a QuadraticMap ("density")
    decoder: nn.Module  # a QuadraticMap ("hidden") or a Linear ("density")
    step: nn.Sequential

    def __init__(self, state_dim: int, latent_dim: int, hidden_channels: int = 32,
                 target: str = "hidden"):
        super().__init__()
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        self.latent_dim = latent_dim
        self.target = target
        if target == "hidden":
            self.encoder = _mlp(state_dim, hidden_channels, latent_dim)
            self.decoder = QuadraticMap(latent_dim, state_dim, hidden_channels)
            self.n_step_inputs = 1
        else:
            self.encoder = QuadraticMap(state_dim, latent_dim, hidden_channels)
            self.decoder = nn.Linear(latent_dim, 1)
            self.n_step_inputs = 2
        self.step = _mlp(self.n_step_inputs, hidden_channels, latent_dim * latent_dim)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Zero the last layer of the step network (called after its layers were initialized)."""
        last = self.step[-1]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()

    def encode(self, h: torch.Tensor) -> torch.Tensor:
        """Latent state of hidden states ``h`` (..., state_dim)."""
        return self.encoder(h)

    def step_inputs(self, v: torch.Tensor) -> torch.Tensor:
        """Inputs (batch, length - 1, n_step_inputs) of the steps along ``v`` (batch, length).

        Entry ``i`` drives the step from site ``i`` into site ``i + 1``: :math:`v_{i+1}`, or
        :math:`(v_i, v_{i+1})` for the density target.
        """
        if self.target == "hidden":
            return v[:, 1:, None]
        return torch.stack([v[:, :-1], v[:, 1:]], -1)

    def step_matrices(self, u: torch.Tensor) -> torch.Tensor:
        """:math:`M(u)` for step inputs ``u`` (..., n_step_inputs): shape ``(..., d, d)``."""
        d = self.latent_dim
        eye = torch.eye(d, device=u.device, dtype=u.dtype)
        return eye + self.step(u).reshape(*u.shape[:-1], d, d)

    def decode(self, g: torch.Tensor) -> torch.Tensor:
        """Hidden states (..., state_dim) or densities (..., 1) decoded from ``g`` (..., d)."""
        return self.decoder(g)

    def rollout(self, h0: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Latent trajectory (batch, length, d) from ``h0`` (batch, hidden) along ``v``.

        ``v`` (batch, length) holds the potential of each site of the window.
        """
        g = self.encode(h0)
        matrices = self.step_matrices(self.step_inputs(v))
        trajectory = [g]
        for i in range(matrices.shape[1]):
            g = (matrices[:, i] @ g[..., None])[..., 0]
            trajectory.append(g)
        return torch.stack(trajectory, 1)

    def forward(self, h0: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Reconstruction (batch, length, n_out) from ``h0`` (batch, hidden) along ``v``."""
        return self.decode(self.rollout(h0, v))
