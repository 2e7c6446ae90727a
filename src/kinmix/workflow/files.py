"""The scan of a genotype file: :func:`scan_files` (``kinmix scan``) and :func:`loco_scan`."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._killpoints import reached
from ..distributed import run_chromosomes
from ..errors import InputError
from ..grm import StreamedKinship
from ..gwas import ResumableRun
from ..io.genotypes import chromosome_labels
from .groups import (
    check_groups,
    conditioning_dosages,
    group_by_missingness,
    interaction_column,
    joint_group,
    trial_counts,
)
from .kinships import kinship_on_samples, kinship_rows
from .matfree import scan_cg, use_cg
from .options import FileScan, ScanOptions, variants_per_block
from .results import ScanTable
from .state import kinship_arrays, kinship_from_arrays, null_arrays, null_from_arrays
from .tasks import (
    HERITABILITY_COLUMNS,
    ChromosomeNull,
    ScanJob,
    block_task,
    null_task,
)

log = logging.getLogger("kinmix")


@dataclass
class _Clock:
    """Seconds spent per step (the time in genotype reads is counted as ``read``)."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


class _TimedReads:
    """A genotype source whose reads are timed; reads are subtracted from the caller's step."""

    def __init__(self, genotypes: Any, clock: _Clock, step: Callable[[], str]) -> None:
        self._genotypes, self._clock, self._step = genotypes, clock, step
        self.path, self.samples, self.variants = (
            genotypes.path,
            genotypes.samples,
            genotypes.variants,
        )
        self.shape = genotypes.shape

    def read(self, variants: Any = slice(None), samples: Any = None) -> np.ndarray:
        start = time.perf_counter()
        block = self._genotypes.read(variants, samples=samples)
        spent = time.perf_counter() - start
        self._clock.add("read", spent)
        self._clock.add(self._step(), -spent)
        return block


