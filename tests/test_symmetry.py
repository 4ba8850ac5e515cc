"""Random symmetry transformations: exact invariance of the actions and uniform group elements."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from skphys.lattice import (
    XY,
    Ising,
    PathIntegral,
    Phi4,
    lattice_symmetries,
    random_symmetry_transform,
)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), side=st.integers(2, 5))
def test_theory_actions_are_invariant(seed, side):
    g = torch.Generator().manual_seed(seed)
    cases = [
        (Phi4((side, side), m2=-1.0, lam=0.7), torch.randn(6, side * side, generator=g,
                                                           dtype=torch.float64), "real"),
        (Ising((side, side + 1), temperature=2.0),
         torch.randint(2, (6, side * (side + 1)), generator=g).double() * 2 - 1, "spin"),
        (XY((side, side), temperature=1.0),
         2 * math.pi * torch.rand(6, side * side, generator=g, dtype=torch.float64), "angle"),
        (PathIntegral(side + 3, 2.0, "double_well"),
         torch.randn(6, side + 3, generator=g, dtype=torch.float64), "real"),
    ]
    for theory, x, field in cases:
        y = random_symmetry_transform(x, theory.shape, theory.symmetries, field_type=field,
                                      generator=g)
        torch.testing.assert_close(theory.action(y), theory.action(x), rtol=1e-12, atol=1e-9)
        if field == "angle":
            assert bool(((y >= 0) & (y < 2 * math.pi)).all())


def test_group_elements_are_uniform():
    # the images of one asymmetric 3 x 3 configuration: 9 translations x 8 point-group
    # elements = 72 distinct configurations, each drawn with probability 1/72
    x = torch.arange(9.0).reshape(1, 9).expand(14400, 9)
    y = random_symmetry_transform(x, (3, 3), lattice_symmetries((3, 3)),
                                  generator=torch.Generator().manual_seed(0))
    _, counts = np.unique(y.numpy(), axis=0, return_counts=True)
    assert len(counts) == 72
    assert stats.chisquare(counts).pvalue > 1e-3
    # without rotations, a 3 x 4 lattice: 12 translations x 4 reflections
    x = torch.arange(12.0).reshape(1, 12).expand(9600, 12)
    y = random_symmetry_transform(x, (3, 4), lattice_symmetries((3, 4)),
                                  generator=torch.Generator().manual_seed(1))
    _, counts = np.unique(y.numpy(), axis=0, return_counts=True)
    assert len(counts) == 48 and stats.chisquare(counts).pvalue > 1e-3
    # the flip: half of the rows change sign
    flips = random_symmetry_transform(torch.ones(4000, 4), (4,), ("z2",),
                                      generator=torch.Generator().manual_seed(2))
    assert abs(float((flips[:, 0] < 0).double().mean()) - 0.5) < 0.03


def test_bad_symmetries():
    x = torch.zeros(2, 8)
    with pytest.raises(ValueError, match="sites"):
        random_symmetry_transform(x, (3, 3), ("translation",))
    with pytest.raises(ValueError, match="rotation"):
        random_symmetry_transform(x, (2, 4), ("rotation",))
    with pytest.raises(ValueError, match="o2"):
        random_symmetry_transform(x, (8,), ("o2",), field_type="real")
