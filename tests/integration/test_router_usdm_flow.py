"""USD-M bracket lifecycle through the router against a fake futures venue and a real DB."""

from __future__ import annotations

from decimal import Decimal as D

import asyncpg

from router import brackets
from router.core import Core
from router.killswitch import KillSwitch
from router.ledger import futures_figures
from router.markets.usdm import UsdmMarket
from router.reconcile import Reconciler
from router.usdm_service import on_algo
from router.venues.base import AlgoReport
from tests.fakes.router import deliver_usdm, usdm_core
from tests.fakes.venues import FakeSpot, FakeUsdm, btcusdt_rules
from tests.integration.router_support import decision_state
from tests.integration.router_usdm_support import insert_usdm_decision, usdm_bracket
from tests.symbol_rules import xrp_rules

RULES = xrp_rules()


def setup(pool: asyncpg.Pool, price: str = "1.0000") -> tuple[Core, FakeUsdm]:
    spot = FakeSpot(btcusdt_rules(), D(60000))
    fut = FakeUsdm(RULES, D(price))
    core = usdm_core(pool, spot, fut, leverage_cap=3)
    return core, fut


async def deliver(core: Core, fut: FakeUsdm) -> None:
    await deliver_usdm(core, fut)


def usdm_market(core: Core) -> UsdmMarket:
    market = core.market("usdm")
    assert isinstance(market, UsdmMarket)
    return market


async def legs(pool: asyncpg.Pool, d: int) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch("SELECT * FROM orders WHERE decision_id = $1", d)
    return {r["leg"]: r for r in rows}


LONG = usdm_bracket("BUY", "1.0000", "0.9800", ("1.0300", "1.0400", "1.0600"), "900")
SHORT = usdm_bracket("SELL", "1.0000", "1.0200", ("0.9700", "0.9600"), "600")


async def assert_closed_clean(pool: asyncpg.Pool, d: int, fut: FakeUsdm) -> None:
    row = await pool.fetchrow("SELECT * FROM decisions WHERE id = $1", d)
    assert row["state"] == "CLOSED" and row["closed_at"] is not None
    assert fut.open_algo_ids() == [] and fut.position == 0
    fills = await pool.fetch("SELECT * FROM fills WHERE decision_id = $1", d)
    expected = futures_figures(list(fills), long=row["side"] == "BUY")
    assert row["realized_pnl"] == expected.realized_pnl
    venue_pnl = sum(f.realized_pnl - f.commission for o in fut.orders.values() for f in o.fills)
    assert row["realized_pnl"] == venue_pnl  # our PnL equals the venue's rp minus fees
    pos = await pool.fetchrow("SELECT * FROM positions WHERE decision_id = $1", d)
    assert pos["state"] == "CLOSED" and pos["open_quantity"] == 0


async def test_long_entry_protect_tp_ladder_closes_and_cancels_stop(pool: asyncpg.Pool) -> None:
    core, fut = setup(pool)
    d = await insert_usdm_decision(pool, LONG)
    result = await brackets.route(core, d)
    assert result["accepted"] and result["decision"]["state"] == "OPEN"
    assert fut.calls[:2] == ["leverage 2", "margin ISOLATED"] and fut.position == D(900)
    got = await legs(pool, d)
    assert set(got) == {"E", "SL", "TP1", "TP2", "TP3"}
    assert got["E"]["market"] == "usdm" and got["E"]["status"] == "FILLED"
    assert got["SL"]["order_type"] == "STOP_MARKET" and got["SL"]["stop_price"] == D("0.98")
    assert fut.algos[f"gl-{d}-SL"].algo.close_position
    assert sum(got[f"TP{i}"]["quantity"] for i in (1, 2, 3)) == D(900)
    assert all(fut.algos[f"gl-{d}-TP{i}"].algo.reduce_only for i in (1, 2, 3))
    assert fut.open_algo_ids() == sorted(f"gl-{d}-{x}" for x in ("SL", "TP1", "TP2", "TP3"))
    await deliver(core, fut)
    for price in ("1.0300", "1.0400"):
        fut.move(D(price))
        await deliver(core, fut)
        assert await decision_state(pool, d) == "OPEN"
    assert fut.position == D(300) and f"gl-{d}-SL" in fut.open_algo_ids()
    fut.move(D("1.0600"))
    await deliver(core, fut)
    await assert_closed_clean(pool, d, fut)
    got = await legs(pool, d)
    assert got["SL"]["status"] == "CANCELED" and got["TP3"]["status"] == "FILLED"
    assert (await pool.fetchrow("SELECT realized_pnl FROM decisions WHERE id=$1", d))[0] > 0


async def test_short_stop_hit_cancels_take_profits(pool: asyncpg.Pool) -> None:
    core, fut = setup(pool)
    d = await insert_usdm_decision(pool, SHORT)
    await brackets.route(core, d)
    assert fut.position == D(-600)
    fut.move(D("0.9700"))  # TP1 takes half
    await deliver(core, fut)
    assert fut.position == D(-300)
    fut.move(D("1.0200"))  # the closePosition stop takes the rest
    await deliver(core, fut)
    await assert_closed_clean(pool, d, fut)
    got = await legs(pool, d)
    assert got["TP2"]["status"] == "CANCELED" and got["SL"]["status"] == "FILLED"


async def test_lost_entry_response_is_adopted_not_resent(pool: asyncpg.Pool) -> None:
    core, fut = setup(pool)
    d = await insert_usdm_decision(pool, LONG)
    fut.lose_responses = 1
    await brackets.route(core, d)
    assert fut.calls.count(f"gl-{d}-E") == 1 and fut.position == D(900)
    assert (await legs(pool, d))["E"]["status"] == "FILLED"
    assert len(fut.open_algo_ids()) == 4


