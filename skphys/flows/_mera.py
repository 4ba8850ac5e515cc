r"""The MERA-like hierarchy of NeuralRG (Li & Wang, arXiv:1802.02840): an invertible RG.

RG step :math:`\ell` acts on the sublattice of stride :math:`b^\ell` (the sites still active
at that level). In the inference direction :math:`z = G^{-1}(x)` it applies a *disentangler*
to the ``b x ... x b`` blocks of that sublattice shifted by ``b / 2`` (they straddle the block
boundaries), then a *decimator* to the aligned blocks; the first site of every block (the one
on the stride :math:`b^{\ell+1}` sublattice) goes on to step :math:`\ell + 1`, the others are
frozen as the latent ("bulk") variables of level :math:`\ell`. The last step freezes all the
sites it acts on. The generator :math:`x = G(z)` runs the steps from the top down with the
block maps inverted. Latents keep the lattice layout: the level of a coordinate is a function
of its site (:func:`mera_levels`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ._bijector import Bijector
from ._fourier import FourierGaussian
from ._resize import check_larger

__all__ = ["max_levels", "mera_levels", "level_depths", "MERA"]


def _valuation(n: int, b: int) -> int:
    """Largest ``k`` with ``b**k`` dividing ``n`` (``n > 0``)."""
    k = 0
    while n % b == 0:
        n //= b
        k += 1
    return k


def max_levels(shape: tuple[int, ...], block_size: int = 2) -> int:
    """Number of RG levels of the full hierarchy: ``min_axis log_b(L_axis)`` (blocks fit).

    Examples
    --------
    >>> from skphys.flows import max_levels
    >>> max_levels((16, 16)), max_levels((16, 8)), max_levels((16, 16), block_size=4)
    (4, 3, 2)
    """
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 2:
        raise ValueError(f"block_size must be an int >= 2, got {block_size!r}")
    return min(_valuation(n, block_size) for n in shape)


def mera_levels(shape: tuple[int, ...], block_size: int = 2,
                n_levels: int | None = None) -> torch.Tensor:
    """RG level of every site (0 = finest): the latent layout of :class:`MERA`.

    A site whose coordinates are all multiples of :math:`b^k` but not all multiples of
    :math:`b^{k+1}` is frozen at level ``k``; the top level ``n_levels - 1`` holds every site of
    the stride :math:`b^{n_\\text{levels}-1}` sublattice.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents.
    block_size : int, default=2
        Block extent ``b``.
    n_levels : int, optional
        Number of levels; default :func:`max_levels`.

    Returns
    -------
    Tensor of int64 and shape ``shape``

    Examples
    --------
    >>> from skphys.flows import mera_levels
    >>> mera_levels((16, 16)).flatten().bincount().tolist()
    [192, 48, 12, 4]
    >>> mera_levels((8,)).tolist()
    [2, 0, 1, 0, 2, 0, 1, 0]
    """
    top = (max_levels(shape, block_size) if n_levels is None else n_levels) - 1
    levels = torch.full(shape, top, dtype=torch.long)
    for level in reversed(range(top)):  # finer levels overwrite: a site keeps the lowest
        coarse = torch.zeros(shape, dtype=torch.bool)
        coarse[(slice(None, None, block_size ** (level + 1)),) * len(shape)] = True
        levels[~coarse] = level
    return levels


def level_depths(depth: int | Sequence[int], n_levels: int) -> tuple[int, ...]:
    """Disentangler-decimator pairs of each level: ``depth`` for all, or one count per level.

    Examples
    --------
    >>> from skphys.flows import level_depths
    >>> level_depths(2, 3), level_depths([1, 2, 4], 3)
    ((2, 2, 2), (1, 2, 4))
    """
    if isinstance(depth, (int, np.integer)) and not isinstance(depth, bool):
        depths = (int(depth),) * n_levels
    elif isinstance(depth, Sequence) and not isinstance(depth, str):
        depths = tuple(depth)
        if len(depths) != n_levels:
            raise ValueError(
                f"depth needs one count per level: {n_levels} for this hierarchy, got "
                f"{len(depths)} ({list(depths)})"
            )
    else:
        raise ValueError(f"depth must be an int or a sequence of ints, got {depth!r}")
    for d in depths:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"depth must be ints >= 1, got {depth!r}")
    return tuple(int(d) for d in depths)


def _spread(block: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A "block map" for the cones: every site of a block that holds a marked site is marked."""
    hit = block.flatten(1).amax(1).view(-1, *(1,) * (block.dim() - 1))
    return hit.expand_as(block), block.new_zeros(block.shape[0])


