r"""Which test a scan reports: fixed-δ LRT, Wald, F or score, or GEMMA's exact tests.

The fixed-δ block (:func:`kinmix.scan._block.scan_genotypes`) yields Hail's likelihood-ratio
statistic :math:`n\log(R_0/R_1)`; the Wald, F and score statistics at the same δ are
functions of it (:func:`kinmix.lmm._exact.fixed_delta_statistics`). With ``refit_delta``
the Wald/F statistics use each variant's REML δ and the LRT each variant's ML δ
(:func:`kinmix.lmm._exact.fit_delta`), from the rotation the block already made.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import InputError
from ..kernel import association as _scan
from ..kernel import exact as _exact

#: The ``test`` values of :func:`kinmix.scan`.
TESTS = ("lrt", "wald", "f", "score", "all")
#: The tests reported side by side with ``test="all"``.
ALL = ("lrt", "wald", "f", "score")


@dataclass(frozen=True)
class TestPlan:
    """The test of a scan; with ``refit_delta``, one :class:`ExactNull` and null δ per trait."""

    test: str
    refit_delta: bool
    n: int
    c: int
    exact: tuple[_exact.ExactNull, ...] = ()
    null_delta: np.ndarray | None = None


def check_test(test: str, refit_delta: bool, restricted: bool, interaction: bool) -> None:
    """Validate the test options of :func:`kinmix.scan` (messages name the argument)."""
    if test not in TESTS:
        raise InputError(f"test must be one of {', '.join(map(repr, TESTS))}; got {test!r}.")
    if interaction and (test != "lrt" or refit_delta):
        raise InputError(
            "interaction scans report the likelihood-ratio test with δ fixed: use "
            "test='lrt' and refit_delta=False with interaction."
        )
    if refit_delta and restricted:
        raise InputError(
            "refit_delta=True compares each variant's ML fit with the ML null (GEMMA's "
            "definitions): leave restricted=False."
        )


def apply(plan: TestPlan, base, rotated: _scan.RotatedBlock, GG: np.ndarray):
    """The block's result for ``plan``, from the fixed-δ result ``base`` and its rotation."""
    n, c = plan.n, plan.c
    fixed = _exact.fixed_delta_statistics(base.chi2, n, c)
    fixed["lrt"] = base.chi2
    se_f = base.se * np.sqrt(n / (n - c - 1))
    if not plan.refit_delta:
        if plan.test == "lrt":
            return base
        columns = {}
        for name in ALL if plan.test == "all" else (plan.test,):
            columns[f"chi2_{name}"] = fixed[name]
            columns[f"pvalue_{name}"] = _exact.pvalues(fixed[name], name, n, c)
        if plan.test == "all":
            return replace(base, chi2=None, pvalue=None, extra=columns)
        se = se_f if plan.test == "f" else base.se
        name = plan.test
        return replace(base, se=se, chi2=columns[f"chi2_{name}"], pvalue=columns[f"pvalue_{name}"])
    return _refit(plan, base, rotated, GG, fixed)


def _refit(plan: TestPlan, base, rotated: _scan.RotatedBlock, GG: np.ndarray, fixed: dict):
    n, c, test = plan.n, plan.c, plan.test
    P, m = base.beta.shape
    usable = base.reason == 0
    want_reml = test in ("wald", "f", "all")
    want_ml = test in ("lrt", "all")
    restricted = (True,) * want_reml + (False,) * want_ml
    fields: dict[str, list] = {}

    def put(name: str, value: np.ndarray) -> None:
        fields.setdefault(name, []).append(value)

    for p, null in enumerate(plan.exact):
        if not restricted:
            break
        BG = np.concatenate([rotated.BM[:c, :, 0], rotated.BM[c + p, :, 0][None]], axis=0)
        cand = _exact.Candidates(rotated.QM[:, :, 0], BG, GG, usable)
        fits = dict(
            zip(restricted, _exact.fit_delta(null, cand, restricted=restricted), strict=False)
        )
        if want_reml:
            for key, value in vars(fits[True]).items():
                put(f"reml_{key}", value)
        if want_ml:
            for key, value in vars(fits[False]).items():
                put(f"ml_{key}", value)
            put("lrt", np.maximum(2.0 * (fits[False].lml - null.null_lml), 0.0))
    got = {name: np.stack(values) for name, values in fields.items()}
    null_delta = np.broadcast_to(plan.null_delta[:, None], (P, m)) * np.where(usable, 1.0, np.nan)
    if test == "score":
        stat = fixed["score"]
        return replace(
            base,
            chi2=stat,
            pvalue=_exact.pvalues(stat, "score", n, c),
            extra={"delta": null_delta, "h2": 1.0 - null_delta},
        )
    if test in ("wald", "f"):
        stat = got["reml_wald"]
        return replace(
            base,
            beta=got["reml_beta"],
            se=got["reml_se"],
            chi2=stat,
            pvalue=_exact.pvalues(stat, test, n, c),
            lml=got["reml_lml"],
            scale=got["reml_scale"],
            extra=_delta_columns(got, "reml", ""),
        )
    if test == "lrt":
        return replace(
            base,
            beta=got["ml_beta"],
            se=got["ml_se"],
            chi2=got["lrt"],
            pvalue=_exact.pvalues(got["lrt"], "lrt", n, c),
            lml=got["ml_lml"],
            scale=got["ml_scale"],
            extra=_delta_columns(got, "ml", ""),
        )
    stats = {
        "lrt": got["lrt"],
        "wald": got["reml_wald"],
        "f": got["reml_wald"],
        "score": fixed["score"],
    }
    extra = {**_delta_columns(got, "reml", "_reml"), **_delta_columns(got, "ml", "_ml")}
    for name in ALL:
        extra[f"chi2_{name}"] = stats[name]
        extra[f"pvalue_{name}"] = _exact.pvalues(stats[name], name, n, c)
    return replace(
        base,
        beta=got["reml_beta"],
        se=got["reml_se"],
        chi2=None,
        pvalue=None,
        lml=got["ml_lml"],
        scale=got["reml_scale"],
        extra=extra,
    )


def _delta_columns(got: dict, fit: str, suffix: str) -> dict[str, np.ndarray]:
    delta = got[f"{fit}_delta"]
    return {
        f"delta{suffix}": delta,
        f"h2{suffix}": 1.0 - delta,
        f"converged{suffix}": got[f"{fit}_converged"],
    }
