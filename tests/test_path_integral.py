"""0+1D path integral: the theory, its exact results, the data generator and the samplers."""

import math
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skphys import FlowSampler
from skphys.datasets import make_path_integral
from skphys.lattice import THEORIES, LatticeTheory, PathIntegral
from skphys.lattice.exact import (
    harmonic_oscillator_log_z,
    path_integral_correlator,
    path_integral_log_z,
)
from skphys.lattice.mcmc import hmc, metropolis
from skphys.lattice.stats import mean_error


def quartic(x):
    return x**4 - x**2


def blocked_mean_error(values, block=100):
    """Mean and standard error over blocks of ``block`` trajectories of each chain: the Gamma
    method's window closes early on these series (anticorrelated fast modes, slow kinks)."""
    n = values.shape[1] // block
    blocks = values[:, : n * block].reshape(values.shape[0], n, block).mean(2).ravel()
    return blocks.mean(), blocks.std(ddof=1) / np.sqrt(len(blocks))


def _paths(n=4, n_sites=16, seed=0):
    return torch.randn(n, n_sites, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)


# -- the theory --------------------------------------------------------------------------------
@pytest.mark.parametrize("potential", ["harmonic", "double_well", quartic])
def test_action_matches_definition_and_split(potential):
    theory = PathIntegral(16, beta=4.0, potential=potential, omega=1.5)
    x = _paths()
    a = 4.0 / 16
    v = {"harmonic": lambda y: 0.5 * 1.5**2 * y**2,
         "double_well": lambda y: 1.0 * (y**2 - 1.4**2) ** 2}.get(potential, quartic)
    expected = ((x.roll(-1, 1) - x) ** 2 / (2 * a) + a * v(x)).sum(1)
    torch.testing.assert_close(theory.action(x), expected)
    K, U = theory.kinetic_term(x), theory.potential_term(x)
    torch.testing.assert_close(theory.action(x), K / 4.0 + 4.0 * U)
    torch.testing.assert_close(theory.grad_action(x), LatticeTheory.grad_action(theory, x))
    # local action: changing one site changes the action by the change of its local action
    y = x.clone()
    y[:, 5] += 0.3
    torch.testing.assert_close(theory.action(y) - theory.action(x),
                               theory.local_action(y)[:, 5] - theory.local_action(x)[:, 5])


def test_parameters_symmetries_and_errors():
    theory = PathIntegral(8, beta=2.0, potential="double_well")
    assert theory.shape == (8,) and theory.a == 0.25 and theory.has_sign_symmetry
    assert clone(theory) == theory and THEORIES["PathIntegral"] is PathIntegral
    assert type(theory)(**theory.get_params()) == theory
    user = PathIntegral(8, beta=2.0, potential=quartic)
    assert user.internal_symmetries == () and pickle.loads(pickle.dumps(user)) == user
    with pytest.raises(ValueError, match="potential"):
        PathIntegral(8, 1.0, potential="quartic")
    with pytest.raises(ValueError, match="beta"):
        PathIntegral(8, -1.0)
    with pytest.raises(TypeError, match="n_sites"):
        PathIntegral(8.0, 1.0)


# -- exact results -------------------------------------------------------------------------------
def test_harmonic_closed_form_check_values_and_continuum():
    assert harmonic_oscillator_log_z(16, 4.0) == pytest.approx(-1.97614849, abs=1e-8)
    assert harmonic_oscillator_log_z(64, 8.0) == pytest.approx(-3.99706313, abs=1e-8)
    continuum = -math.log(2 * math.sinh(4.0))
    assert harmonic_oscillator_log_z(4096, 8.0) == pytest.approx(continuum, abs=1e-5)


@pytest.mark.parametrize(("n_sites", "beta", "omega"), [(16, 4.0, 1.0), (64, 8.0, 1.0),
                                                        (32, 1.0, 3.0)])
def test_transfer_matrix_reproduces_harmonic_closed_form(n_sites, beta, omega):
    theory = PathIntegral(n_sites, beta, omega=omega)
    assert path_integral_log_z(theory) == pytest.approx(
        harmonic_oscillator_log_z(n_sites, beta, omega), abs=1e-10)
    # the Gaussian propagator of the lattice: <x_0 x_t> = (1/N) sum_k a e^{ikt} / lambda_k
    a, k = beta / n_sites, 2 * np.pi * np.arange(n_sites) / n_sites
    exact = np.fft.ifft(a / (2 - 2 * np.cos(k) + (a * omega) ** 2)).real
    np.testing.assert_allclose(path_integral_correlator(theory), exact, atol=1e-10)


@pytest.mark.parametrize(("n_sites", "beta", "log_z"), [(64, 8.0, -13.6839086364),
                                                        (128, 16.0, -27.9112358290)])
def test_double_well_check_values(n_sites, beta, log_z):
    theory = PathIntegral(n_sites, beta, "double_well")
    assert path_integral_log_z(theory) == pytest.approx(log_z, abs=1e-8)
    assert path_integral_log_z(theory, x_range=(-4, 4), n_grid=801) == pytest.approx(
        log_z, abs=1e-8)


def test_transfer_matrix_user_potential_and_errors():
    theory = PathIntegral(16, 2.0, quartic)
    c = path_integral_correlator(theory)
    assert c.shape == (16,) and c[0] > c[1] > c[8] > 0 and c[1] == pytest.approx(c[-1])
    # spectral convergence: a coarser grid agrees
    assert path_integral_log_z(theory, n_grid=301) == pytest.approx(
        path_integral_log_z(theory), abs=1e-9)
    with pytest.raises(ValueError, match="confine"):
        path_integral_log_z(PathIntegral(8, 1.0, lambda x: -x**2))
    with pytest.raises(TypeError, match="PathIntegral"):
        path_integral_log_z(LatticeTheory((4,)))


# -- sampling ------------------------------------------------------------------------------------
def test_hmc_x2_agrees_with_transfer_matrix():
    # the harmonic potential and the correlator: benchmarks/learned_actions.py
    theory = PathIntegral(64, 8.0, "double_well")
    res = hmc(theory, 1000, n_chains=8, n_burnin=300, trajectory_length=2.0,
              generator=torch.Generator().manual_seed(0))
    mean, error = blocked_mean_error(res.samples.square().mean(-1).numpy())
    exact = path_integral_correlator(theory)[0]
    assert abs(mean - exact) < 2 * error


def test_metropolis_runs_on_even_lattice():
    theory = PathIntegral(16, 2.0, "double_well")
    res = metropolis(theory, 20, n_chains=2, n_burnin=10,
                     generator=torch.Generator().manual_seed(0))
    assert res.samples.shape == (2, 20, 16) and 0 < res.acceptance < 1


def test_make_path_integral():
    X = make_path_integral(16, 2.0, 400, random_state=0)
    assert X.shape == (400, 16)
    np.testing.assert_array_equal(X, make_path_integral(16, 2.0, 400, random_state=0))
    x2 = mean_error((X**2).mean(1))
    exact = path_integral_correlator(PathIntegral(16, 2.0, "double_well"))[0]
    assert abs(x2.mean - exact) < 3 * x2.error
    assert abs(X.mean()) < 0.1  # random signs: both wells


def test_flow_sampler_runs_on_path_integral():
    fs = FlowSampler(theory=PathIntegral(8, 1.0), max_iter=5, random_state=0)
    with pytest.warns(Warning):
        fs.fit()
    assert fs.sample(3).shape == (3, 8)
