"""
Learning the Ising Hamiltonian from data
========================================

Given only configurations, :class:`~skphys.AutoregressiveHamiltonian` fits an autoregressive
model :math:`q_\\theta(s) = \\prod_i q_\\theta(s_i \\mid s_{<i})` by maximum likelihood. Its
exact log-probability defines a learned Hamiltonian

.. math::

    H_\\theta(s) = -T \\ln q_\\theta(s),

which equals the true energy up to the constant :math:`-T\\ln Z` when :math:`q_\\theta` is the
Boltzmann distribution :math:`p(s) = e^{-E(s)/T}/Z`. Only differences of
:meth:`~skphys.AutoregressiveHamiltonian.hamiltonian` are physical: here we compare the learned
single-spin-flip energy changes :math:`\\Delta H_\\theta = H_\\theta(s^{(i)}) - H_\\theta(s)`
(:math:`s^{(i)}`: spin :math:`i` flipped) with the exact :math:`\\Delta E = 2 s_i h_i`,
:math:`h_i = \\sum_{j \\sim i} s_j`, of :math:`E = -\\sum_{\\langle ij\\rangle} s_i s_j`.

The negative log-likelihood of new configurations is
:math:`-E_p[\\ln q_\\theta] = S + \\mathrm{KL}(p\\|q_\\theta)`: per spin it is bounded below by
the exact entropy per spin :math:`S/N = (U - F)/(NT)`, from Kaufman's solution
(:func:`skphys.lattice.exact.ising_log_z`, :func:`skphys.lattice.exact.ising_energy`).

The data are Wolff-sampled configurations of a :math:`6 \\times 6` torus at :math:`T = 2.5`
(:func:`skphys.datasets.make_ising`). To run in seconds on one core the example trains for
300 steps only; ``benchmarks/autoregressive_learned_hamiltonian.py`` measures the full setting
(:math:`8 \\times 8`, :math:`2 \\cdot 10^4` training configurations, the default settings); see
docs/results.rst for its figures.
"""

import matplotlib.pyplot as plt
import numpy as np

from skphys import AutoregressiveHamiltonian, PixelCNN
from skphys.datasets import make_ising
from skphys.lattice.exact import ising_energy, ising_log_z

L, T = 6, 2.5
n_sites = L * L
X, _ = make_ising((L, L), T, 8000, random_state=0)
X_train, X_test = X[:6000], X[6000:]


def neighbour_sum(X):
    """Sum of the four nearest neighbours of every site (periodic), shape of ``X``."""
    lattice = X.reshape(-1, L, L)
    total = sum(np.roll(lattice, shift, axis) for shift in (1, -1) for axis in (1, 2))
    return total.reshape(len(X), -1)


# one random site flipped per held-out configuration, and the exact energy change
rng = np.random.default_rng(0)
sites = rng.integers(n_sites, size=len(X_test))
rows = np.arange(len(X_test))
X_flipped = X_test.copy()
X_flipped[rows, sites] *= -1
exact_dE = 2 * X_test[rows, sites] * neighbour_sum(X_test)[rows, sites]

# %%
# Maximum-likelihood fit, with and without the Z2 symmetry
# --------------------------------------------------------
#
# ``fit(X)`` holds out ``validation_fraction`` of the rows and keeps the parameters with the
# best validation likelihood. With ``network=PixelCNN(z2_mixture=True)`` the model is
# symmetrized over the global flip, :math:`\ln q(s) = \mathrm{LSE}(\ln q'(s), \ln q'(-s)) - \ln 2`,
# a symmetry of the Ising energy that the plain model can only learn approximately from the
# data.

models = {
    z2: AutoregressiveHamiltonian(lattice_shape=(L, L), network=PixelCNN(z2_mixture=z2),
                                  max_iter=300, device="cpu", random_state=0).fit(X_train)
    for z2 in (False, True)
}

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained", sharey=True)
for ax, (z2, ah) in zip(axes, models.items()):
    # the data carry no theory: the learned Hamiltonian needs their temperature
    learned_dE = ah.hamiltonian(X_flipped, temperature=T) - ah.hamiltonian(X_test, temperature=T)
    r = np.corrcoef(learned_dE, exact_dE)[0, 1]
    jitter = rng.uniform(-0.3, 0.3, size=len(exact_dE))  # the exact values are -8, ..., 8
    ax.scatter(exact_dE + jitter, learned_dE, s=4, alpha=0.3)
    ax.plot([-8, 8], [-8, 8], "k--", lw=1, label="learned = exact")
    ax.set(xlabel=r"exact $\Delta E$", title=f"z2_mixture={z2}: r = {r:.3f}")
    print(f"z2_mixture={z2!s:5}: correlation of learned and exact flip energies r = {r:.4f}")
axes[0].set(ylabel=r"learned $\Delta H_\theta$")
axes[0].legend()
plt.show()

# %%
# Likelihood against the exact entropy
# ------------------------------------
#
# The held-out NLL per spin, :math:`-\text{score}/N`, is compared with the exact entropy per
# spin, and with the exact NLL :math:`(E(s)/T + \ln Z)/N` of the same held-out
# configurations: their difference estimates :math:`\mathrm{KL}(p\|q_\theta)/N` without the
# sampling noise of the held-out set, whose mean energy, and with it the NLL of any model,
# fluctuates by about 1 % around the exact value. The Z2 symmetry score
# :meth:`~skphys.AutoregressiveHamiltonian.symmetry_score` is the mean
# :math:`|\ln q(-s) - \ln q(s)|`: zero for a symmetric model.

log_z = ising_log_z(L, T)  # total ln Z; ising_energy is per site
entropy = log_z / n_sites + ising_energy(L, T) / T
energy = -0.5 * np.sum(X_test * neighbour_sum(X_test), axis=1)  # each bond counted twice
exact_nll = np.mean(energy / T + log_z) / n_sites
print(f"exact entropy per spin {entropy:.5f}; exact NLL per spin of the held-out "
      f"configurations {exact_nll:.5f}")
for z2, ah in models.items():
    nll = -ah.score(X_test) / n_sites
    print(f"z2_mixture={z2!s:5}: held-out NLL per spin {nll:.5f} "
          f"({100 * (nll - entropy) / entropy:+.2f} % of the entropy), "
          f"KL(p||q)/N = {nll - exact_nll:.4f}; symmetry score "
          f"{ah.symmetry_score(X_test, 'flip'):.4f}")

# %%
# Training and validation curves
# ------------------------------
#
# ``history_`` has the training loss (NLL per spin of the batch) and the validation NLL per
# spin at every step; both approach the entropy per spin from above.

fig, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
for i, (z2, ah) in enumerate(models.items()):
    h = ah.history_
    ax.plot(h["step"], h["loss"].rolling(20, min_periods=1).mean(), color=f"C{i}", lw=0.8,
            alpha=0.6, label=f"training (running mean), z2_mixture={z2}")
    ax.plot(h["step"], h["val_nll"], color=f"C{i}", label=f"validation, z2_mixture={z2}")
ax.axhline(entropy, color="k", ls="--", lw=1, label="exact entropy per spin")
ax.set(xlabel="step", ylabel="NLL per spin", ylim=(entropy - 0.02, entropy + 0.15))
ax.legend(fontsize="small")
plt.show()
