"""Null-model fit against its floor, the eigendecomposition of the kinship.

A full fit is ``economic_qs(K)`` followed by ``LMM(y, X, QS).fit()``. Its only superlinear
step is the O(n³) symmetric eigendecomposition; everything else (rotation of y and X, the
grid and Brent search over δ, the derivative polish) must be negligible beside it. The
table reports both times, measured in the same run on the same K, and their ratio
(target ≤ 1.15).

    python benchmarks/null_fit.py            # n = 1000, 2000, 4000
    python benchmarks/null_fit.py --sizes 500 1000 --repeats 2
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from _timing import best_time
from kinmix import economic_qs
from kinmix.lmm import LMM


def _problem(n: int, rng: np.random.Generator):
    genotypes = rng.binomial(2, 0.3, size=(n, n)).astype(float)
    genotypes -= genotypes.mean(axis=0)
    genotypes /= genotypes.std(axis=0)
    K = genotypes @ genotypes.T / n
    X = np.column_stack([np.ones(n), rng.standard_normal((n, 2))])
    y = (
        X @ [1.0, 0.5, -0.5]
        + genotypes @ rng.standard_normal(n) / np.sqrt(n)
        + rng.standard_normal(n)
    )
    return y, X, K


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'n':>6} {'eigh (s)':>10} {'fit (s)':>10} {'ratio':>7}  (target ratio <= 1.15)")
    for n in args.sizes:
        y, X, K = _problem(n, rng)

        def fit(y=y, X=X, K=K):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                LMM(y, X, economic_qs(K)).fit(verbose=False)

        # Interleave the two measurements so that machine noise hits both alike.
        eigh_times, fit_times = [], []
        for _ in range(args.repeats):
            eigh_times.append(best_time(lambda K=K: np.linalg.eigh(K), 1))
            fit_times.append(best_time(fit, 1))
        eigh_time, fit_time = min(eigh_times), min(fit_times)
        print(f"{n:>6} {eigh_time:>10.3f} {fit_time:>10.3f} {fit_time / eigh_time:>7.3f}")


if __name__ == "__main__":
    main()
