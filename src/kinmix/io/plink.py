"""PLINK 1 binary genotypes (``.bed/.bim/.fam``) through bed-reader.

Dosages are read in blocks of variants on demand, so a genome never has to fit in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError


@dataclass(frozen=True)
class PlinkGenotypes:
    """An opened PLINK fileset: sample and variant tables plus block reads of dosages.

    Attributes
    ----------
    samples : DataFrame
        Columns ``fid, iid`` in file order (n rows).
    variants : DataFrame
        Columns ``chrom, variant, cm, pos, a1, a2`` in file order (m rows).
    count_a1 : bool
        Whether dosages count allele ``a1`` (the 5th ``.bim`` column) or ``a2``.
    """

    prefix: Path
    samples: pd.DataFrame
    variants: pd.DataFrame
    count_a1: bool
    _bed: Any

    @property
    def shape(self) -> tuple[int, int]:
        """(samples, variants)."""
        return len(self.samples), len(self.variants)

    def read(self, variants: Any = slice(None)) -> np.ndarray:
        """Dosages (n × selected variants, float64, NaN where missing).

        ``variants`` is a slice, or integer or boolean indices into :attr:`variants`.
        """
        try:
            return self._bed.read(index=np.s_[:, variants], dtype="float64", order="F")
        except Exception as exc:  # bed-reader raises plain ValueError/IOError on bad files
            raise InputError(f"could not read genotypes from {self.prefix}.bed: {exc}") from exc


def read_plink(prefix: str | Path, *, count_a1: bool = True) -> PlinkGenotypes:
    """Open ``prefix.bed``, ``prefix.bim`` and ``prefix.fam``.

    Parameters
    ----------
    prefix : str or Path
        Path without extension (a trailing ``.bed`` is accepted).
    count_a1 : bool
        Count allele a1 (PLINK's default) rather than a2.
    """
    try:
        from bed_reader import open_bed
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "reading PLINK files needs bed-reader: pip install 'kinmix[plink]'"
        ) from exc
    prefix = Path(prefix)
    if prefix.suffix == ".bed":
        prefix = prefix.with_suffix("")
    for ext in (".bed", ".bim", ".fam"):
        path = prefix.with_name(prefix.name + ext)
        if not path.is_file():
            raise InputError(f"PLINK file {path} does not exist.")
    try:
        bed = open_bed(prefix.with_name(prefix.name + ".bed"), count_A1=count_a1)
        samples = pd.DataFrame({"fid": bed.fid.astype(str), "iid": bed.iid.astype(str)})
        variants = pd.DataFrame(
            {
                "chrom": bed.chromosome.astype(str),
                "variant": bed.sid.astype(str),
                "cm": bed.cm_position.astype(float),
                "pos": bed.bp_position.astype(np.int64),
                "a1": bed.allele_1.astype(str),
                "a2": bed.allele_2.astype(str),
            }
        )
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{prefix}.bed/.bim/.fam could not be opened: {exc}") from exc
    return PlinkGenotypes(prefix, samples, variants, count_a1, bed)
