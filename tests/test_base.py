"""The estimator base: devices, seeding, the training loop, persistence."""

from __future__ import annotations

import copy
import math
import os
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from _gaussian_estimator import GaussianDensity
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import skphys
from skphys import Adam, NonFiniteLossError
from skphys._training import TrainingSettings, run_lbfgs
from skphys.exceptions import InvalidModelFileError


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    cov = np.array([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]])
    return rng.multivariate_normal([1.0, 0.0, -1.0], cov, size=2000), cov


def _params(est):
    return [p.detach().clone() for p in est.module_.parameters()]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def test_fit_recovers_gaussian(data, device):
    X, cov = data
    est = GaussianDensity(max_iter=400, batch_size=256, random_state=0, device=device,
                          dtype="float64").fit(X)
    scale = est.module_.scale().detach().cpu().numpy()
    np.testing.assert_allclose(scale @ scale.T, cov, atol=0.15)
    np.testing.assert_allclose(est.module_.mean.detach().cpu().numpy(), [1, 0, -1], atol=0.1)
    # the maximum-likelihood fit is close to the exact Gaussian log-likelihood
    exact = -0.5 * np.log(np.linalg.det(2 * np.pi * cov)) - 1.5
    assert abs(est.score(X) - exact) < 0.05


def test_same_seed_bit_identical_and_global_rng_untouched(data):
    X, _ = data
    torch_state = torch.get_rng_state()
    a = GaussianDensity(max_iter=20, random_state=3, device="cpu").fit(X)
    b = GaussianDensity(max_iter=20, random_state=3, device="cpu").fit(X)
    c = GaussianDensity(max_iter=20, random_state=4, device="cpu").fit(X)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert _same(_params(a), _params(b))
    assert not _same(_params(a), _params(c))
    np.testing.assert_array_equal(a.sample(5), b.sample(5))


def test_history_is_dataframe_and_warm_start_continues(data):
    X, _ = data
    est = GaussianDensity(max_iter=7, random_state=0, warm_start=True, device="cpu").fit(X)
    assert isinstance(est.history_, pd.DataFrame)
    assert list(est.history_.columns) == ["step", "loss", "nll", "wall_time"]
    first = _params(est)
    est.fit(X)
    assert est.n_iter_ == 14
    assert est.history_["step"].tolist() == list(range(1, 15))
    assert not _same(first, _params(est))
    # without warm_start a refit starts over
    est.set_params(warm_start=False).fit(X)
    assert est.n_iter_ == 7


def test_tol_stops_early(data):
    X, _ = data
    est = GaussianDensity(max_iter=500, optimizer=Adam(0.05, tol=1e9, n_iter_no_change=3),
                          random_state=0, device="cpu").fit(X)
    assert est.n_iter_ == 4  # one improvement from +inf, then three without


