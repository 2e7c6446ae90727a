"""The command line's progress bar."""

from __future__ import annotations

import io

from kinmix._progress import TerminalBar, terminal_progress


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
