"""Secrets: from the environment or a 0600 secrets file, never from settings.toml.

The secrets file is ``KEY=value`` lines (``#`` comments allowed) using the same names as the
environment variables. Values are wrapped in :class:`Secret` so they never reach a log.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

SECRET_NAMES = frozenset(
    {
        "GREENLIGHT_BINANCE_API_KEY",
        "GREENLIGHT_BINANCE_API_SECRET",
        "GREENLIGHT_TELEGRAM_TOKEN",
        "GREENLIGHT_LINE_CHANNEL_SECRET",
        "GREENLIGHT_LINE_ACCESS_TOKEN",
        "GREENLIGHT_ROUTER_TOKEN",
    }
)

# Public credentials of the bundled simulator's demo account (documented in the README).
SIM_DEMO_API_KEY = "greenlight-demo-key"
SIM_DEMO_API_SECRET = "greenlight-demo-secret"


class SecretsError(ValueError):
    """A secrets file is unsafe or malformed."""


@dataclass(frozen=True)
class Secret:
    """A secret value whose repr never shows the value."""

    value: str

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


def load_secrets(env: dict[str, str] | None = None) -> dict[str, Secret]:
    """Collect secrets from ``GREENLIGHT_SECRETS_FILE`` (must be mode 0600) and the environment.

    Environment values win over the file.
    """
    environ = dict(os.environ if env is None else env)
    found: dict[str, Secret] = {}
    file = environ.get("GREENLIGHT_SECRETS_FILE")
    if file:
        path = Path(file)
        if not path.exists():
            raise SecretsError(f"secrets file {path} does not exist")
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise SecretsError(
                f"secrets file {path} has mode {mode:04o}; it must be 0600 (chmod 600 {path})"
            )
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            key, sep, value = text.partition("=")
            key = key.strip()
            if not sep or key not in SECRET_NAMES:
                raise SecretsError(
                    f"{path}:{lineno}: expected one of {', '.join(sorted(SECRET_NAMES))}=value"
                )
            found[key] = Secret(value.strip().strip('"'))
    for name in SECRET_NAMES:
        if environ.get(name):
            found[name] = Secret(environ[name])
    return found
