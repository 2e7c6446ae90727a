r"""GWAS from files: heritability, and association scans with leave-one-chromosome-out kinships.

LOCO: when variant :math:`g` on chromosome :math:`c` is tested, the kinship is built from
the other chromosomes only, so that :math:`g` (and the variants in linkage with it) is not
also part of the random effect — which would absorb part of its signal ("proximal
contamination") and deflate its test.

:func:`scan_files` is the job behind ``kinmix scan``: it aligns the samples of the genotype
file, the phenotype and covariate tables and the kinship by ID, reads the genotype file once
for the kinship (:class:`kinmix.grm.StreamedKinship`), then per chromosome eigendecomposes
:math:`K_{-c}` once (shared by every trait with the same observed samples), fits the null
models and scans the chromosome's variants block by block with :func:`kinmix.scan`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._killpoints import reached
from ._validate import (
    as_matrix,
    as_vector,
    check_full_column_rank,
    check_not_fitted_exactly,
    check_samples,
)
from .distributed import run_chromosomes
from .errors import BoundaryWarning, FitError, InputError, KinmixWarning
from .grm import BLOCK_SIZE, StreamedKinship, eigh_upper_in_place
from .gwas import ResumableRun
from .kernel.exact import fixed_delta_statistics, pvalues
from .linalg import economic_qs, economic_qs_linear
from .lmm import LMM, LinearMixedModel

log = logging.getLogger("kinmix")

TESTS = ("lrt", "wald", "f", "score")
NULLS = ("reml", "ml")
TRAIT_TYPES = ("continuous", "binary", "count", "binomial")
#: Multi-trait tests: an effect per trait (p d.o.f.) or one shared by all traits (1 d.o.f.).
JOINT_TESTS = ("any", "common")
#: Likelihood of the GLMM null of each non-normal trait type.
_LIKELIHOODS = {"binary": "bernoulli", "count": "poisson", "binomial": "binomial"}
#: Float64 entries of one block of dosages (128 MiB) when no chunk size is given.
BLOCK_ENTRIES = 2**24


@dataclass(frozen=True)
class H2Estimate:
    r"""REML heritability of one trait (:func:`estimate_h2`).

    Attributes
    ----------
    h2, h2_se : float
        :math:`h^2 = \sigma^2/(\sigma^2+\tau^2)` and its standard error (Hail's
        ``h_sq``, ``h_sq_standard_error``).
    delta : float
        :math:`\delta = 1 - h^2`, limix's parametrisation.
    scale : float
        :math:`\sigma^2 + \tau^2`.
    beta : numpy.ndarray
        Fixed effects at the REML optimum, one per column of ``X``.
    lml : float
        The restricted log-likelihood at the optimum (``LMM(..., restricted=True).lml()``).
    n, k : int
        Sample size and number of non-zero eigenvalues of the kinship.

    ``estimate["h2"]`` reads a field as the seed's dict did.
    """

    h2: float
    h2_se: float
    delta: float
    scale: float
    beta: np.ndarray
    lml: float
    n: int
    k: int

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)


def estimate_h2(y: Any, X: Any, K: Any) -> H2Estimate:
    r"""REML heritability of ``y`` given covariates ``X`` and a kinship ``K``.

    Fits :math:`y \sim N(X\beta, \sigma^2K + \tau^2I)` by REML (Hail's
    :class:`~kinmix.lmm.LinearMixedModel`) and returns an :class:`H2Estimate`. ``X`` may
    be any (n, c) array-like; a 1-D ``X`` is one covariate.

    Warns
    -----
    BoundaryWarning
        When the optimum lies on the boundary of :math:`\log\gamma \in [-8, 8]` (h² near
        0 or 1): the estimate at the bound is returned with ``h2_se`` NaN.
    KinmixWarning
        When K is proportional to the identity: h² is unidentifiable and ``h2``,
        ``h2_se``, ``delta`` are NaN.
    """
    y = as_vector(y, "y")
    X = as_matrix(X, "X", nrows=y.shape[0])
    check_samples(y.shape[0], X.shape[1])
    check_full_column_rank(X, "X")
    check_not_fitted_exactly(y, X)
    model, _ = LinearMixedModel.from_kinship(y, X, K)
    if _proportional_to_identity(model.s):
        warnings.warn(
            "h2 is unidentifiable: K is proportional to the identity, so sigma²K + tau²I is "
            "a multiple of I whatever h2 and the data cannot split it. h2, h2_se and delta "
            "are NaN; scale and beta are those of the total variance.",
            KinmixWarning,
            stacklevel=2,
        )
        model.fit(log_gamma=0.0)
        unidentified = float("nan")
        return _estimate(model, h2=unidentified, h2_se=unidentified, delta=unidentified)
    bounds = (-8.0, 8.0)
    try:
        model.fit(bounds=bounds)
    except FitError:
        if model.optimize_result is None:
            raise
        at_lower = model.optimize_result.x - bounds[0] < bounds[1] - model.optimize_result.x
        model.fit(log_gamma=bounds[0] if at_lower else bounds[1])
        warnings.warn(
            f"h2 = {model.h_sq:.3g} lies on the boundary of its search range (log_gamma = "
            f"{model.log_gamma:g}): the data favour "
            + ("no kinship effect (h2 -> 0)" if at_lower else "h2 -> 1 (no noise)")
            + "; h2_se is not defined there and is NaN.",
            BoundaryWarning,
            stacklevel=2,
        )
        return _estimate(model, h2_se=float("nan"))
    return _estimate(model)


def _proportional_to_identity(s: np.ndarray) -> bool:
    """Whether the eigenvalues of a full-rank kinship are all equal (K ∝ I)."""
    return bool(s.size and s.min() > 0 and np.ptp(s) <= 1e-10 * s.max())


def _estimate(model: LinearMixedModel, **fields: float) -> H2Estimate:
    """The :class:`H2Estimate` of a fitted model, with ``fields`` replacing its own."""
    values = dict(
        h2=model.h_sq,
        h2_se=model.h_sq_standard_error,
        delta=1.0 / (1.0 + model.gamma),
        scale=model.sigma_sq + model.tau_sq,
        beta=np.asarray(model.beta),
        lml=model.restricted_log_likelihood(),
        n=model.n,
        k=int(np.sum(model.s > 0)),
    )
    values.update(fields)
    return H2Estimate(**values)


# -- heritability in GEMMA's terms -----------------------------------------------------------
def model_from_qs(y: np.ndarray, X: np.ndarray, QS: Any) -> LinearMixedModel:
    """Hail's :class:`~kinmix.lmm.LinearMixedModel` of ``y`` on ``X`` with kinship ``QS``."""
    (Q0, _), S0 = QS
    if Q0.shape[1] == Q0.shape[0]:
        return LinearMixedModel(Q0.T @ y, Q0.T @ X, S0)
    return LinearMixedModel(Q0.T @ y, Q0.T @ X, S0, y, X)


