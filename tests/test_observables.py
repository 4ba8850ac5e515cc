"""Tests of skphys.lattice.observables against exact results."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skphys.lattice import FreeScalar, Ising, Phi4
from skphys.lattice.observables import (
    abs_magnetization,
    binder_cumulant,
    complex_magnetization,
    correlation_length,
    effective_mass,
    energy_per_site,
    helicity_modulus,
    magnetization,
    plaquette_winding,
    two_point_function,
    two_point_susceptibility,
    vortex_density,
    zero_momentum_correlator,
)

L, M2 = 8, 0.25
"""Free field with lattice mass arccosh(1 + M2/2) = 0.4949, i.e. xi = 2.02 = L/4."""


@pytest.fixture(scope="module")
def free_covariance():
    """Dense covariance of FreeScalar((L, L), M2): the inverse Hessian of its action."""
    theory = FreeScalar((L, L), M2)
    zero = torch.zeros(theory.n_sites, dtype=torch.float64)
    hessian = torch.autograd.functional.hessian(lambda v: theory.action(v[None])[0], zero)
    return np.linalg.inv(hessian.numpy())


@pytest.fixture(scope="module")
def free_samples(free_covariance):
    """4000 exact draws of the free field."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((4000, L * L)) @ np.linalg.cholesky(free_covariance).T


def exact_propagator(covariance, shape):
    """G(y) = (1/V) sum_x C[x, x + y], averaged over x (no translation invariance assumed)."""
    sites = np.indices(shape).reshape(len(shape), -1)
    extents = np.array(shape)[:, None]
    G = np.empty(shape)
    for y in np.ndindex(*shape):
        shifted = np.ravel_multi_index((sites + np.array(y)[:, None]) % extents, shape)
        G[y] = covariance[np.arange(sites.shape[1]), shifted].mean()
    return G


def second_moment_rows(covariance):
    """Rows whose mean outer product is exactly ``covariance`` (sqrt(V) Cholesky columns)."""
    return math.sqrt(len(covariance)) * np.linalg.cholesky(covariance).T


def roll_lattice(x, shifts, shape):
    """Translate every configuration of rows ``x`` by ``shifts`` on the lattice ``shape``."""
    dims = tuple(range(1, len(shape) + 1))
    return torch.roll(x.reshape(-1, *shape), shifts, dims).reshape(x.shape)


# -- magnetization, susceptibility, energy, Binder ------------------------------------------


def test_magnetizations_exact():
    x = torch.tensor([[1.0, -1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0]])
    assert magnetization(x).tolist() == [0.5, -1.0]
    assert abs_magnetization(x).tolist() == [0.5, 1.0]


def test_complex_magnetization_of_phases():
    phases = np.array([[0.3] * 4, [0.0, 0.5 * np.pi, np.pi, 1.5 * np.pi]])
    x = np.concatenate([2 * np.cos(phases), 2 * np.sin(phases)], axis=1)
    np.testing.assert_allclose(complex_magnetization(x), [2.0, 0.0], atol=1e-15)


@pytest.mark.parametrize("value", [0.0, 0.5, -1.5])
@pytest.mark.parametrize("shape", [(8, 8), (4, 6), (3, 3, 3)])
def test_chi2_of_constant_fields(value, shape):
    V = math.prod(shape)
    x = torch.full((3, V), value, dtype=torch.float64)
    expected = torch.full((3,), value**2 * V, dtype=torch.float64)
    torch.testing.assert_close(two_point_susceptibility(x), expected)


