"""Autoregressive building blocks: masks, exact normalization, samplers, Beta and Gaussian
mixtures."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats

from skphys._torch_utils import init_parameters
from skphys.autoregressive import (
    AutoregressiveModel,
    Bernoulli,
    BetaMixture,
    MADENetwork,
    NormalMixture,
    PixelCNNNetwork,
    sample_log_gamma,
)

F64 = torch.float64


def _seeded(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    init_parameters(module, torch.Generator().manual_seed(seed))
    return module.to(F64)


def _network(kind: str, shape, in_channels, out_channels, n_layers, residual, seed=0):
    n_sites = math.prod(shape)
    if kind == "made":
        net = MADENetwork(n_sites, in_channels, out_channels, hidden_channels=3,
                          n_layers=n_layers, residual=residual)
    else:
        net = PixelCNNNetwork(shape, in_channels, out_channels, hidden_channels=4,
                              n_layers=n_layers, residual=residual)
    return _seeded(net, seed)


def _jacobian_support(net, in_channels, n_sites, seed):
    """Boolean (n_sites, n_sites): does any output at site i move with any input at site j."""
    x = torch.randn(1, in_channels, n_sites, generator=torch.Generator().manual_seed(seed),
                    dtype=F64)
    jac = torch.autograd.functional.jacobian(lambda v: net(v)[0], x)[:, :, 0]
    return jac.abs().amax(dim=(0, 2)) > 0  # (out site, in site)


shapes = st.one_of(
    st.tuples(st.integers(2, 7)),
    st.tuples(st.integers(2, 5), st.integers(2, 5)),
)


@given(kind=st.sampled_from(["made", "pixelcnn"]), shape=shapes, in_channels=st.integers(1, 2),
       n_layers=st.integers(1, 4), residual=st.booleans(), seed=st.integers(0, 2**16))
def test_output_at_site_i_depends_exactly_on_earlier_sites(kind, shape, in_channels, n_layers,
                                                           residual, seed):
    n_sites = math.prod(shape)
    net = _network(kind, shape, in_channels, 2, n_layers, residual, seed)
    support = _jacobian_support(net, in_channels, n_sites, seed)
    earlier = torch.tril(torch.ones(n_sites, n_sites, dtype=torch.bool), diagonal=-1)
    # d out_i / d x_j == 0 for every j >= i, and != 0 for every j < i (the full receptive
    # field: the first PixelCNN kernel covers all earlier sites in raster order)
    assert torch.equal(support, earlier)


def test_pixelcnn_on_a_chain_has_one_row_kernels():
    # the rows above a 1-D chain are padding only: the kernels keep the centre row
    net = _network("pixelcnn", (9,), 1, 2, n_layers=3, residual=True)
    kernels = [net.first.weight.shape[-2:]] + [layer.weight.shape[-2:] for layer in net.hidden]
    assert kernels == [(1, 17), (1, 3), (1, 3)]
    assert _network("pixelcnn", (3, 3), 1, 2, 2, True).first.weight.shape[-2:] == (5, 5)


@given(shape=shapes, n_layers=st.integers(1, 4), residual=st.booleans(),
       seed=st.integers(0, 2**16))
def test_pixelcnn_forward_site_matches_full_pass(shape, n_layers, residual, seed):
    net = _network("pixelcnn", shape, 2, 3, n_layers, residual, seed)
    x = torch.randn(2, 2, math.prod(shape), generator=torch.Generator().manual_seed(seed),
                    dtype=F64)
    full = net(x)
    for site in range(math.prod(shape)):
        torch.testing.assert_close(net.forward_site(x, site), full[:, :, site], rtol=0,
                                   atol=1e-12)


def _spin_model(kind, shape, z2, seed=0):
    net = _network(kind, shape, 1, 1, n_layers=2, residual=True, seed=seed)
    # larger weights than the default initialization: far from uniform, strongly correlated
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)
    return AutoregressiveModel(math.prod(shape), net, Bernoulli(), z2_mixture=z2)


def _all_spins(n_sites):
    return torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n_sites)), dtype=F64)


@pytest.mark.parametrize("kind", ["made", "pixelcnn"])
@pytest.mark.parametrize("shape", [(2, 2), (3, 3)])
@pytest.mark.parametrize("z2", [False, True])
def test_exact_normalization_by_enumeration(kind, shape, z2):
    model = _spin_model(kind, shape, z2)
    with torch.no_grad():
        log_q = model.log_prob(_all_spins(math.prod(shape)))
    assert abs(torch.logsumexp(log_q, 0).exp().item() - 1) < 1e-6
    assert log_q.std() > 0.2  # a non-trivial distribution, not the uniform one


@pytest.mark.parametrize("kind", ["made", "pixelcnn"])
@pytest.mark.parametrize("z2", [False, True])
def test_samples_follow_model_chi_square(kind, z2):
    shape, n = (2, 2), 40_000
    model = _spin_model(kind, shape, z2, seed=1)
    states = _all_spins(4)
    with torch.no_grad():
        probs = model.log_prob(states).exp().numpy()
    x, _ = model.sample(n, generator=torch.Generator().manual_seed(0))
    index = ((x > 0).long() * (2 ** torch.arange(3, -1, -1))).sum(1).numpy()
    counts = np.bincount(index, minlength=16)
    assert stats.chisquare(counts, n * probs).pvalue > 1e-3
    if z2:  # the symmetrized model gives s and -s the same probability
        np.testing.assert_allclose(probs, probs[::-1], rtol=1e-12)


def test_sampling_is_reproducible_with_a_generator():
    model = _spin_model("pixelcnn", (3, 3), z2=True)
    a, log_a = model.sample(50, generator=torch.Generator().manual_seed(7))
    b, log_b = model.sample(50, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and torch.equal(log_a, log_b)
    c = model.sample_configurations(50, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, c)  # the same draws, without the log-density


@pytest.mark.parametrize("kind", ["made", "pixelcnn"])
@pytest.mark.parametrize("z2", [False, True])
def test_sample_returns_the_exact_log_density(kind, z2):
    # the DensityModel interface of the generative estimators: sample -> (x, log_q)
    model = _spin_model(kind, (3, 3), z2)
    x, log_q = model.sample(64, generator=torch.Generator().manual_seed(0))
    assert x.shape == (64, 9) and log_q.shape == (64,) and not log_q.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(log_q, model.log_prob(x), rtol=0, atol=0)
    angles = _angle_model((2, 2), z2, seed=0)
    theta, log_q = angles.sample(16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(log_q, angles.log_prob(theta), rtol=0, atol=0)


def _mixture_params(k: int, seed: int) -> torch.Tensor:
    return torch.randn(1, 3 * k, 1, generator=torch.Generator().manual_seed(seed),
                       dtype=F64) * 1.5


@pytest.mark.parametrize("seed", range(3))
def test_beta_mixture_density_integrates_to_one(seed):
    mix = BetaMixture(3)
    params = _mixture_params(3, seed)
    params[:, 3:] = 1 + params[:, 3:].abs()  # alpha, beta > 1: no endpoint singularity for quad

    def density(theta):
        x = torch.tensor([[theta]], dtype=F64)
        return mix.log_prob(params, x).exp().item()

    total, _ = integrate.quad(density, 0, 2 * math.pi, limit=200)
    assert abs(total - 1) < 1e-6


def test_beta_mixture_sampling_moments():
    k, n = 3, 200_000
    mix = BetaMixture(k)
    params = _mixture_params(k, 0)
    log_w, alpha, beta = (t[0, :, 0] for t in mix._split(params))
    w = log_w.exp()
    m1 = (w * alpha / (alpha + beta)).sum()
    m2 = (w * alpha * (alpha + 1) / ((alpha + beta) * (alpha + beta + 1))).sum()
    theta = mix.sample(params[..., 0].expand(n, -1), torch.Generator().manual_seed(0))
    assert theta.min() >= 0 and theta.max() < 2 * math.pi
    u = theta / (2 * math.pi)
    sd = math.sqrt(m2 - m1**2)
    assert abs(u.mean() - m1) < 5 * sd / math.sqrt(n)
    assert abs((u**2).mean() - m2) < 5 * math.sqrt((u**4).mean() - m2**2) / math.sqrt(n)


@pytest.mark.parametrize("alpha", [0.05, 0.7, 1.0, 4.0, 300.0])
def test_gamma_sampler_matches_scipy(alpha):
    log_g = sample_log_gamma(torch.full((20_000,), alpha, dtype=F64),
                             torch.Generator().manual_seed(1))
    assert torch.isfinite(log_g).all()
    # Kolmogorov-Smirnov on log G, where even tiny alpha gives representable values
    pvalue = stats.kstest(log_g.numpy(), lambda y: stats.gamma.cdf(np.exp(y), alpha)).pvalue
    assert pvalue > 1e-3


def test_summary_and_flip():
    spin = Bernoulli()
    params = torch.zeros(2, 1, 3, dtype=F64)
    assert torch.equal(spin.summary(params), torch.full((2, 1, 3), 0.5, dtype=F64))
    theta = torch.tensor([[0.0, 1.0, 2 * math.pi - 1.0]], dtype=F64)
    torch.testing.assert_close(BetaMixture.flip(theta),
                               torch.tensor([[0.0, 2 * math.pi - 1.0, 1.0]], dtype=F64))
    summary = BetaMixture(2).summary(torch.zeros(1, 6, 4, dtype=F64))
    torch.testing.assert_close(summary[:, 0], torch.full((1, 4), math.pi, dtype=F64))


def _angle_model(shape, z2: bool, seed: int) -> AutoregressiveModel:
    """A rotation-symmetric MADE model of angles whose Beta components have alpha, beta > 1
    (a smooth density that quadrature integrates accurately)."""
    n_sites = math.prod(shape)
    net = _network("made", shape, 2, 12, n_layers=2, residual=True, seed=seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(seed),
                                     dtype=F64))
        net.last.bias[4 * n_sites:] += 2.0  # the alpha and beta channels (after 4 logits)
    return AutoregressiveModel(n_sites, net, BetaMixture(4), z2_mixture=z2,
                               rotation_symmetric=True)


@given(z2=st.booleans(), seed=st.integers(0, 2**16), shift=st.floats(-10.0, 10.0))
def test_rotation_symmetric_model_is_exactly_invariant(z2, seed, shift):
    model = _angle_model((2, 2), z2, seed)
    x = 2 * math.pi * torch.rand(64, 4, generator=torch.Generator().manual_seed(seed),
                                 dtype=F64)
    with torch.no_grad():
        log_q = model.log_prob(x)
        rotated = model.log_prob(torch.remainder(x + shift, 2 * math.pi))
    torch.testing.assert_close(rotated, log_q, rtol=0, atol=1e-9)


@pytest.mark.parametrize("z2", [False, True])
def test_rotation_symmetric_model_normalization_and_samples(z2):
    # two sites: q(theta_0, theta_1) = q(0, d) with d = theta_1 - theta_0, so the density of d
    # is 2 pi q(0, d); it must integrate to one and describe the samples
    model = _angle_model((2,), z2, seed=3)
    n_fine, n_bins, n = 20_000, 20, 200_000
    d = (torch.arange(n_fine, dtype=F64) + 0.5) * 2 * math.pi / n_fine
    with torch.no_grad():
        density = 2 * math.pi * model.log_prob(torch.stack([torch.zeros_like(d), d], 1)).exp()
        x, _ = model.sample(n, generator=torch.Generator().manual_seed(0))
    probs = (density.reshape(n_bins, -1).mean(1) * 2 * math.pi / n_bins).numpy()
    assert abs(probs.sum() - 1) < 1e-6
    assert probs.max() > 2 * probs.min()  # far from uniform
    # the first angle is uniform, the difference follows the density
    first = np.histogram(x[:, 0].numpy(), n_bins, (0, 2 * math.pi))[0]
    assert stats.chisquare(first).pvalue > 1e-3
    diff = torch.remainder(x[:, 1] - x[:, 0], 2 * math.pi).numpy()
    counts = np.histogram(diff, n_bins, (0, 2 * math.pi))[0]
    assert stats.chisquare(counts, n * probs / probs.sum()).pvalue > 1e-3


def test_rotation_symmetry_needs_angles():
    with pytest.raises(ValueError, match="rotation_symmetric"):
        AutoregressiveModel(4, MADENetwork(4, 1, 1), Bernoulli(), rotation_symmetric=True)


# -- real fields: Gaussian-mixture conditionals -----------------------------------------------
def _real_model(kind, shape, z2, seed=0, k=3):
    net = _network(kind, shape, 1, 3 * k, n_layers=2, residual=True, seed=seed)
    return AutoregressiveModel(math.prod(shape), net, NormalMixture(k), z2_mixture=z2)


def _grid(n_sites, half_width=10.0, n=81):
    """The nodes of a uniform grid on [-w, w]^n_sites and the volume of a cell."""
    axis = torch.linspace(-half_width, half_width, n, dtype=F64)
    nodes = torch.cartesian_prod(*[axis] * n_sites).reshape(-1, n_sites)
    return nodes, (axis[1] - axis[0]).item() ** n_sites


@pytest.mark.parametrize("kind, shape, z2", [("made", (2,), False), ("made", (2,), True),
                                             ("pixelcnn", (2,), True), ("made", (3,), False),
                                             ("pixelcnn", (3,), False)])
def test_real_model_integrates_to_one(kind, shape, z2):
    # the trapezoidal rule converges exponentially for a smooth density that vanishes at the
    # ends of the grid: the sum over the grid is the integral to far below the tolerance
    model = _real_model(kind, shape, z2, seed=2)
    nodes, cell = _grid(math.prod(shape))
    with torch.no_grad():
        log_q = model.log_prob(nodes)
    assert abs(torch.logsumexp(log_q, 0).exp().item() * cell - 1) < 1e-9
    assert log_q.max() - log_q.min() > 40  # the grid reaches far into the tails


@pytest.mark.parametrize("kind", ["made", "pixelcnn"])
@pytest.mark.parametrize("z2", [False, True])
def test_real_samples_follow_the_model(kind, z2):
    # moments of the samples against quadrature of the density, within 4 standard errors
    model = _real_model(kind, (2,), z2, seed=2)
    nodes, cell = _grid(2)
    with torch.no_grad():
        weight = model.log_prob(nodes).exp() * cell
        x, log_q = model.sample(40_000, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(log_q, model.log_prob(x), rtol=0, atol=0)
    features = [lambda v: v[:, 0], lambda v: v[:, 1], lambda v: v[:, 0] * v[:, 1],
                lambda v: v[:, 1].square(), lambda v: torch.sigmoid(4 * v[:, 1] - 2)]
    for f in features:
        exact = (weight * f(nodes)).sum().item()
        values = f(x)
        error = values.std().item() / math.sqrt(len(values))
        assert abs(values.mean().item() - exact) < 4 * error
    if z2:
        flipped = model.log_prob(-nodes)
        torch.testing.assert_close(flipped, model.log_prob(nodes), rtol=1e-12, atol=1e-12)


def test_real_model_conditionals_are_autoregressive():
    # the conditional of site i (mean and spread) moves with the earlier sites only
    model = _real_model("pixelcnn", (3, 3), z2=False, seed=1)
    x = torch.randn(1, 9, generator=torch.Generator().manual_seed(0), dtype=F64)
    jac = torch.autograd.functional.jacobian(lambda v: model.conditionals(v)[0], x)[:, 0]
    support = jac.reshape(2, 9, 9).abs().amax(0) > 0  # (conditional site, input site)
    assert torch.equal(support, torch.tril(torch.ones(9, 9, dtype=torch.bool), -1))


def test_gaussian_mixture_density_sampling_and_summary():
    mix = NormalMixture(3)
    params = _mixture_params(3, 0)
    total, _ = integrate.quad(lambda v: mix.log_prob(params, torch.tensor([[v]], dtype=F64))
                              .exp().item(), -np.inf, np.inf, limit=200)
    assert abs(total - 1) < 1e-8
    log_w, mu, sigma = (t[0, :, 0] for t in mix._split(params))
    mean = (log_w.exp() * mu).sum()
    var = (log_w.exp() * (sigma**2 + mu**2)).sum() - mean**2
    torch.testing.assert_close(mix.summary(params)[0, :, 0], torch.stack([mean, var.sqrt()]))
    draws = mix.sample(params[..., 0].expand(200_000, -1), torch.Generator().manual_seed(0))
    assert abs(draws.mean() - mean) < 4 * var.sqrt() / math.sqrt(200_000)
    assert abs(draws.var() / var - 1) < 0.02
    assert torch.equal(NormalMixture.flip(draws), -draws)
