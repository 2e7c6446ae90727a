r"""Figures of a scan and of a heritability fit, written as PNG files.

- :func:`manhattan`: :math:`-\log_{10} p` against genome position, chromosomes in
  alternating shades, a genome-wide significance line; one panel per trait;
- :func:`qq`: observed against expected :math:`-\log_{10} p` under the uniform null with
  a 95 % band, and the genomic inflation factor
  :math:`\lambda_{GC} = \operatorname{median}(\chi^2_1) / 0.4549` of each trait;
- :func:`h2_profile`: the (restricted) log-likelihood along :math:`h^2`.

matplotlib is imported when a figure is drawn (the ``plot`` extra); figures are drawn on
the non-interactive Agg canvas without pyplot, so no window or global state is involved.
Each file is written atomically.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .checkpoint import write_atomically
from .constants import CHI2_MEDIAN
from .errors import InputError

#: Resolution of the written images.
DPI = 120
#: Smallest p-value drawn when a table has no positive one.
P_FLOOR = 1e-300
#: Chromosome colours of the Manhattan plot (alternating) and trait colours of the QQ plot.
SHADES = ("#1f4e79", "#7aa6d6")
#: p-values above this are thinned in the scan plots; every smaller one is drawn.
THIN_ABOVE = 0.01
#: Most points drawn per trait among the p-values above :data:`THIN_ABOVE`.
BULK_POINTS = 20_000
#: Axis label of :math:`-\log_{10} p`, in plain text (mathtext would parse it with pyparsing,
#: imported for it, on every figure).
MINUS_LOG10_P = "\u2212log\u2081\u2080 p"
#: Cells per axis extent of the QQ plot's grid: of the points above :data:`THIN_ABOVE`,
#: one per cell is drawn (a cell is under half a pixel of the 5.5-inch plot at :data:`DPI`).
QQ_CELLS = 2048
#: Points of the QQ plot whose cells are found at a time (:func:`_qq_drawn`).
QQ_CHUNK = 1 << 16
TRAIT_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")


def _figure(width: float, height: float, rows: int = 1) -> tuple[Any, Any]:
    """A figure on the Agg canvas and its axes (matplotlib imported here)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise InputError('plots need matplotlib: pip install "kinmix[plot]"') from exc
    # fixed margins: a constrained layout measures every label first (a second per plot)
    figure = Figure(figsize=(width, height), dpi=DPI)
    figure.subplots_adjust(left=0.75 / width, right=1 - 0.15 / width, bottom=0.5 / height,
                           top=1 - 0.45 / height, hspace=0.45)
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 1, squeeze=False)[:, 0]
    return figure, axes


def _save(figure: Any, path: str | Path) -> Path:
    path = Path(path)
    try:
        write_atomically(path, lambda tmp: figure.savefig(tmp, format="png", dpi=DPI))
    except OSError as exc:
        raise InputError(f"cannot write the plot {path}: {exc}") from exc
    return path


def _check_table(table: pd.DataFrame, needed: tuple[str, ...]) -> pd.DataFrame:
    absent = [name for name in needed if name not in table.columns]
    if absent:
        raise InputError(
            f"the results table lacks the column(s) {absent} the plot needs; it has "
            f"{list(table.columns)}."
        )
    table = table[np.isfinite(pd.to_numeric(table["pvalue"], errors="coerce"))]
    if table.empty:
        raise InputError("the results table has no finite p-value to plot.")
    return table


def _traits(table: pd.DataFrame) -> list[tuple[str | None, pd.DataFrame]]:
    """(trait, rows) pairs in order of appearance, or one (None, table)."""
    if "trait" not in table.columns:
        return [(None, table)]
    return [(str(name), rows) for name, rows in table.groupby("trait", sort=False)]


def _chromosome_key(name: str) -> tuple[int, int, str]:
    """Sort key: numbered chromosomes numerically, then the others (X, Y, MT) by name."""
    digits = re.fullmatch(r"(?:chr)?(\d+)", name, flags=re.IGNORECASE)
    return (0, int(digits.group(1)), "") if digits else (1, 0, name)