class MERA(Bijector):
    """Hierarchical bijector ``x = G(z)`` on fields ``(batch, channels, *shape)``.

    Parameters
    ----------
    shape : tuple of int
        Lattice extents; each RG step needs extents divisible by ``block_size`` (see
        :func:`max_levels`).
    block_size : int
        Even block extent ``b``.
    n_levels : int
        Number of RG steps (levels of latents), ``1 <= n_levels <= max_levels``.
    make_block : callable
        ``make_block(block_shape, n_blocks) -> Bijector`` builds one block bijector, acting
        on fields ``(batch * n_blocks, channels, *block_shape)``: the ``n_blocks`` blocks of
        the level for each configuration, the block index varying fastest; called twice per
        disentangler-decimator pair. One bijector serves all blocks of a level, so its
        parameters are shared by them, unless it uses ``n_blocks`` for parameters per
        position (:class:`~skphys.flows.BlockMLP`'s ``n_positions``).
    depth : int or sequence of int, default=1
        Disentangler-decimator pairs per level (NeuralRG uses one; more widen the range of
        the map within a level), or one count per level, finest first (a pair at the finest
        level costs about ``b**d`` times one at the next).
    fourier_layer : bool, default=False
        End ``G`` with a :class:`~skphys.flows.FourierGaussian` acting on the boundary field
        (a learnable scale per momentum orbit, linear, hence odd). It carries the long-range
        Gaussian correlations of the field, which the local blocks would otherwise have to
        build level by level (for the Ising dual the quadratic part of the action couples
        all sites). The map stays bijective and exact, but every latent then moves every
        site: :meth:`causal_cone` is the whole lattice.
    output_map : Bijector, optional
        An elementwise bijector that ``G`` ends with (after the Fourier layer), e.g.
        :class:`~skphys.flows.LogitMap` onto the interval of bounded data (pixel
        intensities); its log-determinant is part of ``G``'s, so densities are on the data
        scale. Being elementwise, it leaves :meth:`causal_cone` as it is.

    Examples
    --------
    >>> import torch
    >>> from skphys.flows import MERA, block_coupling
    >>> mera = MERA((8, 8), 2, 3, lambda block, n_blocks: block_coupling(
    ...     1, block, n_layers=2, hidden_channels=(4,), z2_equivariant=False)).double()
    >>> z = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0),
    ...                 dtype=torch.float64)
    >>> x, log_det = mera(z)
    >>> z_back, log_det_inv = mera.inverse(x)
    >>> bool((z_back - z).abs().max() < 1e-12), tuple(log_det.shape)
    (True, (3,))
    >>> site = torch.zeros(8, 8, dtype=torch.bool)
    >>> site[3, 3] = True
    >>> int(mera.causal_cone(site).sum())  # latents that can move site (3, 3)
    28
    """

    def __init__(self, shape: tuple[int, ...], block_size: int, n_levels: int,
                 make_block: Callable[[tuple[int, ...], int], Bijector],
                 depth: int | Sequence[int] = 1, *, fourier_layer: bool = False,
                 output_map: Bijector | None = None):
        super().__init__()
        self.shape = tuple(shape)
        self.block_size = block_size
        self.n_levels = n_levels
        if block_size < 2 or block_size % 2:
            raise ValueError(f"block_size must be an even int >= 2, got {block_size!r}")
        limit = max_levels(self.shape, block_size)
        if not 1 <= n_levels <= limit:
            raise ValueError(
                f"n_levels must be between 1 and {limit} for lattice {self.shape} with "
                f"block_size={block_size}, got {n_levels!r}"
            )
        self.depths = level_depths(depth, n_levels)
        #: stage indices of every level: its disentangler-decimator pairs, applied in order
        self.stages = [range(sum(self.depths[:level]), sum(self.depths[:level + 1]))
                       for level in range(n_levels)]
        block_shape = (block_size,) * len(self.shape)
        blocks_per_stage = [math.prod(n // block_size**(level + 1) for n in self.shape)
                            for level in range(n_levels) for _ in self.stages[level]]
        self.disentanglers = nn.ModuleList(make_block(block_shape, n_blocks)
                                           for n_blocks in blocks_per_stage)
        self.decimators = nn.ModuleList(make_block(block_shape, n_blocks)
                                        for n_blocks in blocks_per_stage)
        self.boundary = FourierGaussian(self.shape) if fourier_layer else None
        self.output_map = output_map
        for level in range(n_levels):  # gather and scatter indices (not saved: derived)
            for shifted in (False, True):
                order = self._block_order(level, shifted)
                self.register_buffer(f"_gather_{level}_{int(shifted)}", order, persistent=False)
                self.register_buffer(f"_scatter_{level}_{int(shifted)}", torch.argsort(order),
                                     persistent=False)

    # -- gather / scatter -------------------------------------------------------------------
    def _block_order(self, level: int, shifted: bool) -> torch.Tensor:
        """Sites of the level's sublattice (row-major) in block order, blocks shifted by
        ``b / 2`` when ``shifted``: entry ``k * b**d + j`` is site ``j`` of block ``k``."""
        extents = tuple(n // self.block_size**level for n in self.shape)
        b, d = self.block_size, len(extents)
        sites = torch.arange(math.prod(extents)).view(extents)
        if shifted:
            sites = torch.roll(sites, (-(b // 2),) * d, tuple(range(d)))
        split = sites.reshape(*(m for n in extents for m in (n // b, b)))
        return split.permute(*range(0, 2 * d, 2), *range(1, 2 * d, 2)).reshape(-1)

    def _sublattice(self, level: int) -> tuple[slice, ...]:
        return (slice(None), slice(None)) + (slice(None, None, self.block_size**level),) * len(
            self.shape)

    def _blockwise(self, block_map: Callable, field: torch.Tensor, level: int, shifted: bool):
        """Apply ``block_map`` to every (shifted) block of the level's sublattice ``field``;
        return the field and its log-det.

        The blocks are gathered with one ``index_select`` (and scattered back with one) along
        the flattened sites, in the order of :meth:`_block_order`.
        """
        batch, channels = field.shape[:2]
        gather = getattr(self, f"_gather_{level}_{int(shifted)}")
        scatter = getattr(self, f"_scatter_{level}_{int(shifted)}")
        block_shape = (self.block_size,) * len(self.shape)
        size = math.prod(block_shape)
        n_blocks = gather.numel() // size
        blocks = field.reshape(batch, channels, -1).index_select(2, gather)
        blocks = blocks.view(batch, channels, n_blocks, size).transpose(1, 2)
        out, log_det = block_map(blocks.reshape(batch * n_blocks, channels, *block_shape))
        out = out.reshape(batch, n_blocks, channels, size).transpose(1, 2)
        out = out.reshape(batch, channels, -1).index_select(2, scatter).view(field.shape)
        return out, log_det.view(batch, -1).sum(1)

    # -- the bijection ----------------------------------------------------------------------
    def forward(self, z):
        x, log_det = self.forward_inner(z)
        if self.output_map is not None:
            x, ld = self.output_map(x)
            log_det = log_det + ld
        return x, log_det

    def inverse(self, x):
        if self.output_map is None:
            return self.inverse_inner(x)
        y, log_det = self.output_map.inverse(x)
        z, ld = self.inverse_inner(y)
        return z, log_det + ld

    def forward_inner(self, z):
        """``G`` without its output map: the field ``y`` on the real line, and its log-det."""
        x, log_det = z, z.new_zeros(z.shape[0])
        for level in reversed(range(self.n_levels)):
            index = self._sublattice(level)
            sub = x[index]
            for stage in reversed(self.stages[level]):
                sub, ld_dec = self._blockwise(self.decimators[stage], sub, level, False)
                sub, ld_dis = self._blockwise(self.disentanglers[stage], sub, level, True)
                log_det = log_det + ld_dec + ld_dis
            x = x.clone()
            x[index] = sub
        if self.boundary is not None:
            x, ld = self.boundary(x)
            log_det = log_det + ld
        return x, log_det

    def inverse_inner(self, y):
        """The inverse of :meth:`forward_inner` (from ``y``, before the output map)."""
        z, log_det = y, y.new_zeros(y.shape[0])
        if self.boundary is not None:
            z, log_det = self.boundary.inverse(z)
        for level in range(self.n_levels):
            index = self._sublattice(level)
            sub = z[index]
            for stage in self.stages[level]:
                sub, ld_dis = self._blockwise(self.disentanglers[stage].inverse, sub, level, True)
                sub, ld_dec = self._blockwise(self.decimators[stage].inverse, sub, level, False)
                log_det = log_det + ld_dis + ld_dec
            z = z.clone()
            z[index] = sub
        return z, log_det

    def transfer_from(self, source: Bijector) -> None:
        """Set the blocks of the levels ``source`` has from it, for a lattice with more.

        The block maps act on ``b x ... x b`` blocks whatever the lattice, so each level of
        ``source`` is copied to the same level here (finest first: the same depths are
        needed there); the coarser levels a larger lattice adds keep their own
        initialization, the Fourier layer is interpolated
        (:meth:`FourierGaussian.transfer_from`) and the output map copied.
        """
        self._check_source(source)
        assert isinstance(source, MERA)
        check_larger(source.shape, self.shape)
        shared = self.depths[:source.n_levels]
        if source.block_size != self.block_size or source.depths != shared:
            raise ValueError(
                f"cannot transfer a MERA of block_size={source.block_size} and depths "
                f"{source.depths} into one of block_size={self.block_size} and depths "
                f"{self.depths}: the levels present on both lattices must have the same "
                f"blocks and depths"
            )
        if (source.boundary is None) != (self.boundary is None) or (
                type(source.output_map) is not type(self.output_map)):
            raise ValueError("cannot transfer a MERA into one with another Fourier layer or "
                             "output map: the architectures differ")
        # stages run finest level first: the source's are the first ones here
        blocks: list[tuple[nn.Module, nn.Module]] = [
            *zip(self.disentanglers, source.disentanglers),
            *zip(self.decimators, source.decimators)]
        if self.output_map is not None and source.output_map is not None:
            blocks.append((self.output_map, source.output_map))
        try:
            for mine, theirs in blocks:
                mine.load_state_dict(theirs.state_dict())
        except RuntimeError as error:  # other block networks
            raise ValueError(f"cannot transfer the MERA's blocks: {error}") from None
        if self.boundary is not None and source.boundary is not None:
            self.boundary.transfer_from(source.boundary)

    def causal_cone(self, sites: torch.Tensor) -> torch.Tensor:
        """Latent sites whose change can move one of ``sites`` (boolean masks of ``shape``).

        Walking ``G`` backwards from the output, every block (shifted, then aligned) that
        holds an influential site makes all its sites influential; at each level the sites
        frozen there that are influential belong to the cone, the others continue upwards.
        With ``fourier_layer`` the cone of any site is the whole lattice.
        """
        return self._influence("sites", sites, towards_output=False)

    def receptive_field(self, latents: torch.Tensor) -> torch.Tensor:
        """Sites that a change of one of ``latents`` (boolean masks of ``shape``) can move.

        The dual of :meth:`causal_cone`, walking ``G`` forwards from the latents: at each
        level from the top down, every block (aligned, then shifted) that holds an
        influential site makes all its sites influential. Site ``s`` is in the receptive
        field of latent ``i`` exactly when ``i`` is in the causal cone of ``s``. With
        ``fourier_layer`` it is the whole lattice.

        Examples
        --------
        >>> import torch
        >>> from skphys.flows import MERA, block_coupling
        >>> mera = MERA((8, 8), 2, 3, lambda block, n_blocks: block_coupling(
        ...     1, block, n_layers=2, hidden_channels=(4,), z2_equivariant=False))
        >>> latent = torch.zeros(8, 8, dtype=torch.bool)
        >>> latent[0, 1] = True  # a level-0 latent: a 4 x 4 region
        >>> int(mera.receptive_field(latent).sum())
        16
        """
        return self._influence("latents", latents, towards_output=True)

    def _influence(self, name: str, mask: torch.Tensor, *, towards_output: bool) -> torch.Tensor:
        """The sites a change of ``mask`` can reach through the blocks of ``G``: towards the
        output (top level down, aligned then shifted blocks) or back towards the latents (the
        reverse order). Any site reaches every site through the Fourier layer."""
        if tuple(mask.shape) != self.shape:
            raise ValueError(f"{name} must have shape {self.shape}, got {tuple(mask.shape)}")
        if self.boundary is not None:
            return mask.any().expand(self.shape).clone()
        levels: Iterable[int] = range(self.n_levels)
        shifts = (True, False)
        if towards_output:
            levels, shifts = reversed(range(self.n_levels)), (False, True)
        reach = mask.to(torch.float32).view(1, 1, *self.shape)
        for level in levels:
            index = self._sublattice(level)
            sub = reach[index]
            for _ in self.stages[level]:
                for shifted in shifts:
                    sub, _ = self._blockwise(_spread, sub, level, shifted)
            reach = reach.clone()
            reach[index] = sub
        return reach.view(self.shape) > 0

    @property
    def levels(self) -> torch.Tensor:
        """Level of every site, as :func:`mera_levels`."""
        return mera_levels(self.shape, self.block_size, self.n_levels)
