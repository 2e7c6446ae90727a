"""``import kinmix`` and ``import kinmix.io`` need only NumPy, SciPy and pandas."""

from __future__ import annotations

import subprocess
import sys

import pytest

import kinmix.io


def test_io__import_loads_no_optional_dependency():
    code = (
        "import sys, kinmix, kinmix.io, kinmix.gwas, kinmix.io.blockmatrix, "
        "kinmix.io.genotypes, kinmix.io.plink, kinmix.io.tables, kinmix.io.kinship, "
        "kinmix.io.bgen, kinmix.io.pgen, kinmix.simulate, kinmix.checkpoint, kinmix.plot; "
        "print(sorted(m for m in ('dask', 'zarr', 'distributed', 'bed_reader', 'cbgen', "
        "'pgenlib', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_io__functions_resolve_lazily():
    from kinmix.io.blockmatrix import read_block_matrix, write_block_matrix

    assert kinmix.io.write_block_matrix is write_block_matrix
    assert kinmix.io.read_block_matrix is read_block_matrix
    assert kinmix.io.blockmatrix.write_block_matrix is write_block_matrix
    assert "read_plink" in dir(kinmix.io)


def test_io__unknown_attribute():
    with pytest.raises(AttributeError, match="module 'kinmix.io' has no attribute 'nothing'"):
        kinmix.io.nothing  # noqa: B018
