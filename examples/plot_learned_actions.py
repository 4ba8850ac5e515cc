"""
Learning a quantum-mechanical action at two temperatures and predicting a third
================================================================================

The Euclidean path integral of a particle in the double well
:math:`V(x) = (\\lambda/4)(x^2 - v^2)^2` is a lattice theory on periodic imaginary time
(:class:`~skphys.lattice.PathIntegral`, :math:`N` slices, :math:`a = \\beta/N`):

.. math::

    S_\\beta[x] = \\sum_i \\Big[\\frac{(x_{i+1} - x_i)^2}{2a} + a V(x_i)\\Big]
    = \\frac{K[x]}{\\beta} + \\beta\\,U[x].

An :class:`~skphys.AutoregressiveHamiltonian` with real-valued conditionals (``dof="real"``)
fitted on paths at :math:`\\beta_1` and :math:`\\beta_2` learns :math:`-\\ln q_i = S_{\\beta_i}`
up to a constant. Since :math:`K` and :math:`U` do not depend on :math:`\\beta`, the two learned
actions determine the action at any :math:`\\beta_3`,
:math:`S_3 = c_1 S_1 + c_2 S_2 + C_3` (:func:`~skphys.lattice.predict_action`; L. Wang,
arXiv:2405.10493), which we sample and compare with the exact transfer-matrix values
(:func:`~skphys.lattice.exact.path_integral_correlator`).

To run in seconds on one core, the example uses 16 slices, 3000 paths per temperature and
300 training steps (the default is 1300); ``benchmarks/learned_actions.py``
measures the full setting (32 slices, :math:`2 \\cdot 10^4` paths, the default estimator,
HMC on the prediction); see docs/results.rst for its figures.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from skphys import AutoregressiveHamiltonian
from skphys.datasets import make_path_integral
from skphys.lattice import PathIntegral, predict_action
from skphys.lattice.exact import path_integral_correlator
from skphys.lattice.mcmc import independence_metropolis

N, BETAS, BETA3 = 16, (2.0, 4.0), 3.0

# %%
# Learn the action at two inverse temperatures
# --------------------------------------------
#
# ``make_path_integral`` draws paths by HMC. Each fit learns a normalized density
# :math:`q_i`; ``as_theory()`` turns it into a lattice theory whose action is
# :math:`-\ln q_i`.

models, held_out = {}, {}
for i, beta in enumerate(BETAS):
    X = make_path_integral(N, beta, 3500, random_state=i)
    held_out[beta] = X[3000:]
    models[beta] = AutoregressiveHamiltonian(lattice_shape=(N,), dof="real", max_iter=300,
                                             device="cpu", random_state=0).fit(X[:3000])

# %%
# The learned action against the true one
# ---------------------------------------
#
# On held-out paths, :math:`-\ln q` should equal :math:`S` up to a constant: a line of
# slope 1.

fig, axes = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
for ax, (beta, ah) in zip(axes, models.items()):
    X_test = held_out[beta]
    s_true = PathIntegral(N, beta, "double_well").action(torch.as_tensor(X_test)).numpy()
    s_learned = -ah.score_samples(X_test)
    r = np.corrcoef(s_true, s_learned)[0, 1]
    ax.plot(s_true, s_learned - np.mean(s_learned - s_true), ".", ms=3, alpha=0.5)
    ax.plot(s_true, s_true, "k-", lw=1)
    ax.set(xlabel="true action $S$", ylabel=r"learned $-\ln q$ (shifted)",
           title=rf"$\beta = {beta:g}$: correlation {r:.3f}")

# %%
# Predict the action at a third inverse temperature
# --------------------------------------------------
#
# ``predict_action`` returns a :class:`~skphys.lattice.LatticeTheory`, which any sampler
# accepts. Here an independence Metropolis chain proposes exact draws of the model at the
# nearer :math:`\beta` and accepts them with the ratio of :math:`e^{-S_3}` to that model's
# density (HMC, ``skphys.lattice.mcmc.hmc(predicted, ...)``, works as well and is what the
# benchmark uses).

learned = (models[BETAS[0]].as_theory(), models[BETAS[1]].as_theory())
predicted = predict_action(learned, BETAS, BETA3)
proposals = torch.as_tensor(models[BETAS[1]].sample(20_000))
with torch.no_grad():
    log_w = (learned[1].action(proposals) - predicted.action(proposals)).numpy()
chain = independence_metropolis(log_w, generator=torch.Generator().manual_seed(0))
paths = proposals[chain.index].numpy()
correlator = np.array([np.mean(paths * np.roll(paths, -t, 1)) for t in range(N)])
exact = path_integral_correlator(PathIntegral(N, BETA3, "double_well"))
print(f"beta3 = {BETA3}: c1, c2 = {predicted.coefficients[0]:.3f}, "
      f"{predicted.coefficients[1]:.3f}; acceptance {chain.acceptance:.2f}; "
      f"<x^2> predicted {correlator[0]:.4f}, exact {exact[0]:.4f}")

times = np.arange(N)
axes[2].plot(times, exact, "k-", label=rf"exact, $\beta_3 = {BETA3:g}$")
axes[2].plot(times, correlator, "o", label="sampled from the predicted action")
for beta in BETAS:
    axes[2].plot(times, path_integral_correlator(PathIntegral(N, beta, "double_well")), ":",
                 label=rf"exact, $\beta = {beta:g}$ (learned)")
axes[2].set(xlabel="imaginary time $t$ (slices)", ylabel=r"$\langle x_0 x_t\rangle$",
            title="action prediction")
axes[2].legend(fontsize=8)
plt.show()
