"""
A holographic RG flow of the critical Ising model
=================================================

:class:`~skphys.RGFlow` is a normalizing flow built like a MERA tensor network (NeuralRG, Li &
Wang, arXiv:1802.02840): at each renormalization-group level, block bijectors disentangle and
decimate :math:`2 \\times 2` blocks, one variable per block moves on to the next, coarser level
and the others stay behind as that level's *bulk* (latent) variables. Trained so that the
bulk is as independent as possible, the bulk is a holographic picture of the field: position
on the lattice plus an RG level as an extra, "radial" coordinate (Hu, Li, Wang, You,
arXiv:1903.00804).

The field here is the continuous dual of the Ising model (:class:`skphys.lattice.IsingDual`,
conventions in :ref:`conventions-ising-dual`) on an :math:`8 \\times 8` lattice at Onsager's
:math:`T_c`, where correlations are longest. We train by reverse KL from the action alone, then
check the free energy against the exact value, look at the bulk correlations and the
holographic distance, and repaint a hole in a configuration by sampling its causal cone in
the bulk. (A short training, so that the example runs in a minute or two; the benchmarks in
``benchmarks/rg_flow.py`` train longer.)
"""

import matplotlib.pyplot as plt
import numpy as np

from skphys import Adam, CouplingBlock, MERAFlow, RGFlow
from skphys.lattice import IsingDual
from skphys.lattice.exact import T_C, ising_dual_log_z

L = 8
theory = IsingDual((L, L), temperature=T_C)
# The dual field is bimodal at T_c (the two signs of the magnetization): a Z2 mixture of a
# non-equivariant flow covers both modes (see the RGFlow guide). A short training of a
# smaller flow than the defaults', and a local one (no Fourier layer), so that ``inpaint``
# below can sample a causal cone.
rg = RGFlow(theory, flow=MERAFlow(depth=2, block=CouplingBlock(hidden_channels=(32, 32)),
                                  z2_mixture=True, fourier_layer=False),
            path_gradient=True, batch_size=64, optimizer=Adam(3e-3, clip_grad_norm=100.0),
            max_iter=600, monitor_every=0, random_state=0, device="cpu").fit()

# %%
# Free energy against the exact value
# -----------------------------------
# The reverse-KL loss :math:`E_q[\ln q + S]` is bounded below by :math:`-\ln Z`; the
# importance weights :math:`w = e^{-S}/q` of fresh samples estimate :math:`\ln Z`, with an
# error bar, and the exact value of the dual field's partition function follows from
# Kaufman's solution of the Ising model. This training is short: with an effective sample
# size of a few percent the error bars of reweighted estimates are themselves uncertain, and
# observables such as the Ising energy need the much longer trainings of
# ``benchmarks/rg_flow.py`` to agree with their exact values.
exact = ising_dual_log_z((L, L), T_C)
d = rg.diagnose(8192)
print(f"ln Z = {d['log_z']:.3f} +- {d['log_z_err']:.3f} (exact {exact:.3f}); "
      f"KL = {d['kl']:.3f} nats, ESS/N = {d['ess']:.3f}, MH acceptance {d['acceptance']:.3f}")

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.plot(rg.history_["step"], rg.history_["loss"].rolling(20, min_periods=1).mean(),
        label="reverse-KL loss (running mean)")
ax.axhline(-exact, color="k", lw=1, label=r"$-\ln Z$ exact")
ax.set(xlabel="step", ylabel="nats", ylim=(-exact - 2, -exact + 15))
ax.legend()
plt.show()

# %%
# The bulk and its levels
# -----------------------
# ``transform`` maps configurations to the bulk code :math:`z = G^{-1}(x)`, ``levels_``
# gives the RG level of each latent coordinate (48, 12 and 4 of them at levels 0, 1, 2 on an
# :math:`8 \times 8` lattice) and ``get_feature_names_out`` labels them by level, row and
# column. Target configurations come from an independence Metropolis-Hastings chain through
# the flow's proposals.
X = rg.sample(4096, method="mh")
print(dict(zip(*np.unique(rg.levels_, return_counts=True))))
print(rg.get_feature_names_out()[:3])

fig, axes = plt.subplots(1, 2, figsize=(8, 3.5), layout="constrained")
limit = np.abs(X[0]).max()
axes[0].imshow(X[0].reshape(L, L), cmap="RdBu_r", vmin=-limit, vmax=limit)
axes[0].set(title="dual field x", xticks=[], yticks=[])
image = axes[1].imshow(rg.levels_.reshape(L, L), cmap="viridis")
axes[1].set(title="RG level of each bulk variable", xticks=[], yticks=[])
fig.colorbar(image, ax=axes[1], ticks=np.unique(rg.levels_))
plt.show()

# %%
# Bulk correlations and the holographic distance
# ----------------------------------------------
# At :math:`T_c` the field itself is correlated over the whole lattice. The flow's bulk
# variables are nearly independent: ``bulk_correlation`` measures the correlation of every
# pair of bulk variables, with their levels and the distance of their sites (each
# configuration encoded by the branch of the Z2 mixture that more likely drew it). Hu et al.
# read :math:`d_{ij} = -\ln|\langle z_i z_j\rangle|` as a distance in the holographic bulk:
# the larger, the further apart in the emergent geometry.
pairs = rg.bulk_correlation(X=X)
field = np.corrcoef(X, rowvar=False)[np.triu_indices(L * L, k=1)]
pairs["field_correlation"] = field
pairs["holographic_distance"] = -np.log(pairs["correlation"].abs())
by_distance = pairs.groupby(pairs["distance"].round(2))
print(by_distance[["field_correlation", "correlation"]].apply(lambda g: g.abs().mean())
      .head(6).round(3))
same_level = pairs[pairs["level_i"] == pairs["level_j"]]
print(same_level.groupby("level_i")["holographic_distance"].median().round(2))

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.plot(pairs["distance"], pairs["field_correlation"].abs(), ".", ms=2, alpha=0.3,
        color="gray", label="field x")
for level, group in same_level.groupby("level_i"):
    ax.plot(group["distance"], group["correlation"].abs(), ".", ms=4,
            label=f"bulk, both at level {level}")
ax.set(xlabel="distance of the sites", ylabel="|correlation|", yscale="log", ylim=(1e-4, 1))
ax.legend(markerscale=3)
plt.show()

# %%
# Inpainting through the causal cone
# ----------------------------------
# The bulk variables that can move a set of sites form their causal cone
# (``causal_cone``). ``inpaint`` holds every other bulk variable of a configuration fixed and
# samples the cone by HMC on the bulk effective action :math:`S(G(z)) - \ln|\det
# \partial G/\partial z|`; the masked sites of the result replace those of the original.
mask = np.zeros((L, L), dtype=bool)
mask[2:6, 2:6] = True
mask = mask.ravel()
print(f"{mask.sum()} masked sites, {rg.causal_cone(mask).sum()} bulk variables in their cone")
painted = rg.inpaint(X[:1], mask, n_samples=30, n_burnin=30)[0]

fig, axes = plt.subplots(1, 4, figsize=(10, 2.8), layout="constrained")
panels = [("original", X[0]), ("hole", np.where(mask, np.nan, X[0])),
          ("one repainting", painted[-1]), ("mean of 30", painted.mean(0))]
for ax, (title, field) in zip(axes, panels):
    ax.imshow(field.reshape(L, L), cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set(title=title, xticks=[], yticks=[])
plt.show()
