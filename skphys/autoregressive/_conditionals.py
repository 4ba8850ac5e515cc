"""Per-site conditional distributions: Bernoulli for spins, a Beta mixture for angles, a
Gaussian mixture for real fields.

A conditional turns the network's parameters at a site, ``params`` of shape
``(batch, n_params, n_sites)``, into the log-probability of the site's value. It also fixes how
the values are fed to the network (``encode``), how one site is sampled, the summary returned
as features (``summary``) and the reflection ``flip`` of the values (``s -> -s`` for spins,
``theta -> -theta`` for angles, ``x -> -x`` for real fields), a symmetry of the Ising, XY and
phi^4 models.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["Bernoulli", "BetaMixture", "NormalMixture", "sample_log_gamma"]

_TWO_PI = 2 * math.pi


class Bernoulli(nn.Module):
    r"""Spins :math:`s = \pm 1` with :math:`p(s = +1) = \sigma(\ell)` for one logit ``l``.

    Examples
    --------
    >>> import torch
    >>> from skphys.autoregressive import Bernoulli
    >>> Bernoulli().log_prob(torch.zeros(1, 1, 2), torch.tensor([[1.0, -1.0]])).exp()
    tensor([[0.5000, 0.5000]])
    """

    n_inputs = 1
    n_params = 1
    n_summary = 1
    periodic = False

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Network input ``(batch, 1, n_sites)``: the spins themselves."""
        return x.unsqueeze(1)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log p(x_i | params_i)`` of shape ``(batch, n_sites)``."""
        return -F.softplus(-x * params[:, 0])

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None):
        """One spin per row from ``params`` of shape ``(batch, 1)``."""
        u = torch.rand(params.shape[0], generator=generator, device=params.device,
                       dtype=params.dtype)
        return torch.where(u < torch.sigmoid(params[:, 0]), 1.0, -1.0).to(params.dtype)

    def summary(self, params: torch.Tensor) -> torch.Tensor:
        """``p(s_i = +1 | s_<i)``, shape ``(batch, 1, n_sites)``."""
        return torch.sigmoid(params)

    @staticmethod
    def flip(x: torch.Tensor) -> torch.Tensor:
        """The global spin flip ``s -> -s``."""
        return -x


def sample_log_gamma(alpha: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Logarithms of Gamma(``alpha``, 1) variates drawn from ``generator``.

    Marsaglia and Tsang (2000); for ``alpha < 1`` a Gamma(``alpha + 1``) variate is scaled by
    ``U**(1/alpha)``, in log space so that tiny ``alpha`` does not underflow to zero. Every
    uniform and normal comes from ``generator``, unlike ``torch.distributions.Gamma``.

    Examples
    --------
    >>> import torch
    >>> from skphys.autoregressive import sample_log_gamma
    >>> g = sample_log_gamma(torch.full((100_000,), 2.5, dtype=torch.float64),
    ...                      torch.Generator().manual_seed(0)).exp()
    >>> round(g.mean().item(), 1)
    2.5
    """
    boosted = torch.where(alpha < 1, alpha + 1, alpha)
    d = boosted - 1 / 3
    c = 1 / torch.sqrt(9 * d)
    log_g = torch.empty_like(alpha)
    pending = torch.ones_like(alpha, dtype=torch.bool)
    while pending.any():
        idx = pending.nonzero(as_tuple=True)
        z = torch.randn(idx[0].shape, generator=generator, device=alpha.device, dtype=alpha.dtype)
        u = torch.rand(idx[0].shape, generator=generator, device=alpha.device, dtype=alpha.dtype)
        v = (1 + c[idx] * z).clamp_min(0) ** 3
        log_v = torch.log(v)
        ok = (v > 0) & (torch.log(u) < 0.5 * z**2 + d[idx] * (1 - v + log_v))
        accepted = tuple(i[ok] for i in idx)
        log_g[accepted] = (torch.log(d[idx]) + log_v)[ok]
        pending[accepted] = False
    u = torch.rand(alpha.shape, generator=generator, device=alpha.device, dtype=alpha.dtype)
    return torch.where(alpha < 1, log_g + torch.log(u) / alpha, log_g)