def test_cosine_schedule(data):
    X, _ = data
    est = GaussianDensity(max_iter=10, optimizer=Adam(0.05, lr_schedule="cosine"),
                          random_state=0, device="cpu").fit(X)
    assert est._scheduler.get_last_lr()[0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_warm_start_restarts_the_schedule(data, schedule):
    X, _ = data
    est = GaussianDensity(max_iter=10, optimizer=Adam(0.02, lr_schedule=schedule),
                          warm_start=True, random_state=0, device="cpu").fit(X)
    lr = []
    est._optimizer.register_step_pre_hook(
        lambda optimizer, args, kwargs: lr.append(optimizer.param_groups[0]["lr"]))
    est.set_params(optimizer__learning_rate=0.01).fit(X)
    # the new learning rate, annealed over the new fit (not the old cosine past its end)
    expected = ([0.01 * (1 + math.cos(math.pi * k / 10)) / 2 for k in range(10)]
                if schedule == "cosine" else [0.01] * 10)
    np.testing.assert_allclose(lr, expected, rtol=1e-6, atol=1e-12)
    assert est.n_iter_ == 20
    # Adam's state carried over: its step count (bias correction) runs on from the first fit
    assert est._optimizer.state[next(est.module_.parameters())]["step"] == 20


class _Diverging(GaussianDensity):
    """Loss becomes NaN at step 5."""

    def _loss(self, data):
        inner = super()._loss(data)

        def loss_fn(step):
            loss, metrics = inner(step)
            return (loss * np.nan if step == 5 else loss), metrics

        return loss_fn


class _Interrupted(GaussianDensity):
    """The user presses Ctrl-C during step 6."""

    def _loss(self, data):
        inner = super()._loss(data)

        def loss_fn(step):
            if step == 6:
                raise KeyboardInterrupt
            return inner(step)

        return loss_fn


def test_non_finite_loss_restores_last_finite_parameters(data):
    X, _ = data
    est = _Diverging(max_iter=50, random_state=1, device="cpu")
    with pytest.raises(NonFiniteLossError, match="step 5") as info:
        est.fit(X)
    assert info.value.restored_step == 4
    reference = GaussianDensity(max_iter=3, random_state=1, device="cpu").fit(X)
    # parameters that gave the finite loss of step 4 are those after 3 updates
    assert _same(_params(est), _params(reference))
    assert len(est.history_) == 4
    assert np.all(np.isfinite(est.score_samples(X[:10])))


def test_keyboard_interrupt_leaves_fitted_estimator(data):
    X, _ = data
    est = _Interrupted(max_iter=50, random_state=1, device="cpu")
    with pytest.warns(RuntimeWarning, match="interrupted at step 6"):
        est.fit(X)
    reference = GaussianDensity(max_iter=4, random_state=1, device="cpu").fit(X)
    assert _same(_params(est), _params(reference))
    assert est.n_iter_ == 5
    assert est.sample(3).shape == (3, 3)


def test_verbose_progress_and_table(data, capsys):
    X, _ = data
    GaussianDensity(max_iter=5, verbose=1, random_state=0, device="cpu").fit(X)
    err = capsys.readouterr().err
    assert "GaussianDensity" in err and "nll=" in err
    GaussianDensity(max_iter=40, verbose=2, random_state=0, device="cpu").fit(X)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 21 and out[0].startswith("step=1 ")


@pytest.mark.parametrize(
    "param, value, error, match",
    [
        ("device", "gpu", ValueError, "device must be"),
        ("device", 0, TypeError, "device must be"),
        ("dtype", "float16", ValueError, "dtype must be one of 'float32', 'float64'"),
        ("max_iter", 0, ValueError, "max_iter must be an int >= 1, got 0"),
        ("max_iter", 2.0, TypeError, "max_iter must be an int >= 1"),
        ("warm_start", 1, TypeError, "warm_start must be a bool"),
        ("random_state", "seed", TypeError, "random_state must be"),
        ("optimizer", "adam", TypeError, "optimizer must be a skphys.Adam"),
        ("optimizer", Adam(-1.0), ValueError, "optimizer__learning_rate must be"),
        ("optimizer", Adam(lr_schedule="step"), ValueError, "optimizer__lr_schedule must be"),
        ("optimizer", Adam(clip_grad_norm=0.0), ValueError, "optimizer__clip_grad_norm must"),
        ("optimizer", Adam(n_iter_no_change=1.5), TypeError, "optimizer__n_iter_no_change"),
    ],
)
def test_bad_parameters(data, param, value, error, match):
    X, _ = data
    with pytest.raises(error, match=match):
        GaussianDensity(**{param: value}).fit(X)


def test_nested_set_params_copies_instead_of_mutating_the_default(data):
    X, _ = data
    default = GaussianDensity().optimizer
    est = GaussianDensity(max_iter=2, device="cpu")
    est.set_params(optimizer__learning_rate=0.01, optimizer__lr_schedule="cosine")
    assert est.optimizer == Adam(0.01, n_iter_no_change=10)
    assert GaussianDensity().optimizer == default and default.learning_rate == 0.05
    assert est.get_params()["optimizer__learning_rate"] == 0.01
    with pytest.raises(ValueError, match="invalid parameter 'nope'"):
        est.set_params(optimizer__nope=1)
    with pytest.raises(ValueError, match="Invalid parameter 'nope'"):
        est.set_params(nope__x=1)


def test_grid_search_over_a_nested_parameter(data):
    from sklearn.model_selection import GridSearchCV

    X, _ = data
    search = GridSearchCV(GaussianDensity(max_iter=20, device="cpu", random_state=0),
                          {"optimizer__learning_rate": [1e-4, 0.05]}, cv=2).fit(X[:400])
    assert search.best_params_ == {"optimizer__learning_rate": 0.05}
    assert search.best_estimator_.optimizer.learning_rate == 0.05


def test_parameter_table_must_cover_every_parameter(data):
    class Incomplete(GaussianDensity):
        _parameter_constraints = {k: v for k, v in GaussianDensity._parameter_constraints.items()
                                  if k != "verbose"}

    with pytest.raises(RuntimeError, match="no entry for \\['verbose'\\]"):
        Incomplete(max_iter=1).fit(data[0])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_cuda_requested_without_cuda(data):
    with pytest.raises(ValueError, match="CUDA is not available"):
        GaussianDensity(device="cuda").fit(data[0])


def test_bad_input_and_unfitted(data):
    X, _ = data
    with pytest.raises(NotFittedError):
        GaussianDensity().sample(3)
    bad = X[:20].copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GaussianDensity(max_iter=2).fit(bad)
    est = GaussianDensity(max_iter=2, device="cpu").fit(X)
    with pytest.raises(ValueError, match="features"):
        est.score_samples(X[:, :2])


def test_torch_input_numpy_output(data):
    X, _ = data
    est = GaussianDensity(max_iter=2, device="cpu").fit(torch.as_tensor(X))
    out = est.score_samples(torch.as_tensor(X[:4]))
    assert isinstance(out, np.ndarray) and out.shape == (4,)


def test_pickle_deepcopy_clone(data):
    X, _ = data
    est = GaussianDensity(max_iter=10, random_state=0, device="cpu").fit(X)
    state = est.__getstate__()
    assert "module_" not in state
    assert all(t.device.type == "cpu" for t in state["_module_state"].values())
    for other in (pickle.loads(pickle.dumps(est)), copy.deepcopy(est)):
        np.testing.assert_array_equal(other.score_samples(X[:50]), est.score_samples(X[:50]))
    cloned = clone(est)
    assert cloned.get_params() == est.get_params() and not hasattr(cloned, "module_")


def test_unpickle_cuda_state_without_cuda_falls_back_to_cpu(data):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    X, _ = data
    est = GaussianDensity(max_iter=3, random_state=0, device="cpu").fit(X)
    state = est.__getstate__()
    state["device_"] = "cuda:0"
    restored = GaussianDensity.__new__(GaussianDensity)
    with pytest.warns(RuntimeWarning, match="not available"):
        restored.__setstate__(state)
    assert restored.device_ == "cpu"
    np.testing.assert_array_equal(restored.score_samples(X[:5]), est.score_samples(X[:5]))


def test_save_load_round_trip(data, tmp_path):
    X, _ = data
    est = GaussianDensity(max_iter=10, random_state=0, device="cpu").fit(X)
    path = tmp_path / "model.pt"
    est.save(path)
    loaded = skphys.load(path)
    assert type(loaded) is GaussianDensity and loaded.get_params() == est.get_params()
    np.testing.assert_array_equal(loaded.score_samples(X[:50]), est.score_samples(X[:50]))
    pd.testing.assert_frame_equal(loaded.history_, est.history_)
    assert loaded.n_features_in_ == 3 and loaded.n_iter_ == 10
    assert os.listdir(tmp_path) == ["model.pt"]


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.makedirs, (self.target,))


