"""The ``kinmix`` command: GWAS with linear mixed models from PLINK/BGEN files and tables.

Subcommands: ``scan`` (association scan, LOCO by default), ``h2`` (REML heritability),
``grm`` (write a kinship file), ``simulate`` (a realistic cohort as PLINK files and tables)
and ``demo`` (``scan`` on the bundled example cohort). Exit codes: 0 success, 2 a problem
with the input (a one-line message naming it and the fix), 1 an internal error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._malloc import fix_mmap_threshold, release_arrow_memory
from ._version import __version__
from .constants import AUTO_CG_SAMPLES
from .errors import KinmixError

log = logging.getLogger("kinmix")

#: Files that mark a finished ``kinmix scan`` in its output folder.
SCAN_OUTPUTS = ("results.parquet", "results.tsv.gz", "summary.json", "manhattan.png", "qq.png")


class UserError(KinmixError):
    """A problem with the command line or the environment that the user can fix."""


# -- parsing ----------------------------------------------------------------------------------
def _names(text: str | None) -> list[str] | None:
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]


def _add_genotypes(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    group = parser.add_argument_group("genotypes")
    source = group.add_mutually_exclusive_group(required=required)
    source.add_argument("--bfile", metavar="PREFIX", help="PLINK 1 .bed/.bim/.fam prefix")
    source.add_argument("--bgen", metavar="FILE", help="BGEN 1.2/1.3 file (extra 'bgen')")
    group.add_argument("--sample", metavar="FILE", help="Oxford .sample file for --bgen")
    group.add_argument(
        "--count",
        choices=("a1", "a2"),
        default="a1",
        help="allele the dosage counts: the .bim's 5th column (a1, PLINK 2's habit, default) "
        "or its 6th (a2, FaST-LMM's)",
    )


def _add_tables(parser: argparse.ArgumentParser, *, covariates: bool = True) -> None:
    group = parser.add_argument_group("sample tables")
    group.add_argument("--pheno", metavar="FILE", required=True, help="phenotype table")
    group.add_argument("--pheno-name", metavar="A,B", help="phenotype columns (default all)")
    group.add_argument("--id-col", metavar="NAME", help="the ID column of headed tables")
    if covariates:
        group.add_argument("--covar", metavar="FILE", help="covariate table")
        group.add_argument("--covar-name", metavar="A,B", help="covariate columns")
        group.add_argument(
            "--categorical", metavar="A,B", help="covariate columns to one-hot encode"
        )


def _add_kinship(parser: argparse.ArgumentParser, *, precomputed: bool = True) -> None:
    group = parser.add_argument_group("kinship")
    if precomputed:
        source = group.add_mutually_exclusive_group()
        source.add_argument(
            "--grm-bfile", metavar="PREFIX", help="build the kinship from this PLINK file"
        )
        source.add_argument("--grm", metavar="FILE", help="precomputed kinship (.npz, GCTA)")
    group.add_argument(
        "--grm-kind",
        choices=("standardized", "centered"),
        default="standardized",
        help="standardised variants (default) or centred ones (GEMMA's -gk 1)",
    )
    group.add_argument(
        "--maf",
        type=float,
        default=0.0,
        metavar="X",
        help="minimum minor allele frequency of kinship variants (default 0)",
    )
    group.add_argument(
        "--max-missing",
        type=float,
        default=1.0,
        metavar="X",
        help="maximum missing fraction of kinship variants (default 1)",
    )


def _add_output(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    parser.add_argument(
        "--out", metavar="DIR", required=default is None, default=default, help="output folder"
    )
    loud = parser.add_mutually_exclusive_group()
    loud.add_argument("--quiet", action="store_true", help="only warnings and errors")
    loud.add_argument("--verbose", action="store_true", help="debug messages and tracebacks")


def _run_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("long runs (see the documentation's 'Long scans')")
    group.add_argument(
        "--restart",
        action="store_true",
        help="discard the checkpoints of an earlier run in --out (default: resume from them)",
    )
    where = group.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, metavar="N", help="run on a local Dask cluster of N processes"
    )
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="run on the Dask cluster at ADDRESS"
    )


def _scan_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model and test")
    loco = group.add_mutually_exclusive_group()
    loco.add_argument(
        "--loco",
        dest="loco",
        action="store_true",
        default=None,
        help="leave the tested chromosome out of the kinship (default, unless --grm)",
    )
    loco.add_argument("--no-loco", dest="loco", action="store_false", help="one kinship")
    group.add_argument("--null", choices=("reml", "ml"), default="reml", help="null δ fit")
    group.add_argument(
        "--test",
        choices=("lrt", "wald", "f", "score"),
        default="lrt",
        help="lrt: n log(R0/R1) (Hail's, default); wald: χ²₁; f: FaST-LMM's F(1, n-c-1); "
        "score: GEMMA's, at the null δ",
    )
    group.add_argument(
        "--refit-delta",
        action="store_true",
        help="GEMMA's exact tests: re-estimate δ for every variant (REML for wald and f, "
        "ML for lrt; the null is then fitted by ML); adds the columns delta, h2, converged",
    )
    group.add_argument(
        "--trait-type",
        choices=("continuous", "binary", "count", "binomial"),
        default="continuous",
        help="non-continuous traits fit a GLMM null by EP",
    )
    group.add_argument("--trials", metavar="COL", help="phenotype column of binomial trials")
    group.add_argument("--condition", metavar="V1,V2", help="variants added as covariates")
    group.add_argument("--interaction", metavar="COL", help="covariate column E of a g×E scan")
    group.add_argument(
        "--joint",
        choices=("any", "common"),
        help="test the --pheno-name traits jointly with the multi-trait model (Kron2Sum): "
        "any: an effect per trait (p d.o.f.); common: one shared effect (1 d.o.f.)",
    )
    group.add_argument(
        "--method",
        choices=("auto", "exact", "cg"),
        default="exact",
        help="exact (default): eigendecompose each LOCO kinship; cg: matrix-free conjugate "
        "gradients (Monte-Carlo REML, calibrated statistics, exact refine of p < 1e-6 and of "
        "any calibrated -log10 p that may be off by > 0.1; "
        "continuous traits, --test lrt, no checkpoints); auto: cg from "
        f"{AUTO_CG_SAMPLES:,} samples when the other options allow it",
    )
    group.add_argument("--chunk-size", type=int, metavar="N", help="variants per block read")
    group.add_argument("--top", type=int, default=10, metavar="N", help="top hits reported")


EXAMPLES = {
    "scan": """example:
  kinmix scan --bfile cohort --pheno cohort.pheno.tsv --pheno-name continuous \\
      --covar cohort.covar.tsv --categorical site --out scan-out
