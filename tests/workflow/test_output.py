"""The scan's result files: one pass over a ScanTable's blocks, checked against pandas and
pyarrow writing the whole table at once."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kinmix.workflow.output import write_tables
from kinmix.workflow.results import ScanTable


def _table(traits: list[str], *, blocks: int = 6, per_block: int = 40) -> ScanTable:
    rng = np.random.default_rng(len(traits))
    m = blocks * per_block
    variants = pd.DataFrame(
        {
            "chrom": np.repeat(["1", "2", "X"], -(-m // 3))[:m],
            "pos": np.arange(m) * 1000 + 17,
            "variant": [f"rs{i}" for i in range(m)],
            "a1": rng.choice(list("ACGT"), m),
            "a2": rng.choice(list("ACGT"), m),
        }
    )
    stored = {}
    for b in range(blocks):
        index = np.repeat(np.arange(b * per_block, (b + 1) * per_block), len(traits))
        rows = len(index)
        p = rng.uniform(size=rows) ** 3
        p[::11] = np.nan  # untested rows
        stored[f"block-{b}"] = pd.DataFrame(
            {
                "_index": index,
                **({"trait": np.tile(traits, per_block)} if len(traits) > 1 else {}),
                "n": rng.integers(50, 60, rows),
                "beta": rng.standard_normal(rows) * 10.0 ** rng.integers(-9, 9, rows),
                "pvalue": p,
                # only block 3 has a reason: elsewhere the column is all missing
                "reason": ["monomorphic" if b == 3 and i % 7 == 0 else None
                           for i in range(rows)],
            }
        ).sample(frac=1.0, random_state=b)  # stored rows come in any order
    spans = {key: (int(f["_index"].min()), int(f["_index"].max())) for key, f in stored.items()}
    return ScanTable.of_blocks(variants, traits, spans, lambda key: stored[key].copy())


@pytest.mark.parametrize("traits", [["y"], ["ldl", "hdl"]])
def test_write_tables__equal_the_whole_table_written_at_once(tmp_path, traits):
    table = _table(traits)
    digest = write_tables(table, tmp_path / "r.parquet", tmp_path / "r.tsv.gz", top=5)
    whole = table.frame()
    written = pq.read_table(tmp_path / "r.parquet")
    at_once = pa.Table.from_pandas(whole, preserve_index=False)
    assert written.schema.field("reason").type == pa.large_string()
    assert written.cast(at_once.schema).equals(at_once)
    assert pq.ParquetFile(tmp_path / "r.parquet").num_row_groups == 6
    text = gzip.open(tmp_path / "r.tsv.gz").read().decode()
    assert text == whole.to_csv(sep="\t", index=False, float_format="%.6g", lineterminator="\n")
    back = pd.read_csv(tmp_path / "r.tsv.gz", sep="\t", keep_default_na=False, na_values=[""])
    read = pd.read_parquet(tmp_path / "r.parquet")
    assert list(back.columns) == list(read.columns)
    for name in read.columns:
        if read[name].dtype.kind == "f":
            np.testing.assert_allclose(back[name], read[name], rtol=5e-6, equal_nan=True)
        else:
            assert back[name].astype(str).where(back[name].notna(), None).tolist() == (
                read[name].astype(str).where(read[name].notna(), None).tolist()), name
    best = whole.nsmallest(5, "pvalue")
    assert digest.top["pvalue"].tolist() == best["pvalue"].tolist()
    assert digest.top["variant"].tolist() == best["variant"].tolist()
    assert digest.rows == len(whole) and digest.tested == whole["pvalue"].notna().sum()
    np.testing.assert_array_equal(digest.pvalues["pvalue"], whole["pvalue"])


def test_write_tables__quoted_text_is_left_to_pandas(tmp_path):
    table = _table(["y"], blocks=2)
    variants = table.variants.copy()
    variants.loc[3, "variant"] = 'odd\t"id"'
    odd = ScanTable(variants, table.traits, table.keys, table.spans, table.load)
    write_tables(odd, tmp_path / "r.parquet", tmp_path / "r.tsv.gz", top=3)
    text = gzip.open(tmp_path / "r.tsv.gz").read().decode()
    whole = odd.frame()
    assert text == whole.to_csv(sep="\t", index=False, float_format="%.6g", lineterminator="\n")
    assert pd.read_csv(tmp_path / "r.tsv.gz", sep="\t")["variant"][3] == 'odd\t"id"'
