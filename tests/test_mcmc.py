"""Reference samplers of skphys.lattice.mcmc against exact results.

Statistical checks use fixed seeds and compare with exact values within 4 standard errors,
the errors including autocorrelations (Gamma method); each test also bounds the error bar,
so that it cannot pass by being vague.
"""

import math
import time
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import logsumexp
from scipy.stats import chisquare

from skphys import UnreliableEstimateWarning
from skphys.lattice import XY, ComplexPhi4, FreeScalar, Ising, IsingDual, Phi4
from skphys.lattice._adaptation import DualAveraging
from skphys.lattice._metropolis import checkerboard
from skphys.lattice._wolff import bond_clusters
from skphys.lattice.exact import T_C, free_scalar_propagator, ising_energy
from skphys.lattice.mcmc import MCMCResult, hmc, leapfrog, metropolis, wolff
from skphys.lattice.stats import mean_error


def seeded(seed: int = 0, device="cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def assert_agrees(series: torch.Tensor, exact: float, max_error: float) -> None:
    """The mean of ``series`` (n_chains, n) is within 4 sigma of ``exact``; sigma is small."""
    mean, error, tau = mean_error(series)
    assert error < max_error, f"error bar {error:.3g} too large (tau_int {tau:.3g})"
    assert abs(mean - exact) < 4 * error, f"{mean:.6f} +- {error:.2g} vs exact {exact:.6f}"


def enumerate_ising(L: int, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """All states of the L x L Ising model (rows, row-major sites) and their probabilities."""
    n = L * L
    bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    s = (2.0 * bits - 1.0).reshape(-1, L, L)
    energy = -(s * (np.roll(s, -1, 1) + np.roll(s, -1, 2))).sum(axis=(1, 2))
    log_p = -energy / temperature
    return s.reshape(-1, n), np.exp(log_p - logsumexp(log_p))


def energy_per_site(theory, res: MCMCResult) -> torch.Tensor:
    return theory.energy(res.flat()).view(res.n_chains, res.n_samples) / theory.n_sites


def magnetization_sq(res: MCMCResult) -> torch.Tensor:
    return res.samples.mean(-1).square()


# -- HMC ---------------------------------------------------------------------------------------
def test_hmc_free_scalar_matches_propagator_and_equipartition():
    theory = FreeScalar((4, 4), m2=1.0)
    res = hmc(theory, 400, n_chains=64, n_burnin=200, generator=seeded(1))
    phi = res.samples.view(64, 400, 4, 4)
    # Translation-averaged correlator (1/N) sum_y phi_y phi_{y+x}, by FFT, per sample.
    power = torch.fft.fftn(phi, dim=(-2, -1)).abs().square()
    corr = torch.fft.ifftn(power, dim=(-2, -1)).real / theory.n_sites
    exact = free_scalar_propagator((4, 4), 1.0)
    for sep in [(0, 0), (0, 1), (1, 1), (0, 2), (2, 2)]:
        assert_agrees(corr[:, :, sep[0], sep[1]], exact[sep], max_error=0.01)
    action = theory.action(res.flat()).view(64, 400)
    assert_agrees(action, theory.n_sites / 2, max_error=0.1)


@pytest.mark.parametrize(
    "theory",
    [
        Phi4((4, 4), m2=-4.0, lam=8.0),
        XY((4, 4), temperature=0.5),
        ComplexPhi4((4, 4), t=1.0, mu=-2.0, lam=1.0),
        IsingDual((4, 4), temperature=2.3),
    ],
    ids=type,
)
@given(seed=st.integers(0, 2**32 - 1), step_size=st.floats(0.005, 0.05), n_steps=st.integers(1, 20))
def test_leapfrog_is_reversible(theory, seed, step_size, n_steps):
    g = seeded(seed)
    x = theory.initial_state(4, generator=g)
    p = torch.randn(x.shape, generator=g, dtype=x.dtype)
    x1, p1 = leapfrog(theory, x, p, step_size=step_size, n_steps=n_steps)
    x0, p0 = leapfrog(theory, x1, -p1, step_size=step_size, n_steps=n_steps)
    assert not torch.equal(x1, x)
    # exact up to float64 round-off, which the (chaotic) phi^4 dynamics near the stability limit
    # of the step size amplifies to ~1e-10 after 20 steps; a non-reversible scheme errs at O(eps)
    torch.testing.assert_close(x0, x, rtol=0, atol=1e-8)
    torch.testing.assert_close(-p0, p, rtol=0, atol=1e-8)


def test_leapfrog_energy_error_is_second_order():
    theory = Phi4((4, 4), m2=-4.0, lam=1.0)
    g = seeded(2)
    x = theory.initial_state(256, generator=g)
    p = torch.randn(x.shape, generator=g, dtype=x.dtype)

    def mean_abs_delta_h(step_size: float) -> float:
        x1, p1 = leapfrog(theory, x, p, step_size=step_size, n_steps=round(1 / step_size))
        h0 = theory.action(x) + 0.5 * p.square().sum(1)
        h1 = theory.action(x1) + 0.5 * p1.square().sum(1)
        return (h1 - h0).abs().mean().item()

    coarse, fine = mean_abs_delta_h(0.04), mean_abs_delta_h(0.02)
    assert coarse < 0.1
    assert coarse / fine == pytest.approx(4.0, rel=0.05)


@pytest.mark.parametrize("target", [0.65, 0.9])
def test_hmc_step_size_adapts_to_target(target):
    theory = Phi4((4, 4), m2=-4.0, lam=8.0)
    res = hmc(theory, 200, n_chains=32, n_burnin=300, target_acceptance=target,
              generator=seeded(3))
    assert res.acceptance == pytest.approx(target, abs=0.05)
    assert res.info["n_leapfrog"] == math.ceil(1.0 / res.step_size)
    assert res.n_evaluations == 200 * res.info["n_leapfrog"]


def test_hmc_fixed_step_size_is_kept():
    theory = FreeScalar((4, 4), m2=1.0)
    res = hmc(theory, 10, n_chains=2, n_burnin=5, step_size=0.25, adapt_step_size=False,
              thin=3, generator=seeded())
    assert res.step_size == 0.25
    assert res.info["n_leapfrog"] == 4
    assert res.n_evaluations == 10 * 3 * 4


def test_hmc_returns_canonical_angles():
    res = hmc(XY((4, 4), temperature=0.5), 50, n_chains=4, n_burnin=20, generator=seeded())
    assert ((res.samples >= 0) & (res.samples < 2 * math.pi)).all()


# -- Gaussian theories: equipartition <S> = n_features / 2 ---------------------------------------
# HMC: a trajectory of length 0.6 keeps omega * length < pi for every mode (omega^2 <= 18): no
# mode is mapped close to x -> -x, which would freeze the action (the Gaussian HMC resonance).
@pytest.mark.parametrize(
    "sampler, kwargs", [(hmc, {"trajectory_length": 0.6}), (metropolis, {})],
    ids=["hmc", "metropolis"],
)
@pytest.mark.parametrize(
    "theory", [FreeScalar((4, 4), m2=0.5), ComplexPhi4((4, 4), t=1.0, mu=5.0, lam=0.0)], ids=type
)
def test_gaussian_equipartition(sampler, kwargs, theory):
    res = sampler(theory, 400, n_chains=32, n_burnin=200, generator=seeded(4), **kwargs)
    action = theory.action(res.flat()).view(32, 400)
    assert_agrees(action, theory.n_features / 2, max_error=0.15)


# -- Metropolis ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "theory",
    [
        Phi4((4, 2), m2=-4.0, lam=8.0),
        FreeScalar((2, 4, 2), m2=0.5),
        ComplexPhi4((4, 4), t=1.0, mu=-2.0, lam=1.0),
        XY((4, 4), temperature=1.0),
        Ising((4, 2), temperature=2.0),
    ],
    ids=type,
)
@given(seed=st.integers(0, 2**32 - 1), odd=st.booleans())
def test_checkerboard_moves_change_action_by_local_changes(theory, seed, odd):
    # What metropolis relies on: sites of one colour do not interact.
    g = seeded(seed)
    x = theory.initial_state(4, generator=g)
    y = theory.initial_state(4, generator=g)
    colour = checkerboard(theory.shape) ^ odd
    moved = torch.where(colour, y.view(4, -1, theory.n_sites), x.view(4, -1, theory.n_sites))
    moved = moved.view(4, -1)
    local = (theory.local_action(moved) - theory.local_action(x))[:, colour].sum(1)
    torch.testing.assert_close(local, theory.action(moved) - theory.action(x))


# -- Ising ---------------------------------------------------------------------------------------
def test_metropolis_ising_matches_enumeration():
    temperature = 2.5
    theory = Ising((4, 4), temperature=temperature)
    res = metropolis(theory, 1000, n_chains=64, n_burnin=100, generator=seeded(5))
    states, prob = enumerate_ising(4, temperature)
    exact_m2 = float(prob @ states.mean(1) ** 2)
    assert_agrees(magnetization_sq(res), exact_m2, max_error=0.01)
    assert_agrees(energy_per_site(theory, res), ising_energy(4, temperature), max_error=0.01)
    assert res.step_size is None
    assert 0 < res.acceptance < 1
    assert res.n_evaluations == 1000 * 16


def test_wolff_ising_at_critical_point():
    theory = Ising((4, 4), temperature=T_C)
    res = wolff(theory, 500, n_chains=64, n_burnin=50, generator=seeded(6))
    assert_agrees(magnetization_sq(res), 0.76135891, max_error=0.01)
    assert_agrees(energy_per_site(theory, res), ising_energy(4, T_C), max_error=0.01)
    assert res.acceptance == 1.0 and res.step_size is None
    assert 1 <= res.info["mean_cluster_size"] <= 16
    assert res.n_evaluations == pytest.approx(500 * res.info["mean_cluster_size"])


@pytest.mark.parametrize("sampler, shape", [(wolff, (3, 3)), (metropolis, (4, 2))],
                         ids=["wolff", "metropolis"])
def test_ising_state_frequencies_are_boltzmann(sampler, shape):
    # Independent chains, one state each after burn-in: exactly independent samples, so
    # Pearson's chi-square applies. Rare states are pooled into one bin of expected count >= 5.
    theory, n_chains = Ising(shape, temperature=2.5), 3000
    n = theory.n_sites
    states = 2.0 * ((torch.arange(2**n)[:, None] >> torch.arange(n)) & 1) - 1
    prob = torch.softmax(-theory.action(states.double()), 0).numpy()
    res = sampler(theory, 1, n_chains=n_chains, n_burnin=40, generator=seeded(7))
    index = ((res.samples[:, 0] > 0).long() << torch.arange(n)).sum(1).numpy()
    observed = np.bincount(index, minlength=2**n)
    expected = prob * n_chains
    rare = expected < 5
    observed = np.append(observed[~rare], observed[rare].sum())
    expected = np.append(expected[~rare], expected[rare].sum())
    assert chisquare(observed, expected).pvalue > 1e-3


def test_metropolis_spins_escape_zero_field_cycles():
    # In alternating stripes every spin has zero local field: the Metropolis rule min(1, e^-dS)
    # would flip all of them at every half-sweep forever (energy stuck at 0).
    temperature = 2.5
    theory = Ising((4, 4), temperature=temperature)
    stripes = torch.tensor([1.0, -1.0]).repeat_interleave(4).repeat(2)
    init = stripes.expand(32, 16)
    assert (theory.local_action(init) == 0).all()
    res = metropolis(theory, 500, n_chains=32, n_burnin=100, init=init, generator=seeded(15))
    assert_agrees(energy_per_site(theory, res), ising_energy(4, temperature), max_error=0.01)


@given(
    shape=st.lists(st.integers(2, 5), min_size=1, max_size=3).map(tuple),
    batch=st.integers(1, 3),
    p_open=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_bond_clusters_match_connected_components(shape, batch, p_open, seed):
    g = seeded(seed)
    bonds = [torch.rand(batch, *shape, generator=g) < p_open for _ in shape]
    labels = bond_clusters(bonds)
    sites = np.arange(math.prod(shape)).reshape(shape)
    for b in range(batch):
        rows, cols = [], []
        for d, bond in enumerate(bonds):
            is_open = bond[b].numpy()
            rows.append(sites[is_open])
            cols.append(np.roll(sites, -1, d)[is_open])
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        graph = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(sites.size,) * 2)
        _, component = connected_components(graph, directed=False)
        smallest = np.array([np.flatnonzero(component == c).min() for c in component])
        np.testing.assert_array_equal(labels[b].numpy(), smallest)


# -- XY --------------------------------------------------------------------------------------
def xy_energy_by_quadrature(theory: XY, n_points: int = 32) -> float:
    """Exact <E>/N of a 2 x 2 XY model: fix theta_0 = 0 (O(2) symmetry) and sum the other
    three angles on a periodic grid (the trapezoid rule converges exponentially)."""
    angles = 2 * math.pi * torch.arange(n_points, dtype=torch.float64) / n_points
    grid = torch.cartesian_prod(angles, angles, angles)
    x = torch.cat([torch.zeros(len(grid), 1, dtype=torch.float64), grid], 1)
    energy = theory.energy(x)
    weights = torch.softmax(-energy / theory.temperature, 0)
    return float(weights @ energy) / theory.n_sites


@pytest.mark.parametrize("sampler", [wolff, metropolis, hmc], ids=lambda f: f.__name__)
def test_xy_energy_matches_quadrature(sampler):
    theory = XY((2, 2), temperature=1.0)
    res = sampler(theory, 1000, n_chains=64, n_burnin=200, generator=seeded(14))
    assert_agrees(energy_per_site(theory, res), xy_energy_by_quadrature(theory), max_error=0.01)


def test_xy_energy_agrees_between_samplers():
    theory = XY((4, 4), temperature=1.0)
    runs = {
        "wolff": wolff(theory, 400, n_chains=32, n_burnin=100, generator=seeded(8)),
        "metropolis": metropolis(theory, 400, n_chains=32, n_burnin=200, generator=seeded(9)),
        "hmc": hmc(theory, 400, n_chains=32, n_burnin=200, generator=seeded(10)),
    }
    estimates = {name: mean_error(energy_per_site(theory, r))[:2] for name, r in runs.items()}
    names = list(estimates)
    for i, a in enumerate(names):
        assert estimates[a][1] < 0.01
        for b in names[i + 1:]:
            (ma, ea), (mb, eb) = estimates[a], estimates[b]
            assert abs(ma - mb) < 4 * math.hypot(ea, eb), f"{a} {ma} vs {b} {mb}"
    assert ((runs["wolff"].samples >= 0) & (runs["wolff"].samples < 2 * math.pi)).all()


# -- reproducibility, thinning, initial states ---------------------------------------------------
SAMPLERS = [
    (hmc, FreeScalar((4, 4), m2=1.0)),
    (metropolis, Phi4((4, 4), m2=-4.0, lam=8.0)),
    (metropolis, Ising((4, 4), temperature=2.5)),
    (wolff, XY((4, 4), temperature=1.0)),
]


@pytest.mark.parametrize("sampler, theory", SAMPLERS, ids=lambda v: getattr(v, "__name__", ""))
def test_seeded_runs_are_bit_identical(sampler, theory):
    def run(generator):
        return sampler(theory, 20, n_chains=3, n_burnin=10, generator=generator).samples

    assert torch.equal(run(seeded(11)), run(seeded(11)))
    assert not torch.equal(run(seeded(11)), run(seeded(12)))
    # without a generator each call is seeded afresh, and the global RNG is left alone
    state = torch.get_rng_state()
    assert not torch.equal(run(None), run(None))
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("sampler, theory", SAMPLERS, ids=lambda v: getattr(v, "__name__", ""))
def test_thin_stores_every_thin_th_update(sampler, theory):
    every = sampler(theory, 12, n_chains=2, n_burnin=10, generator=seeded(13))
    thinned = sampler(theory, 4, n_chains=2, n_burnin=10, thin=3, generator=seeded(13))
    assert torch.equal(thinned.samples, every.samples[:, 2::3])
    assert thinned.flat().shape == (8, theory.n_features)


@pytest.mark.filterwarnings("ignore::skphys.UnreliableEstimateWarning")  # 20 cold sweeps
def test_init_is_the_starting_point():
    theory = Ising((4, 4), temperature=0.5)
    init = torch.ones(4, 16)
    res = metropolis(theory, 20, n_chains=4, n_burnin=0, init=init, generator=seeded())
    assert res.samples.dtype == torch.float64
    assert magnetization_sq(res).min() > 0.7  # stays ordered: no time to decorrelate


@pytest.mark.filterwarnings("ignore::skphys.UnreliableEstimateWarning")  # 2 burn-in steps
def test_samplers_run_on_device(device):
    res = wolff(Ising((4, 4), temperature=2.5), 5, n_chains=2, n_burnin=2,
                generator=seeded(device=device))
    assert res.samples.device.type == torch.device(device).type
    res = hmc(Phi4((4, 4), m2=-4.0, lam=8.0), 5, n_chains=2, n_burnin=2, device=device,
              dtype=torch.float32, generator=seeded(device=device))
    assert res.samples.device.type == torch.device(device).type
    assert res.samples.dtype == torch.float32


def test_progress_bar(capsys):
    wolff(Ising((4, 4), temperature=2.5), 5, n_chains=2, n_burnin=3, progress=True,
          generator=seeded())
    assert "wolff" in capsys.readouterr().err


# -- invalid input -------------------------------------------------------------------------------
PHI4 = Phi4((4, 4), m2=-4.0, lam=8.0)
ISING = Ising((4, 4), temperature=2.5)
HUGE = torch.full((16, 16), 1e200, dtype=torch.float64)  # finite, but phi^4 overflows


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: hmc(ISING, 10), ValueError, "use wolff or metropolis"),
        (lambda: hmc(PHI4, 10, init=HUGE), ValueError, "initial action is not finite"),
        (lambda: hmc(PHI4, 10, init=torch.full((16, 16), math.nan)), ValueError, "finite"),
        (lambda: hmc(PHI4, 10, init=torch.zeros(3, 16)), ValueError, "init must have shape"),
        (lambda: hmc(PHI4, 0), ValueError, "n_samples"),
        (lambda: hmc(PHI4, 10, n_chains=2.0), TypeError, "n_chains"),
        (lambda: hmc(PHI4, 10, n_burnin=-1), ValueError, "n_burnin"),
        (lambda: hmc(PHI4, 10, thin=0), ValueError, "thin"),
        (lambda: hmc(PHI4, 10, target_acceptance=1.0), ValueError, "target_acceptance"),
        (lambda: hmc(PHI4, 10, step_size=-0.1), ValueError, "step_size"),
        (lambda: hmc(PHI4, 10, trajectory_length=0), ValueError, "trajectory_length"),
        (lambda: hmc(PHI4, 10, dtype=torch.int64), TypeError, "dtype"),
        (lambda: hmc(PHI4, 10, generator=0), TypeError, "generator"),
        (lambda: hmc("phi4", 10), TypeError, "theory"),
        (lambda: metropolis(Phi4((3, 4), m2=1.0, lam=1.0), 10), ValueError, "even"),
        (lambda: metropolis(IsingDual((4, 4), temperature=2.0), 10), ValueError, "local_action"),
        (lambda: metropolis(ISING, 10, proposal_scale=0.5), ValueError, "proposal_scale"),
        (lambda: metropolis(XY((4, 4), 1.0), 10, proposal_scale=2.0), ValueError,
         "proposal_scale"),
        (lambda: metropolis(ISING, 10, target_acceptance=0), ValueError, "target_acceptance"),
        (lambda: metropolis(ISING, 10, init=torch.zeros(16, 16)), ValueError, r"\+1.0"),
        (lambda: wolff(PHI4, 10), ValueError, "Ising and XY"),
        (lambda: wolff(ISING, 10, thin=True), TypeError, "thin"),
        (lambda: leapfrog(PHI4, torch.zeros(1, 16), torch.zeros(1, 16), step_size=0.1,
                          n_steps=0), ValueError, "n_steps"),
    ],
)
def test_invalid_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