writes scan-out/results.parquet, results.tsv.gz, summary.json, manhattan.png, qq.png
and kinmix.log. FaST-LMM's habits: --count a2 --test f.""",
    "h2": """example:
  kinmix h2 --bfile cohort --pheno cohort.pheno.tsv --pheno-name continuous \\
      --grm-kind centered --out h2-out
prints h2 and its SE (REML), GEMMA's vg, ve, pve and se(pve); writes h2-out/h2.json,
h2-out/h2_profile.png and h2-out/kinmix.log.""",
    "grm": """example:
  kinmix grm --bfile cohort --out cohort.kinship.npz
  kinmix grm --bfile cohort --grm-kind centered --out cohort   # GCTA cohort.grm.bin/.id/.N.bin""",
    "simulate": """example:
  kinmix simulate --out cohort --samples 3000 --variants 30000 --chromosomes 10 --seed 1
writes cohort.bed/.bim/.fam, cohort.pheno.tsv and cohort.covar.tsv.""",
    "demo": """example:
  kinmix demo --out kinmix-demo-out
runs kinmix scan on the bundled FaST-LMM cohort (500 samples, 5,000 variants).""",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kinmix", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"kinmix {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, handler: Callable) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=summary,
            description=summary,
            epilog=EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    scan = command("scan", "association scan of phenotypes against every variant", _scan)
    _add_genotypes(scan)
    _add_tables(scan)
    _add_kinship(scan)
    _scan_options(scan)
    _run_options(scan)
    _add_output(scan)

    h2 = command("h2", "REML heritability with GEMMA's pve and se(pve)", _h2)
    _add_genotypes(h2)
    _add_tables(h2)
    _add_kinship(h2)
    _add_output(h2)

    grm = command("grm", "write the kinship of a genotype file", _grm)
    _add_genotypes(grm)
    _add_kinship(grm, precomputed=False)
    grm.add_argument("--out", metavar="FILE", required=True, help="FILE.npz or a GCTA prefix")
    grm.add_argument("--quiet", action="store_true", help="only warnings and errors")

    simulate = command("simulate", "simulate a cohort as PLINK files and tables", _simulate)
    simulate.add_argument("--out", metavar="PREFIX", required=True, help="output prefix")
    simulate.add_argument("--samples", type=int, required=True, metavar="N")
    simulate.add_argument("--variants", type=int, required=True, metavar="M")
    simulate.add_argument("--chromosomes", type=int, default=10, metavar="C")
    simulate.add_argument("--seed", type=int, default=0, metavar="S")
    simulate.add_argument("--quiet", action="store_true", help="print nothing")

    demo = command("demo", "kinmix scan on the bundled example cohort", _demo)
    _add_output(demo, default="kinmix-demo-out")
    demo.add_argument("--top", type=int, default=10, metavar="N", help="top hits printed")
    return parser


