"""KronFastScanner and joint_scan: glimix references, dense oracle, batching, calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2, multivariate_normal

from kinmix.errors import InputError
from kinmix.linalg import economic_qs
from kinmix.lmm import Kron2Sum, KronFastScanner, joint_scan

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"
KEYS = ("lml", "effsizes0", "effsizes0_se", "effsizes1", "effsizes1_se", "scale")


def _reference():
    data = np.load(REFERENCE / "glimix_seed11.npz")
    return data, json.loads((REFERENCE / "glimix_seed11.json").read_text())


def _assert_matches(result, expected, atol):
    for key in KEYS:
        np.testing.assert_allclose(result[key], expected[key], atol=atol, rtol=0, err_msg=key)


def test_kron_scanner__glimix_reference_at_glimix_parameters():
    data, ref = _reference()
    args = (data["kron_Y"], data["kron_A"], data["kron_X"], data["kron_G"])
    scanner = KronFastScanner(*args, ref["kron_ml"]["C0"], ref["kron_ml"]["C1"])
    assert scanner.null_lml() == pytest.approx(ref["kron_scan_null_lml"], abs=1e-9)
    np.testing.assert_allclose(scanner.null_beta.reshape(3, 2).T, ref["kron_ml"]["B"], atol=1e-10)
    Gscan = data["kron_Gscan"]
    for j, expected in enumerate(ref["kron_scan_any_effect"]):
        _assert_matches(scanner.scan(np.eye(3), Gscan[:, [j]]), expected, atol=1e-6)
    common = scanner.scan(np.ones((3, 1)), Gscan[:, [0]])
    _assert_matches(common, ref["kron_scan_common_effect"], atol=1e-6)


def test_kron_scanner__fitted_model_is_at_least_glimix_and_close():
    data, ref = _reference()
    model = Kron2Sum(data["kron_Y"], data["kron_A"], data["kron_X"], data["kron_G"], rank=1)
    model.fit()
    scanner = model.get_fast_scanner()
    # at the ML optimum the profiled scale is 1, so the scanner's null is the model's lml
    assert scanner.null_scale == pytest.approx(1.0, abs=1e-5)
    assert scanner.null_lml() == pytest.approx(model.lml(), abs=1e-7)
    assert scanner.null_lml() >= ref["kron_scan_null_lml"] - 1e-9
    for j, expected in enumerate(ref["kron_scan_any_effect"]):
        _assert_matches(scanner.scan(np.eye(3), data["kron_Gscan"][:, [j]]), expected, atol=1e-4)


def _small_problem(seed, n=12, p=3):
    rng = np.random.default_rng(seed)
    Y = rng.normal(size=(n, p))
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    G = rng.normal(size=(n, 5))
    L0 = rng.normal(size=(p, 2))
    L1 = np.tril(rng.normal(size=(p, p))) + 2 * np.eye(p)
    return rng, Y, X, G, L0 @ L0.T, L1 @ L1.T


@pytest.mark.parametrize("design", ["any", "common", "set"])
def test_kron_scanner__scan_matches_dense_oracle(design):
    rng, Y, X, G, C0, C1 = _small_problem(seed=4)
    n, p = Y.shape
    A = np.eye(p)
    A1 = {"any": np.eye(p), "common": np.ones((p, 1)), "set": rng.normal(size=(p, 2))}[design]
    X1 = rng.normal(size=(n, 2 if design == "set" else 1))
    scanner = KronFastScanner(Y, A, X, G, C0, C1)
    result = scanner.scan(A1, X1)
    K = np.kron(C0, G @ G.T) + np.kron(C1, np.eye(n))
    y = Y.reshape(-1, order="F")
    M = np.hstack([np.kron(A, X), np.kron(A1, X1)])
    Ki = np.linalg.inv(K)
    H = M.T @ Ki @ M
    beta = np.linalg.solve(H, M.T @ Ki @ y)
    r = y - M @ beta
    scale = r @ Ki @ r / y.size
    assert result["scale"] == pytest.approx(scale, rel=1e-10)
    assert result["lml"] == pytest.approx(
        multivariate_normal(M @ beta, scale * K).logpdf(y), rel=1e-11
    )
    c = 2 * p
    np.testing.assert_allclose(result["effsizes0"].T.ravel(), beta[:c], atol=1e-9)
    np.testing.assert_allclose(result["effsizes1"].T.ravel(), beta[c:], atol=1e-9)
    se = np.sqrt(scale * np.diag(np.linalg.inv(H)))
    np.testing.assert_allclose(result["effsizes1_se"].T.ravel(), se[c:], atol=1e-9)
    # an empty candidate design gives back the null
    null_fit = scanner.scan(np.eye(p), np.empty((n, 0)))
    assert null_fit["lml"] == pytest.approx(scanner.null_lml(), abs=1e-10)
    np.testing.assert_allclose(null_fit["effsizes0"].T.ravel(), scanner.null_beta, atol=1e-10)


@pytest.mark.parametrize("block_size", [1, 7, None])
def test_kron_scanner__fast_scan_equals_one_at_a_time(block_size):
    rng, Y, X, G, C0, C1 = _small_problem(seed=9, n=30)
    scanner = KronFastScanner(Y, np.eye(3), X, G, C0, C1)
    variants = rng.binomial(2, 0.3, size=(30, 15)).astype(float)
    variants[:, 4] = 1.0  # monomorphic: no information beyond the intercept
    for A1 in (np.eye(3), np.ones((3, 1))):
        batch = scanner.fast_scan(A1, variants, block_size=block_size)
        assert batch.dof == A1.shape[1]
        for j in range(variants.shape[1]):
            if j == 4:
                assert np.isnan(batch.lml[j]) and np.all(np.isnan(batch.effsizes1[j]))
                continue
            one = scanner.scan(A1, variants[:, [j]])
            assert batch.lml[j] == pytest.approx(one["lml"], abs=1e-9)
            np.testing.assert_allclose(batch.effsizes1[j], one["effsizes1"][0], atol=1e-9)
            np.testing.assert_allclose(batch.effsizes1_se[j], one["effsizes1_se"][0], atol=1e-9)
            assert batch.scale[j] == pytest.approx(one["scale"], rel=1e-10)
        expected_chi2 = 2 * (batch.lml - scanner.null_lml())
        np.testing.assert_allclose(
            batch.chi2[~np.isnan(batch.lml)], expected_chi2[~np.isnan(batch.lml)], atol=1e-12
        )
        np.testing.assert_allclose(batch.pvalue, chi2.sf(batch.chi2, A1.shape[1]))


def test_kron_scanner__one_rotation_per_block(monkeypatch):
    rng, Y, X, G, C0, C1 = _small_problem(seed=2, n=30)
    scanner = KronFastScanner(Y, np.eye(3), X, G, C0, C1)
    shapes = []
    rotate = scanner._rotated

    def counting(block):
        shapes.append(block.shape)
        return rotate(block)

    monkeypatch.setattr(scanner, "_rotated", counting)
    scanner.fast_scan(np.eye(3), rng.normal(size=(30, 15)), block_size=7)
    assert shapes == [(30, 7), (30, 7), (30, 1)]


def _cohort(n, p, m_kinship, seed):
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.05, 0.5, size=m_kinship)
    Z = rng.binomial(2, freq, size=(n, m_kinship)).astype(float)
    G = (Z - 2 * freq) / np.sqrt(2 * freq * (1 - freq) * m_kinship)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    L0 = rng.normal(size=(p, p)) * 0.7
    Y = X @ rng.normal(size=(2, p)) + G @ rng.normal(size=(m_kinship, p)) @ L0.T
    Y += rng.normal(size=(n, p))
    return rng, Y, X, G


def test_joint_scan__any_effect_null_calibration():
    rng, Y, X, G = _cohort(n=400, p=3, m_kinship=600, seed=21)
    freq = rng.uniform(0.05, 0.5, size=3000)
    variants = rng.binomial(2, freq, size=(400, 3000)).astype(float)
    table = joint_scan(variants, Y, X, G, test="any", block_size=1000)
    lambda_gc = np.median(table["chi2"]) / chi2.ppf(0.5, 3)
    assert 0.95 <= lambda_gc <= 1.05
    assert (table["dof"] == 3).all() and (table["n"] == 400).all()


def test_joint_scan__table_matches_scanner_and_accepts_qs():
    rng, Y, X, G = _cohort(n=80, p=2, m_kinship=60, seed=3)
    variants = pd.DataFrame(
        rng.binomial(2, 0.3, size=(80, 6)).astype(float), columns=[f"rs{i}" for i in range(6)]
    )
    traits = pd.DataFrame(Y, columns=["ldl", "hdl"])
    table = joint_scan(variants, traits, X, G, test="common")
    assert list(table.columns) == [
        "chi2",
        "dof",
        "pvalue",
        "beta_ldl",
        "beta_hdl",
        "se_ldl",
        "se_hdl",
        "lml",
        "n",
    ]
    assert list(table.index) == list(variants.columns) and table.index.name == "variant"
    model = Kron2Sum(Y, np.eye(2), X, G, rank=2)
    model.fit()
    scanner = model.get_fast_scanner()
    one = scanner.scan(np.ones((2, 1)), variants.to_numpy()[:, [2]])
    assert table["lml"].iloc[2] == pytest.approx(one["lml"], abs=1e-6)
    assert table["beta_ldl"].iloc[2] == table["beta_hdl"].iloc[2]
    assert table["beta_ldl"].iloc[2] == pytest.approx(one["effsizes1"][0, 0], abs=1e-5)
    assert (table["dof"] == 1).all()
    with_qs = joint_scan(
        variants.to_numpy(), Y, X, economic_qs(G @ G.T), test="any", variants=list("abcdef")
    )
    assert list(with_qs.index) == list("abcdef") and (with_qs["dof"] == 2).all()
    assert list(with_qs.columns[3:5]) == ["beta_trait0", "beta_trait1"]
    np.testing.assert_allclose(
        with_qs["chi2"], joint_scan(variants, Y, X, G, test="any")["chi2"], rtol=1e-4, atol=1e-6
    )


def test_kron_scanner__input_errors():
    _, Y, X, G, C0, C1 = _small_problem(seed=1)
    with pytest.raises(InputError, match="C0, C1 must be 3×3"):
        KronFastScanner(Y, np.eye(3), X, G, C0[:2, :2], C1)
    scanner = KronFastScanner(Y, np.eye(3), X, G, C0, C1)
    with pytest.raises(InputError, match="A1 must have one row per trait"):
        scanner.scan(np.eye(2), np.ones((12, 1)))
    with pytest.raises(InputError, match="A1 must have one row per trait"):
        scanner.fast_scan(np.eye(2), np.ones((12, 1)))
    with pytest.raises(InputError, match="block_size must be a positive integer"):
        scanner.fast_scan(np.eye(3), np.ones((12, 1)), block_size=0)
    with pytest.raises(InputError, match="test must be 'any' or 'common'"):
        joint_scan(np.ones((12, 1)), Y, X, G, test="both")
    with pytest.raises(InputError, match="variants has 2 labels for 1 variants"):
        joint_scan(np.ones((12, 1)), Y, X, G, variants=["a", "b"])
    with pytest.raises(InputError, match=r"QS_or_G must be \(\(Q0, Q1\), S0\)"):
        joint_scan(np.ones((12, 1)), Y, X, (1, 2, 3))
    with pytest.raises(InputError, match="S0 must hold 5 non-negative eigenvalues"):
        joint_scan(np.ones((12, 1)), Y, X, ((G, None), -np.ones(5)))
