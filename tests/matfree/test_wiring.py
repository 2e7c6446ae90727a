"""kinmix.scan(method=...) and kinmix.estimate_h2 with a GenotypeGRM kinship."""

from __future__ import annotations

import numpy as np
import pytest

import kinmix
from kinmix.matfree import AUTO_CG_SAMPLES, GenotypeGRM
from kinmix.matfree.arrays_scan import operator_scan
from kinmix.simulate import simulate_families

from ._exact import minus_log10


@pytest.fixture(scope="module")
def cohort():
    """500 people (60 families of 2 + 2, 260 unrelated), 600 variants on 3 chromosomes."""
    c = simulate_families(families=60, children=2, unrelated=260, variants=600,
                          chromosomes=3, h2=0.6, missing=0.01, seed=1)
    op = GenotypeGRM.from_genotypes(c.dosages, c.chromosomes)
    K = kinmix.grm(c.dosages)
    X = np.ones((len(c.trait), 1))
    lmm = kinmix.LMM(c.trait, X, kinmix.economic_qs(K), restricted=True)
    lmm.fit(verbose=False)
    exact = kinmix.scan(c.dosages, c.trait, K=K, restricted=True, method="exact")
    return c, op, K, float(lmm.delta), exact


def test_genotype_grm_dense__is_the_grm(cohort):
    _, op, K, _, _ = cohort
    np.testing.assert_allclose(op.dense(), K, rtol=0, atol=1e-12)


def test_scan_cg__refined_statistics_are_the_exact_ones(cohort):
    c, op, _, delta, exact = cohort
    table = operator_scan(op, c.dosages, c.trait, np.ones((op.n, 1)), np.arange(op.m),
                          delta=delta, refine_pvalue=1.0, max_refine=None)
    tested = exact["reason"].isna().to_numpy()
    assert (table["denominator"][tested] == "exact").all()
    assert table["reason"].fillna("").tolist() == exact["reason"].fillna("").tolist()
    assert np.nanmax(np.abs(table["chi2"] - exact["chi2"])) <= 1e-5
    assert np.nanmax(np.abs(minus_log10(table["pvalue"]) - minus_log10(exact["pvalue"]))) <= 1e-4
    for column, rtol in (("beta", 1e-7), ("se", 1e-7), ("af", 1e-12)):
        np.testing.assert_allclose(table[column][tested], exact[column][tested], rtol=rtol,
                                   atol=1e-9)


def test_scan_cg__calibrated_at_the_exact_delta(cohort):
    c, op, _, delta, exact = cohort
    table = kinmix.scan(c.dosages, c.trait, K=op, method="cg", deltas=[delta])
    assert "lml" not in table.columns
    assert table.attrs["matfree"]["delta"] == delta
    calibrated = (table["denominator"] == "calibrated").to_numpy()
    # n = 500: a calibration scatter of 2.3 %, so the variants from χ² ≈ 5 up are refined
    assert 0.02 <= table.attrs["matfree"]["scatter"] <= 0.03
    assert calibrated.sum() >= 0.9 * exact["reason"].isna().sum()
    strong = exact["chi2"].to_numpy() > 10
    ratio = table["chi2"].to_numpy()[strong] / exact["chi2"].to_numpy()[strong]
    assert strong.sum() >= 2 and 0.96 <= ratio.min() and ratio.max() <= 1.04
    dlogp = np.abs(minus_log10(table["pvalue"]) - minus_log10(exact["pvalue"]))
    assert np.nanmax(dlogp) <= 0.1


def test_scan_cg__monte_carlo_reml_delta_end_to_end(cohort):
    c, op, K, _, exact = cohort
    fit = kinmix.estimate_h2(c.trait, np.ones((op.n, 1)), K)
    table = kinmix.scan(c.dosages, c.trait, K=op, method="cg")
    assert abs(1 - table.attrs["matfree"]["delta"] - fit.h2) <= 0.5 * fit.h2_se
    dlogp = np.abs(minus_log10(table["pvalue"]) - minus_log10(exact["pvalue"]))
    assert np.nanmax(dlogp) <= 0.25


def test_scan_auto__below_the_threshold_is_the_exact_scan(cohort):
    c, op, _, _, exact = cohort
    assert op.n < AUTO_CG_SAMPLES
    table = kinmix.scan(c.dosages, c.trait, K=op, restricted=True)
    np.testing.assert_allclose(table["chi2"], exact["chi2"], rtol=1e-9)
    np.testing.assert_allclose(table["lml"], exact["lml"], rtol=1e-11)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "eigh"}, "method must be 'auto', 'exact' or 'cg'"),
        ({"method": "cg", "K": "dense"}, "method='cg' needs the kinship as an operator"),
        ({"method": "cg", "test": "wald"}, "likelihood-ratio test at the null"),
        ({"method": "cg", "y": "two traits"}, "scans one trait"),
        ({"method": "cg", "QS": "qs"}, "either QS or K"),
    ],
)
def test_scan_method__rejects(cohort, kwargs, match):
    c, op, K, _, _ = cohort
    args = {"K": op}
    args.update(kwargs)
    if args["K"] == "dense":
        args["K"] = K
    y = np.column_stack([c.trait, c.trait]) if args.pop("y", None) else c.trait
    if args.get("QS") == "qs":
        args["QS"] = kinmix.economic_qs(K)
    with pytest.raises(kinmix.InputError, match=match):
        kinmix.scan(c.dosages[:, :20], y, **args)


def test_estimate_h2__operator_within_half_a_standard_error_and_its_se(cohort):
    c, op, K, _, _ = cohort
    X = np.ones((op.n, 1))
    exact = kinmix.estimate_h2(c.trait, X, K)
    fit = kinmix.estimate_h2(c.trait, X, op)
    assert abs(fit.h2 - exact.h2) <= 0.5 * exact.h2_se
    assert abs(fit.h2_se / exact.h2_se - 1) <= 0.1
    assert abs(fit.delta - (1 - fit.h2)) < 1e-15 and np.isnan(fit.lml)
    assert fit.k == op.n and fit.n == op.n
    assert abs(fit.scale / exact.scale - 1) <= 0.05


def test_estimate_h2__operator_of_other_samples_is_refused(cohort):
    c, op, _, _, _ = cohort
    with pytest.raises(kinmix.InputError, match="GenotypeGRM K has 500 samples but y has 499"):
        kinmix.estimate_h2(c.trait[:-1], np.ones((op.n - 1, 1)), op)


def test_scan_cg__operator_of_other_samples_is_refused(cohort):
    c, op, _, _, _ = cohort
    with pytest.raises(kinmix.InputError, match="GenotypeGRM K has 500 samples but y has 499"):
        kinmix.scan(c.dosages[:-1, :20], c.trait[:-1], K=op, method="cg")
