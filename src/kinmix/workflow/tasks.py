"""The two tasks of a scan: a chromosome's null state (kinship without it, its
eigendecomposition, the null fits) and one block of variants — run in process or as Dask
tasks (:func:`kinmix.distributed.run_chromosomes`)."""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._killpoints import reached
from ..errors import BoundaryWarning, FitError
from ..grm import StreamedKinship, eigh_upper_in_place
from ..kernel.null_fit import NullFit
from ..linalg import economic_qs, economic_qs_linear
from ..lmm import LMM, LinearMixedModel
from ..tridiagonal import TridiagonalDesign, TridiagonalKinship
from . import whitened
from .blocks import (
    fit_glmm_nulls,
    group_joint_null,
    joint_block,
    prepare_group_scan,
    restore_glmm_null,
    scan_block,
)
from .groups import TraitGroup
from .heritability import model_from_qs
from .options import ScanOptions

log = logging.getLogger("kinmix")

#: Columns of the heritability rows of a null state (none for a non-normal trait type).
HERITABILITY_COLUMNS = ("trait", "chrom", "h2", "h2_se", "delta", "n")


@dataclass(frozen=True)
class ScanJob:
    """What every task of a scan reads (shipped once to each Dask worker)."""

    genotypes: Any
    rows: np.ndarray
    chrom: np.ndarray
    kin: StreamedKinship | None
    full_K: np.ndarray | None
    chunk: int
    groups: list
    Y: np.ndarray
    X: np.ndarray
    E: pd.DataFrame | None
    options: ScanOptions
    trials: np.ndarray | None
    stored: dict = dataclasses.field(default_factory=dict)

    def index(self, c: str | None) -> np.ndarray:
        """Positions of chromosome ``c``'s variants in the file (all for None)."""
        return np.arange(self.chrom.shape[0]) if c is None else np.flatnonzero(self.chrom == c)


@dataclass(frozen=True)
class StoredNull:
    """What a checkpoint keeps of a chromosome's null state
    (:func:`kinmix.workflow.state.null_arrays`): the null δ of each trait group (None for a
    non-normal trait type) and its GLMM nulls (:class:`~kinmix.workflow.blocks.GlmmNull`
    without their scanners)."""

    deltas: list
    glmms: list | None


@dataclass(frozen=True)
class ChromosomeNull:
    """A chromosome's null state: one eigendecomposition and the null δ per trait group
    (the ML δ with ``refit_delta``), the heritability rows, the seconds spent per step,
    with ``--joint`` the multi-trait null of each group (not stored: refitted from the
    stored eigendecompositions when a run resumes), and for a non-normal trait type the
    GLMM null of each trait per group (:class:`~kinmix.workflow.blocks.GlmmNull`); for
    continuous traits scanned one by one, each group's :class:`kinmix.gwas.PreparedScan`
    (not stored either: rebuilt from the stored eigendecomposition and δ), whose basis
    then holds the eigenvectors of ``decompositions``."""

    decompositions: list
    deltas: list
    heritability: pd.DataFrame
    seconds: dict
    joints: list | None = None
    glmms: list | None = None
    scans: list | None = None


def null_task(job: ScanJob, c: str | None) -> ChromosomeNull:
    """Kinship without ``c``, its decomposition and the null fits (one task): the
    eigendecomposition, or for groups of one trait the tridiagonal form and a Cholesky
    factor (:mod:`kinmix.workflow.whitened`)."""
    seconds = {}
    began = time.perf_counter()
    kinship_c = _chromosome_kinship(job.kin, job.full_K, c, job.groups, job.rows.shape[0])
    seconds["kinship"] = time.perf_counter() - began
    if whitened.applies(job.options, job.groups, kinship_c[0]):
        return _whitened_null(job, c, kinship_c[1], seconds)
    return _eigen_null(job, c, kinship_c, seconds)


def _eigen_null(job: ScanJob, c: str | None, kinship_c: tuple, seconds: dict) -> ChromosomeNull:
    """The null state of every group on the eigendecomposition of its kinship."""
    index = job.index(c)
    began = time.perf_counter()
    decompositions = _decompositions(kinship_c, job.groups)
    del kinship_c
    seconds["eigh"] = time.perf_counter() - began
    began = time.perf_counter()
    stored = job.stored.get(c)
    if stored is None:
        state = _fit_nulls(job, c, decompositions, seconds)
    else:  # fitted by an earlier run: its δ and GLMM nulls, on the same eigenvectors
        state = with_glmm_scanners(job, ChromosomeNull(
            decompositions, stored.deltas, pd.DataFrame(), seconds, glmms=stored.glmms
        ))
    null = with_joint_nulls(job, with_prepared_scans(job, state))
    seconds["null fits"] = time.perf_counter() - began
    log.debug(
        "chromosome %s: %d variants, kinship rank %s",
        "all" if c is None else c,
        index.shape[0],
        [QS[1].shape[0] for QS in decompositions],
    )
    return null


