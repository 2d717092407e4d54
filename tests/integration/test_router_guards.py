"""Automatic kill-switch trips: daily drawdown from equity snapshots and stale candles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import asyncpg

from router import store
from router.core import Core
from router.guards import DAILY_DRAWDOWN_LIMIT, STALE_TIMEFRAMES, Guards
from router.killswitch import KillSwitch
from router.markets.spot import publish_equity
from router.markets.usdm import publish_usdm_equity
from tests.fakes.clock import FakeClock
from tests.fakes.router import spot_core
from tests.fakes.venues import FakeSpot, FakeUsdm, btcusdt_rules
from tests.symbol_rules import xrp_rules

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
TF_MS = 900_000


async def enabled_core(pool: asyncpg.Pool) -> tuple[Core, KillSwitch]:
    spot = FakeSpot(btcusdt_rules(), D(60000))
    core = spot_core(pool, spot)
    async with pool.acquire() as conn:
        await store.set_trading(conn, True, "tester")
    return core, KillSwitch(core)


def guards(pool: asyncpg.Pool, kill: KillSwitch, clock: FakeClock, live: bool = True) -> Guards:
    return Guards(
        pool,
        kill.trip,
        ("BTCUSDT",),
        "15m",
        TF_MS,
        use_received_at=True,
        live=lambda: live,
        clock=clock,
    )


async def kill_alerts(pool: asyncpg.Pool) -> list[str]:
    return [r["text"] for r in await pool.fetch("SELECT text FROM alerts WHERE kind = 'kill'")]


async def test_drawdown_from_usdm_equity_snapshots_trips_once(pool: asyncpg.Pool) -> None:
    _, kill = await enabled_core(pool)
    fut = FakeUsdm(xrp_rules(), D("1.0"), wallet=D(1000))
    clock = FakeClock(T0)
    g = guards(pool, kill, clock)
    await publish_usdm_equity(pool, fut)
    assert await g.check_once() == []  # first snapshot of the day is the opening equity
    fut.wallet = D(1000) * (1 - DAILY_DRAWDOWN_LIMIT) + D("0.01")
    await publish_usdm_equity(pool, fut)
    assert await g.check_once() == []
    fut.wallet = D(1000) * (1 - DAILY_DRAWDOWN_LIMIT)
    await publish_usdm_equity(pool, fut)
    tripped = await g.check_once()
    assert len(tripped) == 1 and "equity_quote_usdm" in tripped[0]
    async with pool.acquire() as conn:
        assert not await store.trading_enabled(conn)
    assert any("daily drawdown" in t for t in await kill_alerts(pool))
    assert await g.check_once() == []  # same episode: no second trip
    fut.now_ms += 86_400_000  # the venue's next day re-bases the opening equity
    await publish_usdm_equity(pool, fut)
    assert await g.check_once() == []
    opening = await pool.fetchval(
        "SELECT value FROM control WHERE key='equity_quote_usdm_day_open'"
    )
    assert D(opening["equity"]) == D(1000) * (1 - DAILY_DRAWDOWN_LIMIT)


async def insert_candle(pool: asyncpg.Pool, received: datetime) -> None:
    await pool.execute(
        "INSERT INTO candles (venue, symbol, tf, open_time, close_time, open, high, low, close,"
        " volume, received_at) VALUES ('sim', 'BTCUSDT', '15m', $1, $2, 1, 1, 1, 1, 1, $3)",
        1_546_300_800_000,
        1_546_300_800_000 + TF_MS - 1,
        received,
    )


async def test_stale_candles_trip_only_while_live(pool: asyncpg.Pool) -> None:
    _, kill = await enabled_core(pool)
    clock = FakeClock(T0)
    await insert_candle(pool, T0)
    clock.now = T0 + timedelta(milliseconds=STALE_TIMEFRAMES * TF_MS - 1000)
    assert await guards(pool, kill, clock).check_once() == []
    clock.now = T0 + timedelta(milliseconds=STALE_TIMEFRAMES * TF_MS + 1000)
    assert await guards(pool, kill, clock, live=False).check_once() == []
    async with pool.acquire() as conn:
        assert await store.trading_enabled(conn)
    tripped = await guards(pool, kill, clock).check_once()
    assert tripped and "stale market data" in tripped[0] and "BTCUSDT" in tripped[0]
    async with pool.acquire() as conn:
        assert not await store.trading_enabled(conn)
    assert any("stale market data" in t for t in await kill_alerts(pool))


class SpotWallet:
    """The account seam of a spot venue (balances and last price), trading at a given price
    with the venue's 0.1 % fee taken from what is received."""

    def __init__(self) -> None:
        self.assets = {"USDT": D(10000)}
        self.price = D(60000)
        self.now_ms = 1_796_515_200_000

    async def server_time(self) -> int:
        return self.now_ms

    async def balances(self) -> dict[str, D]:
        return dict(self.assets)

    async def last_price(self, symbol: str) -> D:
        assert symbol == "BTCUSDT"
        return self.price

    def buy(self, qty: D) -> None:
        self.assets["USDT"] -= qty * self.price
        self.assets["BTC"] = self.assets.get("BTC", D(0)) + qty * D("0.999")

    def sell_all(self) -> None:
        qty = self.assets.pop("BTC")
        self.assets["USDT"] += qty * self.price * D("0.999")


