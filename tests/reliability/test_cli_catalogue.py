"""Catalogue: bad inputs of the ``kinmix`` command, run in-process through ``kinmix.cli.main``.

Every case must end with exit code 2 and exactly one line ``kinmix: error: …`` on stderr
that names the file (or option) and the problem — no traceback — and leave nothing
finished-looking in ``--out`` (no results, summary or plots, no staging folder). The
genotypes are the CLI tests' small PLINK cohort (70 samples, 120 variants) and the BGEN
export of ``tests/io/data/tiny``; each case damages a copy in its own folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kinmix.cli import SCAN_OUTPUTS, main

DATA = Path(__file__).parent.parent / "io" / "data"
#: The uid and gid of ``nobody``: a root run drops to them where file modes must apply.
NOBODY = 65534


def nothing_finished(out: Path) -> None:
    """No output of a finished scan, and no staging folder, in ``out``."""
    present = [name for name in SCAN_OUTPUTS if (out / name).exists()]
    assert not present, present
    assert not list(out.glob(".kinmix-staging-*"))


def fails_cleanly(args: list[str], out: Path | None, capsys, *needles: str) -> str:
    """Run ``kinmix args``: exit code 2, one error line holding every needle, no traceback."""
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("kinmix: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    if out is not None and Path(out).is_dir():
        nothing_finished(Path(out))
    return lines[0]


@dataclass
class Workspace:
    """The cohort, a fresh folder for the case's files, and the output folder."""

    cohort: object
    folder: Path

    @property
    def out(self) -> Path:
        return self.folder / "out"

    def scan(self, **overrides: str | bool | None) -> list[str]:
        """``kinmix scan`` of trait a of the cohort, with options replaced or added."""
        options: dict[str, str | bool | None] = {
            "--bfile": str(self.cohort.prefix),
            "--pheno": str(self.cohort.pheno_path),
            "--pheno-name": "a",
            "--out": str(self.out),
            "--no-loco": True,
            "--quiet": True,
        }
        options.update({"--" + key.replace("_", "-"): value for key, value in overrides.items()})
        args = ["scan"]
        for key, value in options.items():
            if value is None or value is False:
                continue
            args += [key] if value is True else [key, value]
        return args

    def fileset(self, change: Callable[[Path], None], ext: str) -> str:
        """A copy of the cohort's .bed/.bim/.fam as ``broken``, its ``ext`` file changed."""
        prefix = self.folder / "broken"
        for suffix in (".bed", ".bim", ".fam"):
            shutil.copy(str(self.cohort.prefix) + suffix, str(prefix) + suffix)
        change(Path(str(prefix) + ext))
        return str(prefix)

    def file(self, name: str, content: bytes) -> str:
        path = self.folder / name
        path.write_bytes(content)
        return str(path)

    def table(self, name: str, column: str, values: dict[int, str] | None = None) -> str:
        """A headed table of the 70 samples, one column, some values replaced."""
        values = values or {}
        lines = [f"FID\tIID\t{column}"]
        lines += [f"s{i}\ts{i}\t{values.get(i, f'{1.0 + i % 7}')}" for i in range(70)]
        return self.file(name, ("\n".join(lines) + "\n").encode())


# -- changes to files --------------------------------------------------------------------------
def _drop_lines(count: int) -> Callable[[Path], None]:
    def change(path: Path) -> None:
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:-count]))

    return change


def _add_line(path: Path) -> None:
    path.write_text(path.read_text() + path.read_text().splitlines(keepends=True)[-1])


def _add_samples(count: int) -> Callable[[Path], None]:
    def change(path: Path) -> None:
        new = "".join(f"new{i} new{i} 0 0 0 -9\n" for i in range(count))
        path.write_text(path.read_text() + new)

    return change


def _cut(count: int) -> Callable[[Path], None]:
    def change(path: Path) -> None:
        path.write_bytes(path.read_bytes()[:-count])

    return change


def _bad_magic(path: Path) -> None:
    path.write_bytes(b"\0\0\0" + path.read_bytes()[3:])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _latin1_line_4(path: Path) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    lines[3] = lines[3].replace(b"s3", b"s\xe93")  # 'é' in Latin-1
    path.write_bytes(b"".join(lines))


