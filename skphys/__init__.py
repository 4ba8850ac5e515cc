"""skphys: scikit-learn-style machine-learning-physics estimators on PyTorch."""

from ._version import __version__

__all__ = ["__version__"]
