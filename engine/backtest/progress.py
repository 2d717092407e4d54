"""A one-line progress bar on stderr for ``greenlight backtest``: drawn only when stderr is a
terminal (or ``--progress`` forces it), redrawn in place with ``\\r`` and never written into
the output files."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

WIDTH = 30
Progress = Callable[[str, float], None]  # (what it is doing, done from 0 to 1)


def scaled(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    """``progress`` for one phase of a run: the phase's 0..1 drawn as ``lo``..``hi``."""
    if progress is None:
        return None
    outer = progress

    def inner(label: str, done: float) -> None:
        outer(label, lo + (hi - lo) * max(0.0, min(1.0, done)))

    return inner


def wanted(flag: bool | None, stream: TextIO | None = None) -> bool:
    """Whether to draw: ``flag`` when given (``--progress`` / ``--no-progress``), otherwise
    when ``stream`` (stderr by default) is attached to a terminal."""
    if flag is not None:
        return flag
    out = stream if stream is not None else sys.stderr
    return bool(getattr(out, "isatty", lambda: False)())


class ProgressBar:
    """``[#########---------]  45%  BTCUSDT`` redrawn in place; call :meth:`finish` at the end
    (prints the final newline)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._out = stream if stream is not None else sys.stderr
        self._last = -1
        self._width = 0

    def __call__(self, label: str, done: float) -> None:
        """Show ``done`` (0..1) with ``label``; redraws only when the percentage changes."""
        pct = max(0, min(100, int(done * 100)))
        if pct == self._last:
            return
        self._last = pct
        filled = pct * WIDTH // 100
        line = f"\r[{'#' * filled}{'-' * (WIDTH - filled)}] {pct:3d}%  {label}"
        pad = max(0, self._width - len(line))
        self._width = len(line)
        self._out.write(line + " " * pad)
        self._out.flush()

    def finish(self) -> None:
        """End the bar's line (nothing when nothing was drawn)."""
        if self._last >= 0:
            self._out.write("\n")
            self._out.flush()
