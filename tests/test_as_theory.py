"""``as_theory()``: the learned action of a fitted density estimator as a lattice theory."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone

import skphys
from skphys import MADE, AutoregressiveHamiltonian, FlowSampler, LearnedAction, RGFlow
from skphys.datasets import make_ising
from skphys.lattice import FreeScalar, Ising
from skphys.lattice.mcmc import hmc, metropolis, wolff
from skphys.lattice.stats import mean_error

F64 = torch.float64


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():  # the short fits do not converge, on purpose
        warnings.simplefilter("ignore")
        yield


def _free_field(n, seed):
    """Exact draws of the free field FreeScalar((2, 2), m2=0.5), a Gaussian."""
    theory = FreeScalar((2, 2), m2=0.5)
    precision = torch.autograd.functional.hessian(lambda v: theory.action(v[None])[0],
                                                  torch.zeros(4, dtype=F64)).numpy()
    rng = np.random.default_rng(seed)
    return rng.multivariate_normal(np.zeros(4), np.linalg.inv(precision), size=n)


@pytest.fixture(scope="module")
def real_model():
    X = _free_field(500, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoregressiveHamiltonian(lattice_shape=(2, 2), dof="real", network=MADE(),
                                         max_iter=60, random_state=0).fit(X)


@pytest.fixture(scope="module")
def spin_model():
    X, _ = make_ising((2, 2), 2.5, 500, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoregressiveHamiltonian(Ising((2, 2), temperature=2.5),
                                         network=MADE(z2_mixture=True), max_iter=60,
                                         random_state=0).fit(X)


def _parameter_grads(estimator):
    """The gradients held by the estimator's parameters, as comparable values."""
    return [None if p.grad is None else p.grad.tolist() for p in estimator.module_.parameters()]


def _all_spins(n_sites):
    return torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n_sites)), dtype=F64)


def test_the_action_is_minus_the_log_density(real_model):
    theory = real_model.as_theory()
    assert isinstance(theory, LearnedAction) and theory.estimator is real_model
    assert (theory.field_type, theory.shape, theory.temperature) == ("real", (2, 2), 1.0)
    assert theory.symmetries == () and not theory.has_sign_symmetry
    X = _free_field(8, 1)
    x = torch.as_tensor(X)
    action = theory.action(x)
    assert action.dtype == F64 and not action.requires_grad  # samplers keep no graph
    np.testing.assert_allclose(action.numpy(), -real_model.score_samples(X), atol=1e-5)
    torch.testing.assert_close(theory.energy(x), action)
    # the force by autograd, against central differences of the action
    grad, eps = theory.grad_action(x), 1e-3
    for site in range(4):
        step = torch.zeros_like(x)
        step[:, site] = eps
        numeric = (theory.action(x + step) - theory.action(x - step)) / (2 * eps)
        torch.testing.assert_close(grad[:, site], numeric, atol=2e-3, rtol=1e-3)
    # differentiable where the input asks for it (a flow trained against the action), and
    # never into the model's own parameters
    before = _parameter_grads(real_model)
    xg = x.clone().requires_grad_(True)
    theory.action(xg).sum().backward()
    torch.testing.assert_close(xg.grad, grad, atol=1e-6, rtol=1e-5)
    assert _parameter_grads(real_model) == before
    # the local action: the whole action on every site
    assert torch.equal(theory.local_action(x), action[:, None].expand(-1, 4))


def test_spin_model_theory_and_exact_log_z(spin_model):
    theory = spin_model.as_theory()
    assert (theory.field_type, theory.temperature) == ("spin", 2.5)
    assert theory.has_sign_symmetry  # the flip-symmetrized mixture of VAN training
    with torch.no_grad():  # Z = sum_s exp(-S(s)) = sum_s q(s) = 1
        log_z = torch.logsumexp(-theory.action(_all_spins(4)), 0)
    assert abs(log_z.item()) < 1e-6
    assert spin_model.as_theory(temperature=1.0).temperature == 1.0
    with pytest.raises(ValueError, match="temperature"):
        spin_model.as_theory(temperature=-1.0)


def test_hmc_samples_the_learned_action(real_model):
    theory = real_model.as_theory()
    result = hmc(theory, 300, n_chains=8, n_burnin=100,
                 generator=torch.Generator().manual_seed(0))
    assert 0.5 < result.acceptance <= 1.0
    draws = torch.as_tensor(real_model.sample(20_000))
    for f in (lambda v: v.mean(1), lambda v: v[..., 0] * v[..., 3],
              lambda v: v.square().mean(-1)):
        chain = mean_error(f(result.samples).numpy())
        exact = f(draws).mean().item()
        error = math.hypot(chain.error, f(draws).std().item() / math.sqrt(len(draws)))
        assert abs(chain.mean - exact) < 4 * error


