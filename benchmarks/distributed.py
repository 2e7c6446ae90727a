"""LOCO scans on Dask workers against the in-process run, and the cost of checkpoints.

Simulates dosages G (n × m over C chromosomes) and one trait, then times in the same run:

- ``in-process``: :func:`kinmix.gwas.loco_scan` here (all BLAS threads; the baseline);
- ``1 worker`` / ``2 workers``: the same scan on a local ``dask.distributed`` cluster of
  worker processes with 1 BLAS thread each (:func:`kinmix.distributed.dask_client`), the
  cluster's start-up excluded; the tables must equal the in-process one to 1e-12;
- ``plain`` / ``checkpointed``: :func:`kinmix.scan` without and with ``checkpoint=`` (each
  block's results written atomically under ``.kinmix/``, the inputs fingerprinted), and
  the LOCO scan from PLINK files behind ``kinmix scan`` (:func:`kinmix.workflow.scan_files`)
  without and with its checkpoints (the kinship, each chromosome's null state and each
  block stored); the target is an overhead ≤ 5 %.

Each time is the best of ``--repeat`` runs. Plain and checkpointed runs alternate, pair
after pair, and the checkpoint overhead is the median (and the smallest) of the per-pair
ratios, which a drifting load on a shared machine disturbs far less than a ratio of best
times; the ``seconds`` of a checkpointed row are the plain best times that median ratio.
Prints a table of seconds and ratios to the baseline of each part. Run
``python benchmarks/distributed.py`` (a few minutes) or ``... --quick`` (about a minute).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
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


def max_difference(a, b) -> float:
    columns = ["beta", "se", "chi2", "pvalue", "lml", "scale"]
    x, y = a[columns].to_numpy(), b[columns].to_numpy()
    return float(np.nanmax(np.abs(x - y) / np.maximum(np.abs(y), 1.0)))


def files_rows(quick: bool, repeat: int) -> list[tuple[str, float, float, float]]:
    """``scan_files`` on a simulated PLINK cohort, without and with checkpoints."""
    from kinmix.checkpoint import CheckpointStore
    from kinmix.gwas import ResumableRun
    from kinmix.io import open_genotypes
    from kinmix.io.tables import read_sample_table
    from kinmix.simulate import simulate_cohort, write_cohort
    from kinmix.workflow import ScanOptions, scan_files

    n, m = (300, 3000) if quick else (800, 16000)
    with tempfile.TemporaryDirectory() as folder:
        paths = write_cohort(
            simulate_cohort(samples=n, variants=m, chromosomes=4), Path(folder) / "c"
        )
        genotypes = open_genotypes(bfile=paths["bfile"])
        phenotypes = read_sample_table(paths["pheno"], kind="phenotype", columns=["continuous"])
        options = ScanOptions(chunk_size=1000)

        def plain():
            return scan_files(genotypes, phenotypes, options=options).table

        def checkpointed():
            with tempfile.TemporaryDirectory() as out:
                store = CheckpointStore.open(out, manifest={"run": 1})
                run = ResumableRun(store)
                return scan_files(genotypes, phenotypes, options=options, run=run).table

        base, expected, ratios, table = paired(plain, checkpointed, repeat)
    return [
        (f"scan_files plain (n={n}, m={m})", base, [1.0], 0.0),
        ("scan_files checkpointed", base * np.median(ratios), ratios,
         max_difference(table, expected)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller cohort (seconds)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs per timing (best kept) and plain/checkpointed pairs")
    args = parser.parse_args()
    n, m, chromosomes, block = (400, 4000, 4, 500) if args.quick else (1000, 16000, 4, 1000)
    G, y, labels = simulate(n, m, chromosomes)
    warnings.simplefilter("ignore")
    print(f"n = {n}, m = {m}, {chromosomes} chromosomes, {block} variants per block")
    rows = []
    base, expected = best(
        lambda: loco_scan(G, y, chromosomes=labels, block_size=block, restricted=True), args.repeat
    )
    rows.append(("LOCO in-process", base, [1.0], 0.0))
    for workers in (1, 2):
        with dask_client(workers=workers, blas_threads=1) as client:
            seconds, table = best(
                lambda client=client: loco_scan(
                    G, y, chromosomes=labels, block_size=block, restricted=True, client=client
                ),
                args.repeat,
            )
        difference = max_difference(table, expected)
        rows.append((f"LOCO {workers} worker(s) × 1 BLAS", seconds, [seconds / base], difference))
        if difference > 1e-12:
            raise SystemExit(f"{workers} worker(s) differ from in-process by {difference:.2g}")
    Z, _ = standardize(G)
    K = Z @ Z.T / Z.shape[1]

    def checkpointed():
        with tempfile.TemporaryDirectory() as folder:
            return scan(G, y, K=K, block_size=block, checkpoint=folder)

    plain, expected, ratios, table = paired(
        lambda: scan(G, y, K=K, block_size=block), checkpointed, args.repeat
    )
    rows.append(("scan plain", plain, [1.0], 0.0))
    rows.append(("scan checkpointed", plain * np.median(ratios), ratios,
                 max_difference(table, expected)))
    rows += files_rows(args.quick, args.repeat)
    print(f"{'run':<30}{'seconds':>10}{'ratio':>8}{'min ratio':>11}{'max rel diff':>14}")
    for name, seconds, ratio, difference in rows:
        print(f"{name:<30}{seconds:>10.3f}{np.median(ratio):>8.3f}{min(ratio):>11.3f}"
              f"{difference:>14.2g}")
    for name, _, ratio, _ in rows:
        if "checkpointed" in name:
            print(f"{name}: overhead {100 * (np.median(ratio) - 1):+.1f} % median, "
                  f"{100 * (min(ratio) - 1):+.1f} % best of {len(ratio)} interleaved pairs "
                  "(target ≤ 5 %)")


if __name__ == "__main__":
    main()
