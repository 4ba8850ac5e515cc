"""The command line: ``skphys mcmc``, ``sample``, ``rg`` and ``van``."""

from __future__ import annotations

import argparse
import inspect
import os
import re
import shlex
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from skphys._cli import build_parser, main

COMMANDS = ("mcmc", "sample", "rg", "van")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _run(*args: str) -> subprocess.CompletedProcess:
    """``python -m skphys ARGS`` in a subprocess (one intra-op thread)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "skphys", *args], capture_output=True,
                          text=True, env=env, timeout=120)


# -- help ----------------------------------------------------------------------------------------
def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_python_dash_m_entry_point():
    out = _run("--version")
    assert out.returncode == 0 and out.stdout.startswith("skphys ")


_NO_TORCH = """
import sys
from skphys._cli import main
for argv in (["--help"], *[[c, "--help"] for c in {commands!r}]):
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code == 0, argv
heavy = sorted(m for m in ("torch", "numpy", "skphys.lattice", "skphys._flow_sampler")
               if m in sys.modules)
assert not heavy, heavy
"""


def test_help_imports_neither_torch_nor_the_estimators():
    """``skphys --help`` and every subcommand's help: ``import skphys`` is lazy and the CLI
    imports torch, numpy and the library only inside the functions that do the work."""
    out = subprocess.run([sys.executable, "-c", _NO_TORCH.format(commands=COMMANDS)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_every_help_shows_every_default():
    for name, parser in _subparsers().items():
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            default = action.default
            if (not action.option_strings or default is None or default is False
                    or default == argparse.SUPPRESS):
                continue
            assert f"(default: {default})" in text, (name, action.dest)
        assert "--device DEVICE" in text and "(default: auto)" in text, name


def test_training_defaults_are_the_estimators():
    from skphys import AutoregressiveHamiltonian, FlowSampler, RGFlow

    parsers = _subparsers()
    for name, cls in (("sample", FlowSampler), ("rg", RGFlow),
                      ("van", AutoregressiveHamiltonian)):
        defaults = {a.dest: a.default for a in parsers[name]._actions}
        params = inspect.signature(cls).parameters
        max_iter = params["max_iter"].default
        if max_iter is None:  # resolved by the fit: an unfitted estimator has the VAN value
            max_iter = cls()._max_iter
        assert defaults["max_iter"] == max_iter, name
        assert defaults["batch_size"] == params["batch_size"].default, name


def test_each_command_lists_only_its_theories_and_their_parameters():
    parsers = _subparsers()
    helps = {name: " ".join(p.format_help().split()) for name, p in parsers.items()}
    assert all(t in helps["mcmc"] for t in ("phi4 (", "ising (", "xy (", "ising-dual ("))
    for name in ("sample", "rg"):
        assert "ising (" not in helps[name] and "xy (" not in helps[name]
        assert "--m2" in helps[name] and "(for ising-dual)" in helps[name]
    assert "--m2" not in helps["van"] and "--lam" not in helps["van"]
    assert "(for ising, xy)" in helps["van"]


def test_help_examples_parse_and_state_their_time():
    """Every example of every help parses, and says roughly how long it takes."""
    parser = build_parser()
    for name, sub in _subparsers().items():
        lines = [line.strip() for line in sub.epilog.splitlines()
                 if line.strip().startswith("skphys ")]
        assert lines, name
        assert re.search(r"(second|~\d)", sub.epilog), name
        for line in lines:
            parser.parse_args(shlex.split(line.split("#")[0])[1:])


# -- bad arguments: one line on stderr, exit code 2, nothing done --------------------------------
def _expect_error(argv, match, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    captured = capsys.readouterr()
    assert exc.value.code == 2
    err = captured.err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(f"skphys {argv[0]}: error: "), err
    assert match in err, err
    assert "Traceback" not in err
    assert "training" not in captured.out  # nothing started
    return err


ISING = ["--shape", "4", "4", "-T", "2"]


@pytest.mark.parametrize(
    "argv, match",
    [
        (["mcmc", "phi4", "--shape", "8", "8", "--m2", "-4", "-n", "10"], "needs --lam"),
        (["mcmc", "ising", *ISING, "--m2", "1", "-n", "10"], "does not take --m2"),
        (["mcmc", "ising", "--shape", "4", "4", "-T", "-2", "-n", "10"], "-T must be between"),
        (["mcmc", "ising", "--shape", "4", "4", "-T", "nan", "-n", "10"], "-T must be between"),
        (["mcmc", "phi4", "--shape", "2", "2", "--m2", "1e300", "--lam", "1", "-n", "8"],
         "--m2 must be between"),
        (["mcmc", "free", "--shape", "4", "4", "--m2", "-1", "-n", "10"], "m2 must be"),
        (["mcmc", "ising", *ISING, "-n", "1"], "-n must be an int >= 2"),
        (["mcmc", "ising", *ISING, "-n", "10", "-o", "x.txt"], ".npz"),
        (["mcmc", "ising", *ISING, "-n", "10", "--chains", "0"], "--chains must be"),
        (["mcmc", "ising", *ISING, "-n", "10", "--thin", "0"], "--thin must be"),
        (["mcmc", "ising", *ISING, "-n", "10", "--burnin", "-1"], "--burnin must be"),
        (["mcmc", "ising", *ISING, "-n", "10", "--seed", "-1"], "--seed must be"),
        (["mcmc", "ising", *ISING, "-n", "abc"], "invalid int value"),
        (["mcmc", "ising", "--shape", "1", "4", "-T", "2", "-n", "10"], "extent must be >= 2"),
        (["mcmc", "ising", *ISING, "-n", "10", "--sampler", "hmc"], "cannot sample ising"),
        (["mcmc", "ising-dual", *ISING, "-n", "10", "--sampler", "metropolis"],
         "cannot sample ising-dual"),
        (["mcmc", "ising", "--shape", "5", "5", "-T", "2", "-n", "10", "--sampler",
          "metropolis"], "even"),
        (["mcmc", "ising", *ISING, "-n", "10", "--device", "bogus"], "--device must be"),
        (["mcmc", "ising", "--shape", "100000", "100000", "-T", "2", "-n", "100"],
         "--max-memory"),
        (["mcmc", "ising", *ISING, "-n", "1000000000000"], "--max-memory"),
        (["mcmc", "ising", *ISING, "-n", "10", "--max-memory", "0"], "--max-memory must be"),
        (["sample", "ising", *ISING, "-n", "10"], "invalid choice: 'ising'"),
        (["sample", "free", "--shape", "4", "4", "--m2", "1", "-n", "10", "--max-iter", "0"],
         "--max-iter must be"),
        (["sample", "free", "--shape", "4", "4", "--m2", "1", "-n", "10", "--batch-size", "0"],
         "--batch-size must be"),
        (["sample", "free", "--shape", "100000", "100000", "--m2", "1", "-n", "10"],
         "--max-memory"),
        (["rg", "xy", *ISING, "-n", "10"], "invalid choice: 'xy'"),
        (["rg", "free", "--shape", "7", "7", "--m2", "0.5", "-n", "10"], "power of two"),
        (["rg", "free", "--shape", "6", "6", "--m2", "0.5", "-n", "10"], "power of two"),
        (["rg", "free", "--shape", "4", "4", "--m2", "0.5", "-n", "10", "--depth", "0"],
         "--depth"),
        (["van", "phi4", "--shape", "4", "4", "--m2", "-4", "--lam", "8"], "invalid choice"),
        (["van", "ising", *ISING, "-n", "0"], "-n must be an int >= 20"),
        (["van", "ising", "--shape", "2", "2", "-T", "1e-300"], "-T must be between"),
        (["van", "xy", "--shape", "3", "3", "4", "-T", "1"], "--network made"),
        (["van", "ising", *ISING, "-o", "x.npz"], ".pt file"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _expect_error([*argv, "--quiet"], match, capsys)
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("command", COMMANDS)
def test_unavailable_cuda_is_refused_before_any_work(command, capsys):
    theory = ["ising", *ISING] if command in ("mcmc", "van") else [
        "free", "--shape", "4", "4", "--m2", "1"]
    _expect_error([command, *theory, "-n", "100", "--device", "cuda", "--quiet"],
                  "CUDA is not available", capsys)


def _output_cases(tmp_path):
    (tmp_path / "dir.npz").mkdir()
    (tmp_path / "model.pt").mkdir()
    (tmp_path / "file").write_text("")
    return [
        (str(tmp_path / "missing" / "x.npz"), "does not exist"),
        (str(tmp_path / "dir.npz"), "is a directory"),
        (str(tmp_path / "file" / "x.npz"), "is not a directory"),
    ]


@pytest.mark.parametrize("command", ["mcmc", "sample", "rg"])
def test_bad_output_paths_are_refused_before_any_work(command, capsys, tmp_path):
    theory = ["ising", *ISING] if command == "mcmc" else ["free", "--shape", "4", "4",
                                                          "--m2", "1"]
    for path, match in _output_cases(tmp_path):
        _expect_error([command, *theory, "-n", "10", "-o", path, "--quiet"], match, capsys)
    if command != "mcmc":  # the model goes next to the samples: model.pt is a directory
        _expect_error([command, *theory, "-n", "10", "-o", str(tmp_path / "model.npz"),
                       "--quiet"], "is a directory", capsys)


def test_van_bad_output_path_is_refused_before_any_work(capsys, tmp_path):
    _expect_error(["van", "ising", *ISING, "-o", str(tmp_path / "missing" / "v.pt"),
                   "--quiet"], "does not exist", capsys)
    (tmp_path / "model.pt").mkdir()
    _expect_error(["van", "ising", *ISING, "-o", str(tmp_path / "model.pt"), "--quiet"],
                  "is a directory", capsys)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_unwritable_output_directory_is_refused(capsys):
    _expect_error(["mcmc", "ising", *ISING, "-n", "10", "-o", "/proc/x.npz", "--quiet"],
                  "cannot write", capsys)


def test_errors_end_to_end_are_one_line_without_traceback():
    out = _run("mcmc", "ising", *ISING, "-n", "10", "-o", "/nonexistent/dir/x.npz", "--quiet")
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "does not exist" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


# -- runs ------------------------------------------------------------------------------------------
def test_mcmc_ising_prints_exact_values_with_pulls_and_saves(tmp_path, capsys):
    from skphys.lattice.exact import ising_energy, ising_magnetization_sq

    path = tmp_path / "ising.npz"
    rc = main(["mcmc", "ising", "--shape", "4", "4", "--temperature", "2.5", "-n", "4000",
               "--chains", "8", "--burnin", "100", "--quiet", "--device", "cpu",
               "-o", str(path)])
    assert rc == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["observable"][-2:] == ["exact", "pull"]
    for name, exact in (("energy_per_site", ising_energy(4, 2.5)),
                        ("m2", ising_magnetization_sq(4, 2.5))):
        mean, err, shown, pull = (float(rows[name][i]) for i in (1, 3, 5, 6))
        assert abs(mean - exact) < 4 * err
        assert shown == pytest.approx(exact, rel=1e-5)
        assert pull == pytest.approx((mean - exact) / err, abs=0.06)
    with np.load(path) as data:
        assert data["X"].shape == (4000, 16)
        assert str(data["sampler"]) == "wolff"
        assert data["obs_energy_per_site"].shape == (8, 500)
    assert os.listdir(tmp_path) == ["ising.npz"]


def test_pull_is_not_formed_without_an_error_bar():
    from skphys._cli._common import format_pull

    assert format_pull(1.0, 0.5, 0.25) == "+2.0" and format_pull(0.0, 0.5, 0.25) == "-2.0"
    for error in (0.0, float("nan"), float("inf")):
        assert format_pull(1.0, 0.5, error) == "n/a (no error bar)"


def test_mcmc_phi4_hmc(capsys):
    rc = main(["mcmc", "phi4", "--shape", "4", "4", "--m2", "-4", "--lam", "8", "-n", "64",
               "--chains", "4", "--burnin", "50", "--quiet", "--device", "cpu"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "chi2" in out and "acceptance" in out and "step size" in out and "exact" not in out


def test_stuck_chain_is_flagged(capsys):
    """An HMC chain that never moved (no burn-in to tune the step size at m2 = 1e4) still
    prints its table, and a one-line warning that its errors are not reliable."""
    rc = main(["mcmc", "phi4", "--shape", "2", "2", "--m2", "1e4", "--lam", "1", "-n", "8",
               "--burnin", "0", "--quiet", "--device", "cpu"])
    assert rc == 0
    captured = capsys.readouterr()
    assert "acceptance 0.000" in captured.out
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: the errors above are not reliable")
    assert "moved in 0.0% of its steps" in lines[0]


def test_undertrained_flow_chain_is_flagged(capsys):
    rc = main(["sample", "free", "--shape", "3", "5", "--m2", "1", "-n", "100", "--max-iter",
               "2", "--quiet", "--device", "cpu"])
    assert rc == 0
    captured = capsys.readouterr()
    assert "Pareto k of the importance weights" in captured.out
    assert "reverse KL(q||p)" in captured.out and "nats" in captured.out
    err = captured.err
    assert "warning: the errors above are not reliable" in err and "train longer" in err
    assert all(line.startswith("warning: ") for line in err.splitlines())


def test_short_chain_warns_in_one_line_without_raw_python_warnings(capsys):
    rc = main(["mcmc", "phi4", "--shape", "4", "4", "--m2", "1", "--lam", "1", "-n", "100",
               "--quiet", "--device", "cpu"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "tau_int window did not close" in err
    assert "RuntimeWarning" not in err and "warnings.warn" not in err
    assert all(line.startswith("warning: ") for line in err.splitlines())


def test_python_warnings_become_one_line_messages(capsys, monkeypatch):
    from skphys._cli import mcmc

    def run(args):
        for _ in range(2):  # printed once
            warnings.warn("first line\n  second line", RuntimeWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(mcmc, "run", run)
    assert main(["mcmc", "ising", *ISING, "-n", "10"]) == 0
    assert capsys.readouterr().err == "warning: first line second line\n"


def test_sample_trains_saves_samples_and_loadable_model(tmp_path, capsys):
    import skphys

    path = tmp_path / "free.npz"
    rc = main(["sample", "free", "--shape", "4", "4", "--m2", "1.0", "-n", "500",
               "--max-iter", "30", "--batch-size", "64", "--quiet", "--device", "cpu",
               "-o", str(path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "ESS/N" in out and "Pareto k" in out and "Metropolis-Hastings acceptance" in out
    assert "chi2" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["free.npz", "free.pt"]
    model = skphys.load(tmp_path / "free.pt")
    with np.load(path) as data:
        X = data["X"]
    assert X.shape == (500, 16)
    assert np.all(np.isfinite(model.score_samples(X)))


def test_van_free_energy_brackets_the_exact_value(tmp_path, capsys):
    import skphys
    from skphys.lattice.exact import ising_log_z

    path = tmp_path / "van.pt"
    rc = main(["van", "ising", "--shape", "4", "4", "-T", "2.5", "--max-iter", "100",
               "-n", "4000", "--quiet", "--device", "cpu", "-o", str(path)])
    assert rc == 0
    out = capsys.readouterr().out
    exact = -2.5 * ising_log_z(4, 2.5) / 16
    f_q = float(re.search(r"variational F_q/N = (\S+)", out).group(1))
    f_nis, err = map(float, re.search(r"importance-sampled F/N = (\S+) \+- (\S+)", out).groups())
    assert "upper bound on F/N" in out
    assert f_q > exact  # the variational bound
    assert abs(f_nis - exact) < 4 * err + 1e-3
    assert f"{exact:.6f}" in out
    assert skphys.load(path).sample(2).shape == (2, 16)


@pytest.mark.parametrize("extra, fourier_layer", [([], True), (["--no-fourier-layer"], False)])
def test_rg_saves_bulk_code_with_levels_and_loadable_model(tmp_path, capsys, extra,
                                                           fourier_layer):
    import skphys

    path = tmp_path / "rg.npz"
    rc = main(["rg", "free", "--shape", "4", "4", "--m2", "0.5", "-n", "200", "--max-iter",
               "20", "--quiet", "--device", "cpu", "-o", str(path), *extra])
    assert rc == 0
    out = capsys.readouterr().out
    assert "exact ln Z = 3.891139" in out and "RG level" in out
    with np.load(path) as data:
        X, Z, levels = data["X"], data["Z"], data["levels"]
    assert X.shape == Z.shape == (200, 16)
    assert np.bincount(levels).tolist() == [12, 4]
    loaded = skphys.load(tmp_path / "rg.pt")
    assert loaded.flow.fourier_layer == fourier_layer
    np.testing.assert_allclose(loaded.inverse_transform(Z), X, atol=1e-4)


def test_flow_options_build_the_architecture_objects(tmp_path, capsys):
    """``--flow`` picks FlowSampler's architecture class; ``--bijector``, ``--depth`` and
    ``--fourier-layer`` make RGFlow's MERAFlow."""
    import skphys
    from skphys import ContinuousFlow, MERAFlow, ODEBlock

    common = ["free", "--shape", "4", "4", "--m2", "1.0", "-n", "20", "--max-iter", "2",
              "--quiet", "--device", "cpu"]
    assert main(["sample", *common, "--flow", "continuous", "-o", str(tmp_path / "s.npz")]) == 0
    assert skphys.load(tmp_path / "s.pt").flow == ContinuousFlow()
    assert main(["rg", *common, "--depth", "2", "1", "-o", str(tmp_path / "r.npz")]) == 0
    assert skphys.load(tmp_path / "r.pt").flow == MERAFlow(depth=(2, 1))
    # ODE blocks on 2 x 2 (one level): their Z2 mixture costs inverse passes of the ODE
    ode = [*common[:1], "--shape", "2", "2", *common[4:]]
    assert main(["rg", *ode, "--bijector", "ode", "--depth", "2", "--no-fourier-layer",
                 "-o", str(tmp_path / "o.npz")]) == 0
    assert skphys.load(tmp_path / "o.pt").flow == MERAFlow(depth=2, block=ODEBlock(),
                                                            fourier_layer=False)
    capsys.readouterr()


# -- skphys.load(path, device=...) ----------------------------------------------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_load_records_the_device_actually_used(tmp_path):
    from sklearn.base import clone

    import skphys
    from skphys import CouplingFlow, FlowSampler
    from skphys.lattice import FreeScalar

    flow = FlowSampler(FreeScalar((4, 4), m2=1.0), flow=CouplingFlow(n_layers=2),
                       max_iter=2, monitor_every=0, device="cpu", random_state=0).fit()
    path = tmp_path / "flow.pt"
    flow.save(path)
    with pytest.warns(RuntimeWarning, match="not available"):
        loaded = skphys.load(path, device="cuda")
    assert loaded.device == "cpu" and loaded.device_ == "cpu"
    loaded.fit()
    clone(loaded).fit()
    # a file whose device parameter names CUDA (saved on a GPU machine)
    flow.set_params(device="cuda")
    flow.save(path)
    loaded = skphys.load(path)
    assert loaded.device == "cpu"
    clone(loaded).fit()
    assert skphys.load(path, device="cpu").device == "cpu"
