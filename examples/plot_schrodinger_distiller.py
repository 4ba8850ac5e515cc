"""
Rediscovering the Schrödinger equation through a bottleneck
===========================================================

Only potentials :math:`V(x)` and ground-state densities :math:`\\rho(x)` are given
(:func:`skphys.datasets.make_schrodinger_1d`, in the gauge :math:`\\tilde V = V - E_0`). A
:class:`~skphys.PhysicsTranslator` learns the map :math:`V \\to \\rho` with a causal recurrent
network whose state is updated multiplicatively, :math:`h_i = W(V_i)\\,h_{i-1}`. A
:class:`~skphys.BottleneckDistiller` then looks only at the translator's hidden states (and the
potential it read), squeezes them through a latent space of dimension :math:`d` and must
reproduce them with a recurrence :math:`g_{i+1} = M(V_{i+1})\\,g_i` (Wang, Zhai and You,
:arxiv:`1901.11103`). Three figures of the seed talk:

1. the reconstruction loss jumps when :math:`d < 2`;
2. the two latent variables are the wave function :math:`\\psi = \\sqrt\\rho` and its
   derivative, up to a linear map;
3. the learned step obeys :math:`\\det(M(V) - 1) = -a^2 V`, the basis-free signature of the
   discrete Schrödinger equation :math:`\\psi'' = \\tilde V\\psi` (conventions §7).

To run in well under a minute on one core the systems have 50 sites at spacing
:math:`a = 0.2` and the networks train briefly; ``benchmarks/schrodinger_translator.py``
measures the full setting (100 sites at :math:`a = 0.1`); see docs/results.rst for its
figures.
"""

import matplotlib.pyplot as plt
import numpy as np

from skphys import BottleneckDistiller, PhysicsTranslator, scan_latent_dim
from skphys.datasets import make_schrodinger_1d

A, N_SITES = 0.2, 50
V, rho = make_schrodinger_1d(n_samples=2000, n_sites=N_SITES, kind="smooth", spacing=A,
                             random_state=0)
V_test, rho_test = make_schrodinger_1d(n_samples=200, n_sites=N_SITES, kind="smooth",
                                       spacing=A, random_state=1)

# %%
# The translator
# --------------
#
# The translator's defaults are the recipe: a two-dimensional multiplicative state, the size
# of the exact transfer matrix, in float64 because the forward recursion amplifies rounding
# errors along the system, and an L-BFGS refinement on whole sequences after the Adam steps
# for the same reason. To run fast, this example takes fewer Adam steps on shorter windows.

tr = PhysicsTranslator(window=N_SITES // 2, max_iter=1500, lbfgs_iter=150, device="cpu",
                       random_state=0).fit(V, rho)
print(f"median relative L2 error of the density on held-out potentials: "
      f"{np.median(tr.relative_error(V_test, rho_test)):.2%}")

fig, ax = plt.subplots(figsize=(6.5, 3.5), layout="constrained")
x = A * np.arange(N_SITES)
for i, color in zip(range(3), ("C0", "C1", "C2")):
    ax.plot(x, rho_test[i], color=color, lw=2, alpha=0.4)
    ax.plot(x, tr.predict(V_test[i:i + 1])[0], color=color, ls="--")
ax.set(xlabel="$x$", ylabel=r"$\rho(x)$", title="exact (thick) and translated (dashed)")
plt.show()

# %%
# Loss against the latent dimension
# ---------------------------------
#
# :func:`~skphys.scan_latent_dim` runs :func:`sklearn.model_selection.validation_curve` over
# ``latent_dim``: the loss drops by more than an order of magnitude from :math:`d = 1` to
# :math:`d = 2` and no further, two latent variables are needed and enough. (With
# ``target="density"``, the *alternative formulation*, the decoder must reproduce the density
# linearly and the loss levels off only at :math:`d = 3`: :math:`\rho, \rho', \rho''`, which
# obey :math:`\rho''' = 4\tilde V\rho' + 2\tilde V'\rho`. That scan needs longer training
# than fits in this example; ``benchmarks/schrodinger_translator.py --parts alternative``
# runs it.)

