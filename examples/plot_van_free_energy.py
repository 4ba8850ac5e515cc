"""
Variational free energy of the Ising model (VAN) vs the exact result
====================================================================

Given only the energy :math:`E(s) = -\\sum_{\\langle ij\\rangle} s_i s_j`,
:class:`~skphys.AutoregressiveHamiltonian` learns the Boltzmann distribution
:math:`p(s) = e^{-E(s)/T}/Z` with a variational autoregressive network (VAN; Wu, Wang and
Zhang, PRL 122, 080602 (2019)): a model :math:`q(s) = \\prod_i q(s_i \\mid s_{<i})` with exact,
normalized probabilities and exact independent samples, trained to minimize the variational
free energy

.. math::

    F_q = E_q[E(s) + T \\ln q(s)] = F + T\\,\\mathrm{KL}(q\\|p) \\;\\ge\\; F = -T \\ln Z .

:math:`F_q` is therefore an upper bound on :math:`F`. Reweighting the model's samples with
:math:`w = e^{-E/T}/q` gives the neural importance sampling (NIS) estimate
:math:`\\hat Z = \\overline{w}`, unbiased for :math:`Z` whatever the model (:math:`q` is
positive on every configuration), and :math:`F_\\text{NIS} = -T\\ln\\hat Z`, biased only by
the logarithm, by about :math:`\\sigma^2/2T` (:math:`\\sigma`: its error). How good :math:`q`
is decides the variance: the effective sample size
:math:`\\text{ESS}/N = \\overline{w}^2 / \\overline{w^2}` is 1 for :math:`q = p`.

We train one model per temperature across :math:`T_c = 2.269` on a :math:`6 \\times 6`
torus (:math:`2^{36}` states) and compare with Kaufman's exact finite-lattice partition
function (:func:`skphys.lattice.exact.ising_log_z`). To run in seconds on one core, this
example uses the cheap masked dense network (``network=MADE()``), few steps, small batches and
a larger learning rate than the defaults: the bound is far from tight, which shows what NIS
corrects. ``benchmarks/autoregressive_van.py`` measures the default settings on
:math:`8 \\times 8` at :math:`\\beta = 0.44` against the exact result; see docs/results.rst for
its figures. The command line does the same for any size and temperature, e.g.
``skphys van ising --shape 8 8 --temperature 2.27``.
"""

import matplotlib.pyplot as plt
import numpy as np

from skphys import MADE, Adam, AutoregressiveHamiltonian
from skphys.lattice import Ising
from skphys.lattice.exact import T_C, ising_log_z

L = 6
n_sites = L * L
temperatures = np.array([1.6, 2.0, T_C, 2.6, 3.2])
exact = -temperatures * ising_log_z(L, temperatures) / n_sites

models, results = {}, []
for T in temperatures:
    ah = AutoregressiveHamiltonian(Ising((L, L), T), network=MADE(), max_iter=400,
                                   batch_size=128, optimizer=Adam(3e-3, clip_grad_norm=1.0),
                                   device="cpu", random_state=0).fit()
    models[T] = ah
    results.append(ah.free_energy(10_000))

# free_energy returns values per site (and n_sites, to multiply by for totals)
f_q = np.array([r["free_energy"] for r in results])
f_q_err = np.array([r["free_energy_err"] for r in results])
f_nis = np.array([r["free_energy_nis"] for r in results])
f_nis_err = np.array([r["free_energy_nis_err"] for r in results])

# %%
# Free energy per site against the exact result
# ---------------------------------------------
#
# :meth:`~skphys.AutoregressiveHamiltonian.free_energy` draws fresh samples (never the training
# batch) and returns :math:`F_q` and :math:`F_\text{NIS}` with their errors, and the ESS.
# On the left the three curves lie on top of each other; the middle panel shows the relative
# error of the variational bound, :math:`(F_q - F)/|F|`, which is positive at every
# temperature; the right panel the deviation of the NIS estimate from the exact value in units
# of its error. That error is estimated from the same samples: if :math:`q` nearly misses
# rare configurations (a high ESS does not exclude it), their large weights are seldom drawn
# and both the error and the ESS look better than they are.

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
T_fine = np.linspace(1.5, 3.3, 200)
axes[0].plot(T_fine, -T_fine * ising_log_z(L, T_fine) / n_sites, color="k", lw=1,
             label="exact (Kaufman)")
axes[0].errorbar(temperatures, f_q, f_q_err, fmt="o", mfc="none", label=r"$F_q/N$ (VAN)")
axes[0].errorbar(temperatures, f_nis, f_nis_err, fmt="x", label=r"$F_\mathrm{NIS}/N$")
axes[0].set(xlabel="T", ylabel="free energy per site")
axes[0].legend()

axes[1].errorbar(temperatures, (f_q - exact) / np.abs(exact), f_q_err / np.abs(exact),
                 fmt="o-")
axes[1].set(xlabel="T", ylabel=r"$(F_q - F)/|F|$", yscale="log")

axes[2].axhspan(-2, 2, color="0.9", label=r"$\pm 2\sigma$")
axes[2].plot(temperatures, (f_nis - exact) / f_nis_err, "x-")
axes[2].axhline(0, color="k", lw=0.5)
axes[2].set(xlabel="T", ylabel=r"$(F_\mathrm{NIS} - F)/\sigma_\mathrm{NIS}$", ylim=(-4, 4))
axes[2].legend()
for ax in axes:
    ax.axvline(T_C, color="gray", ls=":", lw=1)
plt.show()

for T, r, fq, fn, fn_err, ex in zip(temperatures, results, f_q, f_nis, f_nis_err, exact):
    print(f"T = {T:.3f}: F_q/N = {fq:.6f}, F_NIS/N = {fn:.6f} +- {fn_err:.6f}, "
          f"exact F/N = {ex:.6f}; relative error of F_q = {(fq - ex) / abs(ex):.1e}, "
          f"ESS/N = {r['ess']:.3f}")

# %%
# Training curve
# --------------
#
# ``history_`` records, at every step, the batch estimate of :math:`F_q/N` at the current
# inverse temperature :math:`\beta_t = \beta(1 - a^t)` (``beta_anneal`` = a): training starts
# hot, where the model is easy to learn, and is annealed to the target temperature
# (:math:`\beta_t` reaches 98 % of :math:`\beta` at step 400). The estimate stays above the
# exact :math:`F/N` at :math:`\beta_t` (dashed); the right panel shows the gap, a running mean
# over 20 steps, which is :math:`T_t\,\mathrm{KL}(q\|p_t)/N`.

h = models[T_C].history_
beta_t = h["beta"].to_numpy()
exact_t = -ising_log_z(L, 1 / beta_t) / (beta_t * n_sites)
gap = (h["free_energy"] - exact_t).rolling(20, min_periods=1).mean()
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
axes[0].plot(h["step"], h["free_energy"], lw=0.8, label=r"batch $F_q/N$ at $\beta_t$")
axes[0].plot(h["step"], exact_t, "k--", lw=1, label=r"exact $F/N$ at $\beta_t$")
axes[0].axhline(exact[temperatures == T_C][0], color="C3", lw=1,
                label=r"exact $F/N$ at $T_c$")
axes[0].set(xlabel="step", ylabel="free energy per site", ylim=(-3.5, -2.0),
            title=rf"VAN, {L}$\times${L} Ising at $T_c$")
axes[0].legend()
axes[1].plot(h["step"], gap.where(gap > 0))
axes[1].set(xlabel="step", ylabel=r"$F_q/N - F/N$ at $\beta_t$ (running mean)", yscale="log")
plt.show()