# -- runaway work, stuck chains and broken actions ------------------------------------------------
def test_hmc_refuses_a_step_that_needs_too_many_leapfrog_steps():
    start = time.process_time()
    with pytest.raises(ValueError, match=r"step_size=1e-09 .* 1e\+09 leapfrog steps .*"
                       r"max_leapfrog=1000"):
        hmc(PHI4, 3, step_size=1e-9, adapt_step_size=False, generator=seeded())
    with pytest.raises(ValueError, match="max_leapfrog=10"):  # the starting step of adaptation
        hmc(PHI4, 3, step_size=0.05, max_leapfrog=10, generator=seeded())
    assert time.process_time() - start < 1.0  # refused before any work
    res = hmc(PHI4, 3, n_chains=2, n_burnin=0, step_size=0.05, max_leapfrog=20,
              adapt_step_size=False, generator=seeded())
    assert res.info["n_leapfrog"] == 20 and res.n_evaluations == 3 * 20


def test_dual_averaging_stays_above_its_floor():
    adapter = DualAveraging(0.1, 0.8, lower=0.01)
    values = [adapter.update(0.0) for _ in range(50)]  # never accepted: the step shrinks
    assert min(values) == pytest.approx(0.01, rel=1e-12) and adapter.at_floor
    assert values[0] > values[1] > values[2] and adapter.final >= min(values)
    assert adapter.update(1.0) == pytest.approx(0.01, rel=1e-12)  # far below: still clipped
    free = DualAveraging(0.1, 0.8)
    assert min(free.update(0.0) for _ in range(50)) < 1e-30 and not free.at_floor


