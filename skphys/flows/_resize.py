"""Lattice functions of a flow re-expressed on a larger lattice (size transfer).

A flow fitted on one lattice holds two kinds of size-dependent state besides its
size-agnostic convolution kernels: functions of the lattice momentum (the scales of a
:class:`~skphys.flows.FourierGaussian` layer) and kernels over all lattice offsets (the weights
of an :class:`~skphys.flows.EquivariantVelocity`). These functions carry them to a lattice
with the same number of dimensions and no smaller extents.
"""

from __future__ import annotations

import torch

__all__ = ["check_larger", "interpolate_momenta", "embed_offsets", "orbit_sums"]


def check_larger(source: tuple[int, ...], target: tuple[int, ...]) -> None:
    """ValueError unless ``target`` has the dimension of ``source`` and no smaller extent."""
    if len(source) != len(target) or any(t < s for s, t in zip(source, target)):
        raise ValueError(
            f"a flow on the lattice {tuple(source)} moves only to a lattice of the same "
            f"dimension with no smaller extent, got {tuple(target)}"
        )


def interpolate_momenta(values: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """A periodic function of the lattice momentum, sampled on the momenta of ``shape``.

    ``values`` holds the function on the momenta ``2 pi n / S`` of its own lattice ``S``
    (``values.shape``); each target momentum ``2 pi m / T`` lies at the fractional source
    index ``m S / T``, where the function is interpolated linearly along each axis, with
    periodic wrap-around. The momenta both lattices share (every ``T / S``-th one for an
    integer ratio) keep their values exactly; the interpolation commutes with reflections and
    axis permutations of the momentum grid, so a function of momentum orbits stays one.

    Examples
    --------
    >>> import torch
    >>> from skphys.flows._resize import interpolate_momenta
    >>> interpolate_momenta(torch.tensor([0.0, 1.0, 2.0, 1.0]), (8,)).tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0, 1.5, 1.0, 0.5]
    """
    out = values
    for axis, (s, t) in enumerate(zip(values.shape, shape)):
        position = torch.arange(t, dtype=torch.float64, device=values.device) * (s / t)
        low = position.floor().long()
        frac = (position - low).to(values.dtype).view(-1, *(1,) * (values.dim() - axis - 1))
        below = out.index_select(axis, low % s)
        above = out.index_select(axis, (low + 1) % s)
        out = below + frac * (above - below)
    return out


def _multiplicity(folded: torch.Tensor, extent: int) -> torch.Tensor:
    """Offsets of one axis with the folded coordinate ``folded``: 1 for 0 and ``extent / 2``,
    2 otherwise (``d`` and ``extent - d``)."""
    single = (folded == 0) | (2 * folded == extent)
    return torch.where(single, 1.0, 2.0).to(torch.float64)


def embed_offsets(kernel: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """A reflection-symmetric periodic kernel over lattice offsets, moved to the larger
    lattice ``shape``.

    ``kernel`` has the source lattice shape in its leading dimensions (offsets ``d``, any
    trailing dimensions are carried along). The target offset ``d`` takes the source value at
    the same folded offset ``min(d, S - d)`` per axis, and zero where that offset does not
    exist on the source lattice. The total weight of each folded offset is kept: where the
    source lattice identifies ``d`` with ``-d`` (``d = S / 2``) but the target does not, the
    value is shared between the two target offsets, so that a field slowly varying on the
    scale of the source lattice sees the same convolution.

    Examples
    --------
    >>> import torch
    >>> from skphys.flows._resize import embed_offsets
    >>> embed_offsets(torch.tensor([4.0, 1.0, 0.5, 1.0]), (8,)).tolist()
    [4.0, 1.0, 0.25, 0.0, 0.0, 0.0, 0.25, 1.0]
    """
    source = tuple(kernel.shape[:len(shape)])
    device = kernel.device
    grids = torch.meshgrid(*(torch.arange(n, device=device) for n in shape), indexing="ij")
    index, factor = [], torch.ones(shape, dtype=torch.float64, device=device)
    valid = torch.ones(shape, dtype=torch.bool, device=device)
    for grid, s, t in zip(grids, source, shape):
        folded = torch.minimum(grid, t - grid)
        valid &= folded <= s // 2
        factor = factor * _multiplicity(folded, s) / _multiplicity(folded, t)
        index.append(folded.clamp(max=s // 2))
    moved = kernel[tuple(index)]
    scale = (factor * valid).to(kernel.dtype).view(*shape, *(1,) * (kernel.dim() - len(shape)))
    return moved * scale


def orbit_sums(values: torch.Tensor, labels: torch.Tensor, n_orbits: int) -> torch.Tensor:
    """Sum of ``values`` (lattice shape leading, trailing dimensions kept) over each orbit of
    ``labels``: ``(n_orbits, *trailing)``."""
    flat = values.reshape(labels.numel(), *values.shape[labels.dim():])
    out = flat.new_zeros(n_orbits, *flat.shape[1:])
    return out.index_add_(0, labels.flatten().to(flat.device), flat)
