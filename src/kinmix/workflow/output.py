"""The result files of a scan, written in one pass over the blocks of a :class:`ScanTable`.

:func:`write_tables` reads each block of the table once and, without holding more than
that block, appends it as a row group to the Parquet file (pyarrow ``ParquetWriter``),
appends it to the gzip-compressed TSV file, and keeps what the summary and the plots need
(:class:`TableDigest`: every p-value and its trait, the thinned points of a Manhattan
plot, the row counts and the rows of the smallest p-values).
"""

from __future__ import annotations

import gzip
from contextlib import ExitStack
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
#: gzip level of ``results.tsv.gz``: the fastest (level 9, gzip's default, took 13 times
#: as long for a file 17 % smaller; the Parquet file is the compact copy of the table).
TSV_GZIP_LEVEL = 1
#: Characters that make pandas' ``to_csv`` quote a field (the TSV falls back to it then).
QUOTED = ("\t", '"', "\n", "\r")


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


def write_tables(
    table: ScanTable, parquet: str | Path, tsv: str | Path, *, top: int
) -> TableDigest:
    """Write ``table`` to ``parquet`` and ``tsv`` reading each block once; its digest.

    Parameters
    ----------
    table : ScanTable
        The scan's rows, read block by block.
    parquet : str or Path
        Parquet file: one row group per block. Its schema is the blocks' schemas unified
        (a column that is all missing in one block, such as ``reason``, takes its type
        from the blocks that have values, found by reading the stored blocks' types first),
        so the file reads back as the whole table written at once would.
    tsv : str or Path
        Gzip-compressed tab-separated text (gzip level :data:`TSV_GZIP_LEVEL`): the text
        of pandas' ``to_csv(sep="\\t", index=False, float_format="%.6g")``, six
        significant digits, a missing value as an empty field.
    top : int
        Rows with the smallest p-values kept in :attr:`TableDigest.top`.

    Returns
    -------
    TableDigest
    """
    import pyarrow.parquet as pq

    digest = _Digest(table, top=top)
    with ExitStack() as files:
        raw = files.enter_context(open(tsv, "wb"))
        text = files.enter_context(
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=TSV_GZIP_LEVEL)
        )
        writer, schema = None, None
        for chunk in table.chunks():
            arrow = _arrow(chunk)
            if writer is None:
                schema = _file_schema(table, arrow.schema)
                writer = files.enter_context(pq.ParquetWriter(parquet, schema))
                text.write(_tsv_header(chunk))
            writer.write_table(arrow.cast(schema))
            text.write(_tsv_rows(chunk))
            digest.add(chunk)
    return digest.finish()


def _arrow(chunk: pd.DataFrame) -> Any:
    import pyarrow as pa

    return pa.Table.from_pandas(chunk, preserve_index=False)


def _file_schema(table: ScanTable, first: Any) -> Any:
    """The schema of the whole table: the first piece's (``first``, which sets the
    columns, their order and the pandas metadata) unified with the types of every
    stored block's statistics (one block's all-missing column has the null type)."""
    import pyarrow as pa

    if not table.streamable:  # a single piece
        return first
    schemas = [first]
    for key in table.keys:
        block = pa.Schema.from_pandas(table.load(key), preserve_index=False)
        schemas.append(pa.schema([f for f in block if f.name in first.names]))
    return pa.unify_schemas(schemas, promote_options="permissive")


def _tsv_header(chunk: pd.DataFrame) -> bytes:
    return chunk.iloc[:0].to_csv(sep="\t", index=False, lineterminator="\n").encode("utf-8")


def _tsv_rows(chunk: pd.DataFrame) -> bytes:
    """``chunk``'s rows as pandas' ``to_csv`` writes them (``float_format="%.6g"``,
    ``na_rep=""``), formatted column by column: pandas formats each value through a chain
    of Python calls, this about five times faster. A column of another type (nullable
    numbers, categories), or text that needs quoting, is left to pandas."""
    fields = []
    for name in chunk.columns:
        column = chunk[name]
        kind = column.dtype.kind if isinstance(column.dtype, np.dtype) else None
        if kind == "f":
            fields.append(["" if v != v else format(v, ".6g") for v in column.tolist()])
        elif kind is not None and kind in "iub":
            fields.append([str(v) for v in column.tolist()])
        elif kind == "O" or isinstance(column.dtype, pd.StringDtype):
            texts = [v if type(v) is str else "" if pd.isna(v) else str(v)
                     for v in column.tolist()]
            joined = "".join(texts)
            if any(c in joined for c in QUOTED):
                return _pandas_tsv(chunk)
            fields.append(texts)
        else:
            return _pandas_tsv(chunk)
    if not len(chunk):
        return b""
    return ("\n".join(map("\t".join, zip(*fields, strict=True))) + "\n").encode("utf-8")


def _pandas_tsv(chunk: pd.DataFrame) -> bytes:
    text = chunk.to_csv(
        sep="\t", index=False, header=False, float_format="%.6g", lineterminator="\n"
    )
    return text.encode("utf-8")


class _Digest:
    """Accumulates a :class:`TableDigest` over the pieces of a table."""

    def __init__(self, table: ScanTable, *, top: int) -> None:
        self.traits = table.traits
        self.chromosomes = pd.unique(table.variants["chrom"].astype(str))
        self.step = max(1, -(-len(table.variants) * len(table.traits) // BULK_ROWS))
        self.top = top
        self.pvalues: list[pd.DataFrame] = []
        self.points: list[pd.DataFrame] = []
        self.candidates: list[pd.DataFrame] = []
        self.rows = 0

    def add(self, chunk: pd.DataFrame) -> None:
        p = chunk["pvalue"].to_numpy(dtype=float)
        columns = {"pvalue": p}
        if "trait" in chunk.columns:
            columns["trait"] = pd.Categorical(chunk["trait"], categories=self.traits)
        self.pvalues.append(pd.DataFrame(columns))
        kept = ~(p > THIN_ABOVE) | ((self.rows + np.arange(p.shape[0])) % self.step == 0)
        kept[[0, -1]] = True
        self.points.append(
            pd.DataFrame(
                {"chrom": pd.Categorical(chunk["chrom"].to_numpy()[kept],
                                         categories=self.chromosomes),
                 "pos": chunk["pos"].to_numpy()[kept],
                 **{k: v[kept] for k, v in columns.items()}}
            )
        )
        self.rows += len(chunk)
        # the chunk's `top` smallest p-values (ties in file order, NaN last): the overall
        # top rows are among the chunks' candidates, chosen once in finish()
        order = np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable")[: self.top]
        order = order[~np.isnan(p[order])]
        self.candidates.append(chunk.iloc[order][[c for c in TOP_COLUMNS if c in chunk]])

    def finish(self) -> TableDigest:
        pvalues = self.pvalues
        everything = pd.concat(pvalues, ignore_index=True) if len(pvalues) > 1 else pvalues[0]
        return TableDigest(
            pvalues=everything,
            points=pd.concat(self.points, ignore_index=True),
            rows=self.rows,
            tested=int(everything["pvalue"].notna().sum()),
            top=pd.concat(self.candidates).nsmallest(self.top, "pvalue"),
        )
