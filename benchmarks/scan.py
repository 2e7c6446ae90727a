"""How close is ``kinmix.scan`` to the bare GEMM Q₀ᵀG that bounds it?

For each case the script simulates dosages G (n × m, in memory), a kinship of rank k and
P traits, then times in the same run:

- ``scan``: :func:`kinmix.scan` end to end (null fits, imputation checks, kernel,
  results table);
- ``gemm/blk``: the bare products Q₀ᵀG[:, block] over the same column blocks;
- ``gemm/1``: the one-shot product Q₀ᵀG.

It prints their ratios (targets: scan / GEMM ≤ 1.2 for one trait, ≤ 3 for P = 50), the
ratio of a P-trait scan to a one-trait scan of the same data, and the peak memory traced
by ``tracemalloc`` during a second scan (G itself excluded: it is allocated before), next
to the size of the results table. Run ``python benchmarks/scan.py`` (a few minutes) or
``python benchmarks/scan.py --quick`` (seconds).
"""

from __future__ import annotations

import argparse
import tracemalloc
import warnings
from dataclasses import dataclass

import numpy as np

from _timing import best_time
from kinmix import economic_qs_linear, scan
from kinmix.gwas._inputs import BLOCK_ENTRIES, MAX_BLOCK, MIN_BLOCK

MIB = 2.0**20


@dataclass(frozen=True)
class Case:
    name: str
    n: int
    k: int | None  # None: full rank
    m: int
    traits: int


FULL = [
    Case("full rank", 2000, None, 50_000, 1),
    Case("low rank", 5000, 500, 50_000, 1),
    Case("P=50", 2000, None, 20_000, 50),
]
QUICK = [
    Case("full rank", 1000, None, 10_000, 1),
    Case("low rank", 2000, 200, 10_000, 1),
    Case("P=50", 1000, None, 4_000, 50),
]


def simulate(case: Case, rng: np.random.Generator):
    """Dosages (n, m), the kinship's ``QS`` and traits (n, P) with h² = 0.5."""
    n = case.n
    r = n if case.k is None else case.k
    QS = economic_qs_linear(rng.normal(size=(n, r)) / np.sqrt(r))
    (Q0, _), S0 = QS
    genetic = Q0 @ (np.sqrt(S0)[:, None] * rng.normal(size=(S0.size, case.traits)))
    Y = np.sqrt(0.5) * genetic + np.sqrt(0.5) * rng.normal(size=(n, case.traits))
    G = rng.integers(0, 3, size=(n, case.m), dtype=np.int8).astype(np.float64)
    return G, QS, Y


def default_block(n: int) -> int:
    return int(np.clip(BLOCK_ENTRIES // n, MIN_BLOCK, MAX_BLOCK))


def run(case: Case, rng: np.random.Generator, repeat: int) -> dict[str, float]:
    G, QS, Y = simulate(case, rng)
    (Q0, _), _ = QS
    Q0 = np.ascontiguousarray(Q0)
    y = Y[:, 0] if case.traits == 1 else Y
    block = default_block(case.n)

    def blocked_gemm():
        for start in range(0, case.m, block):
            Q0.T @ G[:, start : start + block]

    row = {
        "k": Q0.shape[1],
        "block": block,
        "scan": best_time(lambda: scan(G, y, None, QS), repeat),
        "gemm_blocked": best_time(blocked_gemm, repeat),
        "gemm_one": best_time(lambda: Q0.T @ G, repeat),
    }
    if case.traits > 1:
        row["scan_one_trait"] = best_time(lambda: scan(G, Y[:, 0], None, QS), repeat)
    tracemalloc.start()
    table = scan(G, y, None, QS)
    row["peak_mib"] = tracemalloc.get_traced_memory()[1] / MIB
    tracemalloc.stop()
    row["table_mib"] = table.memory_usage(deep=True).sum() / MIB
    row["block_mib"] = case.n * block * 8 / MIB
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    parser.add_argument("--repeat", type=int, default=2, help="best of this many runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    warnings.simplefilter("ignore")  # δ on a search bound is irrelevant to timings
    header = (
        f"{'case':<10} {'n':>5} {'k':>5} {'m':>6} {'P':>3} {'block':>5} {'scan s':>7} "
        f"{'gemm/blk':>8} {'gemm/1':>7} {'scan/blk':>8} {'scan/1':>7} {'vs P=1':>6} "
        f"{'peak MiB':>8} {'table MiB':>9} {'block MiB':>9}"
    )
    print(header)
    print("-" * len(header))
    for case in QUICK if args.quick else FULL:
        row = run(case, rng, args.repeat)
        versus = row["scan"] / row["scan_one_trait"] if "scan_one_trait" in row else np.nan
        print(
            f"{case.name:<10} {case.n:>5} {row['k']:>5} {case.m:>6} {case.traits:>3} "
            f"{row['block']:>5} {row['scan']:>7.2f} {row['gemm_blocked']:>8.2f} "
            f"{row['gemm_one']:>7.2f} {row['scan'] / row['gemm_blocked']:>8.2f} "
            f"{row['scan'] / row['gemm_one']:>7.2f} {versus:>6.2f} {row['peak_mib']:>8.1f} "
            f"{row['table_mib']:>9.1f} {row['block_mib']:>9.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