def test_chi2_is_sum_of_two_point_function():
    x = torch.randn(50, 24, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    chi2 = two_point_susceptibility(x).mean()
    torch.testing.assert_close(two_point_function(x, (4, 6)).sum(), chi2)


def test_energy_per_site():
    assert energy_per_site(Ising((4, 4), temperature=2.0), torch.ones(2, 16)).tolist() == [-2.0] * 2
    theory = Phi4((4, 4), m2=-4.0, lam=8.0)
    x = torch.randn(5, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    torch.testing.assert_close(energy_per_site(theory, x), theory.action(x) / 16)


def test_binder_cumulant_exact():
    ordered = torch.tensor([[1.0] * 4, [-1.0] * 4])
    torch.testing.assert_close(binder_cumulant(ordered), torch.tensor(2 / 3))
    # m = +-a with probability 1/6 each, else 0: <m^4> = a^4/3 = 3 <m^2>^2, so U4 = 0
    m = torch.tensor([-2.0, 2.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    assert binder_cumulant(m[:, None].expand(6, 3)).item() == pytest.approx(0.0, abs=1e-15)


# -- correlators -----------------------------------------------------------------------------


def test_two_point_function_exact_second_moment(free_covariance):
    """Rows with exactly the free covariance give exactly the propagator."""
    x = second_moment_rows(free_covariance)
    G = two_point_function(x, (L, L))
    np.testing.assert_allclose(G, exact_propagator(free_covariance, (L, L)), rtol=1e-10)
    np.testing.assert_allclose(G.sum(), 1 / M2, rtol=1e-10)  # zero-momentum propagator


def test_two_point_function_free_field_samples(free_covariance, free_samples):
    exact = exact_propagator(free_covariance, (L, L))
    G = two_point_function(free_samples, (L, L))
    blocks = np.array([two_point_function(b, (L, L)) for b in np.split(free_samples, 20)])
    se = blocks.std(axis=0, ddof=1) / math.sqrt(len(blocks))
    assert se.max() < 0.05 * exact[0, 0]  # the comparison below has power
    assert np.all(np.abs(G - exact) < 4 * se)


def test_connected_two_point_function():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 12)) + 0.7
    mean = x.mean()
    connected = two_point_function(x, (3, 4), connected=True)
    np.testing.assert_allclose(connected, two_point_function(x, (3, 4)) - mean**2, atol=1e-12)
    np.testing.assert_allclose(connected, two_point_function(x + 5.0, (3, 4), connected=True))


@pytest.mark.parametrize("shape", [(8, 8), (6, 4), (4, 3, 5), (7,)])
@pytest.mark.parametrize("connected", [False, True])
def test_zero_momentum_correlator_is_spatial_sum(shape, connected):
    x = torch.randn(30, math.prod(shape), generator=torch.Generator().manual_seed(4)) + 0.3
    G = two_point_function(x, shape, connected=connected)
    expected = G.reshape(shape[0], -1).sum(1)
    torch.testing.assert_close(zero_momentum_correlator(x, shape, connected=connected), expected)


def test_effective_mass_of_cosh():
    t = np.arange(12)
    masses = np.array([[0.3], [1.1]])
    G = 2.5 * np.cosh(masses * (t - 6))
    m_eff = effective_mass(G)
    assert m_eff.shape == (2, 10)
    np.testing.assert_allclose(m_eff, np.broadcast_to(masses, (2, 10)), rtol=1e-10)


def test_effective_mass_nan_without_decay():
    m_eff = effective_mass(np.array([1.0, 2.0, 1.0, 1.0, 1.0]))  # ratios 1/2, 3/2, 1
    assert math.isnan(m_eff[0]) and m_eff[1:].tolist() == [math.acosh(1.5), 0.0]


def test_correlation_length_exact_free_field(free_covariance):
    """The free zero-momentum correlator is exactly cosh with cosh(m) = 1 + m2/2."""
    x = second_moment_rows(free_covariance)
    xi = 1 / math.acosh(1 + M2 / 2)
    for t in range(1, L - 1):
        assert correlation_length(x, (L, L), t=t, connected=False) == pytest.approx(xi, rel=1e-8)


def test_correlation_length_free_field_samples(free_samples):
    xi_exact = 1 / math.acosh(1 + M2 / 2)
    xi = correlation_length(free_samples, (L, L))
    blocks = np.split(free_samples, 20)
    leave_one_out = [np.concatenate(blocks[:b] + blocks[b + 1 :]) for b in range(20)]
    jackknife = np.array([correlation_length(x, (L, L)) for x in leave_one_out])
    se = math.sqrt(19 / 20 * np.sum((jackknife - jackknife.mean()) ** 2))
    assert se < 0.05 * xi_exact
    assert abs(xi - xi_exact) < 4 * se


def test_correlation_length_default_t():
    """Two states: m_eff(t) depends on t, and the default is t = shape[0] // 4 = 3."""
    t = np.arange(12)
    G = np.cosh(0.3 * (t - 6)) + np.cosh(1.2 * (t - 6))
    phi = np.sqrt(12) * np.fft.irfft(np.sqrt(np.fft.rfft(G).real), n=12)[None]  # correlator G
    np.testing.assert_allclose(zero_momentum_correlator(phi, (12,)), G, rtol=1e-12)
    xi = 1 / effective_mass(G)
    assert correlation_length(phi, (12,), connected=False) == pytest.approx(xi[2], rel=1e-10)
    assert not np.isclose(xi[1], xi[2]) and not np.isclose(xi[3], xi[2])


# -- XY vortices and helicity modulus -------------------------------------------------------


def vortex_pair(size=8):
    """A vortex at plaquette (3, 2) and an antivortex at plaquette (3, 5), angles in [0, 2 pi)."""
    i, j = np.indices((size, size))
    theta = np.arctan2(i - 3.5, j - 2.5) - np.arctan2(i - 3.5, j - 5.5)
    return np.mod(theta, 2 * np.pi).reshape(1, -1)


def test_vortex_pair():
    theta = vortex_pair()
    expected = np.zeros((8, 8), dtype=np.int64)
    expected[3, 2], expected[3, 5] = 1, -1
    np.testing.assert_array_equal(plaquette_winding(theta, (8, 8))[0], expected)
    assert vortex_density(theta, (8, 8)).tolist() == [2 / 64]


def test_uniform_configuration_has_no_vortices():
    theta = torch.full((2, 64), 4.0, dtype=torch.float64)
    assert vortex_density(theta, (8, 8)).tolist() == [0.0, 0.0]


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, (2, 20), elements=st.floats(0.0, 2 * math.pi, exclude_max=True)))
def test_windings_sum_to_zero_on_torus(theta):
    w = plaquette_winding(theta, (4, 5))
    assert np.all(np.abs(w) <= 1) and np.all(w.sum(axis=(1, 2)) == 0)


