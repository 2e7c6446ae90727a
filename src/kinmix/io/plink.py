"""PLINK 1 binary genotypes (``.bed/.bim/.fam``) through bed-reader.

The ``.bim`` and ``.fam`` tables are read when the fileset is opened; dosages are read in
blocks of variants on demand (bed-reader's index reads), so a genome never has to fit in
memory. Opening checks what can be checked without reading genotypes: the three files
exist, the ``.bed`` starts with PLINK's magic bytes in variant-major mode, and its size is
exactly ``3 + m·⌈n/4⌉`` bytes for the n samples of the ``.fam`` and m variants of the
``.bim`` (a truncated ``.bed``, or a ``.bim``/``.fam`` from another fileset, fails here with
a message naming the file rather than later inside a scan).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._paths import require_file
from .genotypes import GenotypeFile
from .tables import read_text

#: First three bytes of a variant-major PLINK 1 ``.bed`` file.
BED_MAGIC = b"\x6c\x1b\x01"


@dataclass(frozen=True)
class PlinkGenotypes(GenotypeFile):
    """An opened PLINK fileset: sample and variant tables plus block reads of dosages.

    Attributes
    ----------
    prefix : Path
        The fileset's path without extension.
    path : Path
        The ``.bed`` file.
    samples : DataFrame
        Columns ``fid, iid`` in file order (n rows).
    variants : DataFrame
        Columns ``chrom, variant, pos, a1, a2`` in file order (m rows); ``a1`` is the
        counted allele: the ``.bim``'s 5th column when ``count_a1`` is True, its 6th
        otherwise.
    count_a1 : bool
        Whether dosages count the ``.bim``'s 5th-column allele (True) or 6th (False).
    """

    prefix: Path
    path: Path
    samples: pd.DataFrame
    variants: pd.DataFrame
    count_a1: bool
    _bed: Any

    def _read_positions(self, columns: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        index = np.s_[slice(None) if rows is None else rows, columns]
        try:
            return self._bed.read(index=index, dtype="float64", order="F")
        except Exception as exc:  # bed-reader raises plain ValueError/OSError on bad files
            raise InputError(f"could not read genotypes from {self.path}: {exc}") from exc


def _count_lines(path: Path) -> int:
    """Number of non-blank lines of a text file, read line by line."""
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _check_bed(bed: Path, bim: Path, fam: Path) -> tuple[int, int]:
    """Check the .bed's magic bytes and size against the .fam and .bim; return (n, m)."""
    n, m = _count_lines(fam), _count_lines(bim)
    if n == 0:
        raise InputError(f"PLINK file {fam} lists no samples; it must have one line per sample.")
    if m == 0:
        raise InputError(f"PLINK file {bim} lists no variants; it must have one line per variant.")
    with bed.open("rb") as handle:
        magic = handle.read(3)
    if magic != BED_MAGIC:
        raise InputError(
            f"PLINK file {bed} is not a variant-major PLINK 1 .bed file (its first bytes are "
            f"{magic.hex() or 'missing'}, expected {BED_MAGIC.hex()}); re-export it with "
            "plink --make-bed."
        )
    expected = 3 + m * ((n + 3) // 4)
    size = bed.stat().st_size
    if size != expected:
        problem = "is truncated" if size < expected else "is longer than expected"
        raise InputError(
            f"PLINK file {bed} {problem}: {size} bytes, but {fam.name} lists {n} samples and "
            f"{bim.name} {m} variants, which need {expected} bytes. The .bed, .bim and .fam "
            "must come from the same fileset."
        )
    return n, m


#: Columns of a ``.bim`` file (the 5th and 6th are the two alleles).
BIM_COLUMNS = ("chrom", "variant", "cm", "pos", "first", "second")
#: Columns of a ``.fam`` file.
FAM_COLUMNS = ("fid", "iid", "father", "mother", "sex", "phenotype")
#: Lines of a ``.bim`` parsed at a time.
BIM_LINES = 1 << 13


def _read_fam(fam: Path) -> pd.DataFrame:
    """Family and individual IDs of a ``.fam`` file (str columns ``fid, iid``)."""
    try:
        table = pd.read_csv(fam, sep=r"\s+", header=None, names=FAM_COLUMNS, dtype=str,
                            usecols=[0, 1], keep_default_na=False)
    except UnicodeDecodeError:
        read_text(fam)  # names the file, the byte and the line
        raise
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"PLINK file {fam} has malformed lines: {exc}") from exc
    return table.reset_index(drop=True)