# -- the job ----------------------------------------------------------------------------------
def scan_files(
    genotypes: Any,
    phenotypes: pd.DataFrame,
    covariates: pd.DataFrame | None = None,
    *,
    kinship_genotypes: Any | None = None,
    kinship: Any | None = None,
    options: ScanOptions | None = None,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
    run: ResumableRun | None = None,
    client: Any = None,
) -> FileScan:
    r"""Association scan of the phenotypes against every variant of a genotype file.

    Parameters
    ----------
    genotypes : kinmix.io.genotypes.Genotypes
        The variants to test (:func:`kinmix.io.open_genotypes`).
    phenotypes : DataFrame
        Indexed by sample ID, one float column per trait, NaN where missing
        (:func:`kinmix.io.tables.read_sample_table`).
    covariates : DataFrame, optional
        Indexed by sample ID, numeric (categorical columns already one-hot); an intercept is
        added unless they span the constant.
    kinship_genotypes : Genotypes, optional
        Build the kinship from this file instead (e.g. a pruned one); LOCO still by
        chromosome.
    kinship : kinmix.io.kinship.Kinship, optional
        A precomputed kinship (no LOCO possible).
    options : ScanOptions
    progress : callable, optional
        ``progress(step, total)`` returns a function called with each increment of work.
    run : kinmix.gwas.ResumableRun, optional
        The run's checkpoints (``kinmix scan`` keeps them under ``OUT/.kinmix``): the
        kinship pass (S and each S_c), each chromosome's null δ (and GLMM nulls) and each
        block's rows are stored as they finish and reloaded instead of recomputed.
    client : distributed.Client, optional
        Run each chromosome's null state and each block as Dask tasks on this cluster
        (``kinmix.distributed.run_chromosomes``); blocks are stored as they complete.

    Returns
    -------
    FileScan
        The table has the columns ``chrom, pos, variant, a1, a2`` of the file, ``trait``
        (with several traits), ``af, n, beta, se, chi2, pvalue`` (``chi2`` holds the
        statistic of the chosen test, an F statistic for ``test="f"``), ``reason``, and for
        a g×E scan ``beta_gxe_<E>, se_gxe_<E>``.

    Notes
    -----
    Traits are grouped by their pattern of missing values; each group is scanned on the
    samples where all its traits are observed and shares one eigendecomposition per
    chromosome, so no sample is dropped for every trait because one trait misses it.
    """
    from ..io.tables import align_samples, covariate_matrix

    options = options or ScanOptions()
    clock = _Clock()
    current = ["align"]
    timed = _TimedReads(genotypes, clock, lambda: current[0])
    if kinship is not None and kinship_genotypes is not None:
        raise InputError("give either a kinship file (--grm) or its genotypes (--grm-bfile).")
    if kinship is not None and options.loco:
        raise InputError(
            "a precomputed kinship (--grm) has no chromosomes to leave out: add --no-loco, or "
            "give the kinship's genotypes with --grm-bfile for LOCO."
        )
    with clock.step("align"):
        inputs: dict[str, Any] = {"phenotype": phenotypes}
        complete = []
        if covariates is not None:
            inputs["covariate"] = covariates
            complete.append("covariate")
        if kinship is not None:
            inputs["kinship"] = pd.Index(kinship.ids)
            complete.append("kinship")
        elif kinship_genotypes is not None:
            inputs["kinship genotypes"] = pd.Index(kinship_genotypes.samples["iid"])
            complete.append("kinship genotypes")
        alignment = align_samples(
            genotypes.samples["iid"].astype(str).tolist(),
            inputs,
            complete=complete,
            genotype_source=f"the genotype file {getattr(genotypes, 'path', '')}".rstrip(),
        )
        rows = np.asarray(alignment.genotype_index)
        ids = alignment.ids
        n = len(ids)
        traits = list(phenotypes.columns)
        trait_values = alignment.values("phenotype")
        cov = alignment.values("covariate") if covariates is not None else None
        X, covariate_names = covariate_matrix(cov, n)
        E = interaction_column(cov, options.interaction)
        trials = trial_counts(trait_values, options.trials)
        traits = [t for t in traits if t != options.trials]
        Y = trait_values[traits].to_numpy(dtype=float)
    if options.condition:
        current[0] = "condition"
        with clock.step("condition"):
            C = conditioning_dosages(timed, options.condition, rows)
            X = np.column_stack([X, C])
            covariate_names += [f"condition:{v}" for v in options.condition]
    groups = joint_group(Y, traits) if options.joint else group_by_missingness(Y, traits)
    report = dict(alignment.report)
    report["traits"] = {t: int(np.isfinite(Y[:, j]).sum()) for j, t in enumerate(traits)}
    if not groups:
        raise InputError("every phenotype is missing for every kept sample: nothing to scan.")
    if options.trait_type == "continuous":
        check_groups(groups, Y, X)
    if use_cg(options, n, precomputed=kinship is not None,
              other_file=kinship_genotypes is not None):
        return _scan_files_cg(genotypes, rows, Y, X, groups, traits, report, covariate_names,
                              clock, run)

    # -- kinship: one pass ------------------------------------------------------------------
    current[0] = "kinship"
    run = run or ResumableRun()
    kinship_step = _KinshipStep(run)
    with _gram_folder(run) as folder:
        with clock.step("kinship"):
            source, source_rows = _kinship_source(
                timed, kinship_genotypes, clock, current, ids, rows
            )
            kin = None
            full_K = None
            if kinship is not None:
                full_K = kinship_on_samples(kinship, ids)
                kinship_info = {"source": "file", "n_variants": kinship.n_variants}
            else:
                if run.has("kinship"):
                    kin = kinship_from_arrays(run.load_arrays("kinship", "kinship"), folder)
                else:
                    tick = progress("kinship", source.shape[1]) if progress else None

                    def on_block(count: int) -> None:
                        if tick:
                            tick(count)
                        reached("kinship")

                    kin = StreamedKinship.from_genotypes(
                        source,
                        samples=source_rows,
                        kind=options.grm_kind,
                        maf=options.maf,
                        max_missing=options.max_missing,
                        block_size=variants_per_block(None, n),
                        loco=options.loco,
                        folder=folder,  # its files flushed by kinship_step.store
                        on_block=on_block,
                    )
                    kinship_step.computed(kin)
                kinship_info = {
                    "source": str(source.path),
                    "kind": options.grm_kind,
                    "n_variants": kin.n_variants,
                    "per_chromosome": kin.counts,
                    "low_rank": kin.low_rank,
                }
        log.info(
            "kinship: %s variants (%s)",
            kinship_info["n_variants"],
            "low rank" if kinship_info.get("low_rank") else "dense",
        )

        # -- per chromosome: eigh, nulls, scan --------------------------------------------------
        chrom = chromosome_labels(genotypes.variants)
        chromosomes = list(dict.fromkeys(chrom)) if options.loco else [None]
        chunk = variants_per_block(options, n)
        names = {c: f"{i:04d}" for i, c in enumerate(chromosomes)}
        job = ScanJob(
            genotypes=genotypes,
            rows=rows,
            chrom=chrom,
            kin=kin,
            full_K=full_K,
            chunk=chunk,
            groups=groups,
            Y=Y,
            X=X,
            E=E,
            options=options,
            trials=trials,
        )
        h2_tables, todo, sizes, spans = [], {}, {}, {}
        for c in chromosomes:
            keys = _plan_blocks(job, c, names[c], sizes, spans)
            done = [key for key, _ in keys if run.has(key)]
            for _ in done:  # read back from the store when the table is assembled
                run.count_reloaded("block")
            todo[c] = [(key, argument) for key, argument in keys if key not in done]
            if run.has(f"null-{names[c]}"):
                h2_tables.append(run.load_frame(f"h2-{names[c]}", "heritability"))
        # a stored null (δ and GLMM nulls, not the eigenvectors) spares the fits of a
        # chromosome whose kinship is decomposed again for the blocks still to do
        stored = {
            c: null_from_arrays(run.load_arrays(f"null-{names[c]}", "null"))
            for c in chromosomes
            if todo[c] and run.has(f"null-{names[c]}")
        }
        job = dataclasses.replace(job, stored=stored)
        tick = progress("scan", genotypes.shape[1]) if progress else None
        if tick:
            tick(sum(sizes[key] for key in sizes if run.has(key)))

        def store_kinship() -> None:  # before any step that relies on it
            with clock.step("kinship"):
                kinship_step.store()

        def on_null(c: Any, null: ChromosomeNull) -> None:
            store_kinship()
            for step, seconds in null.seconds.items():
                clock.add(step, seconds)
            if c in stored:  # its heritability rows were reloaded above
                return
            h2_tables.append(null.heritability)
            run.save_frame(f"h2-{names[c]}", "heritability", null.heritability)
            run.save_arrays(f"null-{names[c]}", "null", null_arrays(null))

        # with a store the blocks live there only; without one they are kept here
        kept: dict[str, pd.DataFrame] = {}
        for key, (part, seconds) in run_chromosomes(
            null_task, block_task, job, todo, on_null=on_null, client=client
        ):
            for step, spent in seconds.items():
                clock.add(step, spent)
            store_kinship()
            run.save_frame(key, "block", part)
            if run.store is None:
                kept[key] = part
            if tick:
                tick(sizes[key])
        store_kinship()
        run.flush()  # the last batch of blocks on disk before the table is read
    h2_rows = (
        pd.concat(h2_tables, ignore_index=True)
        if h2_tables
        else pd.DataFrame(columns=list(HERITABILITY_COLUMNS))
    )
    labels = [f"joint:{options.joint}"] if options.joint else traits
    load = kept.__getitem__ if run.store is None else run.store.load_frame
    report["covariates"] = covariate_names
    return FileScan(
        results=ScanTable.of_blocks(genotypes.variants, labels, spans, load),
        heritability=h2_rows,
        samples=report,
        kinship=kinship_info,
        timings={k: round(v, 4) for k, v in clock.seconds.items()},
        steps=run.report(),
    )