def _mod_two_pi(theta: torch.Tensor) -> torch.Tensor:
    """``theta`` modulo 2 pi, in ``[0, 2 pi)`` also after rounding to ``theta.dtype``.

    ``torch.remainder`` of a tiny negative angle rounds up to 2 pi itself in float32; that
    angle is 0.
    """
    theta = torch.remainder(theta, _TWO_PI)
    return torch.where(theta < _TWO_PI, theta, torch.zeros_like(theta))


class _Mixture(nn.Module):
    """A per-site mixture of ``n_components`` laws of two parameters each: the network gives
    ``3 K`` numbers per site, the weights' logits and the two raw parameters, which
    ``_split`` turns into log-weights and the laws' parameters."""

    def __init__(self, n_components: int = 4):
        super().__init__()
        self.n_components = n_components

    @property
    def n_params(self) -> int:
        return 3 * self.n_components

    def _split(self, params: torch.Tensor):
        raise NotImplementedError

    def _pick(self, params: torch.Tensor, generator: torch.Generator | None):
        """The two parameters of one component per row of ``params`` ``(batch, 3 K)``, drawn
        with the mixture's weights."""
        log_w, first, second = self._split(params.unsqueeze(-1))
        k = torch.multinomial(log_w[..., 0].exp(), 1, generator=generator)
        return first[..., 0].gather(1, k)[:, 0], second[..., 0].gather(1, k)[:, 0]


class BetaMixture(_Mixture):
    r"""Angles :math:`\theta \in [0, 2\pi)` with :math:`\theta / 2\pi` a mixture of Beta laws.

    .. math::

        p(\theta) = \frac{1}{2\pi} \sum_{k=1}^{K} w_k\,
            \mathrm{Beta}\Big(\frac{\theta}{2\pi}; \alpha_k, \beta_k\Big),

    with softmax weights and ``alpha, beta = softplus(.) + 1e-3`` (Chinese Phys. Lett. 39,
    120502 (2022)). Several components let a conditional peaked near :math:`\theta = 0`
    put mass at both ends of the interval. The network sees ``(cos theta, sin theta)``.

    Parameters
    ----------
    n_components : int, default=4
        Mixture components ``K``.

    Examples
    --------
    >>> import torch
    >>> from skphys.autoregressive import BetaMixture
    >>> mix = BetaMixture(2)
    >>> params = torch.zeros(1, 6, 1)  # equal weights, alpha = beta = softplus(0)
    >>> mix.log_prob(params, torch.tensor([[3.0]])).shape
    torch.Size([1, 1])
    """

    n_inputs = 2
    n_summary = 2
    periodic = True

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Network input ``(batch, 2, n_sites)``: ``cos theta`` and ``sin theta``."""
        return torch.stack([torch.cos(x), torch.sin(x)], dim=1)

    def _split(self, params: torch.Tensor):
        logits, a, b = params.unflatten(1, (3, self.n_components)).unbind(1)
        return (torch.log_softmax(logits, dim=1), F.softplus(a) + 1e-3,
                F.softplus(b) + 1e-3)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log p(theta_i | params_i)`` of shape ``(batch, n_sites)``."""
        log_w, alpha, beta = self._split(params)
        tiny = torch.finfo(x.dtype).eps
        u = (x / _TWO_PI).clamp(tiny, 1 - tiny).unsqueeze(1)
        log_beta = ((alpha - 1) * torch.log(u) + (beta - 1) * torch.log1p(-u)
                    + torch.lgamma(alpha + beta) - torch.lgamma(alpha) - torch.lgamma(beta))
        return torch.logsumexp(log_w + log_beta, dim=1) - math.log(_TWO_PI)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None):
        """One angle per row from ``params`` of shape ``(batch, 3 K)``."""
        a, b = self._pick(params, generator)
        log_a, log_b = sample_log_gamma(torch.cat([a, b]), generator).chunk(2)  # one loop
        log_ratio = log_a - log_b
        return _mod_two_pi(_TWO_PI * torch.sigmoid(log_ratio))

    def summary(self, params: torch.Tensor) -> torch.Tensor:
        """Conditional mean angle ``2 pi E[u]`` and concentration ``E[alpha + beta]``.

        Shape ``(batch, 2, n_sites)``.
        """
        log_w, alpha, beta = self._split(params)
        w = log_w.exp()
        mean = _TWO_PI * (w * alpha / (alpha + beta)).sum(1)
        return torch.stack([mean, (w * (alpha + beta)).sum(1)], dim=1)

    @staticmethod
    def flip(x: torch.Tensor) -> torch.Tensor:
        """The reflection ``theta -> -theta`` (mod 2 pi)."""
        return _mod_two_pi(-x)

    @staticmethod
    def wrap(x: torch.Tensor) -> torch.Tensor:
        """Angles modulo 2 pi, in ``[0, 2 pi)``."""
        return _mod_two_pi(x)