# -- shared steps -----------------------------------------------------------------------------
def _open_genotypes(args: argparse.Namespace, *, bfile: str | None = None) -> Any:
    from .io import open_genotypes

    count_a1 = args.count == "a1"
    if bfile is not None:
        return open_genotypes(bfile=bfile, count_a1=count_a1)
    if args.bfile is not None:
        if args.sample is not None:
            raise UserError("--sample goes with --bgen, not --bfile; drop it.")
        return open_genotypes(bfile=args.bfile, count_a1=count_a1)
    return open_genotypes(bgen=args.bgen, sample=args.sample, count_a1=count_a1)


def _read_tables(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    from .io.tables import read_sample_table

    phenotypes = read_sample_table(
        args.pheno, kind="phenotype", id_col=args.id_col, columns=_names(args.pheno_name)
    )
    covariates = None
    if getattr(args, "covar", None) is not None:
        covariates = read_sample_table(
            args.covar,
            kind="covariate",
            id_col=args.id_col,
            columns=_names(args.covar_name),
            categorical=_names(args.categorical) or (),
        )
    elif getattr(args, "covar_name", None) or getattr(args, "categorical", None):
        raise UserError("--covar-name and --categorical need a covariate table: add --covar.")
    return phenotypes, covariates


def _prepare_out(folder: str | Path) -> Path:
    """Create the output folder (or fail with exit code 2) and check it is writable."""
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".kinmix-write-test-"):
            pass
    except OSError as exc:
        raise UserError(
            f"cannot write to the output folder {out}: {exc.strerror or exc}; choose a "
            "writable --out."
        ) from exc
    return out


def _configure_logging(out: Path | None, args: argparse.Namespace) -> None:
    log.handlers.clear()
    log.setLevel(logging.DEBUG)
    log.propagate = False
    console = logging.StreamHandler(sys.stderr)
    level = logging.INFO
    if getattr(args, "quiet", False):
        level = logging.WARNING
    elif getattr(args, "verbose", False):
        level = logging.DEBUG
    console.setLevel(level)
    console.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(console)
    if out is not None:
        handler = logging.FileHandler(out / "kinmix.log", mode="w", encoding="utf-8")
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)


@contextlib.contextmanager
def _publishing(out: Path) -> Iterator[Path]:
    """A hidden staging folder in ``out`` for the outputs; on leaving the block, each file
    written there is moved into ``out``.

    Nothing appears under its final name until every output is written, so a failure
    leaves no finished-looking file behind; each move is an atomic rename. An ``OSError``
    inside the block becomes an :class:`~kinmix.errors.OutputError`.
    """
    from .errors import OutputError

    try:
        staging = Path(tempfile.mkdtemp(dir=out, prefix=".kinmix-staging-"))
        try:
            yield staging
            for path in sorted(staging.iterdir()):
                os.replace(path, out / path.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        raise OutputError(
            f"cannot write the results in {out}: {exc.strerror or exc}. Nothing was "
            f"published; the finished steps are kept in {out / '.kinmix'}, so the same "
            "command resumes once the folder is writable again."
        ) from exc


def _publish(out: Path, writers: dict[str, Callable[[Path], None]]) -> None:
    """Write each output (``writers``: file name -> writer of that path) in a staging
    folder, then move them all into ``out`` (:func:`_publishing`)."""
    from ._killpoints import reached

    with _publishing(out) as staging:
        for name, write in writers.items():
            write(staging / name)
            reached("write")


def _fingerprint(path: Path) -> dict:
    """Size and checksum of an input file (``kinmix.checkpoint.fingerprint_file`` when
    present — sampled for files over 256 MiB — otherwise the SHA-256 of the whole file)."""
    entry = {"path": str(path)}
    try:
        from .checkpoint import fingerprint_file
    except ImportError:
        import hashlib

        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(2**20), b""):
                digest.update(chunk)
        entry.update({"size": path.stat().st_size, "sha256": digest.hexdigest()})
        return entry
    entry.update(fingerprint_file(path, full=path.stat().st_size <= 2**28))
    return entry


