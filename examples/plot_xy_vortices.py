"""
XY vortices and the helicity modulus with a variational autoregressive network
==============================================================================

The XY model :math:`H = -\\sum_{\\langle ij\\rangle}\\cos(\\theta_i - \\theta_j)` has no
long-range order at any temperature, yet it has a phase transition: below
:math:`T_{\\rm KT} \\approx 0.893` vortices are bound in vortex-antivortex pairs and the spin
stiffness (helicity modulus) :math:`\\Upsilon` is finite; at :math:`T_{\\rm KT}` the pairs
unbind and :math:`\\Upsilon` drops from :math:`2T/\\pi` to zero in the infinite system (the
Kosterlitz-Thouless jump). On a finite lattice the drop is smooth, and where
:math:`\\Upsilon(T)` crosses the line :math:`2T/\\pi` is a finite-size estimate of
:math:`T_{\\rm KT}`.

:class:`~skphys.AutoregressiveHamiltonian` with an :class:`~skphys.lattice.XY` theory learns
the Boltzmann distribution by VAN (minimizing the variational free energy): each angle,
given the earlier ones, follows a mixture of Beta laws on :math:`\\theta / 2\\pi`. Its samples
are exact in distribution once reweighted: :meth:`~skphys.AutoregressiveHamiltonian.estimate`
with ``method="importance"`` corrects the model's bias by self-normalized importance weights
:math:`e^{-S(x)}/q(x)`, and ``sample(method="mh")`` runs an independence Metropolis-Hastings
chain through model samples.

To run in about a minute this example trains small, short models on a :math:`4 \\times 4`
lattice, where the finite-size crossing lies well above :math:`T_{\\rm KT}`;
``benchmarks/autoregressive_xy.py`` measures :math:`8 \\times 8` against Wolff cluster Monte
Carlo; see docs/results.rst for its figures.
"""

import math

import matplotlib.pyplot as plt
import numpy as np

from skphys import Adam, AutoregressiveHamiltonian, PixelCNN
from skphys.datasets import make_xy
from skphys.lattice import XY
from skphys.lattice.observables import helicity_modulus, plaquette_winding, vortex_density
from skphys.lattice.stats import mean_error

shape = (4, 4)
temperatures = [0.7, 1.0, 1.3]
settings = dict(network=PixelCNN(hidden_channels=16), max_iter=400, beta_anneal=0.99,
                optimizer=Adam(3e-3, clip_grad_norm=1.0), random_state=0)
models = {t: AutoregressiveHamiltonian(XY(shape, t), **settings).fit()
          for t in temperatures}

# %%
# Vortices below and above the transition
# ---------------------------------------
#
# Of 16 configurations from the Metropolis-corrected sampler at the lowest and the highest
# temperature, the one with the most vortices, as arrows
# :math:`(\\cos\\theta, \\sin\\theta)`. The winding number of each plaquette
# (:func:`~skphys.lattice.observables.plaquette_winding`, the sum of the wrapped angle
# differences around it over :math:`2\\pi`) marks vortices (+1, red) and antivortices
# (-1, blue). The lattice is periodic: the plaquettes of the last row and column close
# through the boundary.

fig, axes = plt.subplots(1, 2, figsize=(9, 4.5), layout="constrained")
rows, cols = np.indices(shape)
for ax, t in zip(axes, (temperatures[0], temperatures[-1])):
    theta = models[t].sample(16, method="mh")
    windings = plaquette_winding(theta, shape)
    most = np.abs(windings).sum(axis=(1, 2)).argmax()
    theta, winding = theta[most], windings[most]
    ax.quiver(cols, rows, np.cos(theta.reshape(shape)), np.sin(theta.reshape(shape)),
              pivot="middle", scale=10, width=0.012)
    for sign, color, label in ((1, "tab:red", "vortex"), (-1, "tab:blue", "antivortex")):
        i, j = np.nonzero(winding == sign)
        ax.scatter(j + 0.5, i + 0.5, s=150, c=color, alpha=0.6, label=label)
    ax.set(title=f"T = {t}", xlim=(-0.7, shape[1]), ylim=(-0.7, shape[0]), aspect="equal",
           xticks=[], yticks=[])
axes[1].legend(loc="upper right", fontsize="small")
plt.show()

# %%
# The vortex density :math:`\\frac1N\\sum_p |w_p|` grows steeply through the transition. Each
# estimate is importance-weighted over fresh model samples and carries a delta-method error.

for t, ah in models.items():
    rho, rho_err = ah.estimate(lambda x: vortex_density(x, shape), 4000, method="importance")
    print(f"T = {t}: vortex density = {rho:.4f} +- {rho_err:.4f}")

# %%
# Helicity modulus
# ----------------
#
# :math:`\\Upsilon` is linear in expectation values, so it is the mean of a per-configuration
# value (``helicity_modulus(..., per_sample=True)``) that can be importance-weighted like any
# observable. The reference curve comes from decorrelated Wolff cluster samples
# (:func:`~skphys.datasets.make_xy`).

reference_t = np.linspace(0.6, 1.4, 9)
X, T = make_xy(shape, reference_t, n_samples=400, random_state=0)
reference = [mean_error(helicity_modulus(X[T == t], shape, t, per_sample=True))
             for t in reference_t]
van = [ah.estimate(lambda x, t=t: helicity_modulus(x, shape, t, per_sample=True), 4000,
                   method="importance") for t, ah in models.items()]

fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
ax.errorbar(reference_t, [r.mean for r in reference], [r.error for r in reference],
            marker=".", color="0.5", label="Wolff")
ax.errorbar(temperatures, *zip(*van), marker="o", ls="none", capsize=3, label="VAN + NIS")
ax.plot(reference_t, 2 * reference_t / math.pi, "k--", label=r"$2T/\pi$")
ax.axvline(0.893, color="k", lw=0.5)
ax.set(xlabel="T", ylabel=r"helicity modulus $\Upsilon$", title=f"XY {shape[0]}x{shape[1]}")
ax.legend()
plt.show()