def _minus_log10(p: np.ndarray, floor: float | None = None) -> np.ndarray:
    """:math:`-\\log_{10} p`, with p = 0 (an underflow) drawn at ``floor``, by default the
    smallest positive p."""
    p = np.asarray(p, dtype=float)
    if floor is None:
        positive = p[p > 0]
        floor = positive.min() if positive.size else P_FLOOR
    return -np.log10(np.clip(p, floor, 1.0))


def _drawn(p: np.ndarray) -> np.ndarray:
    """Mask of the points drawn: every p ≤ :data:`THIN_ABOVE` (and NaN), and of the larger
    ones an evenly spaced subset of at most :data:`BULK_POINTS`, the same for the same
    input (a genome of p-values would otherwise mean millions of markers that all land
    on the same few pixel rows)."""
    drawn = ~(p > THIN_ABOVE)
    bulk = np.flatnonzero(~drawn)
    if bulk.size:
        drawn[bulk[:: -(-bulk.size // BULK_POINTS)]] = True
    return drawn


def _qq_drawn(p: np.ndarray) -> np.ndarray:
    """Mask of the QQ points drawn of the sorted p-values ``p``: every p ≤
    :data:`THIN_ABOVE`, and of the larger ones the first in each cell of a grid of
    :data:`QQ_CELLS` × :data:`QQ_CELLS` over the trait's extent of expected and observed
    :math:`-\\log_{10} p` (the points are sorted on both axes, so the others fall in a
    drawn point's cell: under half a pixel away).

    The cells are found :data:`QQ_CHUNK` points at a time, so that the work arrays do not
    grow with the number of p-values (only the mask does).
    """
    m = p.shape[0]
    drawn = ~(p > THIN_ABOVE)
    positive = p[np.searchsorted(p, 0.0, side="right"):]  # sorted: the first is the least
    floor = positive[0] if positive.size else P_FLOOR
    x_scale = QQ_CELLS / _expected_minus_log10(np.arange(1, 2), m)[0]
    y_scale = QQ_CELLS / (_minus_log10(p[:1], floor)[0] or 1.0)
    previous: tuple[float, float] | None = None
    for start in range(0, m, QQ_CHUNK):
        stop = min(start + QQ_CHUNK, m)
        x = np.floor(_expected_minus_log10(np.arange(start + 1, stop + 1), m) * x_scale)
        y = np.floor(_minus_log10(p[start:stop], floor) * y_scale)
        new_cell = np.empty(stop - start, dtype=bool)
        new_cell[0] = previous is None or x[0] != previous[0] or y[0] != previous[1]
        new_cell[1:] = (x[1:] != x[:-1]) | (y[1:] != y[:-1])
        drawn[start:stop] |= new_cell
        previous = (x[-1], y[-1])
    return drawn


def _expected_minus_log10(rank: np.ndarray, m: int) -> np.ndarray:
    """Expected :math:`-\\log_{10} p` of the ``rank``-th smallest of m uniform p-values,
    :math:`-\\log_{10}((i - 1/2)/m)`."""
    return -np.log10((rank - 0.5) / m)


def manhattan(
    table: pd.DataFrame,
    path: str | Path,
    *,
    title: str | None = None,
    threshold: float = 5e-8,
) -> Path:
    r"""Draw a Manhattan plot of a scan's p-values.

    Parameters
    ----------
    table : DataFrame
        Columns ``chrom``, ``pos``, ``pvalue``, and optionally ``trait`` (one panel per
        trait, in order of appearance). Rows with a missing p-value are skipped; of the
        p-values above :data:`THIN_ABOVE` at most :data:`BULK_POINTS` evenly spaced ones
        per trait are drawn (every smaller one is).
    path : str or Path
        PNG file to write.
    title : str, optional
        Title above the figure.
    threshold : float
        Genome-wide significance level, drawn as a dashed line at
        :math:`-\log_{10}(\text{threshold})`.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    kinmix.InputError
        If a column is missing, no p-value is finite, ``threshold`` is not in (0, 1),
        matplotlib is absent, or the file cannot be written.
    """
    if not 0.0 < threshold < 1.0:
        raise InputError(f"threshold must lie in (0, 1), got {threshold}.")
    table = _check_table(table, ("chrom", "pos", "pvalue"))
    chrom = table["chrom"].astype(str)
    order = sorted(chrom.unique(), key=_chromosome_key)
    spans = table.assign(chrom=chrom).groupby("chrom")["pos"].agg(["min", "max"]).loc[order]
    lengths = (spans["max"] - spans["min"]).to_numpy(float)
    gap = 0.02 * max(lengths.sum(), 1.0)
    offsets = np.concatenate([[0.0], np.cumsum(lengths + gap)[:-1]]) - spans["min"].to_numpy()
    offset_of = dict(zip(order, offsets, strict=True))
    centres = offsets + spans["min"].to_numpy() + lengths / 2
    line = -np.log10(threshold)

    traits = _traits(table)
    figure, axes = _figure(11.0, 1.0 + 2.6 * len(traits), rows=len(traits))
    for axis, (trait, rows) in zip(axes, traits, strict=True):
        rows_chrom = rows["chrom"].astype(str)
        drawn = _drawn(rows["pvalue"].to_numpy(float))
        rows, rows_chrom = rows[drawn], rows_chrom[drawn]
        x = rows["pos"].to_numpy(float) + rows_chrom.map(offset_of).to_numpy(float)
        y = _minus_log10(rows["pvalue"])
        for k, name in enumerate(order):
            on = (rows_chrom == name).to_numpy()
            axis.plot(x[on], y[on], linestyle="none", marker="o", markersize=2.5,
                      color=SHADES[k % 2], rasterized=True)
        axis.axhline(line, color="#c0392b", linestyle="--", linewidth=1.2)
        axis.set_xticks(centres, order, fontsize=8)
        axis.set_xlim(-gap, offsets[-1] + spans["max"].iloc[-1] + gap)
        axis.set_ylim(0, max(float(y.max()), line) * 1.08)
        axis.set_ylabel(MINUS_LOG10_P)
        axis.spines[["top", "right"]].set_visible(False)
        if trait is not None:
            axis.set_title(trait, loc="left", fontsize=10)
    axes[-1].set_xlabel("chromosome")
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def genomic_inflation(pvalues: np.ndarray) -> float:
    r""":math:`\lambda_{GC}`: median of the p-values' :math:`\chi^2_1` quantiles over 0.4549.

    The quantile :math:`F^{-1}_{\chi^2_1}(1 - p)` decreases with p, so the median of the
    quantiles is the quantile of the middle p-value (the mean of the quantiles of the two
    middle ones for an even count): two evaluations of ``chdtri`` instead of one per
    p-value, with the same result.
    """
    from scipy.special import chdtri

    p = np.asarray(pvalues, dtype=float)
    p = p[np.isfinite(p)]
    if p.size == 0:
        return float("nan")
    middle = np.partition(p, [(p.size - 1) // 2, p.size // 2])[[(p.size - 1) // 2, p.size // 2]]
    return float(np.mean(chdtri(1, middle)) / CHI2_MEDIAN)


def qq(table: pd.DataFrame, path: str | Path, *, title: str | None = None) -> Path:
    r"""Draw a QQ plot of a scan's p-values with :math:`\lambda_{GC}` per trait.

    Parameters
    ----------
    table : DataFrame
        Column ``pvalue`` and optionally ``trait`` (one colour per trait).
    path : str or Path
        PNG file to write.
    title : str, optional
        Title of the axes.

    Returns
    -------
    Path
        ``path``.

    Notes
    -----
    For m p-values the i-th smallest is drawn against :math:`-\log_{10}((i - 1/2)/m)`; the
    grey band is the 95 % interval of the i-th uniform order statistic,
    :math:`\mathrm{Beta}(i, m - i + 1)`. Every p ≤ :data:`THIN_ABOVE` is drawn, and of the
    larger ones one per cell of a sub-pixel grid (:func:`_qq_drawn`; λGC uses all of them).

    Raises
    ------
    kinmix.InputError
        If ``pvalue`` is missing or has no finite value, matplotlib is absent, or the
        file cannot be written.
    """
    from scipy.special import betaincinv

    table = _check_table(table, ("pvalue",))
    figure, axes = _figure(5.5, 5.5)
    axis = axes[0]
    largest = 0.0
    for k, (trait, rows) in enumerate(_traits(table)):
        p = np.sort(rows["pvalue"].to_numpy(float))
        m = len(p)
        inflation = genomic_inflation(p)
        drawn = _qq_drawn(p)
        rank, p = np.flatnonzero(drawn) + 1, p[drawn]
        expected = _expected_minus_log10(rank, m)
        if k == 0:
            axis.fill_between(expected, -np.log10(betaincinv(rank, m - rank + 1, 0.975)),
                              -np.log10(betaincinv(rank, m - rank + 1, 0.025)),
                              color="#dddddd", linewidth=0, label="95% null band")
        label = f"λGC = {inflation:.3f}" if trait is None else f"{trait}: λGC = {inflation:.3f}"
        axis.plot(expected, _minus_log10(p), linestyle="none", marker="o", markersize=2.5,
                  color=TRAIT_COLOURS[k % len(TRAIT_COLOURS)], label=label, rasterized=True,
                  zorder=2)
        largest = max(largest, float(expected.max()))
    axis.plot([0, largest], [0, largest], color="black", linewidth=1, zorder=1.5)
    axis.set_xlabel(f"expected {MINUS_LOG10_P}")
    axis.set_ylabel(f"observed {MINUS_LOG10_P}")
    axis.legend(loc="upper left", frameon=False, fontsize=9)
    axis.spines[["top", "right"]].set_visible(False)
    if title:
        axis.set_title(title)
    return _save(figure, path)


def h2_profile(
    h2: np.ndarray,
    log_likelihood: np.ndarray,
    path: str | Path,
    *,
    estimate: float | None = None,
) -> Path:
    r"""Draw the log-likelihood profile of the heritability.

    Parameters
    ----------
    h2 : ndarray
        Grid of heritabilities in [0, 1].
    log_likelihood : ndarray
        The (restricted) log-likelihood at each grid point.
    path : str or Path
        PNG file to write.
    estimate : float, optional
        The fitted :math:`\hat h^2`, marked by a vertical line; the dotted horizontal line
        lies 1.92 (:math:`\chi^2_{1,0.95}/2`) below the profile's maximum, so the grid
        points above it form an approximate 95 % likelihood interval.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    kinmix.InputError
        If the arrays differ in length, have fewer than two finite points, or ``h2`` lies
        outside [0, 1]; if matplotlib is absent or the file cannot be written.
    """
    h2 = np.asarray(h2, dtype=float).ravel()
    log_likelihood = np.asarray(log_likelihood, dtype=float).ravel()
    if h2.shape != log_likelihood.shape:
        raise InputError(
            f"h2 has {h2.size} points but log_likelihood has {log_likelihood.size}."
        )
    finite = np.isfinite(h2) & np.isfinite(log_likelihood)
    if finite.sum() < 2:
        raise InputError("the h2 profile needs at least two finite points.")
    if h2[finite].min() < 0 or h2[finite].max() > 1:
        raise InputError("h2 grid values must lie in [0, 1].")
    order = np.argsort(h2[finite])
    x, y = h2[finite][order], log_likelihood[finite][order]
    figure, axes = _figure(6.0, 4.0)
    axis = axes[0]
    axis.plot(x, y, color=TRAIT_COLOURS[0], linewidth=1.5)
    axis.axhline(y.max() - 1.92, color="grey", linestyle=":", linewidth=1,
                 label="max − 1.92 (95% interval)")
    if estimate is not None:
        axis.axvline(estimate, color="#c0392b", linestyle="--", linewidth=1.2,
                     label=f"ĥ² = {estimate:.3f}")
    axis.set_xlim(0, 1)
    axis.set_xlabel("h²")
    axis.set_ylabel("log-likelihood")
    axis.legend(loc="best", frameon=False, fontsize=9)
    axis.spines[["top", "right"]].set_visible(False)
    return _save(figure, path)
