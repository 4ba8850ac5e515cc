"""Small bijectors on the variables of one block (``(batch, channels, b, ..., b)`` fields).

The MERA hierarchy (:class:`skphys.flows.MERA`) cuts the lattice into ``b x b`` blocks and
applies one block bijector to every block at once, the blocks stacked along the batch axis
(``batch * n_blocks`` rows, the block index varying fastest); the parameters are therefore
shared by all blocks of a level, except for the optional per-position biases of
:class:`BlockMLP` (``n_positions``). Two kinds are built here:

* :func:`block_coupling`: a stack of :class:`~skphys.flows.AffineCoupling` layers whose
  networks are small MLPs on the flattened block (NeuralRG's RealNVP blocks);
* :func:`block_ode`: a :class:`BlockODE` (a continuous flow) driven by
  :class:`BlockVelocity`, an MLP velocity whose divergence is exact (the trace of the full
  Jacobian of the few block variables).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ._activation import Tanh, tanh
from ._bijector import Composed
from ._continuous import ContinuousBijector
from ._coupling import AffineCoupling

__all__ = ["BlockMLP", "BlockVelocity", "BlockODE", "block_masks", "block_coupling",
           "block_ode"]


def _mlp(sizes: Sequence[int], bias: bool) -> nn.Sequential:
    """Linear layers of ``sizes`` with ``tanh`` between them (odd when ``bias=False``)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(Tanh())
        layers.append(nn.Linear(n_in, n_out, bias=bias))
    return nn.Sequential(*layers)


def _last_linear(net: nn.Sequential) -> nn.Linear:
    """The output layer of an :func:`_mlp`."""
    last = net[-1]
    assert isinstance(last, nn.Linear)
    return last


