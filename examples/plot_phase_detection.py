"""
Finding the Ising transition with autoregressive models
========================================================

Two routes to the critical temperature of the 2-D Ising model from Monte Carlo
configurations, both with :class:`skphys.AutoregressiveHamiltonian`:

* **thermodynamics**: :func:`skphys.temperature_scan` fits one model per temperature and
  reweights its exact samples to the Boltzmann law, giving the free energy, energy, entropy
  and heat capacity with errors; the heat capacity peaks at the finite-size transition;
* **unsupervised**: a single model fitted to the configurations of all temperatures at once
  turns each configuration into its conditionals :math:`p(s_i = +1 \\mid s_{<i})`; PCA and
  KMeans then split the ordered from the disordered configurations without ever seeing a
  temperature.

The lattice here is 8 x 8 and the models are small so that the example runs in about a
minute on one core; ``benchmarks/autoregressive_phase_detection.py`` does the same at
16 x 16 with 16 temperatures; see docs/results.rst for its figures.
"""

# %%
# Configurations
# --------------
# Wolff-cluster Monte Carlo (:func:`skphys.datasets.make_ising`) at 9 temperatures across
# Onsager's :math:`T_c = 2/\ln(1+\sqrt2) \approx 2.269`.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skphys import Adam, AutoregressiveHamiltonian, PixelCNN, heat_capacity_peak, temperature_scan
from skphys.datasets import make_ising
from skphys.lattice import Ising
from skphys.lattice.exact import T_C, ising_heat_capacity

L = 8
temperatures = np.linspace(1.6, 3.2, 9)
X, T = make_ising((L, L), temperatures, 1000, random_state=0)
print(X.shape, np.unique(T).size)

# %%
# Heat capacity from one model per temperature
# --------------------------------------------
# Each model is a Z2-symmetric PixelCNN fitted by maximum likelihood to the 1000
# configurations of its temperature. Its own samples, reweighted by
# :math:`e^{-\beta E(s)}/q(s)`, estimate the heat capacity
# :math:`C = \beta^2\,\mathrm{Var}(E)`; Kaufman's exact finite-lattice curve is the
# reference. ``n_jobs`` fits the temperatures in parallel. (The smaller network, batches and
# larger learning rate than the defaults keep this short fit cheap.)
template = AutoregressiveHamiltonian(Ising((L, L), 2.0),
                                     network=PixelCNN(hidden_channels=16, z2_mixture=True),
                                     batch_size=64, max_iter=300,
                                     optimizer=Adam(3e-3, clip_grad_norm=1.0), random_state=0)
scan = temperature_scan(template, temperatures, X, T, n_samples=2000)
t_peak, c_peak = heat_capacity_peak(scan)

fine = np.linspace(1.5, 3.3, 200)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(fine, ising_heat_capacity(L, fine), color="k", lw=1, label="exact (Kaufman)")
ax.errorbar(scan["temperature"], scan["heat_capacity"], scan["heat_capacity_err"], fmt="o",
            label="reweighted model samples")
ax.axvline(t_peak, color="C1", ls="--", label=f"fitted peak T = {t_peak:.3f}")
ax.set(xlabel="temperature T", ylabel="heat capacity per site C/N", title=f"Ising {L}x{L}")
ax.legend()
print(scan[["temperature", "heat_capacity", "heat_capacity_err", "ess"]].round(3))

# %%
# The pipeline: autoregressive features, PCA, KMeans
# --------------------------------------------------
# The first principal component of the conditionals is (up to sign) the magnetization, so
# the absolute value removes the spin-flip symmetry before KMeans looks for two clusters.
# The share of a temperature's configurations in the ordered cluster is a dimensionless
# probability: a larger lattice is more ordered below :math:`T_c` and less above it, so, as
# with Binder cumulants, the share curves of two sizes cross near :math:`T_c`. (Where one
# curve crosses 1/2 lies above :math:`T_c` by :math:`O(1/L)`: the magnetization of a finite
# lattice decays gradually.)


def ordered_share(size, X, T):
    """Fit the pipeline on configurations of all temperatures (T is never shown to it) and
    return each temperature's share in the ordered cluster and the PCA features."""
    pipe = Pipeline([
        ("ah", AutoregressiveHamiltonian(lattice_shape=(size, size),
                                         network=PixelCNN(hidden_channels=16),
                                         batch_size=64, max_iter=300, random_state=0)),
        ("pca", PCA(2)),
        ("abs", FunctionTransformer(np.abs)),
        ("km", KMeans(2, n_init=10, random_state=0)),
    ])
    labels = pipe.fit_predict(X)
    ordered_label = np.argmax(pipe["km"].cluster_centers_[:, 0])
    share = np.array([np.mean(labels[T == t] == ordered_label) for t in temperatures])
    return share, pipe[:2].transform(X)


def crossing(small, large):
    """Temperature where the share of the larger lattice falls below that of the smaller one
    (linear interpolation), past the low-temperature end where both are 1."""
    d = large - small
    k = np.argmax((d < 0) & (np.maximum.accumulate(d) > 0))
    return temperatures[k - 1] + d[k - 1] * (temperatures[k] - temperatures[k - 1]) / (
        d[k - 1] - d[k])


X12, T12 = make_ising((12, 12), temperatures, 500, random_state=1)
shares = {12: ordered_share(12, X12, T12)[0]}
shares[L], features = ordered_share(L, X[::2], T[::2])
t_c = crossing(shares[L], shares[12])
print(f"heat-capacity peak T = {t_peak:.3f}; the share curves of L = {L} and 12 cross at "
      f"T = {t_c:.3f} (Onsager {T_C:.3f})")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
points = ax1.scatter(features[:, 0], features[:, 1], c=T[::2], s=4, cmap="coolwarm")
fig.colorbar(points, ax=ax1, label="temperature (not used by the pipeline)")
ax1.set(xlabel="PC 1", ylabel="PC 2", title=f"conditionals of the AH, projected ({L}x{L})")
for size, share in shares.items():
    ax2.plot(temperatures, share, "o-", label=f"L = {size}")
ax2.axhline(0.5, color="gray", lw=0.5)
ax2.axvline(t_c, color="C1", ls="--", label=f"crossing T = {t_c:.3f}")
ax2.axvline(T_C, color="k", lw=1, label=f"Onsager T_c = {T_C:.3f}")
ax2.set(xlabel="temperature T", ylabel="share in the ordered cluster")
ax2.legend()
plt.show()

# %%
# The heat-capacity peak of the 8 x 8 lattice is at :math:`T \approx 2.362` (Kaufman), above
# Onsager's value for the same finite-size reason.
