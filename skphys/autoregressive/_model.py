"""The autoregressive model: a masked network and a per-site conditional."""

from __future__ import annotations

import math
from typing import Protocol, cast

import torch
from torch import nn

__all__ = ["AutoregressiveModel"]


class Conditional(Protocol):
    """What the model uses of a per-site conditional (:class:`Bernoulli`, :class:`BetaMixture`,
    :class:`NormalMixture`)."""

    n_inputs: int
    periodic: bool

    @property
    def n_params(self) -> int: ...

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor: ...

    def sample(self, params: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor: ...

    def summary(self, params: torch.Tensor) -> torch.Tensor: ...

    def flip(self, x: torch.Tensor) -> torch.Tensor: ...


class PeriodicConditional(Conditional, Protocol):
    """A conditional of angles (``periodic``), as ``rotation_symmetric`` needs."""

    def wrap(self, x: torch.Tensor) -> torch.Tensor: ...


class SiteNetwork(Protocol):
    """What the model uses of its network (:class:`MADENetwork`, :class:`PixelCNNNetwork`)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def forward_site(self, x: torch.Tensor, site: int) -> torch.Tensor: ...


class AutoregressiveModel(nn.Module):
    r"""Exact density :math:`q(x) = \prod_i q(x_i \mid x_{<i})` over lattice configurations.

    Sites are ordered row-major. ``network`` maps the encoded configuration
    ``(batch, conditional.n_inputs, n_sites)`` to the conditionals' parameters
    ``(batch, conditional.n_params, n_sites)`` with the output at site ``i`` depending only on
    sites ``< i``, and ``network.forward_site(x, i)`` gives that output alone
    (:class:`MADENetwork`, :class:`PixelCNNNetwork`). With ``z2_mixture`` the density is the
    mixture of the model and its image under the reflection ``x -> flip(x)`` of the
    conditional,

    .. math::

        \log q_{\rm sym}(x) = \mathrm{LSE}\big(\log q(x), \log q(\mathrm{flip}\,x)\big) - \ln 2,

    sampled by drawing from ``q`` and flipping with probability 1/2.

    With ``rotation_symmetric`` (angles only) the model is exactly invariant under global
    rotations :math:`\theta_i \to \theta_i + c`, the U(1) symmetry of the XY model: the
    first angle is uniform and the network models the others in the frame of the first,

    .. math::

        q(\theta) = \frac{1}{2\pi} \prod_{i \ge 1} q(\phi_i \mid \phi_{<i}), \qquad
        \phi_i = (\theta_i - \theta_0 + \pi) \bmod 2\pi,

    a change of variables with unit Jacobian. The shift by :math:`\pi` puts the angles of an
    ordered (low-temperature) configuration in the middle of :math:`[0, 2\pi)`, where a Beta
    mixture needs no mass at both ends. The reflection :math:`\theta \to -\theta` maps
    :math:`\phi \to 2\pi - \phi`, so both symmetries combine.

    Parameters
    ----------
    n_sites : int
        Sites per configuration.
    network : nn.Module
        Autoregressive network.
    conditional : Bernoulli, BetaMixture or NormalMixture
        Per-site distribution.
    z2_mixture : bool, default=False
        Symmetrize the density over the flip: :math:`q(x) = [q(x) + q(\mathrm{flip}\,x)]/2`.
    rotation_symmetric : bool, default=False
        Model angles relative to the first one (needs a periodic conditional,
        :class:`BetaMixture`).

    Examples
    --------
    >>> import torch
    >>> from skphys.autoregressive import AutoregressiveModel, Bernoulli, MADENetwork
    >>> model = AutoregressiveModel(4, MADENetwork(4, 1, 1), Bernoulli())
    >>> x, log_q = model.sample(5, generator=torch.Generator().manual_seed(0))
    >>> x.shape, log_q.shape
    (torch.Size([5, 4]), torch.Size([5]))
    >>> torch.equal(log_q, model.log_prob(x))
    True
    """

    network: SiteNetwork
    conditional: Conditional

    def __init__(self, n_sites: int, network: SiteNetwork, conditional: Conditional, *,
                 z2_mixture: bool = False, rotation_symmetric: bool = False):
        super().__init__()
        if rotation_symmetric and not getattr(conditional, "periodic", False):
            raise ValueError("rotation_symmetric needs a conditional of angles (BetaMixture), "
                             f"got {type(conditional).__name__}")
        self.n_sites = n_sites
        self.network = network
        self.conditional = conditional
        self.z2_mixture = z2_mixture
        self.rotation_symmetric = rotation_symmetric

    def _frame(self, x: torch.Tensor) -> torch.Tensor:
        """The variables the network models: ``x`` itself, or the angles relative to the
        first one shifted by pi (``rotation_symmetric``)."""
        if not self.rotation_symmetric:
            return x
        return self._periodic().wrap(x - x[:, :1] + math.pi)

    def _periodic(self) -> PeriodicConditional:
        """The conditional, of angles: ``rotation_symmetric`` checked it is ``periodic``."""
        return cast(PeriodicConditional, self.conditional)

    def _params(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(self.conditional.encode(self._frame(x)))

    def _log_prob_ordered(self, x: torch.Tensor) -> torch.Tensor:
        log_q = self.conditional.log_prob(self._params(x), self._frame(x))
        if not self.rotation_symmetric:
            return log_q.sum(1)
        # the first angle is uniform; the others are modelled relative to it
        return log_q[:, 1:].sum(1) - math.log(2 * math.pi)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log q(x)`` of rows ``x`` of shape ``(batch, n_sites)``; shape ``(batch,)``."""
        if not self.z2_mixture:
            return self._log_prob_ordered(x)
        # x and its image in one pass of the network
        log_q, flipped = self._log_prob_ordered(
            torch.cat([x, self.conditional.flip(x)])).chunk(2)
        return torch.logaddexp(log_q, flipped) - math.log(2)

    def conditionals(self, x: torch.Tensor) -> torch.Tensor:
        """Summaries of ``q(x_i | x_<i)`` (see the conditional), shape ``(batch, k * n_sites)``.

        Always those of the unsymmetrized ordering, whatever ``z2_mixture``; with
        ``rotation_symmetric``, of the relative angles.
        """
        return self.conditional.summary(self._params(x)).flatten(1)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, device=None,
               dtype=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``n`` independent configurations and their exact log-density.

        The configurations come from :meth:`sample_configurations`; ``log_q`` is
        :meth:`log_prob` of them (one parallel pass of the network).

        Parameters
        ----------
        n : int
            Batch size.
        generator : torch.Generator, optional
            Source of randomness (on the model's device).
        device, dtype : optional
            Where and in which type the samples are made; default (and normally) those of the
            model's parameters.

        Returns
        -------
        x : Tensor of shape ``(n, n_sites)``
        log_q : Tensor of shape ``(n,)``
        """
        x = self.sample_configurations(n, generator=generator, device=device, dtype=dtype)
        return x, self.log_prob(x)

    @torch.no_grad()
    def sample_configurations(self, n: int, *, generator: torch.Generator | None = None,
                              device=None, dtype=None) -> torch.Tensor:
        """Draw ``n`` independent configurations, one site after the other (no log-density).

        Each of the ``n_sites`` steps evaluates the network's output at site ``i`` on the
        whole batch (``network.forward_site``) and samples the site from it; the later sites,
        still zero, are masked out. Training by REINFORCE uses this and evaluates
        :meth:`log_prob` with gradients itself.

        Parameters
        ----------
        n : int
            Batch size.
        generator : torch.Generator, optional
            Source of randomness (on the model's device).
        device, dtype : optional
            As in :meth:`sample`.

        Returns
        -------
        Tensor of shape ``(n, n_sites)``
        """
        ref = next(self.parameters())
        device = ref.device if device is None else device
        dtype = ref.dtype if dtype is None else dtype
        x = torch.zeros(n, self.n_sites, device=device, dtype=dtype)
        first = 0
        if self.rotation_symmetric:  # x holds the relative angles, the first one at pi
            x[:, 0], first = math.pi, 1
        for i in range(first, self.n_sites):
            params = self.network.forward_site(self.conditional.encode(x), i)
            x[:, i] = self.conditional.sample(params, generator)
        if self.rotation_symmetric:
            offset = 2 * math.pi * torch.rand(n, 1, generator=generator, device=device,
                                              dtype=dtype)
            x = self._periodic().wrap(x + offset - math.pi)
        if self.z2_mixture:
            flip = torch.rand(n, 1, generator=generator, device=device, dtype=dtype) < 0.5
            x = torch.where(flip, self.conditional.flip(x), x)
        return x
