"""The command line's progress bar."""

from __future__ import annotations

import io

from kinmix._progress import ProgressLine, TerminalBar, terminal_progress


def test_terminal_bar_draws_progress_and_ends_its_line():
    stream = io.StringIO()
    bar = TerminalBar("scan", 10, stream)
    bar(4)
    bar(6)
    text = stream.getvalue()
    assert "scan [############" in text and text.endswith("10/10\n")


def test_no_bar_unless_enabled_and_a_terminal(monkeypatch):
    assert terminal_progress(False) is None
    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a TTY
    assert terminal_progress(True) is None


def test_progress_line__rewrites_one_line_in_place():
    stream = io.StringIO()
    line = ProgressLine(stream)
    line.close()
    assert stream.getvalue() == ""
    line.update("iteration 10: long")
    line.update("iteration 11")
    line.close()
    assert stream.getvalue() == "iteration 10: long\riteration 11      \n"
