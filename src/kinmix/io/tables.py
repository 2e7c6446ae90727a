r"""Phenotype and covariate tables keyed by sample ID, their design matrix, and alignment.

Three functions take a user's tables from disk to the rows a model sees:

- :func:`read_sample_table` reads one table (whitespace, TSV or CSV; PLINK style or with
  a header) into a float64 frame indexed by sample ID;
- :func:`align_samples` intersects the sample IDs of the genotypes and every table (and a
  kinship), in genotype order, and reports what it dropped and why;
- :func:`covariate_matrix` turns the aligned covariates into the design :math:`X`, adding
  an intercept unless the covariates already span the constant vector.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ._paths import read_bytes, require_file

#: Cell values read as missing in every table (compared exactly, after trimming spaces).
MISSING_TOKENS = frozenset({"", "NA", "na", "N/A", "nan", "NaN", "NAN", "."})
#: PLINK's missing phenotype code, read as missing in phenotype tables only.
PLINK_MISSING_PHENOTYPE = -9.0
#: Header names of the family and individual ID columns (case-insensitive, optional '#').
FID_NAMES = frozenset({"fid", "#fid"})
IID_NAMES = frozenset({"iid", "#iid"})
#: How many IDs an error message shows.
SHOWN_IDS = 5


def read_text(path: Path) -> str:
    """The text of a UTF-8 file, or an error naming the first byte that is not UTF-8."""
    data = read_bytes(path, "file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path} is not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} cannot be "
            "decoded. Save the file as UTF-8 (sample IDs and column names must be UTF-8)."
        ) from exc


def _split_lines(path: Path, text: str) -> tuple[list[int], list[list[str]]]:
    """Line numbers and fields of the non-blank lines, with the delimiter sniffed.

    A tab anywhere in the first non-blank line means TSV, else a comma means CSV, else
    fields are separated by runs of whitespace.
    """
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1)
             if line.strip()]
    if not lines:
        raise InputError(f"{path} is empty; it needs a sample ID column and value columns.")
    first = lines[0][1]
    numbers = [number for number, _ in lines]
    if "\t" in first or "," in first:
        delimiter = "\t" if "\t" in first else ","
        reader = csv.reader(io.StringIO("\n".join(line for _, line in lines)),
                            delimiter=delimiter)
        rows = [[cell.strip() for cell in row] for row in reader]
    else:
        rows = [line.split() for _, line in lines]
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        expected = len(rows[0])
        bad = next(i for i, row in enumerate(rows) if len(row) != expected)
        raise InputError(
            f"{path} line {numbers[bad]} has {len(rows[bad])} fields but line {numbers[0]} has "
            f"{expected}: every line needs the same columns (write missing values as NA)."
        )
    return numbers, rows


def _split_header(
    path: Path, rows: list[list[str]], kind: str, id_col: str | None
) -> tuple[list[str], int, list[int], bool]:
    """Column names, the ID column, the value columns and whether line one is a header."""
    first = rows[0]
    lowered = [name.lower() for name in first]
    if id_col is not None:
        if id_col not in first:
            raise InputError(
                f"{path} has no column {id_col!r} (id_col); its header is {first}."
            )
        id_index = first.index(id_col)
        skip = {id_index} | {i for i, name in enumerate(lowered) if name in FID_NAMES}
        header = True
        names = first
    elif lowered[0] in FID_NAMES | IID_NAMES:
        iid = [i for i, name in enumerate(lowered) if name in IID_NAMES]
        if not iid:
            raise InputError(
                f"{path} has a header starting with {first[0]!r} but no IID column; name the "
                "sample ID column IID or pass id_col."
            )
        id_index = iid[0]
        skip = {id_index} | {i for i, name in enumerate(lowered) if name in FID_NAMES}
        header = True
        names = first
    else:
        if len(first) < 3:
            raise InputError(
                f"{path} has no header, so it must be PLINK style (FID, IID, then values), "
                f"but line one has {len(first)} fields. Add a header naming the ID column "
                "(FID IID ... or pass id_col)."
            )
        id_index, skip, header = 1, {0, 1}, False
        names = ["FID", "IID", *(f"{kind}_{i}" for i in range(1, len(first) - 1))]
    values = [i for i in range(len(names)) if i not in skip]
    if not values:
        raise InputError(f"{path} has no value columns besides the sample IDs.")
    seen: set[str] = set()
    repeated = [names[i] for i in values if names[i] in seen or seen.add(names[i])]
    if repeated:
        raise InputError(f"{path} repeats column names {sorted(set(repeated))}.")
    return names, id_index, values, header


def _numeric_column(
    path: Path, name: str, cells: pd.Series, numbers: np.ndarray, kind: str
) -> np.ndarray:
    """A column of numbers with NaN for the missing tokens (and -9 for phenotypes)."""
    missing = cells.isin(MISSING_TOKENS).to_numpy()
    parsed = np.array(pd.to_numeric(cells.where(~missing, None), errors="coerce"), dtype=float)
    bad = np.flatnonzero(np.isnan(parsed) & ~missing)
    if len(bad):
        i = bad[0]
        hint = (
            "; if line 1 is a header, start it with FID IID or pass id_col"
            if numbers[i] == 1 else ""
        )
        raise InputError(
            f"{path}: column {name!r}, line {numbers[i]} has the non-numeric value "
            f"{cells.iloc[i]!r} ({len(bad)} such lines). Declare the column categorical "
            f"(--categorical {name}), fix the value, or write missing values as NA{hint}."
        )
    infinite = np.flatnonzero(np.isinf(parsed))
    if len(infinite):
        i = infinite[0]
        raise InputError(
            f"{path}: column {name!r}, line {numbers[i]} has the infinite value "
            f"{cells.iloc[i]!r} ({len(infinite)} such lines). Fix the value, or write a "
            "missing value as NA."
        )
    if kind == "phenotype":
        parsed[parsed == PLINK_MISSING_PHENOTYPE] = np.nan
    return parsed


def _level_order(levels: Sequence[str]) -> list[str]:
    """Levels sorted numerically when they are all numbers, else as text."""
    numeric = pd.to_numeric(pd.Series(list(levels), dtype=object), errors="coerce")
    if not numeric.isna().any():
        return [level for _, level in sorted(zip(numeric, levels, strict=True))]
    return sorted(levels)


def _one_hot(name: str, cells: pd.Series) -> pd.DataFrame:
    """Indicator columns ``name=level`` of every level but the first (the reference)."""
    missing = cells.isin(MISSING_TOKENS)
    levels = _level_order(cells[~missing].unique().tolist())
    columns = {}
    for level in levels[1:]:
        indicator = (cells == level).to_numpy(float)
        indicator[missing.to_numpy()] = np.nan
        columns[f"{name}={level}"] = indicator
    return pd.DataFrame(columns, index=cells.index)


def read_sample_table(
    path: str | Path,
    *,
    kind: str,
    id_col: str | None = None,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
) -> pd.DataFrame:
    """Read a phenotype or covariate table into a float64 frame indexed by sample ID.

    Parameters
    ----------
    path : str or Path
        A text file, UTF-8. The delimiter is sniffed from the first non-blank line: a tab
        means TSV, else a comma means CSV, else runs of whitespace. Accepted layouts:

        - PLINK style, no header: ``FID IID value...``; the value columns are named
          ``{kind}_1, {kind}_2, ...``;
        - a header whose first name is ``FID``, ``#FID``, ``IID`` or ``#IID``
          (case-insensitive): the sample ID is the ``IID`` column, ``FID`` is ignored;
        - a header with one named ID column given by ``id_col``.
    kind : str
        ``"phenotype"`` or ``"covariate"``; names the headerless columns, and in phenotype
        tables PLINK's ``-9`` is missing too.
    id_col : str, optional
        Name of the sample ID column of a table with a header.
    columns : sequence of str, optional
        Value columns to keep, in this order (names of the header, or ``{kind}_i``).
    categorical : sequence of str
        Columns holding categories: each becomes indicator columns ``COL=level`` for every
        level but the reference, the first level in sorted order (numeric order when all
        levels are numbers). A missing category is NaN in each indicator.

    Returns
    -------
    DataFrame
        Index ``iid`` (str, file order); float64 columns; NaN for ``NA``, ``nan``, an empty
        cell, ``.`` (and ``-9`` in phenotype tables).

    Raises
    ------
    kinmix.InputError
        If the file is missing, empty, not UTF-8, has ragged lines, repeats a column name
        or a sample ID; if ``id_col``, a ``columns`` entry or a ``categorical`` column does
        not exist (or is not among ``columns``); if a value of an undeclared column is not
        a number (the message names file, column, line and value).
    """
    path = Path(path)
    if kind not in ("phenotype", "covariate"):
        raise InputError(f"kind must be 'phenotype' or 'covariate', got {kind!r}.")
    require_file(path, f"{kind} file")
    numbers, rows = _split_lines(path, read_text(path))
    names, id_index, value_index, header = _split_header(path, rows, kind, id_col)
    if header:
        numbers, rows = numbers[1:], rows[1:]
    if not rows:
        raise InputError(f"{path} has a header but no samples.")
    cells = pd.DataFrame(rows, columns=range(len(names)), dtype=object)
    line_numbers = np.asarray(numbers)

    ids = cells[id_index].astype(str)
    empty = np.flatnonzero((ids == "").to_numpy())
    if len(empty):
        raise InputError(f"{path}: line {line_numbers[empty[0]]} has an empty sample ID.")
    repeated = ids[ids.duplicated()].unique().tolist()
    if repeated:
        raise InputError(
            f"{path} repeats sample IDs {repeated[:SHOWN_IDS]}"
            f"{' ...' if len(repeated) > SHOWN_IDS else ''} ({len(repeated)} in all); "
            "each sample must appear once."
        )

    available = [names[i] for i in value_index]
    if columns is not None:
        columns = list(columns)
        absent = [name for name in columns if name not in available]
        if absent:
            raise InputError(
                f"{path} has no column(s) {absent}; its {kind} columns are {available}."
            )
        value_index = [value_index[available.index(name)] for name in columns]
    selected = [names[i] for i in value_index]
    unknown = [name for name in categorical if name not in selected]
    if unknown:
        where = "selected columns" if columns is not None else "columns"
        raise InputError(
            f"{path}: categorical column(s) {unknown} are not among its {where} {selected}."
        )

    pieces = []
    for i in value_index:
        name = names[i]
        column = cells[i].astype(str)
        column.index = ids
        if name in categorical:
            pieces.append(_one_hot(name, column))
        else:
            values = _numeric_column(path, name, column, line_numbers, kind)
            pieces.append(pd.DataFrame({name: values}, index=ids))
    table = pd.concat(pieces, axis=1).astype(np.float64)
    table.index = pd.Index(ids.to_numpy(dtype=str), name="iid")
    return table


def covariate_matrix(covariates: pd.DataFrame | None, n: int) -> tuple[np.ndarray, list[str]]:
    r"""The fixed-effect design: the covariates, with an intercept unless they span it.

    Parameters
    ----------
    covariates : DataFrame or None
        Aligned covariates (n rows, no NaN), e.g. ``align_samples(...).values("covariate")``.
        None means the intercept alone.
    n : int
        Number of samples.

    Returns
    -------
    X : ndarray, shape (n, c)
        float64, C order: a column ``intercept`` of ones first, then the covariates. The
        intercept is left out when :math:`\mathbf 1` already lies in the column span of the
        covariates (a constant column, or indicators of every level of a category), judged
        by the residual of the least-squares fit of :math:`\mathbf 1` on the
        norm-scaled columns: :math:`\|r\| < 10^{-8}\sqrt n`.
    names : list of str
        The column names of ``X``.

    Raises
    ------
    kinmix.InputError
        If the row count is not n, a value is NaN or infinite, or the design is rank
        deficient (some columns are linear combinations of the others; the message names
        them).
    """
    if covariates is None:
        return np.ones((n, 1)), ["intercept"]
    names = [str(name) for name in covariates.columns]
    values = covariates.to_numpy(dtype=np.float64)
    if values.shape[0] != n:
        raise InputError(f"covariates have {values.shape[0]} rows but there are {n} samples.")
    if not np.isfinite(values).all():
        bad = [name for name, ok in zip(names, np.isfinite(values).all(axis=0), strict=True)
               if not ok]
        raise InputError(
            f"covariate column(s) {bad} have missing or infinite values; align the samples "
            "with complete=['covariate'] to drop those samples."
        )
    if values.shape[1] and _spans_constant(values):
        design, design_names = values, names
    else:
        design = np.column_stack([np.ones(n), values])
        design_names = ["intercept", *names]
    _check_full_rank(design, design_names)
    return np.ascontiguousarray(design), design_names


def _scaled(values: np.ndarray) -> np.ndarray:
    """Columns divided by their Euclidean norm (zero columns stay zero)."""
    norms = np.linalg.norm(values, axis=0)
    return values / np.where(norms > 0, norms, 1.0)


def _spans_constant(values: np.ndarray) -> bool:
    """Whether the vector of ones lies in the column span of ``values``."""
    ones = np.ones(values.shape[0])
    coef, *_ = np.linalg.lstsq(_scaled(values), ones, rcond=None)
    residual = ones - _scaled(values) @ coef
    return bool(np.linalg.norm(residual) < 1e-8 * np.sqrt(values.shape[0]))


def _check_full_rank(design: np.ndarray, names: list[str]) -> None:
    """Raise naming the redundant columns if ``design`` is rank deficient."""
    from scipy.linalg import qr

    n, c = design.shape
    if c > n:
        raise InputError(f"the design has {c} columns but only {n} samples.")
    _, r, pivots = qr(_scaled(design), mode="economic", pivoting=True)
    diagonal = np.abs(np.diag(r))
    rank = int(np.sum(diagonal > 1e-10 * max(diagonal[0], 1e-300)))
    if rank < c:
        redundant = [names[j] for j in pivots[rank:]]
        raise InputError(
            f"the covariates are collinear (rank {rank} < {c} columns): {redundant} are "
            f"linear combinations of the other columns of {names}. Drop them, or declare a "
            "category's indicators categorical so one level is the reference."
        )


@dataclass(frozen=True)
class SampleAlignment:
    """Samples kept by :func:`align_samples`, where they are, and what was dropped.

    Attributes
    ----------
    ids : Index
        Kept sample IDs, in genotype order.
    genotype_index : ndarray of int
        Positions of the kept samples in the genotype file (for ``Genotypes.read``).
    report : dict
        JSON-ready: ``{"genotypes": n, "kept": k, "dropped": {input: {reason: count}}}``.
        Reasons per input: ``"absent"`` (genotyped samples without a row there),
        ``"missing value"`` (genotyped samples whose row has a NaN, for inputs that must be
        complete) and ``"not genotyped"`` (its rows without genotypes). A sample missing from
        two inputs is counted under both.
    """

    ids: pd.Index
    genotype_index: np.ndarray
    report: dict
    _inputs: Mapping[str, pd.DataFrame | pd.Index] = field(repr=False, compare=False)

    def values(self, name: str) -> pd.DataFrame:
        """Input ``name``'s rows for :attr:`ids`, in that order (no columns for an Index)."""
        if name not in self._inputs:
            raise InputError(f"no input named {name!r}; the inputs are {sorted(self._inputs)}.")
        data = self._inputs[name]
        if isinstance(data, pd.Index):
            return pd.DataFrame(index=self.ids)
        return data.loc[self.ids]

    def positions(self, name: str) -> np.ndarray:
        """Positions of :attr:`ids` in input ``name``'s own order (e.g. to subset a kinship:
        ``K[np.ix_(p, p)]``)."""
        if name not in self._inputs:
            raise InputError(f"no input named {name!r}; the inputs are {sorted(self._inputs)}.")
        data = self._inputs[name]
        ids = data if isinstance(data, pd.Index) else data.index
        return ids.get_indexer(self.ids)


