r"""The kinship as an operator: :math:`K = ZZ^\top/m` applied through the genotypes.

:math:`Z` holds the standardised genotypes of :func:`kinmix.grm`: each variant mean-imputed
and scaled, :math:`z_{ij} = (g_{ij} - \mu_j)\,/\,\sigma_j` with :math:`\mu_j` the mean of the
observed dosages, :math:`\sigma_j^2 = \sum_{i\,\text{observed}} (g_{ij}-\mu_j)^2 / n` and
:math:`z_{ij} = 0` where :math:`g_{ij}` is missing. Constant variants get :math:`1/\sigma_j = 0`
and are not counted in :math:`m`.

The dosages are kept as ``int8`` codes (0, 1, 2, and :data:`MISSING`) in blocks of variants
that are *chromosome-pure*; every product decodes one block at a time to floating point.
The leave-one-chromosome-out (LOCO) kinships

.. math::

    K_{-c} = \frac{1}{m_{-c}} \sum_{j \notin c} z_j z_j^\top

of all chromosomes are applied in the same pass: column :math:`v_k` of a block of vectors
:math:`V` carries a group label :math:`c_k` (a chromosome, or :data:`WHOLE_GENOME`), and the
product is :math:`Z(M \odot Z^\top V)` with the mask :math:`M_{jk} = [\,j \notin c_k\,]`.
Because blocks are chromosome-pure, the mask only selects which columns a block touches.
Each block costs two GEMMs of :math:`2 n b C` flops (b variants, C columns), in the
operator's ``precision`` (float32 by default); vectors and accumulators stay float64.

Decoding a block costs about a third of its GEMMs at a few hundred columns, and the CG
stages pass over the same blocks dozens of times. So the decoded blocks of NumPy codes are
kept for later passes while their total stays within ``cache_gib`` (at n = 5,000 and
20,000 model variants, 0.4 GB in float32: everything; at n = m = 50,000, 10 GB: the
blocks that fit, the rest decoded on every pass). The cached block is the array the
decode would give, so products are bitwise the same with or without the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError

#: Code of a missing dosage in the int8 storage.
MISSING = -1
#: Group label of a column that uses the kinship of every chromosome.
WHOLE_GENOME = -1
#: Default cap (GiB) on the decoded blocks an operator keeps between passes.
CACHE_GIB = 2.0


def is_dask(array: Any) -> bool:
    """Whether ``array`` is a Dask array."""
    return hasattr(array, "dask") and hasattr(array, "chunks")


@dataclass(frozen=True)
class Block:
    """A chromosome-pure run of variants: columns ``start:stop`` of the codes."""

    start: int
    stop: int
    group: int
    in_model: bool


def encode(dosages: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hard-call dosages (n×b float, NaN missing) → int8 codes, mean, 1/sd and observed count.

    Raises :class:`kinmix.InputError` unless every observed dosage is 0, 1 or 2.
    """
    G = np.asarray(dosages, dtype=np.float64)
    missing = np.isnan(G)
    observed = ~missing
    filled = np.where(missing, 0.0, G)
    if not np.all((filled == 0) | (filled == 1) | (filled == 2)):
        raise InputError(
            "genotypes must be hard calls 0, 1 or 2 (NaN for missing) for the matrix-free "
            "scan, which stores them as int8; round dosages first or use kinmix.scan."
        )
    counts = observed.sum(axis=0)
    n = G.shape[0]
    mean = np.where(counts > 0, filled.sum(axis=0) / np.maximum(counts, 1), 0.0)
    centred = np.where(missing, 0.0, G - mean)
    sd = np.sqrt((centred * centred).sum(axis=0) / n)
    keep = sd > 1e-12 * np.maximum(np.abs(mean), 1.0)
    inv_sd = np.where(keep, 1.0 / np.where(keep, sd, 1.0), 0.0)
    codes = np.where(missing, MISSING, filled).astype(np.int8)
    return codes, mean, inv_sd, counts