def test_hmc_stops_when_even_its_floor_step_is_too_large():
    """Phi4 at m2 = 1e300 needs steps near 1e-150: the adaptation reaches its floor
    (trajectory_length / max_leapfrog) and stops with an error instead of running 1e150
    leapfrog steps per trajectory."""
    start = time.process_time()
    with pytest.raises(ValueError, match=r"step_size reached its floor .* 0\.001 .*"
                       r"too stiff for 1000 leapfrog steps"):
        hmc(Phi4((2, 2), m2=1e300, lam=1.0), 3, n_chains=2, generator=seeded())
    assert time.process_time() - start < 5.0


@pytest.mark.parametrize("sampler", [hmc, metropolis], ids=lambda f: f.__name__)
def test_chain_that_never_moved_warns(sampler):
    """The issue's call: with 5 burn-in steps the step size is still far too large at
    m2 = 1e300 and no trajectory is accepted; the result says so."""
    theory = Phi4((2, 2), m2=1e300, lam=1.0)
    # (local moves from phi = 0.5 toward 0 lower the action; from 0 every move raises it)
    init = torch.full((2, 4), 0.5 if sampler is hmc else 0.0, dtype=torch.float64)
    kwargs = {"adapt_proposal_scale": False} if sampler is metropolis else {}
    with pytest.warns(UnreliableEstimateWarning, match=r"moved in 0\.0% of its steps"):
        res = sampler(theory, 3, n_chains=2, n_burnin=5, init=init, generator=seeded(),
                      **kwargs)
    assert res.acceptance == 0.0 and torch.equal(res.samples[:, -1], init)


