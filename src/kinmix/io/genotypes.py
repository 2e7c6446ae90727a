"""One entry point for genotype files: :func:`open_genotypes` and the :class:`Genotypes` protocol.

Every reader (PLINK 1, BGEN, PLINK 2) opens its file without reading dosages and then
serves blocks of variants on demand through :meth:`Genotypes.read`, so a genome never has
to fit in memory. Whatever the format, a block is an n × k float64 array (Fortran order) of
dosages in [0, 2] counting allele ``variants.a1`` (the *counted* allele), NaN where missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from ..errors import InputError

#: Columns of :attr:`Genotypes.samples`.
SAMPLE_COLUMNS = ("fid", "iid")
#: Columns every :attr:`Genotypes.variants` table starts with.
VARIANT_COLUMNS = ("chrom", "variant", "pos", "a1", "a2")


@runtime_checkable
class Genotypes(Protocol):
    """An opened genotype file: sample and variant tables, and block reads of dosages.

    Attributes
    ----------
    path : Path
        The main file (``.bed``, ``.bgen`` or ``.pgen``), for messages and fingerprints.
    samples : DataFrame
        Columns ``fid, iid`` (str) in file order, n rows.
    variants : DataFrame
        Columns ``chrom`` (str), ``variant`` (str), ``pos`` (int), ``a1``, ``a2`` (str) in
        file order, m rows; ``a1`` is the allele the dosages count.
    shape : tuple of int
        ``(n, m)``.
    """

    path: Path
    samples: pd.DataFrame
    variants: pd.DataFrame

    @property
    def shape(self) -> tuple[int, int]: ...

    def read(self, variants: Any = ..., samples: Any = None) -> np.ndarray:
        """Dosages of the selected variants (n_selected × k, float64, Fortran order)."""
        ...


class GenotypeFile:
    """What the readers share: :attr:`shape` and :meth:`read`, which checks the selections
    and hands the positions to the format's ``_read_positions(columns, rows)``.

    Subclasses are frozen dataclasses with at least ``path``, ``samples`` and ``variants``
    (the fields of :class:`Genotypes`).
    """

    samples: pd.DataFrame
    variants: pd.DataFrame

    @property
    def shape(self) -> tuple[int, int]:
        """(samples, variants)."""
        return len(self.samples), len(self.variants)

    def read(self, variants: Any = slice(None), samples: Any = None) -> np.ndarray:
        """Dosages of the selected variants (float64, Fortran order, NaN where missing).

        Parameters
        ----------
        variants : slice, int array or bool mask
            Variants to read, indexing :attr:`variants`.
        samples : int array, optional
            Positions of the samples to read, indexing :attr:`samples`; all by default.

        Returns
        -------
        ndarray, shape (n_selected, k)
            Count of allele ``a1`` per sample and variant.
        """
        columns = variant_positions(variants, self.shape[1])
        rows = None if samples is None else np.asarray(samples, dtype=np.intp)
        return self._read_positions(columns, rows)

    def _read_positions(self, columns: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        """Dosages at variant positions ``columns`` for sample positions ``rows`` (all if
        None)."""
        raise NotImplementedError


def shared_labels(values: pd.Series | np.ndarray) -> np.ndarray:
    """``values`` as str in an object array whose equal entries are one shared object.

    A column of chromosome names holds a few distinct labels for millions of variants; as
    Python strings each entry would cost some 50 bytes, shared it costs one pointer. A
    Series is factorised as it is stored (no Python string per entry), an array by
    :func:`numpy.unique`.
    """
    if isinstance(values, pd.Series):
        codes, names = pd.factorize(values, use_na_sentinel=False)
    else:
        names, codes = np.unique(np.asarray(values), return_inverse=True)
    labels = np.array([str(name) for name in names], dtype=object)
    return labels[np.asarray(codes).reshape(-1)]


def chromosome_labels(variants: pd.DataFrame) -> np.ndarray:
    """The chromosome of every variant (``variants["chrom"]``) as :func:`shared_labels`."""
    return shared_labels(variants["chrom"])


def variant_positions(selection: Any, m: int) -> np.ndarray:
    """Integer positions (sorted as given) of a slice, integer array or boolean mask of m."""
    if isinstance(selection, slice):
        return np.arange(m)[selection]
    selection = np.asarray(selection)
    if selection.dtype == bool:
        if selection.shape != (m,):
            raise InputError(
                f"a boolean variant mask must have one entry per variant ({m}); "
                f"it has shape {selection.shape}."
            )
        return np.flatnonzero(selection)
    if selection.ndim == 0:
        selection = selection.reshape(1)
    if selection.dtype.kind not in "iu":
        raise InputError(
            f"variants must be a slice, integer positions or a boolean mask; got dtype "
            f"{selection.dtype}."
        )
    positions = selection.astype(np.int64)
    positions = np.where(positions < 0, positions + m, positions)
    if len(positions) and (positions.min() < 0 or positions.max() >= m):
        raise InputError(f"variant positions must lie in [0, {m}); got {selection.tolist()[:5]}.")
    return positions


def open_genotypes(
    *,
    bfile: str | Path | None = None,
    bgen: str | Path | None = None,
    sample: str | Path | None = None,
    pgen: str | Path | None = None,
    count_a1: bool = True,
) -> Genotypes:
    """Open a genotype file for block reads of dosages.

    Parameters
    ----------
    bfile : str or Path, optional
        PLINK 1 prefix of ``.bed/.bim/.fam`` (a trailing ``.bed`` is accepted).
    bgen : str or Path, optional
        BGEN 1.2/1.3 file (needs the ``bgen`` extra: ``pip install "kinmix[bgen]"``).
    sample : str or Path, optional
        Oxford ``.sample`` file giving the sample IDs of ``bgen`` (required when the BGEN
        file stores none; when both exist, the ``.sample`` file wins).
    pgen : str or Path, optional
        PLINK 2 prefix of ``.pgen/.pvar/.psam`` (needs the ``pgen`` extra).
    count_a1 : bool
        PLINK 1 and 2 only. True: the dosage counts the ``.bim``/``.pvar`` allele in the 5th
        column / ALT (PLINK 2's convention for ``.bed``; ``a1`` in the ``.bim``); False: it
        counts the other one (FaST-LMM's convention). ``variants.a1`` always names the
        counted allele. BGEN dosages count the first allele listed for each variant
        (PLINK 2's ``ref-first`` export) when True, the second when False.

    Returns
    -------
    Genotypes
        :class:`~kinmix.io.plink.PlinkGenotypes`, :class:`~kinmix.io.bgen.BgenGenotypes` or
        :class:`~kinmix.io.pgen.PgenGenotypes`.

    Raises
    ------
    kinmix.InputError
        Unless exactly one of ``bfile``, ``bgen``, ``pgen`` is given; if ``sample`` is given
        without ``bgen``; if a file is missing, truncated or inconsistent (the message names
        it); if an optional reader is not installed (the message names the extra).
    """
    given = {name: value for name, value in (("bfile", bfile), ("bgen", bgen), ("pgen", pgen))
             if value is not None}
    if len(given) != 1:
        raise InputError(
            "open_genotypes needs exactly one of bfile=, bgen=, pgen=; got "
            f"{sorted(given) or 'none'}."
        )
    if sample is not None and bgen is None:
        raise InputError("sample= (an Oxford .sample file) only applies to bgen=.")
    if bfile is not None:
        from .plink import read_plink

        return read_plink(bfile, count_a1=count_a1)
    if bgen is not None:
        from .bgen import read_bgen

        return read_bgen(bgen, sample=sample, count_a1=count_a1)
    from .pgen import read_pgen

    return read_pgen(pgen, count_a1=count_a1)