async def test_open_close_open_across_refreshes_never_trips(pool: asyncpg.Pool) -> None:
    """The figure the guard reads is one snapshot marked to market: buying 90 % of the
    account into BTC, selling it and buying again is never a drawdown, whenever the equity
    is refreshed and the guard runs."""
    _, kill = await enabled_core(pool)
    clock = FakeClock(T0)
    g = guards(pool, kill, clock, live=False)
    wallet = SpotWallet()
    await publish_equity(pool, wallet)
    assert await g.check_once() == []
    for step in range(3):
        wallet.buy(D("0.15"))
        assert await g.check_once() == []  # the guard before the refresh: old snapshot
        await publish_equity(pool, wallet)
        assert await g.check_once() == []
        wallet.price += D(50 * step)
        await publish_equity(pool, wallet)
        wallet.sell_all()
        await publish_equity(pool, wallet)
        assert await g.check_once() == []
    snap = await pool.fetchval("SELECT value FROM control WHERE key = 'account_spot'")
    assert snap["holdings"] == [] and D(snap["equity"]) > D(9950)
    async with pool.acquire() as conn:
        assert await store.trading_enabled(conn)


async def test_a_real_six_percent_drop_trips(pool: asyncpg.Pool) -> None:
    _, kill = await enabled_core(pool)
    clock = FakeClock(T0)
    g = guards(pool, kill, clock, live=False)
    wallet = SpotWallet()
    await publish_equity(pool, wallet)
    assert await g.check_once() == []
    wallet.buy(D("0.15"))  # 9,000 USDT into BTC
    wallet.price = D(56000)  # BTC falls 6.7 %: the account loses 6 % and a little fee
    await publish_equity(pool, wallet)
    tripped = await g.check_once()
    assert len(tripped) == 1 and "daily drawdown 6." in tripped[0]
    assert "on equity_quote (10000 → 9391." in tripped[0]
    snap = await pool.fetchval("SELECT value FROM control WHERE key = 'account_spot'")
    assert snap["holdings"][0]["symbol"] == "BTCUSDT" and snap["holdings"][0]["price"] == "56000"
    async with pool.acquire() as conn:
        assert not await store.trading_enabled(conn)
    assert any("daily drawdown" in t for t in await kill_alerts(pool))


async def test_days_are_the_venues_days(pool: asyncpg.Pool) -> None:
    """A replay runs a month of market in minutes: losses over several market days are not
    one day's drawdown, whatever the wall clock says."""
    _, kill = await enabled_core(pool)
    g = guards(pool, kill, FakeClock(T0), live=False)
    wallet = SpotWallet()
    for day in range(4):  # 3 % lost on each of four market days, within one wall-clock day
        wallet.now_ms = 1_796_515_200_000 + day * 86_400_000
        await publish_equity(pool, wallet)
        assert await g.check_once() == []
        wallet.assets["USDT"] *= D("0.97")
        await publish_equity(pool, wallet)
        assert await g.check_once() == []
    async with pool.acquire() as conn:
        assert await store.trading_enabled(conn)
