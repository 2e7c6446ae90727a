"""The result files of a scan, written block by block from a :class:`ScanTable`.

Neither writer holds more than one block of the table: :func:`write_parquet` appends each
block as a row group through a pyarrow ``ParquetWriter`` and :func:`write_tsv` appends it
to a gzip stream. :func:`digest` reads the blocks once for what the summary and the plots
need: every p-value (and its trait), the thinned points of a Manhattan plot, the row
counts and the rows of the smallest p-values.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .results import ScanTable

#: Columns of the top hits (those the table has).
TOP_COLUMNS = ("chrom", "pos", "variant", "trait", "beta", "se", "pvalue")


#: p-values above this are thinned in :attr:`TableDigest.points`.
THIN_ABOVE = 0.01
#: About the most rows of p-values above :data:`THIN_ABOVE` kept in the points.
BULK_ROWS = 50_000


@dataclass(frozen=True)
class TableDigest:
    """What a summary and the plots need from a scan's table, without the table.

    Attributes
    ----------
    pvalues : DataFrame
        ``pvalue`` and, with several traits, ``trait`` (categorical): one row per row of
        the table (9 bytes each), for λGC and the QQ plot.
    points : DataFrame
        ``chrom`` (categorical), ``pos``, ``pvalue`` (and ``trait``) of the rows a
        Manhattan plot needs: every p ≤ :data:`THIN_ABOVE`, every k-th row for about
        :data:`BULK_ROWS` rows in all, and the first and last row of every block (so each
        chromosome's extent is exact).
    rows, tested : int
        Rows of the table, and rows with a p-value.
    top : DataFrame
        The rows with the smallest p-values (columns :data:`TOP_COLUMNS`), smallest first.
    """

    pvalues: pd.DataFrame
    points: pd.DataFrame
    rows: int
    tested: int
    top: pd.DataFrame


def digest(table: ScanTable, *, top: int) -> TableDigest:
    """Read ``table`` block by block for :class:`TableDigest` (``top`` best rows kept)."""
    chromosomes = pd.unique(table.variants["chrom"].astype(str))
    step = max(1, -(-len(table.variants) * len(table.traits) // BULK_ROWS))
    pvalues, points, best, rows = [], [], None, 0
    for chunk in table.chunks():
        p = chunk["pvalue"].to_numpy(dtype=float)
        columns = {"pvalue": p}
        if "trait" in chunk.columns:
            columns["trait"] = pd.Categorical(chunk["trait"], categories=table.traits)
        pvalues.append(pd.DataFrame(columns))
        kept = ~(p > THIN_ABOVE) | ((rows + np.arange(p.shape[0])) % step == 0)
        kept[[0, -1]] = True
        chosen = chunk[kept]
        points.append(
            pd.DataFrame(
                {"chrom": pd.Categorical(chosen["chrom"], categories=chromosomes),
                 "pos": chosen["pos"].to_numpy(), **{k: v[kept] for k, v in columns.items()}}
            )
        )
        rows += len(chunk)
        candidates = chunk.nsmallest(top, "pvalue")[[c for c in TOP_COLUMNS if c in chunk]]
        best = candidates if best is None else pd.concat([best, candidates]).nsmallest(
            top, "pvalue"
        )
    everything = pd.concat(pvalues, ignore_index=True) if len(pvalues) > 1 else pvalues[0]
    return TableDigest(
        pvalues=everything,
        points=pd.concat(points, ignore_index=True),
        rows=rows,
        tested=int(everything["pvalue"].notna().sum()),
        top=best,
    )


def write_parquet(table: ScanTable, path: str | Path) -> None:
    """Write ``table`` to a Parquet file, one row group per block.

    The file's schema is the blocks' schemas unified (a column that is all missing in one
    block, such as ``reason``, takes its type from the blocks that have values), so the
    file reads back as the whole table written at once would.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = [_arrow(chunk).schema for chunk in table.chunks()]
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    with pq.ParquetWriter(path, schema) as writer:
        for chunk in table.chunks():
            writer.write_table(_arrow(chunk).cast(schema))


def _arrow(chunk: pd.DataFrame) -> Any:
    import pyarrow as pa

    return pa.Table.from_pandas(chunk, preserve_index=False)


def write_tsv(table: ScanTable, path: str | Path) -> None:
    """Write ``table`` as gzip-compressed tab-separated text (6 significant digits)."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
        for i, chunk in enumerate(table.chunks()):
            text = chunk.to_csv(sep="\t", index=False, header=i == 0, float_format="%.6g")
            packed.write(text.encode("utf-8"))