def test_chain_with_few_distinct_states_warns_and_a_good_chain_does_not():
    cold = Ising((4, 4), temperature=0.5)
    with pytest.warns(UnreliableEstimateWarning, match=r"visited only 2 distinct states"):
        wolff(cold, 20, n_chains=2, n_burnin=10, generator=seeded())
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnreliableEstimateWarning)
        res = hmc(FreeScalar((2, 2), m2=1.0), 20, n_chains=2, n_burnin=50, generator=seeded())
    assert res.acceptance > 0.5


class _NaNBeyond(Phi4):
    """phi^4 whose action (and local action) is NaN wherever some |phi| exceeds 1.2."""

    def action(self, x):
        return torch.where(x.abs().amax(1) > 1.2, torch.nan, super().action(x))

    def local_action(self, x):
        return torch.where(x.abs() > 1.2, torch.nan, super().local_action(x))


@pytest.mark.parametrize("sampler", [hmc, metropolis], ids=lambda f: f.__name__)
def test_proposals_with_a_nan_action_are_counted_and_reported(sampler):
    theory = _NaNBeyond((2, 2), m2=1.0, lam=1.0)
    with pytest.warns(UnreliableEstimateWarning, match="NaN action") as caught:
        res = sampler(theory, 50, n_chains=4, n_burnin=20, generator=seeded(),
                      init=torch.zeros(4, 4, dtype=torch.float64))
    n_nan = res.info["n_nan_action"]
    assert n_nan > 0
    message = next(str(w.message) for w in caught if "NaN action" in str(w.message))
    assert f"{n_nan} of " in message
    assert res.samples.abs().max() <= 1.2 and res.samples.isfinite().all()  # all rejected
    with warnings.catch_warnings():  # a finite action: nothing counted
        warnings.simplefilter("ignore", UnreliableEstimateWarning)
        clean = sampler(Phi4((2, 2), m2=1.0, lam=1.0), 10, n_chains=2, n_burnin=5,
                        generator=seeded())
    assert clean.info["n_nan_action"] == 0


