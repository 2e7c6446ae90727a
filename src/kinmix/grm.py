r"""Kinship (genetic relationship matrix) from genotypes, and its LOCO versions in one pass.

Each kinship variant j is mean-imputed and centred, and for the *standardised* kinship also
scaled to unit variance:

.. math::

    z_{ij} = (g_{ij} - \bar g_j)/\sigma_j \quad(\text{standardized}),\qquad
    z_{ij} = g_{ij} - \bar g_j \quad(\text{centered, GEMMA's } \texttt{-gk 1}),

with :math:`\bar g_j` the mean of the observed dosages (which also replaces the missing
ones) and :math:`\sigma_j^2` the mean square of the centred imputed column. Then
:math:`K = ZZ^\top/m` over the m kept variants, so the standardised kinship has mean
diagonal 1. Constant variants, and variants below the MAF or above the missingness
threshold, are not kinship variants.

*LOCO.* With :math:`S_c = Z_cZ_c^\top` the Gram matrix of the kinship variants on
chromosome c, :math:`S = \sum_c S_c` and :math:`m_c` their number,

.. math::

    K = S/m, \qquad K_{-c} = (S - S_c)/(m - m_c).

:class:`StreamedKinship` reads the genotype file once. Given a folder, it writes every
:math:`S_c` there as a .npy file as soon as the chromosome is done, and after the pass sums
them into S (written there too), so the pass holds one n×n matrix; a LOCO kinship is then
one file read plus a chunked subtraction of another, and no n×n matrix stays in memory
between chromosomes. Without a folder, S is kept with the last chromosome's Gram and the
others are recomputed from that chromosome's dosages when its LOCO kinship is wanted (one
extra :math:`O(n^2 m_c)` product per chromosome). With fewer kinship variants than samples,
the standardised variants themselves are kept (n×m < n×n) and every decomposition is a thin
SVD of a subset of their columns (:func:`kinmix.economic_qs_linear`): no n×n matrix is
formed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .impute import mean_impute
from .io.genotypes import chromosome_labels
from .linalg import DEFAULT_RTOL, economic_qs_linear

#: The kinds of kinship: :math:`(g-\bar g)/\sigma` or :math:`g-\bar g`.
KINDS = ("standardized", "centered")
#: Default number of variants per block read from a file.
BLOCK_SIZE = 4096
#: LAPACK driver of the kinships' eigendecompositions (see :func:`eigh_upper_in_place`).
EIGH_DRIVER = "evd"
#: A function returning a chromosome's dosages as consecutive blocks of variants.
BlockSource = Callable[[], Iterable[np.ndarray]]


@dataclass(frozen=True)
class KinshipColumns:
    r"""Kinship variants of one block: ``Z`` (n × kept, Fortran order) and per-variant info.

    ``keep`` (m,) marks the kinship variants among the block's columns; ``center`` and
    ``scale`` (m,) are :math:`\bar g_j` and :math:`\sigma_j` (1 for the centred kind).
    """

    Z: np.ndarray
    keep: np.ndarray
    center: np.ndarray
    scale: np.ndarray


def kinship_columns(
    G: Any,
    *,
    kind: str = "standardized",
    maf: float = 0.0,
    max_missing: float = 1.0,
    overwrite: bool = False,
) -> KinshipColumns:
    r"""Mean-impute, filter and centre (and for ``"standardized"`` scale) dosage columns.

    Imputation is :func:`kinmix.impute.mean_impute`'s. A column is kept when it is not
    constant, its minor allele frequency (from the observed dosages, :math:`\bar g/2`
    folded to :math:`\le 1/2`) is at least ``maf`` and its missing fraction at most
    ``max_missing``. With ``overwrite``, a float64 Fortran-ordered ``G`` is worked on in
    place (and may become ``Z``) instead of copied.
    """
    _check_kind(kind)
    G = np.array(G, dtype=np.float64, order="F", copy=None if overwrite else True)
    if G.ndim != 2:
        raise InputError(f"G must be two-dimensional; got shape {G.shape}.")
    n = G.shape[0]
    imputed = mean_impute(G)
    counts, means = imputed.nobs, imputed.mean
    G -= means
    std = np.sqrt(np.einsum("ij,ij->j", G, G) / max(n, 1))
    frequency = means / 2
    keep = std > 1e-12 * np.maximum(np.abs(means), 1.0)
    keep &= np.minimum(frequency, 1 - frequency) >= maf
    keep &= 1 - counts / max(n, 1) <= max_missing
    scale = std if kind == "standardized" else np.ones_like(std)
    Z = G if keep.all() else G[:, keep]
    Z /= scale[keep]
    return KinshipColumns(np.asfortranarray(Z), keep, means, np.where(keep, scale, 1.0))


def standardize(G: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean-impute and standardise the columns of ``G`` (n×m, NaN = missing).

    Returns the standardised non-constant columns and the boolean mask of kept columns.
    """
    columns = kinship_columns(G)
    return columns.Z, columns.keep


