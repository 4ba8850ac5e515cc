"""
An RG flow of handwritten digits
================================

The same hierarchical flow that :class:`~skphys.RGFlow` trains on lattice fields, trained by
maximum likelihood on images nobody here made: the :math:`8 \\times 8` handwritten digits of
scikit-learn (integers 0-16). As in Hu, Wu, You, Olshausen and Chen (arXiv:2010.00029) the
latents of the flow are multi-scale: each has an RG level and a receptive field, a locally
corrupted image can be repaired from the latents of its causal cone, and the coarse latents
of one digit can be combined with the fine latents of another.

Images need a different flow than lattice fields; it is one parameter object, the image
recipe of :class:`~skphys.RGFlow`: the pixels are dequantized (uniform noise,
:class:`~skphys.preprocessing.Dequantizer`) into :math:`[0, 17)`, with fresh noise at every
training step (``dequantize=True``), the flow ends with a logit map onto that interval
(``data_range``, its log-determinant in the density), every block network learns where its
block sits (``translation_invariant=False``: digits are centred, not homogeneous like a
lattice field), there are six disentangler-decimator pairs at the finest level and two at
each coarser one, and no (periodic) Fourier layer. The training here is short, so that the
example runs in about a minute; ``benchmarks/rg_digits.py`` trains with the default number
of steps and has the full figures: bits per dimension against Gaussian mixtures and kernel
density estimates, inpainting against nearest neighbours, and the classification table.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from skphys import CouplingBlock, MERAFlow, RGFlow
from skphys.preprocessing import Dequantizer, LevelSelector, bits_per_dim

torch.set_num_threads(1)
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                    random_state=0)

# the image recipe; a short training (the default is 4000 steps), so the fit warns that the
# held-out likelihood was still improving
flow = MERAFlow(data_range=(0, 17), depth=(6, 2, 2), translation_invariant=False,
                block=CouplingBlock(hidden_channels=(32, 32)), fourier_layer=False,
                dequantize=True)
rg = RGFlow(lattice_shape=(8, 8), flow=flow, max_iter=250, random_state=0)
rg.set_output(transform="pandas")  # the level selector reads the latents' names
pipe = Pipeline([
    ("deq", Dequantizer(n_levels=17, random_state=0)),
    ("rg", rg),
    ("select", LevelSelector(-1)),  # the top level: 4 latents
    ("clf", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
])
pipe.fit(X_train, y_train)
deq = pipe["deq"]
D_test = Dequantizer(n_levels=17, random_state=1).fit(X_train).transform(X_test)

# %%
# Likelihood in bits per dimension
# --------------------------------
# ``score_samples`` is the log density of the dequantized pixels in :math:`[0, 17)`: unit
# bins, so that :func:`~skphys.preprocessing.bits_per_dim` needs no correction and bounds the
# code length of the integers from above. A uniform model takes :math:`\log_2 17 = 4.09`
# bits per pixel.
print(f"test: {bits_per_dim(rg.score_samples(D_test), 64):.3f} bits/dim "
      f"(uniform: {np.log2(17):.3f})")


def show(axes, images, titles=None):
    for k, (ax, image) in enumerate(zip(axes, images)):
        ax.imshow(np.asarray(image).reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
        ax.set(xticks=[], yticks=[])
        if titles is not None:
            ax.set_title(titles[k], fontsize=8)


# %%
# Samples
# -------
# Prior draws mapped through the flow, quantized back to integers.
samples = deq.inverse_transform(rg.sample(16))
fig, axes = plt.subplots(2, 8, figsize=(8, 2.2), layout="constrained")
show(axes.ravel(), samples)

# %%
# Receptive fields
# ----------------
# Move one latent of each level of a test digit and watch which pixels move, and how far.
# :meth:`~skphys.RGFlow.receptive_field` gives the pixels a latent can move at all; with the
# six disentangler-decimator pairs of the finest level that is the whole :math:`8 \times 8`
# image at every level (``depth=1`` keeps it to a :math:`4 \times 4` region at level 0); the
# colour shows how far each pixel moves.
names = rg.get_feature_names_out()
Z = rg.transform(D_test[:1]).to_numpy()
fig, axes = plt.subplots(1, 3, figsize=(6, 2.3), layout="constrained")
for ax, name in zip(axes, ["z_l0_r3_c4", "z_l1_r2_c2", "z_l2_r4_c4"]):
    moved = Z.copy()
    moved[0, names == name] += 2.0
    change = np.abs(rg.inverse_transform(moved) - rg.inverse_transform(Z))
    ax.imshow(change.reshape(8, 8), cmap="viridis")
    print(f"{name}: receptive field of {rg.receptive_field(names == name).sum()} pixels")
    ax.set(xticks=[], yticks=[], title=name)

# %%
# Inpainting
# ----------
# A 3 x 3 patch of each digit is overwritten with noise. Without a theory,
# :meth:`~skphys.RGFlow.inpaint` samples the patch from the model's own conditional law given
# the other pixels; only the latents in the causal cone of the patch move (here all of them:
# every receptive field covers this small image). The other pixels are given at the centres
# of their bins; the fill-in is the mean of the samples.
mask = np.zeros((8, 8), dtype=bool)
mask[3:6, 3:6] = True
mask = mask.ravel()
rng = np.random.default_rng(0)
corrupted = X_test[:6] + 0.5
corrupted[:, mask] = rng.uniform(0, 17, (6, mask.sum()))
filled = rg.inpaint(corrupted, mask, n_samples=30, n_burnin=30).mean(1) - 0.5
print(f"latents in the causal cone of the patch: {rg.causal_cone(mask).sum()} of 64")
fig, axes = plt.subplots(3, 6, figsize=(6, 3.3), layout="constrained")
show(axes[0], X_test[:6], ["original"] * 6)
show(axes[1], corrupted, ["corrupted"] * 6)
show(axes[2], filled, ["inpainted"] * 6)

# %%
# Mixing scales
# -------------
# :meth:`~skphys.RGFlow.mix` keeps the latents of levels 1 and 2 (coarse shape) of the digits
# of the first row and the level-0 latents (fine strokes) of those of the second.
a, b = D_test[6:11], D_test[11:16]
mixed = rg.mix(a, b, level=1)
fig, axes = plt.subplots(3, 5, figsize=(5, 3.3), layout="constrained")
show(axes[0], a, ["coarse from"] * 5)
show(axes[1], b, ["fine from"] * 5)
show(axes[2], np.clip(mixed, 0, 17), ["mixed"] * 5)

# %%
# Top-level latents as features
# -----------------------------
# The pipeline above classifies from the 4 top-level latents alone. Against the same number
# of principal components, and all 64 raw pixels:
Z_train, Z_test = pipe[:2].transform(X_train), pipe[:2].transform(X_test)
scores = {"RGFlow top level (4)": pipe.score(X_test, y_test)}
for n_components in (4, 16):
    pca = make_pipeline(StandardScaler(), PCA(n_components), LogisticRegression(max_iter=2000))
    scores[f"PCA ({n_components})"] = pca.fit(X_train, y_train).score(X_test, y_test)
top2 = Pipeline([("select", LevelSelector((-2, -1))),
                 ("clf", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)))])
scores["RGFlow top two levels (16)"] = top2.fit(Z_train, y_train).score(Z_test, y_test)
raw = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
scores["raw pixels (64)"] = raw.fit(X_train, y_train).score(X_test, y_test)
for name, score in scores.items():
    print(f"{name:28s} accuracy {score:.3f}")
plt.show()
