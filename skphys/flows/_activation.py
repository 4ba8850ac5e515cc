r"""``tanh`` through the logistic function, for the small networks of the flows.

On the CPU wheel of torch 2.13 the ``tanh`` kernel is several times slower than ``sigmoid``,
and the block MLPs of :class:`~skphys.flows.MERA` flows spend a large share of a training
step in it (:doc:`/results` has the measurements).
:func:`tanh` computes the same function as
:math:`\tanh x = \operatorname{sign}(x)\,(1 - 2\sigma(-2|x|))`, exactly odd, with the exact
derivative :math:`1 - \tanh^2 x` from the saved output (``aten::tanh_backward``, as
``torch.tanh`` does); on other devices it is ``torch.tanh`` itself. Its error is a few units
of rounding (absolute: near the origin it loses the relative accuracy of ``tanh``).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["tanh", "Tanh"]


class _LogisticTanh(torch.autograd.Function):
    """``sign(x) (1 - 2 sigmoid(-2|x|))``, with the backward pass of ``tanh``.

    Written in ``|x|`` and the sign so that it is exactly odd (a flow built to commute with
    ``phi -> -phi`` stays exactly equivariant).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return torch.copysign(torch.sigmoid(x.abs().mul_(-2)).mul_(-2).add_(1), x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """Hyperbolic tangent, through ``sigmoid`` on the CPU (see the module), else ``torch.tanh``.

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import tanh
    >>> x = torch.linspace(-30, 30, 10001, dtype=torch.float64)
    >>> float((tanh(x) - torch.tanh(x)).abs().max()) < 1e-15
    True
    """
    if x.device.type != "cpu":
        return torch.tanh(x)
    return _LogisticTanh.apply(x)


class Tanh(nn.Module):
    """:func:`tanh` as a module (a drop-in for ``torch.nn.Tanh``).

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import Tanh
    >>> x = torch.linspace(-5, 5, 101)
    >>> torch.allclose(Tanh()(x), torch.nn.Tanh()(x), atol=1e-6)
    True
    >>> torch.equal(Tanh()(-x), -Tanh()(x))  # exactly odd
    True
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tanh(x)