def grm(G: Any, *, block_size: int = BLOCK_SIZE, kind: str = "standardized") -> np.ndarray:
    r"""Genetic relationship matrix :math:`K = ZZ^\top/m` of standardised (or centred) genotypes.

    Parameters
    ----------
    G : array_like, shape (n, m)
        Dosages (NaN = missing) or any object with a ``read(slice)`` method returning such
        blocks, e.g. a genotype file from :func:`kinmix.io.open_genotypes`.
    block_size : int
        Variants standardised at a time (memory is O(n·block_size + n²)).
    kind : {"standardized", "centered"}
        Standardised variants, or only centred ones (GEMMA's ``-gk 1``).
    """
    _check_kind(kind)
    if hasattr(G, "read") and not isinstance(G, np.ndarray):
        n, m = G.shape
        blocks = (G.read(slice(i, i + block_size)) for i in range(0, m, block_size))
    else:
        G = np.asarray(G, dtype=np.float64)
        if G.ndim != 2:
            raise InputError(f"G must be two-dimensional; got shape {G.shape}.")
        n, m = G.shape
        blocks = (G[:, i : i + block_size] for i in range(0, m, block_size))
    gram = np.zeros((n, n), order="F")
    used = 0
    for block in blocks:
        Z = kinship_columns(block, kind=kind).Z
        _add_gram(gram, Z, 1.0)
        used += Z.shape[1]
    if used == 0:
        raise InputError("G has no variant with non-zero variance: no kinship can be built.")
    gram /= used
    return _symmetrised(gram)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}.")


def _add_gram(gram: np.ndarray, Z: np.ndarray, sign: float) -> None:
    r"""``gram``'s upper triangle += sign·ZZᵀ, in place (BLAS syrk; ``gram`` Fortran-ordered)."""
    if Z.shape[1] == 0:
        return
    from scipy.linalg.blas import dsyrk

    dsyrk(sign, np.asfortranarray(Z), beta=1.0, c=gram, overwrite_c=1)


def _symmetrised(upper: np.ndarray) -> np.ndarray:
    """Copy the upper triangle of ``upper`` onto its lower one, in place."""
    lower = np.tril_indices_from(upper, -1)
    upper[lower] = upper.T[lower]
    return upper


def eigh_upper_in_place(
    gram: np.ndarray, *, rtol: float = DEFAULT_RTOL, driver: str = EIGH_DRIVER
) -> Any:
    r"""Economic eigendecomposition ``((Q0, None), S0)`` of the matrix whose upper triangle is
    ``gram`` (Fortran order), destroying ``gram``.

    ``driver`` is LAPACK's: ``"evd"`` (divide and conquer, the default: 20–25 % faster
    than ``"evr"`` on kinships of a few thousand samples; the eigenvectors overwrite
    ``gram`` and the workspace is :math:`2n^2`, a peak of three n×n matrices) or
    ``"evr"`` (relatively robust representations; :math:`O(n)` workspace and a new n×n
    array for the eigenvectors, a peak of two). Both read only the upper triangle. Eigenvalues
    at most ``rtol`` times the largest are dropped (as in :func:`kinmix.economic_qs`);
    ``Q0`` is a view of the eigenvectors of the kept ones.
    """
    from scipy.linalg import eigh

    S, Q = eigh(gram, lower=False, overwrite_a=True, check_finite=False, driver=driver)
    top = float(S[-1]) if S.size else 0.0
    if top <= 0.0 or S[0] < -rtol * top:
        raise InputError(
            "the kinship is not positive semi-definite (smallest eigenvalue "
            f"{S[0]:.3g}, largest {top:.3g}); check the genotypes used for it."
        )
    first = int(np.searchsorted(S, rtol * top, side="right"))
    return (Q[:, first:], None), S[first:]


