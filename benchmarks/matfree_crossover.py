"""Where conjugate gradients overtake the eigendecomposition in ``kinmix.scan``.

For cohorts of nuclear families plus unrelated people (n = 1,000, 2,000, 3,000; m model
variants, all of them tested, one whole-genome kinship) it times, in the same run:

- ``exact``: ``kinmix.grm`` + ``kinmix.scan(G, y, K=K, restricted=True, method="exact")``
  (dense GRM, eigendecomposition, REML null, scan);
- ``cg``: ``GenotypeGRM.from_genotypes`` + ``kinmix.scan(G, y, K=op, method="cg")``
  (int8 encoding, Monte-Carlo REML, batched CG solves, calibrated scan, refine of the
  hits).

It prints seconds, the ratio cg / exact and the max |Δ−log10 p| between the two, from which
:data:`kinmix.matfree.AUTO_CG_SAMPLES` (the ``method="auto"`` threshold) is set. Command::

    python benchmarks/matfree_crossover.py [--variants 2000] [--samples 1000 2000 3000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import kinmix
from kinmix.matfree import GenotypeGRM
from kinmix.simulate import simulate_families


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=2000)
    parser.add_argument("--samples", type=int, nargs="+", default=[1000, 2000, 3000])
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()[0]:.2f}; m = {args.variants}")
    print(f"{'n':>6}{'exact s':>10}{'cg s':>10}{'cg/exact':>10}{'max dlogp':>11}")
    for n in args.samples:
        families = n // 8
        cohort = simulate_families(families=families, children=2, unrelated=n - 4 * families,
                                   variants=args.variants, chromosomes=10, h2=0.5,
                                   missing=0.005, seed=n)
        G, y = cohort.dosages, cohort.trait
        start = time.perf_counter()
        exact = kinmix.scan(G, y, K=kinmix.grm(G), restricted=True, method="exact")
        exact_s = time.perf_counter() - start
        start = time.perf_counter()
        op = GenotypeGRM.from_genotypes(G, cohort.chromosomes)
        cg = kinmix.scan(G, y, K=op, method="cg")
        cg_s = time.perf_counter() - start
        dlogp = np.nanmax(np.abs(np.log10(cg["pvalue"]) - np.log10(exact["pvalue"])))
        print(f"{n:>6}{exact_s:>10.1f}{cg_s:>10.1f}{cg_s / exact_s:>10.2f}{dlogp:>11.3f}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
