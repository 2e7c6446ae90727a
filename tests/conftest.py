"""Shared fixtures: the reference outputs of the seed systems in ``../shared/reference``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(os.environ.get("KINMIX_SHARED", Path(__file__).resolve().parents[2] / "shared"))
REFERENCE = SHARED / "reference"


def _load_json(name: str) -> dict:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"reference outputs not found at {path} (set KINMIX_SHARED)")
    return json.loads(path.read_text())


@pytest.fixture(scope="session")
def glimix_ref() -> dict:
    """glimix-core 3.1.14 outputs (``glimix_seed11.json``)."""
    return _load_json("glimix_seed11.json")


@pytest.fixture(scope="session")
def hail_ref() -> dict:
    """Hail 0.2.93 ``LinearMixedModel`` outputs (``hail_seed11.json``)."""
    return _load_json("hail_seed11.json")


@pytest.fixture(scope="session")
def ref_inputs() -> dict[str, np.ndarray]:
    """The inputs (and array outputs) of the references (``glimix_seed11.npz``)."""
    path = REFERENCE / "glimix_seed11.npz"
    if not path.exists():
        pytest.skip(f"reference inputs not found at {path} (set KINMIX_SHARED)")
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def assert_rel(actual, expected, rtol: float, atol: float = 0.0) -> None:
    """Relative agreement, element-wise, with a readable failure."""
    np.testing.assert_allclose(
        np.asarray(actual, float), np.asarray(expected, float), rtol=rtol, atol=atol
    )
