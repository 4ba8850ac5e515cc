"""The MERA hierarchy and its block bijectors: level maps, exact inverse, exact log-det."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from skphys._torch_utils import init_parameters
from skphys.flows import (
    MERA,
    AffineMap,
    BlockMLP,
    LogitMap,
    block_coupling,
    block_ode,
    level_depths,
    max_levels,
    mera_flow,
    mera_levels,
)
from skphys.lattice import FreeScalar
from skphys.lattice.exact import free_scalar_log_z

BIJECTORS = ("coupling", "ode")
#: block couplings with a bias per block position (MERAFlow(translation_invariant=False))
PLACED = "coupling by position"


def _mera(shape, bijector: str, *, z2: bool = False, seed: int = 0, scale: float = 0.0,
          block_size: int = 2, n_levels: int | None = None, depth: int | tuple = 1,
          dtype=torch.float64, ode_steps: int = 4, fourier: bool = False) -> MERA:
    """A MERA of small blocks, initialized from ``seed`` and then perturbed by ``scale``."""
    def make_block(block, n_blocks):
        if bijector in ("coupling", PLACED):
            return block_coupling(1, block, n_layers=2, hidden_channels=(6,), z2_equivariant=z2,
                                  n_positions=n_blocks if bijector == PLACED else 1)
        return block_ode(1, block, hidden_channels=(6,), z2_equivariant=z2, n_steps=ode_steps)

    levels = max_levels(shape, block_size) if n_levels is None else n_levels
    mera = MERA(shape, block_size, levels, make_block, depth, fourier_layer=fourier)
    generator = torch.Generator().manual_seed(seed)
    init_parameters(mera, generator)
    with torch.no_grad():
        for p in mera.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator))
    return mera.to(dtype)


@pytest.mark.parametrize("shape, counts", [
    ((16, 16), [192, 48, 12, 4]),
    ((8, 8), [48, 12, 4]),
    ((16,), [8, 4, 2, 2]),
    ((16, 8), [96, 24, 8]),
])
def test_level_counts(shape, counts):
    assert mera_levels(shape).flatten().bincount().tolist() == counts


def test_partial_hierarchy_and_larger_blocks():
    assert mera_levels((16, 16), n_levels=2).flatten().bincount().tolist() == [192, 64]
    assert mera_levels((16, 16), block_size=4).flatten().bincount().tolist() == [240, 16]


def test_top_level_is_the_coarse_sublattice():
    levels = mera_levels((8, 8))
    assert (levels[::4, ::4] == 2).all()
    assert (levels[1::2] == 0).all() and (levels[:, 1::2] == 0).all()


def test_bad_hierarchies_rejected():
    with pytest.raises(ValueError, match="n_levels"):
        _mera((8, 8), "coupling", n_levels=4)
    with pytest.raises(ValueError, match="block_size"):
        _mera((9, 9), "coupling", block_size=3, n_levels=1)
    with pytest.raises(ValueError, match="block_size"):
        max_levels((8, 8), block_size=1)


@pytest.mark.parametrize("bijector", BIJECTORS)
@pytest.mark.parametrize("z2", [False, True])
def test_identity_at_initialization(bijector, z2):
    mera = _mera((8, 8), bijector, z2=z2)
    z = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1),
                    dtype=torch.float64)
    x, log_det = mera(z)
    assert torch.equal(x, z)
    assert torch.equal(log_det, torch.zeros(4, dtype=torch.float64))


@pytest.mark.parametrize("bijector, depth, fourier", [
    ("coupling", 1, False), ("coupling", 2, False), ("ode", 1, False),
    ("coupling", (1, 3, 2), False), ("coupling", 1, True), (PLACED, (2, 1, 1), False)])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_exact_inverse(bijector, depth, fourier, dtype, tol):
    mera = _mera((8, 8), bijector, seed=2, scale=0.1, depth=depth, dtype=dtype,
                 fourier=fourier)
    assert len(mera.decimators) == sum(level_depths(depth, 3))
    z = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(3), dtype=dtype)
    x, log_det = mera(z)
    z_back, log_det_inv = mera.inverse(x)
    assert (x - z).abs().max() > 0.05  # the map really moved the field
    assert (z_back - z).abs().max() < tol
    assert (log_det + log_det_inv).abs().max() < 10 * tol


@pytest.mark.parametrize("bijector", (*BIJECTORS, PLACED))
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(0.02, 0.2), z2=st.booleans(),
       fourier=st.booleans())
def test_log_det_matches_autograd_jacobian(bijector, seed, scale, z2, fourier):
    # 8 RK4 steps: with 4, weights perturbed by ~0.2 leave a 1.2e-6 solver error (seed 1,
    # scale 0.1875), falling 17x per halving of the step (O(h^4)): 7e-8 with 8
    mera = _mera((4, 4), bijector, z2=z2 and bijector != PLACED, seed=seed, scale=scale,
                 ode_steps=8, fourier=fourier)
    z = torch.randn(16, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)

    def forward(flat):
        return mera(flat.view(1, 1, 4, 4))[0].flatten()

    jacobian = torch.autograd.functional.jacobian(forward, z)
    expected = torch.linalg.slogdet(jacobian).logabsdet
    # RK4 integrates the divergence with the field: exact up to the solver's O(h^4) error
    tol = 1e-6 if bijector == "ode" else 1e-10
    assert abs(mera(z.view(1, 1, 4, 4))[1].item() - expected.item()) < tol


@pytest.mark.parametrize("bijector", ["coupling", PLACED])
def test_blocks_by_position_break_the_translation_symmetry_only_when_asked(bijector):
    """Shared blocks: G commutes with a shift by the period of the block structure (b**2 = 4
    sites for two levels); biases per block position (perturbed from zero) break that, and
    only that: the exact inverse stays."""
    mera = _mera((16, 16), bijector, seed=7, scale=0.2, n_levels=2)
    z = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(8),
                    dtype=torch.float64)
    x = mera(z)[0]
    shifted = mera(torch.roll(z, (4, -4), (2, 3)))[0]
    moved = (shifted - torch.roll(x, (4, -4), (2, 3))).abs().max()
    if bijector == PLACED:
        assert moved > 1e-2
        assert (mera.inverse(x)[0] - z).abs().max() < 1e-10
    else:
        assert moved < 1e-12
    assert (mera(torch.roll(z, (1, 0), (2, 3)))[0] - torch.roll(x, (1, 0), (2, 3))).abs().max() \
        > 1e-2  # a shift by one site is no symmetry of the hierarchy either way


def test_a_block_network_by_position_has_a_bias_per_position():
    net = BlockMLP(1, (2, 2), groups=2, hidden_channels=(5,), zero_init=False, n_positions=3)
    with torch.no_grad():
        net.position_bias.normal_(generator=torch.Generator().manual_seed(0))
    blocks = torch.randn(2, 3, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    out = net(blocks.flatten(0, 1)).unflatten(0, (2, 3))
    for position in range(3):
        first, rest = net.net[0], net.net[1:]
        expected = rest(first(blocks[:, position].flatten(1)) + net.position_bias[position])
        assert torch.allclose(out[:, position].flatten(1), expected, atol=1e-6)
    with pytest.raises(ValueError, match="multiple of 3 rows"):
        net(torch.randn(4, 1, 2, 2))
    with pytest.raises(ValueError, match="bias=True"):
        BlockMLP(1, (2, 2), groups=3, hidden_channels=(5,), bias=False, n_positions=3)


@pytest.mark.parametrize("fourier", [False, True])
def test_z2_equivariant_hierarchy_is_odd(fourier):
    mera = _mera((8, 8), "coupling", z2=True, seed=4, scale=0.2, fourier=fourier)
    z = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    x, log_det = mera(z)
    x_neg, log_det_neg = mera(-z)
    assert torch.allclose(x_neg, -x) and torch.allclose(log_det_neg, log_det)


def test_one_dimensional_and_two_channel_fields():
    mera = MERA((8,), 2, 3, lambda block, n_blocks: block_coupling(
        2, block, n_layers=2, hidden_channels=(4,), z2_equivariant=False)).double()
    generator = torch.Generator().manual_seed(6)
    init_parameters(mera, generator)
    with torch.no_grad():
        for p in mera.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    z = torch.randn(5, 2, 8, generator=generator, dtype=torch.float64)
    x, _ = mera(z)
    assert (mera.inverse(x)[0] - z).abs().max() < 1e-12


def _influence(mera: MERA, site: tuple[int, ...]) -> torch.Tensor:
    """Latent sites with a non-zero Jacobian entry for the output ``site`` (by autograd)."""
    z = torch.randn(1, 1, *mera.shape, generator=torch.Generator().manual_seed(7),
                    dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(mera(z)[0][(0, 0, *site)], z)
    return grad[0, 0] != 0


@pytest.mark.parametrize("depth", [1, 2, (1, 1, 2, 3)])
@pytest.mark.parametrize("site", [(0, 0), (5, 11), (15, 2)])
def test_causal_cone_contains_every_influential_latent(site, depth):
    mera = _mera((16, 16), "coupling", seed=8, scale=0.3, depth=depth)
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[site] = True
    cone = mera.causal_cone(mask)
    influence = _influence(mera, site)
    assert not (influence & ~cone).any()
    assert influence.sum() > 0.8 * cone.sum()  # the cone is tight, not the whole lattice
    assert cone.sum() < 256


@pytest.mark.parametrize("depth", [1, (2, 1, 1)])
def test_receptive_field_is_the_dual_of_the_causal_cone_and_holds_every_moved_site(depth):
    mera = _mera((8, 8), "coupling", seed=9, scale=0.3, depth=depth)
    eye = torch.eye(64, dtype=torch.bool).view(64, 8, 8)
    fields = torch.stack([mera.receptive_field(latent).flatten() for latent in eye])
    cones = torch.stack([mera.causal_cone(site).flatten() for site in eye])
    assert torch.equal(fields, cones.T)  # site s in field(i) <=> latent i in cone(s)
    z = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(10),
                    dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(
        lambda flat: mera(flat.view(1, 1, 8, 8))[0].flatten(), z.flatten())  # (site, latent)
    moved = (jacobian != 0).T
    assert not (moved & ~fields).any()
    if depth == 1:  # a level-0 latent moves a 4 x 4 region, never the whole image
        level0 = mera.levels.flatten() == 0
        assert fields[level0].sum(1).max() == 16 and moved[level0].sum(1).min() > 1


@pytest.mark.parametrize("output_map", [LogitMap(-1.0, 16.0, alpha=0.1), AffineMap(0.0, 17.0)])
def test_output_map_ends_the_flow_with_its_log_det(output_map):
    """G with an output map is the bijection onto the data interval, with the exact
    log-determinant (autograd Jacobian) and an exact inverse; its causal cone is unchanged."""
    mera = _mera((4, 4), "coupling", seed=11, scale=0.2)
    plain_cone = mera.causal_cone(torch.eye(16, dtype=torch.bool)[5].view(4, 4))
    mera.output_map = output_map.double()
    z = torch.randn(16, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    x, log_det = mera(z.view(1, 1, 4, 4))
    jacobian = torch.autograd.functional.jacobian(
        lambda flat: mera(flat.view(1, 1, 4, 4))[0].flatten(), z)
    assert abs(log_det.item() - torch.linalg.slogdet(jacobian).logabsdet.item()) < 1e-10
    z_back, log_det_inv = mera.inverse(x)
    assert (z_back.flatten() - z).abs().max() < 1e-10 and abs(log_det + log_det_inv) < 1e-10
    if isinstance(output_map, LogitMap):
        margin = 17.0 * 0.1 / 0.8  # the logistic image (low - d, high + d)
        assert x.min() > -1.0 - margin and x.max() < 16.0 + margin
    assert torch.equal(mera.causal_cone(torch.eye(16, dtype=torch.bool)[5].view(4, 4)),
                       plain_cone)


def test_fourier_layer_spreads_every_site_over_the_lattice():
    mera = _mera((8, 8), "coupling", seed=8, scale=0.3, fourier=True)
    mask = torch.zeros(8, 8, dtype=torch.bool)
    assert not mera.causal_cone(mask).any()
    mask[2, 5] = True
    assert mera.causal_cone(mask).all() and _influence(mera, (2, 5)).all()


def _coupling_block(**kwargs):
    """``make_block`` of non-equivariant block couplings."""
    return lambda block, n_blocks: block_coupling(1, block, z2_equivariant=False, **kwargs)


def test_fourier_layer_makes_the_free_field_exact():
    """Identity blocks and the free-field scales per momentum, sigma_k = (m2 + p_k^2)^-1/2:
    G maps the prior onto the free field exactly, so log q + S = -ln Z for every sample."""
    shape, m2 = (4, 4), 0.5
    flow = mera_flow(shape, 1, block_size=2, n_levels=None, depth=1,
                     make_block=_coupling_block(n_layers=2, hidden_channels=(4,)),
                     prior="gaussian", fourier_layer=True).double()
    init_parameters(flow, torch.Generator().manual_seed(0))
    layer = flow.bijector.boundary
    k = torch.stack(torch.meshgrid(*(torch.arange(n) for n in shape), indexing="ij"))
    p2 = (4 * torch.sin(math.pi * k.double() / torch.tensor(shape).view(-1, 1, 1)) ** 2).sum(0)
    with torch.no_grad():
        layer.log_sigma.index_put_((layer.labels.flatten(),),
                                   -0.5 * torch.log(m2 + p2).flatten())
    x, log_q = flow.sample(64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    excess = log_q + FreeScalar(shape, m2=m2).action(x) + free_scalar_log_z(shape, m2)
    assert excess.abs().max() < 1e-10
