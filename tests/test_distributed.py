"""Scaling out: data-parallel fits under torchrun (DDP, gloo) and sweeps on dask.

The torchrun test launches ``python -m torch.distributed.run --standalone --nproc_per_node=2``
once on a worker script (written to a temporary folder) that fits a small FlowSampler and a
small AutoregressiveHamiltonian, then forces a non-finite loss on rank 1 only; each rank writes
what it got to a JSON file. The dask tests run on a 2-worker ``LocalCluster`` in this process
(``processes=False``: the workers start in a fraction of a second and need no fresh import of
torch; the tasks still go through the scheduler, and pickling is checked on its own).
"""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import skphys
from skphys import _distributed

# The models of the torchrun test, fitted by the workers and, for the comparison, in this
# process: one global batch (32 flow samples, 64 VAN samples) split 16 + 16 and 32 + 32.
MODELS = textwrap.dedent("""
    from skphys import MADE, Adam, AutoregressiveHamiltonian, CouplingFlow, FlowSampler
    from skphys.lattice import FreeScalar, Ising

    FLOW_THEORY = FreeScalar((4, 4), m2=1.0)

    def flow(cls=FlowSampler):
        return cls(FLOW_THEORY, flow=CouplingFlow(n_layers=2, hidden_channels=4), max_iter=40,
                   batch_size=32, optimizer=Adam(1e-2), monitor_every=10, device="cpu",
                   random_state=0)

    def van():
        return AutoregressiveHamiltonian(Ising((3, 3), temperature=3.0), max_iter=40,
                                         batch_size=64, network=MADE(hidden_channels=8),
                                         device="cpu", random_state=0)
""")

WORKER = MODELS + textwrap.dedent("""
    import json, sys, time, warnings
    import torch
    import torch.distributed as dist
    from skphys import NonFiniteLossError

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # the tiny fits have not converged

    def params(est):
        return torch.cat([p.detach().flatten() for p in est.module_.parameters()]).tolist()

    class Broken(FlowSampler):
        # a loss that becomes NaN at step 3 on rank 1 only
        def _loss_fn(self, data):
            loss_fn = super()._loss_fn(data)

            def broken(step):
                loss, metrics = loss_fn(step)
                if step == 3 and dist.get_rank() == 1:
                    loss = loss * float("nan")
                return loss, metrics

            return broken

    fs = flow().fit()
    ah = van().fit()
    result = {"world_size": dist.get_world_size(),
              "flow_params": params(fs), "flow_loss": fs.history_["loss"].tolist(),
              "flow_ess": fs.history_["ess"].dropna().tolist(), "flow_ess_final": fs.ess_,
              "flow_sample": fs.sample(6).tolist(),
              "van_params": params(ah), "van_loss": ah.history_["loss"].tolist(),
              "van_free_energy": ah.history_["free_energy"].tolist()}
    start = time.perf_counter()
    try:
        flow(Broken).fit()
    except NonFiniteLossError as error:
        result["error"] = {"type": type(error).__name__, "message": str(error),
                           "step": error.step, "restored_step": error.restored_step,
                           "seconds": time.perf_counter() - start}
        with open(f"{sys.argv[1]}/rank{dist.get_rank()}.json", "w") as f:
            json.dump(result, f)
        dist.barrier()  # both files are written before torchrun sees a rank fail
        raise
""")


@pytest.fixture(scope="module")
def torchrun(tmp_path_factory):
    """Run the worker on 2 processes; the outcome and the two ranks' results."""
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("torch.distributed with gloo is not available")
    folder = tmp_path_factory.mktemp("torchrun")
    script = folder / "worker.py"
    script.write_text(WORKER)
    root = str(Path(skphys.__file__).resolve().parent.parent)
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    for name in _distributed.TORCHRUN_ENV:  # this process may itself run under torchrun
        env.pop(name, None)
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(script), str(folder)],
        capture_output=True, text=True, timeout=240, env=env)
    ranks = []
    for r in range(2):
        path = folder / f"rank{r}.json"
        assert path.exists(), f"rank {r} wrote nothing:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        ranks.append(json.loads(path.read_text()))
    return run, ranks


