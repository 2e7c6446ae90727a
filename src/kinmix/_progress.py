"""Progress on stderr: tqdm bars for library loops, a plain bar for the command line."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import TextIO, TypeVar

T = TypeVar("T")


def progress(iterable: Iterable[T], enabled: bool, desc: str) -> Iterable[T]:
    """``iterable`` wrapped in a tqdm bar when ``enabled`` and tqdm is installed."""
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, unit="block")


class ProgressLine:
    """One line of progress on ``stream``, rewritten in place at every :meth:`update`
    (a carriage return, the new text, blanks over what is left of the old one) and ended
    by :meth:`close`: an iterative fit reports as one line, however many steps it takes."""

    def __init__(self, stream: TextIO) -> None:
        self._stream, self._width = stream, 0

    def update(self, text: str) -> None:
        """Show ``text`` in place of the line's current text."""
        back = "\r" if self._width else ""
        self._stream.write(back + text + " " * max(self._width - len(text), 0))
        self._stream.flush()
        self._width = len(text)

    def close(self) -> None:
        """End the line (nothing was written if :meth:`update` never was called)."""
        if self._width:
            self._stream.write("\n")
            self._stream.flush()
            self._width = 0


class TerminalBar:
    """A one-line bar ``desc [#####.....] done/total`` redrawn on ``stream`` (a terminal).

    Call the instance with each increment of work; it redraws at most ten times a second
    and ends its line when the total is reached.
    """

    WIDTH = 30

    def __init__(self, desc: str, total: int, stream: TextIO) -> None:
        self._desc, self._total, self._stream = desc, max(int(total), 1), stream
        self._done, self._shown = 0, 0.0

    def __call__(self, increment: int) -> None:
        self._done = min(self._done + int(increment), self._total)
        now = time.monotonic()
        finished = self._done >= self._total
        if finished or now - self._shown > 0.1:
            self._shown = now
            filled = self.WIDTH * self._done // self._total
            bar = "#" * filled + "." * (self.WIDTH - filled)
            end = "\n" if finished else ""
            self._stream.write(f"\r{self._desc:>8} [{bar}] {self._done}/{self._total}{end}")
            self._stream.flush()


def terminal_progress(enabled: bool) -> Callable[[str, int], Callable[[int], None]] | None:
    """A factory of :class:`TerminalBar` on stderr, or None unless ``enabled`` and a TTY."""
    if not enabled or not sys.stderr.isatty():
        return None
    return lambda desc, total: TerminalBar(desc, total, sys.stderr)
