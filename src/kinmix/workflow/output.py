"""The result files of a scan, written block by block from a :class:`ScanTable`.

Neither writer holds more than one block of the table: :func:`write_parquet` appends each
block as a row group through a pyarrow ``ParquetWriter`` and :func:`write_tsv` appends it
to a gzip stream. :func:`digest` reads the blocks once for what the summary and the plots
need: the compact columns ``chrom, pos, pvalue`` (and ``trait``), the row counts and the
rows of the smallest p-values.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .results import ScanTable

#: Columns of the top hits (those the table has).
TOP_COLUMNS = ("chrom", "pos", "variant", "trait", "beta", "se", "pvalue")


@dataclass(frozen=True)
class TableDigest:
    """What a summary and the plots need from a scan's table, without the table.

    Attributes
    ----------
    points : DataFrame
        ``chrom`` and ``trait`` (categorical; ``trait`` only with several traits), ``pos``
        and ``pvalue``: one row per row of the table, about 20 bytes each.
    rows, tested : int
        Rows of the table, and rows with a p-value.
    top : DataFrame
        The rows with the smallest p-values (columns :data:`TOP_COLUMNS`), smallest first.
    """

    points: pd.DataFrame
    rows: int
    tested: int
    top: pd.DataFrame


def digest(table: ScanTable, *, top: int) -> TableDigest:
    """Read ``table`` block by block for :class:`TableDigest` (``top`` best rows kept)."""
    chromosomes = pd.unique(table.variants["chrom"].astype(str))
    points, best, rows = [], None, 0
    for chunk in table.chunks():
        rows += len(chunk)
        columns = {
            "chrom": pd.Categorical(chunk["chrom"], categories=chromosomes),
            "pos": chunk["pos"].to_numpy(),
            "pvalue": chunk["pvalue"].to_numpy(dtype=float),
        }
        if "trait" in chunk.columns:
            columns["trait"] = pd.Categorical(chunk["trait"], categories=table.traits)
        points.append(pd.DataFrame(columns))
        kept = [c for c in TOP_COLUMNS if c in chunk.columns]
        candidates = chunk.nsmallest(top, "pvalue")[kept]
        best = candidates if best is None else pd.concat([best, candidates]).nsmallest(
            top, "pvalue"
        )
    frame = pd.concat(points, ignore_index=True) if len(points) > 1 else points[0]
    return TableDigest(frame, rows, int(frame["pvalue"].notna().sum()), best)


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
