"""Reweighting a tractable model to its theory: importance means, thermodynamics, scans."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from skphys import AutoregressiveHamiltonian, PixelCNN, heat_capacity_peak, temperature_scan
from skphys.datasets import make_ising
from skphys.lattice import Ising
from skphys.lattice.exact import ising_energy, ising_heat_capacity, ising_log_z
from skphys.lattice.stats import importance_mean, reweighted_thermodynamics

STATES_3X3 = np.array(list(itertools.product([-1.0, 1.0], repeat=9)))


def _exact_3x3(temperature):
    """Energies of all 3x3 states and their Boltzmann log-probabilities at ``temperature``."""
    energy = Ising((3, 3), temperature).energy(torch.from_numpy(STATES_3X3)).numpy()
    return energy, -energy / temperature - ising_log_z(3, temperature)


def test_importance_mean_of_a_shifted_gaussian():
    x = np.random.default_rng(0).normal(size=20_000)  # q = N(0, 1), p = N(0.5, 1)
    mean, error = importance_mean(x, -((x - 0.5) ** 2) / 2 + x**2 / 2)
    assert abs(mean - 0.5) < 4 * error
    assert 0.005 < error < 0.02  # about sqrt(Var_p / ESS) with ESS/N = exp(-0.25)


def test_importance_mean_rejects_bad_input():
    with pytest.raises(ValueError, match="values must have the shape"):
        importance_mean([1.0, 2.0], [0.0])
    with pytest.raises(ValueError, match="values must be finite"):
        importance_mean([1.0, np.nan], [0.0, 0.0])


def test_reweighted_thermodynamics_matches_enumeration():
    # samples of the exact 3x3 Boltzmann law at T = 3, reweighted to T = 2.5
    energy_q, log_q_all = _exact_3x3(3.0)
    rng = np.random.default_rng(1)
    idx = rng.choice(len(STATES_3X3), size=40_000, p=np.exp(log_q_all))
    result = reweighted_thermodynamics(energy_q[idx], log_q_all[idx], 2.5)
    log_z = ising_log_z(3, 2.5)
    exact = {
        "free_energy": -2.5 * log_z,
        "energy": 9 * ising_energy(3, 2.5),
        "entropy": 9 * ising_energy(3, 2.5) / 2.5 + log_z,
        "heat_capacity": 9 * ising_heat_capacity(3, 2.5),
    }
    for name, value in exact.items():
        estimate, error = result[name]
        assert abs(estimate - value) < 4 * error, name
        assert error < 0.05 * max(abs(value), 1.0), name
    f_q, f_q_err = result["free_energy_variational"]
    assert f_q > exact["free_energy"] + 10 * f_q_err  # a strict bound for a wrong q


def test_reweighted_thermodynamics_rejects_bad_input():
    with pytest.raises(ValueError, match="equal length"):
        reweighted_thermodynamics([1.0, 2.0], [0.0], 1.0)
    with pytest.raises(ValueError, match="finite"):
        reweighted_thermodynamics([1.0, np.inf], [0.0, 0.0], 1.0)
    with pytest.raises(ValueError, match="temperature"):
        reweighted_thermodynamics([1.0, 2.0], [0.0, 0.0], 0.0)


@pytest.fixture(scope="module")
def van_3x3():
    return AutoregressiveHamiltonian(Ising((3, 3), 2.5), max_iter=200, batch_size=128,
                                     network=PixelCNN(hidden_channels=8), random_state=0).fit()


@pytest.mark.parametrize("method", ["mh", "importance"])
def test_estimate_is_exact_within_errors(van_3x3, method):
    energy, log_p = _exact_3x3(2.5)
    mean, error = van_3x3.estimate(
        lambda x: Ising((3, 3), 2.5).energy(torch.from_numpy(x)).numpy(), 20_000, method=method
    )
    assert abs(mean - np.sum(np.exp(log_p) * energy)) < 4 * error
    assert error < 0.1


def test_estimate_rejects_bad_input(van_3x3):
    with pytest.raises(ValueError, match="method must be one of"):
        van_3x3.estimate(lambda x: x[:, 0], 100, method="exact")
    with pytest.raises(ValueError, match=r"observable must return shape \(100,\)"):
        van_3x3.estimate(lambda x: x, 100)


def test_free_energy_reports_the_exact_thermodynamics(van_3x3):
    result = van_3x3.free_energy(20_000)  # per site
    assert result["n_sites"] == 9
    exact = {
        "free_energy_nis": -2.5 * ising_log_z(3, 2.5) / 9,
        "energy": ising_energy(3, 2.5),
        "heat_capacity": ising_heat_capacity(3, 2.5),
    }
    for name, value in exact.items():
        assert abs(result[name] - value) < 4 * result[name + "_err"], name
    assert result["free_energy"] >= result["free_energy_nis"] - 4 * result["free_energy_err"]


def test_temperature_scan_by_van_follows_the_exact_heat_capacity():
    template = AutoregressiveHamiltonian(Ising((3, 3), 1.0), max_iter=150, batch_size=128,
                                         network=PixelCNN(hidden_channels=8), beta_anneal=0.95,
                                         random_state=0)
    temperatures = [3.0, 1.5, 2.2]
    scan = temperature_scan(template, temperatures, n_samples=8000, n_jobs=2)
    np.testing.assert_array_equal(scan["temperature"], sorted(temperatures))
    exact = ising_heat_capacity(3, scan["temperature"].to_numpy())
    z = (scan["heat_capacity"] - exact) / scan["heat_capacity_err"]
    assert np.all(np.abs(z) < 4), z
    assert (scan["n_iter"] == 150).all() and (scan["ess"] > 0.1).all()


# 20 steps and 200 samples: one ground-state draw carries most of the weight, as warned
@pytest.mark.filterwarnings("ignore::skphys.UnreliableEstimateWarning")
def test_temperature_scan_fits_the_rows_of_each_temperature():
    temperatures = [2.0, 3.0]
    X, T = make_ising((3, 3), temperatures, 300, random_state=0)
    template = AutoregressiveHamiltonian(Ising((3, 3), 1.0), max_iter=20, batch_size=64,
                                         network=PixelCNN(hidden_channels=4), random_state=0)
    scan = temperature_scan(template, temperatures, X, T, n_samples=200)
    assert list(scan.columns[:3]) == ["temperature", "free_energy", "free_energy_err"]
    assert len(scan) == 2 and np.isfinite(scan.drop(columns="n_iter").to_numpy()).all()
    with pytest.raises(ValueError, match=r"no rows at the temperatures \[2.5\]"):
        temperature_scan(template, [2.0, 2.5], X, T)
    with pytest.raises(ValueError, match="X needs X_temperatures"):
        temperature_scan(template, temperatures, X)
    with pytest.raises(ValueError, match="theory with a temperature"):
        temperature_scan(AutoregressiveHamiltonian(), temperatures, X, T)
    with pytest.raises(ValueError, match="temperatures must be"):
        temperature_scan(template, [2.0, -1.0])


@given(vertex=st.floats(1.2, 2.8), curvature=st.floats(0.1, 10.0), height=st.floats(0.5, 5.0))
def test_heat_capacity_peak_recovers_a_parabola(vertex, curvature, height):
    t = np.linspace(3.0, 1.0, 11)  # unsorted on purpose
    scan = pd.DataFrame({"temperature": t, "heat_capacity": height - curvature * (t - vertex) ** 2})
    t_peak, c_peak = heat_capacity_peak(scan)
    assert t_peak == pytest.approx(vertex, abs=1e-8)
    assert c_peak == pytest.approx(height, abs=1e-8)


def test_heat_capacity_peak_at_the_end_of_the_grid_and_bad_input():
    scan = pd.DataFrame({"temperature": [1.0, 2.0, 3.0], "heat_capacity": [3.0, 2.0, 1.0]})
    assert heat_capacity_peak(scan) == (1.0, 3.0)
    with pytest.raises(TypeError, match="DataFrame"):
        heat_capacity_peak({"temperature": [1.0]})
    with pytest.raises(ValueError, match="at least 3 rows"):
        heat_capacity_peak(scan.iloc[:2])


def test_diagnose_reports_the_exact_kl(van_3x3):
    energy, log_p = _exact_3x3(2.5)
    log_q = van_3x3.score_samples(STATES_3X3)
    exact_kl = np.sum(np.exp(log_q) * (log_q - log_p))
    report = van_3x3.diagnose(20_000)
    assert report["kl"] == pytest.approx(exact_kl, abs=0.01)
    assert report["log_z"] == pytest.approx(ising_log_z(3, 2.5), abs=4 * report["log_z_err"])
    assert 0 < report["acceptance"] <= 1 and report["tau_int"] >= 0.5


def test_estimate_names_the_observable_and_the_action(van_3x3):
    with pytest.raises(ValueError, match="observable returned non-finite values"):
        van_3x3.estimate(lambda x: np.full(len(x), np.nan), 100)
    with pytest.raises(TypeError, match="observable must return real numbers"):
        van_3x3.estimate(lambda x: x[:, 0] + 1j, 100)
    with pytest.raises(ValueError, match=r"n_samples=10{12} .* reduce n_samples"):
        van_3x3.sample(10**12)


class _NaNIsing(Ising):
    """Ising whose action is NaN on configurations with a positive first spin."""

    def action(self, x):
        action = super().action(x)
        return torch.where(x[:, 0] > 0, torch.nan, action)


class _ScalarIsing(Ising):
    def action(self, x):
        return super().action(x).sum()


class _ColumnIsing(Ising):
    def action(self, x):
        return super().action(x)[:, None]


def test_a_non_finite_or_misshapen_action_is_named(van_3x3):
    van = AutoregressiveHamiltonian(Ising((3, 3), 2.5), max_iter=2, batch_size=16,
                                    network=PixelCNN(hidden_channels=4), random_state=0)
    van.fit()
    van.theory = _NaNIsing((3, 3), 2.5)
    for call in (lambda: van.estimate(lambda x: x[:, 0], 100),
                 lambda: van.diagnose(100), lambda: van.sample(10, method="mh")):
        with pytest.raises(ValueError, match=r"_NaNIsing.action\) returned non-finite"):
            call()
    for theory, match in [(_ScalarIsing, r"shape \(16,\), got \(\)"),
                          (_ColumnIsing, r"shape \(16,\), got \(16, 1\)")]:
        with pytest.raises(ValueError, match=match):
            van.set_params(theory=theory((3, 3), 2.5)).fit()