def _whitened_null(
    job: ScanJob, c: str | None, uppers: list[np.ndarray], seconds: dict
) -> ChromosomeNull:
    """The null state of groups of one trait each, without eigenvectors: per group, the
    tridiagonal form carries the null fits (skipped when a checkpoint stored the δ) and a
    Cholesky factor the scan. A kinship that is not of full rank is eigendecomposed (the
    rank is checked on a resumed run too, so that it takes the route of the first)."""
    stored = job.stored.get(c)
    seconds.update({"tridiagonal": 0.0, "null fits": 0.0, "cholesky": 0.0})
    rows, deltas, scans, decompositions = [], [], [], []
    for g, (group, upper) in enumerate(zip(job.groups, uppers, strict=True)):
        kept = np.array(upper, order="F")  # the reduction destroys ``upper``
        began = time.perf_counter()
        tri = whitened.reduce_kinship(upper)
        del upper
        uppers[g] = None  # the caller's list is this task's own: free the reflectors early
        seconds["tridiagonal"] += time.perf_counter() - began
        began = time.perf_counter()
        kinship = tri if tri.full_rank else None
        del tri
        if kinship is None:
            seconds["tridiagonal"] += time.perf_counter() - began
            began = time.perf_counter()
            kinship = eigh_upper_in_place(kept)  # the eigenvectors overwrite ``kept``
        found, before = [], seconds["cholesky"]
        if stored is None:
            found = null_heritability(job.Y, job.X, group, kinship, c, job.options)
        delta = found[0]["delta"] if found else stored.deltas[g][0]
        if isinstance(kinship, TridiagonalKinship):
            del kinship
            prepared = whitened.prepared_scan(job, group, kept, delta, seconds)
            decompositions.append(None)
        else:
            prepared = prepare_group_scan(job.Y, job.X, job.E, group, kinship, job.options,
                                          [delta])
            decompositions.append(((prepared.Q0, None), kinship[1]))
        del kept
        seconds["null fits"] += time.perf_counter() - began - (seconds["cholesky"] - before)
        rows += found
        deltas.append([delta])
        scans.append(prepared)
    heritability = pd.DataFrame(rows, columns=list(HERITABILITY_COLUMNS))
    return ChromosomeNull(decompositions, deltas, heritability, seconds, scans=scans)


def _fit_nulls(
    job: ScanJob, c: str | None, decompositions: list, seconds: dict
) -> ChromosomeNull:
    """The null fits of every trait group on the chromosome's eigendecompositions."""
    rows, deltas, glmms = [], [], []
    for group, QS in zip(job.groups, decompositions, strict=True):
        found = null_heritability(job.Y, job.X, group, QS, c, job.options)
        rows += found
        deltas.append([row["delta"] for row in found] or None)
        if job.options.trait_type != "continuous":
            glmms.append(fit_glmm_nulls(job.Y, job.X, group, QS, job.options, job.trials))
    heritability = pd.DataFrame(rows, columns=list(HERITABILITY_COLUMNS))
    return ChromosomeNull(decompositions, deltas, heritability, seconds, glmms=glmms or None)


def with_joint_nulls(job: ScanJob, null: ChromosomeNull) -> ChromosomeNull:
    """``null`` with the multi-trait null of each group when the scan is ``--joint``."""
    if not job.options.joint:
        return null
    joints = [
        group_joint_null(job.Y, job.X, group, QS)
        for group, QS in zip(job.groups, null.decompositions, strict=True)
    ]
    return dataclasses.replace(null, joints=joints)


def with_prepared_scans(job: ScanJob, null: ChromosomeNull) -> ChromosomeNull:
    """``null`` with each group's prepared scan when its continuous traits are scanned one
    by one; the eigenvectors are then those of the scans' bases (a view), so the state
    holds one copy of them."""
    if job.options.trait_type != "continuous" or job.options.joint:
        return null
    scans, decompositions = [], []
    for group, QS, deltas in zip(job.groups, null.decompositions, null.deltas, strict=True):
        prepared = prepare_group_scan(job.Y, job.X, job.E, group, QS, job.options, deltas)
        scans.append(prepared)
        decompositions.append(((prepared.Q0, None), QS[1]))
    return dataclasses.replace(null, decompositions=decompositions, scans=scans)


def with_glmm_scanners(job: ScanJob, null: ChromosomeNull) -> ChromosomeNull:
    """A reloaded ``null`` with the scanners of its stored GLMM nulls rebuilt."""
    if null.glmms is None:
        return null
    glmms = [
        [restore_glmm_null(stored, job.X, group, QS) for stored in group_nulls]
        for group, QS, group_nulls in zip(job.groups, null.decompositions, null.glmms,
                                          strict=True)
    ]
    return dataclasses.replace(null, glmms=glmms)