class _ColumnAction(Phi4):
    def action(self, x):
        return super().action(x)[:, None]


class _ColumnLocalAction(Phi4):
    def local_action(self, x):
        return super().local_action(x).sum(1)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: hmc(_ColumnAction((2, 2), m2=1.0, lam=1.0), 3), ValueError,
         r"_ColumnAction.action\(x\) must return one action per configuration, shape \(16,\), "
         r"got \(16, 1\)"),
        (lambda: metropolis(_ColumnLocalAction((2, 2), m2=1.0, lam=1.0), 3), ValueError,
         r"_ColumnLocalAction.local_action\(x\) must return shape \(n_chains, n_sites\)"),
        (lambda: hmc(PHI4, 10**12), ValueError, "n_samples"),
        (lambda: hmc(PHI4, 3, n_burnin=10**12), ValueError, "n_burnin"),
        (lambda: wolff(ISING, 3, thin=10**10), ValueError, "thin"),
        (lambda: metropolis(ISING, 3, n_chains=10**12), ValueError, "n_chains"),
        (lambda: hmc(PHI4, 3, max_leapfrog=0), ValueError, "max_leapfrog"),
        (lambda: wolff(ISING, 3, device="bogus"), ValueError, "device"),
    ],
)
def test_broken_theories_and_runaway_sizes_are_refused_before_work(call, error, match):
    start = time.process_time()
    with pytest.raises(error, match=match):
        call()
    assert time.process_time() - start < 1.0