def _save_matrix(path: Path, matrix: np.ndarray) -> None:
    """Write ``matrix`` to the .npy file ``path`` atomically (temporary file + rename),
    without waiting for the disk (a caller that needs it flushes it:
    :func:`kinmix.checkpoint.make_durable`)."""
    from .checkpoint import write_atomically

    def write(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            np.save(handle, matrix)

    write_atomically(path, write, durable=False)


def _read_matrix(path: Path, n: int) -> np.ndarray:
    """The n×n Fortran-ordered float64 matrix of the .npy file ``path`` (a new array)."""
    with path.open("rb") as handle:
        _npy_header(handle, path, n)
        out = np.empty((n, n), order="F")
        if handle.readinto(memoryview(out.reshape(-1, order="A")).cast("B")) != out.nbytes:
            raise InputError(f"{path} is truncated; delete it (or pass --restart) and rerun.")
    return out


def _add_file(out: np.ndarray, path: Path, sign: float, columns: int = 256) -> None:
    """``out`` += sign × the n×n matrix of the .npy file ``path``, read ``columns`` at a
    time (so that no second n×n array is held)."""
    n = out.shape[0]
    buffer = np.empty((n, columns), order="F")
    with path.open("rb") as handle:
        _npy_header(handle, path, n)
        for start in range(0, n, columns):
            part = buffer[:, : min(columns, n - start)]
            view = memoryview(part.reshape(-1, order="A")).cast("B")
            if handle.readinto(view) != part.nbytes:
                raise InputError(f"{path} is truncated; delete it (or pass --restart) and rerun.")
            if sign > 0:
                out[:, start : start + part.shape[1]] += part
            else:
                out[:, start : start + part.shape[1]] -= part


def _npy_header(handle: Any, path: Path, n: int) -> None:
    """Read the header of a .npy file and check it holds an n×n Fortran float64 matrix."""
    from numpy.lib import format as npy

    major, _ = npy.read_magic(handle)
    read = npy.read_array_header_1_0 if major == 1 else npy.read_array_header_2_0
    shape, fortran, dtype = read(handle)
    if shape != (n, n) or not fortran or dtype != np.float64:
        raise InputError(
            f"{path} does not hold the expected {n}×{n} kinship Gram matrix; delete it (or "
            "pass --restart) and rerun."
        )


@dataclass(frozen=True)
class StreamedKinship:
    r"""The kinship of one genotype source and all its LOCO versions, from one pass.

    Build it with :meth:`from_genotypes`. ``counts`` maps every chromosome of the source to
    its number :math:`m_c` of kinship variants; ``n_variants`` is :math:`m = \sum m_c`.
    On the full-rank path S (n×n) is either ``gram`` (its upper triangle, in memory) or the
    file ``folder / "gram.npy"``, with each chromosome's :math:`S_c` in the file
    ``folder / stored[c]``; ``kept`` is the last chromosome's :math:`S_c` from a pass
    without a folder. On the low-rank path ``factor`` holds Z (n×m).
    """

    n: int
    kind: str
    counts: dict[str, int]
    variant_chrom: np.ndarray
    keep: np.ndarray
    center: np.ndarray
    scale: np.ndarray
    gram: np.ndarray | None = None
    factor: np.ndarray | None = None
    factor_chrom: np.ndarray | None = None
    kept: dict[str, np.ndarray] = field(default_factory=dict)
    folder: Path | None = None
    stored: dict[str, str] = field(default_factory=dict)

    @property
    def n_variants(self) -> int:
        """Number m of kinship variants."""
        return int(sum(self.counts.values()))

    @property
    def low_rank(self) -> bool:
        """Whether the kinship is kept as its factor Z (fewer kinship variants than samples)."""
        return self.factor is not None

    @classmethod
    def from_genotypes(
        cls,
        genotypes: Any,
        *,
        samples: np.ndarray | None = None,
        kind: str = "standardized",
        maf: float = 0.0,
        max_missing: float = 1.0,
        block_size: int = BLOCK_SIZE,
        low_rank: bool | None = None,
        loco: bool = True,
        folder: str | Path | None = None,
        on_block: Callable[[int], None] | None = None,
    ) -> StreamedKinship:
        """Read ``genotypes`` (a :class:`kinmix.io.genotypes.Genotypes`) once, by chromosome.

        ``samples`` selects rows of the file (default all); ``low_rank`` forces the factor
        path (default: when the file has fewer variants than selected samples). On the
        full-rank path with a ``folder`` (an existing directory), S and, with ``loco``,
        every chromosome's :math:`S_c` are written there as they complete and none is kept
        in memory (written without waiting for the disk: a caller whose folder must
        survive a crash flushes them, :func:`kinmix.checkpoint.make_durable`); without one,
        S is kept and, with ``loco``, the last chromosome's Gram too (one more n×n matrix
        until its LOCO kinship is taken, which consumes it).
        ``on_block(count)`` is called after each block of ``count`` variants (progress).
        """
        _check_kind(kind)
        if not 0.0 <= maf <= 0.5:
            raise InputError(f"maf must lie in [0, 0.5]; got {maf}.")
        if not 0.0 <= max_missing <= 1.0:
            raise InputError(f"max_missing must lie in [0, 1]; got {max_missing}.")
        chrom = chromosome_labels(genotypes.variants)
        n = genotypes.shape[0] if samples is None else len(samples)
        m = chrom.shape[0]
        if low_rank is None:
            low_rank = m < n
        folder = None if folder is None or low_rank else Path(folder)
        order = list(dict.fromkeys(chrom))
        keep = np.zeros(m, dtype=bool)
        center, scale = np.zeros(m), np.ones(m)
        counts: dict[str, int] = {}
        apart = loco and not low_rank and len(order) > 1
        # With a folder each S_c goes to a file and S is summed from them after the pass,
        # so the pass holds one n×n matrix.
        on_disk = folder is not None and apart
        gram = None if low_rank or on_disk else np.zeros((n, n), order="F")
        last = None
        stored: dict[str, str] = {}
        pieces: list[np.ndarray] = []
        for i, c in enumerate(order):
            target = gram
            if apart and (on_disk or c == order[-1]):
                last = target = np.zeros((n, n), order="F") if last is None else last
            counts[c] = 0
            for index in _blocks(np.flatnonzero(chrom == c), block_size):
                columns = kinship_columns(
                    genotypes.read(index, samples=samples),
                    kind=kind,
                    maf=maf,
                    max_missing=max_missing,
                    overwrite=True,
                )
                keep[index], center[index], scale[index] = (
                    columns.keep,
                    columns.center,
                    columns.scale,
                )
                counts[c] += columns.Z.shape[1]
                if low_rank:
                    pieces.append(columns.Z)
                else:
                    _add_gram(target, columns.Z, 1.0)
                if on_block is not None:
                    on_block(len(index))
            if on_disk:
                stored[c] = f"gram-{i:04d}.npy"
                _save_matrix(folder / stored[c], last)
                last.fill(0.0)
        if sum(counts.values()) == 0:
            raise InputError(
                f"{genotypes.path}: no variant passes the kinship filters (non-constant, "
                f"MAF ≥ {maf}, missing ≤ {max_missing}); lower --maf or give --grm-bfile."
            )
        kept = {}
        if on_disk:
            gram, last = last, None
            for name in stored.values():
                _add_file(gram, folder / name, 1.0)
        if folder is not None:
            _save_matrix(folder / "gram.npy", gram)
            gram = None
        elif last is not None:
            gram += last
            kept[order[-1]] = last
        factor = np.concatenate(pieces, axis=1) if low_rank else None
        return cls(
            n=n,
            kind=kind,
            counts=counts,
            variant_chrom=chrom,
            keep=keep,
            center=center,
            scale=scale,
            gram=gram,
            factor=factor,
            factor_chrom=chrom[keep] if low_rank else None,
            kept=kept,
            folder=folder,
            stored=stored,
        )

    def _upper(self) -> np.ndarray:
        """The upper triangle of S (a new n×n array when S is on disk, else ``gram``)."""
        if self.gram is not None:
            return self.gram
        return _read_matrix(self.folder / "gram.npy", self.n)

    # -- the full kinship ---------------------------------------------------------------
    def matrix(self) -> np.ndarray:
        """The kinship K = S/m (a new n×n array)."""
        if self.low_rank:
            return self.factor @ self.factor.T / self.n_variants
        return _symmetrised(self.full_upper())

    def full_upper(self) -> np.ndarray:
        """Upper triangle of K = S/m (n×n, Fortran order, a new array), full-rank path."""
        if self.gram is not None:
            return np.asfortranarray(self.gram / self.n_variants)
        upper = self._upper()
        upper /= self.n_variants
        return upper

    def qs(self) -> Any:
        """Economic eigendecomposition ``((Q0, None), S0)`` of K."""
        if self.low_rank:
            return economic_qs_linear(self.factor / np.sqrt(self.n_variants))
        return eigh_upper_in_place(self.full_upper())

    # -- leave one chromosome out -------------------------------------------------------
    def _others(self, chrom: str) -> int:
        if chrom not in self.counts:
            raise InputError(
                f"chromosome {chrom!r} is not in the kinship's genotypes "
                f"(they have {', '.join(self.counts)})."
            )
        m = self.n_variants - self.counts[chrom]
        if m == 0:
            raise InputError(
                f"LOCO needs kinship variants outside chromosome {chrom}; all "
                f"{self.n_variants} are on it. Use --no-loco or a kinship from more chromosomes."
            )
        return m

    def loco_upper(self, chrom: str, blocks: BlockSource | None = None) -> Any:
        r"""Upper triangle of :math:`K_{-c}` (n×n, Fortran order, a new array), full-rank path.

        :math:`S_c` is read from its file, or is the Gram kept from the pass (taking it
        consumes it), or is recomputed from ``blocks()``, an iterable of the chromosome's
        dosages (samples × variants, the chromosome's variants in file order, split in
        consecutive blocks) as read for the pass — typically the very blocks the scan reads.
        """
        m = self._others(chrom)
        if chrom in self.stored:
            upper = self._upper()
            _add_file(upper, self.folder / self.stored[chrom], -1.0)
        elif chrom in self.kept:
            upper = self.kept.pop(chrom)
            np.subtract(self.gram, upper, out=upper)
        else:
            upper = self._upper()
            if upper is self.gram:
                upper = upper.copy(order="F")
            if self.counts[chrom]:
                if blocks is None:
                    raise InputError(f"the dosages of chromosome {chrom} are needed for LOCO.")
                self._subtract_chromosome(upper, chrom, blocks())
        upper /= m
        return upper

    def loco_matrix(self, chrom: str, blocks: BlockSource | None = None) -> np.ndarray:
        """:math:`K_{-c}`, the kinship without chromosome ``chrom`` (a new n×n array)."""
        if self.low_rank:
            Z = self.factor[:, self.factor_chrom != chrom]
            return Z @ Z.T / self._others(chrom)
        return _symmetrised(self.loco_upper(chrom, blocks))

    def loco_qs(self, chrom: str, blocks: BlockSource | None = None) -> Any:
        """Economic eigendecomposition of :math:`K_{-c}` (see :meth:`loco_upper`)."""
        if self.low_rank:
            m = self._others(chrom)
            return economic_qs_linear(self.factor[:, self.factor_chrom != chrom] / np.sqrt(m))
        return eigh_upper_in_place(self.loco_upper(chrom, blocks))

    def _subtract_chromosome(
        self, upper: np.ndarray, chrom: str, blocks: Iterable[np.ndarray]
    ) -> None:
        """``upper`` −= :math:`S_c`, with the pass's centres, scales and kept variants."""
        on = np.flatnonzero(self.variant_chrom == chrom)
        start = 0
        for G in blocks:
            index = on[start : start + G.shape[1]]
            start += G.shape[1]
            keep = self.keep[index]
            Z = np.array(G[:, keep], dtype=np.float64, order="F")
            center = self.center[index][keep]
            mean_impute(Z, mean=center)
            Z -= center
            Z /= self.scale[index][keep]
            _add_gram(upper, Z, -1.0)
        if start != on.shape[0]:
            raise InputError(
                f"chromosome {chrom} has {on.shape[0]} variants but {start} were given."
            )


def _blocks(index: np.ndarray, size: int) -> Sequence[np.ndarray]:
    return [index[i : i + size] for i in range(0, index.shape[0], size)]
