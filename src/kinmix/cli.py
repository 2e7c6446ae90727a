"""Command-line interface: ``kinmix demo``.

``kinmix demo`` runs the whole single-trait workflow on the bundled example cohort
(FaST-LMM's simulated data: 500 samples, 5,000 variants on 5 chromosomes, a phenotype with
10 causal variants and one covariate): heritability by REML, then a leave-one-chromosome-out
(LOCO) association scan, written as a TSV table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ._version import __version__
from .constants import CHI2_MEDIAN
from .errors import KinmixError

#: Median of the χ²₁ distribution, the denominator of the genomic inflation factor.


def _write_atomically(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as TSV through a temporary file, so a killed run leaves no partial."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            frame.to_csv(handle, sep="\t", index=False, float_format="%.6g")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _demo(args: argparse.Namespace) -> int:
    from .grm import grm
    from .io.plink import read_plink
    from .io.tables import align_samples, read_sample_table
    from .workflow import estimate_h2, loco_scan

    data = resources.files("kinmix") / "data" / "synth"
    with resources.as_file(data) as folder:
        genotypes = read_plink(folder / "all", count_a1=False)
        samples = genotypes.samples["iid"]
        y = align_samples(
            samples,
            read_sample_table(folder / "pheno_10_causals.txt", name="phenotype"),
            name="phenotype",
        )[:, 0]
        covariate = align_samples(
            samples, read_sample_table(folder / "cov.txt", name="covariate"), name="covariate"
        )
        X = np.column_stack([np.ones(len(y)), covariate])
        n, m = genotypes.shape
        print(
            f"kinmix {__version__} demo: {n} samples, {m} variants, "
            f"{genotypes.variants['chrom'].nunique()} chromosomes (bundled FaST-LMM cohort)"
        )
        h2 = estimate_h2(y, X, grm(genotypes))
        print(
            f"heritability (REML): h2 = {h2['h2']:.3f} ± {h2['h2_se']:.3f} "
            f"(delta = {h2['delta']:.3f}, scale = {h2['scale']:.3f})"
        )
        results = loco_scan(genotypes, y, X)
    out = Path(args.out) / "results.tsv"
    _write_atomically(results, out)
    chi2 = results["chi2"].dropna()
    lambda_gc = float(np.median(chi2) / CHI2_MEDIAN)
    hits = results.nsmallest(args.top, "pvalue")
    print(f"scanned {len(results)} variants (LOCO); genomic inflation lambda_GC = {lambda_gc:.3f}")
    print(f"top {len(hits)} associations:")
    shown = hits[["chrom", "pos", "variant", "beta", "se", "pvalue"]]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"results written to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kinmix`` command."""
    parser = argparse.ArgumentParser(prog="kinmix", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"kinmix {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="heritability and a LOCO scan of the bundled data")
    demo.add_argument("--out", default="kinmix-demo-out", help="output folder")
    demo.add_argument("--top", type=int, default=10, help="associations to print")
    demo.set_defaults(handler=_demo)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KinmixError as exc:
        print(f"kinmix: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
