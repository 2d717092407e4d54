"""The decision stage of one stream: a chosen agent's signal becomes a sized, PENDING decision
unless something says no, and the first thing that does is recorded with its category.

In order: the guards (``news``, ``funding``, ``vol``; a bypassed guard does not block), the
kill switch (``kill``), a known equity (``equity``), one decision per setup (``setup``), the
round-trip costs against R (``cost``), the exposure limits (``exposure``: open decisions on
the symbol, open risk per symbol and in total, the day's realized loss), and whether the
venue's filters allow a size at all (``size``). Each refusal is an audit row
``signal.skipped`` with ``category`` and ``reason``; reports count them by category.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from engine import store
from engine.decision.bracket import BracketError, build_spot_bracket
from engine.decision.commitment import uncommitted_equity
from engine.decision.costs import Costs, cost_refusal
from engine.decision.exposure import exposure_refusal
from engine.decision.futures import build_futures_bracket
from engine.guards.hub import blocking
from engine.guards.verdict import LABELS, Verdict, guard_line
from greenlight.core import store as core_store
from greenlight.core.contracts import Bracket, Market, SignalRaw
from greenlight.core.settings import Settings
from greenlight.core.symbols import SymbolRules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Skip:
    """Why a signal did not become a decision: a category and the words for people."""

    category: str
    reason: str


def guards_json(verdicts: dict[str, Verdict], now_ms: int, regime: str) -> dict[str, Any]:
    """The guard verdicts stored with a decision (the confirmation's guard line)."""
    line = guard_line(verdicts, now_ms)
    return {
        "line": f"{line} · regime {regime or 'n/a'}",
        "at_ms": now_ms,
        "verdicts": {
            n: {
                "state": v.state,
                "blocking": v.blocking,
                "reason": v.reason,
                "note": v.note,
                "until": v.until_ms,
            }
            for n, v in verdicts.items()
        },
    }


class Decider:
    """Sizing and gating for one (venue, symbol, tf) stream."""

    def __init__(
        self, settings: Settings, venue: str, market: Market, rules: SymbolRules, tf_ms: int
    ) -> None:
        self.settings = settings
        self.venue = venue
        self.market = market
        self.rules = rules
        self.tf_ms = tf_ms
        self.costs = Costs.from_settings(settings)

    def build_bracket(self, signal: SignalRaw, equity: Decimal) -> Bracket:
        """Size the signal for this stream's market on ``equity`` (the uncommitted part of
        the account; spot: long-only, no leverage), fees and slippage at the stop included."""
        risk = self.settings.risk.risk_per_trade
        fee, slip = self.costs.fee_rate, self.costs.slippage_rate
        if self.market is Market.USDM:
            cap = self.settings.futures.leverage_cap
            return build_futures_bracket(signal, self.rules, equity, risk, cap, fee, slip)
        return build_spot_bracket(
            signal, self.rules, equity, risk, fee_rate=fee, slippage_rate=slip
        )

    def ttl_seconds(self, signal: SignalRaw) -> int:
        """The signal's ``ttl_bars`` as time, capped by ``risk.decision_ttl_seconds``."""
        bars = max(1, signal.ttl_bars) * self.tf_ms // 1000
        return int(min(bars, self.settings.risk.decision_ttl_seconds))

    async def gate(
        self, conn: asyncpg.Connection, signal: SignalRaw, verdicts: dict[str, Verdict]
    ) -> Skip | None:
        """The checks that need no sizing: guards, kill switch, equity, setup, costs."""
        v = blocking(verdicts)
        if v is not None:
            note = f" ({v.note})" if v.note else ""
            return Skip(v.guard, f"{LABELS[v.guard]} {v.state}: {v.reason}{note}")
        if not await store.trading_enabled(conn):
            return Skip("kill", "trading is disabled (kill switch)")
        if await core_store.equity_quote(conn, self.market.value) is None:
            return Skip("equity", "account equity unknown (router has not published it yet)")
        if signal.setup is not None and await conn.fetchval(
            "SELECT 1 FROM decisions WHERE venue = $1 AND symbol = $2 AND tf = $3"
            " AND signal->>'agent' = $4 AND (signal->>'setup')::bigint = $5",
            self.venue,
            signal.symbol,
            signal.tf,
            signal.agent,
            signal.setup,
        ):
            return Skip("setup", f"setup {signal.setup} already has a decision")
        limit = self.settings.risk.max_cost_fraction_of_r
        why = cost_refusal(signal.entry_hint, signal.sl_hint, self.costs, limit)
        if why is not None:
            return Skip("cost", why)
        if await store.open_decisions(conn, self.venue, signal.symbol) >= (
            self.settings.risk.max_open_positions
        ):
            return Skip("exposure", "a decision on this symbol is already pending or open")
        return None

    async def decide(
        self,
        conn: asyncpg.Connection,
        signal: SignalRaw,
        signal_id: int,
        received_at: float,
        price: Decimal,
        now_ms: int,
        verdicts: dict[str, Verdict],
        regime: str,
    ) -> tuple[int | None, Skip | None]:
        """Write the decision (its id) or record and return why not; ``price`` is the
        candle's close (the equity is marked at it), ``now_ms`` the venue time it closed."""
        skip = await self.gate(conn, signal, verdicts)
        bracket = None
        if skip is None:
            equity = await store.sizing_equity(conn, self.market.value, {signal.symbol: price})
            assert equity is not None  # checked by the gate
            free = await uncommitted_equity(conn, self.market.value, equity)
            try:
                bracket = self.build_bracket(signal, free)
            except BracketError as exc:
                skip = Skip("size", f"cannot be sized: {exc} (equity {equity}, uncommitted {free})")
            else:
                why = await exposure_refusal(
                    conn,
                    self.settings.risk,
                    self.market.value,
                    self.venue,
                    signal.symbol,
                    equity,
                    bracket.risk_quote,
                    now_ms,
                )
                if why is not None:
                    skip = Skip("exposure", why)
        if skip is not None or bracket is None:
            skip = skip or Skip("size", "no bracket")
            await self.record_skip(conn, signal, signal_id, skip, regime)
            return None, skip
        did = await store.insert_decision(
            conn,
            signal_id,
            signal,
            bracket,
            self.ttl_seconds(signal),
            received_at,
            regime,
            guards_json(verdicts, now_ms, regime),
        )
        return did, None

    async def record_skip(
        self,
        conn: asyncpg.Connection,
        signal: SignalRaw,
        signal_id: int | None,
        skip: Skip,
        regime: str,
    ) -> None:
        """Record why a signal did not become a decision (audit log)."""
        log.info(
            "signal %s %s not taken (%s): %s",
            signal.symbol,
            signal.open_time,
            skip.category,
            skip.reason,
        )
        detail = {
            "signal_id": signal_id,
            "agent": signal.agent,
            "symbol": signal.symbol,
            "open_time": signal.open_time,
            "regime": regime or None,
            "category": skip.category,
            "reason": skip.reason,
        }
        await core_store.audit(conn, "engine", "signal.skipped", None, detail)
