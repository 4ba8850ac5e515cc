r"""Elementwise maps between the real line and a bounded data interval (image pre-transforms).

A flow whose base space is the whole real line models data confined to an interval
``[low, high)`` (dequantized pixel intensities, say) badly at the edges: much of its mass
falls outside. Ending the flow with an elementwise bijector onto the interval puts it where the
data are, and the log-determinant of that map keeps the density normalized *on the data
scale*. Both maps act on fields ``(batch, channels, *shape)`` and follow
:class:`~skphys.flows.Bijector`: :meth:`forward` goes from the flow's space to the data, with
``log|det dx/dy|``.

* :class:`LogitMap` (RealNVP's pre-processing, Dinh et al. arXiv:1605.08803): the data are
  mapped to ``p = alpha + (1 - 2 alpha) (x - low) / (high - low)`` in ``[alpha, 1 - alpha)``
  and then to ``y = logit(p)``; the inverse, the logistic function, maps the real line onto the
  slightly wider interval ``(low - d, high + d)``, ``d = (high - low) alpha / (1 - 2 alpha)``,
  so that the data never sit where the logit is singular.
* :class:`AffineMap`: ``x = center + half_width * y``, i.e. the interval to ``[-1, 1)``; the
  flow then keeps its mass near the interval but not inside it.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from ._bijector import Bijector

__all__ = ["LogitMap", "AffineMap"]


def _check_interval(low: float, high: float) -> tuple[float, float]:
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"the data interval needs finite low < high, got ({low}, {high})")
    return low, high


def _sum_sites(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1).sum(1)


class LogitMap(Bijector):
    r"""``x = low + (high - low) (sigmoid(y) - alpha) / (1 - 2 alpha)``: the real line onto the
    data interval, elementwise.

    Parameters
    ----------
    low, high : float
        The data interval ``[low, high)``.
    alpha : float, default=0.05
        Margin: the data interval maps to ``[alpha, 1 - alpha)`` before the logit.

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import LogitMap
    >>> bijector = LogitMap(0.0, 17.0).double()
    >>> x = torch.tensor([[[[0.0, 8.5], [16.999, 3.0]]]], dtype=torch.float64)
    >>> y, log_det_inv = bijector.inverse(x)
    >>> x_back, log_det = bijector(y)
    >>> bool((x_back - x).abs().max() < 1e-12), bool((log_det + log_det_inv).abs().max() < 1e-12)
    (True, True)
    >>> round(float(y[0, 0, 0, 1]), 12)  # the middle of the interval maps to 0
    0.0
    """

    def __init__(self, low: float, high: float, alpha: float = 0.05):
        super().__init__()
        self.low, self.high = _check_interval(low, high)
        if not 0.0 < alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {alpha!r}")
        self.alpha = float(alpha)
        self._scale = (self.high - self.low) / (1.0 - 2.0 * self.alpha)
        margin = self._scale * self.alpha
        #: the open image of the real line, where the density lives
        self.support = (self.low - margin, self.high + margin)

    def forward(self, y):
        x = self.low + self._scale * (torch.sigmoid(y) - self.alpha)
        # log sigmoid'(y) = -softplus(y) - softplus(-y)
        log_det = math.log(self._scale) - F.softplus(y) - F.softplus(-y)
        return x, _sum_sites(log_det)

    def inverse(self, x):
        p = self.alpha + (x - self.low) / self._scale
        y = torch.log(p) - torch.log1p(-p)
        log_det = -math.log(self._scale) - torch.log(p) - torch.log1p(-p)
        return y, _sum_sites(log_det)


class AffineMap(Bijector):
    """``x = center + half_width * y``: ``[-1, 1)`` onto the data interval ``[low, high)``.

    Parameters
    ----------
    low, high : float
        The data interval.

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import AffineMap
    >>> x, log_det = AffineMap(0.0, 16.0)(torch.tensor([[[-1.0, 0.0, 1.0]]]))
    >>> x.tolist(), round(float(log_det[0]), 4)  # 3 sites times ln 8
    ([[[0.0, 8.0, 16.0]]], 6.2383)
    """

    def __init__(self, low: float, high: float):
        super().__init__()
        self.low, self.high = _check_interval(low, high)
        self.center, self.half_width = (self.low + self.high) / 2, (self.high - self.low) / 2
        #: the image of the real line, where the density lives
        self.support = (-math.inf, math.inf)

    def forward(self, y):
        n = y[0].numel()
        return self.center + self.half_width * y, y.new_full(
            y.shape[:1], n * math.log(self.half_width))

    def inverse(self, x):
        n = x[0].numel()
        return (x - self.center) / self.half_width, x.new_full(
            x.shape[:1], -n * math.log(self.half_width))