def _latin1_variant(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b"rs7\t", b"rs7\xe9\t", 1))


def _bgen(ws: Workspace, content: bytes | None, sample: str | None = None) -> list[str]:
    path = ws.folder / ("absent.bgen" if content is None else "damaged.bgen")
    if content is not None:
        path.write_bytes(content)
    return ws.scan(bfile=None, bgen=str(path), sample=sample or str(DATA / "tiny.sample"))


def _bgen_bytes() -> bytes:
    return (DATA / "tiny12.bgen").read_bytes()


def _short_sample(ws: Workspace) -> list[str]:
    lines = (DATA / "tiny.sample").read_text().splitlines(keepends=True)
    sample = ws.file("short.sample", "".join(lines[:-1]).encode())
    return _bgen(ws, _bgen_bytes(), sample)


def _symlink_loop(ws: Workspace) -> list[str]:
    loop = ws.folder / "loop.tsv"
    loop.symlink_to(loop)
    return ws.scan(pheno=str(loop))


def _fifo(ws: Workspace) -> list[str]:
    fifo = ws.folder / "fifo.tsv"
    os.mkfifo(fifo)
    return ws.scan(pheno=str(fifo))


def _kinship(ws: Workspace, name: str) -> str:
    target = ws.folder / name
    assert main(["grm", "--bfile", str(ws.cohort.prefix), "--out", str(target), "--quiet"]) == 0
    return str(target)


def _gcta_cut(ws: Workspace) -> list[str]:
    prefix = _kinship(ws, "kin")
    _cut(8)(Path(prefix + ".grm.bin"))
    return ws.scan(grm=prefix)


def _blocker(ws: Workspace) -> Path:
    blocker = ws.folder / "a-file"
    blocker.write_text("not a folder")
    return blocker


def _strangers(ws: Workspace) -> list[str]:
    rows = "".join(f"x{i}\tx{i}\t{i}.5\n" for i in range(10))
    return ws.scan(pheno=ws.file("strangers.tsv", f"FID\tIID\ta\n{rows}".encode()))


def _numbers(values: str) -> bytes:
    return ("FID\tIID\tage\n" + values).encode()


ROWS_BAD_AGE = "".join(f"s{i}\ts{i}\t{'old' if i == 3 else i}\n" for i in range(70))


@dataclass(frozen=True)
class Case:
    id: str
    args: Callable[[Workspace], list[str]]
    needles: tuple[str, ...]