V_fit = V[:400]
dims = [1, 2, 3, 4]
settings = dict(horizon=N_SITES // 2, device="cpu")
scan = scan_latent_dim(BottleneckDistiller(tr, max_iter=600, **settings), V_fit, dims, cv=2)
print(scan.to_string(float_format="{:.3e}".format))

fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
ax.errorbar(dims, scan["test_loss"], yerr=scan["test_loss_std"], marker="o", capsize=3,
            label="test (2 folds)")
ax.plot(dims, scan["train_loss"], "o--", label="train")
ax.set(xlabel="latent dimension $d$", ylabel="reconstruction loss", yscale="log", xticks=dims)
ax.legend()
plt.show()

# %%
# The latent variables are the wave function and its derivative
# ---------------------------------------------------------------
#
# The latent trajectories :math:`g_i` (:meth:`~skphys.BottleneckDistiller.transform`) of a
# :math:`d = 2` distiller are compared with :math:`\psi = \sqrt\rho` (the ground state has no
# node) and :math:`\psi'` by finite differences. A causal translator knows each density only up
# to one factor per system (its normalization, see :class:`~skphys.PhysicsTranslator`), so one
# affine map :math:`g \mapsto (\psi, \psi')` common to all systems is fitted together with
# one scale per system, by alternating least squares.

ds = BottleneckDistiller(tr, latent_dim=2, max_iter=1500, random_state=0, **settings).fit(V_fit)
G = ds.transform(V_test).reshape(len(V_test), N_SITES, 2)
psi = np.sqrt(rho_test)
U = np.stack([psi, np.gradient(psi, A, axis=1)], -1)  # (n, sites, 2): psi, psi'
X = np.concatenate([G, np.ones(G.shape[:2] + (1,))], -1)  # affine features
scale = np.ones(len(G))  # U * scale ~ X @ W
for _ in range(20):
    W = np.linalg.lstsq(X.reshape(-1, 3), (U * scale[:, None, None]).reshape(-1, 2),
                        rcond=None)[0]
    fitted = X @ W
    scale = np.sum(fitted * U, (1, 2)) / np.sum(U * U, (1, 2))
    scale /= scale.mean()
U_hat = fitted / scale[:, None, None]
r2 = 1 - np.sum((U_hat - U) ** 2, (0, 1)) / np.sum((U - U.mean((0, 1))) ** 2, (0, 1))
print(f"R^2 of the affine map from g to psi: {r2[0]:.4f}, to psi': {r2[1]:.4f}")

fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), layout="constrained")
for i, color in zip(range(3), ("C0", "C1", "C2")):
    axes[0].plot(x, G[i, :, 0], color=color)
    axes[0].plot(x, G[i, :, 1], color=color, ls=":")
    for k, ax in enumerate(axes[1:]):
        ax.plot(x, U[i, :, k], color=color, lw=2, alpha=0.4)
        ax.plot(x, U_hat[i, :, k], color=color, ls="--")
axes[0].set(xlabel="$x$", title="latent $g_1$ (solid), $g_2$ (dotted)")
axes[1].set(xlabel="$x$", title=r"$\psi$ (thick) and its fit from $g$ (dashed)")
axes[2].set(xlabel="$x$", title=r"$\psi'$ (thick) and its fit from $g$ (dashed)")
plt.show()

# %%
# The learned step is the Schrödinger step
# ----------------------------------------
#
# For the discrete Schrödinger recursion in any basis, :math:`\det(M(V) - 1) = -a^2 V`;
# :meth:`~skphys.BottleneckDistiller.law_report` fits this line over the range of the
# training potentials.

report = ds.law_report(spacing=A)
print(report.to_string(index=False, float_format="{:.4g}".format))
v = np.linspace(*ds.v_range_, 101)
det = np.linalg.det(ds.update_matrices(v) - np.eye(2))
fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
ax.plot(v, det, label=r"learned $\det(M(V) - 1)$")
ax.plot(v, -A**2 * v, "k--", label=r"$-a^2 V$")
ax.set(xlabel=r"$\tilde V = V - E_0$", ylabel=r"$\det(M - 1)$",
       title=f"slope {report['slope'].item():.4f} (exact {-A**2:.4f}), "
             f"$R^2$ = {report['r2'].item():.3f}")
ax.legend()
plt.show()