def _scan_files_cg(genotypes, rows, Y, X, groups, traits, report, covariate_names, clock,
                   run) -> FileScan:
    """The matrix-free route (:mod:`kinmix.workflow.matfree`); nothing is checkpointed."""
    chrom = genotypes.variants["chrom"].astype(str).to_numpy()
    if len(set(chrom.tolist())) < 2:
        raise InputError(
            f"LOCO needs variants on at least two chromosomes; all are on {chrom[0]}."
        )
    with clock.step("matfree"):
        tables, heritability, details = scan_cg(genotypes, rows, Y, X, groups, chrom)
    parts = {f"cg-{i:04d}": part for i, part in enumerate(tables)}
    spans = {key: (int(part["_index"].min()), int(part["_index"].max()))
             for key, part in parts.items()}
    report["covariates"] = covariate_names
    kinship_info = {
        "source": str(genotypes.path),
        "kind": "standardized",
        "method": "cg",
        "calibration": {t: d["calibration"] for t, d in details.items()},
        "iterations": {t: d["iterations"] for t, d in details.items()},
        "refined": {t: d["refined"] for t, d in details.items()},
    }
    return FileScan(
        results=ScanTable.of_blocks(genotypes.variants, traits, spans, parts.__getitem__),
        heritability=heritability,
        samples=report,
        kinship=kinship_info,
        timings={k: round(v, 4) for k, v in clock.seconds.items()},
        steps=(run or ResumableRun()).report(),
    )


