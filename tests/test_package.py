"""The package surface: light import, re-exports, workflow helpers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

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
