r"""LOCO scans on Dask workers against the in-process run, and the cost of checkpoints.

Simulates dosages G (n × m over C chromosomes) and one trait, then times in the same run:

- ``in-process``: :func:`kinmix.gwas.loco_scan` here (all BLAS threads; the baseline);
- ``1 worker`` / ``2 workers``: the same scan on a local ``dask.distributed`` cluster of
  worker processes with 1 BLAS thread each (:func:`kinmix.distributed.dask_client`), the
  cluster's start-up excluded. Their tables must equal, to 1e-12 relative
  (:math:`|a-b| \le 10^{-12}\max(1, |b|)` in every statistic), an in-process table
  computed with the same block partition *and one BLAS thread*, so that the arithmetic is
  the same: the all-threads baseline splits each GEMM's sums differently and differs
  from them in the last bits (by about 1e-12 at 4,000-variant blocks), which is rounding,
  not a difference between the runs. The difference to the all-threads table is printed;
- ``plain`` / ``checkpointed``: :func:`kinmix.scan` without and with ``checkpoint=`` (the
  inputs fingerprinted, the null δ and every block's results stored under ``.kinmix/``,
  the blocks committed in batches), and the LOCO scan from PLINK files behind ``kinmix
  scan`` (:func:`kinmix.workflow.scan_files`) without and with its checkpoints (the
  kinship, each chromosome's null state and the blocks stored); both at the default
  block size and at ``--block`` variants per block; the target is an overhead ≤ 5 %.
  The checkpoint folders are deleted after the timings, not inside them (a run keeps its
  checkpoints).

Each time is the best of ``--repeat`` runs. Plain and checkpointed runs alternate, pair
after pair, and the checkpoint overhead is the median (and the smallest) of the per-pair
ratios, which a drifting load on a shared machine disturbs far less than a ratio of best
times; the ``seconds`` of a checkpointed row are the plain best times that median ratio.
Prints a table of seconds and ratios to the baseline of each part. Run
``python benchmarks/distributed.py`` (a few minutes) or ``... --quick`` (about a minute);
``--block B`` sets the variants per block of the LOCO runs and of the second checkpoint
comparison (default 1,000; 500 with ``--quick``); ``--part loco|scan|files`` runs one part
only (e.g. ``--part files``: the ``scan_files`` checkpoint overhead, three to four minutes on a
quiet machine).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# This script's folder comes first on sys.path, where its name would hide the package
# ``distributed`` from Dask: take the folder off before anything imports it.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import numpy as np  # noqa: E402

from kinmix import scan  # noqa: E402
from kinmix.distributed import dask_client  # noqa: E402
from kinmix.grm import standardize  # noqa: E402
from kinmix.gwas import loco_scan  # noqa: E402


def simulate(n: int, m: int, chromosomes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    G = rng.binomial(2, rng.uniform(0.05, 0.5, size=m), size=(n, m)).astype(float)
    Z, _ = standardize(G)
    y = Z @ rng.normal(scale=np.sqrt(0.5 / m), size=m) + rng.normal(scale=np.sqrt(0.5), size=n)
    labels = np.repeat(np.arange(1, chromosomes + 1), -(-m // chromosomes))[:m].astype(str)
    return G, y, labels


def best(function: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def paired(
    first: Callable[[], object], second: Callable[[], object], repeat: int
) -> tuple[float, object, list[float], object]:
    """Time two functions alternately, ``repeat`` pairs (the load of a shared machine
    drifts; a pair sees about the same load). Returns the best time of ``first``, its
    result, the per-pair ratios second/first, and the result of ``second``."""
    times: list[list[float]] = [[], []]
    results: list[object] = [None, None]
    for _ in range(repeat):
        for i, function in enumerate((first, second)):
            start = time.perf_counter()
            results[i] = function()
            times[i].append(time.perf_counter() - start)
    ratios = [b / a for a, b in zip(times[0], times[1], strict=True)]
    return min(times[0]), results[0], ratios, results[1]


@contextmanager
def checkpoint_folders() -> Iterator[Callable[[], str]]:
    """``new()`` gives a fresh folder; all are deleted on exit, outside any timing."""
    made: list[str] = []

    def new() -> str:
        made.append(tempfile.mkdtemp(prefix="kinmix-bench-"))
        return made[-1]

    try:
        yield new
    finally:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)


def max_difference(a, b) -> float:
    r"""Largest :math:`|a-b|/\max(1, |b|)` over the statistics' columns; NaN in one table
    but not the other counts as infinitely different."""
    columns = ["beta", "se", "chi2", "pvalue", "lml", "scale"]
    x, y = a[columns].to_numpy(dtype=float), b[columns].to_numpy(dtype=float)
    if not np.array_equal(np.isnan(x), np.isnan(y)):
        return float("inf")
    both = ~np.isnan(x)
    return float(np.max(np.abs(x - y)[both] / np.maximum(np.abs(y[both]), 1.0), initial=0.0))


def files_rows(quick: bool, repeat: int, block: int) -> list[tuple[str, float, list, float]]:
    """``scan_files`` on a simulated PLINK cohort, without and with checkpoints, at the
    default block size and at ``block`` variants per block."""
    from kinmix.checkpoint import CheckpointStore
    from kinmix.gwas import ResumableRun
    from kinmix.io import open_genotypes
    from kinmix.io.tables import read_sample_table
    from kinmix.simulate import simulate_cohort, write_cohort
    from kinmix.workflow import ScanOptions, scan_files
    from kinmix.workflow.options import variants_per_block

    # n = 2,000: a LOCO run of about ten seconds, where the fixed costs of a checkpointed
    # run (about fifteen flushes to disk) are the share they would be in practice or more
    n, m = (300, 3000) if quick else (2000, 16000)
    rows = []
    with tempfile.TemporaryDirectory() as folder, checkpoint_folders() as new_folder:
        paths = write_cohort(
            simulate_cohort(samples=n, variants=m, chromosomes=4), Path(folder) / "c"
        )
        genotypes = open_genotypes(bfile=paths["bfile"])
        phenotypes = read_sample_table(paths["pheno"], kind="phenotype", columns=["continuous"])
        for options in (ScanOptions(), ScanOptions(chunk_size=block)):
            size = variants_per_block(options, n)

            def plain(options=options):
                return scan_files(genotypes, phenotypes, options=options).table

            def checkpointed(options=options):
                run = ResumableRun(CheckpointStore.open(new_folder(), manifest={"run": 1}))
                result = scan_files(genotypes, phenotypes, options=options, run=run)
                run.flush()  # what kinmix scan does before writing the results
                return result.table

            base, expected, ratios, table = paired(plain, checkpointed, repeat)
            rows.append((f"scan_files plain (n={n}, m={m}, {size}/block)", base, [1.0], 0.0))
            rows.append(("scan_files checkpointed", base * np.median(ratios), ratios,
                         max_difference(table, expected)))
    return rows


def scan_rows(G, y, K, repeat: int, block: int) -> list[tuple[str, float, list, float]]:
    """``kinmix.scan`` without and with ``checkpoint=``, at the default block size and at
    ``block`` variants per block."""
    rows = []
    with checkpoint_folders() as new_folder:
        for size in (None, block):

            def plain(size=size):
                return scan(G, y, K=K, block_size=size)

            def checkpointed(size=size):
                return scan(G, y, K=K, block_size=size, checkpoint=new_folder())

            base, expected, ratios, table = paired(plain, checkpointed, repeat)
            label = "default" if size is None else str(size)
            rows.append((f"scan plain ({label}/block)", base, [1.0], 0.0))
            rows.append(("scan checkpointed", base * np.median(ratios), ratios,
                         max_difference(table, expected)))
    return rows


def loco_rows(loco: Callable[..., object], repeat: int) -> list[tuple[str, float, list, float]]:
    """The LOCO scan in-process (the baseline) and on 1 and 2 Dask workers × 1 BLAS thread,
    whose tables must equal the in-process one on 1 BLAS thread to 1e-12."""
    from threadpoolctl import threadpool_limits

    base, expected = best(loco, repeat)
    with threadpool_limits(1):
        same_arithmetic = loco()
    rows = [("LOCO in-process", base, [1.0], 0.0)]
    for workers in (1, 2):
        with dask_client(workers=workers, blas_threads=1) as client:
            seconds, table = best(lambda client=client: loco(client), repeat)
        difference = max_difference(table, same_arithmetic)
        rows.append((f"LOCO {workers} worker(s) × 1 BLAS", seconds, [seconds / base], difference))
        print(f"{workers} worker(s): max relative difference {difference:.2g} to the in-process "
              f"table with 1 BLAS thread, {max_difference(table, expected):.2g} to the "
              "all-threads one")
        if difference > 1e-12:
            raise SystemExit(f"{workers} worker(s) differ from in-process by {difference:.2g}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller cohort (seconds)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs per timing (best kept) and plain/checkpointed pairs")
    parser.add_argument("--block", type=int, default=None,
                        help="variants per block (default 1000, or 500 with --quick)")
    parser.add_argument("--part", choices=["all", "loco", "scan", "files"], default="all",
                        help="only the LOCO runs on Dask, the kinmix.scan checkpoints or "
                        "the scan_files checkpoints (default all)")
    args = parser.parse_args()
    n, m, chromosomes = (400, 4000, 4) if args.quick else (1000, 16000, 4)
    block = args.block or (500 if args.quick else 1000)
    G, y, labels = simulate(n, m, chromosomes)
    warnings.simplefilter("ignore")
    print(f"n = {n}, m = {m}, {chromosomes} chromosomes, {block} variants per block")

    def loco(client=None):
        return loco_scan(G, y, chromosomes=labels, block_size=block, restricted=True,
                         client=client)

    rows = []
    if args.part in ("all", "loco"):
        rows += loco_rows(loco, args.repeat)
    if args.part in ("all", "scan"):
        Z, _ = standardize(G)
        K = Z @ Z.T / Z.shape[1]
        rows += scan_rows(G, y, K, args.repeat, block)
    if args.part in ("all", "files"):
        rows += files_rows(args.quick, args.repeat, block)
    print(f"{'run':<44}{'seconds':>10}{'ratio':>8}{'min ratio':>11}{'max rel diff':>14}")
    for name, seconds, ratio, difference in rows:
        print(f"{name:<44}{seconds:>10.3f}{np.median(ratio):>8.3f}{min(ratio):>11.3f}"
              f"{difference:>14.2g}")
    plain = ""
    for name, _, ratio, _ in rows:
        if "plain" in name:
            plain = name
        if "checkpointed" in name:
            print(f"{plain.replace('plain', 'checkpointed')}: overhead "
                  f"{100 * (np.median(ratio) - 1):+.1f} % median, "
                  f"{100 * (min(ratio) - 1):+.1f} % best of {len(ratio)} interleaved pairs "
                  "(target ≤ 5 %)")


if __name__ == "__main__":
    main()
