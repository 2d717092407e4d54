"""Chart images for LINE: LINE's servers fetch image URLs over HTTPS, so the bot serves its
chart directory itself, under ``public_base_url`` (a TLS proxy in front of the bot's HTTP
port), with signed, expiring URLs: ``/line/img/<file>?e=<expiry>&s=<tag>``. Only files of the
chart directory, only with a valid tag, only until the expiry (by the bot's clock)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import shutil
from pathlib import Path
from urllib.parse import quote

from greenlight.core.clock import Clock, now_s

PREFIX = "/line/img"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,150}\.png")


class SignedImages:
    """Signs and checks image URLs for the files of one directory."""

    def __init__(
        self, key: bytes, directory: Path, public_base_url: str, ttl_s: int, clock: Clock
    ) -> None:
        if len(key) < 16:
            raise ValueError("image URL key must be at least 16 bytes")
        self._key = hmac.new(key, b"greenlight line images", hashlib.sha256).digest()
        self._dir = directory.resolve()
        self._base = public_base_url.rstrip("/")
        self._ttl = ttl_s
        self._clock = clock

    def _tag(self, name: str, expiry: int) -> str:
        mac = hmac.new(self._key, f"{name}|{expiry}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:18]).decode()

    def url(self, path: Path) -> str:
        """The public, signed URL of a chart file (which must be in the directory), valid for
        the TTL from now."""
        path = path.resolve()
        if path.parent != self._dir or not _NAME_RE.fullmatch(path.name):
            raise ValueError(f"{path} is not a chart of {self._dir}")
        expiry = int(now_s(self._clock) + self._ttl)
        name = quote(path.name)
        return f"{self._base}{PREFIX}/{name}?e={expiry}&s={self._tag(path.name, expiry)}"

    def publish(self, path: Path) -> Path:
        """``path`` itself when it is a chart of the directory; otherwise a copy made there
        (e.g. a backtest's ``equity.png``), named after its folder and file."""
        path = path.resolve()
        if path.parent == self._dir:
            return path
        name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{path.parent.name}-{path.name}")
        if not _NAME_RE.fullmatch(name):
            name = f"copy-{hashlib.sha256(str(path).encode()).hexdigest()[:24]}.png"
        copy = self._dir / name
        shutil.copyfile(path, copy)
        return copy

    def resolve(self, name: str, expiry: str, tag: str) -> Path | None:
        """The file a request may read, or ``None`` (bad name, tag, expiry, or no file)."""
        if not _NAME_RE.fullmatch(name) or not expiry.isdigit():
            return None
        if int(expiry) < now_s(self._clock):
            return None
        if not hmac.compare_digest(tag.encode(), self._tag(name, int(expiry)).encode()):
            return None
        path = self._dir / name
        return path if path.is_file() else None
