"""Atomic writes, fingerprints and the checkpoint store."""

from __future__ import annotations

import pytest

from kinmix.checkpoint import write_atomically


def test_write_atomically__replaces_whole_or_leaves_the_old_file(tmp_path):
    target = tmp_path / "result.tsv"
    write_atomically(target, lambda tmp: tmp.write_text("first\n"))
    assert target.read_text() == "first\n"

    def failing(tmp):
        tmp.write_text("half of a fil")
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError, match="killed while writing"):
        write_atomically(target, failing)
    assert target.read_text() == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["result.tsv"]  # no temporary left
    with pytest.raises(RuntimeError, match="killed while writing"):
        write_atomically(tmp_path / "new.tsv", failing)
    assert not (tmp_path / "new.tsv").exists()
    write_atomically(target, lambda tmp: tmp.write_text("second\n"))
    assert target.read_text() == "second\n"
