"""Kinship matrices on disk: GCTA's binary GRM and kinmix's own ``.npz``.

GCTA's binary GRM is three files sharing a prefix:

- ``PREFIX.grm.bin``: the lower triangle of the n × n matrix *including* the diagonal, row
  by row (:math:`K_{00}, K_{10}, K_{11}, K_{20}, K_{21}, K_{22}, \\dots`), as little-endian
  float32, so exactly :math:`4 \\cdot n(n+1)/2` bytes;
- ``PREFIX.grm.N.bin``: the number of variants behind each entry, same layout and type;
- ``PREFIX.grm.id``: one line ``FID<TAB>IID`` per sample, no header.

kinmix's ``.npz`` (NumPy's zip of arrays) holds ``matrix`` (float64), ``ids`` and ``fids``
(str) and ``n_variants`` (int64, −1 when unknown).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..checkpoint import write_atomically
from ..errors import InputError
from ._paths import require_file

#: Rows of the triangle converted per step when reading or writing a GCTA GRM.
ROWS_PER_BLOCK = 1024
#: Tolerance of the symmetry check of a matrix to write (relative to its largest entry).
SYMMETRY_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Kinship:
    """A kinship matrix and the sample IDs of its rows.

    Attributes
    ----------
    ids : Index
        Sample IDs (IIDs, str) of the rows and columns.
    matrix : ndarray, shape (n, n)
        Symmetric float64 kinship.
    n_variants : int or None
        Variants it was computed from (for a GCTA GRM, the largest count in
        ``.grm.N.bin``), None when unknown.
    """

    ids: pd.Index
    matrix: np.ndarray
    n_variants: int | None


def _gcta_prefix(path: Path) -> Path:
    """``X`` from ``X``, ``X.grm`` or ``X.grm.bin``."""
    name = path.name
    for suffix in (".grm.bin", ".grm"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)])
    return path


def _gcta_files(prefix: Path) -> tuple[Path, Path, Path]:
    return tuple(prefix.with_name(prefix.name + ext) for ext in (".grm.bin", ".grm.N.bin",
                                                                   ".grm.id"))


def _triangle_offsets(n: int) -> np.ndarray:
    """Start of each row of the packed lower triangle, and its end (n + 1 entries)."""
    rows = np.arange(n + 1, dtype=np.int64)
    return rows * (rows + 1) // 2


def _read_triangle(path: Path, n: int) -> np.ndarray:
    """The symmetric float64 matrix stored as a packed float32 lower triangle in ``path``."""
    expected = 4 * n * (n + 1) // 2
    size = path.stat().st_size
    if size != expected:
        raise InputError(
            f"GCTA file {path} has {size} bytes but its .grm.id lists {n} samples, which need "
            f"{expected} (float32 lower triangle with diagonal). The files must come from the "
            "same GRM."
        )
    offsets = _triangle_offsets(n)
    matrix = np.empty((n, n), dtype=np.float64)
    with path.open("rb") as handle:
        for start in range(0, n, ROWS_PER_BLOCK):
            stop = min(start + ROWS_PER_BLOCK, n)
            packed = np.fromfile(handle, dtype="<f4", count=offsets[stop] - offsets[start])
            for i in range(start, stop):
                matrix[i, : i + 1] = packed[offsets[i] - offsets[start]: offsets[i + 1]
                                            - offsets[start]]
    for start in range(0, n, ROWS_PER_BLOCK):  # mirror the lower triangle, block by block
        stop = min(start + ROWS_PER_BLOCK, n)
        block = matrix[start:stop, start:stop]
        block[np.triu_indices(stop - start, 1)] = block.T[np.triu_indices(stop - start, 1)]
        matrix[start:stop, stop:] = matrix[stop:, start:stop].T
    return matrix


def _write_triangle(handle, matrix: np.ndarray) -> None:
    """Write the lower triangle of ``matrix`` row by row as little-endian float32."""
    n = matrix.shape[0]
    for start in range(0, n, ROWS_PER_BLOCK):
        stop = min(start + ROWS_PER_BLOCK, n)
        rows = [matrix[i, : i + 1] for i in range(start, stop)]
        handle.write(np.concatenate(rows).astype("<f4").tobytes())


def _read_gcta(prefix: Path) -> Kinship:
    grm, counts, id_file = _gcta_files(prefix)
    for path in (grm, id_file):
        require_file(path, "GCTA kinship file")
    from .tables import read_text

    lines = [line.split() for line in read_text(id_file).splitlines()
             if line.strip()]
    if not lines:
        raise InputError(f"GCTA file {id_file} lists no samples.")
    bad = next((number for number, fields in enumerate(lines, 1) if len(fields) < 2), None)
    if bad is not None:
        raise InputError(f"GCTA file {id_file} line {bad} needs two fields, FID and IID.")
    ids = pd.Index([fields[1] for fields in lines], name="iid")
    matrix = _read_triangle(grm, len(ids))
    if not np.isfinite(matrix).all():
        rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
        raise InputError(
            f"GCTA file {grm} has missing or infinite entries for samples "
            f"{ids[rows[:5]].tolist()}; rebuild the GRM without them."
        )
    n_variants = None
    if counts.is_file():
        n_variants = round(float(_read_triangle(counts, len(ids)).max()))
    return Kinship(ids, matrix, n_variants)


def _read_npz(path: Path) -> Kinship:
    require_file(path, "kinship file")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"matrix", "ids"} - set(data.files)
            if missing:
                raise InputError(
                    f"kinship file {path} lacks the arrays {sorted(missing)}; write it with "
                    "kinmix.io.write_kinship."
                )
            matrix = np.array(data["matrix"], dtype=np.float64)
            ids = pd.Index(data["ids"].astype(str), name="iid")
            count = int(data["n_variants"]) if "n_variants" in data.files else -1
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"kinship file {path} is not a readable .npz archive: {exc}") from exc
    _check_matrix(matrix, ids, path.name)
    return Kinship(ids, matrix, None if count < 0 else count)


def read_kinship(path: str | Path) -> Kinship:
    """Read a kinship matrix with its sample IDs.

    Parameters
    ----------
    path : str or Path
        ``*.npz`` (kinmix's format), or a GCTA binary GRM given by its prefix, ``PREFIX.grm``
        or ``PREFIX.grm.bin`` (``PREFIX.grm.id`` must exist; ``PREFIX.grm.N.bin`` is
        optional).

    Returns
    -------
    Kinship

    Raises
    ------
    kinmix.InputError
        If a file is missing, its size disagrees with the number of samples, an entry is
        not finite, the matrix is not square or symmetric, or IDs repeat.

    Notes
    -----
    A GCTA GRM is read and converted in blocks of rows: memory is the n × n float64 result
    plus one block.
    """
    path = Path(path)
    if path.suffix == ".npz":
        return _read_npz(path)
    kinship = _read_gcta(_gcta_prefix(path))
    _check_ids(kinship.ids, f"{_gcta_prefix(path)}.grm.id")
    return kinship


def _check_ids(ids: pd.Index, where: str) -> None:
    if ids.has_duplicates:
        repeated = ids[ids.duplicated()].unique().tolist()
        raise InputError(f"{where} repeats sample IDs {repeated[:5]} ({len(repeated)} in all).")


def _check_matrix(matrix: np.ndarray, ids: pd.Index, where: str) -> None:
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise InputError(f"{where}: the kinship must be a square matrix; shape {matrix.shape}.")
    if matrix.shape[0] != len(ids):
        raise InputError(
            f"{where}: the kinship has {matrix.shape[0]} rows but there are {len(ids)} IDs."
        )
    if not np.isfinite(matrix).all():
        raise InputError(f"{where}: the kinship has missing or infinite entries.")
    scale = max(float(np.abs(matrix).max(initial=0.0)), 1e-300)
    if np.abs(matrix - matrix.T).max(initial=0.0) > SYMMETRY_TOLERANCE * scale:
        raise InputError(f"{where}: the kinship is not symmetric.")
    _check_ids(ids, where)


def write_kinship(
    path: str | Path,
    matrix: np.ndarray,
    ids: Sequence[str],
    *,
    n_variants: int | None = None,
    fids: Sequence[str] | None = None,
) -> None:
    """Write a kinship matrix and its sample IDs, atomically.

    Parameters
    ----------
    path : str or Path
        ``*.npz`` for kinmix's format; otherwise a GCTA prefix (``PREFIX``, ``PREFIX.grm``
        or ``PREFIX.grm.bin``): writes ``.grm.bin``, ``.grm.id`` and, when ``n_variants``
        is given, ``.grm.N.bin`` (an older ``.grm.N.bin`` at that prefix is removed
        otherwise). GCTA's files hold float32, so values round to about 7 digits.
    matrix : ndarray, shape (n, n)
        Symmetric kinship.
    ids : sequence of str
        Sample IDs (IIDs) of the rows.
    n_variants : int, optional
        Number of variants the kinship was computed from.
    fids : sequence of str, optional
        Family IDs for GCTA's ``.grm.id``; the IIDs when not given.

    Raises
    ------
    kinmix.InputError
        If the matrix is not square, symmetric and finite, the IDs do not match its size
        or repeat, or the folder cannot be written.

    Notes
    -----
    Each file goes to a temporary name in its folder and is renamed into place once
    complete (see :func:`kinmix.checkpoint.write_atomically`).
    """
    path = Path(path)
    matrix = np.asarray(matrix, dtype=np.float64)
    ids = pd.Index(np.asarray(ids, dtype=str), name="iid")
    _check_matrix(matrix, ids, str(path))
    fids = ids if fids is None else pd.Index(np.asarray(fids, dtype=str))
    if len(fids) != len(ids):
        raise InputError(f"{path}: {len(fids)} family IDs for {len(ids)} samples.")
    try:
        if path.suffix == ".npz":
            arrays = {"matrix": matrix, "ids": ids.to_numpy(str), "fids": fids.to_numpy(str),
                      "n_variants": np.int64(-1 if n_variants is None else n_variants)}
            write_atomically(path, lambda tmp: _save_npz(tmp, arrays))
            return
        grm, counts, id_file = _gcta_files(_gcta_prefix(path))
        text = "".join(f"{fid}\t{iid}\n" for fid, iid in zip(fids, ids, strict=True))
        write_atomically(id_file, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        write_atomically(grm, lambda tmp: _save_triangle(tmp, matrix))
        if n_variants is None:
            counts.unlink(missing_ok=True)
        else:
            full = np.full_like(matrix, float(n_variants))
            write_atomically(counts, lambda tmp: _save_triangle(tmp, full))
    except OSError as exc:
        raise InputError(f"cannot write the kinship to {path}: {exc}") from exc


def _save_npz(tmp: Path, arrays: dict[str, np.ndarray]) -> None:
    with tmp.open("wb") as handle:
        np.savez(handle, **arrays)


def _save_triangle(tmp: Path, matrix: np.ndarray) -> None:
    with tmp.open("wb") as handle:
        _write_triangle(handle, matrix)
