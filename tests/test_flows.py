"""Flow layers: bijectivity, log-determinants against autograd, symmetries."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from skphys import CouplingFlow, FlowSampler, MERAFlow, RGFlow
from skphys._torch_utils import init_parameters
from skphys.flows import (
    AffineCoupling,
    CircularConvNet,
    Composed,
    ContinuousBijector,
    EquivariantVelocity,
    FourierGaussian,
    block_coupling,
    checkerboard_mask,
    momentum_orbits,
    tanh,
)
from skphys.flows._model import LatticeFlow, coupling_flow, mera_flow
from skphys.lattice import FreeScalar
from skphys.lattice.exact import free_scalar_log_z

L = 4


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.floats(-40, 40, width=32), min_size=1, max_size=64))
def test_tanh_is_torch_tanh_to_rounding(values):
    for dtype, tol in ((torch.float32, 4e-7), (torch.float64, 1e-15)):
        x = torch.tensor(values, dtype=dtype)
        assert torch.allclose(tanh(x), torch.tanh(x), rtol=0, atol=tol)
        assert torch.equal(tanh(-x), -tanh(x))  # exactly odd


def test_tanh_derivatives_are_those_of_tanh():
    x = torch.linspace(-6, 6, 41, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(tanh, (x,))
    assert torch.autograd.gradgradcheck(tanh, (x,))
    (grad,) = torch.autograd.grad(tanh(x).sum(), x)
    assert torch.allclose(grad, 1 / torch.cosh(x.detach()) ** 2, rtol=0, atol=1e-15)
    assert torch.equal(torch.func.vmap(tanh)(x.detach().view(41, 1)).view(-1),
                       tanh(x.detach()))


def _random_(module, seed, std):
    g = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        with torch.no_grad():
            p.normal_(0.0, std, generator=g)
    return module


def _coupling(seed, channels=1, z2=True):
    def net():  # odd (no biases, tanh) with channel groups (a, b, t) when z2
        return CircularConvNet(2, channels, (3 if z2 else 2) * channels, [8, 8], 3,
                               torch.nn.Tanh, final_tanh=True, bias=not z2)

    layers = [FourierGaussian((L, L))]
    layers += [AffineCoupling(checkerboard_mask((L, L), i % 2), net(), z2) for i in range(2)]
    return _random_(Composed(layers).double(), seed, 0.3)


def _continuous(seed, channels=1, weight_std=0.1, **flow_kwargs):
    velocity = EquivariantVelocity((L, L), channels, n_frequencies=3, n_time_kernels=3)
    flow = Composed([FourierGaussian((L, L)), ContinuousBijector(velocity, **flow_kwargs)])
    _random_(flow.double(), seed, 0.3)
    with torch.no_grad():  # velocity weights of order those of a trained flow
        velocity.weight.normal_(0.0, weight_std, generator=torch.Generator().manual_seed(seed))
    return flow


FLOWS = {"coupling": _coupling, "continuous": _continuous}


def _log_det_autograd(flow, z):
    shape = z.shape[1:]
    jac = torch.autograd.functional.jacobian(
        lambda v: flow(v.view(1, *shape))[0].flatten(), z[0].flatten()
    )
    return torch.linalg.slogdet(jac)[1]


@pytest.mark.parametrize("kind", FLOWS)
@settings(max_examples=6)
@given(seed=st.integers(0, 2**16), channels=st.sampled_from([1, 2]))
def test_log_det_matches_autograd(kind, seed, channels):
    flow = FLOWS[kind](seed, channels)
    z = torch.randn(1, channels, L, L, generator=torch.Generator().manual_seed(seed),
                    dtype=torch.float64)
    _, log_det = flow(z)
    if kind == "coupling":
        assert abs(_log_det_autograd(flow, z) - log_det[0]) < 1e-9 * max(1.0, abs(log_det[0]))
    else:  # RK4 with the step count from the measured error
        assert abs(_log_det_autograd(flow, z) - log_det[0]) < flow.bijectors[1].log_det_tol


@pytest.mark.parametrize("kind", FLOWS)
@settings(max_examples=6)
@given(seed=st.integers(0, 2**16))
def test_round_trip_float32(kind, seed):
    flow = (FLOWS[kind](seed) if kind == "coupling" else _continuous(seed, weight_std=0.03)).float()
    z = torch.randn(8, 1, L, L, generator=torch.Generator().manual_seed(seed))
    x, log_det = flow(z)
    z_back, log_det_inv = flow.inverse(x)
    assert (z_back - z).abs().max() <= 1e-5
    assert (log_det + log_det_inv).abs().max() <= 1e-4


@pytest.mark.parametrize("kind", FLOWS)
def test_equivariance(kind):
    flow = FLOWS[kind](1) if kind == "continuous" else _coupling(1, z2=True)
    z = torch.randn(3, 1, L, L, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = flow(z)[0]
    torch.testing.assert_close(flow(-z)[0], -x)  # Z2
    if kind == "continuous":  # translations and the point group too
        torch.testing.assert_close(flow(torch.roll(z, (1, 2), (2, 3)))[0],
                                   torch.roll(x, (1, 2), (2, 3)))
        torch.testing.assert_close(flow(z.transpose(2, 3))[0], x.transpose(2, 3))
        torch.testing.assert_close(flow(z.flip(2))[0], x.flip(2))


@pytest.mark.parametrize("weight_std", [0.75, 1.25])
def test_continuous_steps_follow_the_measured_error(weight_std):
    # a stiff velocity integrated with a fixed 10-step RK4 has an integrated divergence off the
    # log-det of the discrete map by up to O(1) -- the error reverse-KL training exploits
    flow = _continuous(2, weight_std=weight_std)
    z = torch.randn(3, 1, L, L, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ode = flow.bijectors[1]
    log_det = flow(z)[1]  # training mode: the first call sets the step count
    assert ode.steps() > 10
    for i in range(2):
        assert abs(_log_det_autograd(flow, z[i:i + 1]) - log_det[i]) < ode.log_det_tol
    flow.eval()  # evaluation mode keeps the count
    steps = ode.steps()
    ode.log_det_tol = float("inf")
    flow(z)
    assert ode.steps() == steps
    flow.train()
    ode._calls = 0
    flow(z)  # an infinite tolerance: exactly n_steps
    assert ode.steps() == 10
    assert abs(_log_det_autograd(flow, z[:1]) - flow(z[:1])[1][0]) > 1e-2
    ode.log_det_tol = 0.01
    with torch.no_grad():  # a gentle velocity comes back to the minimum
        ode.rhs.velocity.weight.mul_(0.01)
    ode._calls = 0
    assert ode.calibrate(z) < 0.01 and ode.steps() == 10


def test_continuous_convolutions_agree():
    g = torch.Generator().manual_seed(0)
    phi = torch.randn(3, 2, 4, 6, generator=g, dtype=torch.float64)
    t = torch.tensor(0.3, dtype=torch.float64)
    out = []
    for convolution in ("dense", "fft"):
        velocity = EquivariantVelocity((4, 6), 2, 3, 4, convolution=convolution).double()
        with torch.no_grad():
            velocity.weight.normal_(generator=torch.Generator().manual_seed(1))
        out.append(velocity(t, phi))
    torch.testing.assert_close(out[0], out[1])
    with pytest.raises(ValueError, match="convolution"):
        EquivariantVelocity((4, 4), convolution="sparse")


def test_coupling_without_z2_is_not_equivariant():
    flow = _coupling(2, z2=False)
    z = torch.randn(2, 1, L, L, dtype=torch.float64)
    assert (flow(-z)[0] + flow(z)[0]).abs().max() > 1e-3


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16), channels=st.sampled_from([1, 2]))
def test_z2_coupling_flow_density_is_even(seed, channels):
    """One network pass per layer, yet f(-z) = -f(z) and q(-x) = q(x) exactly."""
    flow = coupling_flow((L, L), channels, n_layers=3, hidden_channels=(4,), kernel_size=3,
                         activation="tanh", final_tanh=False, z2_equivariant=True,
                         fourier_layer=True).double()
    _random_(flow, seed, 0.5)
    z = torch.randn(4, channels * L * L, generator=torch.Generator().manual_seed(seed),
                    dtype=torch.float64)
    x = flow.from_latent(z)
    torch.testing.assert_close(flow.from_latent(-z), -x)
    torch.testing.assert_close(flow.log_prob(-x), flow.log_prob(x))
    assert (x - z).abs().max() > 0.1  # the test flow is far from the identity


def test_z2_coupling_flow_starts_at_the_identity_with_live_gradients():
    flow = coupling_flow((L, L), 1, n_layers=2, hidden_channels=(4,), kernel_size=3,
                         activation="tanh", final_tanh=True, z2_equivariant=True,
                         fourier_layer=False).double()
    init_parameters(flow, torch.Generator().manual_seed(0))
    z = torch.randn(8, L * L, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(flow.from_latent(z), z)
    optimizer = torch.optim.SGD(flow.parameters(), lr=1e-2)
    for _ in range(2):  # b and t move first, then a (ds/da = b)
        optimizer.zero_grad()
        flow.from_latent(z).pow(4).sum().backward()  # a non-Gaussian target
        optimizer.step()
    assert all(p.grad.abs().min() > 0 for p in flow.parameters())


def test_z2_couplings_start_at_the_identity_as_built():
    """Built directly (no init_parameters), as their docstrings promise."""
    z = torch.randn(8, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    odd_net = CircularConvNet(2, 1, 3, [4], activation=torch.nn.Tanh, bias=False)
    layers = [AffineCoupling(checkerboard_mask((4, 4), 0), odd_net, z2_equivariant=True),
              block_coupling(1, (4, 4), n_layers=3, hidden_channels=(8,),
                             z2_equivariant=True)]
    for layer in layers:
        x, log_det = layer(z)
        assert torch.equal(x, z) and torch.equal(log_det, torch.zeros(8))


def test_z2_coupling_flow_needs_an_odd_activation():
    with pytest.raises(ValueError, match="z2_equivariant=True needs an odd activation"):
        coupling_flow((L, L), 1, n_layers=2, hidden_channels=(4,), kernel_size=3,
                      activation="leaky_relu", final_tanh=True, z2_equivariant=True,
                      fourier_layer=False)


def test_tutorial_recipe_architecture():
    """16 couplings, conv nets 1->8->8->2 with biases, LeakyReLU, tanh output, nothing else."""
    flow = coupling_flow((8, 8), 1, n_layers=16, hidden_channels=(8, 8), kernel_size=3,
                         activation="leaky_relu", final_tanh=True, z2_equivariant=False,
                         fourier_layer=False)
    layers = list(flow.bijector.bijectors)
    assert len(layers) == 16 and all(isinstance(b, AffineCoupling) for b in layers)
    assert [int(b.mask[0, 0]) for b in layers[:2]] == [1, 0]  # alternating parities
    net = list(layers[0].net)
    assert [type(m).__name__ for m in net] == ["Conv2d", "LeakyReLU", "Conv2d", "LeakyReLU",
                                               "Conv2d", "Tanh"]
    convs = net[::2]
    assert [(m.in_channels, m.out_channels) for m in convs] == [(1, 8), (8, 8), (8, 2)]
    assert all(m.bias is not None and m.padding_mode == "circular" for m in convs)


def _free_field_layer(m2: float, n: int) -> FourierGaussian:
    """A Fourier layer set to the free field of ``FreeScalar((n, n), m2)`` (float64)."""
    layer = FourierGaussian((n, n)).double()
    k = 2 * torch.pi * torch.arange(n, dtype=torch.float64) / n
    p2 = 4 - 2 * torch.cos(k)[:, None] - 2 * torch.cos(k)[None, :]
    labels, _ = momentum_orbits((n, n))
    with torch.no_grad():
        for label in labels.unique():
            layer.log_sigma[label] = -0.5 * torch.log(m2 + p2[labels == label][0])
    return layer


def test_fourier_layer_produces_the_free_field():
    m2, n = 0.5, 8
    layer = _free_field_layer(m2, n)
    # covariance of x = F^-1 sigma F z is the inverse of (m2 - Laplacian)
    eye = torch.eye(n * n, dtype=torch.float64).view(n * n, 1, n, n)
    A = layer(eye)[0].reshape(n * n, n * n)
    lap = torch.zeros(n * n, n * n, dtype=torch.float64)
    idx = torch.arange(n * n).view(n, n)
    for shift in [(0, 1), (1, 0), (0, -1), (-1, 0)]:
        lap[idx.flatten(), torch.roll(idx, shift, (0, 1)).flatten()] -= 1
    lap += 4 * torch.eye(n * n)
    cov = A.T @ A
    torch.testing.assert_close(cov, torch.linalg.inv(lap + m2 * torch.eye(n * n)))


@pytest.mark.parametrize("z2_mixture", [False, True])
def test_path_gradient_vanishes_per_sample_at_the_optimum(z2_mixture):
    """With the mixture both branches of log q must be frozen for the gradient to vanish."""
    m2, n = 0.5, 4
    flow = LatticeFlow((n, n), 1, Composed([_free_field_layer(m2, n)]), z2_mixture=z2_mixture)
    theory = FreeScalar((n, n), m2=m2)
    exact = free_scalar_log_z((n, n), m2)
    for draw, vanishes in ((flow.sample, False), (flow.sample_path, True)):
        x, log_q = draw(3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        per_sample = log_q + theory.action(x)
        torch.testing.assert_close(per_sample, torch.full_like(per_sample, -exact))
        (grad,) = torch.autograd.grad(per_sample[0], flow.bijector.bijectors[0].log_sigma)
        assert (grad.abs().max() < 1e-10) == vanishes, grad


@pytest.mark.parametrize("z2_mixture", [False, True])
def test_sample_path_matches_sample(z2_mixture):
    flow = coupling_flow((L, L), 1, n_layers=2, hidden_channels=(4,), kernel_size=3,
                         activation="tanh", final_tanh=True, z2_equivariant=not z2_mixture,
                         fourier_layer=True).double()
    flow.z2_mixture = z2_mixture
    _random_(flow, 0, 0.3)
    x, log_q = flow.sample(5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x_path, log_q_path = flow.sample_path(5, generator=torch.Generator().manual_seed(1),
                                          dtype=torch.float64)
    torch.testing.assert_close(x_path, x)
    torch.testing.assert_close(log_q_path, log_q)


def _coupling_block(**kwargs):
    """``make_block`` of non-equivariant block couplings."""
    return lambda block, n_blocks: block_coupling(1, block, z2_equivariant=False, **kwargs)


def _mixture_flow(shape, seed: int = 0) -> LatticeFlow:
    """A random, not equivariant MERA flow with the Z2 mixture (float64)."""
    flow = mera_flow(shape, 1, block_size=2, n_levels=None, depth=1,
                     make_block=_coupling_block(n_layers=2, hidden_channels=(6,)),
                     prior="gaussian", z2_mixture=True).double()
    return _random_(flow, seed, 0.3)


def test_z2_mixture_density_is_the_symmetrized_flow():
    flow = _mixture_flow((L, L))
    x = torch.randn(16, L * L, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    log_q = flow.log_prob(x)
    expected = torch.logaddexp(flow.flow_log_prob(x), flow.flow_log_prob(-x)) - math.log(2)
    torch.testing.assert_close(log_q, expected, rtol=0, atol=1e-12)
    assert torch.equal(flow.log_prob(-x), log_q)  # exactly even
    assert not torch.allclose(flow.flow_log_prob(-x), flow.flow_log_prob(x))  # f is not odd
    # sample: the log density it returns is that of its rows
    x, log_q = flow.sample(16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    torch.testing.assert_close(log_q, flow.log_prob(x), rtol=0, atol=1e-10)
    # to_latent / from_latent stay the bijection f
    z = flow.to_latent(x)
    torch.testing.assert_close(flow.from_latent(z), x, rtol=0, atol=1e-12)
    torch.testing.assert_close(flow.flow_log_prob(x) - flow.prior_log_prob(z),
                               -flow.bijector(flow._fields(z))[1], rtol=0, atol=1e-10)


def test_z2_mixture_is_normalized():
    """Two sites, integrated on a grid."""
    flow = _mixture_flow((2,), seed=3)
    grid = torch.linspace(-12, 12, 601, dtype=torch.float64)
    x = torch.cartesian_prod(grid, grid)
    total = flow.log_prob(x).exp().sum() * (grid[1] - grid[0]) ** 2
    assert abs(total.item() - 1) < 1e-6


def test_z2_mixture_samples_flip_the_flow_samples():
    flow = _mixture_flow((L, L))
    plain, _ = flow.sample(64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    flow.z2_mixture = False
    x, _ = flow.sample(64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # mixture rows are the flow's rows (same latents) with a random sign per row
    sign = torch.where((plain == x).all(1), 1.0, -1.0).to(x)
    torch.testing.assert_close(plain, sign[:, None] * x, rtol=0, atol=0)
    assert 16 < (sign > 0).sum() < 48


@pytest.mark.parametrize("flow, error, match", [
    (CouplingFlow(kernel_size=99), ValueError, r"flow__kernel_size=99 is too large .* <= 9"),
    (CouplingFlow(n_layers=10**5), ValueError, r"flow__n_layers must be an int in \[1, 1000\]"),
    (CouplingFlow(hidden_channels=(10**6, 10**6)), ValueError, "reduce the size of the network"),
    (CouplingFlow(hidden_channels=(4.5,)), TypeError, "flow__hidden_channels must be"),
    (MERAFlow(depth=10**5), ValueError, "flow__depth must be"),
])
def test_architecture_sizes_are_checked_before_any_allocation(flow, error, match):
    theory = FreeScalar((4, 4), m2=1.0)
    estimator = (RGFlow if isinstance(flow, MERAFlow) else FlowSampler)(
        theory, flow=flow, max_iter=1, device="cpu")
    with pytest.raises(error, match=match):
        estimator.fit()
