"""Torch building blocks of the sequence estimators (no scikit-learn here).

- :class:`RecurrentTranslator`, :class:`MultiplicativeRNN`: causal potential-to-density
  networks (:class:`skphys.PhysicsTranslator`);
- :class:`LatentRecurrence`, :class:`QuadraticMap`: encoder, latent recurrence linear in the
  state and decoder (:class:`skphys.BottleneckDistiller`).
"""

from ._latent import TARGETS, LatentRecurrence, QuadraticMap
from ._recurrent import CELLS, MultiplicativeRNN, RecurrentTranslator

__all__ = ["CELLS", "MultiplicativeRNN", "RecurrentTranslator", "LatentRecurrence",
           "QuadraticMap", "TARGETS"]
