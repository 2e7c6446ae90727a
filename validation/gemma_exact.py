"""GEMMA ``-lmm 4`` (Wald, LRT and score with δ re-estimated per variant) against kinmix.

Command::

    .venv/bin/python validation/gemma_exact.py [--samples 800] [--variants 3000] [--seed 1]

Simulates a related cohort (sibships of 4 from two populations, one continuous trait, an
intercept and two covariates) and writes it as PLINK files with bed-reader's ``to_bed``
(both with ``validation/sibships.py``, shared with ``benchmarks/exact.py``), runs GEMMA
0.98.5 (Debian's ``gemma``) to build its centred kinship (``-gk 1``) and to test every
variant (``-lmm 4 -k ... -c ...``), then runs
``kinmix.scan(..., test="all", refit_delta=True)`` with GEMMA's kinship file and compares:

- ``p_wald``, ``p_lrt``, ``p_score`` with kinmix's ``pvalue_f``, ``pvalue_lrt``,
  ``pvalue_score``: relative difference of −log10 p at most 1e-4;
- ``beta``, ``se`` (GEMMA's REML Wald fit) and GEMMA's ``l_remle``, ``l_mle`` (λ = γ =
  (1 − δ)/δ) against kinmix's REML and ML δ: relative difference at most 1e-5.

GEMMA counts the A1 allele (the bim file's fifth column), as ``count_A1=True`` does.
GEMMA prints 7 significant digits: a variant over the tolerance whose p-value (or β,
relative to its se) agrees to 1e-6 is within GEMMA's printed precision (p close to 1,
β close to 0). For any other, the script evaluates both likelihoods (:class:`kinmix.LMM`
with δ fixed) at GEMMA's λ and at kinmix's: if kinmix's is at least as high, GEMMA's
optimiser stopped early. Exit status 1 on any other disagreement.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from sibships import run, simulate_sibships, write_cohort


def rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b) / np.maximum(np.abs(b), 1e-300)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=800)
    parser.add_argument("--variants", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("gemma") is None:
        sys.exit("gemma is not on PATH (Debian package 'gemma').")
    import kinmix
    from kinmix.lmm import LMM

    G, y, covariates = simulate_sibships(args.samples, args.variants, args.seed)
    n, m = G.shape
    work = Path(tempfile.mkdtemp(prefix="kinmix-gemma-"))
    X = np.column_stack([np.ones(n), covariates])
    _, variants = write_cohort(work, G, y, X, ["1"] * m)
    run(["gemma", "-bfile", "cohort", "-gk", "1", "-o", "kin", "-outdir", "out"], work)
    run(
        [
            "gemma",
            "-bfile",
            "cohort",
            "-k",
            "out/kin.cXX.txt",
            "-c",
            "covar.txt",
            "-lmm",
            "4",
            "-o",
            "assoc",
            "-outdir",
            "out",
        ],
        work,
    )
    gemma = pd.read_csv(work / "out" / "assoc.assoc.txt", sep="\t").set_index("rs")
    K = np.loadtxt(work / "out" / "kin.cXX.txt")
    ours = kinmix.scan(G, y, X, K=K, variants=variants, test="all", refit_delta=True)
    ours = ours.set_index("variant").loc[gemma.index]
    print(
        f"kinmix {kinmix.__version__} vs GEMMA -lmm 4 on {n} samples x {len(gemma)} "
        f"variants (of {m} simulated; {work})"
    )
    if np.sign(ours.beta).ne(np.sign(gemma.beta)).mean() > 0.5:
        sys.exit("beta has the opposite sign: the allele counted differs.")

    def neglog(p):
        return -np.log10(p)

    checks = {
        "p_wald": (neglog(ours.pvalue_f), neglog(gemma.p_wald), 1e-4),
        "p_lrt": (neglog(ours.pvalue_lrt), neglog(gemma.p_lrt), 1e-4),
        "p_score": (neglog(ours.pvalue_score), neglog(gemma.p_score), 1e-4),
        "beta": (ours.beta, gemma.beta, 1e-5),
        "se": (ours.se, gemma.se, 1e-5),
        "l_remle": ((1 - ours.delta_reml) / ours.delta_reml, gemma.l_remle, 1e-5),
        "l_mle": ((1 - ours.delta_ml) / ours.delta_ml, gemma.l_mle, 1e-5),
    }
    ours_p = {"p_wald": ours.pvalue_f, "p_lrt": ours.pvalue_lrt, "p_score": ours.pvalue_score}
    # Variants where GEMMA's printed δ is a different optimum: compare likelihoods there.
    QS = kinmix.economic_qs(K)

    def profile(j: int, delta: float, restricted: bool) -> float:
        lmm = LMM(y, np.column_stack([X, G[:, j]]), QS, restricted=restricted)
        lmm.delta = float(delta)
        lmm.fix("delta")
        lmm.fit(verbose=False)
        return lmm.lml()

    failed = False
    for name, (a, b, tol) in checks.items():
        a, b = np.asarray(a, float), np.asarray(b, float)
        err = rel(a, b)
        bad = np.flatnonzero(err > tol)
        # GEMMA prints 7 significant digits: for p close to 1 (−log10 p close to 0) and for
        # effects close to 0 the relative tolerance is below its printed precision. Such
        # a variant is explained when the quantity itself (p, or β relative to its se)
        # agrees to 1e-6.
        if name.startswith("p_"):
            printed = rel(np.asarray(ours_p[name], float), np.asarray(gemma[name], float))
        elif name == "beta":
            printed = np.abs(a - b) / np.asarray(gemma.se, float)
        else:
            printed = np.full(a.shape, np.inf)
        digits = int(np.sum(printed[bad] <= 1e-6))
        # Otherwise: is kinmix's likelihood at its δ at least GEMMA's at GEMMA's λ?
        likelihood = 0
        if name in ("l_remle", "l_mle", "beta", "se", "p_wald", "p_lrt"):
            restricted = name in ("l_remle", "beta", "se", "p_wald")
            column = "l_remle" if restricted else "l_mle"
            for i in bad[printed[bad] > 1e-6]:
                j = variants.index(gemma.index[i])
                d_ours = ours[f"delta_{'reml' if restricted else 'ml'}"].iloc[i]
                d_gemma = 1.0 / (1.0 + gemma[column].iloc[i])
                gain = profile(j, d_ours, restricted) - profile(j, d_gemma, restricted)
                likelihood += gain >= -1e-9
        status = "ok" if bad.size == digits + likelihood else "FAIL"
        failed |= status == "FAIL"
        print(
            f"  {name:8s} max rel diff {np.nanmax(err):.2e} (tol {tol:g}); {bad.size} over "
            f"tol: {digits} within GEMMA's printed digits, {likelihood} where kinmix's "
            f"likelihood is higher  {status}"
        )
    print(
        "converged:", int(ours.converged_reml.sum()), int(ours.converged_ml.sum()), "of", len(ours)
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
