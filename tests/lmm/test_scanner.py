"""FastScanner: glimix-core references, equivalence with full LMM fits, degenerate input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinmix import InputError, economic_qs, economic_qs_linear
from kinmix.kernel import association as _scan
from kinmix.linalg import rotate
from kinmix.lmm import LMM, FastScanner

from ..conftest import assert_rel


def _ref_scanner(ref_inputs, glimix_ref, rank):
    """Scanner at exactly glimix-core's null parameters (so differences are the scan's)."""
    QS = (
        economic_qs(ref_inputs["lmm_K"])
        if rank == "full"
        else economic_qs_linear(ref_inputs["lmm_Zlow"])
    )
    ref = glimix_ref[f"lmm_{rank}_ml"]
    lmm = LMM(ref_inputs["lmm_y"], ref_inputs["lmm_X"], QS)
    lmm.fix("delta")
    lmm.fix("scale")
    lmm.delta, lmm.scale = ref["delta"], ref["scale"]
    lmm.fit(verbose=False)
    return lmm.get_fast_scanner()


@pytest.mark.parametrize("rank", ["full", "low"])
def test_fast_scanner__null_matches_glimix_core(ref_inputs, glimix_ref, rank):
    scanner = _ref_scanner(ref_inputs, glimix_ref, rank)
    assert_rel(scanner.null_lml(), glimix_ref[f"scan_{rank}_null_lml"], 1e-12)
    assert_rel(scanner.null_scale, glimix_ref[f"scan_{rank}_null_scale"], 1e-10)
    assert_rel(scanner.null_beta, glimix_ref[f"scan_{rank}_null_beta"], 1e-10)
    assert_rel(scanner.null_beta_se, glimix_ref[f"scan_{rank}_null_beta_se"], 1e-10)


@pytest.mark.parametrize("rank", ["full", "low"])
def test_fast_scanner__fast_scan_matches_glimix_core(ref_inputs, glimix_ref, rank):
    out = _ref_scanner(ref_inputs, glimix_ref, rank).fast_scan(ref_inputs["lmm_G"], verbose=False)
    for key in ("lml", "effsizes0", "effsizes1", "scale"):
        assert_rel(out[key], ref_inputs[f"scan_{rank}_{key}"], 1e-8)
    # glimix-core 3.1.14 leaves the scale factor out of both standard errors when X has more
    # than one column (its per-candidate loop for that case; its single-covariate path and
    # its set scan include it). kinmix applies sqrt(scale) uniformly.
    root_scale = np.sqrt(ref_inputs[f"scan_{rank}_scale"])
    assert_rel(
        out["effsizes0_se"], ref_inputs[f"scan_{rank}_effsizes0_se"] * root_scale[:, None], 1e-8
    )
    assert_rel(out["effsizes1_se"], ref_inputs[f"scan_{rank}_effsizes1_se"] * root_scale, 1e-8)


@pytest.mark.parametrize("rank", ["full", "low"])
def test_fast_scanner__set_scan_matches_glimix_core(ref_inputs, glimix_ref, rank):
    out = _ref_scanner(ref_inputs, glimix_ref, rank).scan(ref_inputs["lmm_G"][:, [3, 7, 11]])
    for key, expected in glimix_ref[f"set_{rank}"].items():
        assert_rel(out[key], expected, 1e-8)


@pytest.mark.parametrize("rank", ["full", "low"])
def test_fast_scanner__from_fit_matches_glimix_core_to_1e_6(ref_inputs, glimix_ref, rank):
    QS = (
        economic_qs(ref_inputs["lmm_K"])
        if rank == "full"
        else economic_qs_linear(ref_inputs["lmm_Zlow"])
    )
    lmm = LMM(ref_inputs["lmm_y"], ref_inputs["lmm_X"], QS)
    lmm.fit(verbose=False)
    out = lmm.get_fast_scanner().fast_scan(ref_inputs["lmm_G"], verbose=False)
    for key in ("lml", "effsizes0", "effsizes1", "scale"):
        # Each fit locates δ on its own (glimix-core stops ~4e-8 from the optimum), so
        # effects near zero differ by ~2e-9 in absolute terms.
        assert_rel(out[key], ref_inputs[f"scan_{rank}_{key}"], 1e-6, atol=1e-8)


def _problem(n, r, seed):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, r)) / np.sqrt(r)
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    y = X @ [0.3, -0.2] + G @ rng.standard_normal(r) + rng.standard_normal(n)
    M = rng.binomial(2, 0.3, size=(n, 6)).astype(float)
    return y, X, G, M


def _condition(QS, delta):
    """Condition number of (1-δ)K + δI for K = Q₀S₀Q₀ᵀ (δ alone on the complement)."""
    S0 = QS[1]
    diagonal = (1 - delta) * S0 + delta
    if QS[0][0].shape[1] < QS[0][0].shape[0]:
        diagonal = np.append(diagonal, delta)
    return float(diagonal.max() / diagonal.min())


def _assert_effect(actual, expected, se, rtol):
    """β agrees to ``rtol`` relative to itself or to its standard error."""
    actual, expected, se = (np.asarray(v, float) for v in (actual, expected, se))
    gap = np.abs(actual - expected)
    assert np.all(gap <= rtol * (np.abs(expected) + se)), (actual, expected, se)


@pytest.mark.parametrize(("seed", "low_rank"), [(397, False), (1158, False)])
def test_fast_scanner__near_zero_effects_agree_within_their_se(seed, low_rank):
    """Draws that failed an absolute 1e-10 on β and, at δ on its bound, 1e-7 on the SE."""
    test_fast_scanner__each_column_equals_lmm_fit_with_delta_fixed.hypothesis.inner_test(
        seed, low_rank
    )


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), low_rank=st.booleans())
def test_fast_scanner__each_column_equals_lmm_fit_with_delta_fixed(seed, low_rank):
    y, X, G, M = _problem(30, 8 if low_rank else 30, seed)
    QS = economic_qs_linear(G)
    null = LMM(y, X, QS)
    null.fit(verbose=False)
    out = null.get_fast_scanner().fast_scan(M, verbose=False)
    for j in range(M.shape[1]):
        alt = LMM(y, np.column_stack([X, M[:, j]]), QS)
        alt.delta = null.delta
        alt.fix("delta")
        alt.fit(verbose=False)
        # Both sides solve with V = s((1-δ)K + δI); at δ on its lower bound V's condition
        # number κ reaches 1e8 and both lose about κε of relative precision.
        lost = 100 * np.finfo(float).eps * _condition(QS, null.delta)
        assert_rel(out["lml"][j], alt.lml(), max(1e-8, lost))
        assert_rel(out["scale"][j] * null.scale, alt.scale, max(1e-8, lost))
        se = np.sqrt(np.diag(alt.beta_covariance))
        # An effect is known to its standard error: a near-zero β gets no relative
        # guarantee, so the absolute slack is a share of the effect's SE.
        rtol = max(1e-7, lost)
        _assert_effect(out["effsizes1"][j], alt.beta[-1], se[-1], rtol)
        _assert_effect(out["effsizes0"][j], alt.beta[:-1], se[:-1], rtol)
        assert_rel(out["effsizes1_se"][j], se[-1], rtol)
        assert_rel(out["effsizes0_se"][j], se[:-1], rtol)


def test_fast_scanner__public_constructor_equals_lmm_scanner():
    y, X, G, M = _problem(25, 6, 1)
    lmm = LMM(y, X, economic_qs_linear(G))
    lmm.fit(verbose=False)
    (Q0, _), S0 = economic_qs_linear(G)
    direct = FastScanner(y, X, ((Q0, None), lmm.v0 * S0), lmm.v1).fast_scan(M, verbose=False)
    via_lmm = lmm.get_fast_scanner().fast_scan(M, verbose=False)
    for key, value in via_lmm.items():
        assert_rel(direct[key], value, 1e-12)


def test_fast_scanner__constant_and_collinear_candidates_get_nan():
    y, X, G, M = _problem(25, 6, 2)
    lmm = LMM(y, X, economic_qs_linear(G))
    lmm.fit(verbose=False)
    candidates = np.column_stack([np.full(25, 2.0), X[:, 1] * 3 - 1, np.zeros(25), M[:, 0]])
    out = lmm.get_fast_scanner().fast_scan(candidates, verbose=False)
    for key in ("lml", "effsizes1", "effsizes1_se", "scale"):
        assert np.isnan(out[key][:3]).all() and np.isfinite(out[key][3])
    assert np.isnan(out["effsizes0"][:3]).all()


def test_fast_scanner__empty_set_is_the_null():
    y, X, G, _ = _problem(20, 5, 3)
    lmm = LMM(y, X, economic_qs_linear(G))
    lmm.fit(verbose=False)
    scanner = lmm.get_fast_scanner()
    out = scanner.scan(np.empty((20, 0)))
    assert out["lml"] == scanner.null_lml() and out["effsizes1"].shape == (0,)


def test_fast_scanner__several_phenotypes_share_one_rotation():
    rng = np.random.default_rng(4)
    n, r = 40, 10
    G = rng.standard_normal((n, r)) / np.sqrt(r)
    X = np.ones((n, 1))
    Y = G @ rng.standard_normal((r, 3)) + rng.standard_normal((n, 3))
    M = rng.standard_normal((n, 7))
    (Q0, _), S0 = economic_qs_linear(G)
    designs, diagonals, singles = [], [], []
    for p in range(3):
        lmm = LMM(Y[:, p], X, ((Q0, None), S0))
        lmm.fit(verbose=False)
        designs.append(rotate(Q0, S0, Y[:, p], X))
        diagonals.append((lmm.v0 * S0 + lmm.v1, lmm.v1))
        singles.append(lmm.get_fast_scanner().fast_scan(M, verbose=False))
    block = _scan.scan_block(_scan.build_null(designs, diagonals, X, Y, Q0), M)
    for p in range(3):
        assert_rel(block.lml[p], singles[p]["lml"], 1e-12)
        assert_rel(block.effsizes1[p, :, 0], singles[p]["effsizes1"], 1e-10)
        assert_rel(block.scale[p], singles[p]["scale"], 1e-12)


def test_fast_scanner__rejects_bad_input():
    y, X, G, M = _problem(20, 5, 5)
    QS = economic_qs_linear(G)
    with pytest.raises(InputError, match=r"v must be a finite number in \[0, inf\]"):
        FastScanner(y, X, QS, -1.0)
    with pytest.raises(InputError, match="v is 0 but K is rank-deficient"):
        FastScanner(y, X, QS, 0.0)
    scanner = FastScanner(y, X, QS, 0.5)
    with pytest.raises(InputError, match="M has 19 rows but 20 were expected"):
        scanner.fast_scan(M[:19], verbose=False)
    with pytest.raises(InputError, match="M contains 1 non-finite"):
        scanner.scan(np.where(np.arange(120).reshape(20, 6) == 7, np.nan, M))


def test_chi2_sf__closed_forms_equal_scipy():
    from scipy.stats import chi2

    stat = np.concatenate([[0.0, 1e-12], np.logspace(-6, 3.1, 200)])
    for dof in (1, 2, 3, 5):
        assert_rel(_scan.chi2_sf(stat, dof), chi2.sf(stat, dof), 1e-12, atol=1e-300)


def test_fast_scanner__zero_candidates():
    y, X, G, _ = _problem(20, 5, 6)
    lmm = LMM(y, X, economic_qs_linear(G))
    lmm.fit(verbose=False)
    out = lmm.get_fast_scanner().fast_scan(np.empty((20, 0)), verbose=False)
    assert out["lml"].shape == (0,) and out["effsizes0"].shape == (0, 2)


def test_fast_scanner__too_few_samples_for_the_candidates():
    rng = np.random.default_rng(5)
    n = 4
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    QS = economic_qs(np.eye(n) + 0.5)
    scanner = FastScanner(rng.standard_normal(n), X, QS, 0.5)
    with pytest.raises(
        InputError,
        match=r"y has 4 samples but X has 2 covariates and M has 2 column\(s\): at least 5 "
        "samples are needed for the joint test",
    ):
        scanner.scan(rng.standard_normal((n, 2)))
    scanner = FastScanner(rng.standard_normal(3), X[:3], economic_qs(np.eye(3) + 0.5), 0.5)
    with pytest.raises(InputError, match="at least 4 samples are needed to test a column of M"):
        scanner.fast_scan(rng.standard_normal((3, 2)), verbose=False)