def twisted(shape, axis):
    """One full 2 pi twist of the angle along lattice ``axis``."""
    return (2 * np.pi * np.indices(shape)[axis] / shape[axis]).reshape(1, -1)


def test_helicity_modulus_exact():
    shape, T = (8, 8), 0.9
    N = 64
    assert helicity_modulus(np.zeros((3, N)), shape, T) == pytest.approx(1.0, rel=1e-14)
    # theta_i - theta_{i+x} = -2 pi / L on every x bond
    twist = np.cos(2 * np.pi / 8) - N / T * np.sin(2 * np.pi / 8) ** 2
    assert helicity_modulus(twisted(shape, 1), shape, T) == pytest.approx(twist, rel=1e-12)
    # a twist along axis 0 leaves the x bonds (along axis 1) aligned
    assert helicity_modulus(twisted(shape, 0), shape, T) == pytest.approx(1.0, rel=1e-14)
    # ensemble average of the square, not square of the average
    mixed = np.concatenate([np.zeros((1, N)), twisted(shape, 1)])
    expected = ((N + N * np.cos(np.pi / 4)) / 2 - (N * np.sin(np.pi / 4)) ** 2 / (2 * T)) / N
    assert helicity_modulus(mixed, shape, T) == pytest.approx(expected, rel=1e-12)