def test_metropolis_samples_the_learned_spin_action(spin_model):
    # one site at a time: the chain's state frequencies follow q(s), known by enumeration
    theory = spin_model.as_theory()
    assert len(theory.update_sets()) == 4
    result = metropolis(theory, 500, n_chains=16, n_burnin=50,
                        generator=torch.Generator().manual_seed(0))
    states = _all_spins(4)
    with torch.no_grad():
        probs = torch.exp(-theory.action(states))
    index = ((result.samples > 0).long() * (2 ** torch.arange(3, -1, -1))).sum(-1)
    pulls = []
    for k in range(16):
        frequency = mean_error((index == k).to(F64).numpy())
        pulls.append((frequency.mean - probs[k].item()) / max(frequency.error, 1e-3))
    assert max(map(abs, pulls)) < 4.5
    # a real field, too
    real = metropolis(spin_model.as_theory(), 2, n_chains=2, n_burnin=1)
    assert real.samples.shape == (2, 2, 4)


def test_wolff_does_not_apply(spin_model):
    with pytest.raises(ValueError):
        wolff(spin_model.as_theory(), 2)


def test_flow_sampler_and_van_train_on_a_learned_action(real_model, spin_model):
    theory = real_model.as_theory()
    before = _parameter_grads(real_model)
    fs = FlowSampler(theory, max_iter=30, batch_size=32, random_state=0).fit()
    assert np.isfinite(fs.history_["loss"]).all()
    assert _parameter_grads(real_model) == before
    van = AutoregressiveHamiltonian(theory, network=MADE(), max_iter=30, random_state=0).fit()
    assert van.dof_ == "real" and np.isfinite(van.history_["loss"]).all()
    # VAN on a learned spin action: F = -T ln Z = 0 exactly
    spins = AutoregressiveHamiltonian(spin_model.as_theory(), network=MADE(), max_iter=100,
                                      random_state=0).fit()
    f = spins.free_energy(2000)
    assert abs(f["free_energy_nis"]) < 4 * f["free_energy_nis_err"] + 1e-3
    assert f["free_energy"] >= f["free_energy_nis"] - 4 * f["free_energy_nis_err"]
    with pytest.raises(TypeError, match="real or complex fields"):
        FlowSampler(spin_model.as_theory()).fit()


def test_flow_and_rg_flow_as_theory():
    fs = FlowSampler(FreeScalar((4, 4), m2=1.0), max_iter=5, random_state=0).fit()
    rg = RGFlow(FreeScalar((4, 4), m2=1.0), max_iter=5, random_state=0).fit()
    X = fs.sample(4)
    for estimator in (fs, rg):
        theory = estimator.as_theory()
        assert theory.field_type == "real" and theory.temperature == 1.0
        np.testing.assert_allclose(theory.action(torch.as_tensor(X)).numpy(),
                                   -estimator.score_samples(X), rtol=1e-5, atol=1e-5)


def test_saved_and_loaded_with_its_estimator(real_model, tmp_path):
    fs = FlowSampler(real_model.as_theory(), max_iter=3, batch_size=16, random_state=0).fit()
    fs.save(tmp_path / "flow.skp")
    loaded = skphys.load(tmp_path / "flow.skp")
    assert isinstance(loaded.theory, LearnedAction)
    assert loaded.theory.estimator is not real_model
    x = torch.as_tensor(_free_field(4, 2))
    torch.testing.assert_close(loaded.theory.action(x), real_model.as_theory().action(x))
    np.testing.assert_allclose(loaded.score_samples(x.numpy()), fs.score_samples(x.numpy()))
    real_model.save(tmp_path / "ah.skp")
    ah = skphys.load(tmp_path / "ah.skp")
    torch.testing.assert_close(ah.as_theory().action(x), real_model.as_theory().action(x))
    # and an estimator holding one clones (its theory, with the wrapped estimator, is copied)
    copy = clone(fs)
    assert copy.theory == copy.theory and copy.theory.estimator is not real_model
    torch.testing.assert_close(copy.theory.action(x), real_model.as_theory().action(x))


def test_as_theory_needs_a_fitted_estimator():
    with pytest.raises(Exception, match="fit"):
        AutoregressiveHamiltonian().as_theory()
    with pytest.raises(TypeError, match="fitted density estimator"):
        LearnedAction(Ising((2, 2), temperature=1.0))
