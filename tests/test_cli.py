"""The command line: ``skphys mcmc``, ``sample``, ``rg`` and ``van``."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from skphys._cli import main


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("mcmc", "sample", "rg", "van"))


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "skphys", "--version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith("skphys ")


def test_mcmc_ising_prints_exact_compatible_energy_and_saves(tmp_path, capsys):
    path = tmp_path / "ising.npz"
    rc = main(["mcmc", "ising", "--shape", "4", "4", "--temperature", "2.5", "-n", "4000",
               "--chains", "8", "--burnin", "100", "--quiet", "-o", str(path)])
    assert rc == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("energy_per_site"))
    mean, err = float(line.split()[1]), float(line.split()[3])
    from skphys.lattice.exact import ising_energy

    assert abs(mean - ising_energy(4, 2.5)) < 4 * err
    with np.load(path) as data:
        assert data["X"].shape == (4000, 16)
        assert str(data["sampler"]) == "wolff"
        assert data["obs_energy_per_site"].shape == (8, 500)
    assert os.listdir(tmp_path) == ["ising.npz"]


def test_mcmc_phi4_hmc(capsys):
    rc = main(["mcmc", "phi4", "--shape", "4", "4", "--m2", "-4", "--lam", "8", "-n", "64",
               "--chains", "4", "--burnin", "50", "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "chi2" in out and "acceptance" in out and "step size" in out


@pytest.mark.parametrize(
    "argv, match",
    [
        (["mcmc", "phi4", "--shape", "8", "8", "--m2", "-4", "-n", "10"], "needs --lam"),
        (["mcmc", "ising", "--shape", "4", "4", "-T", "2", "--m2", "1", "-n", "10"],
         "does not take --m2"),
        (["mcmc", "ising", "--shape", "4", "4", "-T", "-2", "-n", "10"], "temperature"),
        (["mcmc", "ising", "--shape", "4", "4", "-T", "2", "-n", "1"], "-n must be an int >= 2"),
        (["mcmc", "ising", "--shape", "4", "4", "-T", "2", "-n", "10", "-o", "x.txt"], ".npz"),
    ],
)
def test_bad_arguments_exit_2_with_message(argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--quiet"])
    assert exc.value.code == 2
    assert match in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_sample_trains_saves_samples_and_loadable_model(tmp_path, capsys):
    import skphys

    path = tmp_path / "free.npz"
    rc = main(["sample", "free", "--shape", "4", "4", "--m2", "1.0", "-n", "500",
               "--max-iter", "30", "--batch-size", "64", "--quiet", "--device", "cpu",
               "-o", str(path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "ESS/N" in out and "weight tail k" in out and "MH acceptance" in out and "chi2" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["free.npz", "free.pt"]
    model = skphys.load(tmp_path / "free.pt")
    with np.load(path) as data:
        X = data["X"]
    assert X.shape == (500, 16)
    assert np.all(np.isfinite(model.score_samples(X)))


def test_sample_rejects_discrete_theories(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sample", "ising", "--shape", "4", "4", "-T", "2", "-n", "10", "--quiet"])
    assert exc.value.code == 2 and "ising-dual" in capsys.readouterr().err


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
    assert f_q > exact  # the variational bound
    assert abs(f_nis - exact) < 4 * err + 1e-3
    assert f"{exact:.6f}" in out
    assert skphys.load(path).sample(2).shape == (2, 16)


def test_van_rejects_field_theories(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["van", "phi4", "--shape", "4", "4", "--m2", "-4", "--lam", "8", "--quiet"])
    assert exc.value.code == 2 and "spin model" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [[], ["--fourier-layer"]])
def test_rg_saves_bulk_code_with_levels_and_loadable_model(tmp_path, capsys, extra):
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
    assert loaded.flow.fourier_layer == bool(extra)
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
    assert main(["rg", *common, "--bijector", "ode", "--depth", "2", "1",
                 "-o", str(tmp_path / "r.npz")]) == 0
    assert skphys.load(tmp_path / "r.pt").flow == MERAFlow(depth=(2, 1), block=ODEBlock())
    capsys.readouterr()


def test_rg_rejects_lattices_that_are_not_powers_of_two(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["rg", "free", "--shape", "6", "6", "--m2", "0.5", "-n", "10", "--quiet"])
    assert exc.value.code == 2 and "lattice_shape" in capsys.readouterr().err
