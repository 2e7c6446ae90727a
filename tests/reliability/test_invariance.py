"""Invariance properties across the entry points (hypothesis, bounded and derandomized).

- permuting the samples changes nothing;
- X → XR (R invertible) leaves δ, the scale, the likelihood and the scan unchanged and maps
  β to R⁻¹β;
- y → a·(y + Xb) leaves δ and the scan's χ² unchanged, scales the scale by a² and shifts the
  ML log-likelihood by −n·log|a|;
- a duplicated covariate column is refused the same way by every entry point;
- the scan does not depend on its block size, nor on numpy / pandas / Dask containers.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinmix import FastScanner, GLMMExpFam, InputError, economic_qs, estimate_h2, scan

from ._data import case_params, fitted_lmm, h2_field, problem

SETTINGS = settings(
    max_examples=12,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
P = problem(n=24, seed=4)
n = P.n
STATS = ["beta", "se", "chi2", "pvalue", "lml", "scale"]


def _quiet_fit(y, X, QS):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fitted_lmm(y, X, QS)


REFERENCE = _quiet_fit(P.y, P.X, P.QS)
SCAN_REFERENCE = scan(P.G, P.y, P.X, P.QS)


@SETTINGS
@given(order=st.permutations(range(n)))
def test_sample_permutation_changes_nothing(order):
    order = np.asarray(order)
    K = P.K[np.ix_(order, order)]
    model = _quiet_fit(P.y[order], P.X[order], economic_qs(K))
    assert model.delta == pytest.approx(REFERENCE.delta, abs=1e-7)
    assert model.lml() == pytest.approx(REFERENCE.lml(), rel=1e-9)
    table = scan(P.G[order], P.y[order], P.X[order], K=K)
    np.testing.assert_allclose(table["chi2"], SCAN_REFERENCE["chi2"], rtol=1e-7, atol=1e-10)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), log_scale=st.floats(-6, 6))
def test_covariates_times_invertible_matrix(seed, log_scale):
    rng = np.random.default_rng(seed)
    R = rng.normal(size=(2, 2)) + 3 * np.eye(2)
    R[:, 1] *= 10.0**log_scale
    model = _quiet_fit(P.y, P.X @ R, P.QS)
    assert model.delta == pytest.approx(REFERENCE.delta, abs=1e-7)
    assert model.scale == pytest.approx(REFERENCE.scale, rel=1e-7)
    assert model.lml() == pytest.approx(REFERENCE.lml(), rel=1e-9)
    np.testing.assert_allclose(R @ model.beta, REFERENCE.beta, rtol=1e-6, atol=1e-9)
    table = scan(P.G, P.y, P.X @ R, P.QS)
    np.testing.assert_allclose(table["chi2"], SCAN_REFERENCE["chi2"], rtol=1e-6, atol=1e-10)


@SETTINGS
@given(
    a=st.floats(1e-6, 1e6) | st.floats(-1e6, -1e-6),
    b=st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=2),
)
def test_affine_map_of_y(a, b):
    y = a * (P.y + P.X @ np.asarray(b))  # b relative to y: a shift, not a cancellation
    model = _quiet_fit(y, P.X, P.QS)
    assert model.delta == pytest.approx(REFERENCE.delta, abs=1e-6)
    assert model.scale == pytest.approx(a**2 * REFERENCE.scale, rel=1e-6)
    assert model.lml() == pytest.approx(REFERENCE.lml() - n * np.log(abs(a)), rel=1e-8, abs=1e-7)
    table = scan(P.G, y, P.X, P.QS)
    np.testing.assert_allclose(table["chi2"], SCAN_REFERENCE["chi2"], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(
        table["beta"], a * SCAN_REFERENCE["beta"], rtol=1e-5, atol=1e-8 * abs(a)
    )


X_DUPLICATED = np.column_stack([P.X, P.X[:, 1]])
ENTRY_POINTS = [
    ("LMM", lambda: fitted_lmm(P.y, X_DUPLICATED, P.QS)),
    ("scan", lambda: scan(P.G, P.y, X_DUPLICATED, P.QS)),
    ("FastScanner", lambda: FastScanner(P.y, X_DUPLICATED, P.QS, 0.5)),
    ("GLMMExpFam", lambda: GLMMExpFam((P.y > 0) * 1.0, ("bernoulli",), X_DUPLICATED, P.QS)),
    pytest.param(
        "estimate_h2",
        lambda: estimate_h2(P.y, X_DUPLICATED, P.K),
    ),
]


@pytest.mark.parametrize("call", case_params(ENTRY_POINTS))
def test_duplicated_covariate_is_refused_consistently(call):
    with pytest.raises(InputError, match="X has 3 columns but rank 2"):
        call()


@SETTINGS
@given(block_size=st.integers(1, 8))
def test_scan_block_size_changes_nothing(block_size):
    table = scan(P.G, P.y, P.X, P.QS, block_size=block_size)
    pd.testing.assert_frame_equal(table, SCAN_REFERENCE, rtol=1e-12)


@pytest.mark.parametrize("chunks", [1, 4, 6])
def test_scan_dask_genotypes_give_the_numpy_answer(chunks):
    import dask.array as da

    table = scan(da.from_array(P.G, chunks=(n, chunks)), P.y, P.X, P.QS)
    pd.testing.assert_frame_equal(table, SCAN_REFERENCE, rtol=1e-12)


def test_scan_pandas_inputs_give_the_numpy_answer():
    frame = pd.DataFrame(P.G, columns=list(range(P.G.shape[1])))
    table = scan(frame, pd.Series(P.y), pd.DataFrame(P.X), P.QS)
    pd.testing.assert_frame_equal(table, SCAN_REFERENCE, rtol=1e-12, check_dtype=False)


def test_h2_permutation_and_containers():
    reference = estimate_h2(P.y, P.X, P.K)
    order = np.random.default_rng(5).permutation(n)
    permuted = estimate_h2(
        pd.Series(P.y[order]), pd.DataFrame(P.X[order]), P.K[np.ix_(order, order)]
    )
    for field in ("h2", "lml", "scale"):
        assert h2_field(permuted, field) == pytest.approx(h2_field(reference, field), rel=1e-7)