def decode_standardised(codes: np.ndarray, mean: np.ndarray, inv_sd: np.ndarray, dtype) -> Any:
    """Standardised block :math:`Z_b` (n×b) in ``dtype``, zero where missing."""
    Z = codes.astype(dtype)
    Z -= mean.astype(dtype)
    Z *= inv_sd.astype(dtype)
    missing = codes == MISSING
    if missing.any():
        Z[missing] = 0
    return Z


def decode_dosages(codes: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Mean-imputed dosages (n×b float64) of a block of codes."""
    G = codes.astype(np.float64)
    missing = codes == MISSING
    if missing.any():
        G = np.where(missing, mean, G)
    return G


def _block_product(codes, mean, inv_sd, V, columns, dtype) -> np.ndarray:
    """:math:`Z_b Z_b^\\top V[:, columns]`, scattered into an n×C float64 array."""
    if not columns.size:
        return np.zeros(V.shape)
    Z = decode_standardised(codes, mean, inv_sd, dtype)
    return _scattered_product(Z, np.ascontiguousarray(V[:, columns], dtype=dtype), columns,
                              V.shape)


def _scattered_product(Z, Vc, columns, shape) -> np.ndarray:
    """:math:`Z Z^\\top V_c` (``Vc`` = V[:, columns] in Z's type) scattered into zeros."""
    out = np.zeros(shape)
    out[:, columns] = Z @ (Z.T @ Vc)
    return out


def _block_draw(codes, mean, inv_sd, U, columns, dtype) -> np.ndarray:
    """:math:`Z_b U[:, columns]` scattered into an n×C float64 array (U is b×C)."""
    if not columns.size:
        return np.zeros((codes.shape[0], U.shape[1]))
    return _scattered_draw(decode_standardised(codes, mean, inv_sd, dtype), U, columns)


def _scattered_draw(Z, U, columns) -> np.ndarray:
    out = np.zeros((Z.shape[0], U.shape[1]))
    out[:, columns] = Z @ np.ascontiguousarray(U[:, columns], dtype=Z.dtype)
    return out


def _tree_sum(parts: list) -> Any:
    """Pairwise sum: (p0+p1), (p2+p3), … then pairs of those, an odd last one carried up.

    The order of the float64 additions over blocks; :class:`PairwiseSum` adds in the very
    same order one part at a time, so the NumPy and Dask products are bitwise equal.
    """
    while len(parts) > 1:
        parts = [sum(parts[i : i + 2]) for i in range(0, len(parts), 2)]
    return parts[0]


class PairwiseSum:
    """Streaming form of :func:`_tree_sum` holding at most log2(parts) partial sums.

    A stack of (level, partial) merges two partials of one level as soon as both exist
    (p0+p1 at level 1, (p0+p1)+(p2+p3) at level 2, …); :meth:`total` folds what is left
    from the top, ``below + above``, which is how :func:`_tree_sum` carries an odd last
    part up. Floating-point addition commutes exactly, so only this grouping matters.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, Any]] = []

    def add(self, part: Any) -> None:
        level = 0
        while self._stack and self._stack[-1][0] == level:
            part = self._stack.pop()[1] + part
            level += 1
        self._stack.append((level, part))

    def total(self) -> Any:
        if not self._stack:
            return None
        total = self._stack[-1][1]
        for _, partial in reversed(self._stack[:-1]):
            total = partial + total
        return total


@dataclass(frozen=True)
class GenotypeGRM:
    r"""Matrix-free kinship :math:`K = ZZ^\top/m` and its LOCO versions (see module notes).

    Build it with :meth:`from_genotypes`. ``codes`` is (n, m) int8 (NumPy, or a Dask array
    chunked by :attr:`blocks`), in the operator's own variant order; :attr:`order` maps it
    back to the caller's variants (``codes[:, i]`` is input variant ``order[i]``).

    Attributes
    ----------
    codes : array, shape (n, m)
    mean, inv_sd : ndarray, shape (m,)
        Mean observed dosage and :math:`1/\sigma` (0 for constant variants).
    observed : ndarray, shape (m,)
        Number of observed dosages.
    order : ndarray, shape (m,)
        Input index of each stored variant.
    blocks : tuple of Block
    groups : tuple
        Chromosome label of each group index.
    counts : ndarray, shape (len(groups),)
        Non-constant model variants per group; :math:`m_{-c}` = ``counts.sum() - counts[c]``.
    precision : numpy dtype
        Floating type of the block GEMMs.
    cache_bytes : int
        Cap on the decoded blocks kept between passes (NumPy codes only).
    """

    codes: Any
    mean: np.ndarray
    inv_sd: np.ndarray
    observed: np.ndarray
    order: np.ndarray
    blocks: tuple[Block, ...]
    groups: tuple
    counts: np.ndarray
    precision: np.dtype
    cache_bytes: int = int(CACHE_GIB * 2**30)
    _decoded: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.codes.shape[0])

    @property
    def m(self) -> int:
        """Number of stored variants."""
        return int(self.codes.shape[1])

    @property
    def distributed(self) -> bool:
        """Whether the codes are a Dask array."""
        return is_dask(self.codes)

    @classmethod
    def from_genotypes(
        cls,
        genotypes: Any,
        chromosomes: Sequence,
        *,
        model: Sequence[bool] | None = None,
        block_size: int = 1024,
        precision: str = "float32",
        cache_gib: float = CACHE_GIB,
    ) -> GenotypeGRM:
        r"""Encode genotypes once into int8 blocks.

        Parameters
        ----------
        genotypes : array_like, Dask array or PlinkGenotypes, shape (n, m)
            Hard-call dosages (0, 1, 2; NaN missing). Objects with ``read(index)`` (e.g.
            :class:`kinmix.io.plink.PlinkGenotypes`) are read one block at a time.
        chromosomes : sequence, length m
            Chromosome label of every variant.
        model : sequence of bool, length m, optional
            Which variants build the kinship (default all); the others are only tested.
        block_size : int
            Variants per block (blocks never straddle chromosomes).
        precision : {"float32", "float64"}
            Floating type of the block GEMMs.
        cache_gib : float
            Decoded blocks kept between passes, at most this many GiB (0: decode on every
            pass); see the module notes.
        """
        n, m = _shape(genotypes)
        labels = np.asarray(chromosomes)
        if labels.shape != (m,):
            raise InputError(
                f"chromosomes must hold one label per variant ({m}); got shape {labels.shape}."
            )
        in_model = np.ones(m, bool) if model is None else np.asarray(model, dtype=bool)
        if in_model.shape != (m,):
            raise InputError(f"model must hold one flag per variant ({m}).")
        if int(block_size) != block_size or block_size < 1:
            raise InputError(f"block_size must be a positive integer; got {block_size!r}.")
        if precision not in ("float32", "float64"):
            raise InputError(f"precision must be 'float32' or 'float64'; got {precision!r}.")
        if not cache_gib >= 0:
            raise InputError(f"cache_gib must be a number >= 0; got {cache_gib!r}.")
        groups = tuple(dict.fromkeys(labels.tolist()))
        group_of = {label: g for g, label in enumerate(groups)}
        group_index = np.array([group_of[label] for label in labels.tolist()], dtype=np.int64)
        order_parts, blocks, start = [], [], 0
        for g in range(len(groups)):
            for flag in (True, False):
                idx = np.flatnonzero((group_index == g) & (in_model == flag))
                for lo in range(0, idx.size, block_size):
                    part = idx[lo : lo + block_size]
                    order_parts.append(part)
                    blocks.append(Block(start, start + part.size, g, flag))
                    start += part.size
        order = np.concatenate(order_parts) if order_parts else np.empty(0, np.int64)
        if is_dask(genotypes):
            codes, mean, inv_sd, observed = _encode_dask(genotypes, order, blocks)
        else:
            codes, mean, inv_sd, observed = _encode_local(genotypes, n, order, blocks)
        counts = np.zeros(len(groups), dtype=np.int64)
        for b in blocks:
            if b.in_model:
                counts[b.group] += int(np.count_nonzero(inv_sd[b.start : b.stop]))
        if counts.sum() == 0:
            raise InputError("no model variant has non-zero variance: K cannot be built.")
        return cls(
            codes, mean, inv_sd, observed, order, tuple(blocks), groups, counts,
            np.dtype(precision), int(cache_gib * 2**30),
        )

    def loco_counts(self, column_groups: np.ndarray) -> np.ndarray:
        """:math:`m_{-c}` of each column (the whole count for :data:`WHOLE_GENOME`)."""
        total = int(self.counts.sum())
        own = np.where(column_groups >= 0, self.counts[np.maximum(column_groups, 0)], 0)
        counts = total - own
        if np.any(counts == 0):
            raise InputError(
                "a LOCO kinship would have no variant: every model variant is on one "
                "chromosome. Give variants on at least two chromosomes."
            )
        return counts

    def _columns(self, block: Block, column_groups: np.ndarray, active: np.ndarray) -> np.ndarray:
        return np.flatnonzero(active & (column_groups != block.group))

    def product(
        self, V: Any, column_groups: np.ndarray, *, active: np.ndarray | None = None,
        precision: Any = None,
    ) -> Any:
        r""":math:`K_{-c_k} v_k` for every column k of ``V`` (n×C), zero where not ``active``.

        ``V`` is a float64 NumPy array, or a single-chunk Dask array when the codes are
        distributed (the result is then lazy).
        """
        dtype = self.precision if precision is None else np.dtype(precision)
        column_groups = np.asarray(column_groups)
        active = np.ones(column_groups.size, bool) if active is None else active
        scale = 1.0 / self.loco_counts(column_groups)
        model = [b for b in self.blocks if b.in_model]
        if self.distributed:
            return self._product_dask(V, column_groups, active, dtype, model) * scale
        total, group, Vc = PairwiseSum(), None, None
        for b in model:
            columns = self._columns(b, column_groups, active)
            if columns.size:
                if b.group != group:  # the blocks of one chromosome share their columns
                    group, Vc = b.group, np.ascontiguousarray(V[:, columns], dtype=dtype)
                total.add(_scattered_product(self._standardised(b, dtype), Vc, columns,
                                             V.shape))
        out = total.total()
        return (np.zeros(V.shape) if out is None else out) * scale

    def _standardised(self, block: Block, dtype: Any) -> np.ndarray:
        """The decoded block :math:`Z_b` in ``dtype``, from the cache when it is there
        (it is put there while the cache stays within :attr:`cache_bytes`)."""
        key = (block.start, np.dtype(dtype).str)
        Z = self._decoded.get(key)
        if Z is None:
            Z = decode_standardised(
                self.codes[:, block.start : block.stop], self.mean[block.start : block.stop],
                self.inv_sd[block.start : block.stop], dtype,
            )
            held = sum(kept.nbytes for kept in self._decoded.values())
            if held + Z.nbytes <= self.cache_bytes:
                self._decoded[key] = Z
        return Z

    def dense(self) -> np.ndarray:
        """The whole-genome kinship K as an n×n float64 NumPy matrix (:math:`O(n^2m)`
        time, :math:`8n^2` bytes: for the exact path at moderate n)."""
        eye = np.eye(self.n)
        if self.distributed:
            import dask.array as da

            eye = da.from_array(eye, chunks=eye.shape)
        groups = np.full(self.n, WHOLE_GENOME)
        K = self.product(eye, groups, precision=np.float64)
        K = np.asarray(K.compute() if self.distributed else K)
        return 0.5 * (K + K.T)

    def _product_dask(self, V, column_groups, active, dtype, model) -> Any:
        import dask
        import dask.array as da

        Vd = V.rechunk(V.shape).to_delayed().ravel()[0]
        chunks = self.codes.to_delayed().ravel()
        task = dask.delayed(_block_product, pure=True)
        parts = []
        for index, b in enumerate(self.blocks):
            columns = self._columns(b, column_groups, active)
            if b.in_model and columns.size:
                parts.append(
                    task(chunks[index], self.mean[b.start : b.stop],
                         self.inv_sd[b.start : b.stop], Vd, columns, dtype)
                )
        if not parts:
            return da.zeros(V.shape, chunks=V.shape)
        return da.from_delayed(_tree_sum(parts), shape=V.shape, dtype=np.float64)

    def genetic_draws(
        self, column_groups: np.ndarray, rng: np.random.Generator
    ) -> Any:
        r"""Random genetic values :math:`Z_{-c_k} u_k / \sqrt{m_{-c_k}}`, :math:`u_k \sim N(0, I)`.

        Their covariance is :math:`K_{-c_k}`. The draws of ``u`` are made block by block in
        the stored order, so a seed gives the same values on NumPy and Dask.
        """
        column_groups = np.asarray(column_groups)
        active = np.ones(column_groups.size, bool)
        scale = 1.0 / np.sqrt(self.loco_counts(column_groups))
        C = column_groups.size
        draws = [rng.standard_normal((b.stop - b.start, C)) for b in self.blocks]
        if self.distributed:
            import dask
            import dask.array as da

            chunks = self.codes.to_delayed().ravel()
            task = dask.delayed(_block_draw, pure=True)
            parts = [
                task(chunks[i], self.mean[b.start : b.stop], self.inv_sd[b.start : b.stop],
                     draws[i], self._columns(b, column_groups, active), self.precision)
                for i, b in enumerate(self.blocks) if b.in_model
            ]
            total = da.from_delayed(_tree_sum(parts), shape=(self.n, C), dtype=np.float64)
            return total * scale
        total = PairwiseSum()
        for i, b in enumerate(self.blocks):
            columns = self._columns(b, column_groups, active)
            if b.in_model:
                total.add(
                    _scattered_draw(self._standardised(b, self.precision), draws[i], columns)
                    if columns.size else np.zeros((self.n, C))
                )
        return total.total() * scale

    def dosages(self, block: Block) -> np.ndarray:
        """Mean-imputed dosages (n×b float64) of one stored block (computed if Dask)."""
        codes = self.codes[:, block.start : block.stop]
        if self.distributed:
            codes = codes.compute()
        return decode_dosages(np.asarray(codes), self.mean[block.start : block.stop])


def _shape(genotypes: Any) -> tuple[int, int]:
    shape = getattr(genotypes, "shape", None)
    if shape is None or len(shape) != 2:
        raise InputError(
            "genotypes must be a two-dimensional array (samples × variants), a Dask array "
            "or an object with .shape and .read(index), e.g. kinmix.io.read_plink(...)."
        )
    return int(shape[0]), int(shape[1])


def _read(genotypes: Any, index: np.ndarray) -> np.ndarray:
    if hasattr(genotypes, "read") and not isinstance(genotypes, np.ndarray):
        return np.asarray(genotypes.read(index), dtype=np.float64)
    return np.asarray(genotypes[:, index], dtype=np.float64)


def _encode_local(genotypes, n, order, blocks):
    m = order.size
    codes = np.empty((n, m), dtype=np.int8)
    mean, inv_sd, observed = np.empty(m), np.empty(m), np.empty(m, dtype=np.int64)
    for b in blocks:
        c, mu, isd, obs = encode(_read(genotypes, order[b.start : b.stop]))
        codes[:, b.start : b.stop] = c
        mean[b.start : b.stop], inv_sd[b.start : b.stop] = mu, isd
        observed[b.start : b.stop] = obs
    return codes, mean, inv_sd, observed


def _encode_dask(genotypes, order, blocks):
    import dask
    import dask.array as da

    widths = tuple(b.stop - b.start for b in blocks)
    G = genotypes[:, order].rechunk({0: -1, 1: widths})
    encoded = dask.persist(
        *[dask.delayed(encode, nout=4)(part) for part in G.to_delayed().ravel()]
    )
    codes = da.concatenate(
        [da.from_delayed(e[0], shape=(G.shape[0], w), dtype=np.int8)
         for e, w in zip(encoded, widths, strict=True)],
        axis=1,
    ).rechunk({0: -1, 1: widths})
    stats = dask.compute(*[(e[1], e[2], e[3]) for e in encoded])
    codes = codes.persist()  # the blocks are already computed: this only gathers handles
    mean = np.concatenate([s[0] for s in stats])
    inv_sd = np.concatenate([s[1] for s in stats])
    observed = np.concatenate([s[2] for s in stats])
    return codes, mean, inv_sd, observed