def _read_bim(bim: Path, count_a1: bool) -> pd.DataFrame:
    """The variants of a ``.bim`` file in compact columns, parsed in pieces.

    Strings are pandas' Arrow-backed ``str`` (a few bytes per entry rather than a Python
    object each) and ``pos`` is int64; the genetic distance (3rd column) is not kept; a1
    names the counted allele.
    """
    dtypes = {"chrom": str, "variant": str, "pos": np.int64, "first": str, "second": str}
    try:
        pieces = list(pd.read_csv(bim, sep=r"\s+", header=None, names=BIM_COLUMNS,
                                  usecols=list(dtypes), dtype=dtypes, keep_default_na=False,
                                  chunksize=BIM_LINES))
    except UnicodeDecodeError:
        read_text(bim)  # names the file, the byte and the line
        raise
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"PLINK file {bim} has malformed lines: {exc}") from exc
    table = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0]
    del pieces
    if (table["second"] == "").any():
        line = int(np.flatnonzero(table["second"] == "")[0]) + 1
        raise InputError(f"PLINK file {bim} has malformed lines: line {line} has fewer than "
                         "6 fields.")
    counted, other = ("first", "second") if count_a1 else ("second", "first")
    return table.rename(columns={counted: "a1", other: "a2"})[
        ["chrom", "variant", "pos", "a1", "a2"]
    ]


def read_plink(prefix: str | Path, *, count_a1: bool = True) -> PlinkGenotypes:
    """Open ``prefix.bed``, ``prefix.bim`` and ``prefix.fam``.

    Parameters
    ----------
    prefix : str or Path
        Path without extension (a trailing ``.bed`` is accepted).
    count_a1 : bool
        True: dosages count the ``.bim``'s 5th-column allele (PLINK's A1, PLINK 2's default
        for ``.bed`` files); False: they count the 6th-column allele (FaST-LMM's
        convention). ``variants.a1`` names the counted allele either way.

    Raises
    ------
    kinmix.InputError
        If a file is missing, the ``.fam`` or ``.bim`` is empty, the ``.bed`` is not a
        variant-major PLINK 1 file, or its size disagrees with the ``.fam`` and ``.bim``;
        if bed-reader is not installed.
    """
    try:
        from bed_reader import open_bed
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise InputError(
            'reading PLINK files needs bed-reader: pip install "kinmix[plink]"'
        ) from exc
    prefix = Path(prefix)
    if prefix.suffix == ".bed":
        prefix = prefix.with_suffix("")
    bed, bim, fam = (prefix.with_name(prefix.name + ext) for ext in (".bed", ".bim", ".fam"))
    for path in (bed, bim, fam):
        require_file(path, "PLINK file")
    n, m = _check_bed(bed, bim, fam)
    samples = _read_fam(fam)
    variants = _read_bim(bim, count_a1)
    if len(samples) != n or len(variants) != m:
        raise InputError(
            f"{fam} or {bim} has malformed lines: {len(samples)} samples and "
            f"{len(variants)} variants parsed from {n} and {m} non-blank lines."
        )
    try:
        # the counts are given, so bed-reader never parses the .fam/.bim itself
        reader = open_bed(bed, iid_count=n, sid_count=m, properties={}, count_A1=count_a1)
    except Exception as exc:
        raise InputError(f"{prefix}.bed could not be opened: {exc}") from exc
    return PlinkGenotypes(prefix, bed, samples, variants, count_a1, reader)
