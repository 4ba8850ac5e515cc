"""
Flow Metropolis-Hastings versus HMC: autocorrelations
=====================================================

A trained flow proposes independent configurations; an independence Metropolis-Hastings
chain accepts or rejects them with probability :math:`\\min(1, w'/w)`, which makes the chain
exact for :math:`p = e^{-S}/Z`. Its autocorrelations come from rejections only, and are the
same for every observable. Hybrid Monte Carlo moves by continuous trajectories, and its
autocorrelation times grow with the correlation length (critical slowing down).

Here both sample :math:`\\phi^4` on an :math:`8 \\times 8` lattice at :math:`m^2 = -4`,
:math:`\\lambda = 6.008`, a point of the ":math:`\\xi \\approx L/4`" line of the literature.
We compare the normalized autocorrelation function :math:`\\Gamma(t)/\\Gamma(0)` of the
two-point susceptibility :math:`\\chi_2 = (\\sum_x \\phi_x)^2/V` along both chains, and the
estimates of :math:`\\langle\\chi_2\\rangle` with their :math:`\\tau_\\text{int}`-corrected
errors (:func:`~skphys.lattice.stats.mean_error`).
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from skphys import FlowSampler
from skphys.lattice import Phi4
from skphys.lattice.mcmc import hmc
from skphys.lattice.observables import two_point_susceptibility
from skphys.lattice.stats import autocorrelation, mean_error, tau_int

theory = Phi4((8, 8), m2=-4.0, lam=6.008)
fs = FlowSampler(theory, max_iter=800, random_state=0, device="cpu").fit()
print(f"trained flow: ESS/N = {fs.ess_:.3f}, MH acceptance = {fs.acceptance_rate_:.3f}")

n = 4000
flow_chain = two_point_susceptibility(fs.sample(n, method="mh"))
result = hmc(theory, n, n_chains=1, n_burnin=300,
             generator=torch.Generator().manual_seed(0))
hmc_chain = two_point_susceptibility(result.samples[0]).numpy()

# %%
# Autocorrelation functions
# -------------------------

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
lags = np.arange(40)
for name, chain in (("flow + independence MH", flow_chain), ("HMC", hmc_chain)):
    tau = tau_int(chain)
    ax.plot(lags, autocorrelation(chain)[: len(lags)], marker=".",
            label=fr"{name}: $\tau_{{int}}$ = {tau.tau:.2f} $\pm$ {tau.tau_err:.2f}")
ax.axhline(0, color="gray", lw=0.5)
ax.set(xlabel="lag (chain steps)", ylabel=r"$\Gamma(t)/\Gamma(0)$ of $\chi_2$")
ax.legend()
plt.show()

# %%
# Estimates
# ---------
#
# Both chains are exact, so they agree within errors; the cost of an effective sample is
# :math:`2\tau_\text{int}` chain steps: one flow pass per flow step, ``n_leapfrog`` force
# evaluations per HMC trajectory (training the flow costs extra, once).

for name, chain in (("flow + MH", flow_chain), ("HMC", hmc_chain)):
    est = mean_error(chain)
    print(f"{name:>10}: <chi2> = {est.mean:.4f} +- {est.error:.4f} (tau_int = {est.tau:.2f})")
print(f"HMC: {result.info['n_leapfrog']} leapfrog steps per trajectory, "
      f"acceptance {result.acceptance:.2f}")