def test_load_refuses_code_execution(tmp_path):
    target = str(tmp_path / "pwned")
    path = tmp_path / "evil.pt"
    torch.save({"format": "skphys-estimator", "params": _Payload(target)}, path)
    with pytest.raises(InvalidModelFileError, match="refers to os.makedirs"):
        skphys.load(path)
    assert not os.path.exists(target)


def test_failed_save_leaves_nothing_on_disk(data, tmp_path):
    X, _ = data
    est = GaussianDensity(max_iter=2, device="cpu").fit(X)
    est.unsaveable_ = object()
    with pytest.raises(TypeError, match="unsaveable_"):
        est.save(tmp_path / "model.pt")
    assert os.listdir(tmp_path) == []
    with pytest.raises(NotFittedError):
        GaussianDensity().save(tmp_path / "model.pt")
    assert os.listdir(tmp_path) == []


def test_interrupted_write_leaves_previous_file_intact(data, tmp_path, monkeypatch):
    X, _ = data
    est = GaussianDensity(max_iter=2, device="cpu").fit(X)
    path = tmp_path / "model.pt"
    est.save(path)
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        est.save(path)
    assert os.listdir(tmp_path) == ["model.pt"] and path.read_bytes() == before


def test_load_rejects_foreign_files(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not a skphys estimator file"):
        skphys.load(path)
    torch.save({"format": "skphys-estimator", "format_version": 1, "class": "Nope"}, path)
    with pytest.raises(ValueError, match="unknown estimator class"):
        skphys.load(path)


def test_float64_survives_pickle_and_save_exactly(data, tmp_path):
    X, _ = data
    est = GaussianDensity(max_iter=10, random_state=0, device="cpu", dtype="float64").fit(X)
    est.save(tmp_path / "m.pt")
    for other in (pickle.loads(pickle.dumps(est)), skphys.load(tmp_path / "m.pt")):
        assert all(p.dtype == torch.float64 for p in other.module_.parameters())
        np.testing.assert_array_equal(other.score_samples(X[:20]), est.score_samples(X[:20]))


# -- L-BFGS refinement ----------------------------------------------------------------------
def _rosenbrock(x: torch.nn.Parameter, wall: float = float("inf")):
    def loss_fn(step):
        value = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        x0 = float(x.detach()[0])
        if x0 > wall:
            value = value * float("nan")
        return value, {"x0": x0}

    return loss_fn


def test_lbfgs_reaches_the_minimum_to_many_digits():
    x = torch.nn.Parameter(torch.tensor([-1.2, 1.0], dtype=torch.float64))
    outcome = run_lbfgs([x], _rosenbrock(x), TrainingSettings(max_iter=300, learning_rate=1.0),
                        step_offset=7)
    assert outcome.converged and outcome.n_steps < 300
    np.testing.assert_allclose(x.detach().numpy(), [1.0, 1.0], atol=1e-7)
    losses = [r["loss"] for r in outcome.records]
    assert np.all(np.diff(losses) <= 0) and losses[-1] < 1e-14
    assert [r["step"] for r in outcome.records[:2]] == [8, 9]
    assert set(outcome.records[0]) == {"step", "loss", "x0", "wall_time"}


def test_lbfgs_stops_at_a_non_finite_trial_point_keeping_the_last_iterate():
    x = torch.nn.Parameter(torch.tensor([-1.2, 1.0], dtype=torch.float64))
    loss_fn = _rosenbrock(x, wall=0.5)  # NaN beyond x0 = 0.5, on the way to the minimum
    with pytest.warns(RuntimeWarning, match="L-BFGS stopped: the training loss became nan"):
        outcome = run_lbfgs([x], loss_fn, TrainingSettings(max_iter=300, learning_rate=1.0))
    assert not outcome.converged and float(x.detach()[0]) <= 0.5
    # the parameters are those of the last completed iteration: finite, no worse than recorded
    final = float(loss_fn(0)[0].detach())
    assert math.isfinite(final) and final <= outcome.records[-1]["loss"]


class _DivergingSlowly(GaussianDensity):
    """Loss blows up (finite, 1e7 times the true one) at step 4 and is NaN at step 6."""

    usable = True

    def _loss(self, data):
        inner = super()._loss(data)

        def loss_fn(step):
            loss, metrics = inner(step)
            if step == 6:
                return loss * np.nan, metrics
            return (loss * 1e7 if step in (4, 5) else loss), metrics

        return loss_fn

    def _outputs_finite(self):
        return self.usable


def test_non_finite_loss_restores_the_lowest_loss_and_checks_the_outputs(data):
    X, _ = data
    est = _DivergingSlowly(max_iter=50, random_state=1, device="cpu")
    with pytest.raises(NonFiniteLossError, match="step 6") as info:
        est.fit(X)
    # not step 5, whose loss was already huge: the step of the lowest loss
    lowest = int(est.history_["loss"].idxmin()) + 1
    assert lowest <= 3 and info.value.restored_step == lowest
    assert "checked to be finite" in str(info.value)
    reference = GaussianDensity(max_iter=lowest - 1, random_state=1, device="cpu").fit(X) \
        if lowest > 1 else None
    if reference is not None:
        assert _same(_params(est), _params(reference))
    # a restored model whose outputs are not finite falls back to the initial parameters
    broken = _DivergingSlowly(max_iter=50, random_state=1, device="cpu")
    broken.usable = False
    with pytest.raises(NonFiniteLossError) as info:
        broken.fit(X)
    assert info.value.restored_step == 0
    assert "checked to be finite" not in str(info.value)
    initial = GaussianDensity(max_iter=1, random_state=1, device="cpu")
    initial._validate_params()
    initial._validate_fit_data(X, None, reset=True)
    initial._setup(reset=True)
    initial._init_module()
    assert _same(_params(broken), _params(initial))
    # the error survives pickling (joblib workers)
    assert pickle.loads(pickle.dumps(info.value)).restored_step == 0


@pytest.mark.parametrize("param, value, match", [
    ("batch_size", 10**12, "reduce batch_size"),
])
def test_absurd_sizes_are_refused_before_any_allocation(data, param, value, match):
    X, _ = data
    with pytest.raises(ValueError, match=match):
        GaussianDensity(max_iter=2, device="cpu", **{param: value}).fit(X[:50])


def test_values_beyond_the_dtype_range_are_refused(data):
    X, _ = data
    est = GaussianDensity(max_iter=2, device="cpu").fit(X[:100])
    huge = X[:5].copy()
    huge[0, 0] = 1e39  # finite in float64, infinite in float32
    with pytest.raises(ValueError, match=r"X has values beyond the range of dtype='float32'"):
        est.score_samples(huge)
    with pytest.raises(ValueError, match="beyond the range"):
        GaussianDensity(max_iter=2, device="cpu").fit(np.vstack([X[:50], huge]))
    est64 = GaussianDensity(max_iter=2, dtype="float64", device="cpu").fit(X[:100])
    assert np.isfinite(est64.score_samples(huge[1:])).all()
