"""A normalizing-flow density on lattice fields: a simple prior pushed through a bijector."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ._activation import Tanh
from ._bijector import Bijector, Composed
from ._continuous import ContinuousBijector, EquivariantVelocity
from ._convnet import CircularConvNet
from ._coupling import AffineCoupling, checkerboard_mask
from ._fourier import FourierGaussian
from ._mera import MERA, max_levels
from ._resize import check_larger

__all__ = ["LatticeFlow", "coupling_flow", "continuous_flow", "mera_flow"]

_ACTIVATIONS = {"leaky_relu": nn.LeakyReLU, "tanh": Tanh, "silu": nn.SiLU}
_ODD_ACTIVATIONS = ("tanh",)
_PRIORS = ("gaussian", "laplace")


class LatticeFlow(nn.Module):
    """Flow density ``q(x)``: ``z`` i.i.d. from the prior per component, ``x = f(z)``.

    Configurations are rows ``(batch, channels * n_sites)`` (all sites of channel 0, then
    channel 1, ...), reshaped to ``(batch, channels, *shape)`` for the bijector.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents.
    channels : int
        Real components per site.
    bijector : Bijector
        The map from latent to field.
    prior : {"gaussian", "laplace"}, default="gaussian"
        Standard normal :math:`e^{-z^2/2}/\\sqrt{2\\pi}` or standard Laplace
        :math:`e^{-|z|}/2` latents (the sparser prior of the holographic RG flows).
    z2_mixture : bool, default=False
        Symmetrize the density over the sign flip :math:`x \\to -x`,

        .. math::

            \\log q_{\\rm mix}(x) = \\mathrm{LSE}\\big(\\log q_f(x), \\log q_f(-x)\\big) - \\ln 2,

        with :math:`q_f` the density of the bijector alone, sampled as ``x = s f(z)`` with a
        sign ``s`` equal to +1 or -1 with probability 1/2 each. This is the remedy for a
        bimodal target with a Z2 symmetry (an ordered phase): a flow that is not equivariant
        may collapse onto one mode, the mixture puts it on both. The sign is a discrete
        latent that :meth:`to_latent` does not return: :meth:`to_latent` and
        :meth:`from_latent` stay the bijection ``f`` itself (the ``s = +1`` branch), so they
        remain exact inverses of each other. :meth:`log_prob`, :meth:`sample` and
        :meth:`sample_path` give the mixture; each evaluation of ``log q_mix`` costs two
        inverse passes (one in :meth:`sample`, whose own branch is known from the forward
        pass).

    Examples
    --------
    An affine coupling on a 4 x 4 lattice, its log density against the change of variables:

    >>> import torch
    >>> from skphys.flows import AffineCoupling, CircularConvNet, LatticeFlow, checkerboard_mask
    >>> _ = torch.manual_seed(0)
    >>> net = CircularConvNet(2, 1, 2, [4], activation=torch.nn.Tanh)
    >>> flow = LatticeFlow((4, 4), 1, AffineCoupling(checkerboard_mask((4, 4), 0), net))
    >>> x, log_q = flow.sample(3)
    >>> x.shape, log_q.shape
    (torch.Size([3, 16]), torch.Size([3]))
    >>> torch.allclose(flow.log_prob(x), log_q, atol=1e-5)
    True
    >>> torch.allclose(flow.from_latent(flow.to_latent(x)), x, atol=1e-5)
    True

    A Z2 mixture has an even density:

    >>> flow.z2_mixture = True
    >>> torch.allclose(flow.log_prob(x), flow.log_prob(-x))
    True
    """

    def __init__(self, shape, channels: int, bijector: Bijector, prior: str = "gaussian",
                 *, z2_mixture: bool = False):
        super().__init__()
        if prior not in _PRIORS:
            raise ValueError(f"prior must be one of {_PRIORS}, got {prior!r}")
        self.shape = tuple(shape)
        self.channels = channels
        self.bijector = bijector
        self.prior = prior
        self.z2_mixture = z2_mixture
        self.n_features = channels * math.prod(self.shape)

    def _fields(self, rows: torch.Tensor) -> torch.Tensor:
        return rows.reshape(rows.shape[0], self.channels, *self.shape)

    def prior_log_prob(self, z_rows: torch.Tensor) -> torch.Tensor:
        """Log density of the prior, per row."""
        if self.prior == "laplace":
            return -z_rows.abs().sum(1) - self.n_features * math.log(2.0)
        return -0.5 * z_rows.square().sum(1) - 0.5 * self.n_features * math.log(2 * math.pi)

    def sample_prior(self, n: int, *, generator=None, device=None, dtype=None) -> torch.Tensor:
        """``n`` latent rows from the prior (a Laplace variate is a difference of exponentials)."""
        if self.prior == "laplace":
            e = torch.empty(2, n, self.n_features, device=device, dtype=dtype)
            e.exponential_(generator=generator)
            return e[0] - e[1]
        return torch.randn(n, self.n_features, generator=generator, device=device, dtype=dtype)

    def random_sign(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        """Each row of ``x`` with its sign flipped with probability 1/2 (the mixture's sign)."""
        flip = torch.rand(x.shape[0], 1, generator=generator, device=x.device,
                          dtype=x.dtype) < 0.5
        return torch.where(flip, -x, x)

    def _forward_rows(self, n: int, generator, device, dtype):
        """Prior rows ``z``, ``x = f(z)`` as rows, and ``log q_f(x)`` from the forward pass."""
        z = self.sample_prior(n, generator=generator, device=device, dtype=dtype)
        x, log_det = self.bijector(self._fields(z))
        return x.reshape(n, -1), self.prior_log_prob(z) - log_det

    def sample(self, n: int, *, generator=None, device=None, dtype=None):
        """Draw ``n`` rows and their log densities ``(x, log q(x))``."""
        x, log_q = self._forward_rows(n, generator, device, dtype)
        if not self.z2_mixture:
            return x, log_q
        # log q_mix is even: evaluate it on the unflipped rows, whose branch is known
        log_q = torch.logaddexp(log_q, self.flow_log_prob(-x)) - math.log(2.0)
        return self.random_sign(x, generator), log_q

    def flow_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log q_f(x)`` of the bijector alone (no Z2 mixture), through the inverse map."""
        z, log_det = self.bijector.inverse(self._fields(x))
        return self.prior_log_prob(z.reshape(x.shape[0], -1)) + log_det

    def _branch_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """``log q_f(x)`` and ``log q_f(-x)`` stacked as ``(2, batch)``, in one inverse pass."""
        return self.flow_log_prob(torch.cat([x, -x])).view(2, -1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log q(x)`` of each row: :meth:`flow_log_prob`, or the Z2 mixture of it."""
        if not self.z2_mixture:
            return self.flow_log_prob(x)
        log_q = self._branch_log_probs(x)
        return torch.logaddexp(log_q[0], log_q[1]) - math.log(2.0)

    forward = log_prob

    def align_sign(self, x: torch.Tensor) -> torch.Tensor:
        """Each row of ``x`` times the sign ``s = +-1`` of its more likely branch,
        ``argmax_s q_f(s x)`` (the identity without ``z2_mixture``).

        A Z2 mixture samples ``s f(z)`` with a random sign ``s``; aligning its samples undoes
        the sign, so that ``f^{-1}`` of the result is the latent code of the branch that most
        likely drew them, and the code of ``x`` and ``-x`` agree.
        """
        if not self.z2_mixture:
            return x
        log_q = self._branch_log_probs(x)
        return torch.where((log_q[0] >= log_q[1])[:, None], x, -x)

    def sample_path(self, n: int, *, generator=None, device=None, dtype=None):
        """Draw ``n`` rows with ``log q`` evaluated at frozen parameters (for path gradients).

        ``x = f_theta(z)`` keeps its dependence on the parameters, while ``log q`` is computed
        through the inverse map with the parameters detached: the gradient of
        ``E[log q + S]`` then drops the score term ``E[d log q_theta / d theta]`` (zero in
        expectation), whose variance does not vanish at the optimum. The per-sample gradient
        does, so training can reach ESS/N close to 1 (Vaitl et al., arXiv:2207.08219). The
        price is one inverse pass per step (two with ``z2_mixture``: the random sign is a
        parameter-free reparametrization, and both branches of the mixture are evaluated at
        the frozen parameters, since :meth:`forward` is :meth:`log_prob`).
        """
        x = self._forward_rows(n, generator, device, dtype)[0]
        if self.z2_mixture:
            x = self.random_sign(x, generator)
        frozen = {name: p.detach() for name, p in self.named_parameters()}
        return x, torch.func.functional_call(self, frozen, (x,))

    def to_latent(self, x: torch.Tensor) -> torch.Tensor:
        """``z = f^{-1}(x)`` as rows (the bijection only, whatever ``z2_mixture``)."""
        return self.bijector.inverse(self._fields(x))[0].reshape(x.shape[0], -1)

    def from_latent(self, z: torch.Tensor) -> torch.Tensor:
        """``x = f(z)`` as rows (the bijection only, whatever ``z2_mixture``)."""
        return self.bijector(self._fields(z))[0].reshape(z.shape[0], -1)

    def transfer_from(self, source: LatticeFlow) -> None:
        """Set the parameters of this flow from ``source``, the same architecture fitted on a
        lattice with the same dimension and no larger extents (size transfer).

        Each layer re-expresses its parameters for this lattice
        (:meth:`skphys.flows.Bijector.transfer_from`): periodic convolutions of a coupling
        network are copied as they are; a :class:`FourierGaussian` layer interpolates its
        scales in momentum; an :class:`EquivariantVelocity` embeds its kernel over offsets,
        the offsets the smaller lattice lacks starting at zero; a :class:`MERA` copies the
        block maps of the levels both lattices have, the coarser levels it adds keeping their
        own initialization. The result is an exact flow on this lattice (its density is
        normalized, whatever the parameters) that acts on fields locally like ``source``.
        Another architecture, or a layer whose state cannot be re-expressed, raises
        ValueError.

        Examples
        --------
        >>> import torch
        >>> from skphys import CouplingFlow
        >>> flow = CouplingFlow(n_layers=2, hidden_channels=4, z2_equivariant=False)
        >>> _ = torch.manual_seed(0)
        >>> small, large = flow.build((4, 4)), flow.build((8, 8))
        >>> large.transfer_from(small)
        >>> coupling = (small.bijector.bijectors[1], large.bijector.bijectors[1])
        >>> torch.equal(coupling[0].net[0].weight, coupling[1].net[0].weight)  # copied
        True
        >>> x, log_q = large.sample(3)  # an exact flow on the larger lattice
        >>> x.shape, torch.allclose(large.log_prob(x), log_q, atol=1e-4)
        (torch.Size([3, 64]), True)
        """
        if not isinstance(source, LatticeFlow):
            raise ValueError(f"source must be a LatticeFlow, got {type(source).__name__}")
        check_larger(source.shape, self.shape)
        mine = (self.channels, self.prior, self.z2_mixture)
        theirs = (source.channels, source.prior, source.z2_mixture)
        if mine != theirs:
            raise ValueError(f"cannot transfer a flow with (channels, prior, z2_mixture) = "
                             f"{theirs} into one with {mine}")
        self.bijector.transfer_from(source.bijector)


def coupling_flow(shape, channels: int, *, n_layers: int, hidden_channels, kernel_size: int,
                  activation: str, final_tanh: bool, z2_equivariant: bool,
                  fourier_layer: bool) -> LatticeFlow:
    """Affine-coupling flow with alternating checkerboard masks (and an optional Fourier layer).

    ``n_layers`` coupling layers alternate the parity of the frozen sublattice; each has its
    own periodic convolutional network mapping the frozen field to ``s`` and ``t``. With
    ``z2_equivariant`` the networks are odd (no biases, an odd ``activation``) and every layer
    commutes with ``phi -> -phi`` (see :class:`AffineCoupling`). With ``fourier_layer`` a
    :class:`FourierGaussian` acts first on the prior sample.
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    if z2_equivariant and activation not in _ODD_ACTIVATIONS:
        raise ValueError(
            f"z2_equivariant=True needs an odd activation, one of {_ODD_ACTIVATIONS}, "
            f"got {activation!r}"
        )
    out_channels = (3 if z2_equivariant else 2) * channels
    layers: list[Bijector] = [FourierGaussian(shape)] if fourier_layer else []
    for i in range(n_layers):
        net = CircularConvNet(len(shape), channels, out_channels, hidden_channels, kernel_size,
                              _ACTIVATIONS[activation], final_tanh=final_tanh,
                              bias=not z2_equivariant)
        layers.append(AffineCoupling(checkerboard_mask(shape, i % 2), net, z2_equivariant))
    return LatticeFlow(shape, channels, Composed(layers))


def continuous_flow(shape, channels: int, *, n_frequencies: int, n_time_kernels: int,
                    ode_method: str, ode_steps: int, adjoint: bool,
                    fourier_layer: bool) -> LatticeFlow:
    """Equivariant continuous flow, optionally preceded by a :class:`FourierGaussian` layer."""
    velocity = EquivariantVelocity(shape, channels, n_frequencies, n_time_kernels)
    layers: list[Bijector] = [FourierGaussian(shape)] if fourier_layer else []
    layers.append(ContinuousBijector(velocity, method=ode_method, n_steps=ode_steps,
                                     adjoint=adjoint))
    return LatticeFlow(shape, channels, Composed(layers))


def mera_flow(shape, channels: int, *, block_size: int, n_levels: int | None, depth,
              make_block: Callable[[tuple[int, ...], int], Bijector], prior: str = "gaussian",
              z2_mixture: bool = False, fourier_layer: bool = False) -> LatticeFlow:
    """NeuralRG flow: a :class:`MERA` hierarchy of block bijectors over a ``prior``.

    ``make_block(block_shape, n_blocks)`` returns a new block bijector for every
    disentangler and decimator (``n_blocks``: the blocks of its level, see :class:`MERA`),
    e.g. :func:`block_coupling` (affine couplings with MLPs) or :func:`block_ode` (an MLP
    velocity integrated by RK4). ``n_levels=None`` builds the full hierarchy
    (:func:`max_levels`), with ``depth`` disentangler-decimator pairs per level (an int, or
    one count per level: :func:`~skphys.flows.level_depths`). With ``z2_mixture`` the
    density is symmetrized over the sign (see :class:`LatticeFlow`); with ``fourier_layer``
    the MERA ends with a :class:`FourierGaussian` on the boundary field.

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import block_coupling, mera_flow
    >>> _ = torch.manual_seed(0)
    >>> def make_block(block_shape, n_blocks):
    ...     return block_coupling(1, block_shape, n_layers=2, hidden_channels=(8,),
    ...                           z2_equivariant=False)
    >>> flow = mera_flow((8, 8), 1, block_size=2, n_levels=None, depth=1,
    ...                  make_block=make_block)
    >>> len(flow.bijector.disentanglers)  # one pair per level, three levels at L = 8
    3
    >>> x, log_q = flow.sample(2)
    >>> torch.allclose(flow.log_prob(x), log_q, atol=1e-4)
    True
    """
    levels = max_levels(tuple(shape), block_size) if n_levels is None else n_levels
    mera = MERA(shape, block_size, levels, make_block, depth, fourier_layer=fourier_layer)
    return LatticeFlow(shape, channels, mera, prior, z2_mixture=z2_mixture)
