"""Shared fixtures: the reference outputs of the seed systems in ``../shared/reference``.

The reference folder is located one way: ``$KINMIX_SHARED/reference``, by default the
``shared`` folder beside the checkout. When it is missing, the tests that need it skip,
except under ``CI=true``, where they fail (a CI run must not pass by skipping).

Hypothesis runs under the profile ``ci`` (derandomized, no deadline) when ``CI=true``,
otherwise ``dev`` (random seeds, no deadline).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")

SHARED = Path(os.environ.get("KINMIX_SHARED", Path(__file__).resolve().parents[2] / "shared"))
REFERENCE = SHARED / "reference"


def reference_path(name: str) -> Path:
    """The path of the reference file ``name``; skip (fail under ``CI=true``) if missing."""
    path = REFERENCE / name
    if not path.exists():
        message = f"reference data not found at {path} (set KINMIX_SHARED)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def reference():
    """:func:`reference_path`, as a fixture: ``reference("hail_seed11.json")``."""
    return reference_path


def _load_json(name: str) -> dict:
    return json.loads(reference_path(name).read_text())


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
    with np.load(reference_path("glimix_seed11.npz")) as data:
        return {key: data[key] for key in data.files}


def assert_rel(actual, expected, rtol: float, atol: float = 0.0) -> None:
    """Relative agreement, element-wise, with a readable failure."""
    np.testing.assert_allclose(
        np.asarray(actual, float), np.asarray(expected, float), rtol=rtol, atol=atol
    )
