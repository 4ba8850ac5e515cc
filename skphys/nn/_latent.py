"""Latent linear recurrence: encoder, input-dependent step matrices, decoder.

Pure torch: nothing here knows of scikit-learn. A window of hidden states ``h_s, ..., h_{s+T-1}``
of a translator is compressed to ``g_s = E(h_s)`` in a ``d``-dimensional latent space, carried
along by ``g_{i+1} = M(v_{i+1}) g_i`` and decoded back, ``h_i ~ D(g_i)``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LatentRecurrence"]


def _mlp(n_in: int, width: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, width), nn.Tanh(), nn.Linear(width, n_out))


class LatentRecurrence(nn.Module):
    r"""Encoder, latent recurrence linear in :math:`g` and decoder.

    - encoder :math:`E`: a one-hidden-layer tanh network from the hidden state to :math:`g`;
    - step :math:`M(v) = 1 + N(v)` with :math:`N` a one-hidden-layer tanh network of the
      scalar input, whose last layer starts at zero (so :math:`M = 1` at initialization);
    - decoder :math:`D(g) = A\,[g, g \otimes g] + \mathrm{MLP}(g)`: the linear term in the
      monomials of degree one and two makes every quadratic map of the latent state (such as
      :math:`\psi^2`, :math:`\psi\psi'`) exactly representable.

    Parameters
    ----------
    hidden_size : int
        Dimension of the hidden states to reconstruct.
    latent_dim : int
        Dimension :math:`d` of the bottleneck.
    width : int, default=32
        Width of the three small networks.

    Examples
    --------
    >>> import torch
    >>> from skphys._torch_utils import init_parameters
    >>> net = LatentRecurrence(hidden_size=8, latent_dim=2)
    >>> init_parameters(net, torch.Generator().manual_seed(0))
    >>> net(torch.zeros(3, 8), torch.zeros(3, 10)).shape
    torch.Size([3, 10, 8])
    >>> bool(torch.equal(net.step_matrices(torch.ones(4))[0], torch.eye(2)))
    True
    """

    def __init__(self, hidden_size: int, latent_dim: int, width: int = 32):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = _mlp(hidden_size, width, latent_dim)
        self.step = _mlp(1, width, latent_dim * latent_dim)
        rows, cols = torch.triu_indices(latent_dim, latent_dim)
        self.register_buffer("_pairs", torch.stack([rows, cols]), persistent=False)
        self.decoder_linear = nn.Linear(latent_dim + rows.numel(), hidden_size)
        self.decoder_mlp = _mlp(latent_dim, width, hidden_size)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Zero the last layer of the step network (called after its layers were initialized)."""
        with torch.no_grad():
            self.step[-1].weight.zero_()
            self.step[-1].bias.zero_()

    def encode(self, h: torch.Tensor) -> torch.Tensor:
        """Latent state of hidden states ``h`` (..., hidden_size)."""
        return self.encoder(h)

    def step_matrices(self, v: torch.Tensor) -> torch.Tensor:
        """:math:`M(v)` for every entry of ``v``: shape ``v.shape + (d, d)``."""
        d = self.latent_dim
        eye = torch.eye(d, device=v.device, dtype=v.dtype)
        return eye + self.step(v[..., None]).reshape(*v.shape, d, d)

    def decode(self, g: torch.Tensor) -> torch.Tensor:
        """Hidden states decoded from latent states ``g`` (..., d)."""
        quadratic = g[..., self._pairs[0]] * g[..., self._pairs[1]]
        return self.decoder_linear(torch.cat([g, quadratic], -1)) + self.decoder_mlp(g)

    def rollout(self, h0: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Latent trajectory (batch, length, d) from ``h0`` (batch, hidden) along ``v``.

        ``v[:, i]`` drives the step into site ``i``; ``v[:, 0]`` is not used.
        """
        g = self.encode(h0)
        matrices = self.step_matrices(v[:, 1:])
        trajectory = [g]
        for i in range(matrices.shape[1]):
            g = (matrices[:, i] @ g[..., None])[..., 0]
            trajectory.append(g)
        return torch.stack(trajectory, 1)

    def forward(self, h0: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Hidden states (batch, length, hidden_size) reconstructed from ``h0`` along ``v``."""
        return self.decode(self.rollout(h0, v))
