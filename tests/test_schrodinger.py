"""1-D Schrödinger data: the exact solver against analytic cases, the generator's contract."""

from __future__ import annotations

import numpy as np
import pytest

from skphys.datasets import make_schrodinger_1d, schrodinger_ground_state


def test_harmonic_well_energy_and_density():
    omega = 2.0
    x = np.linspace(-5, 5, 1001)
    a = x[1] - x[0]
    energy, rho = schrodinger_ground_state(omega**2 * x**2, spacing=a)
    assert energy == pytest.approx(omega, rel=1e-4)  # -psi'' + w^2 x^2 psi: E0 = w
    exact = np.sqrt(omega / np.pi) * np.exp(-omega * x**2)
    np.testing.assert_allclose(rho, exact, atol=1e-4)
    assert rho.sum() * a == pytest.approx(1.0, abs=1e-12)


def test_particle_in_a_box():
    n, a = 200, 0.05
    energy, rho = schrodinger_ground_state(np.zeros(n), spacing=a)
    length = (n + 1) * a  # psi vanishes on the walls one spacing outside the grid
    assert energy == pytest.approx((np.pi / length) ** 2, rel=1e-4)
    x = a * np.arange(1, n + 1)
    np.testing.assert_allclose(rho, 2 / length * np.sin(np.pi * x / length) ** 2, atol=1e-4)


@pytest.mark.parametrize("kind", ["smooth", "deep", "rough"])
def test_generator_gauge_and_discrete_law(kind):
    a = 0.1
    V, rho = make_schrodinger_1d(n_samples=20, n_sites=100, kind=kind, spacing=a,
                                 random_state=0)
    assert V.shape == rho.shape == (20, 100)
    np.testing.assert_allclose(rho.sum(1) * a, 1.0, atol=1e-12)
    assert np.all(rho > 0)
    # in the gauge V - E0 the discrete law psi_{i+1} = (2 + a^2 V_i) psi_i - psi_{i-1} holds
    psi = np.sqrt(rho)
    padded = np.pad(psi, ((0, 0), (1, 1)))
    residual = padded[:, 2:] - (2 + a**2 * V) * psi + padded[:, :-2]
    assert np.abs(residual).max() < 1e-9 * np.abs(psi).max()


def test_families_differ_in_localization():
    spread = {}
    for kind in ("smooth", "deep"):
        _, rho = make_schrodinger_1d(n_samples=200, kind=kind, random_state=1)
        spread[kind] = (rho > 0.05 * rho.max(1, keepdims=True)).mean()
    assert spread["smooth"] > 0.6 > 0.4 > spread["deep"]


def test_reproducible_and_bad_input():
    V1, _ = make_schrodinger_1d(n_samples=3, random_state=5)
    V2, _ = make_schrodinger_1d(n_samples=3, random_state=5)
    np.testing.assert_array_equal(V1, V2)
    with pytest.raises(ValueError, match="kind"):
        make_schrodinger_1d(kind="wavy")
    with pytest.raises(ValueError, match="n_sites"):
        make_schrodinger_1d(n_sites=2)
    with pytest.raises(ValueError, match="spacing"):
        make_schrodinger_1d(spacing=-0.1)
    with pytest.raises(ValueError, match="finite"):
        schrodinger_ground_state([0.0, np.nan, 0.0, 0.0], spacing=0.1)
