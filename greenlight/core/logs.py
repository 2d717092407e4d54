"""Log lines as structlog JSON, each carrying the ``trace_id`` of the decision it concerns.

Every record — ours through :mod:`logging`, third-party libraries', and structlog's own
loggers — goes through one :class:`structlog.stdlib.ProcessorFormatter`:

- on stderr: JSON lines, or human-readable key=value lines when stderr is a terminal
  (``logs.format = "auto"``), at ``logs.stderr_level`` (default ``general.log_level``);
- for the long-running processes, also ``<logs.dir>/<process>.jsonl`` (always JSON, rotated),
  which ``greenlight trace`` reads.

Chat never shares a stream with logs: the console channel writes to stdout, logs go to
stderr and the files. The secrets filter (:mod:`greenlight.core.log_redact`) sits on every handler,
and the rendered line is redacted once more, so a secret in a structlog field is caught too.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

from greenlight.core.log_redact import RedactSecrets, install_redaction
from greenlight.core.secrets import Secret
from greenlight.core.settings import REPO_ROOT, Settings

FILE_PROCESSES = ("engine", "router", "bot", "sim", "paper")
_MAX_BYTES = 20 * 1024 * 1024


def log_dir(settings: Settings) -> Path:
    """Where the per-process JSON log files are written."""
    return settings.resolve_path(settings.logs.dir) if settings.logs.dir else REPO_ROOT / "var/log"


def _dumps(obj: Any, **kw: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


class _RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """A ProcessorFormatter whose rendered line has every known secret removed."""

    def __init__(self, redactor: RedactSecrets, **kw: Any) -> None:
        super().__init__(**kw)
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        """Render, then redact the whole line."""
        return self._redactor.redact(super().format(record))


def _pre_chain(process: str) -> list[Any]:
    def add_process(_l: Any, _m: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("process", process)
        return event

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        add_process,
        structlog.stdlib.ExtraAdder(),
    ]


def _redact_values(redactor: RedactSecrets) -> Any:
    def redact(_l: Any, _m: str, event: dict[str, Any]) -> dict[str, Any]:
        return {k: redactor.redact(v) if isinstance(v, str) else v for k, v in event.items()}

    return redact


def _formatter(json_lines: bool, process: str, redactor: RedactSecrets) -> logging.Formatter:
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return _RedactingFormatter(
        redactor,
        foreign_pre_chain=_pre_chain(process),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def configure_logging(
    settings: Settings | None,
    process: str,
    secrets: Mapping[str, Secret],
    stderr: Any = None,
) -> None:
    """Install the stderr (and, for the long-running processes, file) handlers on the root
    logger, structlog on top of :mod:`logging`, and secret redaction on every handler."""
    stream = stderr or sys.stderr
    level = settings.general.log_level if settings else "INFO"
    fmt = settings.logs.format if settings else "auto"
    json_lines = fmt == "json" or (fmt == "auto" and not stream.isatty())
    redactor = RedactSecrets(s.value for s in secrets.values())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    out = logging.StreamHandler(stream)
    out.setFormatter(_formatter(json_lines, process, redactor))
    out.setLevel((settings.logs.stderr_level if settings else "") or level)
    root.addHandler(out)
    if settings is not None and process in FILE_PROCESSES:
        directory = log_dir(settings)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fh = logging.handlers.RotatingFileHandler(
                directory / f"{process}.jsonl", maxBytes=_MAX_BYTES, backupCount=3
            )
        except OSError as exc:
            root.warning("cannot write logs to %s (%s); stderr only", directory, exc)
        else:
            fh.setFormatter(_formatter(True, process, redactor))
            fh.setLevel(level)
            root.addHandler(fh)
    root.setLevel(min(h.level for h in root.handlers))
    # The scheduler logs every run of every job at INFO (several a minute): only its
    # warnings and errors (a missed or failed job) are news.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_pre_chain(process)[:-1],  # ExtraAdder is for stdlib records only
            _redact_values(redactor),  # before the handlers' filter sees the event dict
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    install_redaction(secrets)  # the filter on every root handler: third-party records too