def test_helicity_modulus_per_sample():
    shape, T, N = (8, 8), 0.9, 64
    mixed = np.concatenate([np.zeros((1, N)), twisted(shape, 1), twisted(shape, 0)])
    twist = np.cos(2 * np.pi / 8) - N / T * np.sin(2 * np.pi / 8) ** 2
    values = helicity_modulus(mixed, shape, T, per_sample=True)
    np.testing.assert_allclose(values, [1.0, twist, 1.0], rtol=1e-12)
    tensor = helicity_modulus(torch.from_numpy(mixed), shape, T, per_sample=True)
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (3,)


@settings(max_examples=20, deadline=None)
@given(hnp.arrays(np.float64, (5, 12), elements=st.floats(0.0, 2 * math.pi, exclude_max=True)))
def test_helicity_modulus_is_the_mean_of_the_per_sample_values(theta):
    per_sample = helicity_modulus(theta, (3, 4), 0.7, per_sample=True)
    assert per_sample.shape == (5,)
    assert helicity_modulus(theta, (3, 4), 0.7) == pytest.approx(per_sample.mean(), abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(
    hnp.arrays(np.float64, (3, 12), elements=st.floats(0.0, 2 * math.pi, exclude_max=True)),
    st.floats(0.0, 2 * math.pi),
)
def test_helicity_modulus_global_rotation(theta, alpha):
    rotated = np.mod(theta + alpha, 2 * np.pi)
    assert helicity_modulus(rotated, (3, 4), 1.0) == pytest.approx(
        helicity_modulus(theta, (3, 4), 1.0), abs=1e-9
    )


# -- numpy / torch round trip ----------------------------------------------------------------

CASES = {
    "magnetization": magnetization,
    "abs_magnetization": abs_magnetization,
    "complex_magnetization": complex_magnetization,
    "two_point_susceptibility": two_point_susceptibility,
    "energy_per_site": lambda x: energy_per_site(Phi4((4, 4), m2=-4.0, lam=8.0), x),
    "binder_cumulant": binder_cumulant,
    "two_point_function": lambda x: two_point_function(x, (4, 4)),
    "zero_momentum_correlator": lambda x: zero_momentum_correlator(x, (4, 4), connected=True),
    "effective_mass": lambda x: effective_mass(x[0] ** 2),
    "correlation_length": lambda x: correlation_length(x, (4, 4), connected=False),
    "plaquette_winding": lambda x: plaquette_winding(x, (4, 4)),
    "vortex_density": lambda x: vortex_density(x, (4, 4)),
    "helicity_modulus": lambda x: helicity_modulus(x, (4, 4), temperature=1.0),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_numpy_torch_round_trip(name, dtype):
    x = np.random.default_rng(5).uniform(0, 2 * np.pi, size=(6, 16)).astype(dtype)
    out_numpy = CASES[name](x)
    out_torch = CASES[name](torch.from_numpy(x))
    assert isinstance(out_numpy, (np.ndarray, np.generic))
    assert isinstance(out_torch, torch.Tensor)
    if name != "plaquette_winding":
        assert out_numpy.dtype == dtype and out_torch.dtype == torch.from_numpy(x).dtype
    np.testing.assert_array_equal(out_numpy, out_torch.numpy())


def test_integer_spins_are_promoted():
    spins = np.array([[1, -1, 1, 1]])
    assert magnetization(spins).dtype == np.float64
    assert magnetization(torch.from_numpy(spins)).dtype == torch.float64


def test_gradients_flow():
    x = torch.randn(4, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    x.requires_grad_(True)
    two_point_susceptibility(x).mean().backward()
    torch.testing.assert_close(x.grad, 2 * x.detach().sum(1, keepdim=True).expand(4, 16) / 64)


# -- symmetries (hypothesis) -----------------------------------------------------------------

fields = hnp.arrays(np.float64, (3, 20), elements=st.floats(-10, 10))


@settings(max_examples=40, deadline=None)
@given(fields, st.integers(-4, 4), st.integers(-5, 5))
def test_translation_invariance(x, s0, s1):
    x = torch.from_numpy(x)
    shifted = roll_lattice(x, (s0, s1), (4, 5))
    torch.testing.assert_close(two_point_function(shifted, (4, 5)), two_point_function(x, (4, 5)))
    torch.testing.assert_close(two_point_susceptibility(shifted), two_point_susceptibility(x))


@settings(max_examples=40, deadline=None)
@given(fields)
def test_z2_invariance(x):
    x = torch.from_numpy(x)
    assert torch.equal(two_point_susceptibility(-x), two_point_susceptibility(x))
    assert torch.equal(abs_magnetization(-x), abs_magnetization(x))
    torch.testing.assert_close(two_point_function(-x, (4, 5)), two_point_function(x, (4, 5)))


# -- validation ------------------------------------------------------------------------------


def test_shape_mismatch_names_x_and_shape():
    with pytest.raises(ValueError, match=r"x has 10 features.*shape=\(3, 3\) has 9 sites"):
        two_point_function(np.zeros((2, 10)), (3, 3))
    with pytest.raises(ValueError, match=r"theta has 10 features"):
        helicity_modulus(np.zeros((2, 10)), (3, 3), temperature=1.0)


@pytest.mark.parametrize("bad", [np.zeros(4), np.zeros((2, 2, 2)), torch.zeros(3)])
def test_rows_must_be_2d(bad):
    with pytest.raises(ValueError, match="x must be 2-D"):
        magnetization(bad)


def test_invalid_arguments():
    with pytest.raises(TypeError, match="x must be a torch.Tensor or a numpy.ndarray, got list"):
        magnetization([[1.0, 2.0]])
    with pytest.raises(ValueError, match="multiple of 2 features"):
        complex_magnetization(np.zeros((1, 5)))
    with pytest.raises(TypeError, match="theory must be a LatticeTheory"):
        energy_per_site("Phi4", np.zeros((1, 4)))
    with pytest.raises(ValueError, match="shape must be 2-D"):
        vortex_density(np.zeros((1, 27)), (3, 3, 3))
    with pytest.raises(ValueError, match="temperature must be a finite real number > 0"):
        helicity_modulus(np.zeros((1, 16)), (4, 4), temperature=0.0)
    with pytest.raises(ValueError, match="G must have at least 3 entries"):
        effective_mass(np.ones(2))
    for t in (0, 7, 2.0):
        with pytest.raises(ValueError, match=r"t must be an int in \[1, 6\]"):
            correlation_length(np.ones((2, 64)), (8, 8), t=t)


# -- complex and overflowing input ----------------------------------------------------------------
@pytest.mark.parametrize("x", [np.ones((3, 4), dtype=complex),
                               torch.ones(3, 4, dtype=torch.complex128)],
                         ids=["numpy", "torch"])
@pytest.mark.parametrize("observable", [magnetization, two_point_susceptibility,
                                        lambda x: two_point_function(x, (2, 2))])
def test_complex_configurations_are_refused_not_cast(observable, x):
    """Casting would drop the imaginary parts (numpy and torch only warn); a complex field
    is stored as real rows instead."""
    with pytest.raises(TypeError, match="x must .*real numbers.*complex"):
        observable(x)


def test_energy_that_overflows_to_nan_warns():
    """phi^4 at |phi| = 1e300: the quartic and hopping terms overflow to +inf and -inf, whose
    sum is NaN; the finite configuration's NaN energy is reported, not returned silently."""
    theory = Phi4((2, 2), m2=1.0, lam=1.0)
    x = np.array([[1e300] * 4, [0.5] * 4])
    with pytest.warns(RuntimeWarning, match=r"energy of Phi4 is NaN for 1 of 2 finite"):
        e = energy_per_site(theory, x)
    assert np.isnan(e[0]) and e[1] == pytest.approx(float(theory.action(torch.tensor(x[1:])))
                                                     / 4)