CASES = [
    # genotype files: PLINK
    Case(
        "cli-bfile-missing",
        lambda w: w.scan(bfile=str(w.folder / "nope")),
        ("nope.bed", "does not exist"),
    ),
    Case(
        "cli-fam-short-by-3",
        lambda w: w.scan(bfile=w.fileset(_drop_lines(3), ".fam")),
        ("broken.bed", "broken.fam lists 67 samples"),
    ),
    Case(
        "cli-fam-long",
        lambda w: w.scan(bfile=w.fileset(_add_samples(4), ".fam")),
        ("broken.bed is truncated", "74 samples"),
    ),
    Case(
        "cli-fam-repeated-line",
        lambda w: w.scan(bfile=w.fileset(_add_line, ".fam")),
        ("genotype file", "broken", "repeats sample IDs ['s69']"),
    ),
    Case(
        "cli-fam-empty",
        lambda w: w.scan(bfile=w.fileset(_empty, ".fam")),
        ("broken.fam", "lists no samples"),
    ),
    Case(
        "cli-bim-short",
        lambda w: w.scan(bfile=w.fileset(_drop_lines(1), ".bim")),
        ("broken.bed is longer than expected", "119 variants"),
    ),
    Case(
        "cli-bim-long",
        lambda w: w.scan(bfile=w.fileset(_add_line, ".bim")),
        ("broken.bed is truncated", "121 variants"),
    ),
    Case(
        "cli-bed-truncated",
        lambda w: w.scan(bfile=w.fileset(_cut(50), ".bed")),
        ("broken.bed is truncated",),
    ),
    Case(
        "cli-bed-bad-magic",
        lambda w: w.scan(bfile=w.fileset(_bad_magic, ".bed")),
        ("broken.bed", "not a variant-major PLINK 1 .bed"),
    ),
    Case(
        "cli-bed-is-a-folder",
        lambda w: w.scan(bfile=w.fileset(_folder, ".bed")),
        ("broken.bed is a folder, not a file",),
    ),
    Case(
        "cli-fam-non-utf8-id",
        lambda w: w.scan(bfile=w.fileset(_latin1_line_4, ".fam")),
        ("broken.fam is not UTF-8", "byte 0xe9 on line 4"),
    ),
    Case(
        "cli-bim-non-utf8-id",
        lambda w: w.scan(bfile=w.fileset(_latin1_variant, ".bim")),
        ("broken.bim is not UTF-8", "byte 0xe9 on line 8"),
    ),
    Case("cli-sample-with-bfile", lambda w: w.scan(sample="x.sample"), ("--sample",)),
    # genotype files: BGEN
    Case("cli-bgen-missing", lambda w: _bgen(w, None), ("absent.bgen does not exist",)),
    Case(
        "cli-bgen-truncated",
        lambda w: _bgen(w, _bgen_bytes()[:2000]),
        ("damaged.bgen is truncated", "announces 40 variants"),
    ),
    Case(
        "cli-bgen-last-bytes-cut",
        lambda w: _bgen(w, _bgen_bytes()[:-7]),
        ("damaged.bgen is truncated", "inside variant 40"),
    ),
    Case(
        "cli-bgen-ten-bytes",
        lambda w: _bgen(w, _bgen_bytes()[:10]),
        ("damaged.bgen cannot be opened", "only 10 bytes"),
    ),
    Case(
        "cli-bgen-not-bgen",
        lambda w: _bgen(w, b"x" * 5000),
        ("damaged.bgen", "lacks the BGEN header"),
    ),
    Case("cli-bgen-sample-short", _short_sample, ("short.sample lists 59 samples", "has 60")),
    Case(
        "cli-bgen-sample-missing",
        lambda w: _bgen(w, _bgen_bytes(), str(w.folder / "absent.sample")),
        ("absent.sample does not exist",),
    ),
    # sample tables
    Case(
        "cli-pheno-missing",
        lambda w: w.scan(pheno=str(w.folder / "nope.tsv")),
        ("nope.tsv does not exist",),
    ),
    Case(
        "cli-pheno-is-a-folder",
        lambda w: w.scan(pheno=str(w.folder)),
        ("is a folder, not a file",),
    ),
    Case("cli-pheno-link-loop", _symlink_loop, ("loop.tsv cannot be read", "symbolic links")),
    Case("cli-pheno-fifo", _fifo, ("fifo.tsv is not a regular file",)),
    Case(
        "cli-pheno-read-error",
        lambda w: w.scan(pheno="/proc/self/mem"),
        ("/proc/self/mem cannot be read",),
    ),
    Case(
        "cli-pheno-empty",
        lambda w: w.scan(pheno=w.file("empty.tsv", b"")),
        ("empty.tsv is empty",),
    ),
    Case(
        "cli-pheno-header-only",
        lambda w: w.scan(pheno=w.file("head.tsv", b"FID\tIID\ta\n")),
        ("head.tsv has a header but no samples",),
    ),
    Case(
        "cli-pheno-ragged",
        lambda w: w.scan(pheno=w.file("ragged.tsv", b"FID\tIID\ta\ns1\ts1\t1\ns2\ts2\n")),
        ("ragged.tsv line 3 has 2 fields",),
    ),
    Case(
        "cli-pheno-non-utf8-id",
        lambda w: w.scan(pheno=w.file("latin1.tsv", b"FID\tIID\ta\ns0\ts\xe90\t1.0\ns1\ts1\t2\n")),
        ("latin1.tsv is not UTF-8", "byte 0xe9 on line 2"),
    ),
    Case(
        "cli-covar-non-utf8-id",
        lambda w: w.scan(
            covar=w.file("latin1.tsv", b"FID\tIID\tage\ns0\ts0\t1.0\ns\xff1\ts1\t2\n")
        ),
        ("latin1.tsv is not UTF-8", "byte 0xff on line 3"),
    ),
    Case(
        "cli-pheno-duplicate-ids",
        lambda w: w.scan(pheno=w.file("dup.tsv", b"FID\tIID\ta\ns1\ts1\t1\ns1\ts1\t2\n")),
        ("dup.tsv repeats sample IDs", "s1"),
    ),
    Case(
        "cli-pheno-name-unknown",
        lambda w: w.scan(pheno_name="height"),
        ("pheno.tsv has no column(s) ['height']",),
    ),
    Case("cli-pheno-no-overlap", _strangers, ("no sample is in the genotypes", "x0")),
    Case(
        "cli-pheno-inf",
        lambda w: w.scan(pheno=w.table("inf.tsv", "a", {5: "inf"})),
        ("inf.tsv: column 'a', line 7 has the infinite value 'inf'",),
    ),
    Case(
        "cli-pheno-overflows",
        lambda w: w.scan(pheno=w.table("big.tsv", "a", {5: "1e400"})),
        ("big.tsv: column 'a', line 7 has the infinite value '1e400'",),
    ),
    Case(
        "cli-pheno-all-missing",
        lambda w: w.scan(pheno=w.table("na.tsv", "a", dict.fromkeys(range(70), "NA"))),
        ("every phenotype is missing",),
    ),
    Case(
        "cli-pheno-constant",
        lambda w: w.scan(pheno=w.table("const.tsv", "a", dict.fromkeys(range(70), "3"))),
        ("phenotype 'a' is fitted exactly by X",),
    ),
    Case(
        "cli-pheno-two-samples",
        lambda w: w.scan(pheno=w.file("two.tsv", b"FID\tIID\ta\ns1\ts1\t1\ns2\ts2\t2\n")),
        ("phenotype 'a' has 2 samples", "at least 3"),
    ),
    Case(
        "cli-h2-pheno-constant",
        lambda w: [
            "h2",
            "--bfile",
            str(w.cohort.prefix),
            "--pheno",
            w.table("const.tsv", "a", dict.fromkeys(range(70), "3")),
            "--out",
            str(w.out),
        ],
        ("phenotype 'a' is fitted exactly by X",),
    ),
    Case(
        "cli-covar-inf",
        lambda w: w.scan(covar=w.table("inf.tsv", "age", {5: "-inf"})),
        ("inf.tsv: column 'age', line 7 has the infinite value '-inf'",),
    ),
    Case(
        "cli-covar-non-numeric",
        lambda w: w.scan(covar=w.file("covar.tsv", _numbers(ROWS_BAD_AGE))),
        ("covar.tsv", "'old'"),
    ),
    # options
    Case("cli-covar-name-without-covar", lambda w: w.scan(covar_name="age"), ("--covar",)),
    Case("cli-condition-unknown", lambda w: w.scan(condition="rs999"), ("rs999",)),
    Case("cli-trials-not-binomial", lambda w: w.scan(trials="a"), ("--trials",)),
    Case("cli-joint-one-trait", lambda w: w.scan(joint="any"), ("needs at least two phenotypes",)),
    Case(
        "cli-chunk-size-zero",
        lambda w: w.scan(chunk_size="0"),
        ("chunk_size must be a positive integer",),
    ),
    Case("cli-maf-nan", lambda w: w.scan(maf="nan"), ("maf must lie in [0, 0.5]",)),
    Case(
        "cli-simulate-no-samples",
        lambda w: [
            "simulate",
            "--out",
            str(w.folder / "sim"),
            "--samples",
            "0",
            "--variants",
            "10",
        ],
        ("samples must be at least 4",),
    ),
    # kinship files
    Case("cli-grm-wrong-size", _gcta_cut, ("kin.grm.bin has 9932 bytes", "lists 70 samples")),
    Case(
        "cli-grm-missing",
        lambda w: w.scan(grm=str(w.folder / "nokin")),
        ("nokin.grm.bin does not exist",),
    ),
    Case(
        "cli-grm-npz-corrupt",
        lambda w: w.scan(grm=w.file("bad.npz", b"PK\x03\x04garbage")),
        ("bad.npz is not a readable .npz archive",),
    ),
    Case(
        "cli-grm-with-loco",
        lambda w: w.scan(grm=_kinship(w, "kin.npz"), loco=True, no_loco=False),
        ("--no-loco",),
    ),
    # output paths
    Case(
        "cli-out-is-a-file",
        lambda w: w.scan(out=str(_blocker(w))),
        ("cannot write to the output folder", "a-file", "--out"),
    ),
    Case(
        "cli-out-under-a-file",
        lambda w: w.scan(out=str(_blocker(w) / "out")),
        ("a-file/out", "Not a directory", "--out"),
    ),
    Case(
        "cli-out-name-too-long",
        lambda w: w.scan(out=str(w.folder / ("x" * 300))),
        ("cannot write to the output folder", "name too long"),
    ),
    Case(
        "cli-h2-out-is-a-file",
        lambda w: [
            "h2",
            "--bfile",
            str(w.cohort.prefix),
            "--pheno",
            str(w.cohort.pheno_path),
            "--out",
            str(_blocker(w)),
        ],
        ("a-file", "--out"),
    ),
    Case(
        "cli-grm-out-under-a-file",
        lambda w: ["grm", "--bfile", str(w.cohort.prefix), "--out", str(_blocker(w) / "kin.npz")],
        ("a-file", "--out"),
    ),
    Case(
        "cli-simulate-out-under-a-file",
        lambda w: [
            "simulate",
            "--out",
            str(_blocker(w) / "sim"),
            "--samples",
            "10",
            "--variants",
            "10",
        ],
        ("a-file", "--out"),
    ),
]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from tests.workflow.conftest import write_small_cohort

    return write_small_cohort(tmp_path_factory.mktemp("cli-catalogue"))


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_cli_bad_input_exits_2_with_one_line_naming_it(case, cohort, tmp_path, capsys):
    ws = Workspace(cohort, tmp_path)
    fails_cleanly(case.args(ws), ws.out, capsys, *case.needles)


