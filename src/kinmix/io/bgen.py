r"""BGEN 1.2/1.3 genotype files through cbgen (the ``bgen`` extra).

Opening a file reads its sample IDs and the variant index (IDs, positions, alleles and the
byte offset of every variant block, via a cbgen metafile built in a temporary folder and
deleted at once); dosages are then decoded on demand, variant by variant, for the
requested block only.

For a biallelic diploid variant with genotype probabilities :math:`(p_{AA}, p_{AB},
p_{BB})`, A being the first allele listed, the dosage of A is :math:`2p_{AA} + p_{AB}`;
for phased data with haplotype probabilities :math:`(p_{1A}, p_{1B}, p_{2A}, p_{2B})` it is
:math:`p_{1A} + p_{2A}`. A sample flagged missing has dosage NaN.
"""

from __future__ import annotations

import mmap
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._paths import require_file
from .genotypes import GenotypeFile

INSTALL_HINT = 'reading BGEN files needs cbgen: pip install "kinmix[bgen]"'


@dataclass(frozen=True)
class BgenGenotypes(GenotypeFile):
    """An opened BGEN file: sample and variant tables plus block reads of dosages.

    Attributes
    ----------
    path : Path
        The ``.bgen`` file.
    samples : DataFrame
        Columns ``fid, iid``: the ``.sample`` file's ``ID_1, ID_2`` when one is given,
        otherwise the IDs stored in the BGEN file (as both ``fid`` and ``iid``).
    variants : DataFrame
        Columns ``chrom, variant, pos, a1, a2`` (``variant`` is the rsid, or the variant ID
        when the rsid is empty); ``a1`` is the counted allele.
    count_a1 : bool
        True: dosages count the first allele of each variant; False: the second.
    """

    path: Path
    samples: pd.DataFrame
    variants: pd.DataFrame
    count_a1: bool
    _offsets: np.ndarray
    _file: Any

    def _read_positions(self, columns: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        rows = np.arange(self.shape[0]) if rows is None else rows
        block = np.empty((len(rows), len(columns)), dtype=np.float64, order="F")
        for k, j in enumerate(columns):
            block[:, k] = self._dosage(int(j))[rows]
        return block

    def _dosage(self, j: int) -> np.ndarray:
        """Dosage of the first allele of variant j, NaN where missing."""
        try:
            genotype = self._file.read_genotype(int(self._offsets[j]))
        except RuntimeError as exc:
            raise InputError(f"BGEN file {self.path}: cannot read variant {j + 1} ({exc}); "
                             "the file may be truncated.") from exc
        probability = genotype.probability
        name = self.variants["variant"].iloc[j]
        if np.any(genotype.ploidy[~genotype.missing] != 2):
            raise InputError(
                f"BGEN file {self.path}: variant {name} has non-diploid samples; kinmix reads "
                "diploid biallelic variants only."
            )
        if genotype.phased:
            first = probability[:, 0] + probability[:, 2]
        else:
            first = 2.0 * probability[:, 0] + probability[:, 1]
        first[genotype.missing] = np.nan
        return first if self.count_a1 else 2.0 - first


def _read_sample_file(path: Path, n: int) -> pd.DataFrame:
    """``fid, iid`` from an Oxford ``.sample`` file (two header lines, then ID_1 ID_2 ...)."""
    require_file(path, "sample file")
    from .tables import read_text

    lines = [line.split() for line in read_text(path).splitlines()
             if line.strip()]
    if len(lines) < 2 or [name.upper() for name in lines[0][:2]] != ["ID_1", "ID_2"]:
        raise InputError(
            f"sample file {path} is not an Oxford .sample file: its first line must start "
            "with ID_1 ID_2 and its second give the column types."
        )
    rows = lines[2:]
    if len(rows) != n:
        raise InputError(
            f"sample file {path} lists {len(rows)} samples but the BGEN file has {n}."
        )
    bad = next((i for i, fields in enumerate(rows, start=3) if len(fields) < 2), None)
    if bad is not None:
        raise InputError(f"sample file {path}: line {bad} needs ID_1 and ID_2.")
    return pd.DataFrame({"fid": [f[0] for f in rows], "iid": [f[1] for f in rows]})


def _check_layout(path: Path) -> None:
    """Walk the variant blocks' headers and lengths; raise if the file is not a complete BGEN.

    cbgen does not survive a truncated file (it reads past the end), so the structure is
    checked here first: the header's magic number and layout, then every variant block's
    identifying data and genotype-block length, which must all lie inside the file. Costs
    one pass over the variant headers (the genotype blocks are skipped).
    """
    size = path.stat().st_size
    if size < 24:
        raise InputError(f"BGEN file {path} cannot be opened: it has only {size} bytes.")
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0,
                                              access=mmap.ACCESS_READ) as data:
        offset, header_length, m, _n, magic = struct.unpack_from("<IIII4s", data, 0)
        if magic not in (b"bgen", b"\x00\x00\x00\x00") or header_length < 20:
            raise InputError(f"BGEN file {path} cannot be opened: it lacks the BGEN header.")
        flags = struct.unpack_from("<I", data, header_length)[0]
        layout = (flags >> 2) & 0xF
        if layout != 2:
            raise InputError(
                f"BGEN file {path} uses layout {layout} (layout 1 is BGEN 1.1); kinmix reads "
                "BGEN 1.2 and 1.3 (layout 2). Convert it with plink2 --export bgen-1.2."
            )
        position = offset + 4
        try:
            for variant in range(m):  # noqa: B007 - named in the error below
                for _ in range(3):  # variant ID, rsid, chromosome
                    position += 2 + struct.unpack_from("<H", data, position)[0]
                position += 4
                alleles = struct.unpack_from("<H", data, position)[0]
                position += 2
                for _ in range(alleles):
                    position += 4 + struct.unpack_from("<I", data, position)[0]
                position += 4 + struct.unpack_from("<I", data, position)[0]
                if position > size:
                    raise struct.error
        except struct.error:
            raise InputError(
                f"BGEN file {path} is truncated: its header announces {m} variants but the "
                f"file ends inside variant {variant + 1}."
            ) from None