class NormalMixture(_Mixture):
    r"""Real values :math:`x \in \mathbb{R}` with a mixture of normal laws.

    .. math::

        p(x) = \sum_{k=1}^{K} w_k\, \mathcal{N}(x; \mu_k, \sigma_k^2),

    with softmax weights, :math:`\mu_k = m_k + c_k` (the offsets :math:`c_k` spread evenly
    over ``[-1, 1]``, so that the components start apart and a double-well marginal is found
    from the first steps) and :math:`\sigma_k = \mathrm{softplus}(s_k + 0.5413) + 10^{-3}`
    (1 at ``s_k = 0``). Why normal rather than logistic components: the density is normalized
    in closed form, sampling is exact (a component, then a normal variate), and its Gaussian
    tails are those of the lattice field theories modelled here (the quartic or quadratic
    on-site terms of :math:`\phi^4`, of the free field and of the path integral make every
    conditional decay at least as fast as a Gaussian); logistic tails are exponential, and
    would put too much mass at large :math:`|x|`, which a learned action then rewards. Two
    components already give the double-well marginal of :math:`\phi^4` in its broken phase.
    The network sees ``x`` itself.

    Parameters
    ----------
    n_components : int, default=4
        Mixture components ``K``.

    Examples
    --------
    >>> import torch
    >>> from skphys.autoregressive import NormalMixture
    >>> mix = NormalMixture(1)
    >>> params = torch.zeros(1, 3, 1)  # one component: mean 0, sigma 1 + 1e-3
    >>> round(mix.log_prob(params, torch.tensor([[0.0]])).item(), 4)  # -ln(sqrt(2 pi) sigma)
    -0.9199
    """

    n_inputs = 1
    n_summary = 2
    periodic = False

    offsets: torch.Tensor  # buffer (n_components,)

    def __init__(self, n_components: int = 4):
        super().__init__(n_components)
        offsets = torch.linspace(-1.0, 1.0, n_components) if n_components > 1 else torch.zeros(1)
        self.register_buffer("offsets", offsets, persistent=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Network input ``(batch, 1, n_sites)``: the values themselves."""
        return x.unsqueeze(1)

    def _split(self, params: torch.Tensor):
        logits, m, s = params.unflatten(1, (3, self.n_components)).unbind(1)
        shape = (1, -1) + (1,) * (m.dim() - 2)
        mu = m + self.offsets.to(m.dtype).view(shape)
        return torch.log_softmax(logits, dim=1), mu, F.softplus(s + 0.5413) + 1e-3

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log p(x_i | params_i)`` of shape ``(batch, n_sites)``."""
        log_w, mu, sigma = self._split(params)
        z = (x.unsqueeze(1) - mu) / sigma
        log_normal = -0.5 * z.square() - torch.log(sigma) - 0.5 * math.log(_TWO_PI)
        return torch.logsumexp(log_w + log_normal, dim=1)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None):
        """One value per row from ``params`` of shape ``(batch, 3 K)``."""
        mean, scale = self._pick(params, generator)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device,
                            dtype=mean.dtype)
        return mean + scale * noise

    def summary(self, params: torch.Tensor) -> torch.Tensor:
        """Conditional mean and standard deviation, shape ``(batch, 2, n_sites)``."""
        log_w, mu, sigma = self._split(params)
        w = log_w.exp()
        mean = (w * mu).sum(1)
        second = (w * (sigma.square() + mu.square())).sum(1)
        return torch.stack([mean, (second - mean.square()).clamp_min(0).sqrt()], dim=1)

    @staticmethod
    def flip(x: torch.Tensor) -> torch.Tensor:
        """The reflection ``x -> -x``."""
        return -x