def gemma_pve(model: LinearMixedModel, trace_g: float) -> tuple[float, float]:
    r"""GEMMA's proportion of variance explained and its standard error, of a fitted model.

    With :math:`\lambda = \sigma^2/\tau^2` at the REML optimum, :math:`t_G = \mathrm{tr}(K)/n`
    and :math:`\ell(\lambda)` the restricted log-likelihood,

    .. math::

        \mathrm{pve} = \frac{t_G\lambda}{t_G\lambda + 1},\qquad
        \mathrm{se(pve)} = \frac{t_G}{(t_G\lambda + 1)^2}\,
            \bigl(-\ell''(\lambda)\bigr)^{-1/2}.

    :math:`\ell''(\lambda) = (\ell_{tt} - \ell_t)/\lambda^2` in :math:`t = \log\lambda`, with
    :math:`\ell_t, \ell_{tt}` central differences of
    :meth:`~kinmix.lmm.LinearMixedModel.compute_neg_log_reml` (Richardson-extrapolated over
    radii :math:`10^{-3}` and :math:`2\cdot10^{-3}`).
    """
    t, lam = model.log_gamma, model.gamma

    def derivatives(h: float) -> tuple[float, float]:
        f = [-model.compute_neg_log_reml(t + s * h) for s in (-1.0, 0.0, 1.0)]
        return (f[2] - f[0]) / (2 * h), (f[2] - 2 * f[1] + f[0]) / h**2

    (d1, d2), (e1, e2) = derivatives(1e-3), derivatives(2e-3)
    slope, curvature = (4 * d1 - e1) / 3, (4 * d2 - e2) / 3
    second = (curvature - slope) / lam**2
    pve = trace_g * lam / (trace_g * lam + 1.0)
    se = trace_g / (trace_g * lam + 1.0) ** 2 * float(np.sqrt(-1.0 / second))
    return float(pve), se