def _variant_index(cbgen: Any, bgen: Any) -> tuple[pd.DataFrame, np.ndarray]:
    """The variant table and byte offsets, from a throw-away metafile."""
    with tempfile.TemporaryDirectory(prefix="kinmix-bgen-") as folder:
        metafile_path = Path(folder) / "index.metafile"
        bgen.create_metafile(metafile_path)
        with cbgen.bgen_metafile(metafile_path) as metafile:
            parts = [metafile.read_partition(i).variants for i in range(metafile.npartitions)]
    def text(field: str) -> np.ndarray:
        return np.concatenate([getattr(p, field) for p in parts]).astype(str)

    alleles = [ids.split(",") for ids in text("allele_ids")]
    nalleles = np.concatenate([p.nalleles for p in parts])
    rsid, vid = text("rsid"), text("id")
    table = pd.DataFrame({
        "chrom": text("chromosome"),
        "variant": np.where(rsid != "", rsid, vid),
        "pos": np.concatenate([p.position for p in parts]).astype(np.int64),
        "a1": [a[0] for a in alleles],
        "a2": [a[1] if len(a) > 1 else "" for a in alleles],
    })
    offsets = np.concatenate([p.offset for p in parts]).astype(np.uint64)
    multi = np.flatnonzero(nalleles != 2)
    if len(multi):
        raise InputError(
            f"{len(multi)} variants are not biallelic (e.g. {table['variant'].iloc[multi[0]]} "
            f"with {nalleles[multi[0]]} alleles); split them first (plink2 --make-pgen "
            "multiallelics=-)."
        )
    return table, offsets


def read_bgen(path: str | Path, *, sample: str | Path | None = None,
              count_a1: bool = True) -> BgenGenotypes:
    """Open a BGEN 1.2/1.3 file for block reads of dosages.

    Parameters
    ----------
    path : str or Path
        The ``.bgen`` file.
    sample : str or Path, optional
        Oxford ``.sample`` file of the samples, in file order. Required when the BGEN file
        stores no sample IDs; takes precedence over stored IDs (PLINK 2 stores
        ``FID_IID`` there, while its ``.sample`` keeps FID and IID apart).
    count_a1 : bool
        True: dosages count the first allele listed for each variant; False: the second.

    Raises
    ------
    kinmix.InputError
        If cbgen is not installed, a file is missing or unreadable, the BGEN file has no
        sample IDs and no ``.sample`` file is given, the ``.sample`` file disagrees with
        the BGEN file, or a variant is not biallelic.
    """
    try:
        import cbgen
    except ImportError as exc:
        raise InputError(INSTALL_HINT) from exc
    path = Path(path)
    require_file(path, "BGEN file")
    _check_layout(path)
    try:
        bgen = cbgen.bgen_file(path)
    except RuntimeError as exc:
        raise InputError(f"BGEN file {path} cannot be opened: {exc}") from exc
    try:
        n = bgen.nsamples
        if sample is not None:
            samples = _read_sample_file(Path(sample), n)
        elif bgen.contain_samples:
            ids = bgen.read_samples().astype(str)
            samples = pd.DataFrame({"fid": ids, "iid": ids})
        else:
            raise InputError(
                f"BGEN file {path} stores no sample IDs; give its Oxford .sample file "
                "(sample=..., or --sample FILE)."
            )
        variants, offsets = _variant_index(cbgen, bgen)
    except RuntimeError as exc:
        bgen.close()
        raise InputError(f"BGEN file {path} cannot be read: {exc}") from exc
    except InputError:
        bgen.close()
        raise
    if not count_a1:
        variants = variants.rename(columns={"a1": "a2", "a2": "a1"})[list(variants.columns)]
    return BgenGenotypes(path, samples, variants, count_a1, offsets, bgen)
