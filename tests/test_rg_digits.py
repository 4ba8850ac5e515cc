"""RGFlow on images: dequantization, the logit pre-transform, bits per dimension, the level
selector and inpainting without a theory."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.pipeline import Pipeline

import skphys
from skphys import Adam, MERAFlow, RGFlow
from skphys.flows import LogitMap
from skphys.preprocessing import Dequantizer, LevelSelector, bits_per_dim

FROZEN = Adam(1e-12)  # one step of it leaves the flow at its initialization, G = identity


def _integers(shape, n_levels: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_levels, shape)


def test_bits_per_dim_is_the_code_length_on_either_scale():
    """A density constant on unit bins is the discrete law itself: its bits per dimension on
    dequantized data are the exact -mean log2 P(k), on the integer scale (bin width 1) and on
    the scale [0, 1) (density n**D times larger, bin width 1/n)."""
    n, k = 5, np.array([[0, 1], [4, 4], [2, 0]])
    p = np.array([[0.1, 0.2, 0.3, 0.15, 0.25], [0.3, 0.3, 0.1, 0.1, 0.2]])  # per dimension
    log_p = np.log(p[[0, 1], k]).sum(1)  # log P(k) of each row
    exact = -log_p.mean() / (2 * math.log(2))
    assert bits_per_dim(log_p, 2) == pytest.approx(exact, rel=1e-12)
    assert bits_per_dim(log_p + 2 * math.log(n), 2, bin_width=1 / n) == pytest.approx(
        exact, rel=1e-12)
    with pytest.raises(ValueError, match="bin_width"):
        bits_per_dim(log_p, 2, bin_width=0.0)
    with pytest.raises(ValueError, match="1-D"):
        bits_per_dim(log_p[:, None], 2)


def test_dequantizer_adds_unit_noise_and_inverts():
    X = _integers((50, 6), 17, 0)
    deq = Dequantizer(random_state=np.random.RandomState(0)).fit(X)
    assert deq.n_levels_ == X.max() + 1 and deq.data_range_ == (0.0, float(X.max() + 1))
    first, second = deq.transform(X), deq.transform(X)
    assert np.all((first >= X) & (first < X + 1)) and not np.array_equal(first, second)
    assert np.array_equal(deq.inverse_transform(first), X)
    # uniform noise: mean 1/2, variance 1/12 (300 draws: 5 standard errors)
    noise = first - X
    assert abs(noise.mean() - 0.5) < 5 * math.sqrt(1 / 12 / noise.size)
    assert deq.get_feature_names_out().tolist() == [f"x{i}" for i in range(6)]
    with pytest.raises(ValueError, match="non-negative integers"):
        Dequantizer().fit(X + 0.5)
    with pytest.raises(ValueError, match="non-negative integers"):
        Dequantizer().fit(-X)
    with pytest.raises(ValueError, match="beyond n_levels=3"):
        Dequantizer(n_levels=3).fit(X)
    with pytest.raises(ValueError, match="beyond the fitted n_levels_"):
        Dequantizer(n_levels=4).fit(X % 4).transform(X)


def test_rg_flow_density_with_data_range_is_normalized_on_the_data_scale(tmp_path):
    """The logit map's log-det is in score_samples: the density of a (briefly trained) flow
    on a 2-site lattice integrates to 1 over the image of the map, (-d, 5 + d)^2."""
    X = Dequantizer(random_state=0).fit_transform(_integers((400, 2), 5, 1))
    flow = MERAFlow(data_range=(0, 5), depth=1, fourier_layer=False)
    rg = RGFlow(lattice_shape=(2,), flow=flow, max_iter=10, validation_fraction=0.0,
                dtype="float64", random_state=0).fit(X)
    d = 5 * 0.05 / 0.9
    edges = np.linspace(-d, 5 + d, 301)
    mid = (edges[1:] + edges[:-1]) / 2
    grid = np.stack(np.meshgrid(mid, mid), -1).reshape(-1, 2)
    total = np.exp(rg.score_samples(grid)).sum() * (edges[1] - edges[0]) ** 2
    assert abs(total - 1) < 2e-3
    rg.save(tmp_path / "rg.pt")  # the output map is rebuilt from flow__data_range
    loaded = skphys.load(tmp_path / "rg.pt")
    assert loaded.flow.data_range == (0, 5)
    np.testing.assert_array_equal(loaded.score_samples(X[:5]), rg.score_samples(X[:5]))
    with pytest.raises(ValueError, match=r"flow__data_range=\(0, 5\)"):
        rg.score_samples(grid + 6)
    with pytest.raises(ValueError, match=r"flow__data_range=\(0, 5\)"):
        RGFlow(lattice_shape=(2,), flow=flow, max_iter=1).fit(X - 1)
    with pytest.raises(TypeError, match="flow__data_range"):
        RGFlow(lattice_shape=(2,), flow=MERAFlow(data_range=5), max_iter=1).fit(X)
    with pytest.raises(ValueError, match="flow__data_range"):
        RGFlow(lattice_shape=(2,), flow=MERAFlow(data_range=(5, 0)), max_iter=1).fit(X)


def test_dequantize_draws_fresh_noise_so_the_fit_cannot_learn_the_draw():
    """Rows of one integer vector, dequantized once: fitted to that one noise draw, the flow
    concentrates on it (its density there far above 1, that of fresh draws below); with
    flow__dequantize=True every step sees fresh noise in the same bins, so the density of the
    training rows and of fresh draws agree and, by Jensen, stay at most about 1 (the uniform
    law of the bins, log density 0)."""
    k = np.full((16, 2), 2)
    X, fresh = (Dequantizer(5, random_state=s).fit_transform(k) for s in (0, 1))
    gaps = {}
    for dequantize in (False, True):
        flow = MERAFlow(data_range=(0, 5), depth=1, fourier_layer=False,
                        dequantize=dequantize)
        rg = RGFlow(lattice_shape=(2,), flow=flow, max_iter=300, validation_fraction=0.0,
                    random_state=0).fit(X)
        train, test = rg.score_samples(X).mean(), rg.score_samples(fresh).mean()
        gaps[dequantize] = train - test
        if dequantize:
            assert train < 0.2 and test < 0.2
    assert gaps[False] > 1.0 and abs(gaps[True]) < 0.2
    with pytest.raises(ValueError, match="dequantize=True needs data_range"):
        RGFlow(lattice_shape=(2,), flow=MERAFlow(dequantize=True), max_iter=1).fit(X)
    with pytest.raises(ValueError, match="whole unit bins"):
        RGFlow(lattice_shape=(2,), flow=MERAFlow(data_range=(0, 4.5), dequantize=True),
               max_iter=1).fit(X)


def test_inpaint_without_theory_samples_the_models_conditional():
    """With G = identity and a Laplace prior the model's conditional of the masked sites is
    the prior itself, before the logit map: E|y| = 1, E y = 0; the other sites stay. The
    trajectories (a quarter period of a Gaussian as wide as the model's samples) nearly
    decorrelate a site in one step, where trajectories of length 1 give a lag-1
    autocorrelation of about 0.75."""
    X = np.random.default_rng(2).uniform(0.5, 16.5, (64, 16))
    flow = MERAFlow(data_range=(0, 17), prior="laplace", depth=1, fourier_layer=False)
    rg = RGFlow(lattice_shape=(4, 4), flow=flow, max_iter=1, optimizer=FROZEN,
                validation_fraction=0.0, dtype="float64", random_state=0).fit(X)
    mask = np.zeros(16, dtype=bool)
    mask[[5, 6, 9, 10]] = True
    out = rg.inpaint(X[:8], mask, n_samples=61, n_burnin=30, n_chains=4)  # 16 per chain
    assert out.shape == (8, 61, 16)
    assert np.array_equal(out[:, :, ~mask], np.broadcast_to(X[:8, None, ~mask], (8, 61, 12)))
    logit = LogitMap(0, 17).double()
    x = out[:, :, mask]
    assert x.min() > logit.support[0] and x.max() < logit.support[1]
    y = logit.inverse(torch.as_tensor(x))[0].numpy()
    assert abs(np.abs(y).mean() - 1) < 0.12 and abs(y.mean()) < 0.12
    out = rg.inpaint(X[:8], mask, n_samples=400, n_burnin=30, n_chains=4)
    y = logit.inverse(torch.as_tensor(out[:, :, mask]))[0].numpy().reshape(8, 100, 4, 4)
    y = y - y.mean(1, keepdims=True)  # (row, step, chain, site)
    assert (y[:, :-1] * y[:, 1:]).mean() / y.var(1).mean() < 0.5


def test_level_selector_keeps_the_top_levels_of_an_rg_pipeline():
    X = Dequantizer(random_state=0).fit_transform(_integers((40, 64), 17, 3))
    rg = RGFlow(lattice_shape=(8, 8), flow=MERAFlow(data_range=(0, 17), depth=1,
                                                    fourier_layer=False),
                max_iter=2, validation_fraction=0.0, random_state=0).set_output(transform="pandas")
    pipe = Pipeline([("rg", rg), ("select", LevelSelector((-2, -1)))]).fit(X)
    Z = pipe.transform(X)
    assert isinstance(Z, pd.DataFrame) and Z.shape == (40, 16)  # levels 1 and 2: 12 + 4
    assert pipe["select"].levels_.tolist() == [1, 2]
    assert all(name.startswith(("z_l1_", "z_l2_")) for name in Z.columns)
    np.testing.assert_array_equal(Z.to_numpy(), rg.transform(X).to_numpy()[
        :, np.isin(rg.levels_, [1, 2])])
    assert LevelSelector(0).fit(rg.transform(X)).support_.sum() == 48
    with pytest.raises(ValueError, match="set_output"):
        LevelSelector().fit(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="levels has 3"):
        LevelSelector(3).fit(rg.transform(X))
    with pytest.raises(ValueError, match="no RG level"):
        LevelSelector().fit(pd.DataFrame(np.zeros((2, 2)), columns=["a", "z_l0_x0"]))
    with pytest.raises(TypeError, match="levels"):
        LevelSelector("top").fit(rg.transform(X))


def test_blocks_by_position_fit_data_whose_law_changes_across_the_lattice():
    """Independent sites with means -3, 0, 3, 6 on the four blocks of an (8,) lattice: shared
    blocks give a density invariant under shifts by a block, so they cannot place the four
    means; with translation_invariant=False the flow learns them (samples per block), and its
    held-out likelihood is far higher."""
    rng = np.random.default_rng(4)
    means = np.repeat([-3.0, 0.0, 3.0, 6.0], 2)
    X, fresh = (means + rng.normal(size=(n, 8)) for n in (1000, 2000))
    scores = {}
    for invariant in (True, False):
        flow = MERAFlow(n_levels=1, depth=2, fourier_layer=False,
                        translation_invariant=invariant)
        rg = RGFlow(lattice_shape=(8,), flow=flow, max_iter=200, validation_fraction=0.0,
                    random_state=0).fit(X)
        scores[invariant] = rg.score_samples(fresh).mean()
    exact = -8 * 0.5 * math.log(2 * math.pi * math.e)  # the law of the data, per row
    assert scores[False] > exact - 0.3 and scores[True] < exact - 2
    samples = rg.sample(2000)
    np.testing.assert_allclose(samples.mean(0), means, atol=0.3)
    with pytest.raises(ValueError, match="translation_invariant=False needs block=Coupling"):
        RGFlow(lattice_shape=(8,), flow=MERAFlow(translation_invariant=False,
                                                 block=skphys.ODEBlock()), max_iter=1).fit(X)
    with pytest.raises(ValueError, match="not Z2-equivariant"):
        RGFlow(lattice_shape=(8,), flow=MERAFlow(translation_invariant=False,
                                                 z2_equivariant=True), max_iter=1).fit(X)