#: Arguments that do not change the results of ``kinmix scan`` (left out of its manifest).
NOT_IN_MANIFEST = ("out", "quiet", "verbose", "top", "restart", "workers", "scheduler")


def _manifest(args: argparse.Namespace) -> dict:
    """What the checkpoints of ``kinmix scan`` depend on: each input file's size and
    checksum (sampled for the genotype files themselves), the options, kinmix's version."""
    from .checkpoint import fingerprint_file

    inputs = {}
    for role in ("bfile", "grm_bfile"):
        prefix = getattr(args, role, None)
        if prefix:
            base = str(prefix).removesuffix(".bed")
            for suffix in ("bed", "bim", "fam"):
                path = Path(f"{base}.{suffix}")
                if path.is_file():
                    entry = fingerprint_file(path, full=suffix != "bed")
                    inputs[f"{role}.{suffix}"] = {"path": str(path), **entry}
    for role in ("bgen", "sample", "pheno", "covar", "grm"):
        value = getattr(args, role, None)
        if value and Path(value).is_file():
            entry = fingerprint_file(Path(value), full=role != "bgen")
            inputs[role] = {"path": str(value), **entry}
    options = {
        key: value
        for key, value in sorted(vars(args).items())
        if key not in NOT_IN_MANIFEST and key not in ("handler", *inputs) and not callable(value)
    }
    return {"kinmix": __version__, "command": "scan", "inputs": inputs, "options": options}


def _input_files(args: argparse.Namespace) -> list[Path]:
    paths: list[Path] = []
    for prefix in (getattr(args, "bfile", None), getattr(args, "grm_bfile", None)):
        if prefix:
            base = str(prefix).removesuffix(".bed")
            paths += [Path(base + suffix) for suffix in (".bed", ".bim", ".fam")]
    for name in ("bgen", "sample", "pheno", "covar", "grm"):
        value = getattr(args, name, None)
        if value and Path(value).is_file():
            paths.append(Path(value))
    return [p for p in paths if p.is_file()]