# -- the tests of a GLMM trait's scan ----------------------------------------------------------
def _glmm_statistics(
    chi2_lrt: np.ndarray, se: np.ndarray, *, n: int, covariates: int, test: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Statistic, p-value and SE of ``test`` from the LRT of the Normal scan on EP sites.

    The scan profiles the scale by ML at the null δ, so the kernel's closed forms
    (:func:`kinmix.kernel.exact.fixed_delta_statistics`) apply; the F test's SE uses the
    residual variance on :math:`n - c - 1` degrees of freedom.
    """
    if test == "lrt":
        statistic = chi2_lrt
    else:
        statistic = fixed_delta_statistics(chi2_lrt, n, covariates)[test]
    if test == "f":
        se = se * np.sqrt(n / (n - covariates - 1))
    return statistic, pvalues(statistic, test, n, covariates), se


# -- options and results ----------------------------------------------------------------------
@dataclass(frozen=True)
class ScanOptions:
    """Options of :func:`scan_files` (the ``kinmix scan`` flags).

    ``loco``: a kinship without the tested chromosome; ``null``: REML or ML for the null δ;
    ``test``: ``lrt`` (Hail's, default), ``wald``, ``f`` (FaST-LMM's) or ``score`` (GEMMA's),
    at the null δ unless ``refit_delta`` (GEMMA's exact tests: δ re-estimated per variant, by
    REML for ``wald``/``f`` and by ML for ``lrt``, against the ML null; see :func:`kinmix.scan`);
    ``trait_type``: ``continuous``, or ``binary``/``count``/``binomial`` (GLMM null by EP,
    then the scan on its sites); ``grm_kind``, ``maf``, ``max_missing``: how the kinship is
    built and which variants enter it; ``chunk_size``: variants per block read;
    ``condition``: variant IDs added as covariates; ``interaction``: covariate column E of
    a g×E scan; ``trials``: phenotype column of binomial trial counts; ``joint``: test the
    traits jointly with the multi-trait model :class:`kinmix.lmm.Kron2Sum` (``any``: an
    effect per trait; ``common``: one shared effect), on the samples observing every trait.
    """

    loco: bool = True
    null: str = "reml"
    test: str = "lrt"
    refit_delta: bool = False
    trait_type: str = "continuous"
    grm_kind: str = "standardized"
    maf: float = 0.0
    max_missing: float = 1.0
    chunk_size: int | None = None
    condition: tuple[str, ...] = ()
    interaction: str | None = None
    trials: str | None = None
    joint: str | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("null", NULLS), ("test", TESTS), ("trait_type", TRAIT_TYPES)):
            value = getattr(self, name)
            if value not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}.")
        if self.chunk_size is not None and self.chunk_size < 1:
            raise InputError(f"chunk_size must be a positive integer; got {self.chunk_size}.")
        if self.trait_type == "binomial" and self.trials is None:
            raise InputError(
                "a binomial trait needs its numbers of trials: name their phenotype column "
                "(--trials COL)."
            )
        if self.trait_type != "continuous" and self.interaction is not None:
            raise InputError("interaction scans need a continuous trait (--trait-type).")
        if self.refit_delta and self.trait_type != "continuous":
            raise InputError("--refit-delta needs a continuous trait (--trait-type).")
        if self.refit_delta and self.test == "score":
            raise InputError("the score test is computed at the null δ: drop --refit-delta.")
        if self.joint is not None:
            if self.joint not in JOINT_TESTS:
                raise InputError(
                    f"joint must be one of {', '.join(JOINT_TESTS)}; got {self.joint!r}."
                )
            if (
                self.trait_type != "continuous"
                or self.interaction is not None
                or self.refit_delta
                or self.test != "lrt"
            ):
                raise InputError(
                    "the multi-trait test (--joint) is a likelihood-ratio test of continuous "
                    "traits at the null covariances: drop --trait-type, --interaction, "
                    "--test and --refit-delta."
                )
        if self.interaction is not None and (self.test != "lrt" or self.refit_delta):
            raise InputError("interaction scans use the likelihood-ratio test at the null δ.")


@dataclass(frozen=True)
class FileScan:
    """What :func:`scan_files` returns.

    ``table``: one row per variant (and trait), in file order; ``heritability``: one row per
    trait and kinship (``chrom`` is the left-out chromosome, or ``"none"``) with ``h2``,
    ``h2_se`` (REML), ``delta`` (the null δ used) and ``n``; ``samples``: the alignment report
    with per-trait sample counts; ``kinship``: its source, kind and numbers of variants;
    ``timings``: seconds per step; ``steps``: whether the run resumed from checkpoints and
    how many steps (``kinship``, ``null``, ``block``) it computed and reloaded.
    """

    table: pd.DataFrame
    heritability: pd.DataFrame
    samples: dict
    kinship: dict
    timings: dict[str, float]
    steps: dict = field(default_factory=dict)


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


@dataclass(frozen=True)
class _Group:
    """Traits observed on the same samples: their names, their columns of Y, and ``rows``,
    the aligned samples that observe them."""

    traits: list[str]
    columns: list[int]
    rows: np.ndarray


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
        kinship pass, each chromosome's null state (eigendecompositions and null δ) and
        each block's rows are stored as they finish and reloaded instead of recomputed.
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
    from .io.tables import align_samples, covariate_matrix

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
            genotypes.samples["iid"].astype(str).tolist(), inputs, complete=complete
        )
        rows = np.asarray(alignment.genotype_index)
        ids = alignment.ids
        n = len(ids)
        traits = list(phenotypes.columns)
        trait_values = alignment.values("phenotype")
        cov = alignment.values("covariate") if covariates is not None else None
        X, covariate_names = covariate_matrix(cov, n)
        E = _interaction(cov, options.interaction)
        trials = _trials(trait_values, options.trials)
        traits = [t for t in traits if t != options.trials]
        Y = trait_values[traits].to_numpy(dtype=float)
    if options.condition:
        current[0] = "condition"
        with clock.step("condition"):
            C = _conditioning(timed, options.condition, rows)
            X = np.column_stack([X, C])
            covariate_names += [f"condition:{v}" for v in options.condition]
    groups = _joint_group(Y, traits) if options.joint else _groups(Y, traits)
    report = dict(alignment.report)
    report["traits"] = {t: int(np.isfinite(Y[:, j]).sum()) for j, t in enumerate(traits)}
    if not groups:
        raise InputError("every phenotype is missing for every kept sample: nothing to scan.")

    # -- kinship: one pass ------------------------------------------------------------------
    current[0] = "kinship"
    with clock.step("kinship"):
        source, source_rows, same_file = _kinship_source(
            timed, kinship_genotypes, clock, current, ids, rows
        )
        kin = None
        full_K = None
        run = run or ResumableRun()
        if kinship is not None:
            positions = pd.Index(kinship.ids).get_indexer(ids)
            full_K = np.asarray(kinship.matrix)[np.ix_(positions, positions)]
            kinship_info = {"source": "file", "n_variants": kinship.n_variants}
        else:
            if run.has("kinship"):
                kin = _kinship_from_arrays(run.load_arrays("kinship", "kinship"))
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
                    block_size=_chunk(options, n),
                    loco=options.loco,
                    on_block=on_block,
                )
                run.save_arrays("kinship", "kinship", _kinship_arrays(kin))
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

    # -- per chromosome: eigh, nulls, scan ------------------------------------------------------
    chrom = genotypes.variants["chrom"].astype(str).to_numpy()
    chromosomes = list(dict.fromkeys(chrom)) if options.loco else [None]
    if kin is not None and kin.kept:
        last = next(iter(kin.kept))
        if last in chromosomes:
            chromosomes.remove(last)
            chromosomes.insert(0, last)
    chunk = _chunk(options, n)
    job = _Job(
        genotypes=genotypes,
        rows=rows,
        chrom=chrom,
        kin=kin,
        full_K=full_K,
        same_file=same_file,
        source=getattr(source, "_genotypes", source),
        source_rows=source_rows,
        chunk=chunk,
        groups=groups,
        Y=Y,
        X=X,
        E=E,
        options=options,
        trials=trials,
    )
    names = {c: f"{i:04d}" for i, c in enumerate(chromosomes)}
    tables, h2_tables, todo, nulls, sizes = [], [], {}, {}, {}
    for c in chromosomes:
        m_c = job.index(c).shape[0]
        keys = [(f"block-{names[c]}-{start:010d}", (c, start)) for start in range(0, m_c, chunk)]
        sizes.update({key: min(chunk, m_c - start) for key, (_, start) in keys})
        done = [key for key, _ in keys if run.has(key)]
        tables += [run.load_frame(key, "block") for key in done]
        todo[c] = [(key, argument) for key, argument in keys if key not in done]
        if run.has(f"null-{names[c]}"):
            h2_tables.append(run.load_frame(f"h2-{names[c]}", "heritability"))
            if todo[c]:
                stored = _null_from_arrays(run.load_arrays(f"null-{names[c]}", "null"))
                nulls[c] = _with_joint_nulls(job, stored)
    tick = progress("scan", genotypes.shape[1]) if progress else None
    if tick:
        tick(sum(sizes[key] for key in sizes if run.has(key)))

    def on_null(c: Any, null: _Null) -> None:
        for step, seconds in null.seconds.items():
            clock.add(step, seconds)
        h2_tables.append(null.heritability)
        run.save_frame(f"h2-{names[c]}", "heritability", null.heritability)
        run.save_arrays(f"null-{names[c]}", "null", _null_arrays(null))

    for key, (part, seconds) in run_chromosomes(
        _null_task, _block_task, job, todo, nulls=nulls, on_null=on_null, client=client
    ):
        for step, spent in seconds.items():
            clock.add(step, spent)
        run.save_frame(key, "block", part)
        tables.append(part)
        if tick:
            tick(sizes[key])
    h2_rows = pd.concat(h2_tables, ignore_index=True) if h2_tables else pd.DataFrame()
    with clock.step("assemble"):
        labels = [f"joint:{options.joint}"] if options.joint else traits
        table = _assemble(tables, genotypes.variants, labels)
    report["covariates"] = covariate_names
    return FileScan(
        table=table,
        heritability=h2_rows,
        samples=report,
        kinship=kinship_info,
        timings={k: round(v, 4) for k, v in clock.seconds.items()},
        steps=run.report(),
    )


def _chunk(options: ScanOptions, n: int) -> int:
    if options.chunk_size is not None:
        return int(options.chunk_size)
    return int(np.clip(BLOCK_ENTRIES // max(n, 1), 16, 4 * BLOCK_SIZE))


@dataclass(frozen=True)
class _Job:
    """What every task of a scan reads (shipped once to each Dask worker)."""

    genotypes: Any
    rows: np.ndarray
    chrom: np.ndarray
    kin: StreamedKinship | None
    full_K: np.ndarray | None
    same_file: bool
    source: Any
    source_rows: np.ndarray
    chunk: int
    groups: list
    Y: np.ndarray
    X: np.ndarray
    E: pd.DataFrame | None
    options: ScanOptions
    trials: np.ndarray | None

    def index(self, c: str | None) -> np.ndarray:
        """Positions of chromosome ``c``'s variants in the file (all for None)."""
        return np.arange(self.chrom.shape[0]) if c is None else np.flatnonzero(self.chrom == c)


@dataclass(frozen=True)
class _Null:
    """A chromosome's null state: one eigendecomposition and the null δ per trait group,
    the heritability rows, the seconds spent per step, and with ``--joint`` the
    multi-trait null of each group (not stored: refitted from the stored
    eigendecompositions when a run resumes)."""

    decompositions: list
    deltas: list
    heritability: pd.DataFrame
    seconds: dict
    joints: list | None = None


def _null_task(job: _Job, c: str | None) -> _Null:
    """Kinship without ``c``, its eigendecomposition and the null fits (one task)."""
    seconds = {"read": 0.0}
    index = job.index(c)

    def blocks() -> Iterator[np.ndarray]:
        for start in range(0, index.shape[0], job.chunk):
            began = time.perf_counter()
            block = job.genotypes.read(index[start : start + job.chunk], samples=job.rows)
            seconds["read"] += time.perf_counter() - began
            yield block

    began = time.perf_counter()
    kinship_c = _chromosome_kinship(
        job.kin,
        job.full_K,
        c,
        blocks if job.same_file else None,
        job.source,
        job.source_rows,
        job.chunk,
    )
    seconds["kinship"] = time.perf_counter() - began - seconds["read"]
    began = time.perf_counter()
    decompositions = _decompositions(kinship_c, job.groups, job.rows.shape[0])
    del kinship_c
    seconds["eigh"] = time.perf_counter() - began
    began = time.perf_counter()
    rows, deltas = [], []
    for group, QS in zip(job.groups, decompositions, strict=True):
        found = _heritability(job.Y, job.X, group, QS, c, job.options)
        rows += found
        deltas.append([row["delta"] for row in found] or None)
    null = _with_joint_nulls(job, _Null(decompositions, deltas, pd.DataFrame(rows), seconds))
    seconds["null fits"] = time.perf_counter() - began
    log.debug(
        "chromosome %s: %d variants, kinship rank %s",
        "all" if c is None else c,
        index.shape[0],
        [QS[1].shape[0] for QS in decompositions],
    )
    return null


def _with_joint_nulls(job: _Job, null: _Null) -> _Null:
    """``null`` with the multi-trait null of each group when the scan is ``--joint``."""
    if not job.options.joint:
        return null
    joints = [
        _joint_null(job.Y, job.X, group, QS)
        for group, QS in zip(job.groups, null.decompositions, strict=True)
    ]
    return dataclasses.replace(null, joints=joints)


def _block_task(job: _Job, null: _Null, block: tuple) -> tuple[pd.DataFrame, dict]:
    """The rows of one block of chromosome ``c`` for every trait group (one task)."""
    c, start = block
    index = job.index(c)[start : start + job.chunk]
    began = time.perf_counter()
    G = job.genotypes.read(index, samples=job.rows)
    read = time.perf_counter() - began
    parts = []
    joints = null.joints or [None] * len(job.groups)
    for group, QS, deltas, joint in zip(
        job.groups, null.decompositions, null.deltas, joints, strict=True
    ):
        if joint is None:
            part = _scan_block(G, job.Y, job.X, job.E, group, QS, job.options, job.trials, deltas)
            part.insert(0, "_index", np.repeat(index, len(group.traits)))
        else:
            part = _joint_block(G, joint, group, job.options.joint)
            part.insert(0, "_index", index)
        parts.append(part)
    reached("task")
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return frame, {"read": read, "scan": time.perf_counter() - began - read}


def _null_arrays(null: _Null) -> dict[str, np.ndarray]:
    arrays = {}
    for g, ((Q0, _), S0) in enumerate(null.decompositions):
        arrays[f"Q0_{g}"], arrays[f"S0_{g}"] = Q0, S0
        if null.deltas[g] is not None:
            arrays[f"delta_{g}"] = np.asarray(null.deltas[g], dtype=np.float64)
    return arrays


def _null_from_arrays(arrays: dict[str, np.ndarray]) -> _Null:
    groups = sum(1 for name in arrays if name.startswith("S0_"))
    decompositions = [((arrays[f"Q0_{g}"], None), arrays[f"S0_{g}"]) for g in range(groups)]
    deltas = [arrays[f"delta_{g}"].tolist() if f"delta_{g}" in arrays else None
              for g in range(groups)]
    return _Null(decompositions, deltas, pd.DataFrame(), {})


def _kinship_arrays(kin: StreamedKinship) -> dict[str, np.ndarray]:
    """A :class:`~kinmix.grm.StreamedKinship` as named arrays (for a checkpoint)."""
    arrays = {
        "n": np.array(kin.n),
        "kind": np.array(kin.kind),
        "count_chrom": np.array(list(kin.counts), dtype=str),
        "count_value": np.array(list(kin.counts.values()), dtype=np.int64),
        "variant_chrom": np.asarray(kin.variant_chrom, dtype=str),
        "keep": kin.keep,
        "center": kin.center,
        "scale": kin.scale,
        "kept_chrom": np.array(list(kin.kept), dtype=str),
    }
    for name in ("gram", "factor", "factor_chrom"):
        value = getattr(kin, name)
        if value is not None:
            arrays[name] = np.asarray(value, dtype=str) if name == "factor_chrom" else value
    for i, value in enumerate(kin.kept.values()):
        arrays[f"kept_{i}"] = value
    return arrays


def _kinship_from_arrays(arrays: dict[str, np.ndarray]) -> StreamedKinship:
    """The :class:`~kinmix.grm.StreamedKinship` stored by :func:`_kinship_arrays`."""
    counts = dict(zip(arrays["count_chrom"].tolist(), arrays["count_value"].tolist(),
                      strict=True))
    kept = {c: np.asfortranarray(arrays[f"kept_{i}"])
            for i, c in enumerate(arrays["kept_chrom"].tolist())}
    gram = arrays.get("gram")
    return StreamedKinship(
        n=int(arrays["n"]),
        kind=str(arrays["kind"]),
        counts=counts,
        variant_chrom=arrays["variant_chrom"].astype(object),
        keep=arrays["keep"],
        center=arrays["center"],
        scale=arrays["scale"],
        gram=None if gram is None else np.asfortranarray(gram),
        factor=arrays.get("factor"),
        factor_chrom=(
            arrays["factor_chrom"].astype(object) if "factor_chrom" in arrays else None
        ),
        kept=kept,
    )


def _interaction(cov: pd.DataFrame | None, name: str | None) -> pd.DataFrame | None:
    if name is None:
        return None
    if cov is None or name not in cov.columns:
        available = [] if cov is None else list(cov.columns)
        raise InputError(
            f"--interaction {name}: no covariate column of that name (covariates: "
            f"{', '.join(map(str, available)) or 'none given'}). Give it in --covar."
        )
    return cov[[name]].astype(float).reset_index(drop=True)


def _trials(values: pd.DataFrame, name: str | None) -> np.ndarray | None:
    if name is None:
        return None
    if name not in values.columns:
        raise InputError(
            f"--trials {name}: no phenotype column of that name (phenotypes: "
            f"{', '.join(map(str, values.columns))})."
        )
    return values[name].to_numpy(dtype=float)


def _conditioning(genotypes: Any, names: Sequence[str], rows: np.ndarray) -> np.ndarray:
    """Mean-imputed dosages of the conditioning variants (samples × variants)."""
    ids = pd.Index(genotypes.variants["variant"].astype(str))
    positions = ids.get_indexer(list(names))
    if (positions < 0).any():
        missing = [v for v, p in zip(names, positions, strict=True) if p < 0]
        raise InputError(
            f"--condition: variant(s) {', '.join(missing)} not in {genotypes.path}; "
            "give IDs from the .bim's second column."
        )
    order = np.argsort(positions)
    G = np.empty((rows.shape[0], len(names)))
    G[:, order] = genotypes.read(positions[order], samples=rows)
    means = np.nanmean(G, axis=0)
    return np.where(np.isnan(G), means, G)


def _groups(Y: np.ndarray, traits: list[str]) -> list[_Group]:
    """Traits grouped by their set of observed samples (empty traits dropped)."""
    patterns: dict[bytes, list[int]] = {}
    observed = np.isfinite(Y)
    for j in range(Y.shape[1]):
        if observed[:, j].any():
            patterns.setdefault(observed[:, j].tobytes(), []).append(j)
    return [
        _Group([traits[j] for j in columns], columns, np.flatnonzero(observed[:, columns[0]]))
        for columns in patterns.values()
    ]


def _joint_group(Y: np.ndarray, traits: list[str]) -> list[_Group]:
    """All traits as one group, on the samples that observe every one of them."""
    if len(traits) < 2:
        raise InputError("the multi-trait test (--joint) needs at least two phenotypes.")
    rows = np.flatnonzero(np.isfinite(Y).all(axis=1))
    if rows.shape[0] <= len(traits) + 1:
        raise InputError(
            f"only {rows.shape[0]} samples observe all of {', '.join(traits)}: too few for "
            "the multi-trait test (--joint)."
        )
    return [_Group(list(traits), list(range(len(traits))), rows)]


def _joint_null(Y: np.ndarray, X: np.ndarray, group: _Group, QS: Any) -> Any:
    """The multi-trait null (Kron2Sum, ML, full-rank trait covariances) and its scanner."""
    from .lmm import joint_null

    return joint_null(Y[np.ix_(group.rows, group.columns)], X[group.rows], QS)


def _joint_block(block: np.ndarray, scanner: Any, group: _Group, test: str) -> pd.DataFrame:
    """One block's rows of the multi-trait test (mean-imputed dosages)."""
    from .lmm import joint_table

    G, nobs, means = _mean_imputed(block[group.rows])
    table = joint_table(scanner, G, test=test, traits=group.traits).reset_index(drop=True)
    table.insert(0, "af", means / 2)
    table["n"] = nobs
    return table


def _mean_imputed(G: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dosages with missing values replaced by their variant's mean; counts and means."""
    nobs = (~np.isnan(G)).sum(axis=0)
    means = np.where(nobs > 0, np.nansum(G, axis=0) / np.maximum(nobs, 1), np.nan)
    return np.where(np.isnan(G), means, G), nobs, means


def _kinship_source(
    timed: _TimedReads,
    kinship_genotypes: Any,
    clock: _Clock,
    current: list[str],
    ids: pd.Index,
    rows: np.ndarray,
) -> tuple[Any, np.ndarray, bool]:
    """The genotypes the kinship is built from, the rows of the kept samples, same file?"""
    if kinship_genotypes is None:
        return timed, rows, True
    other = _TimedReads(kinship_genotypes, clock, lambda: current[0])
    positions = pd.Index(kinship_genotypes.samples["iid"].astype(str)).get_indexer(ids)
    return other, positions, False


def _chromosome_kinship(
    kin: StreamedKinship | None,
    full_K: np.ndarray | None,
    chrom: str | None,
    blocks: Callable[[], Iterator[np.ndarray]] | None,
    source: Any,
    source_rows: np.ndarray,
    chunk: int,
) -> tuple[str, Any]:
    """The kinship without ``chrom`` (all of it for None) as ``(form, payload)``.

    Forms: ``"dense"`` (a full matrix, kept), ``"upper"`` (the upper triangle of a new
    matrix, which the eigendecomposition destroys) or ``"factor"`` (Z/√m, low rank).
    """
    if full_K is not None:
        return "dense", full_K
    leave_out = chrom is not None and kin.counts.get(chrom, 0) > 0
    if kin.low_rank:
        on = kin.factor_chrom != chrom if leave_out else np.ones(kin.factor.shape[1], bool)
        return "factor", kin.factor[:, on] / np.sqrt(int(on.sum()))
    if not leave_out:
        return "upper", np.asfortranarray(kin.gram / kin.n_variants)
    if blocks is None:
        blocks = _source_blocks(kin, chrom, source, source_rows, chunk)
    return "upper", kin.loco_upper(chrom, blocks)


def _decompositions(kinship: tuple[str, Any], groups: list[_Group], n: int) -> list[Any]:
    """The eigendecomposition of ``kinship`` on each group's samples."""
    form, payload = kinship
    if form == "dense":
        return [economic_qs(payload[np.ix_(g.rows, g.rows)]) for g in groups]
    if form == "factor":
        return [economic_qs_linear(payload[g.rows]) for g in groups]
    if all(g.rows.shape[0] == n for g in groups):
        return [eigh_upper_in_place(payload)]
    full = np.triu(payload) + np.triu(payload, 1).T
    return [eigh_upper_in_place(np.asfortranarray(full[np.ix_(g.rows, g.rows)])) for g in groups]


def _source_blocks(
    kin: StreamedKinship, chrom: str, source: Any, rows: np.ndarray, chunk: int
) -> Callable[[], Iterator[np.ndarray]]:
    index = np.flatnonzero(kin.variant_chrom == chrom)

    def blocks() -> Iterator[np.ndarray]:
        for start in range(0, index.shape[0], chunk):
            yield source.read(index[start : start + chunk], samples=rows)

    return blocks


def _heritability(
    Y: np.ndarray, X: np.ndarray, group: _Group, QS: Any, chrom: str | None, opts: ScanOptions
) -> list[dict]:
    """REML h² (and SE) of each continuous trait of ``group`` with this kinship."""
    if opts.trait_type != "continuous":
        return []
    out = []
    Xg = X[group.rows]
    for trait, j in zip(group.traits, group.columns, strict=True):
        y = Y[group.rows, j]
        null = LMM(y, Xg, QS, restricted=opts.null == "reml")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BoundaryWarning)
            null.fit(verbose=False)
        h2, h2_se = 1.0 - null.delta, float("nan")
        try:
            model = model_from_qs(y, Xg, QS)
            model.fit()
            h2, h2_se = model.h_sq, model.h_sq_standard_error
        except FitError as exc:  # an optimum on a bound: h2 from the null δ, no SE
            log.warning("trait %s: REML h2 on a bound (%s); no standard error", trait, exc)
        out.append(
            {
                "trait": trait,
                "chrom": "none" if chrom is None else chrom,
                "h2": h2,
                "h2_se": h2_se,
                "delta": null.delta,
                "n": int(y.shape[0]),
            }
        )
    return out


def _scan_block(
    block: np.ndarray,
    Y: np.ndarray,
    X: np.ndarray,
    E: pd.DataFrame | None,
    group: _Group,
    QS: Any,
    options: ScanOptions,
    trials: np.ndarray | None,
    deltas: list | None = None,
) -> pd.DataFrame:
    """Statistics of one block of variants for the traits of one group (variant-major);
    ``deltas``: the null δ of the group's traits, already fitted (ignored with
    ``refit_delta``, whose ML null differs from the heritability step's)."""
    from .gwas import scan

    G = block[group.rows]
    Xg = X[group.rows]
    if options.trait_type != "continuous":
        return _scan_glmm(G, Y, Xg, group, QS, options, trials)
    Yg = pd.DataFrame(Y[np.ix_(group.rows, group.columns)], columns=group.traits)
    table = scan(
        G,
        Yg,
        Xg,
        QS,
        interaction=None if E is None else E.iloc[group.rows].reset_index(drop=True),
        # GEMMA's exact tests compare with the ML null whatever --null says.
        restricted=options.null == "reml" and not options.refit_delta,
        deltas=None if options.refit_delta else deltas,
        test=options.test,
        refit_delta=options.refit_delta,
    )
    return table.drop(columns=["variant"])


def _scan_glmm(
    G: np.ndarray,
    Y: np.ndarray,
    X: np.ndarray,
    group: _Group,
    QS: Any,
    options: ScanOptions,
    trials: np.ndarray | None,
) -> pd.DataFrame:
    """GLMM null by EP, then the fixed-δ scan of the Normal model on its sites, per trait."""
    from .glmm import GLMMExpFam, GLMMNormal

    n, m = G.shape
    G, nobs, means = _mean_imputed(G)
    frames = []
    for trait, j in zip(group.traits, group.columns, strict=True):
        y = Y[group.rows, j]
        lik: tuple = (_LIKELIHOODS[options.trait_type],)
        if options.trait_type == "binomial":
            lik = (lik[0], trials[group.rows])
        glmm = GLMMExpFam(y, lik, X, QS)
        glmm.fit(verbose=False)
        normal = GLMMNormal(glmm.site.eta, glmm.site.tau, X, QS)
        normal.fit(verbose=False)
        scanner = normal.get_fast_scanner()
        result = scanner.fast_scan(G, verbose=False)
        chi2 = np.maximum(2 * (result["lml"] - scanner.null_lml()), 0.0)
        statistic, pvalue, se = _glmm_statistics(
            chi2, result["effsizes1_se"], n=n, covariates=X.shape[1], test=options.test
        )
        frames.append(
            pd.DataFrame(
                {
                    "trait": trait,
                    "n": nobs,
                    "af": means / 2,
                    "beta": result["effsizes1"],
                    "se": se,
                    "chi2": statistic,
                    "pvalue": pvalue,
                    "lml": result["lml"],
                    "scale": result["scale"],
                    "reason": pd.Series([None] * m, dtype=object),
                }
            )
        )
    # variant-major, like kinmix.scan
    stacked = pd.concat(frames, keys=range(len(frames)), names=["_t", "_v"]).reset_index()
    return stacked.sort_values(["_v", "_t"]).drop(columns=["_t", "_v"]).reset_index(drop=True)


def _assemble(tables: list[pd.DataFrame], variants: pd.DataFrame, traits: list[str]) -> Any:
    """One table in file order (variant-major, traits in the order given)."""
    table = pd.concat(tables, ignore_index=True)
    if "trait" not in table.columns:
        table.insert(1, "trait", traits[0])
    rank = {t: i for i, t in enumerate(traits)}
    table["_trait"] = table["trait"].map(rank)
    table = table.sort_values(["_index", "_trait"], kind="stable")
    info = variants.iloc[table["_index"].to_numpy()][["chrom", "pos", "variant", "a1", "a2"]]
    info = info.reset_index(drop=True)
    table = table.drop(columns=["_index", "_trait"]).reset_index(drop=True)
    if len(traits) == 1:
        table = table.drop(columns=["trait"])
    out = pd.concat([info, table], axis=1)
    out["chrom"] = out["chrom"].astype(str)
    return out


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
