"""Keep secret values out of every log line.

:func:`install_redaction` puts a :class:`RedactSecrets` filter on the root logger's handlers.
A filter on a handler sees every record that handler writes, whichever logger made it —
including third-party ones (python-telegram-bot, httpx, aiohttp, asyncpg) that log request
URLs carrying a bot token, or error pages echoing them. The message, its arguments, the
formatted traceback and the stack are all redacted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from greenlight.core.secrets import Secret

REDACTED = "<redacted>"
_MIN_LEN = 4  # shorter values would shred ordinary text; no real credential is that short
_PLAIN = (int, float, bool, type(None))


def _variants(value: str) -> set[str]:
    """The value as written and as percent-encoded in a URL."""
    return {value, quote(value, safe=""), quote(value)}


class RedactSecrets(logging.Filter):
    """Replaces every known secret value in a record with ``<redacted>`` (never drops it)."""

    def __init__(self, values: Iterable[str]) -> None:
        super().__init__()
        found = {v for value in values if len(value) >= _MIN_LEN for v in _variants(value)}
        # Longest first, so a secret containing another is replaced whole.
        self._values = sorted(found, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every secret value replaced."""
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def _arg(self, arg: object) -> object:
        if isinstance(arg, _PLAIN):
            return arg
        text = arg if isinstance(arg, str) else str(arg)
        cleaned = self.redact(text)
        return arg if cleaned == text else cleaned

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; always keep it."""
        if not self._values:
            return True
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        elif record.msg is not None:  # an exception or other object logged as the message
            record.msg = self._arg(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {k: self._arg(v) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(self._arg(a) for a in record.args)
        try:
            message = record.getMessage()
        except Exception:  # a broken format: logging reports it itself
            message = ""
        if self.redact(message) != message:  # e.g. a secret split between format and args
            record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install_redaction(secrets: Mapping[str, Secret]) -> RedactSecrets:
    """Attach one :class:`RedactSecrets` for ``secrets`` to every root handler; return it.

    Call after the root handlers exist (after ``logging.basicConfig``).
    """
    redactor = RedactSecrets(s.value for s in secrets.values())
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    return redactor
