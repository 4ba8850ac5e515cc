"""
Effective sample size versus lattice size
=========================================

The quality of a flow sampler at a fixed training budget drops as the lattice grows: the
log-weights :math:`\\ln w = -S - \\ln q` are sums over more sites, their variance grows with
the volume, and ESS/N and the Metropolis-Hastings acceptance fall. This example trains
:class:`~skphys.FlowSampler` with its defaults for the same number of steps on the
":math:`\\xi \\approx L/4`" line of :math:`\\phi^4` (:math:`m^2 = -4`, with :math:`\\lambda` from
the literature, so that the physics is comparable across sizes) and plots ESS/N and the
acceptance on fresh samples against :math:`L`.

250 steps are far from convergence, and at this budget the figures depend on the seed as
much as on :math:`L`. The converged trend, with the cost per effective sample against HMC, is
what ``benchmarks/flow_xi_line.py`` measures (:doc:`/results` has its figures).
"""

import matplotlib.pyplot as plt

from skphys import FlowSampler
from skphys.lattice import Phi4

lam = {4: 8.0, 6: 6.975, 8: 6.008}
rows = []
for L, lam_L in lam.items():
    fs = FlowSampler(Phi4((L, L), m2=-4.0, lam=lam_L), max_iter=250, monitor_every=0,
                     random_state=0, device="cpu").fit()
    d = fs.diagnose(4096)
    rows.append((L, d["ess"], d["ess_err"], d["acceptance"]))
    print(f"L = {L:2d}, lambda = {lam_L}: ESS/N = {d['ess']:.3f} +- {d['ess_err']:.3f}, "
          f"acceptance = {d['acceptance']:.3f}")

# %%
# ESS and acceptance
# ------------------

sizes, ess_values, ess_errors, acceptance = zip(*rows)
fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
ax.errorbar(sizes, ess_values, ess_errors, marker="o", capsize=3, label="ESS / N")
ax.plot(sizes, acceptance, marker="s", label="MH acceptance")
ax.set(xlabel="L", ylabel="on 4096 fresh samples", ylim=(0, 1),
       title="FlowSampler defaults, 250 training steps")
ax.legend()
plt.show()
