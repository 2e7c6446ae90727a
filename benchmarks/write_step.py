"""The write step of ``kinmix scan`` and the command's start-up, against bare baselines.

Command (from the repository root)::

    .venv/bin/python benchmarks/write_step.py
    .venv/bin/python benchmarks/write_step.py --rows 300000 --blocks 200

Write step: a synthetic scan table (default 30,000 rows in 20 blocks, the shape of a
30,000-variant scan) is written by :func:`kinmix.workflow.output.write_tables` (Parquet,
gzip TSV and the digest in one pass) and drawn by :func:`kinmix.plot.manhattan` and
:func:`kinmix.plot.qq`; the baseline is ``pyarrow.parquet.write_table`` of the whole table
at once. Each is timed cold (its first call: imports, fonts) and warm (best of three), in
wall-clock and CPU seconds (the CPU time is steadier on a shared machine). Start-up: a
fresh interpreter importing ``kinmix.cli`` and running ``kinmix scan --help``, against one
importing only NumPy, pandas and SciPy's linalg (best of three each).
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd


def synthetic_table(rows: int, blocks: int, seed: int = 0):
    """A :class:`~kinmix.workflow.results.ScanTable` of ``rows`` variants (one trait) on
    10 chromosomes, a few hundred of them associated."""
    from kinmix.workflow.results import ScanTable

    rng = np.random.default_rng(seed)
    chrom = np.repeat(np.arange(1, 11).astype(str), -(-rows // 10))[:rows]
    variants = pd.DataFrame({
        "chrom": chrom, "pos": np.arange(rows) * 997 % 10_000_000 + 1,
        "variant": [f"{c}:{i}" for i, c in enumerate(chrom)],
        "a1": rng.choice(list("ACGT"), rows), "a2": rng.choice(list("ACGT"), rows),
    })
    chi2 = rng.chisquare(1, rows) * np.where(rng.random(rows) < 0.01, 8.0, 1.0)
    from scipy.special import chdtrc

    stats = pd.DataFrame({
        "_index": np.arange(rows), "n": 3000, "af": rng.uniform(0.05, 0.5, rows),
        "beta": rng.standard_normal(rows) * 0.05, "se": rng.uniform(0.02, 0.1, rows),
        "chi2": chi2, "pvalue": chdtrc(1, chi2), "lml": -4000 + rng.standard_normal(rows),
        "scale": rng.uniform(0.9, 1.1, rows), "reason": None,
    })
    edges = np.linspace(0, rows, blocks + 1).astype(int)
    stored = {f"b{k:04d}": stats.iloc[a:b] for k, (a, b) in enumerate(itertools.pairwise(edges))}
    spans = {key: (int(f["_index"].iloc[0]), int(f["_index"].iloc[-1]))
             for key, f in stored.items()}
    return ScanTable.of_blocks(variants, ["y"], spans, lambda key: stored[key].copy())


def timed(function: Callable[[], object], repeat: int = 3) -> tuple[float, float, float, float]:
    """(cold wall, cold CPU, best warm wall, best warm CPU) seconds of ``function()``."""
    runs = []
    for _ in range(1 + repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    warm = runs[1:]
    return (*runs[0], min(r[0] for r in warm), min(r[1] for r in warm))


def startup(code: list[str], repeat: int = 3) -> float:
    """Best wall-clock seconds of a fresh interpreter running ``code``."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, *code], check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--blocks", type=int, default=20)
    args = parser.parse_args()
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = synthetic_table(args.rows, args.blocks)
    whole = table.frame()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        baseline = timed(lambda: pq.write_table(
            pa.Table.from_pandas(whole, preserve_index=False), out / "bare.parquet"))
        from kinmix import plot
        from kinmix.workflow.output import write_tables

        digest = write_tables(table, out / "r.parquet", out / "r.tsv.gz", top=10)
        steps = {
            "bare pq.write_table (baseline)": baseline,
            "write_tables (parquet+tsv.gz+digest)": timed(
                lambda: write_tables(table, out / "r.parquet", out / "r.tsv.gz", top=10)),
            "manhattan.png": timed(lambda: plot.manhattan(digest.points, out / "m.png")),
            "qq.png": timed(lambda: plot.qq(digest.pvalues, out / "q.png")),
        }
    print(f"write step, {args.rows:,} rows in {args.blocks} blocks (seconds; ratio = warm "
          "wall / baseline's)")
    print(f"{'step':38s} {'cold wall':>9s} {'cold cpu':>9s} {'warm wall':>9s} "
          f"{'warm cpu':>9s} {'ratio':>7s}")
    for name, (cold, cold_cpu, warm, warm_cpu) in steps.items():
        print(f"{name:38s} {cold:9.3f} {cold_cpu:9.3f} {warm:9.3f} {warm_cpu:9.3f} "
              f"{warm / baseline[2]:7.1f}")
    total = sum(v[2] for k, v in steps.items() if "baseline" not in k)
    print(f"{'write step, warm total':38s} {'':9s} {'':9s} {total:9.3f} {'':9s} "
          f"{total / baseline[2]:7.1f}")
    bare = startup(["-c", "import numpy, pandas, scipy.linalg"])
    cli = startup(["-c", "import kinmix.cli"])
    help_ = startup(["-m", "kinmix.cli", "scan", "--help"])
    print(f"\nstart-up (best of 3, wall s): numpy+pandas+scipy.linalg {bare:.3f}; "
          f"import kinmix.cli {cli:.3f} ({cli / bare:.2f}x); kinmix scan --help {help_:.3f} "
          f"({help_ / bare:.2f}x)")


if __name__ == "__main__":
    main()