class BlockMLP(nn.Module):
    """MLP on a flattened block: ``(batch, C, *block)`` to ``(batch, groups * C, *block)``.

    Parameters
    ----------
    channels : int
        Components per site.
    block_shape : tuple of int
        Extents of one block, e.g. ``(2, 2)``.
    groups : int
        Output fields per input channel (2 for ``s, t``; 3 for an equivariant coupling).
    hidden_channels : sequence of int
        Widths of the hidden layers (``tanh`` between layers).
    bias : bool
        Biases in the linear layers; without them the network is odd.
    zero_init : bool
        Zero the last layer at initialization, so that a coupling built on it starts as the
        identity.
    n_positions : int, default=1
        Block positions with their own bias of the first hidden layer (``position_bias``,
        zero at initialization): the input rows are read as ``(batch, n_positions)``, the
        position varying fastest (the layout of :class:`~skphys.flows.MERA`), so the network
        can depend on where its block sits. 1: one network for every position.

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import BlockMLP
    >>> net = BlockMLP(1, (2, 2), groups=2, hidden_channels=(8,))
    >>> net(torch.ones(5, 1, 2, 2)).shape
    torch.Size([5, 2, 2, 2])
    >>> placed = BlockMLP(1, (2, 2), groups=2, hidden_channels=(8,), n_positions=3)
    >>> placed.position_bias.shape  # rows 0, 3, 6, ... are blocks at position 0
    torch.Size([3, 8])
    """

    def __init__(self, channels: int, block_shape: tuple[int, ...], groups: int,
                 hidden_channels: Sequence[int], bias: bool = True, zero_init: bool = True,
                 n_positions: int = 1):
        super().__init__()
        if n_positions > 1 and not bias:
            raise ValueError(
                "n_positions > 1 needs bias=True: per-position biases would make an odd "
                "(Z2-equivariant) network even in part"
            )
        self.block_shape = tuple(block_shape)
        self.groups = groups
        self.zero_init = zero_init
        self.n_positions = n_positions
        n = channels * math.prod(self.block_shape)
        self.net = _mlp([n, *hidden_channels, groups * n], bias)
        self.position_bias = (nn.Parameter(torch.zeros(n_positions, hidden_channels[0]))
                              if n_positions > 1 else None)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Zero the last layer when ``zero_init`` (the other layers keep their own init)."""
        if self.zero_init:
            last = _last_linear(self.net)
            nn.init.zeros_(last.weight)
            if last.bias is not None:
                nn.init.zeros_(last.bias)
        if self.position_bias is not None:
            nn.init.zeros_(self.position_bias)

    def forward(self, block: torch.Tensor) -> torch.Tensor:
        if self.position_bias is None:
            out = self.net(block.flatten(1))
        else:
            if block.shape[0] % self.n_positions:
                raise ValueError(
                    f"BlockMLP with n_positions={self.n_positions} needs a multiple of "
                    f"{self.n_positions} rows (batch x positions), got {block.shape[0]}"
                )
            first, rest = self.net[0], self.net[1:]
            h = first(block.flatten(1)).unflatten(0, (-1, self.n_positions))
            out = rest((h + self.position_bias).flatten(0, 1))
        return out.view(block.shape[0], -1, *self.block_shape)


def block_masks(block_shape: tuple[int, ...], n_layers: int) -> list[torch.Tensor]:
    """Frozen-site masks of ``n_layers`` block couplings (1.0 = frozen).

    The masks cycle through the two checkerboard colours of the block and then its two halves
    along the first axis, so that every pair of sites of the block is coupled within four
    layers.

    Examples
    --------
    >>> from skphys.flows import block_masks
    >>> [m.flatten().tolist() for m in block_masks((2, 2), 4)]
    [[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]
    """
    coords = torch.stack(torch.meshgrid(*(torch.arange(n) for n in block_shape),
                                        indexing="ij"))
    parity = coords.sum(0) % 2
    half = (coords[0] >= block_shape[0] // 2).long()
    patterns = [parity == 0, parity == 1, half == 0, half == 1]
    return [patterns[i % 4].to(torch.get_default_dtype()) for i in range(n_layers)]


def block_coupling(channels: int, block_shape: tuple[int, ...], *, n_layers: int,
                   hidden_channels: Sequence[int], z2_equivariant: bool,
                   n_positions: int = 1) -> Composed:
    """``n_layers`` affine couplings on one block, each with its own :class:`BlockMLP`.

    Every layer starts as the identity: the MLP's last layer is zero, or, with
    ``z2_equivariant``, the ``b`` and ``t`` outputs of the odd MLP are (see
    :class:`~skphys.flows.AffineCoupling`), and the layer commutes with ``phi -> -phi``.
    With ``n_positions > 1`` each MLP has a bias per block position (see :class:`BlockMLP`;
    not with ``z2_equivariant``).

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import block_coupling
    >>> flow = block_coupling(1, (2, 2), n_layers=4, hidden_channels=(8,),
    ...                       z2_equivariant=True)
    >>> z = torch.randn(3, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    >>> len(flow.bijectors), torch.equal(flow(z)[0], z)  # the identity until trained
    (4, True)
    >>> g = torch.Generator().manual_seed(1)
    >>> with torch.no_grad():
    ...     for p in flow.parameters():
    ...         _ = p.normal_(0.0, 0.5, generator=g)
    >>> x, log_det = flow(z)
    >>> torch.allclose(flow.inverse(x)[0], z, atol=1e-5)
    True
    >>> torch.allclose(flow(-z)[0], -x), torch.allclose(flow(-z)[1], log_det)  # Z2 symmetry
    (True, True)
    """
    groups = 3 if z2_equivariant else 2
    return Composed([
        AffineCoupling(
            mask,
            BlockMLP(channels, block_shape, groups, hidden_channels, bias=not z2_equivariant,
                     zero_init=not z2_equivariant, n_positions=n_positions),
            z2_equivariant,
        )
        for mask in block_masks(block_shape, n_layers)
    ])


class BlockVelocity(nn.Module):
    r"""Velocity field of a block, :math:`v(\phi, t)`, with its exact divergence.

    An MLP on the ``n = C b^d`` block variables whose first layer's pre-activation is scaled
    by :math:`1 + t\,a` (learnable ``a``), so that the field depends on time and, without
    biases, stays odd in :math:`\phi`. The divergence is the trace of the full ``n x n``
    Jacobian, carried through the layers by the chain rule next to the forward pass (a batch
    of ``hidden x n`` matrices: cheap for the few variables of a block), exact (no Hutchinson
    noise) and differentiable for training. The last layer starts at zero: the identity
    flow.

    Parameters
    ----------
    channels : int
        Components per site.
    block_shape : tuple of int
        Extents of one block.
    hidden_channels : sequence of int
        Widths of the hidden layers (at least one).
    bias : bool
        Biases in the linear layers (``False`` gives an odd velocity).

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import BlockVelocity
    >>> velocity = BlockVelocity(1, (2, 2), hidden_channels=(8,))
    >>> phi = torch.randn(3, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    >>> v, div = velocity(torch.tensor(0.5), phi)
    >>> v.shape, div.shape, float(v.abs().max())  # the identity flow at initialization
    (torch.Size([3, 1, 2, 2]), torch.Size([3]), 0.0)
    """

    def __init__(self, channels: int, block_shape: tuple[int, ...],
                 hidden_channels: Sequence[int], bias: bool = True):
        super().__init__()
        n = channels * math.prod(block_shape)
        self.net = _mlp([n, *hidden_channels, n], bias)
        self.time_scale = nn.Parameter(torch.zeros(hidden_channels[0]))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Zero the last layer and the time modulation."""
        nn.init.zeros_(self.time_scale)
        last = _last_linear(self.net)
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)

    def forward(self, t: torch.Tensor, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocity ``(batch, C, *block)`` and divergence ``(batch,)`` at time ``t``."""
        linear = [m for m in self.net if isinstance(m, nn.Linear)]
        first = linear[0]
        modulation = 1 + t * self.time_scale
        h = first(phi.flatten(1)) * modulation
        jacobian = (first.weight * modulation[:, None]).expand(h.shape[0], -1, -1)
        for layer in linear[1:]:  # tanh, then the next linear layer: chain rule
            h = tanh(h)
            jacobian = layer.weight @ ((1 - h.square()).unsqueeze(-1) * jacobian)
            h = layer(h)
        divergence = torch.diagonal(jacobian, dim1=-2, dim2=-1).sum(-1)
        return h.view(phi.shape), divergence


class BlockODE(ContinuousBijector):
    r"""A :class:`~skphys.flows.ContinuousBijector` whose inverse inverts the *discrete*
    forward map.

    The backward RK4 solve inverts the forward one only up to the solver's error (``1e-9``
    for moderate weights). :meth:`inverse` corrects it by defect correction: with
    :math:`\Phi` the forward and :math:`\Psi` the backward solve,
    :math:`z \leftarrow z - [\Psi(\Phi(z)) - \Psi(x)]`, each step shrinking the error by
    the factor :math:`\|D\Psi\,D\Phi - I\| = O(h^4)`: one step (two more solves) reaches
    rounding precision, so that ``inverse(forward(z)) == z`` to ``1e-12`` in float64. The
    log-determinant is minus the forward one at the returned ``z`` (one more solve), so the
    two cancel to the same accuracy.

    Parameters
    ----------
    velocity : BlockVelocity
    n_steps : int
        Minimum number of RK4 steps.
    n_corrections : int, default=1
        Defect-correction steps of :meth:`inverse`.
    """

    def __init__(self, velocity: BlockVelocity, n_steps: int, n_corrections: int = 1):
        super().__init__(velocity, method="rk4", n_steps=n_steps)
        self.n_corrections = n_corrections

    def inverse(self, x):
        backward = super().inverse
        target = backward(x)[0]
        z = target
        for _ in range(self.n_corrections):
            z = z - (backward(self.forward(z)[0])[0] - target)
        return z, -self.forward(z)[1]


def block_ode(channels: int, block_shape: tuple[int, ...], *,
              hidden_channels: Sequence[int],
              z2_equivariant: bool, n_steps: int) -> BlockODE:
    """Neural-ODE block bijector: :class:`BlockVelocity` integrated by fixed-step RK4.

    ``log|det|`` is the RK4 integral of the exact divergence; like every
    :class:`~skphys.flows.ContinuousBijector` it takes more than ``n_steps`` steps when its
    measured error demands it, which keeps that integral the log-determinant of the discrete
    map to the solver's accuracy; the inverse is exact (:class:`BlockODE`).

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import block_ode
    >>> flow = block_ode(1, (2, 2), hidden_channels=(8,), z2_equivariant=True,
    ...                  n_steps=4).double()
    >>> g = torch.Generator().manual_seed(0)
    >>> with torch.no_grad():  # move the velocity away from its zero (identity) initialization
    ...     _ = flow.rhs.velocity.net[-1].weight.normal_(0.0, 0.3, generator=g)
    >>> z = torch.randn(3, 1, 2, 2, dtype=torch.float64, generator=g)
    >>> x, log_det = flow(z)
    >>> z_back, log_det_inv = flow.inverse(x)
    >>> bool((z_back - z).abs().max() < 1e-12), bool((log_det + log_det_inv).abs().max() < 1e-12)
    (True, True)
    """
    velocity = BlockVelocity(channels, block_shape, hidden_channels, bias=not z2_equivariant)
    return BlockODE(velocity, n_steps=n_steps)
