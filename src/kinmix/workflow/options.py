"""The options of a file scan (the ``kinmix scan`` flags) and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from ..errors import InputError
from ..grm import BLOCK_SIZE
from .results import ScanTable

TESTS = ("lrt", "wald", "f", "score")
NULLS = ("reml", "ml")
TRAIT_TYPES = ("continuous", "binary", "count", "binomial")
#: Multi-trait tests: an effect per trait (p d.o.f.) or one shared by all traits (1 d.o.f.).
JOINT_TESTS = ("any", "common")
#: Likelihood of the GLMM null of each non-normal trait type.
_LIKELIHOODS = {"binary": "bernoulli", "count": "poisson", "binomial": "binomial"}
#: How the LMM is computed: eigendecomposition, conjugate gradients, or chosen by size.
METHODS = ("auto", "exact", "cg")
#: Float64 entries of one block of dosages (16 MiB) when no chunk size is given: the scan
#: of a block holds a few arrays of its size, small beside the n×n eigenvectors, and the
#: rotation GEMM is as fast on blocks of a few hundred variants as on larger ones.
BLOCK_ENTRIES = 2**21


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
    ``method``: ``exact`` (eigendecompositions, the default), ``cg`` (matrix-free,
    ``kinmix.workflow.matfree``) or ``auto`` (``cg`` from
    ``kinmix.constants.AUTO_CG_SAMPLES`` samples when the options allow it). The
    default stays exact: ``cg`` gives calibrated, not exact, statistics for p ≥ 1e-6.
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
    method: str = "exact"

    def __post_init__(self) -> None:
        for name, allowed in (
            ("null", NULLS), ("test", TESTS), ("trait_type", TRAIT_TYPES), ("method", METHODS)
        ):
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

    ``results``: the table as blocks (``kinmix.workflow.results.ScanTable``, read
    block by block by the result writers); ``table``: all of it, one row per variant (and
    trait), in file order (assembled on first access); ``heritability``: one row per
    trait and kinship (``chrom`` is the left-out chromosome, or ``"none"``) with ``h2``,
    ``h2_se`` (REML), ``delta`` (the null δ used) and ``n``; ``samples``: the alignment report
    with per-trait sample counts; ``kinship``: its source, kind and numbers of variants;
    ``timings``: seconds per step; ``steps``: whether the run resumed from checkpoints and
    how many steps (``kinship``, ``null``, ``block``) it computed and reloaded.
    """

    results: ScanTable
    heritability: pd.DataFrame
    samples: dict
    kinship: dict
    timings: dict[str, float]
    steps: dict = field(default_factory=dict)

    @cached_property
    def table(self) -> pd.DataFrame:
        """The whole table (``ScanTable.frame()``, assembled once)."""
        return self.results.frame()


def variants_per_block(options: ScanOptions | None, n: int) -> int:
    """Variants per block of a scan (``--chunk-size``, else :data:`BLOCK_ENTRIES`
    entries); with ``options`` None, of the kinship pass, whose block does not follow
    ``--chunk-size`` so that the kinship's sums, and every statistic, do not depend on it."""
    if options is not None and options.chunk_size is not None:
        return int(options.chunk_size)
    return int(np.clip(BLOCK_ENTRIES // max(n, 1), 16, 4 * BLOCK_SIZE))
