"""BGEN 1.2/1.3 through cbgen: dosages equal the PLINK fileset they were exported from.

The fixtures in tests/io/data were made once (see data/README.md): ``tiny.bed/.bim/.fam``
is a 60 × 40 simulated cohort with 10 missing calls, and ``tiny12.bgen``/``tiny13.bgen``
are ``plink2 --bfile tiny --export bgen-1.2|bgen-1.3 bits=8`` of it (``tiny.sample`` is
plink2's sample file).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kinmix import InputError
from kinmix.io.genotypes import Genotypes, open_genotypes

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def cbgen_installed(request):
    """cbgen is the ``bgen`` extra: required on CI, skipped elsewhere when absent."""
    if request.node.name.startswith("test_bgen__missing_cbgen"):
        return
    try:
        import cbgen  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail('cbgen is required on CI: pip install "kinmix[bgen]"')
        pytest.skip('cbgen is not installed (pip install "kinmix[bgen]")')


@pytest.mark.parametrize("version", ["tiny12.bgen", "tiny13.bgen"])
@pytest.mark.parametrize("count_a1", [True, False])
def test_bgen__dosages_equal_the_plink_source(version, count_a1):
    plink = open_genotypes(bfile=DATA / "tiny", count_a1=count_a1)
    bgen = open_genotypes(bgen=DATA / version, sample=DATA / "tiny.sample", count_a1=count_a1)
    assert isinstance(bgen, Genotypes) and bgen.shape == plink.shape == (60, 40)
    pd.testing.assert_frame_equal(bgen.samples, plink.samples)
    columns = ["chrom", "variant", "pos"]
    pd.testing.assert_frame_equal(bgen.variants[columns], plink.variants[columns])
    expected = plink.read()
    same = (bgen.variants["a1"] == plink.variants["a1"]).to_numpy()
    flipped = (bgen.variants["a1"] == plink.variants["a2"]).to_numpy()
    assert (same | flipped).all() and same.all()  # plink2 lists the .bim's a1 first
    dosages = bgen.read()
    assert dosages.flags.f_contiguous and dosages.dtype == np.float64
    np.testing.assert_allclose(dosages, expected, atol=1 / 255)  # 8-bit probabilities
    assert np.isnan(dosages).sum() == 10
    np.testing.assert_array_equal(np.isnan(dosages), np.isnan(expected))
    rows = np.array([59, 3, 0])
    np.testing.assert_array_equal(bgen.read([5, 1], samples=rows), dosages[np.ix_(rows, [5, 1])])
    np.testing.assert_array_equal(bgen.read(slice(30, None)), dosages[:, 30:])


def test_bgen__stored_ids_without_a_sample_file():
    bgen = open_genotypes(bgen=DATA / "tiny12.bgen")
    assert bgen.samples["iid"].iloc[0] == "fam00001_s000001"  # plink2 stores FID_IID
    assert (bgen.samples["fid"] == bgen.samples["iid"]).all()


def without_sample_ids(data: bytes) -> bytes:
    """The same BGEN file with its sample identifier block removed (flag bit 31 cleared)."""
    offset, header_length = struct.unpack_from("<II", data, 0)
    flags = struct.unpack_from("<I", data, header_length)[0]  # last field of the header
    header = bytearray(data[4: 4 + header_length])
    struct.pack_into("<I", header, header_length - 4, flags & ~(1 << 31))
    return struct.pack("<I", header_length) + bytes(header) + data[offset + 4:]


def test_bgen__without_sample_ids_needs_a_sample_file(tmp_path):
    stripped = tmp_path / "noids.bgen"
    stripped.write_bytes(without_sample_ids((DATA / "tiny12.bgen").read_bytes()))
    with pytest.raises(InputError, match=r"noids\.bgen stores no sample IDs; give its Oxford "
                       r"\.sample file"):
        open_genotypes(bgen=stripped)
    bgen = open_genotypes(bgen=stripped, sample=DATA / "tiny.sample")
    reference = open_genotypes(bgen=DATA / "tiny12.bgen")
    np.testing.assert_array_equal(bgen.read(), reference.read())
    assert bgen.samples["iid"].iloc[0] == "s000001"


def test_bgen__sample_file_errors(tmp_path):
    bgen = DATA / "tiny12.bgen"
    with pytest.raises(InputError, match=r"sample file .*absent\.sample does not exist"):
        open_genotypes(bgen=bgen, sample=tmp_path / "absent.sample")
    lines = (DATA / "tiny.sample").read_text().splitlines(keepends=True)
    short = tmp_path / "short.sample"
    short.write_text("".join(lines[:-1]))
    with pytest.raises(InputError, match="lists 59 samples but the BGEN file has 60"):
        open_genotypes(bgen=bgen, sample=short)
    short.write_text("FID IID\n" + "".join(lines[1:]))
    with pytest.raises(InputError, match=r"is not an Oxford \.sample file"):
        open_genotypes(bgen=bgen, sample=short)
    short.write_text("".join(lines[:-1]) + "lonely\n")
    with pytest.raises(InputError, match="line 62 needs ID_1 and ID_2"):
        open_genotypes(bgen=bgen, sample=short)
    with pytest.raises(InputError, match=r"BGEN file .*absent\.bgen does not exist"):
        open_genotypes(bgen=tmp_path / "absent.bgen")


def test_bgen__truncated_and_corrupt_files_are_input_errors(tmp_path):
    data = (DATA / "tiny13.bgen").read_bytes()
    damaged = tmp_path / "damaged.bgen"
    damaged.write_bytes(data[:3000])  # cbgen itself would crash on this
    with pytest.raises(InputError, match=r"damaged\.bgen is truncated: its header announces 40 "
                       r"variants but the file ends inside variant \d+"):
        open_genotypes(bgen=damaged)
    damaged.write_bytes(b"\x00" * 10)
    with pytest.raises(InputError, match=r"damaged\.bgen cannot be opened: it has only 10 bytes"):
        open_genotypes(bgen=damaged)
    damaged.write_bytes(data[:16] + b"xxxx" + data[20:])
    with pytest.raises(InputError, match=r"damaged\.bgen cannot be opened: it lacks the BGEN"):
        open_genotypes(bgen=damaged)
    header_length = struct.unpack_from("<I", data, 4)[0]
    flags = struct.unpack_from("<I", data, header_length)[0]
    layout1 = bytearray(data)
    struct.pack_into("<I", layout1, header_length, (flags & ~(0xF << 2)) | (1 << 2))
    damaged.write_bytes(bytes(layout1))
    with pytest.raises(InputError, match=r"uses layout 1 \(layout 1 is BGEN 1\.1\); kinmix "
                       r"reads BGEN 1\.2 and 1\.3"):
        open_genotypes(bgen=damaged)


def test_bgen__missing_cbgen_names_the_extra(tmp_path):
    code = (
        "import sys; sys.modules['cbgen'] = None\n"
        "from kinmix.io.genotypes import open_genotypes\n"
        "try:\n"
        f"    open_genotypes(bgen={str(DATA / 'tiny12.bgen')!r})\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == (
        'InputError reading BGEN files needs cbgen: pip install "kinmix[bgen]"'
    )