@pytest.fixture(scope="module")
def single_process():
    """The same fits in this process, with the same global batch."""
    namespace: dict = {}
    exec(MODELS, namespace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return namespace["flow"]().fit(), namespace["van"]().fit()


def test_ranks_end_identical(torchrun):
    _, (r0, r1) = torchrun
    assert r0["world_size"] == r1["world_size"] == 2
    for key in ("flow_params", "van_params", "flow_loss", "flow_ess", "van_loss",
                "van_free_energy", "flow_sample"):
        assert r0[key] == r1[key], key  # bit for bit: DDP and one all-reduce per step
    assert r0["flow_ess_final"] == r1["flow_ess_final"]
    # ESS on the union of the monitor samples, at steps 1, 10, 20, 30, 40
    assert len(r0["flow_ess"]) == 5 and all(0 < e <= 1 for e in r0["flow_ess"])
    # sample() gathers 3 rows of each rank's own stream: the halves are different draws
    rows = np.asarray(r0["flow_sample"])
    assert rows.shape == (6, 16) and not np.allclose(rows[:3], rows[3:])


def _tail_stats(loss):
    tail = np.asarray(loss[len(loss) // 2:], dtype=np.float64)
    return tail.mean(), tail.std(ddof=1) / math.sqrt(len(tail))


@pytest.mark.parametrize("name", ["flow", "van"])
def test_loss_curve_matches_single_process(torchrun, single_process, name):
    """Both runs start from the same parameters and average the loss over the same global
    batch size, but the 2-process batch is the union of two per-rank streams, not the
    single-process batch: the curves agree in distribution, not step by step. The criterion:
    the mean loss over the second half of the steps agrees within 5 combined standard errors
    (each from the scatter of those steps, trend included, so conservative)."""
    _, (r0, _) = torchrun
    fitted = single_process[0 if name == "flow" else 1]
    local = fitted.history_["loss"].tolist()
    parallel = r0[f"{name}_loss"]
    assert len(parallel) == len(local) == 40
    m_par, se_par = _tail_stats(parallel)
    m_loc, se_loc = _tail_stats(local)
    assert abs(m_par - m_loc) < 5 * math.hypot(se_par, se_loc)
    assert parallel[0] != local[0]  # different samples, as stated
    if name == "flow":  # reverse KL: E_q[log q + S] = KL(q || p) - log Z >= -log Z
        from skphys.lattice.exact import free_scalar_log_z
        bound = -free_scalar_log_z((4, 4), 1.0)
        assert m_par > bound - 5 * se_par and m_loc > bound - 5 * se_loc


def test_non_finite_loss_on_one_rank_stops_all(torchrun):
    run, ranks = torchrun
    errors = [r["error"] for r in ranks]
    assert errors[0] == {**errors[1], "seconds": errors[0]["seconds"]}  # the same error
    assert errors[0]["type"] == "NonFiniteLossError"
    assert errors[0]["step"] == 3 and errors[0]["restored_step"] < 3
    assert "became nan at step 3" in errors[0]["message"]
    assert all(e["seconds"] < 60 for e in errors)
    # both processes ended with the library's error, and torchrun reports the failure
    assert run.returncode != 0
    assert "NonFiniteLossError" in run.stdout + run.stderr


# -- the helpers outside a process group: the single-process path ---------------------------
def test_helpers_without_process_group():
    assert not _distributed.is_initialized()
    assert (_distributed.rank(), _distributed.world_size()) == (0, 1)
    assert _distributed.rank_seed(12345) == 12345 and _distributed.shard_size(7) == 7
    t = torch.arange(6.0)
    assert _distributed.gather_rows(t, 6) is t
    assert _distributed.all_reduce_mean([1.5, 2.0], torch.device("cpu")) == [1.5, 2.0]

    def loss_fn(step):
        return torch.tensor(1.0), {}

    assert _distributed.data_parallel(torch.nn.Linear(2, 2), loss_fn, 4) == (loss_fn, None)
    _distributed.require_seed(None)  # None is fine in one process
    assert _distributed.backend_for(torch.device("cpu")) == "gloo"
    assert _distributed.rank_device(torch.device("cuda")) == torch.device("cuda")


def test_init_from_env_needs_torchrun(monkeypatch):
    for name in _distributed.TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    assert not _distributed.init_from_env(torch.device("cpu"))
    for name, value in zip(_distributed.TORCHRUN_ENV, ("0", "0", "1", "127.0.0.1", "29500")):
        monkeypatch.setenv(name, value)
    assert not _distributed.init_from_env(torch.device("cpu"))  # a world of one: no group
    assert not _distributed.is_initialized()


# -- sweeps on dask ---------------------------------------------------------------------------
TEMPERATURES = [1.5, 2.0, 2.5, 3.0, 3.5, 4.0]


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def _van_template():
    from skphys import MADE, AutoregressiveHamiltonian
    from skphys.lattice import Ising
    return AutoregressiveHamiltonian(Ising((2, 2), 2.0), network=MADE(hidden_channels=4),
                                     max_iter=20, batch_size=32, device="cpu", random_state=0)


def test_temperature_scan_on_dask(dask_client):
    import joblib
    from distributed import get_task_stream

    from skphys import temperature_scan
    template = _van_template()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = temperature_scan(template, TEMPERATURES, n_samples=200)
        with get_task_stream(dask_client) as tasks, joblib.parallel_config(backend="dask"):
            remote = temperature_scan(template, TEMPERATURES, n_samples=200)
    assert len(dask_client.scheduler_info()["workers"]) == 2
    assert len(tasks.data) >= len(TEMPERATURES)  # one fit per temperature, on the workers
    assert remote["temperature"].tolist() == TEMPERATURES
    # the same seeds give the same fits and estimates, bit for bit, wherever they run
    assert remote.equals(local)


def test_grid_search_on_dask(dask_client):
    import joblib
    from distributed import get_task_stream
    from sklearn.model_selection import GridSearchCV

    from skphys.lattice import Ising
    # 120 exact Boltzmann draws of the 2 x 2 Ising model at T = 2 (its 16 states enumerated)
    states = 1.0 - 2.0 * ((np.arange(16)[:, None] >> np.arange(4)) & 1)
    energy = Ising((2, 2), 2.0).energy(torch.as_tensor(states)).numpy()
    weights = np.exp(-(energy - energy.min()) / 2.0)
    X = states[np.random.default_rng(0).choice(16, 120, p=weights / weights.sum())]
    grid = {"network__hidden_channels": [2, 4], "max_iter": [10, 20]}
    template = _van_template().set_params(theory=None, lattice_shape=(2, 2))
    search = GridSearchCV(template, grid, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = GridSearchCV(template, grid, cv=2).fit(X)
        with get_task_stream(dask_client) as tasks, joblib.parallel_config(backend="dask"):
            remote = search.fit(X)
    assert len(remote.cv_results_["params"]) == 4
    assert tasks.data  # the fits ran on the workers (joblib may batch several per task)
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    assert remote.best_params_ == local.best_params_
    # mean log-likelihoods of a distribution over 16 states: below 0
    assert np.all(remote.cv_results_["mean_test_score"] < 0)


def test_estimators_pickle_without_device_state():
    """What joblib sends to a dask worker: parameters (``device`` a plain string) and, for a
    fitted estimator, CPU tensors only; it loads on any worker and samples the same."""
    template = _van_template()
    assert pickle.loads(pickle.dumps(template)).get_params()["device"] == "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = _van_template().fit()
    state = fitted.__getstate__()
    assert "module_" not in state and "_generator" not in state
    tensors = [v for v in state["_module_state"].values()]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    copy = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(copy.sample(5), pickle.loads(pickle.dumps(fitted)).sample(5))
