"""The package surface: light import, re-exports, workflow helpers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import kinmix
from kinmix.lmm import LMM


def test_import__needs_only_numpy_scipy_pandas():
    code = (
        "import sys, kinmix; heavy = {'dask', 'zarr', 'bed_reader', 'matplotlib', "
        "'distributed'}; print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_estimate_h2__equals_the_restricted_lmm():
    rng = np.random.default_rng(0)
    n = 150
    Z = rng.standard_normal((n, 300)) / np.sqrt(300)
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    y = X @ [1.0, 0.3] + Z @ rng.standard_normal(300) + rng.standard_normal(n)
    report = kinmix.estimate_h2(y, X, Z @ Z.T)
    lmm = LMM(y, X, kinmix.economic_qs(Z @ Z.T), restricted=True)
    lmm.fit(verbose=False)
    np.testing.assert_allclose(report["h2"], 1 - lmm.delta, rtol=1e-7)
    np.testing.assert_allclose(report["scale"], lmm.scale, rtol=1e-7)
    np.testing.assert_allclose(report["lml"], lmm.lml(), rtol=1e-10)
    assert report["n"] == n and report["k"] == n and report["h2_se"] > 0


def test_estimate_h2__is_a_frozen_value_and_validates_x_once():
    import dataclasses

    rng = np.random.default_rng(3)
    n = 60
    Z = rng.standard_normal((n, 80)) / np.sqrt(80)
    x = rng.standard_normal(n)
    y = 0.5 * x + Z @ rng.standard_normal(80) + rng.standard_normal(n)
    K = Z @ Z.T
    as_array = kinmix.estimate_h2(y, x[:, None], K)
    as_list = kinmix.estimate_h2(y, [[v] for v in x], K)  # the seed failed inside numpy
    as_1d = kinmix.estimate_h2(y, x, K)  # one covariate
    for other in (as_list, as_1d):
        np.testing.assert_allclose(other.lml, as_array.lml, rtol=1e-12)
        np.testing.assert_allclose(other.beta, as_array.beta, rtol=1e-10)
    lmm = LMM(y, x[:, None], kinmix.economic_qs(K), restricted=True)
    lmm.fit(verbose=False)
    np.testing.assert_allclose(as_array.lml, lmm.lml(), rtol=1e-10)
    np.testing.assert_allclose(as_array.beta, lmm.beta, rtol=1e-5)
    assert as_array["h2"] == as_array.h2
    with pytest.raises(dataclasses.FrozenInstanceError):
        as_array.h2 = 0.0
    with pytest.raises(kinmix.InputError, match="X has 59 rows but 60 were expected"):
        kinmix.estimate_h2(y, x[:-1], K)


def test_restricted_log_likelihood__needs_a_fit():
    model = kinmix.LinearMixedModel(np.arange(4.0), np.ones((4, 1)), np.ones(4))
    with pytest.raises(kinmix.FitError, match="null model is not fit"):
        model.restricted_log_likelihood()


def test_import__loads_the_models_only_when_used():
    code = (
        "import sys, kinmix; before = sorted(m for m in ('kinmix.glmm', 'kinmix.ep', "
        "'kinmix.gp', 'kinmix.lmm', 'kinmix.gwas', 'kinmix.workflow') if m in sys.modules); "
        "from kinmix.glmm import GLMMExpFam; "
        "print(before, kinmix.GLMMExpFam is GLMMExpFam, 'kinmix.ep' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] True True"


def test_import__every_public_name_resolves_and_grm_stays_the_function():
    import importlib

    grm_module = importlib.import_module("kinmix.grm")  # must not shadow the function

    assert kinmix.grm is grm_module.grm and callable(kinmix.grm)
    for name in kinmix.__all__:
        assert getattr(kinmix, name) is not None, name
    assert kinmix.LMM is LMM and kinmix.scan is importlib.import_module("kinmix.gwas").scan
    assert set(kinmix.__all__) <= set(dir(kinmix))
    with pytest.raises(AttributeError, match="module 'kinmix' has no attribute 'nothing'"):
        kinmix.nothing  # noqa: B018