def _index_of(name: str, data: pd.DataFrame | pd.Index) -> pd.Index:
    """String IDs of an input, or an error naming its repeated IDs."""
    ids = data if isinstance(data, pd.Index) else data.index
    ids = pd.Index(np.asarray(ids, dtype=str))
    if ids.has_duplicates:
        repeated = ids[ids.duplicated()].unique().tolist()
        raise InputError(
            f"{name} repeats sample IDs {repeated[:SHOWN_IDS]}"
            f"{' ...' if len(repeated) > SHOWN_IDS else ''} ({len(repeated)} in all); "
            "each sample must appear once."
        )
    return ids


def align_samples(
    genotype_ids: Sequence[str],
    inputs: Mapping[str, pd.DataFrame | pd.Index],
    *,
    complete: Sequence[str] = (),
    genotype_source: str = "the genotype file",
) -> SampleAlignment:
    """Keep the samples present in the genotypes and every input, in genotype order.

    Parameters
    ----------
    genotype_ids : sequence of str
        Sample IDs of the genotype file, in file order.
    genotype_source : str
        How error messages name the genotypes (e.g. with their path).
    inputs : mapping of str to DataFrame or Index
        Named inputs keyed by sample ID: tables from :func:`read_sample_table` (indexed by
        ID) or a bare Index of IDs (e.g. a kinship's).
    complete : sequence of str
        Inputs whose rows must have no NaN (covariates, a kinship): a sample with a NaN
        there is dropped. Other inputs (phenotypes) keep their NaN.

    Returns
    -------
    SampleAlignment

    Raises
    ------
    kinmix.InputError
        If an input or the genotypes repeat an ID (naming them), ``complete`` names an
        unknown input, or no sample is left (showing a few IDs of each input).
    """
    genotypes = _index_of(genotype_source, pd.Index(np.asarray(genotype_ids, dtype=str)))
    unknown = [name for name in complete if name not in inputs]
    if unknown:
        raise InputError(f"complete= names {unknown}, which are not inputs {sorted(inputs)}.")
    keep = np.ones(len(genotypes), dtype=bool)
    dropped: dict[str, dict[str, int]] = {}
    shown = {"genotypes": genotypes[:SHOWN_IDS].tolist()}
    for name, data in inputs.items():
        ids = _index_of(name, data)
        shown[name] = ids[:SHOWN_IDS].tolist()
        present = genotypes.isin(ids)
        reasons = {
            "absent": int(np.sum(~present)),
            "not genotyped": int(np.sum(~ids.isin(genotypes))),
        }
        if name in complete and not isinstance(data, pd.Index):
            rows = data.set_axis(ids).reindex(genotypes[present])
            has_nan = rows.isna().to_numpy().any(axis=1)
            incomplete = np.zeros(len(genotypes), dtype=bool)
            incomplete[np.flatnonzero(present)[has_nan]] = True
            reasons["missing value"] = int(incomplete.sum())
            present &= ~incomplete
        keep &= present
        dropped[name] = reasons
    if not keep.any():
        listing = "; ".join(f"{name}: {ids}" for name, ids in shown.items())
        raise InputError(
            "no sample is in the genotypes and every input (with complete values where "
            f"required); the IDs must be the genotypes' IIDs. First IDs of each: {listing}."
        )
    genotype_index = np.flatnonzero(keep)
    ids = pd.Index(genotypes[genotype_index], name="iid")
    report = {"genotypes": len(genotypes), "kept": len(ids), "dropped": dropped}
    normalized = {
        name: (_index_of(name, data) if isinstance(data, pd.Index)
               else data.set_axis(_index_of(name, data)))
        for name, data in inputs.items()
    }
    return SampleAlignment(ids, genotype_index, report, normalized)
