"""Data generators: equilibrium physics, decorrelation, reproducibility, caching."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from skphys.datasets import _monte_carlo, make_ising, make_ising_dual, make_phi4, make_xy
from skphys.lattice import IsingDual
from skphys.lattice.exact import T_C, ising_energy
from skphys.lattice.stats import tau_int

M2_EXACT_L4_TC = 0.76135891  # conventions §3, exact enumeration


def test_make_ising_dual_fields_carry_the_ising_law():
    X, T = make_ising_dual((4, 4), [T_C, 2.5], n_samples=2000, random_state=0)
    assert X.shape == (4000, 16) and np.isfinite(X).all()
    np.testing.assert_array_equal(T, np.repeat([T_C, 2.5], 2000))
    # the improved estimator of the spins' m^2 on the fields against exact enumeration
    m2 = IsingDual((4, 4), T_C).ising_magnetization_sq(torch.as_tensor(X[:2000])).numpy()
    assert abs(m2.mean() - M2_EXACT_L4_TC) < 4 * m2.std() / np.sqrt(2000)
    np.testing.assert_array_equal(make_ising_dual((4, 4), 2.5, 10, random_state=1)[0],
                                  make_ising_dual((4, 4), 2.5, 10, random_state=1)[0])


def test_make_ising_equilibrium_and_decorrelated():
    X, T = make_ising((4, 4), [T_C, 2.5], n_samples=2000, random_state=0)
    assert X.shape == (4000, 16) and set(np.unique(X)) == {-1.0, 1.0}
    np.testing.assert_array_equal(T, np.repeat([T_C, 2.5], 2000))
    m2 = X[:2000].mean(1) ** 2
    # rows are decorrelated: plain standard errors apply
    assert abs(m2.mean() - M2_EXACT_L4_TC) < 4 * m2.std() / np.sqrt(2000)
    chains = np.abs(X[:2000].mean(1)).reshape(8, 250)
    assert tau_int(chains).tau < 1.0
    # energy per site at T = 2.5 against Kaufman
    s = X[2000:].reshape(-1, 4, 4)
    e = -(s * np.roll(s, -1, 1) + s * np.roll(s, -1, 2)).sum((1, 2)) / 16
    assert abs(e.mean() - ising_energy(4, 2.5)) < 4 * e.std() / np.sqrt(2000)


def test_make_xy_and_phi4_reproducible():
    X1, T1 = make_xy((4, 4), [0.5, 1.5], n_samples=20, random_state=3)
    X2, _ = make_xy((4, 4), [0.5, 1.5], n_samples=20, random_state=3)
    np.testing.assert_array_equal(X1, X2)
    assert X1.shape == (40, 16) and np.all((X1 >= 0) & (X1 < 2 * np.pi))
    # ordered at low temperature: neighbouring angles aligned
    cos_nn = np.cos(X1[:20].reshape(-1, 4, 4) - np.roll(X1[:20].reshape(-1, 4, 4), 1, 2))
    assert cos_nn.mean() > 0.8
    P1 = make_phi4((4, 4), m2=-4.0, lam=8.0, n_samples=30, random_state=1)
    P2 = make_phi4((4, 4), m2=-4.0, lam=8.0, n_samples=30, random_state=1)
    np.testing.assert_array_equal(P1, P2)
    assert P1.shape == (30, 16) and np.all(np.isfinite(P1))


def test_cache_round_trip(tmp_path, monkeypatch):
    X, T = make_ising((4, 4), 2.0, n_samples=16, random_state=5, cache_dir=tmp_path)
    (cached,) = os.listdir(tmp_path)
    assert cached.startswith("ising-") and cached.endswith(".npz")

    def fail(*args, **kwargs):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(_monte_carlo, "wolff", fail)
    X2, T2 = make_ising((4, 4), 2.0, n_samples=16, random_state=5, cache_dir=tmp_path)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(T, T2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperatures": [-1.0]}, "temperatures"),
        ({"temperatures": [np.nan]}, "temperatures"),
        ({"n_samples": 0}, "n_samples"),
        ({"shape": (1, 4)}, "shape"),
    ],
)
def test_bad_input(kwargs, match):
    args = {"shape": (4, 4), "temperatures": [2.0], "n_samples": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_ising(args["shape"], args["temperatures"], args["n_samples"])


def test_make_phi4_with_absurd_couplings_fails_fast():
    """m2 = 1e300 needs leapfrog steps near 1e-150: the HMC step-size adaptation stops at its
    floor with an error naming the theory (it used to shrink the step without end)."""
    import time

    start = time.process_time()
    with pytest.raises(ValueError, match=r"hmc cannot sample Phi4\(shape=\(2, 2\), m2=1e\+300"):
        make_phi4((2, 2), m2=1e300, lam=1, n_samples=4, random_state=0)
    assert time.process_time() - start < 5.0
