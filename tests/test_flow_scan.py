"""Flows across sizes and couplings: size transfer (warm_start onto a larger lattice) and
coupling_scan."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning

from skphys import (
    Adam,
    ContinuousFlow,
    CouplingBlock,
    CouplingFlow,
    FlowSampler,
    MERAFlow,
    RGFlow,
    coupling_scan,
)
from skphys.flows._model import continuous_flow, coupling_flow
from skphys.lattice import Phi4

SMALL_FLOW = CouplingFlow(n_layers=2, hidden_channels=4)


def _coupling(shape):
    return coupling_flow(shape, 1, n_layers=2, hidden_channels=(4,), kernel_size=3,
                         activation="tanh", final_tanh=True, z2_equivariant=False,
                         fourier_layer=True)


def _continuous(shape):
    return continuous_flow(shape, 1, n_frequencies=2, n_time_kernels=3, ode_method="rk4",
                           ode_steps=4, adjoint=False, fourier_layer=True)


def _randomized(module, scale):
    """``module`` in float64 with every parameter drawn from N(0, scale^2) (seeded)."""
    module = module.double()
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return module


def _tiled(rows, small, large):
    fields = rows.reshape(len(rows), *small)
    reps = [n // s for n, s in zip(large, small)]
    return fields.tile(1, *reps).reshape(len(rows), -1)


@pytest.mark.parametrize("build, scale", [(_coupling, 0.5), (_continuous, 0.02)])
def test_transfer_acts_on_tiled_fields_as_the_small_flow(build, scale):
    # a field tiled from the small lattice has only the momenta both lattices share and sees
    # every offset's total kernel: the transferred flow maps it exactly like the small flow,
    # and its log-determinant is the small one's times the number of tiles
    small, large = _randomized(build((4, 4)), scale), build((8, 8)).double()
    large.transfer_from(small)
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x_small, log_det_small = small.bijector(small._fields(z))
    x_large, log_det_large = large.bijector(large._fields(_tiled(z, (4, 4), (8, 8))))
    assert torch.allclose(x_large.reshape(3, -1), _tiled(x_small.reshape(3, -1), (4, 4),
                                                         (8, 8)), atol=1e-10)
    assert torch.allclose(log_det_large, 4 * log_det_small, atol=1e-8)


@pytest.mark.parametrize("build, scale, tol", [(_coupling, 0.5, 1e-9),
                                               (_continuous, 0.02, 1e-4)])
def test_transferred_flow_is_normalized_on_the_larger_lattice(build, scale, tol):
    # log q of a sample against the change of variables with the autograd Jacobian, on a
    # lattice whose extents are no multiple of the source's (interpolated Fourier scales);
    # the continuous flow's log-determinant is the discrete map's up to the solver's error
    small, large = _randomized(build((4, 4)), scale), build((6, 6)).double()
    large.transfer_from(small)
    z = torch.randn(1, 36, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = large.from_latent(z)
    jacobian = torch.autograd.functional.jacobian(lambda v: large.from_latent(v[None])[0], z[0])
    log_det = torch.linalg.slogdet(jacobian)[1]
    expected = -0.5 * float(z.square().sum()) - 18 * math.log(2 * math.pi) - float(log_det)
    assert float(large.log_prob(x)) == pytest.approx(expected, abs=tol)
    assert torch.allclose(large.to_latent(x), z, atol=tol)


def test_transfer_refuses_smaller_lattices_and_other_architectures():
    with pytest.raises(ValueError, match="no smaller"):
        _coupling((4, 4)).transfer_from(_coupling((8, 8)))
    with pytest.raises(ValueError, match="architectures differ"):
        _coupling((8, 8)).transfer_from(_continuous((4, 4)))


def _fitted(theory, **params):
    fs = FlowSampler(theory, flow=SMALL_FLOW, max_iter=40, random_state=0, device="cpu",
                     **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fs.fit()


def test_warm_start_moves_a_fitted_flow_to_a_larger_lattice():
    fs = _fitted(Phi4((4, 4), m2=-4.0, lam=6.0))
    theory = Phi4((8, 8), m2=-4.0, lam=6.0)
    fresh = FlowSampler(theory, flow=SMALL_FLOW, max_iter=3, random_state=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fs.set_params(theory=theory, warm_start=True, max_iter=3).fit()
        fresh.fit()
    assert fs.lattice_shape_ == (8, 8) and fs.n_features_in_ == 64
    assert fs.n_iter_ == 3 and len(fs.history_) == 3  # counted on the new lattice
    # the parameters carried over: the first step's loss (reverse KL + ln Z) is far lower
    assert fs.history_["loss"].iloc[0] < 0.3 * fresh.history_["loss"].iloc[0]
    x = fs.sample(5)
    assert x.shape == (5, 64)
    copy = pickle.loads(pickle.dumps(fs))  # the rebuilt module is the one load builds
    np.testing.assert_allclose(copy.score_samples(x), fs.score_samples(x), rtol=1e-6)


def test_warm_start_refuses_what_cannot_transfer():
    fs = _fitted(Phi4((8, 8), m2=-4.0, lam=6.0))
    with pytest.raises(ValueError, match="warm_start=True moves .* no smaller extent"):
        fs.set_params(theory=Phi4((4, 4), m2=-4.0, lam=6.0), warm_start=True).fit()
    with pytest.raises(ValueError, match="warm_start=True moves .* same dimension"):
        fs.set_params(theory=Phi4((8, 8, 8), m2=-6.0, lam=6.0)).fit()
    with pytest.raises(ValueError, match="warm_start=True could not move .* layers"):
        fs.set_params(theory=Phi4((16, 16), m2=-4.0, lam=6.0), flow__n_layers=3).fit()
    assert fs.lattice_shape_ == (8, 8) and fs.n_features_in_ == 64  # left as it was


def test_rg_flow_moves_its_levels_to_a_larger_lattice():
    rg = RGFlow(Phi4((4, 4), m2=-4.0, lam=6.0), flow=MERAFlow(block=CouplingBlock(
        n_layers=2, hidden_channels=4)), max_iter=2, random_state=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rg.fit()
        small = rg.module_.bijector
        rg.set_params(theory=Phi4((8, 8), m2=-4.0, lam=6.0), warm_start=True).fit()
    large = rg.module_.bijector
    assert (small.depths, large.depths) == ((4, 1), (4, 1, 1))
    # the two levels of 4 x 4 are the two finest of 8 x 8 (two steps later: close to them)
    for mine, theirs in zip(large.decimators, small.decimators):
        for p, q in zip(mine.parameters(), theirs.parameters()):
            assert torch.allclose(p, q, atol=0.05)
    x, log_w = rg.sample(4, method="importance")
    assert x.shape == (4, 64) and np.isfinite(log_w).all()
    with pytest.raises(ValueError, match="warm_start=True could not move .* depths"):
        rg.set_params(theory=Phi4((16, 16), m2=-4.0, lam=6.0), flow__depth=2).fit()


def test_continuous_flow_moves_through_the_estimator():
    flow = ContinuousFlow(n_frequencies=2, n_time_kernels=3, ode_steps=2)
    fs = FlowSampler(Phi4((4, 4), m2=-4.0, lam=6.0), flow=flow, max_iter=5, random_state=0,
                     device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fs.fit()
        fs.set_params(theory=Phi4((6, 6), m2=-4.0, lam=6.0), warm_start=True, max_iter=1).fit()
    velocity = fs.module_.bijector.bijectors[1].rhs.velocity
    assert velocity.shape == (6, 6) and fs.sample(2).shape == (2, 36)


def _phi2(x):
    return (x**2).mean(1)


def test_coupling_scan_table_and_continuation():
    template = FlowSampler(Phi4((4, 4), m2=-1.0, lam=1.0), flow=SMALL_FLOW, max_iter=400,
                           optimizer=Adam(2e-2), random_state=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scan = coupling_scan(template, "lam", [1.0, 0.7], observables={"phi2": _phi2},
                             n_samples=1024, continue_iter=1)
        fresh = coupling_scan(template.set_params(max_iter=1), "lam", [0.7], n_samples=1024)
    assert list(scan.columns) == ["lam", "ess", "ess_err", "log_z", "log_z_err", "phi2",
                                  "phi2_err", "n_iter", "cpu_seconds"]
    assert scan["lam"].tolist() == [1.0, 0.7] and scan["n_iter"].tolist() == [400, 1]
    assert (scan["cpu_seconds"] > 0).all() and (scan["phi2"] > 0).all()
    # one step from the flow fitted at lam = 1 is a sampler of lam = 0.7; one step from
    # scratch is not
    assert scan["ess"].iloc[1] > 0.1 > 0.01 > fresh["ess"].iloc[0]
    assert template.max_iter == 1 and not hasattr(template, "module_")  # a clone was fitted


def test_coupling_scan_refuses_bad_input():
    template = FlowSampler(Phi4((4, 4), m2=-4.0, lam=8.0))
    with pytest.raises(ValueError, match="parameter must be one of"):
        coupling_scan(template, "kappa", [1.0])
    with pytest.raises(ValueError, match="theory"):
        coupling_scan(FlowSampler(), "lam", [1.0])
    with pytest.raises(ValueError, match="values"):
        coupling_scan(template, "lam", [])
    with pytest.raises(TypeError, match="observables"):
        coupling_scan(template, "lam", [8.0], observables={"phi2": 1.0})
