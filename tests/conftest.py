"""Shared pytest configuration: the ``--device`` option and the hypothesis profiles."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))

# The tests use tiny lattices, where extra intra-op threads only add overhead (and slow down
# badly when anything else uses the cores). SKPHYS_TEST_THREADS overrides.
torch.set_num_threads(int(os.environ.get("SKPHYS_TEST_THREADS", "1")))

settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=50, deadline=None)
# HYPOTHESIS_PROFILE=thorough: a longer property search before changing a bijector or sampler
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_addoption(parser):
    parser.addoption(
        "--device",
        default="cpu",
        help="torch device the tests run on: 'cpu' (default), 'cuda', or 'auto' "
        "(CUDA when present)",
    )


@pytest.fixture(scope="session")
def device(pytestconfig) -> str:
    """The device named by ``--device`` (CUDA tests are skipped where CUDA is absent)."""
    name = pytestconfig.getoption("--device")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("--device cuda requested but CUDA is not available")
    return name
