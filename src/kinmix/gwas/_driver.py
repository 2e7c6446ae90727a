r"""The GWAS driver: stream genotype blocks through the scan kernel, build the table."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._progress import progress
from .._validate import is_dask_array
from ..distributed import run_tasks
from ..errors import InputError
from ._block import REASONS, BlockResult, ScanState, empty_result, scan_genotypes
from ._inputs import Inputs, validate
from ._null import fit_nulls, whitened_state
from ._resume import ResumableRun, fingerprint_array
from ._tests import check_test


def scan(
    G: Any,
    y: Any,
    X: Any | None = None,
    QS: Any | None = None,
    *,
    K: Any | None = None,
    interaction: Any | None = None,
    variants: Sequence | None = None,
    block_size: int | None = None,
    restricted: bool = False,
    test: str = "lrt",
    refit_delta: bool = False,
    verbose: bool = False,
    checkpoint: str | os.PathLike | None = None,
    restart: bool = False,
    deltas: Any | None = None,
    method: str = "auto",
) -> pd.DataFrame:
    r"""Genome-wide association scan of one or many traits with a linear mixed model.

    For each trait :math:`y_p` the null model

    .. math::

        y_p \sim N\bigl(X\beta_p,\; s_p((1-\delta_p)K + \delta_p I)\bigr)

    is fitted once (:class:`kinmix.lmm.LMM`, ML unless ``restricted``). Each variant
    :math:`g` (a column of ``G``) is then tested by adding it to the covariates with
    :math:`\delta_p` held at its null value and :math:`\beta`, the effect :math:`\alpha`
    and the scale re-estimated by maximum likelihood. With :math:`R_0`, :math:`R_1` the
    generalised residual sums of squares of the null and the alternative,

    .. math::

        \chi^2 = n\log(R_0/R_1) \sim \chi^2_1 \text{ under the null},\qquad
        \hat s = R_1/n .

    Parameters
    ----------
    G : array_like, shape (n, m)
        Dosages of m variants for the n samples (samples are rows, in the order of ``y``).
        A NumPy array, a ``numpy.memmap`` (read block by block), a Dask array (one task
        per block, on the current ``dask.distributed`` client if there is one, otherwise
        on Dask's default scheduler) or a pandas DataFrame (columns name the variants).
        NaN marks a missing dosage.
    y : array_like, shape (n,) or (n, P)
        Trait(s), without missing values. With P columns every trait gets its own null
        fit, while the rotation :math:`Q_0^\top G` is shared by all of them.
    X : array_like, shape (n, c), optional
        Covariates of full column rank; default a column of ones (intercept only).
    QS : tuple, optional
        ``((Q0, Q1), S0)``, the economic eigendecomposition of the kinship K
        (:func:`kinmix.economic_qs`, :func:`kinmix.economic_qs_linear`).
    K : array_like, shape (n, n), or kinmix.matfree.GenotypeGRM, optional
        Kinship matrix, decomposed here when ``QS`` is not given. Without ``QS`` and
        ``K`` the model has no random effect (ordinary least squares). A
        :class:`~kinmix.matfree.GenotypeGRM` (:math:`K = ZZ^\top/m` of its model
        variants, never formed) is what ``method="cg"`` needs; with ``method="exact"`` it
        is formed densely and decomposed.
    interaction : array_like, shape (n, q), optional
        Environments E for a genotype-by-environment scan: variant :math:`g` is then
        tested through the set :math:`[g\odot E_1, \dots, g\odot E_q]` while its main
        effect :math:`g` is in both models (see Notes). No constant column; put the main
        effects of E in ``X``.
    variants : sequence, optional
        Identifiers of the m variants (default 0, …, m−1).
    block_size : int, optional
        Variants per block. Default: about 128 MiB of float64 candidates per block
        (between 16 and 4096 variants); for a Dask ``G``, its own column chunks.
    restricted : bool
        Fit the null δ by REML instead of ML. The tests themselves are always ML.
    test : {"lrt", "wald", "f", "score", "all"}
        The statistic in ``chi2`` and ``pvalue`` (see Notes): ``"lrt"`` (default) the
        likelihood ratio, χ²₁; ``"wald"`` :math:`\hat\beta^2/\mathrm{se}^2`, χ²₁; ``"f"``
        the same with the scale on :math:`n-c-1` degrees of freedom (FaST-LMM's test),
        F(1, n−c−1); ``"score"`` GEMMA's score statistic at the null δ, F(1, n−c−1);
        ``"all"`` every one of them in columns ``chi2_<test>``, ``pvalue_<test>``.
    refit_delta : bool
        Re-estimate δ for every variant (GEMMA's exact tests, see Notes): by REML for
        ``"wald"`` and ``"f"``, by ML for ``"lrt"``. Needs the ML null
        (``restricted=False``).
    verbose : bool
        Show a progress bar over the blocks of an in-memory ``G`` (needs tqdm).
    checkpoint : str or os.PathLike, optional
        A folder where the run keeps its finished steps (under ``.kinmix/``: the null
        models' δ, then each block's results, each written atomically), so that calling
        again with the same arguments after an interruption resumes: the null models are
        rebuilt from the stored δ without refitting and finished blocks are not
        recomputed; the table is identical, bit for bit, to that of an uninterrupted run.
        The blocks then run here, one after another.
    restart : bool
        With ``checkpoint``: discard what the folder holds and start afresh.
    deltas : array_like, shape (P,), optional
        The null δ of each trait when already fitted (by an earlier call, or a
        heritability step with the same kinship and covariates): nothing is fitted, and
        the null state is built from them.
    method : {"auto", "exact", "cg"}
        ``"exact"``: eigendecompose K (:math:`O(n^3)`, the statistics above exactly).
        ``"cg"``: K must be a :class:`~kinmix.matfree.GenotypeGRM`; δ by Monte-Carlo REML
        (or ``deltas``), every linear system by conjugate gradients through the genotypes
        and each variant's denominator calibrated, the variants with p < 1e-6 or a
        calibrated −log10 p possibly off by more than 0.1 refined exactly
        (:mod:`kinmix.matfree.arrays_scan`; one trait, ``test="lrt"``, no interaction,
        no ``refit_delta`` or ``checkpoint``). The table then has no ``lml`` and a
        ``denominator`` column (``"calibrated"``/``"exact"``). ``"auto"`` (default):
        ``"cg"`` when K is a GenotypeGRM of at least
        ``kinmix.constants.AUTO_CG_SAMPLES`` samples, ``"exact"`` otherwise.

    Returns
    -------
    pandas.DataFrame
        One row per variant (and per trait, variant-major, when ``y`` is 2-D), in the
        order of ``G``, with columns

        - ``variant``; ``trait`` (only when ``y`` is 2-D: its column names or indices);
        - ``n``: number of observed dosages; ``af``: their mean / 2 (the allele frequency);
        - ``beta``, ``se``: effect of the variant and its standard error
          :math:`\sqrt{\hat s\,S^{-1}}`, with :math:`S` the Schur complement of the
          covariates in the generalised Gram matrix of :math:`[X, g]`;
        - ``beta_gxe_<e>``, ``se_gxe_<e>`` per environment column (interaction scans);
        - ``chi2``, ``pvalue``: the likelihood-ratio statistic and its p-value;
        - ``lml``: log-likelihood of the alternative; ``scale``: its :math:`\hat s`, on
          the scale of :class:`~kinmix.lmm.LMM` (covariance
          :math:`\hat s((1-\delta)K + \delta I)`);
        - with ``refit_delta``: ``delta`` (the variant's δ), ``h2`` (:math:`1-\delta`, Hail's
          ``h_sq``) and ``converged``; with ``test="all"`` these come twice, suffixed
          ``_reml`` (the Wald/F fit, which gives ``beta``, ``se`` and ``scale``) and ``_ml``
          (the LRT fit, which gives ``lml``); the score test's δ is the null δ;
        - ``reason``: why a variant has NaN statistics — ``"constant"``,
          ``"all missing"``, ``"collinear with covariates"``, ``"dosage too large"``
          (its :math:`g^\top g` overflows float64) or ``"degenerate fit"`` (a statistic
          that is not finite, e.g. an alternative without residual in a tiny sample) — and
          missing otherwise.

    Raises
    ------
    kinmix.InputError
        If an argument has the wrong shape or content (the message names it), ``deltas``
        has not one value in (0, 1] per trait, or
        ``checkpoint`` holds the steps of a run with other inputs or options and
        ``restart`` is False (the message names what changed).

    Notes
    -----
    *Missing dosages* are replaced by the mean of the variant's observed dosages.

    *Cost.* Each block of m variants costs one GEMM :math:`Q_0^\top G` of :math:`2nkm`
    flops (:math:`k` the rank of K), shared by all P traits, plus :math:`O(nm)` for the
    imputation and, when :math:`k<n`, the raw products :math:`G^\top G`,
    :math:`[X,Y]^\top G`, and :math:`O(P(k + c^2)m)` for the statistics. Memory is one
    block plus the results table, whatever m.

    *Tests at the null δ.* With :math:`R_0, R_1` as above (:math:`R_0 - R_1 = u^2/S`, u
    the variant's projected covariance with y, S its Schur complement): Wald
    :math:`n(R_0-R_1)/R_1` (se on the ML scale :math:`R_1/n`), F
    :math:`(n-c-1)(R_0-R_1)/R_1` (se on the scale :math:`R_1/(n-c-1)`), score
    :math:`n(R_0-R_1)/R_0` (GEMMA's ``p_score``).

    *Exact tests* (``refit_delta=True``, GEMMA's ``-lmm 4``): for each variant δ maximises
    the REML likelihood of :math:`[X, g]` (Wald/F: GEMMA's ``p_wald`` is ``"f"``) or the ML
    likelihood (LRT: :math:`2(\ell_1 - \ell_0)` against the ML null, χ²₁). The search
    reuses the block's rotation — a grid plus a Chebyshev bracket evaluated by GEMMs of
    :math:`O(c)` rows, then a vectorised Newton search on the derivative
    (:mod:`kinmix.kernel.exact`) — and costs a small multiple of the fixed-δ scan.

    *Interaction scans* rotate :math:`[g, g\odot E]` together (one GEMM of
    :math:`2nk(q+1)m` flops) and fit two models per variant: :math:`[X, g]` and
    :math:`[X, g, g\odot E]`. ``chi2`` is :math:`n\log(R_{g}/R_{g,g\odot E})` with q
    degrees of freedom: the test of the interaction with the main effect of :math:`g` in
    the null, since a main effect would otherwise show as an interaction. ``beta`` and
    ``se`` are those of :math:`g` in the full model, ``lml`` and ``scale`` its fit.
    """
    check_test(test, refit_delta, restricted, interaction is not None)
    route, K = choose_method(method, K, QS)
    if route == "cg":
        if y is not None and np.ndim(y) == 2 and np.shape(y)[1] > 1:
            raise InputError("method='cg' scans one trait: give y as a vector.")
        if test != "lrt" or interaction is not None or refit_delta or checkpoint is not None:
            raise InputError(
                "method='cg' computes the likelihood-ratio test at the null δ: drop test=, "
                "interaction=, refit_delta= and checkpoint=, or use method='exact'."
            )
        inputs = validate(G, y, X, None, None, None, variants, block_size)
        return _scan_cg(inputs, K, deltas)
    inputs = validate(G, y, X, QS, K, interaction, variants, block_size)
    deltas = _deltas(deltas, inputs.Y.shape[1])
    if checkpoint is not None:
        options = {"restricted": restricted, "test": test, "refit_delta": refit_delta}
        blocks = _run_checkpointed(inputs, checkpoint, restart, options, deltas)
        return _table(blocks, inputs)
    state = fit_nulls(
        inputs.Y,
        inputs.X,
        inputs.Q0,
        inputs.S0,
        restricted=restricted,
        environments=inputs.environments,
        test=test,
        refit_delta=refit_delta,
        deltas=deltas,
    )
    if inputs.G.shape[1] == 0:
        E = inputs.environments
        blocks = [empty_result(inputs.Y.shape[1], None if E is None else E.shape[1])]
    elif is_dask_array(inputs.G):
        blocks = _run_dask(state, inputs.G, inputs.block_size)
    else:
        blocks = _run_local(state, inputs.G, inputs.block_size, verbose)
    return _table(blocks, inputs)


@dataclasses.dataclass(frozen=True)
class PreparedScan:
    r"""A fitted, validated null state that scans blocks of variants (:func:`prepare_scan`).

    ``Q0`` is a view of the first columns of the state's rotation basis
    :math:`[Q_0, \dots]`, so a caller that keeps it in place of its own eigenvectors holds
    one n×k matrix instead of two.
    """

    state: ScanState
    inputs: Inputs

    @property
    def Q0(self) -> np.ndarray | None:
        """The eigenvectors of the kinship, a view of the state's basis (None for a state
        prepared by :func:`prepare_whitened_scan`)."""
        basis = self.state.null.basis
        return None if basis is None else basis[:, : self.inputs.S0.shape[0]]

    def table(self, G: np.ndarray, *, overwrite: bool = False) -> pd.DataFrame:
        """:func:`scan`'s table for the dosages ``G`` (n, m) of one block, in memory; its
        ``variant`` column numbers the block's columns from 0. With ``overwrite``, missing
        dosages are imputed in ``G`` itself (no copy of the block)."""
        G = np.asarray(G, dtype=np.float64)
        n = self.inputs.Y.shape[0]
        if G.ndim != 2 or G.shape[0] != n:
            raise InputError(f"G must have {n} rows (samples) and one column per variant; "
                             f"got shape {G.shape}.")
        inputs = dataclasses.replace(self.inputs, G=G, variants=np.arange(G.shape[1]))
        if G.shape[1] == 0:
            E = inputs.environments
            blocks = [empty_result(inputs.Y.shape[1], None if E is None else E.shape[1])]
        else:
            blocks = [scan_genotypes(self.state, G, overwrite=overwrite)]
        return _table(blocks, inputs)


def prepare_scan(
    y: Any,
    X: Any,
    QS: Any,
    *,
    interaction: Any | None = None,
    restricted: bool = False,
    test: str = "lrt",
    refit_delta: bool = False,
    deltas: Any | None = None,
) -> PreparedScan:
    """Validate and fit the null model of :func:`scan` once, for scanning many blocks.

    The arguments are :func:`scan`'s (the exact method; ``QS`` required); the null δ are
    fitted unless ``deltas`` gives them. ``prepare_scan(...).table(G)`` is then
    ``scan(G, ...)`` for one in-memory block, without validating or fitting again.
    """
    check_test(test, refit_delta, restricted, interaction is not None)
    if QS is None:
        raise InputError("prepare_scan needs QS, the eigendecomposition of the kinship.")
    n = np.shape(y)[0] if np.ndim(y) else 0
    inputs = validate(np.empty((n, 0)), y, X, QS, None, interaction, None, None)
    # One memory layout whatever the caller's (a copy only for a C-ordered Q0), so that a
    # state rebuilt from stored eigenvectors is the original one bit for bit.
    state = fit_nulls(
        inputs.Y,
        inputs.X,
        np.asfortranarray(inputs.Q0),
        inputs.S0,
        restricted=restricted,
        environments=inputs.environments,
        test=test,
        refit_delta=refit_delta,
        deltas=_deltas(deltas, inputs.Y.shape[1]),
    )
    return PreparedScan(state, dataclasses.replace(inputs, Q0=None))


def prepare_whitened_scan(
    y: Any,
    X: Any,
    factor: np.ndarray,
    logdet: float,
    delta: float,
    *,
    interaction: Any | None = None,
    test: str = "lrt",
) -> PreparedScan:
    r""":func:`prepare_scan` of one trait at its fitted null δ, given the upper Cholesky
    factor :math:`U` of :math:`(1-\delta)K + \delta I` and its log-determinant
    (:func:`kinmix.tridiagonal.cholesky_whitener`) instead of the eigendecomposition of K.

    Its tables equal those of ``prepare_scan(y, X, QS, deltas=[delta], ...)`` up to
    rounding; no eigenvector is needed (refit_delta's exact tests do need them).
    """
    check_test(test, False, False, interaction is not None)
    n = np.shape(y)[0] if np.ndim(y) else 0
    inputs = validate(np.empty((n, 0)), y, X, None, None, interaction, None, None)
    if inputs.Y.shape[1] != 1:
        raise InputError("prepare_whitened_scan scans one trait: y must have one column.")
    if factor.shape != (n, n):
        raise InputError(f"factor must be {n}×{n} (one row per sample); got {factor.shape}.")
    state = whitened_state(inputs.Y[:, 0], inputs.X, factor, logdet, delta,
                           environments=inputs.environments, test=test)
    return PreparedScan(state, dataclasses.replace(inputs, Q0=None))


def choose_method(method: str, K: Any, QS: Any) -> tuple[str, Any]:
    """``("cg", operator)`` or ``("exact", K)`` for :func:`scan`'s ``method`` (see there);
    a GenotypeGRM K that goes the exact way comes back as its dense matrix."""
    from ..constants import AUTO_CG_SAMPLES
    from ..matfree import GenotypeGRM

    if method not in ("auto", "exact", "cg"):
        raise InputError(f"method must be 'auto', 'exact' or 'cg'; got {method!r}.")
    operator = isinstance(K, GenotypeGRM)
    if method == "cg" and not operator:
        raise InputError(
            "method='cg' needs the kinship as an operator on the genotypes: pass "
            "K=kinmix.matfree.GenotypeGRM.from_genotypes(genotypes, chromosomes) instead "
            "of a matrix or QS."
        )
    if not operator:
        return "exact", K
    if method == "cg" or (method == "auto" and K.n >= AUTO_CG_SAMPLES):
        if QS is not None:
            raise InputError("give either QS or K, not both (QS is the eigendecomposition of K).")
        return "cg", K
    return "exact", K.dense()


def _scan_cg(inputs: Inputs, op: Any, deltas: Any) -> pd.DataFrame:
    from ..matfree.arrays_scan import operator_scan

    delta = None
    if deltas is not None:
        delta = float(np.ravel(_deltas(deltas, 1))[0])
    return operator_scan(op, inputs.G, inputs.Y[:, 0], inputs.X, inputs.variants, delta=delta)


def _manifest(inputs: Inputs, options: dict, deltas: np.ndarray | None) -> dict:
    """What a checkpointed run depends on: fingerprints of its inputs and its options.

    G and Q0 are sampled (:func:`fingerprint_array`), so that the cost stays bounded; a
    different kinship also changes its eigenvalues S0, which are hashed whole."""
    from .._version import __version__

    return {
        "kinmix": __version__,
        "function": "kinmix.scan",
        "inputs": {
            "G": fingerprint_array(inputs.G, sampled=True),
            "y": fingerprint_array(inputs.Y),
            "X": fingerprint_array(inputs.X),
            "Q0": fingerprint_array(inputs.Q0, sampled=True),
            "S0": fingerprint_array(inputs.S0),
            "interaction": fingerprint_array(inputs.environments),
            "variants": fingerprint_array(np.asarray(inputs.variants).astype(str)),
        },
        "options": {
            "block_size": inputs.block_size,
            **options,
            "deltas": None if deltas is None else deltas.tolist(),
        },
    }


def _run_checkpointed(
    inputs: Inputs,
    folder: str | os.PathLike,
    restart: bool,
    options: dict,
    deltas: np.ndarray | None,
) -> list[BlockResult]:
    """The blocks of a scan whose steps are kept in ``folder`` (see ``checkpoint``)."""
    from ..checkpoint import CheckpointStore

    manifest = _manifest(inputs, options, deltas)
    run = ResumableRun(CheckpointStore.open(folder, manifest=manifest, restart=restart))
    arguments = (inputs.Y, inputs.X, inputs.Q0, inputs.S0)
    options = {**options, "environments": inputs.environments}
    if deltas is not None or run.has("null"):
        if deltas is None:
            deltas = run.load_arrays("null", "null")["deltas"]
        state = fit_nulls(*arguments, **options, deltas=deltas)
    else:
        state = fit_nulls(*arguments, **options)
        run.save_arrays("null", "null", {"deltas": state.deltas})
    m = inputs.G.shape[1]
    if m == 0:
        E = inputs.environments
        return [empty_result(inputs.Y.shape[1], None if E is None else E.shape[1])]
    size = inputs.block_size or m
    blocks = []
    for start in range(0, m, size):
        key = f"block-{start:012d}"
        if run.has(key):
            arrays = run.load_arrays(key, "block")
        else:
            block = np.asarray(inputs.G[:, start : start + size])
            arrays = _arrays(scan_genotypes(state, block))
            run.save_arrays(key, "block", arrays)
        blocks.append(_block_result(arrays))
    run.flush()
    return blocks


def _arrays(result: BlockResult) -> dict[str, np.ndarray]:
    """A block's results packed into four arrays (``extra`` columns as ``extra:<name>``,
    in order): ``names``, ``dtypes``, ``shapes`` (padded with -1) and ``values``, every
    array's entries in float64, one after another — exact for the block's float64, int64
    counts and int8 codes, and one ``.npz`` member instead of one per field (each costs
    ``numpy.savez`` about a quarter of a millisecond)."""
    named = {}
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if field.name == "extra":
            for name, column in (value or {}).items():
                named[f"extra:{name}"] = np.asarray(column)
        elif value is not None:
            named[field.name] = np.asarray(value)
    shapes = np.full((len(named), 3), -1, dtype=np.int64)
    for row, value in enumerate(named.values()):
        shapes[row, : value.ndim] = value.shape
    return {
        "names": np.array(list(named)),
        "dtypes": np.array([value.dtype.str for value in named.values()]),
        "shapes": shapes,
        "values": np.concatenate([value.ravel().astype(np.float64) for value in named.values()]),
    }


def _block_result(arrays: dict[str, np.ndarray]) -> BlockResult:
    """The :class:`BlockResult` packed by :func:`_arrays`."""
    unpacked, start = {}, 0
    for name, dtype, shape in zip(arrays["names"], arrays["dtypes"], arrays["shapes"],
                                  strict=True):
        shape = tuple(int(size) for size in shape if size >= 0)
        size = int(np.prod(shape, dtype=np.int64))
        unpacked[str(name)] = arrays["values"][start : start + size].astype(str(dtype))
        unpacked[str(name)] = unpacked[str(name)].reshape(shape)
        start += size
    names = {f.name for f in dataclasses.fields(BlockResult)}
    values = {name: unpacked.get(name) for name in names - {"extra"}}
    extra = {key[6:]: value for key, value in unpacked.items() if key.startswith("extra:")}
    return BlockResult(**values, extra=extra or None)


def _deltas(deltas: Any | None, ntraits: int) -> np.ndarray | None:
    if deltas is None:
        return None
    values = np.asarray(deltas, dtype=np.float64).reshape(-1)
    if values.shape[0] != ntraits or not np.all((values > 0) & (values <= 1)):
        raise InputError(
            f"deltas must hold one null δ in (0, 1] per trait ({ntraits}); got {deltas!r}."
        )
    return values


def _run_local(state: ScanState, G: Any, block_size: int, verbose: bool) -> list[BlockResult]:
    starts = range(0, G.shape[1], block_size)
    return [
        scan_genotypes(state, G[:, start : start + block_size])
        for start in progress(starts, verbose and len(starts) > 1, "scan")
    ]


def _run_dask(state: ScanState, G: Any, block_size: int | None) -> list[BlockResult]:
    """One task per block of columns; the state (with :math:`Q_0`) is shipped once."""
    G = G.rechunk({0: -1} if block_size is None else {0: -1, 1: block_size})
    return run_tasks(scan_genotypes, state, G.to_delayed().ravel())


def _table(blocks: list[BlockResult], inputs: Inputs) -> pd.DataFrame:
    """Assemble the results, variant-major, one row per (variant, trait)."""

    def per_variant(field: str) -> np.ndarray:
        return np.concatenate([getattr(b, field) for b in blocks])

    def per_trait(field: str, j: int | None = None) -> np.ndarray:
        parts = [getattr(b, field) for b in blocks]
        if j is not None:
            parts = [part[..., j] for part in parts]
        return np.concatenate(parts, axis=1).T.ravel()

    P = inputs.Y.shape[1]
    reason = per_variant("reason")
    words = np.array([None, *(REASONS[code] for code in sorted(REASONS))], dtype=object)
    columns: dict[str, Any] = {"variant": np.repeat(inputs.variants, P)}
    if inputs.traits is not None:
        columns["trait"] = np.tile(np.asarray(inputs.traits, dtype=object), reason.shape[0])
    columns["n"] = np.repeat(per_variant("nobs"), P)
    columns["af"] = np.repeat(per_variant("af"), P)
    columns["beta"] = per_trait("beta")
    columns["se"] = per_trait("se")
    for j, name in enumerate(inputs.environment_names):
        columns[f"beta_gxe_{name}"] = per_trait("beta_gxe", j)
        columns[f"se_gxe_{name}"] = per_trait("se_gxe", j)
    for field in ("chi2", "pvalue", "lml", "scale"):
        if getattr(blocks[0], field) is not None:
            columns[field] = per_trait(field)
    for name in blocks[0].extra or {}:
        columns[name] = np.concatenate([b.extra[name] for b in blocks], axis=1).T.ravel()
    columns["reason"] = pd.Series(np.repeat(words[reason], P), dtype=object)
    return pd.DataFrame(columns)
