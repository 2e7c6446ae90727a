"""The table of a file scan, kept as its blocks and assembled in file order on demand.

A scan stores each finished block's rows (in the checkpoint folder when the run has one,
in memory otherwise). :class:`ScanTable` knows the blocks' keys and their ranges of
variants, and yields the final table one block at a time (:meth:`ScanTable.chunks`), so a
writer never needs the whole table in memory; :meth:`ScanTable.frame` assembles all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Columns of the genotype file's variant table that lead every row of the results.
VARIANT_INFO = ("chrom", "pos", "variant", "a1", "a2")


@dataclass(frozen=True)
class ScanTable:
    """The rows of a scan, as blocks, in file order.

    Attributes
    ----------
    variants : DataFrame
        The genotype file's variant table (``chrom, pos, variant, a1, a2`` are taken from
        it by position).
    traits : list of str
        Trait labels in output order (one label: the table has no ``trait`` column).
    keys : list of str
        Block keys, in the order of their first variant in the file.
    spans : list of (int, int)
        First and last file position of each block's variants.
    load : callable
        ``load(key)`` returns a block's rows: column ``_index`` (file position of the
        variant), optionally ``trait``, then the statistics.
    """

    variants: pd.DataFrame
    traits: list[str]
    keys: list[str]
    spans: list[tuple[int, int]]
    load: Callable[[str], pd.DataFrame]

    @classmethod
    def of_blocks(
        cls,
        variants: pd.DataFrame,
        traits: list[str],
        spans: dict[str, tuple[int, int]],
        load: Callable[[str], pd.DataFrame],
    ) -> ScanTable:
        """The table of the blocks of ``spans`` (key → first and last file position of
        its variants)."""
        keys = sorted(spans, key=lambda key: spans[key])
        return cls(variants, list(traits), keys, [spans[key] for key in keys], load)

    @property
    def streamable(self) -> bool:
        """Whether the blocks' ranges of variants are disjoint, so that the table is their
        rows block after block (else :meth:`chunks` sorts all rows at once)."""
        return all(a[1] < b[0] for a, b in zip(self.spans, self.spans[1:], strict=False))

    def chunks(self) -> Iterator[pd.DataFrame]:
        """The final table in consecutive pieces (one per block when :attr:`streamable`).

        Each piece has the columns ``chrom, pos, variant, a1, a2``, ``trait`` (with several
        traits), then the statistics; rows are variant-major in file order, traits in the
        order of :attr:`traits`; the index is not meaningful (:meth:`frame` resets it).
        """
        if self.streamable:
            for key in self.keys:
                yield self._finish(self.load(key))
        else:
            yield self._finish(pd.concat([self.load(key) for key in self.keys], ignore_index=True))

    def frame(self) -> pd.DataFrame:
        """The whole table (a new DataFrame)."""
        pieces = list(self.chunks())
        table = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0]
        return table.reset_index(drop=True)

    def _finish(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Rows of some blocks in output order, led by the variants' columns (rows already
        in that order, as a block usually stores them, are not copied to reorder)."""
        rows = rows.reset_index(drop=True)
        index = rows["_index"].to_numpy()
        if len(self.traits) == 1:
            rows = rows.drop(columns=[c for c in ("_index", "trait") if c in rows.columns])
            order = np.argsort(index, kind="stable")
        else:
            if "trait" not in rows.columns:
                rows.insert(1, "trait", self.traits[0])
            rank = {t: i for i, t in enumerate(self.traits)}
            order = np.lexsort((rows["trait"].map(rank).to_numpy(), index))
            rows = rows.drop(columns=["_index"])
        if not np.array_equal(order, np.arange(order.shape[0])):
            rows = rows.iloc[order].reset_index(drop=True)
        info = self.variants.iloc[index[order]][list(VARIANT_INFO)].reset_index(drop=True)
        info["chrom"] = info["chrom"].astype(str)
        return pd.concat([info, rows], axis=1)
