"""Exact results of skphys.lattice.exact against brute force and independent formulas."""

import math
from functools import lru_cache

import numpy as np
import pytest
import torch
from numpy.polynomial.hermite_e import hermegauss
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

from skphys.lattice import ComplexPhi4, FreeScalar, Ising, IsingDual
from skphys.lattice.exact import (
    T_C,
    complex_free_log_z,
    complex_free_propagator,
    free_scalar_log_z,
    free_scalar_propagator,
    ising_dual_log_z,
    ising_energy,
    ising_heat_capacity,
    ising_log_z,
    ising_magnetization_sq,
    onsager_energy,
    onsager_free_energy,
    onsager_log_z,
    onsager_magnetization,
)

TEMPERATURES = (1.5, 2.0, T_C, 2.5, 3.0, 5.0)


# -- brute force ---------------------------------------------------------------------------
def all_spin_states(n: int) -> np.ndarray:
    """All ``2**n`` configurations of ``n`` spins +-1, one per row."""
    bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    return 2.0 * bits - 1.0


@lru_cache
def torus_energies(L: int) -> np.ndarray:
    """``H = -sum_x s_x (s_{x+e1} + s_{x+e2})`` of every state of the L x L torus (numpy)."""
    s = all_spin_states(L * L).reshape(-1, L, L)
    return -(s * (np.roll(s, -1, axis=1) + np.roll(s, -1, axis=2))).sum(axis=(1, 2))


def enumerated_thermodynamics(L: int, temperature: float) -> tuple[float, float, float]:
    """``ln Z``, energy per site and heat capacity per site by summing over all states."""
    energy = torus_energies(L)
    log_z = logsumexp(-energy / temperature)
    p = np.exp(-energy / temperature - log_z)
    mean = p @ energy
    variance = p @ (energy - mean) ** 2
    n = L * L
    return log_z, mean / n, variance / (temperature**2 * n)


def ising_log_z_brute(theory: Ising) -> float:
    """``ln sum_s exp(-energy(s)/T)`` with the energy of the theory class itself."""
    states = torch.tensor(all_spin_states(theory.n_sites))
    return logsumexp(-theory.energy(states).numpy() / theory.temperature)


def rolled_adjacency(shape: tuple[int, ...]) -> np.ndarray:
    """Adjacency matrix ``sum_mu (R_mu + R_mu^-1)`` built with rolls (2's on a 2-site axis)."""
    n = math.prod(shape)
    eye = np.eye(n).reshape(n, *shape)
    return sum(
        np.roll(eye, step, axis=1 + d).reshape(n, n)
        for d in range(len(shape))
        for step in (1, -1)
    )


def action_hessian(theory) -> np.ndarray:
    """Dense Hessian of a quadratic action (at zero field, where it is exact)."""
    x0 = torch.zeros(theory.n_features, dtype=torch.float64)
    h = torch.autograd.functional.hessian(lambda v: theory.action(v[None])[0], x0)
    return h.numpy()


def translation_matrix(g: np.ndarray) -> np.ndarray:
    """The matrix ``C[i, j] = g[x_j - x_i]`` of a translation-invariant two-point function."""
    shape = g.shape
    coords = np.stack(np.unravel_index(np.arange(g.size), shape), axis=1)
    diff = (coords[None, :, :] - coords[:, None, :]) % np.array(shape)
    return g[tuple(np.moveaxis(diff, -1, 0))]


# -- Kaufman --------------------------------------------------------------------------------
@pytest.mark.parametrize("L", [2, 3, 4])
def test_ising_log_z_matches_enumeration(L):
    exact = ising_log_z(L, np.array(TEMPERATURES))
    for temperature, value in zip(TEMPERATURES, exact):
        assert ising_log_z(L, temperature) == pytest.approx(value, abs=1e-12, rel=0)
        assert value == pytest.approx(enumerated_thermodynamics(L, temperature)[0], abs=1e-10)


