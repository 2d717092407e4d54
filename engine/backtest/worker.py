"""``python -m engine.backtest.worker``: one ``greenlight backtest`` run in a process of its
own, for the bot's ``/backtest`` (``bot.backtest_jobs`` starts it and bounds its time).

It reads one JSON job from standard input::

    {"argv": [...greenlight backtest arguments...], "settings": {...}, "parent": PID}

runs exactly what ``greenlight backtest ARGV`` runs (:func:`engine.backtest.cli.execute`)
with the given settings (the bot's own, so the figures are those of the command it shows),
and writes JSON lines to standard output::

    {"progress": 0.42, "label": "BTCUSDT"}     as the run goes
    {"done": {...summary.json...}}             at the end, or
    {"error": "why"}                           on bad input (exit code 2)

Anything else the run might print goes to standard error, never into that protocol. The
process dies with the bot (Linux parent-death signal, checked against ``parent``) and runs at
a lower CPU priority, so the live processes keep theirs.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any, TextIO

from engine.backtest.cli import execute, parse_args
from engine.guards.news_calendar import CalendarError
from greenlight.core.candlefile import CandleFileError
from greenlight.core.settings import Settings
from greenlight.lifeline import set_parent_death_signal

NICENESS = 10
EXIT_BAD_INPUT = 2
EXIT_ORPHANED = 3


def _emit(out: TextIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message, default=str) + "\n")
    out.flush()


def _protocol_stream() -> TextIO:
    """The original stdout for the JSON lines; file descriptor 1 becomes stderr, so a stray
    ``print`` anywhere in the run cannot break the protocol."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def main() -> int:
    """Run the job on stdin; see the module docstring."""
    job = json.loads(sys.stdin.read())
    parent = int(job.get("parent", 0))
    set_parent_death_signal(signal.SIGKILL)
    if parent and os.getppid() != parent:  # the bot died before we could bind to it
        return EXIT_ORPHANED
    os.nice(NICENESS)
    out = _protocol_stream()
    settings = Settings.model_validate(job["settings"])
    args = parse_args([str(a) for a in job["argv"]])

    def progress(label: str, done: float) -> None:
        _emit(out, {"progress": round(done, 4), "label": label})

    try:
        figures = execute(args, settings, progress)
    except (CandleFileError, CalendarError, ValueError, OSError) as exc:
        _emit(out, {"error": str(exc)})
        return EXIT_BAD_INPUT
    _emit(out, {"done": figures})
    return 0


if __name__ == "__main__":
    sys.exit(main())
