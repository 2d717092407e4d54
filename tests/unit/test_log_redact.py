"""Secrets never reach a log line, whichever logger writes it."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenlight import cli
from greenlight.core.log_redact import REDACTED, RedactSecrets, install_redaction
from greenlight.core.secrets import Secret

REPO = Path(__file__).resolve().parents[2]
TOKEN = "123456789:AAH-telegram-bot-token_xyz"
SECRETS = {
    "GREENLIGHT_TELEGRAM_TOKEN": Secret(TOKEN),
    "GREENLIGHT_BINANCE_API_SECRET": Secret("binance/secret+value=="),
    "GREENLIGHT_ROUTER_TOKEN": Secret("router-bearer-token"),
}


@pytest.fixture
def root_output() -> Iterator[io.StringIO]:
    """A root handler writing to a buffer; every filter installed meanwhile is removed."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root = logging.getLogger()
    before = {h: list(h.filters) for h in root.handlers}
    root.addHandler(handler)
    yield out
    root.removeHandler(handler)
    for h, filters in before.items():
        h.filters[:] = filters


def test_third_party_loggers_are_redacted(root_output: io.StringIO) -> None:
    install_redaction(SECRETS)
    url = f"https://api.telegram.org/bot{TOKEN}/getUpdates"
    logging.getLogger("httpx").warning('HTTP Request: POST %s "HTTP/1.1 502 Bad Gateway"', url)
    logging.getLogger("telegram.ext.Updater").error(f"Error page: <a href='{url}'>")
    logging.getLogger("telegram.request").error("%(url)s failed", {"url": url})
    logging.getLogger("aiohttp.client").warning("url %s", url.replace(":", "%3A"))
    logging.getLogger("router").warning("key %s sig %r", "ok", "binance/secret+value==")
    try:
        raise RuntimeError(f"connect to {url} refused; bearer router-bearer-token")
    except RuntimeError:
        logging.getLogger("telegram.ext.Application").exception("Network loop failed")
    text = root_output.getvalue()
    for secret in SECRETS.values():
        assert secret.value not in text
    assert "123456789%3AAAH" not in text
    assert text.count(REDACTED) >= 7
    assert "httpx: HTTP Request: POST https://api.telegram.org/bot<redacted>/getUpdates" in text
    assert "RuntimeError: connect to" in text  # the traceback is kept, only redacted


def test_records_without_secrets_are_untouched() -> None:
    redactor = RedactSecrets(["abc", "", "long-enough-secret"])  # too short: not redacted
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "n=%d abc %s", (3, "y"), None)
    assert redactor.filter(record)
    assert record.getMessage() == "n=3 abc y" and record.args == (3, "y")


def cli_settings(tmp_path: Path) -> Path:
    """Settings whose database is a closed loopback port: ``greenlight db migrate`` sets up
    logging, then fails fast."""
    path = tmp_path / "settings.toml"
    db = "postgresql://gl@127.0.0.1:1/none"
    path.write_text(f'[database]\nurl = "{db}"\n[logs]\ndir = "{tmp_path / "logs"}"\n')
    return path


def test_cli_installs_the_filter_on_every_root_handler(
    root_output: io.StringIO, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREENLIGHT_TELEGRAM_TOKEN", TOKEN)
    assert cli.main(["--settings", str(cli_settings(tmp_path)), "db", "migrate"]) == 2
    for handler in logging.getLogger().handlers:
        assert any(isinstance(f, RedactSecrets) for f in handler.filters)


def test_a_started_process_redacts_third_party_logs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENLIGHT_")}
    env["GREENLIGHT_TELEGRAM_TOKEN"] = TOKEN
    code = (
        "import logging, sys\n"
        "from greenlight import cli\n"
        "assert cli.main(['--settings', sys.argv[2], 'db', 'migrate']) == 2\n"
        "logging.getLogger('telegram.ext.Updater').error("
        "'Error while getting Updates: https://api.telegram.org/bot%s/getUpdates', sys.argv[1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, TOKEN, str(cli_settings(tmp_path))],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stderr.strip().splitlines()[-1])  # structlog JSON (greenlight.core.logs)
    assert line["logger"] == "telegram.ext.Updater"
    assert line["event"].startswith("Error while getting Updates")
    assert TOKEN not in done.stderr and "bot<redacted>/getUpdates" in done.stderr