def block_task(job: ScanJob, null: ChromosomeNull, block: tuple) -> tuple[pd.DataFrame, dict]:
    """The rows of one block of chromosome ``c`` for every trait group (one task)."""
    c, start = block
    index = job.index(c)[start : start + job.chunk]
    began = time.perf_counter()
    G = job.genotypes.read(index, samples=job.rows)
    read = time.perf_counter() - began
    parts = []
    joints = null.joints or [None] * len(job.groups)
    glmms = null.glmms or [None] * len(job.groups)
    scans = null.scans or [None] * len(job.groups)
    for group, joint, group_glmms, prepared in zip(
        job.groups, joints, glmms, scans, strict=True
    ):
        if joint is None:
            own = len(job.groups) == 1 and group.rows.shape[0] == G.shape[0]
            part = scan_block(
                G, group, job.options, job.X.shape[1], prepared, group_glmms, own_block=own
            )
            part.insert(0, "_index", np.repeat(index, len(group.traits)))
        else:
            part = joint_block(G, joint, group, job.options.joint)
            part.insert(0, "_index", index)
        parts.append(part)
    reached("task")
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return frame, {"read": read, "scan": time.perf_counter() - began - read}


def _chromosome_kinship(
    kin: StreamedKinship | None,
    full_K: np.ndarray | None,
    chrom: str | None,
    groups: list[TraitGroup],
    n: int,
) -> tuple[str, Any]:
    """The kinship without ``chrom`` (all of it for None) as ``(form, payload)``.

    Forms: ``"dense"`` (a full matrix, kept), ``"upper"`` (one new matrix per trait group,
    on its samples, whose upper triangle holds the kinship: the eigendecomposition destroys
    it) or ``"factor"`` (Z/√m, low rank).
    """
    if full_K is not None:
        return "dense", full_K
    leave_out = chrom is not None and kin.counts.get(chrom, 0) > 0
    if kin.low_rank:
        on = kin.factor_chrom != chrom if leave_out else np.ones(kin.factor.shape[1], bool)
        return "factor", kin.factor[:, on] / np.sqrt(int(on.sum()))
    upper = kin.loco_upper(chrom) if leave_out else kin.full_upper()
    if all(g.rows.shape[0] == n for g in groups):
        return "upper", [upper]
    # A group's rows increase (np.flatnonzero), so the upper triangle stays upper;
    # transposing twice makes the selection Fortran-ordered without a second copy.
    return "upper", [upper.T[np.ix_(g.rows, g.rows)].T for g in groups]


def _decompositions(kinship: tuple[str, Any], groups: list[TraitGroup]) -> list[Any]:
    """The eigendecomposition of ``kinship`` on each group's samples."""
    form, payload = kinship
    if form == "dense":
        return [economic_qs(payload[np.ix_(g.rows, g.rows)]) for g in groups]
    if form == "factor":
        return [economic_qs_linear(payload[g.rows]) for g in groups]
    return [eigh_upper_in_place(upper) for upper in payload]


def null_heritability(
    Y: np.ndarray,
    X: np.ndarray,
    group: TraitGroup,
    kinship: Any,
    chrom: str | None,
    opts: ScanOptions,
) -> list[dict]:
    """REML h² (and SE) of each continuous trait of ``group`` with this kinship (its
    eigendecomposition QS or its :class:`~kinmix.tridiagonal.TridiagonalKinship`), and the
    null δ of its scan (by ``--null``; by ML with ``--refit-delta``, GEMMA's null)."""
    if opts.trait_type != "continuous":
        return []
    out = []
    Xg = X[group.rows]
    restricted = opts.null == "reml" and not opts.refit_delta
    for trait, j in zip(group.traits, group.columns, strict=True):
        y = Y[group.rows, j]
        form = kinship.design(y, Xg) if isinstance(kinship, TridiagonalKinship) else kinship
        # Fitted once per chromosome here, so that no block refits it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BoundaryWarning)
            delta = _null_delta(y, Xg, form, restricted)
        h2, h2_se = 1.0 - delta, float("nan")
        try:
            model = _reml_model(y, Xg, form)
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
                "delta": delta,
                "n": int(y.shape[0]),
            }
        )
    return out


def _null_delta(y: np.ndarray, X: np.ndarray, form: Any, restricted: bool) -> float:
    """The null δ of :class:`~kinmix.lmm.LMM`'s search, given the kinship's
    eigendecomposition or a :class:`~kinmix.tridiagonal.TridiagonalDesign` of ``(y, X)``."""
    if isinstance(form, TridiagonalDesign):
        null = NullFit.of(y, X, None, restricted=restricted, design=form)
        return null.search_delta(beta=None, scale=None, start=0.5).delta
    lmm = LMM(y, X, form, restricted=restricted)
    lmm.fit(verbose=False)
    return lmm.delta


def _reml_model(y: np.ndarray, X: np.ndarray, form: Any) -> Any:
    """Hail's :class:`~kinmix.lmm.LinearMixedModel` of ``y``, on either form (as above)."""
    if isinstance(form, TridiagonalDesign):
        return LinearMixedModel.from_design(form)
    return model_from_qs(y, X, form)
