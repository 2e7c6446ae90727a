"""Manhattan, QQ and h² profile plots: valid PNG files of the expected size and content."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from kinmix import InputError, plot
from kinmix.plot import genomic_inflation, h2_profile, manhattan, qq

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def scan_table(seed=0, traits=None):
    rng = np.random.default_rng(seed)
    chrom = np.repeat(["1", "2", "10", "X"], 500)
    pos = np.tile(np.arange(1, 501) * 1000, 4)
    pvalue = rng.uniform(size=2000)
    pvalue[700:705] = [1e-12, 1e-9, 1e-10, 1e-20, 0.0]  # a peak on chromosome 2, one p = 0
    pvalue[42] = np.nan
    table = pd.DataFrame({"chrom": chrom, "pos": pos, "pvalue": pvalue})
    if traits:
        table = pd.concat(
            [scan_table(seed + k).assign(trait=name) for k, name in enumerate(traits)],
            ignore_index=True,
        )
    return table


def image(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return imread(path)


def has_colour(pixels, rgb, tolerance=0.06):
    return bool(np.any(np.all(np.abs(pixels[..., :3] - np.array(rgb)) < tolerance, axis=-1)))


def has_red(pixels):
    """Pixels of the significance / estimate line (#c0392b, blended by antialiasing)."""
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return int(np.sum((red > 0.7) & (green < 0.45) & (blue < 0.4)))


def test_manhattan__png_of_expected_size_with_threshold_line(tmp_path):
    out = manhattan(scan_table(), tmp_path / "manhattan.png", title="demo")
    assert out == tmp_path / "manhattan.png"
    pixels = image(out)
    assert pixels.shape[:2] == (432, 1320)  # 11 × 3.6 inches at 120 dpi
    assert has_red(pixels) > 300  # the dashed significance line spans the width
    assert has_colour(pixels, (0x1F / 255, 0x4E / 255, 0x79 / 255))  # chromosome shades
    assert has_colour(pixels, (0x7A / 255, 0xA6 / 255, 0xD6 / 255))
    assert [p.name for p in tmp_path.iterdir()] == ["manhattan.png"]


def test_manhattan__one_panel_per_trait(tmp_path):
    pixels = image(manhattan(scan_table(traits=["ldl", "hdl", "tg"]), tmp_path / "m.png"))
    assert pixels.shape[:2] == (1056, 1320)  # 11 × (1 + 3 × 2.6) inches


def test_qq__png_and_lambda(tmp_path):
    pixels = image(qq(scan_table(traits=["a", "b"]), tmp_path / "qq.png", title="QQ"))
    assert pixels.shape[:2] == (660, 660)
    assert has_colour(pixels, (0x1F / 255, 0x77 / 255, 0xB4 / 255))  # first trait
    assert has_colour(pixels, (0xD6 / 255, 0x27 / 255, 0x28 / 255))  # second trait
    rng = np.random.default_rng(1)
    assert abs(genomic_inflation(rng.uniform(size=20001)) - 1) < 0.05
    statistics = 1.3 * chi2.isf(rng.uniform(size=20001), 1)  # inflated by 1.3
    assert genomic_inflation(chi2.sf(statistics, 1)) == pytest.approx(
        np.median(statistics) / 0.454936423119572)
    assert abs(genomic_inflation(chi2.sf(statistics, 1)) - 1.3) < 0.06


def test_plots__thin_the_large_p_values_evenly_and_keep_every_small_one(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    p = rng.uniform(size=100_000)
    drawn = plot._drawn(p)
    assert drawn[p <= plot.THIN_ABOVE].all()
    bulk = np.flatnonzero(p > plot.THIN_ABOVE)
    kept = np.flatnonzero(drawn[bulk])
    step = -(-bulk.size // plot.BULK_POINTS)
    assert 0.9 * plot.BULK_POINTS < kept.size <= plot.BULK_POINTS
    np.testing.assert_array_equal(kept, np.arange(0, bulk.size, step))  # evenly spaced
    np.testing.assert_array_equal(plot._drawn(p.copy()), drawn)
    few = rng.uniform(size=500)
    assert plot._drawn(few).all()  # below the limit nothing is thinned
    # thinned plots still show the peak above the significance line and λGC of all rows
    monkeypatch.setattr(plot, "BULK_POINTS", 50)
    pixels = image(manhattan(scan_table(), tmp_path / "m.png"))
    assert has_red(pixels) > 300
    assert has_colour(pixels, (0x7A / 255, 0xA6 / 255, 0xD6 / 255))
    image(qq(scan_table(), tmp_path / "qq.png"))


def test_h2_profile__png(tmp_path):
    grid = np.linspace(0, 1, 51)
    loglik = -50 * (grid - 0.4) ** 2
    pixels = image(h2_profile(grid, loglik, tmp_path / "h2.png", estimate=0.4))
    assert pixels.shape[:2] == (480, 720)
    assert has_red(pixels) > 100  # the estimate line spans the height


def test_plots__errors(tmp_path):
    table = scan_table()
    with pytest.raises(InputError, match=r"lacks the column\(s\) \['pos'\]"):
        manhattan(table.drop(columns="pos"), tmp_path / "m.png")
    with pytest.raises(InputError, match="no finite p-value to plot"):
        qq(table.assign(pvalue=np.nan), tmp_path / "q.png")
    with pytest.raises(InputError, match=r"threshold must lie in \(0, 1\)"):
        manhattan(table, tmp_path / "m.png", threshold=0)
    with pytest.raises(InputError, match="h2 has 3 points but log_likelihood has 2"):
        h2_profile(np.zeros(3), np.zeros(2), tmp_path / "h.png")
    with pytest.raises(InputError, match="at least two finite points"):
        h2_profile(np.array([0.1, np.nan]), np.zeros(2), tmp_path / "h.png")
    with pytest.raises(InputError, match=r"must lie in \[0, 1\]"):
        h2_profile(np.array([0.1, 1.5]), np.zeros(2), tmp_path / "h.png")
    with pytest.raises(InputError, match="cannot write the plot"):
        qq(table, tmp_path / "absent" / "q.png")


@pytest.mark.parametrize("size", [1, 2, 7, 20_000, 20_001])
def test_genomic_inflation__equals_the_median_of_every_quantile(size):
    from scipy.special import chdtri

    rng = np.random.default_rng(size)
    p = rng.uniform(size=size) ** 1.5
    p[::5] = np.round(p[::5], 2)  # ties
    with_nan = np.concatenate([p, [np.nan, np.inf]])
    expected = np.median(chdtri(1, p)) / 0.454936423119572
    assert genomic_inflation(with_nan) == pytest.approx(expected, rel=1e-13)


def test_qq__draws_every_small_p_and_one_large_one_per_sub_pixel_cell():
    rng = np.random.default_rng(5)
    p = np.sort(rng.uniform(size=200_000))
    drawn = plot._qq_drawn(p)
    assert drawn[p <= plot.THIN_ABOVE].all() and drawn[0]
    m = p.size
    expected = -np.log10((np.arange(1, m + 1) - 0.5) / m)
    observed = -np.log10(p)
    cell_x = expected[0] / plot.QQ_CELLS
    cell_y = observed[0] / plot.QQ_CELLS
    # every point left out lies within one cell of the last drawn point before it
    last = np.maximum.accumulate(np.where(drawn, np.arange(m), 0))
    assert np.all(np.abs(expected - expected[last]) < cell_x)
    assert np.all(np.abs(observed - observed[last]) < cell_y)
    assert drawn.sum() < 2 * plot.QQ_CELLS + (p <= plot.THIN_ABOVE).sum()


def _qq_drawn_whole(p):
    """The QQ mask computed on whole arrays at once (the definition :func:`_qq_drawn`
    computes in chunks)."""
    m = p.size
    expected = -np.log10((np.arange(1, m + 1) - 0.5) / m)
    positive = p[p > 0]
    observed = -np.log10(np.clip(p, positive.min() if positive.size else 1e-300, 1.0))
    x = np.floor(expected * (plot.QQ_CELLS / expected[0]))
    y = np.floor(observed * (plot.QQ_CELLS / (observed[0] or 1.0)))
    new_cell = np.ones(m, dtype=bool)
    new_cell[1:] = (x[1:] != x[:-1]) | (y[1:] != y[:-1])
    return ~(p > plot.THIN_ABOVE) | new_cell


@pytest.mark.parametrize("size", [1, 2, 5_000, (1 << 16) - 1, 1 << 16, (1 << 16) + 1, 300_001])
def test_qq_drawn__in_chunks_equals_the_whole_array_mask(size):
    rng = np.random.default_rng(size)
    p = rng.uniform(size=size) ** 3
    p[::7] = np.round(p[::7], 3)  # ties, and zeros (underflows) among them
    p[: size // 50] = 0.0
    p = np.sort(p)
    drawn = plot._qq_drawn(p)
    np.testing.assert_array_equal(drawn, _qq_drawn_whole(p))
    assert drawn.dtype == bool and drawn.shape == p.shape


def test_qq_drawn__all_zero_or_all_one_p_values():
    for p in (np.zeros(70_000), np.ones(70_000)):
        drawn = plot._qq_drawn(p)
        np.testing.assert_array_equal(drawn, _qq_drawn_whole(p))
    # all p = 1: one row of cells, one point per column of the grid at most
    assert 1 < plot._qq_drawn(np.ones(70_000)).sum() <= plot.QQ_CELLS + 1
