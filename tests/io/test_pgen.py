"""PLINK 2 .pgen through pgenlib: dosages equal the PLINK 1 fileset they were made from.

Fixture: ``tests/io/data/tiny.pgen/.pvar/.psam`` = ``plink2 --bfile tiny --make-pgen``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kinmix import InputError
from kinmix.io.genotypes import Genotypes, open_genotypes

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def pgenlib_installed(request):
    """pgenlib is the ``pgen`` extra: required on CI, skipped elsewhere when absent."""
    if request.node.name.startswith("test_pgen__missing_pgenlib"):
        return
    try:
        import pgenlib  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail('pgenlib is required on CI: pip install "kinmix[pgen]"')
        pytest.skip('pgenlib is not installed (pip install "kinmix[pgen]")')


@pytest.mark.parametrize("count_a1", [True, False])
def test_pgen__dosages_equal_the_plink_source(count_a1):
    plink = open_genotypes(bfile=DATA / "tiny", count_a1=count_a1)
    pgen = open_genotypes(pgen=DATA / "tiny.pgen", count_a1=count_a1)
    assert isinstance(pgen, Genotypes) and pgen.shape == (60, 40)
    assert pgen.path == DATA / "tiny.pgen"
    pd.testing.assert_frame_equal(pgen.samples, plink.samples)
    pd.testing.assert_frame_equal(pgen.variants, plink.variants[pgen.variants.columns])
    dosages = pgen.read()
    np.testing.assert_array_equal(dosages, plink.read())
    assert dosages.flags.f_contiguous and np.isnan(dosages).sum() == 10
    rows = np.array([59, 0, 7])
    np.testing.assert_array_equal(pgen.read([3, 0], samples=rows), dosages[np.ix_(rows, [3, 0])])
    assert pgen.read(slice(5, 5)).shape == (60, 0)


def copy_fileset(tmp_path):
    for ext in (".pgen", ".pvar", ".psam"):
        shutil.copy(DATA / f"tiny{ext}", tmp_path / f"tiny{ext}")
    return tmp_path / "tiny"


def test_pgen__headerless_tables_use_the_bim_and_fam_layouts(tmp_path):
    prefix = copy_fileset(tmp_path)
    shutil.copy(DATA / "tiny.fam", tmp_path / "tiny.psam")
    bim = pd.read_csv(DATA / "tiny.bim", sep="\t", header=None)
    bim[[0, 1, 2, 3, 4, 5]].to_csv(tmp_path / "tiny.pvar", sep="\t", header=False, index=False)
    pgen = open_genotypes(pgen=prefix)
    reference = open_genotypes(pgen=DATA / "tiny")
    pd.testing.assert_frame_equal(pgen.samples, reference.samples)
    pd.testing.assert_frame_equal(pgen.variants, reference.variants)


def test_pgen__errors(tmp_path):
    prefix = copy_fileset(tmp_path)
    (tmp_path / "tiny.psam").unlink()
    with pytest.raises(InputError, match=r"PLINK 2 file .*tiny\.psam does not exist"):
        open_genotypes(pgen=prefix)
    (tmp_path / "tiny.psam").write_text("#FID\tSEX\nf\t1\n")
    with pytest.raises(InputError, match=r"tiny\.psam has no IID column"):
        open_genotypes(pgen=prefix)
    psam = (DATA / "tiny.psam").read_text().splitlines(keepends=True)
    (tmp_path / "tiny.psam").write_text("".join(psam[:-1]))
    with pytest.raises(InputError, match=r"tiny\.pgen cannot be opened with the 59 samples of "
                       r"tiny\.psam and 40 variants"):
        open_genotypes(pgen=prefix)
    shutil.copy(DATA / "tiny.psam", tmp_path / "tiny.psam")
    pvar = (DATA / "tiny.pvar").read_text().splitlines(keepends=True)
    (tmp_path / "tiny.pvar").write_text("".join(pvar[:2]).replace("\tA\n", "\tA,G\n")
                                        + "".join(pvar[2:]))
    with pytest.raises(InputError, match=r"1 variants have several ALT alleles \(e\.g\. 1:2296\)"):
        open_genotypes(pgen=prefix)
    (tmp_path / "tiny.pvar").write_text("#CHROM\tPOS\tID\tREF\n1\t5\tx\tA\n")
    with pytest.raises(InputError, match=r"lacks the column\(s\) \['ALT'\]"):
        open_genotypes(pgen=prefix)
    (tmp_path / "tiny.pvar").write_text("##fileformat\n")
    with pytest.raises(InputError, match=r"tiny\.pvar is empty"):
        open_genotypes(pgen=prefix)
    (tmp_path / "tiny.pvar").write_text("".join(pvar) + "1\t9\n")
    with pytest.raises(InputError, match="lines with different numbers of fields"):
        open_genotypes(pgen=prefix)


def test_pgen__missing_pgenlib_names_the_extra():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['pgenlib'] = None\n"
        "from kinmix.io.genotypes import open_genotypes\n"
        "try:\n"
        f"    open_genotypes(pgen={str(DATA / 'tiny')!r})\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == (
        'InputError reading PLINK 2 .pgen files needs pgenlib: pip install "kinmix[pgen]"'
    )