def _versions() -> dict[str, str]:
    versions = {"kinmix": __version__, "python": platform.python_version()}
    for package in ("numpy", "scipy", "pandas", "bed-reader", "matplotlib", "pyarrow"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


# -- kinmix scan ------------------------------------------------------------------------------
def _scan(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    out = _prepare_out(args.out)
    for name in SCAN_OUTPUTS:  # a re-run must not leave the previous finished results
        (out / name).unlink(missing_ok=True)
    _configure_logging(out, args)
    log.info("kinmix %s scan; output folder %s", __version__, out)
    return _run_scan(args, out, started)


def _run_scan(args: argparse.Namespace, out: Path, started: float) -> int:
    result, options, n = _scanned(args, out)
    log.info(
        "steps computed %s, reloaded %s", result.steps["computed"], result.steps["reloaded"]
    )
    dropped = result.samples.get("dropped", {})
    log.info("samples kept: %d of %d; dropped: %s", result.samples["kept"], n, dropped)
    _log_heritability(result.heritability)
    from . import plot
    from ._killpoints import reached
    from .workflow.output import write_tables

    write_started = time.perf_counter()
    inputs = [_fingerprint(p) for p in _input_files(args)]
    with _publishing(out) as staging:
        # one pass over the blocks (read from the checkpoints; the table is never held
        # whole) writes both tables and keeps what the summary and the plots need
        table = write_tables(
            result.results, staging / "results.parquet", staging / "results.tsv.gz",
            top=args.top,
        )
        reached("write")
        summary = _summary(args, result, table, options, started, inputs)
        # the last reference to the variants' table (m rows): the plots need only the digest
        del result
        release_arrow_memory()
        title = ", ".join(summary["lambda_gc"])
        plot.manhattan(table.points, staging / "manhattan.png", title=title)
        reached("write")
        plot.qq(table.pvalues, staging / "qq.png", title=title)
        reached("write")
        summary["timings"]["write"] = round(time.perf_counter() - write_started, 4)
        summary["seconds"] = round(time.perf_counter() - started, 3)
        _write_json(staging / "summary.json", summary)
        reached("write")
    for trait, value in summary["lambda_gc"].items():
        log.info("lambda_GC %s = %.3f", trait, value)
    log.info("top hits:\n%s", _top_table(table.top))
    log.info("results written to %s", out)
    return 0


def _scanned(args: argparse.Namespace, out: Path) -> tuple[Any, Any, int]:
    """The scan of ``kinmix scan``, checkpointed in ``out/.kinmix``: its
    :class:`~kinmix.workflow.FileScan`, options and number of samples in the genotype file.

    The genotype files are opened here, so that their readers are released on return
    (the results keep only the variants' table, which the plots do not need).
    """
    from .workflow import ScanOptions, scan_files

    if args.trials and args.trait_type != "binomial":
        raise UserError("--trials only applies to --trait-type binomial; drop it.")
    genotypes = _open_genotypes(args)
    phenotypes, covariates = _read_tables(args)
    kinship_genotypes = kinship = None
    if getattr(args, "grm_bfile", None):
        kinship_genotypes = _open_genotypes(args, bfile=args.grm_bfile)
    if getattr(args, "grm", None):
        from .io.kinship import read_kinship

        kinship = read_kinship(args.grm)
    loco = args.loco if args.loco is not None else kinship is None
    options = ScanOptions(
        loco=loco,
        null=args.null,
        test=args.test,
        refit_delta=args.refit_delta,
        trait_type=args.trait_type,
        grm_kind=args.grm_kind,
        maf=args.maf,
        max_missing=args.max_missing,
        chunk_size=args.chunk_size,
        condition=tuple(_names(args.condition) or ()),
        interaction=args.interaction,
        trials=args.trials,
        joint=args.joint,
        method=args.method,
    )
    n, m = genotypes.shape
    log.info("genotypes %s: %d samples, %d variants", genotypes.path, n, m)
    from ._progress import terminal_progress
    from .checkpoint import CheckpointStore
    from .distributed import dask_client
    from .gwas import ResumableRun

    # a folder whose earlier run stored no step yet (it stopped on bad input, or was killed
    # during the kinship pass, whose Gram files are reused only once it is complete) holds
    # nothing worth keeping: start afresh rather than refuse the corrected command
    folder = out / ".kinmix"
    empty = not folder.is_dir() or all(
        p.name == "manifest.json" or p.name.startswith("gram") for p in folder.iterdir()
    )
    store = CheckpointStore.open(out, manifest=_manifest(args), restart=args.restart or empty)
    run = ResumableRun(store)
    if run.resumed:
        log.info("resuming from the checkpoints in %s", store.path)
    with dask_client(workers=args.workers, scheduler=args.scheduler) as client:
        if client is not None:
            log.info("Dask cluster: %s", client.dashboard_link or client.scheduler.address)
        result = scan_files(
            genotypes,
            phenotypes,
            covariates,
            kinship_genotypes=kinship_genotypes,
            kinship=kinship,
            options=options,
            progress=terminal_progress(not args.quiet),
            run=run,
            client=client,
        )
    run.flush()  # the last blocks, batched in memory, before the results are written
    return result, options, n


def _log_heritability(heritability: pd.DataFrame) -> None:
    for trait, rows in heritability.groupby("trait", sort=False):
        log.info(
            "h2 (REML) %s: %.4f ± %.4f%s",
            trait,
            rows["h2"].mean(),
            rows["h2_se"].mean(),
            " (mean over LOCO kinships)" if len(rows) > 1 else "",
        )


def _summary(
    args: argparse.Namespace,
    result: Any,
    table: Any,
    options: Any,
    started: float,
    inputs: list[dict],
) -> dict:
    """The content of summary.json; ``table`` is the results' digest
    (:class:`kinmix.workflow.output.TableDigest`), ``inputs`` the input files' sizes and
    checksums (:func:`_fingerprint`)."""
    from .plot import genomic_inflation

    pvalues = table.pvalues
    if "trait" not in pvalues.columns:
        name = (
            result.heritability["trait"].iloc[0]
            if len(result.heritability)
            else result.results.traits[0]
        )
        per_trait = {name: pvalues}
    else:
        per_trait = {str(t): rows for t, rows in pvalues.groupby("trait", sort=False)}
    heritability = {}
    for trait, rows in result.heritability.groupby("trait", sort=False):
        heritability[str(trait)] = {
            "h2": float(rows["h2"].mean()),
            "h2_se": float(rows["h2_se"].mean()),
            "kinship": "LOCO (mean over chromosomes)" if len(rows) > 1 else "all variants",
            "per_kinship": rows.drop(columns="trait").to_dict(orient="records"),
        }
    timings = dict(result.timings)
    return {
        "kinmix": __version__,
        "command": "scan",
        "arguments": {k: v for k, v in vars(args).items() if k != "handler"},
        "options": {k: v for k, v in vars(options).items()},
        "inputs": inputs,
        "samples": result.samples,
        "kinship": result.kinship,
        "heritability": heritability,
        "lambda_gc": {
            str(t): genomic_inflation(rows["pvalue"]) for t, rows in per_trait.items()
        },
        "variants": {"tested": table.tested, "rows": table.rows},
        "top_hits": _top_hits(table.top),
        "resumed": result.steps.get("resumed", False),
        "steps": result.steps,
        "timings": timings,
        "seconds": round(time.perf_counter() - started, 3),
        "versions": _versions(),
    }


def _top_hits(top: pd.DataFrame) -> list[dict]:
    return json.loads(top.to_json(orient="records"))


def _top_table(top: pd.DataFrame) -> str:
    return top.to_string(index=False, float_format=lambda v: f"{v:.3g}")


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, default=_json_default) + "\n", encoding="utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return str(value)


# -- kinmix h2 --------------------------------------------------------------------------------
def _h2(args: argparse.Namespace) -> int:
    from . import plot
    from ._validate import check_not_fitted_exactly
    from .grm import StreamedKinship
    from .io.tables import align_samples, covariate_matrix
    from .linalg import economic_qs
    from .workflow import gemma_pve, model_from_qs
    from .workflow.kinships import kinship_on_samples, kinship_rows

    out = _prepare_out(args.out)
    for name in ("h2.json", "h2_profile.png"):
        (out / name).unlink(missing_ok=True)
    _configure_logging(out, args)
    genotypes = _open_genotypes(args)
    phenotypes, covariates = _read_tables(args)
    inputs: dict[str, Any] = {"phenotype": phenotypes}
    if covariates is not None:
        inputs["covariate"] = covariates
    kinship = None
    if args.grm:
        from .io.kinship import read_kinship

        kinship = read_kinship(args.grm)
        inputs["kinship"] = pd.Index(kinship.ids)
    alignment = align_samples(
        genotypes.samples["iid"].astype(str).tolist(),
        inputs,
        complete=[k for k in inputs if k != "phenotype"],
    )
    ids, rows = alignment.ids, np.asarray(alignment.genotype_index)
    if kinship is not None:
        K = kinship_on_samples(kinship, ids)
    else:
        other = _open_genotypes(args, bfile=args.grm_bfile) if args.grm_bfile else None
        source, source_rows = kinship_rows(genotypes, other, ids, rows)
        kin = StreamedKinship.from_genotypes(
            source,
            samples=source_rows,
            kind=args.grm_kind,
            maf=args.maf,
            max_missing=args.max_missing,
            low_rank=False,
            loco=False,
        )
        K = kin.matrix()
    values = alignment.values("phenotype")
    cov = alignment.values("covariate") if covariates is not None else None
    X_all, _ = covariate_matrix(cov, len(ids))
    reports, profiles = [], {}
    grid = np.linspace(0.01, 0.99, 99)
    for trait in values.columns:
        observed = values[trait].notna().to_numpy()
        y, X = values[trait].to_numpy(dtype=float)[observed], X_all[observed]
        check_not_fitted_exactly(y, X, f"phenotype {trait!r}")
        Kt = K[np.ix_(observed, observed)]
        model = model_from_qs(y, X, economic_qs(Kt))
        model.fit()
        trace_g = float(np.trace(Kt)) / Kt.shape[0]
        pve, pve_se = gemma_pve(model, trace_g)
        reports.append(
            {
                "trait": trait,
                "n": int(observed.sum()),
                "h2": model.h_sq,
                "h2_se": model.h_sq_standard_error,
                "vg": model.sigma_sq,
                "ve": model.tau_sq,
                "pve": pve,
                "pve_se": pve_se,
                "delta": 1.0 / (1.0 + model.gamma),
                "trace_g": trace_g,
            }
        )
        profiles[trait] = np.array(
            [-model.compute_neg_log_reml(np.log(h / (1 - h))) for h in grid]
        )
    report = pd.DataFrame(reports)
    first = reports[0]["trait"]
    summary = {
        "kinmix": __version__,
        "command": "h2",
        "inputs": [_fingerprint(p) for p in _input_files(args)],
        "samples": alignment.report,
        "kinship": {"kind": args.grm_kind if kinship is None else "file"},
        "heritability": reports,
        "pve_formula": (
            "pve = tG*lambda/(tG*lambda+1), se(pve) = tG/(tG*lambda+1)^2 * "
            "sqrt(-1/l''(lambda)), tG = trace(K)/n, lambda = vg/ve, l the REML log-likelihood"
        ),
        "versions": _versions(),
    }
    _publish(
        out,
        {
            "h2.json": lambda path: _write_json(path, summary),
            "h2_profile.png": lambda path: plot.h2_profile(
                grid, profiles[first], path, estimate=reports[0]["h2"]
            ),
        },
    )
    shown = report[["trait", "n", "h2", "h2_se", "vg", "ve", "pve", "pve_se"]]
    log.info("%s", shown.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    log.info("written to %s", out)
    return 0


# -- kinmix grm, simulate ---------------------------------------------------------------------
def _grm(args: argparse.Namespace) -> int:
    from .grm import StreamedKinship
    from .io.kinship import write_kinship

    _configure_logging(None, args)
    genotypes = _open_genotypes(args)
    kin = StreamedKinship.from_genotypes(
        genotypes,
        kind=args.grm_kind,
        maf=args.maf,
        max_missing=args.max_missing,
        low_rank=False,
        loco=False,
    )
    target = Path(args.out)
    _prepare_out(target.parent if str(target.parent) else Path("."))
    write_kinship(
        target,
        kin.matrix(),
        genotypes.samples["iid"].astype(str).tolist(),
        n_variants=kin.n_variants,
        fids=genotypes.samples["fid"].astype(str).tolist(),
    )
    log.info("kinship of %d samples from %d variants written to %s", kin.n, kin.n_variants, target)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from .simulate import simulate_cohort, write_cohort

    _configure_logging(None, args)
    prefix = Path(args.out)
    _prepare_out(prefix.parent if str(prefix.parent) else Path("."))
    cohort = simulate_cohort(
        samples=args.samples,
        variants=args.variants,
        chromosomes=args.chromosomes,
        seed=args.seed,
    )
    written = write_cohort(cohort, prefix)
    log.info(
        "simulated %d samples × %d variants (h2 = %.2f): %s",
        args.samples,
        args.variants,
        cohort.h2,
        ", ".join(str(p) for p in written.values()),
    )
    return 0


# -- kinmix demo ------------------------------------------------------------------------------
def _demo(args: argparse.Namespace) -> int:
    data = resources.files("kinmix") / "data" / "synth"
    with resources.as_file(data) as folder:
        scan_args = _parser().parse_args(
            [
                "scan",
                "--bfile",
                str(folder / "all"),
                "--count",
                "a2",
                "--pheno",
                str(folder / "pheno_10_causals.txt"),
                "--covar",
                str(folder / "cov.txt"),
                "--out",
                str(args.out),
                "--top",
                str(args.top),
            ]
            + (["--quiet"] if args.quiet else [])
            + (["--verbose"] if args.verbose else [])
        )
        return _scan(scan_args)


# -- entry point ------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kinmix`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    fix_mmap_threshold()
    try:
        return args.handler(args)
    except KinmixError as exc:
        log.debug("%s", traceback.format_exc())
        print(f"kinmix: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        name = exc.filename if exc.filename is not None else ""
        print(f"kinmix: error: {name}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # an internal error: say so, keep the traceback in the log
        log.debug("%s", traceback.format_exc())
        print(
            f"kinmix: internal error: {type(exc).__name__}: {exc} (a bug: please report it"
            " with kinmix.log)",
            file=sys.stderr,
        )
        if getattr(args, "verbose", False):
            traceback.print_exc()
        return 1
    finally:
        for handler in list(log.handlers):
            handler.close()
            log.removeHandler(handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
