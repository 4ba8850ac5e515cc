"""Lattice theories: actions against explicit sums, forces, local actions, conventions."""

from __future__ import annotations

import copy
import itertools
import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from skphys.lattice import XY, ComplexPhi4, FreeScalar, Ising, IsingDual, Phi4
from skphys.lattice.exact import T_C

THEORIES = [
    Phi4((4, 4), m2=-4.0, lam=8.0),
    Phi4((3, 4, 5), m2=0.3, lam=1.0),
    FreeScalar((4, 6), m2=0.5),
    ComplexPhi4((4, 4), t=1.0, mu=-2.0, lam=1.5),
    XY((4, 4), temperature=0.9),
    IsingDual((4, 4), temperature=T_C),
    IsingDual((5, 5), temperature=2.0),
]


def _neighbours(shape):
    """Forward-neighbour pairs (i, j) of a periodic lattice, one per bond direction."""
    index = np.arange(math.prod(shape)).reshape(shape)
    for site in itertools.product(*(range(n) for n in shape)):
        for mu in range(len(shape)):
            nb = list(site)
            nb[mu] = (nb[mu] + 1) % shape[mu]
            yield index[site], index[tuple(nb)]


def _explicit_action(theory, x):
    """The conventions' formulas written out site by site (float64 numpy)."""
    x = x.numpy()
    bonds = list(_neighbours(theory.shape))
    d = theory.ndim
    if isinstance(theory, Phi4):
        hop = sum(x[:, i] * x[:, j] for i, j in bonds)
        return -2 * hop + ((2 * d + theory.m2) * x**2 + theory.lam * x**4).sum(1)
    if isinstance(theory, FreeScalar):
        grad2 = sum((x[:, j] - x[:, i]) ** 2 for i, j in bonds)
        return 0.5 * grad2 + 0.5 * theory.m2 * (x**2).sum(1)
    if isinstance(theory, ComplexPhi4):
        n = theory.n_sites
        phi = x[:, :n] + 1j * x[:, n:]
        hop = sum((np.conj(phi[:, i]) * phi[:, j]).real * 2 for i, j in bonds)
        r2 = np.abs(phi) ** 2
        return -theory.t * hop + (theory.mu * r2 + theory.lam * r2**2).sum(1)
    if isinstance(theory, XY):
        return -sum(np.cos(x[:, i] - x[:, j]) for i, j in bonds) / theory.temperature
    if isinstance(theory, IsingDual):
        n = theory.n_sites
        adjacency = np.zeros((n, n))
        for i, j in bonds:
            adjacency[i, j] += 1
            adjacency[j, i] += 1
        kernel = adjacency / theory.temperature + theory.alpha * np.eye(n)
        assert abs(np.linalg.eigvalsh(kernel).min() - 0.1) < 1e-12
        quad = 0.5 * np.einsum("bi,ij,bj->b", x, np.linalg.inv(kernel), x)
        return quad - np.log(np.cosh(x)).sum(1)
    raise AssertionError(theory)


