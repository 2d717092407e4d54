"""Shared rig and end-state checks for the router fault scenarios (no tests here).

One simulator (spot BTCUSDT + USD-M XRPUSDT) with the router process on top, a spot and a
futures client for checks, and the simulator's fault admin (``sim/README.md`` "Faults").
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

import aiohttp
import asyncpg

from greenlight.core.settings import GuardSettings
from router.client import RouterClient
from router.config import venue_config
from router.venues.binance_spot import BinanceSpot
from tests.helpers import eventually
from tests.integration.router_support import decision_state, insert_decision, make_bracket
from tests.integration.usdm_sim_rig import Rig, running_rig

SPOT = "BTCUSDT"
FUT = "XRPUSDT"


@dataclass
class FaultRig:
    """The usdm :class:`Rig` (router, futures client) plus a spot client."""

    r: Rig
    spot: BinanceSpot

    @property
    def pool(self) -> asyncpg.Pool:
        return self.r.pool

    @property
    def client(self) -> RouterClient:
        return self.r.client

    async def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST to ``/sim/admin/<path>``; the simulator must accept it."""
        url = f"{self.r.sim.base_url}/sim/admin/{path}"
        async with aiohttp.ClientSession() as http, http.post(url, json=body or {}) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def fault(self, **body: Any) -> None:
        """Set one fault (``POST /sim/admin/faults``)."""
        await self.admin("faults", body)

    async def spot_decision(
        self,
        down: str,
        up: tuple[str, ...],
        qty: str = "0.05",
        entry_type: str = "MARKET",
        above: str = "0",
        ttl_s: float = 600,
    ) -> int:
        """A long spot decision around the last price (``above``: entry offset fraction)."""
        p = D(str(await self.spot.last_price(SPOT)))
        q = D("0.01")
        entry = (p * (1 + D(above))).quantize(q)
        tps = tuple(str((p * (1 + D(u))).quantize(q)) for u in up)
        b = make_bracket(
            str(entry), str((p * (1 - D(down))).quantize(q)), tps, qty, entry_type=entry_type
        )
        return await insert_decision(self.pool, b, ttl_s=ttl_s)

    async def order_status(self, cid: str) -> str | None:
        status: str | None = await self.pool.fetchval(
            "SELECT status FROM orders WHERE client_order_id = $1", cid
        )
        return status

    async def wait_state(self, d: int, state: str, timeout: float = 20) -> None:
        async def reached() -> bool:
            return await decision_state(self.pool, d) == state

        await eventually(reached, timeout, f"#D-{d} {state}")


@contextlib.asynccontextmanager
async def fault_rig(
    db_url: str,
    pool: asyncpg.Pool,
    guards: GuardSettings | None = None,
    candles_per_second: float = 8.0,
    router: dict[str, Any] | None = None,
) -> AsyncIterator[FaultRig]:
    """Simulator + router (+ clients) with the given guard thresholds and router settings."""
    async with running_rig(
        db_url, pool, guards=guards, candles_per_second=candles_per_second, router=router
    ) as r:
        spot = BinanceSpot(venue_config(r.settings, {}))
        await spot.start()
        try:
            yield FaultRig(r, spot)
        finally:
            await spot.close()


async def no_duplicates(fr: FaultRig) -> Counter[str]:
    """Client ids of every order on the venue (spot orders + futures orders and algos), each
    seen exactly once; returns the counts."""
    ids = [o.client_order_id for o in await fr.spot.all_orders(SPOT)]
    ids += [o.client_order_id for o in await fr.r.venue.all_orders(FUT)]
    ids += [a.client_algo_id for a in await fr.r.venue.all_algos(FUT)]
    counts = Counter(i for i in ids if i.startswith("gl-"))
    dup = {k: v for k, v in counts.items() if v > 1}
    assert not dup, f"duplicate orders on the venue: {dup}"
    return counts


async def spot_stops(fr: FaultRig, d: int) -> D:
    """What the decision's working spot stops would sell."""
    stops = [
        o
        for o in await fr.spot.open_orders(SPOT)
        if o.client_order_id.startswith(f"gl-{d}-SL") and o.status == "NEW"
    ]
    return sum((o.orig_qty - o.executed_qty for o in stops), D(0))


async def spot_fully_protected(fr: FaultRig, d: int) -> bool:
    """Venue-held base == DB open position, and the stops cover it to the lot step."""
    held = (await fr.spot.balances()).get("BTC", D(0))
    ours = await fr.pool.fetchval(
        "SELECT coalesce(sum(open_quantity), 0) FROM positions WHERE market = 'spot'"
    )
    rules = await fr.spot.rules(SPOT)
    covered = await spot_stops(fr, d)
    return bool(held > 0 and held == ours and covered == rules.round_qty(held))


async def assert_spot_closed_clean(fr: FaultRig, d: int) -> None:
    """Flatten, then: CLOSED, nothing of ours resting, venue == DB, no duplicates."""
    await fr.client.kill(True, "tester")
    await fr.wait_state(d, "CLOSED")
    resting = [o.client_order_id for o in await fr.spot.open_orders(SPOT)]
    assert not [c for c in resting if c.startswith(f"gl-{d}-")], resting
    held = (await fr.spot.balances()).get("BTC", D(0))
    ours = await fr.pool.fetchval(
        "SELECT coalesce(sum(open_quantity), 0) FROM positions WHERE market = 'spot'"
    )
    assert held == ours
    rules = await fr.spot.rules(SPOT)
    assert rules.round_qty(held) == 0  # at most dust below one lot step
    await no_duplicates(fr)


async def alert_texts(fr: FaultRig, kind: str | None = None) -> list[str]:
    """Alert texts (of ``kind`` when given)."""
    rows = await fr.pool.fetch(
        "SELECT text FROM alerts WHERE $1::text IS NULL OR kind = $1 ORDER BY id", kind
    )
    return [r["text"] for r in rows]


async def ladder_covers_position(fr: FaultRig, d: int) -> bool:
    """One closePosition stop, and the reduce-only take-profits sum to the venue position,
    which equals the database's."""
    position = abs(await fr.r.venue_position())
    if position == 0 or position != abs(await fr.r.db_position()):
        return False
    algos = [a for a in await fr.r.venue.open_algos(FUT) if a.client_algo_id.startswith(f"gl-{d}-")]
    stops = [a for a in algos if a.order_type == "STOP_MARKET"]
    tps = [a for a in algos if a.order_type == "TAKE_PROFIT_MARKET"]
    return (
        len(stops) == 1
        and stops[0].close_position
        and sum((a.quantity for a in tps), D(0)) == position
    )