# -- unreadable input: file modes, also when the tests run as root ----------------------------
@contextlib.contextmanager
def _file_modes_apply() -> Iterator[None]:
    """Run the block as a user whom file modes stop: as root, as ``nobody`` (effective ids).

    Root reads any file whatever its mode, so a root run drops its effective uid and gid
    to ``nobody`` for the block (the saved uid stays 0, which restores them after).
    """
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_cli_pheno_permission_denied(cohort, tmp_path_factory, capsys):
    """``cli-pheno-permission-denied``: a table of mode 000."""
    # a world-readable copy of the cohort, since nobody cannot enter the root's tmp folders
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"kinmix-{os.getpid()}-{id(capsys)}"
    folder.mkdir(mode=0o755)
    try:
        folder.chmod(0o755)
        for suffix in (".bed", ".bim", ".fam"):
            shutil.copy(str(cohort.prefix) + suffix, folder / f"cohort{suffix}")
            (folder / f"cohort{suffix}").chmod(0o644)
        locked = folder / "locked.tsv"
        shutil.copy(cohort.pheno_path, locked)
        locked.chmod(0o000)
        out = folder / "out"
        out.mkdir(mode=0o777)
        out.chmod(0o777)
        args = ["scan", "--bfile", str(folder / "cohort"), "--pheno", str(locked)]
        args += ["--no-loco", "--out", str(out), "--quiet"]
        with _file_modes_apply():
            line = fails_cleanly(
                args, out, capsys, "locked.tsv cannot be read", "ermission denied"
            )
        assert "phenotype file" in line
    finally:
        shutil.rmtree(folder)


def test_every_cli_case_is_in_the_docs_table():
    text = (Path(__file__).parents[2] / "docs" / "reliability.md").read_text(encoding="utf-8")
    missing = [case.id for case in CASES if f"`{case.id}`" not in text]
    assert not missing, missing