@pytest.mark.parametrize("L", [3, 4])
def test_energy_and_heat_capacity_match_enumeration(L):
    brute = np.array([enumerated_thermodynamics(L, t) for t in TEMPERATURES])
    np.testing.assert_allclose(ising_energy(L, TEMPERATURES), brute[:, 1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        ising_heat_capacity(L, TEMPERATURES), brute[:, 2], rtol=0, atol=1e-9
    )


@pytest.mark.parametrize("L", [2, 3, 4])
def test_magnetization_sq_matches_enumeration(L):
    s = all_spin_states(L * L)
    m2 = s.mean(1) ** 2
    brute = []
    for temperature in TEMPERATURES:
        log_p = -torus_energies(L) / temperature
        p = np.exp(log_p - logsumexp(log_p))
        brute.append(p @ m2)
    np.testing.assert_allclose(ising_magnetization_sq(L, TEMPERATURES), brute, rtol=0,
                               atol=1e-12)


def test_magnetization_sq_limits_and_errors():
    # ground states (m^2 = 1) and independent spins (m^2 = 1/N) at the extremes of T
    assert ising_magnetization_sq(6, 0.05) == pytest.approx(1.0, abs=1e-12)
    assert ising_magnetization_sq(6, 1e6) == pytest.approx(1 / 36, rel=1e-4)
    # <m^2> falls with L at T_c as L^(-1/4) (eta = 1/4), roughly: 2^(-1/4) per doubling
    ratio = ising_magnetization_sq(8, T_C) / ising_magnetization_sq(4, T_C)
    assert ratio == pytest.approx(2 ** -0.25, rel=0.03)
    with pytest.raises(ValueError, match="L must be <= 12"):
        ising_magnetization_sq(13, T_C)
    with pytest.raises(ValueError, match="temperature"):
        ising_magnetization_sq(4, -1.0)


@pytest.mark.parametrize(
    ("temperature", "expected"),
    [(2.0, 17.1053671187), (T_C, 15.5219154588), (2.5, 14.5610930238), (3.0, 13.2810334556)],
)
def test_ising_log_z_conventions_values(temperature, expected):
    assert ising_log_z(4, temperature) == pytest.approx(expected, abs=1e-10)


def test_large_lattice_at_tc_approaches_onsager():
    log_z = ising_log_z(256, T_C)
    assert abs(log_z / 256**2 - onsager_log_z(T_C)) < 1e-3
    # finite-size amplitude of ln Z - N f at T_c on the square torus (Ferdinand-Fisher):
    # ln[(theta_2 + theta_3 + theta_4) / (2 eta)] at q = exp(-pi)
    q, n = math.exp(-math.pi), np.arange(1, 30)
    theta_2 = 2 * np.sum(q ** ((n - 0.5) ** 2))
    theta_3 = 1 + 2 * np.sum(q ** (n**2))
    theta_4 = 1 + 2 * np.sum((-1.0) ** n * q ** (n**2))
    eta = q ** (1 / 12) * np.prod(1 - q ** (2 * n))
    amplitude = math.log((theta_2 + theta_3 + theta_4) / (2 * eta))
    assert log_z - 256**2 * onsager_log_z(T_C) == pytest.approx(amplitude, abs=1e-5)
    u, c = ising_energy(256, T_C), ising_heat_capacity(256, T_C)
    assert abs(u + math.sqrt(2)) < 5e-3
    assert math.isfinite(c) and c > ising_heat_capacity(128, T_C)


def test_no_overflow_at_large_size_and_low_temperature():
    # below T_c the torus sums over the two ordered phases: ln Z = N ln Z_inf/N + ln 2
    log_z = ising_log_z(1024, 0.5)
    assert log_z - 1024**2 * onsager_log_z(0.5) == pytest.approx(math.log(2), abs=1e-6)
    assert ising_energy(1024, 0.5) == pytest.approx(onsager_energy(0.5), abs=1e-12)
    assert 0 < ising_heat_capacity(1024, 0.5) < 1e-4
    # near T = 0 (sinh 2K overflows below T ~ 0.003): the two ground states
    t = np.array([1e-3, 0.02, 0.05])
    np.testing.assert_allclose(ising_log_z(8, t), 128 / t + math.log(2), rtol=1e-15)
    np.testing.assert_allclose(ising_energy(8, t), -2.0, rtol=1e-12)
    np.testing.assert_allclose(ising_heat_capacity(8, t), 0.0, atol=1e-10)


@pytest.mark.parametrize("temperature", [1.5, 2.0, 3.0, 5.0])
def test_off_critical_energy_matches_onsager(temperature):
    assert ising_energy(64, temperature) == pytest.approx(onsager_energy(temperature), abs=1e-9)


def test_heat_capacity_peak_at_l16():
    peak = minimize_scalar(
        lambda t: -ising_heat_capacity(16, t), bounds=(2.2, 2.5), method="bounded"
    )
    assert peak.x == pytest.approx(2.3175, abs=1e-3)


def test_vectorized_over_temperature_keeps_shape():
    t = np.array([[1.0, 2.0], [T_C, 4.0]])
    for func in (ising_log_z, ising_energy, ising_heat_capacity):
        out = func(8, t)
        assert out.shape == t.shape
        assert out[1, 0] == pytest.approx(func(8, T_C), rel=1e-14)
    assert isinstance(ising_log_z(8, 2.0), float)


@pytest.mark.parametrize("L", [1, 0, -3])
def test_rejects_small_size(L):
    with pytest.raises(ValueError, match="L must be >= 2"):
        ising_log_z(L, 2.0)


@pytest.mark.parametrize("L", [2.0, True, "4"])
def test_rejects_non_integer_size(L):
    with pytest.raises(TypeError, match="L must be an int"):
        ising_energy(L, 2.0)


@pytest.mark.parametrize("temperature", [0.0, -1.0, math.nan, math.inf, [1.0, 0.0], []])
@pytest.mark.parametrize("func", [ising_log_z, ising_heat_capacity])
def test_rejects_bad_temperature(func, temperature):
    with pytest.raises(ValueError, match="temperature"):
        func(4, temperature)


# -- Onsager ----------------------------------------------------------------------------------
def test_onsager_values_at_tc():
    assert onsager_log_z(T_C) == pytest.approx(0.9296953983, abs=1e-10)
    assert onsager_free_energy(T_C) == pytest.approx(-2.1096511446, abs=1e-10)
    assert onsager_energy(T_C) == pytest.approx(-math.sqrt(2), abs=1e-12)
    assert onsager_magnetization(T_C) == 0.0


@pytest.mark.parametrize("temperature", [1.0, 2.0, 2.2, 2.35, 3.0, 6.0])
def test_onsager_energy_is_derivative_of_log_z(temperature):
    beta, h = 1 / temperature, 1e-5
    derivative = (onsager_log_z(1 / (beta + h)) - onsager_log_z(1 / (beta - h))) / (2 * h)
    assert onsager_energy(temperature) == pytest.approx(-derivative, abs=1e-7)


def test_onsager_magnetization_low_temperature_series_and_zero_above_tc():
    t = np.array([0.8, 1.0])
    u = np.exp(-4 / t)  # M = 1 - 2u^2 - 8u^3 - 34u^4 - 152u^5 - ...
    series = 1 - 2 * u**2 - 8 * u**3 - 34 * u**4
    assert np.all(np.abs(onsager_magnetization(t) - series) < 200 * u**5)
    np.testing.assert_array_equal(onsager_magnetization([T_C + 1e-9, 3.0, 10.0]), 0.0)
    below = onsager_magnetization(np.linspace(0.5, T_C - 1e-3, 50))
    assert np.all(np.diff(below) < 0) and below[-1] > 0


def test_onsager_functions_accept_arrays():
    t = np.array([1.0, T_C, 4.0])
    for func in (onsager_log_z, onsager_free_energy, onsager_energy, onsager_magnetization):
        out = func(t)
        assert out.shape == (3,)
        assert out[1] == pytest.approx(func(T_C), rel=1e-14)
    np.testing.assert_allclose(onsager_free_energy(t), -t * onsager_log_z(t), rtol=1e-15)
    with pytest.raises(ValueError, match="temperature"):
        onsager_energy(-2.0)


# -- the Ising dual ----------------------------------------------------------------------------
def test_ising_dual_log_z_conventions_value():
    assert ising_dual_log_z((4, 4), T_C) == pytest.approx(37.376732, abs=1e-6)


def dual_quadrature(theory: IsingDual, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor-product Gauss-Hermite nodes ``x`` and log-weights of the integral of
    exp(-action): ``logsumexp(log_weight)`` is ln Z, ``softmax(log_weight)`` gives means.

    With ``x = C z`` (``C C^T = K + alpha I``, the dense rolled adjacency) the integrand is a
    standard Gaussian in ``z`` times a smooth factor evaluated with the theory's own action.
    """
    n = theory.n_sites
    coupling = rolled_adjacency(theory.shape) / theory.temperature + theory.alpha * np.eye(n)
    chol = np.linalg.cholesky(coupling)
    nodes, weights = hermegauss(n_nodes)
    grid = np.meshgrid(*[np.arange(n_nodes)] * n, indexing="ij")
    z = np.stack([nodes[g.ravel()] for g in grid], axis=1)
    log_weight = sum(np.log(weights)[g.ravel()] for g in grid)
    x = z @ chol.T
    action = theory.action(torch.tensor(x)).numpy()
    log_weight = log_weight - action + 0.5 * (z**2).sum(1) + np.log(np.diag(chol)).sum()
    return x, log_weight


def dual_log_z_by_quadrature(theory: IsingDual, n_nodes: int) -> float:
    """ln of the integral of exp(-action) by Gauss-Hermite quadrature."""
    return logsumexp(dual_quadrature(theory, n_nodes)[1])


@pytest.mark.parametrize("shape", [(2, 2), (4,), (3,)])
@pytest.mark.parametrize("temperature", [2.0, T_C, 3.5])
def test_ising_dual_log_z_by_quadrature_and_brute_force(shape, temperature):
    theory = IsingDual(shape, temperature)
    n = theory.n_sites
    # the FFT eigenvalues are those of the dense coupling built with rolls
    coupling = rolled_adjacency(shape) / temperature + theory.alpha * np.eye(n)
    np.testing.assert_allclose(
        np.sort(theory.coupling_eigenvalues().numpy().ravel()),
        np.linalg.eigvalsh(coupling),
        atol=1e-12,
    )
    assert np.linalg.eigvalsh(coupling).min() == pytest.approx(0.1, abs=1e-12)
    # the Gaussian identity with a brute-force Ising sum over the same adjacency
    identity = (
        ising_log_z_brute(Ising(shape, temperature))
        - n * math.log(2)
        + 0.5 * n * math.log(2 * math.pi)
        + 0.5 * np.linalg.slogdet(coupling)[1]
        + 0.5 * theory.alpha * n
    )
    quadrature = dual_log_z_by_quadrature(theory, n_nodes=24)
    assert quadrature == pytest.approx(identity, abs=1e-9)
    assert ising_dual_log_z(shape, temperature) == pytest.approx(quadrature, abs=1e-9)


@pytest.mark.parametrize("shape, temperature", [((3,), 2.0), ((2, 2), T_C)])
def test_ising_dual_fields_drawn_from_exact_spins_follow_the_dual_law(shape, temperature):
    """x | s ~ N(Cs, C) with s from the Ising law has the marginal exp(-action): moments of
    the drawn fields against quadrature of exp(-action), within 4 standard errors."""
    theory = IsingDual(shape, temperature)
    states = torch.tensor(all_spin_states(theory.n_sites))
    log_p = -Ising(shape, temperature).action(states)
    g = torch.Generator().manual_seed(0)
    spins = states[torch.multinomial(torch.softmax(log_p, 0), 200_000, True, generator=g)]
    x = theory.sample_field(spins, generator=g).numpy()
    nodes, log_weight = dual_quadrature(theory, n_nodes=24)
    weight = np.exp(log_weight - logsumexp(log_weight))
    for f in (lambda v: v[:, 0] ** 2, lambda v: v[:, 0] * v[:, 1],
              lambda v: np.tanh(v[:, 0]) * np.tanh(v[:, 1]), lambda v: np.cos(v[:, 0])):
        values = f(x)
        exact = float(weight @ f(nodes))
        assert abs(values.mean() - exact) < 4 * values.std() / math.sqrt(len(values))
    with pytest.raises(ValueError, match="spins"):
        theory.sample_field(torch.zeros(2, theory.n_sites))


def test_ising_dual_log_z_rejects_other_shapes():
    with pytest.raises(ValueError, match="shape must be"):
        ising_dual_log_z((4, 6), 2.0)
    with pytest.raises(ValueError, match="temperature"):
        ising_dual_log_z((4, 4), 0.0)


# -- Gaussian fields ---------------------------------------------------------------------------
def test_free_scalar_log_z_conventions_value():
    assert free_scalar_log_z((8, 8), 0.1) == pytest.approx(19.92516644, abs=1e-8)


@pytest.mark.parametrize("shape", [(5,), (4, 4), (2, 3, 4)])
def test_free_scalar_against_dense_hessian(shape):
    m2 = 0.3
    hessian = action_hessian(FreeScalar(shape, m2))
    n = hessian.shape[0]
    log_z = 0.5 * n * math.log(2 * math.pi) - 0.5 * np.linalg.slogdet(hessian)[1]
    assert free_scalar_log_z(shape, m2) == pytest.approx(log_z, abs=1e-10)
    g = free_scalar_propagator(shape, m2)
    assert g.shape == shape
    np.testing.assert_allclose(translation_matrix(g), np.linalg.inv(hessian), atol=1e-12)


def test_complex_free_log_z_conventions_value():
    assert complex_free_log_z((8, 8), 4.5) == pytest.approx(-14.21720181, abs=1e-8)


@pytest.mark.parametrize(("shape", "mu", "t"), [((4, 4), 4.5, 1.0), ((3, 2, 4), 2.0, 0.3)])
def test_complex_free_against_dense_hessian(shape, mu, t):
    hessian = action_hessian(ComplexPhi4(shape, t=t, mu=mu, lam=0.0))
    n = hessian.shape[0] // 2
    log_z = n * math.log(2 * math.pi) - 0.5 * np.linalg.slogdet(hessian)[1]
    assert complex_free_log_z(shape, mu, t) == pytest.approx(log_z, abs=1e-10)
    covariance = np.linalg.inv(hessian)
    g = complex_free_propagator(shape, mu, t)
    assert g.shape == shape
    np.testing.assert_allclose(translation_matrix(g), covariance[:n, :n], atol=1e-12)
    np.testing.assert_allclose(translation_matrix(g), covariance[n:, n:], atol=1e-12)
    np.testing.assert_allclose(covariance[:n, n:], 0.0, atol=1e-12)


def test_gaussian_fields_validate_parameters():
    with pytest.raises(ValueError, match="m2"):
        free_scalar_log_z((4, 4), 0.0)
    with pytest.raises(ValueError, match="m2"):
        free_scalar_propagator((4, 4), -1.0)
    with pytest.raises(ValueError, match="mu"):
        complex_free_log_z((4, 4), 4.0)
    with pytest.raises(ValueError, match="mu"):
        complex_free_propagator((4, 4, 4), 5.0, t=1.0)
    with pytest.raises(ValueError, match="t must be"):
        complex_free_log_z((4, 4), 4.5, t=-1.0)
    with pytest.raises(ValueError, match="shape"):
        free_scalar_log_z((1, 4), 1.0)