def _plan_blocks(
    job: ScanJob, c: Any, name: str, sizes: dict[str, int], spans: dict[str, tuple[int, int]]
) -> list[tuple[str, tuple[Any, int]]]:
    """The ``(key, (c, start))`` of chromosome ``c``'s blocks; records each block's number
    of variants in ``sizes`` and its first and last file positions in ``spans``."""
    index = job.index(c)
    m_c, chunk = index.shape[0], job.chunk
    keys = [(f"block-{name}-{start:010d}", (c, start)) for start in range(0, m_c, chunk)]
    for key, (_, start) in keys:
        stop = min(start + chunk, m_c)
        sizes[key] = stop - start
        spans[key] = (int(index[start]), int(index[stop - 1]))
    return keys


@contextmanager
def _gram_folder(run: ResumableRun) -> Iterator[Path]:
    """Where the kinship pass writes S and each S_c: the run's store (a resumed run reuses
    them), or a temporary folder removed when the chromosomes are done."""
    if run.store is not None:
        yield run.store.path
        return
    folder = Path(tempfile.mkdtemp(prefix="kinmix-kinship-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class _KinshipStep:
    """The kinship step of a run, stored once the Gram files it names are on the disk.

    The kinship pass writes S and each :math:`S_c` without waiting for the disk. With a
    checkpoint store, :meth:`computed` asks the kernel to start writing them
    (:func:`kinmix.checkpoint.start_writeback`), so that the disk takes them while the
    first chromosome is decomposed, and :meth:`store` — called before any step that
    relies on the kinship is stored — flushes them (:func:`kinmix.checkpoint.make_durable`,
    by then mostly a wait for nothing), then stores the step. A run killed in between has
    no kinship step, and its rerun does the pass again.
    """

    def __init__(self, run: ResumableRun) -> None:
        self._run = run
        self._kin: StreamedKinship | None = None
        self._files: list[Path] = []

    def computed(self, kin: StreamedKinship) -> None:
        """Take the kinship of a finished pass (its files complete, not yet durable)."""
        self._kin = kin
        if self._run.store is not None and kin.folder is not None:
            from ..checkpoint import start_writeback

            self._files = [kin.folder / name for name in ["gram.npy", *kin.stored.values()]]
            start_writeback(self._files)

    def store(self) -> None:
        """Store the kinship step, once its files are durable (nothing to do when it was
        reloaded, or is stored already).

        Raises
        ------
        kinmix.errors.OutputError
            If a file could not be flushed (or the step written), naming the folder.
        """
        if self._kin is None:
            return
        kin, files, self._kin, self._files = self._kin, self._files, None, []

        def flush() -> None:
            from ..checkpoint import make_durable

            make_durable(files)

        self._run.save_arrays("kinship", "kinship", kinship_arrays(kin),
                              after=flush if files else None)


def _kinship_source(
    timed: _TimedReads,
    kinship_genotypes: Any,
    clock: _Clock,
    current: list[str],
    ids: pd.Index,
    rows: np.ndarray,
) -> tuple[Any, np.ndarray]:
    """The (timed) genotypes the kinship is built from and the rows of the kept samples."""
    other = None
    if kinship_genotypes is not None:
        other = _TimedReads(kinship_genotypes, clock, lambda: current[0])
    return kinship_rows(timed, other, ids, rows)


def loco_scan(genotypes: Any, y: np.ndarray, X: np.ndarray) -> pd.DataFrame:
    """Scan every variant of a genotype file with LOCO kinships (arrays in file order).

    ``y`` (n,) and ``X`` (n, c) follow the file's samples. Returns :func:`scan_files`'s table.
    """
    chrom = genotypes.variants["chrom"].astype(str)
    if chrom.nunique() < 2:
        raise InputError(
            f"LOCO needs variants on at least two chromosomes; all are on {chrom.iloc[0]}."
        )
    ids = pd.Index(genotypes.samples["iid"].astype(str), name="iid")
    phenotype = pd.DataFrame({"trait": np.asarray(y, dtype=float)}, index=ids)
    covariates = pd.DataFrame(np.asarray(X, dtype=float), index=ids)
    covariates.columns = [f"x{j}" for j in range(covariates.shape[1])]
    return scan_files(genotypes, phenotype, covariates).table
