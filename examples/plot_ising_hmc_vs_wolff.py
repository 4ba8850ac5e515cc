"""
HMC on the Ising dual versus Wolff clusters
===========================================

Hybrid Monte Carlo needs a differentiable action, so it cannot sample the Ising model's
discrete spins directly. It can sample the model's continuous Hubbard–Stratonovich dual,
:class:`~skphys.lattice.IsingDual` (the density used by NeuralRG, see
:ref:`conventions-ising-dual`), and read the Ising observables off the dual field with the
improved estimators :meth:`~skphys.lattice.IsingDual.ising_energy` and
:meth:`~skphys.lattice.IsingDual.ising_magnetization_sq`.

This example runs HMC on the dual and Wolff's cluster algorithm on the spins of an
:math:`8 \\times 8` torus at temperatures across :math:`T_c`, checks the energy per site of
both against Kaufman's exact finite-lattice result (:func:`~skphys.lattice.exact.ising_energy`)
with autocorrelation-corrected errors (:func:`~skphys.lattice.stats.mean_error`), and compares
the integrated autocorrelation times of the two samplers: the critical slowing down of HMC
against the cluster algorithm that was designed to avoid it.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from skphys.lattice import Ising, IsingDual
from skphys.lattice.exact import T_C, ising_energy
from skphys.lattice.mcmc import hmc, wolff
from skphys.lattice.observables import energy_per_site
from skphys.lattice.stats import mean_error, tau_int

L = 8
N_SITES = L * L
temperatures = np.array([1.8, 2.0, 2.2, T_C, 2.4, 2.6, 3.0])
generator = torch.Generator().manual_seed(2024)  # the only source of randomness
run = dict(n_chains=32, generator=generator)

# %%
# Sampling
# --------
#
# Both samplers advance 32 independent chains as one batch. HMC tunes its leapfrog step
# during burn-in for an acceptance of about 0.8; a trajectory of length 2 decorrelates the
# dual field faster than the default length 1 at this lattice size. A Wolff update flips one
# cluster and is never rejected. Each observable is a series of shape
# ``(n_chains, n_samples)``, the layout :func:`~skphys.lattice.stats.mean_error` and
# :func:`~skphys.lattice.stats.tau_int` take for several chains.


def as_chains(values, result):
    """One value per configuration, as ``(n_chains, n_samples)`` series."""
    return values.reshape(result.n_chains, result.n_samples).numpy()


measurements = {"HMC on IsingDual": [], "Wolff on Ising": []}
for T in temperatures:
    dual = IsingDual((L, L), temperature=T)
    res = hmc(dual, 1000, n_burnin=500, trajectory_length=2.0, **run)
    x = res.flat()
    measurements["HMC on IsingDual"].append(
        dict(
            energy=as_chains(dual.ising_energy(x) / N_SITES, res),
            m2=as_chains(dual.ising_magnetization_sq(x), res),
            result=res,
            # one trajectory costs n_leapfrog gradient evaluations, each touching every site
            sweeps_per_update=res.info["n_leapfrog"],
        )
    )

    ising = Ising((L, L), temperature=T)
    res = wolff(ising, 1000, n_burnin=200, **run)
    x = res.flat()
    measurements["Wolff on Ising"].append(
        dict(
            energy=as_chains(energy_per_site(ising, x), res),
            m2=as_chains(x.mean(1) ** 2, res),
            result=res,
            # a cluster update flips on average n_evaluations / n_samples sites
            sweeps_per_update=res.n_evaluations / res.n_samples / N_SITES,
        )
    )

# %%
# Energy and autocorrelation with the Gamma method
# ------------------------------------------------
#
# :func:`~skphys.lattice.stats.mean_error` estimates the integrated autocorrelation time
# :math:`\tau_\text{int}` of each series with Wolff's automatic window and returns the error
# of the mean, :math:`\sigma^2 = 2\tau_\text{int}\operatorname{Var}/N`. The comparison with the
# exact energy is made in units of that error (the "pull"), which should scatter as a standard
# normal variable.
#
# Since the samplers' updates differ in cost, the table also gives the cost of one
# effective (independent) sample in *sweeps*: :math:`2\tau_\text{int}` times the cost of an
# update, counting an HMC force evaluation and :math:`N` Wolff spin flips as one sweep each,
# and the wall time per effective sample.

summary = {}
for name, rows in measurements.items():
    table = {key: [] for key in ("mean", "error", "tau", "tau_err", "pull")}
    print(name)
    print("   T     e (MC)             e (exact)   pull   <m^2>    tau_int   sweeps/eff  ms/eff")
    for T, row in zip(temperatures, rows):
        mean, error, tau = mean_error(row["energy"])
        tau_result = tau_int(row["energy"])
        exact = ising_energy(L, T)
        pull = (mean - exact) / error
        res = row["result"]
        n_effective = res.n_chains * res.n_samples / (2 * tau)
        sweeps = 2 * tau * row["sweeps_per_update"]
        ms = 1e3 * res.wall_time / n_effective
        print(
            f"{T:5.3f}  {mean:8.4f} +- {error:.4f}  {exact:8.4f}  {pull:+5.1f}  "
            f"{row['m2'].mean():.4f}  {tau:5.1f}+-{tau_result.tau_err:4.1f}  "
            f"{sweeps:8.1f}  {ms:6.2f}"
        )
        for key, value in zip(table, (mean, error, tau, tau_result.tau_err, pull)):
            table[key].append(value)
    summary[name] = {key: np.array(value) for key, value in table.items()}
    print()

# %%
# The pulls scatter around zero with unit width: both samplers reproduce the exact energy
# (among fourteen pulls, one beyond :math:`\pm 2` is expected now and then), and their
# :math:`\langle m^2 \rangle` agree. Their autocorrelation times behave very differently.

T_fine = np.linspace(1.5, 3.3, 200)
styles = {
    "HMC on IsingDual": dict(marker="o", color="C0"),
    "Wolff on Ising": dict(marker="s", color="C1"),
}
offsets = {"HMC on IsingDual": -0.012, "Wolff on Ising": 0.012}  # keep error bars apart

fig, (ax_e, ax_pull, ax_tau) = plt.subplots(
    3, 1, figsize=(6.4, 8.4), sharex=True, gridspec_kw=dict(height_ratios=[3, 1.4, 2.4])
)
ax_e.plot(T_fine, ising_energy(L, T_fine), color="k", lw=1, label=f"exact (Kaufman), L={L}")
for name, s in summary.items():
    T = temperatures + offsets[name]
    ax_e.errorbar(T, s["mean"], s["error"], ls="none", ms=4, capsize=2, label=name, **styles[name])
    ax_pull.errorbar(T, s["pull"], 1.0, ls="none", ms=4, capsize=2, **styles[name])
    ax_tau.errorbar(T, s["tau"], s["tau_err"], ms=4, capsize=2, label=name, **styles[name])
for ax in (ax_e, ax_pull, ax_tau):
    ax.axvline(T_C, color="0.6", ls=":", lw=1)
ax_e.set_ylabel("energy per site $e$")
ax_e.legend(loc="upper left")
ax_pull.axhline(0, color="k", lw=1)
ax_pull.axhspan(-2, 2, color="0.9")
ax_pull.set_ylabel(r"$(e - e_\mathrm{exact})/\sigma$")
ax_tau.set_yscale("log")
ax_tau.set_ylabel(r"$\tau_\mathrm{int}$ of $e$ (updates)")
ax_tau.set_xlabel("temperature $T$  (dotted: $T_c$)")
ax_tau.legend(loc="upper right")
fig.tight_layout()
plt.show()

# %%
# Reading the figure
# ------------------
#
# * HMC's :math:`\tau_\text{int}`, in trajectories, peaks around :math:`T_c`, where the
#   correlation length reaches the size of the lattice: the dual field must move collectively
#   to change the spin correlations, which local molecular dynamics does slowly. This is
#   critical slowing down; at fixed :math:`\xi/L` it grows roughly as :math:`L^z` with
#   :math:`z \approx 2` (see :ref:`conventions-diagnostics`).
# * Wolff's :math:`\tau_\text{int}`, in cluster updates, is small at and below :math:`T_c`,
#   where clusters span the lattice. It grows at high temperature only because clusters become
#   small: per *sweep* (the table's cost column) the cluster algorithm stays cheap.
# * Samplers must be compared by cost per effective sample, not per update; the table gives it
#   in sweeps and in wall time. The learned samplers of skphys (see :doc:`/estimators`) are
#   judged the same way, with their training cost stated separately.