async def test_stop_already_crossed_exits_at_market(pool: asyncpg.Pool) -> None:
    core, fut = setup(pool)
    d = await insert_usdm_decision(pool, LONG)
    fut.reject_with = None
    original = fut.place_algo

    async def crash_then_place(algo):  # type: ignore[no-untyped-def]
        if algo.order_type == "STOP_MARKET":
            fut.price = D("0.9700")  # the market fell through the stop before it rested
        return await original(algo)

    fut.place_algo = crash_then_place  # type: ignore[method-assign]
    await brackets.route(core, d)
    got = await legs(pool, d)
    assert got["SL"]["status"] == "REJECTED" and got["MSL"]["status"] == "FILLED"
    assert fut.position == 0
    await deliver(core, fut)
    await assert_closed_clean(pool, d, fut)


async def test_leverage_above_cap_fails_without_orders(pool: asyncpg.Pool) -> None:
    core, fut = setup(pool)
    d = await insert_usdm_decision(pool, usdm_bracket("BUY", "1", "0.98", ("1.03",), "900", 5))
    result = await brackets.route(core, d)
    assert result["decision"]["state"] == "FAILED" and "cap" in result["decision"]["failure_reason"]
    assert fut.calls == [] and await legs(pool, d) == {}


async def test_kill_flatten_closes_with_reduce_only_and_leaves_nothing(pool: asyncpg.Pool) -> None:
    core, fut = setup(pool)
    d = await insert_usdm_decision(pool, SHORT)
    await brackets.route(core, d)
    await deliver(core, fut)
    out = await KillSwitch(core).kill(True, "tester")
    assert out["live"] == [d]
    got = await legs(pool, d)
    assert got["X"]["side"] == "BUY" and got["X"]["status"] == "FILLED"
    await deliver(core, fut)
    await assert_closed_clean(pool, d, fut)


async def test_kill_without_flatten_keeps_protection(pool: asyncpg.Pool) -> None:
    core, fut = setup(pool)
    d = await insert_usdm_decision(pool, LONG)
    await brackets.route(core, d)
    await KillSwitch(core).kill(False, "tester")
    assert len(fut.open_algo_ids()) == 4 and await decision_state(pool, d) == "OPEN"


async def test_restart_mid_bracket_reconciles_missed_events(pool: asyncpg.Pool) -> None:
    core, fut = setup(pool)
    d = await insert_usdm_decision(pool, LONG)
    await brackets.route(core, d)
    fut.move(D("1.0300"))
    fut.move(D("0.9800"))  # TP1 then the stop while the router was down: events lost
    fut.events.clear()
    core2 = usdm_core(pool, FakeSpot(btcusdt_rules(), D(60000)), fut, leverage_cap=3)
    diffs = await Reconciler(core2).run()
    assert diffs >= 2
    await assert_closed_clean(pool, d, fut)
    alerts = await pool.fetch("SELECT text FROM alerts WHERE decision_id = $1", d)
    assert any("Reconciled" in a["text"] for a in alerts)


async def test_position_and_wallet_differences_are_alerted_not_overwritten(
    pool: asyncpg.Pool,
) -> None:
    core, fut = setup(pool)
    d = await insert_usdm_decision(pool, LONG)
    await brackets.route(core, d)
    await deliver(core, fut)
    rec = Reconciler(core)
    assert await rec.run() == 0  # first run records the wallet snapshot
    fut.position += D(100)  # someone traded by hand
    fut.wallet += D(50)  # a transfer in
    assert await rec.run() == 2
    texts = [r["text"] for r in await pool.fetch("SELECT text FROM alerts ORDER BY id")]
    assert any("USD-M position XRPUSDT: database 900, venue 1000" in t for t in texts)
    assert any("USD-M wallet" in t and "expected" in t for t in texts)
    pos = await pool.fetchrow("SELECT open_quantity FROM positions WHERE decision_id = $1", d)
    assert pos["open_quantity"] == D(900)
    assert await rec.run() == 1  # the position still differs; the wallet change alerted once


async def test_missing_entry_fills_never_look_flat(pool: asyncpg.Pool) -> None:
    core, fut = setup(pool)
    d = await insert_usdm_decision(pool, LONG)
    await brackets.route(core, d)  # USD-M responses carry no fills: they come from the stream
    assert await pool.fetchval("SELECT count(*) FROM fills WHERE decision_id = $1", d) == 0
    assert (await legs(pool, d))["TP3"]["quantity"] > 0 and len(fut.open_algo_ids()) == 4
    fut.move(D("1.0300"))
    events, fut.events = fut.events, []
    for ev in events:  # only the algo updates arrive; every ORDER_TRADE_UPDATE is lost
        if isinstance(ev, AlgoReport):
            await on_algo(core, usdm_market(core), ev)
    assert await decision_state(pool, d) == "OPEN"
    assert fut.open_algo_ids() == sorted(f"gl-{d}-{x}" for x in ("SL", "TP2", "TP3"))
    await Reconciler(core).run()  # fetches the trades the stream never delivered
    assert await pool.fetchval("SELECT count(*) FROM fills WHERE decision_id = $1", d) == 2
    got = await legs(pool, d)
    assert got["TP1"]["status"] == "FILLED"
    pos = await pool.fetchrow("SELECT open_quantity FROM positions WHERE decision_id = $1", d)
    assert pos["open_quantity"] == D(600) == fut.position