@pytest.mark.parametrize("theory", THEORIES, ids=repr)
def test_action_matches_explicit_sum(theory):
    x = theory.initial_state(5, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(theory.action(x).numpy(), _explicit_action(theory, x), rtol=1e-12,
                               atol=1e-10)


@pytest.mark.parametrize("theory", THEORIES, ids=repr)
@given(seed=st.integers(0, 2**31 - 1))
def test_analytic_force_and_local_action(theory, seed):
    g = torch.Generator().manual_seed(seed)
    x = theory.initial_state(3, generator=g) + 0.3 * torch.randn(3, theory.n_features,
                                                                 generator=g, dtype=torch.float64)
    xg = x.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(theory.action(xg).sum(), xg)
    torch.testing.assert_close(theory.grad_action(x), auto)
    if isinstance(theory, IsingDual):
        return  # non-local action
    # changing every site of one checkerboard colour changes S by the sum of local changes
    coords = torch.meshgrid(*(torch.arange(n) for n in theory.shape), indexing="ij")
    colour = (sum(coords) % 2 == 0).flatten().repeat(theory.n_components)
    y = x + colour * torch.randn(x.shape, generator=g, dtype=torch.float64)
    site_colour = colour[: theory.n_sites]
    if all(n % 2 == 0 for n in theory.shape):
        local = (theory.local_action(y) - theory.local_action(x))[:, site_colour].sum(1)
        torch.testing.assert_close(theory.action(y) - theory.action(x), local)


def test_ising_energy_and_local_action():
    theory = Ising((4, 4), temperature=2.0)
    up = torch.ones(1, 16, dtype=torch.float64)
    assert theory.energy(up).item() == -32.0 and theory.action(up).item() == -16.0
    s = theory.initial_state(4, generator=torch.Generator().manual_seed(1))
    assert set(s.unique().tolist()) <= {-1.0, 1.0}
    flipped = s.clone()
    flipped[:, 5] *= -1
    delta = theory.action(flipped) - theory.action(s)
    torch.testing.assert_close(delta, -2 * theory.local_action(s)[:, 5])
    with pytest.raises(TypeError, match="discrete"):
        theory.grad_action(s)


@given(m2=st.floats(-7.9, 5.0), lam=st.floats(0.01, 20.0))
def test_hopping_form_round_trip_and_action(m2, lam):
    theory = Phi4((4, 4), m2=m2, lam=lam)
    kappa, lam_h, c = theory.to_hopping()
    back = Phi4.from_hopping((4, 4), kappa, lam_h)
    assert back.m2 == pytest.approx(m2, abs=1e-9) and back.lam == pytest.approx(lam, rel=1e-9)
    # S_phi(c psi) equals the hopping-form action of psi
    psi = torch.randn(3, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    p = psi.view(3, 4, 4)
    hop = (p * torch.roll(p, -1, 1) + p * torch.roll(p, -1, 2)).sum((1, 2))
    s_hopping = -2 * kappa * hop + ((1 - 2 * lam_h) * psi**2 + lam_h * psi**4).sum(1)
    torch.testing.assert_close(theory.action(c * psi), s_hopping)


def test_tutorial_point_hopping_values():
    kappa, lam_h, c = Phi4((8, 8), m2=-4.0, lam=8.0).to_hopping()
    assert kappa == pytest.approx(1 / math.sqrt(16)) and lam_h == pytest.approx(0.5)
    assert c**2 == pytest.approx(kappa)  # susceptibilities of phi are c^2 times those of psi


def test_ising_dual_conventions():
    theory = IsingDual((4, 4), temperature=2.0)
    assert theory.alpha == pytest.approx(0.1 + 4 / 2.0)
    assert theory.coupling_eigenvalues().min().item() == pytest.approx(0.1)
    x = torch.randn(1000, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    p = theory.spin_probabilities(x)
    torch.testing.assert_close(p, 1 / (1 + torch.exp(-2 * x)))
    spins = theory.sample_spins(x, generator=torch.Generator().manual_seed(1))
    assert set(spins.unique().tolist()) == {-1.0, 1.0}
    # the improved estimators are the averages over spins drawn given x
    x3 = x[:3].repeat_interleave(20_000, 0)
    s = theory.sample_spins(x3, generator=torch.Generator().manual_seed(2)).view(3, 20_000, 16)
    m2_draws = (s.mean(2) ** 2)
    energy_draws = Ising((4, 4), temperature=2.0).energy(s.reshape(-1, 16)).view(3, 20_000)
    for draws, improved in ((m2_draws, theory.ising_magnetization_sq(x[:3])),
                            (energy_draws, theory.ising_energy(x[:3]))):
        error = draws.std(1) / math.sqrt(20_000)
        assert ((draws.mean(1) - improved).abs() < 4 * error).all()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Phi4((4, 4), m2=-4.0, lam=-1.0), "lam"),
        (lambda: Phi4((4, 4), m2=-1.0, lam=0.0), "m2"),
        (lambda: Phi4((4, 1), m2=1.0, lam=1.0), "shape"),
        (lambda: Phi4((4, 4), m2=float("nan"), lam=1.0), "m2"),
        (lambda: FreeScalar((4, 4), m2=0.0), "m2"),
        (lambda: ComplexPhi4((4, 4), t=1.0, mu=4.0, lam=0.0), "mu"),
        (lambda: Ising((4, 4), temperature=0.0), "temperature"),
        (lambda: XY((4, 4), temperature=-1.0), "temperature"),
        (lambda: IsingDual((4, 4), temperature=float("inf")), "temperature"),
    ],
)
def test_bad_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_wrong_row_length_and_type():
    theory = Phi4((4, 4), m2=-4.0, lam=8.0)
    with pytest.raises(ValueError, match=r"\(n_samples, 16\)"):
        theory.action(torch.zeros(2, 15))
    with pytest.raises(TypeError, match="shape"):
        Phi4("8x8", m2=1.0, lam=1.0)
    with pytest.raises(TypeError, match="m2"):
        Phi4((4, 4), m2="1", lam=1.0)


def test_symmetries_and_equality():
    assert Phi4((4, 4), -4.0, 8.0).symmetries == ("z2", "translation", "reflection", "rotation")
    assert "rotation" not in Phi4((4, 6), -4.0, 8.0).symmetries
    assert ComplexPhi4((4, 4), 1.0, 4.5, 0.0).symmetries[0] == "u1"
    assert Phi4((4, 4), -4.0, 8.0) == Phi4((4, 4), -4, 8)
    assert Phi4((4, 4), -4.0, 8.0) != Phi4((4, 4), -4.0, 7.0)
    theory = XY((4, 4), 1.0)
    assert eval(repr(theory)) == theory


@pytest.mark.parametrize("theory", THEORIES + [Ising((4, 4), 2.0)], ids=repr)
def test_used_theory_pickles_without_tensors(theory):
    """Whatever a theory caches on the device it last ran on stays out of pickles and copies,
    so an estimator fitted on a GPU unpickles on a machine without one."""
    x = theory.initial_state(3, generator=torch.Generator().manual_seed(0))
    action = theory.action(x)
    blob = pickle.dumps(theory)
    assert b"_rebuild_tensor" not in blob
    for twin in (pickle.loads(blob), copy.deepcopy(theory)):
        assert twin == theory
        torch.testing.assert_close(twin.action(x), action, rtol=0, atol=0)


@pytest.mark.parametrize("theory", THEORIES + [Ising((4, 4), 2.0)], ids=repr)
def test_estimators_holding_a_theory_can_be_cloned(theory):
    from sklearn.base import clone

    from skphys import FlowSampler

    estimator = FlowSampler(theory=theory)
    copy = clone(estimator)
    assert copy.theory == theory and copy.theory is not theory
