"""PLINK 2 genotypes (``.pgen/.pvar/.psam``) through pgenlib (the ``pgen`` extra).

The ``.pvar`` and ``.psam`` tables are read when the fileset is opened; dosages are read
in blocks of variants on demand with pgenlib's ``read_dosages_list``, so a genome never
has to fit in memory. Dosages count ALT (the ``.pvar``'s 5th column, which is the ``.bim``'s
A1 after ``plink2 --bfile X --make-pgen``) when ``count_a1`` is True, REF otherwise.
Only biallelic variants are read (one ALT allele).
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

INSTALL_HINT = 'reading PLINK 2 .pgen files needs pgenlib: pip install "kinmix[pgen]"'
#: pgenlib's code for a missing dosage.
PGEN_MISSING = -9.0


@dataclass(frozen=True)
class PgenGenotypes(GenotypeFile):
    """An opened PLINK 2 fileset: sample and variant tables plus block reads of dosages.

    Attributes
    ----------
    prefix : Path
        The fileset's path without extension.
    path : Path
        The ``.pgen`` file.
    samples : DataFrame
        Columns ``fid, iid`` (``fid`` equals ``iid`` when the ``.psam`` has no FID).
    variants : DataFrame
        Columns ``chrom, variant, pos, a1, a2``; ``a1`` is the counted allele (ALT when
        ``count_a1`` is True, REF otherwise).
    count_a1 : bool
        Whether dosages count ALT (True) or REF (False).
    """

    prefix: Path
    path: Path
    samples: pd.DataFrame
    variants: pd.DataFrame
    count_a1: bool
    _reader: Any

    def _read_positions(self, columns: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        n = self.shape[0]
        columns = columns.astype(np.uint32)
        variant_major = np.empty((len(columns), n), dtype=np.float64)
        if len(columns):
            try:
                self._reader.read_dosages_list(columns, variant_major, 1 if self.count_a1 else 0)
            except RuntimeError as exc:
                raise InputError(f"could not read genotypes from {self.path}: {exc}") from exc
        variant_major[variant_major == PGEN_MISSING] = np.nan
        block = variant_major.T  # Fortran-ordered view, n × k
        if rows is not None:
            block = np.asfortranarray(block[rows])
        return block


def _header_and_rows(path: Path) -> tuple[list[str] | None, pd.DataFrame]:
    """The ``#``-header of a PLINK 2 text table (None if absent) and its rows as text."""
    from .tables import read_text

    lines = [line for line in read_text(path).splitlines()
             if line.strip() and not line.startswith("##")]
    if not lines:
        raise InputError(f"PLINK 2 file {path} is empty.")
    header = lines[0][1:].split() if lines[0].startswith("#") else None
    rows = [line.split() for line in lines[1 if header else 0:]]
    widths = {len(row) for row in rows}
    expected = len(header) if header else (len(rows[0]) if rows else 0)
    if widths - {expected}:
        raise InputError(f"PLINK 2 file {path} has lines with different numbers of fields.")
    return header, pd.DataFrame(rows, dtype=object)


def _read_psam(path: Path) -> pd.DataFrame:
    header, rows = _header_and_rows(path)
    if header is None:  # .fam layout: FID IID PAT MAT SEX PHENO
        header = ["FID", "IID", *(f"column{i}" for i in range(3, rows.shape[1] + 1))]
    upper = [name.upper() for name in header]
    if "IID" not in upper:
        raise InputError(f"PLINK 2 file {path} has no IID column; its header is {header}.")
    iid = rows[upper.index("IID")].astype(str)
    fid = rows[upper.index("FID")].astype(str) if "FID" in upper else iid
    return pd.DataFrame({"fid": fid.to_numpy(), "iid": iid.to_numpy()})


def _read_pvar(path: Path, count_a1: bool) -> pd.DataFrame:
    header, rows = _header_and_rows(path)
    if header is None:  # .bim layout: CHROM ID CM POS ALT REF
        header = ["CHROM", "ID", "CM", "POS", "ALT", "REF"][: rows.shape[1]]
    upper = [name.upper() for name in header]
    absent = [name for name in ("CHROM", "POS", "ID", "REF", "ALT") if name not in upper]
    if absent:
        raise InputError(f"PLINK 2 file {path} lacks the column(s) {absent}.")
    column = {name: rows[upper.index(name)].astype(str) for name in upper}
    alt, ref = column["ALT"], column["REF"]
    multi = np.flatnonzero(alt.str.contains(",").to_numpy())
    if len(multi):
        raise InputError(
            f"PLINK 2 file {path}: {len(multi)} variants have several ALT alleles (e.g. "
            f"{column['ID'].iloc[multi[0]]}); split them first (plink2 --make-pgen "
            "multiallelics=-)."
        )
    return pd.DataFrame({
        "chrom": column["CHROM"].to_numpy(),
        "variant": column["ID"].to_numpy(),
        "pos": column["POS"].astype(np.int64).to_numpy(),
        "a1": (alt if count_a1 else ref).to_numpy(),
        "a2": (ref if count_a1 else alt).to_numpy(),
    })


def read_pgen(prefix: str | Path, *, count_a1: bool = True) -> PgenGenotypes:
    """Open ``prefix.pgen``, ``prefix.pvar`` and ``prefix.psam``.

    Parameters
    ----------
    prefix : str or Path
        Path without extension (a trailing ``.pgen`` is accepted).
    count_a1 : bool
        True: dosages count ALT (the ``.pvar``'s 5th column); False: REF.

    Raises
    ------
    kinmix.InputError
        If pgenlib is not installed, a file is missing or malformed, the ``.pgen``
        disagrees with the ``.pvar``/``.psam`` counts, or a variant is multiallelic.
    """
    try:
        import pgenlib
    except ImportError as exc:
        raise InputError(INSTALL_HINT) from exc
    prefix = Path(prefix)
    if prefix.suffix == ".pgen":
        prefix = prefix.with_suffix("")
    pgen, pvar, psam = (prefix.with_name(prefix.name + ext) for ext in (".pgen", ".pvar",
                                                                         ".psam"))
    for path in (pgen, pvar, psam):
        require_file(path, "PLINK 2 file")
    samples = _read_psam(psam)
    variants = _read_pvar(pvar, count_a1)
    try:
        reader = pgenlib.PgenReader(bytes(pgen), raw_sample_ct=len(samples),
                                    variant_ct=len(variants))
    except RuntimeError as exc:
        raise InputError(
            f"PLINK 2 file {pgen} cannot be opened with the {len(samples)} samples of "
            f"{psam.name} and {len(variants)} variants of {pvar.name}: {exc}"
        ) from exc
    return PgenGenotypes(prefix, pgen, samples, variants, count_a1, reader)
