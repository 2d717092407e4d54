"""One stream's path from a closed candle to a decision: persist → features → rule → bracket.

Each candle is handled in one transaction, so a crash leaves either all of a candle's rows or
none. Candles already processed (replays after a restart) are skipped by open time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg

from engine import store
from engine.contracts import Candle, SignalRaw
from engine.decision.bracket import BracketError, build_spot_bracket
from engine.decision.starter import StarterRule
from engine.features import FeatureEngine, FeatureParams
from engine.settings import Settings
from engine.symbols import SymbolRules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What processing one candle led to (for logs, metrics and tests)."""

    processed: bool
    signal: SignalRaw | None = None
    decision_id: int | None = None
    skipped_because: str | None = None


class StreamProcessor:
    """Owns the feature state and rule state of one (venue, symbol, tf) stream."""

    def __init__(self, settings: Settings, venue: str, rules: SymbolRules, tf: str) -> None:
        self._settings = settings
        self.venue = venue
        self.symbol = rules.symbol
        self.tf = tf
        self._rules = rules
        self._params = FeatureParams.from_settings(settings.strategy)
        self._features = FeatureEngine(self._params)
        self._rule = StarterRule(settings.strategy)
        self.last_open_time: int | None = None

    async def restore(self, conn: asyncpg.Connection) -> int | None:
        """Resume from persisted state; return the open time it resumes after (or None)."""
        saved = await store.load_feature_state(conn, self.venue, self.symbol, self.tf)
        if saved is None:
            return None
        self.last_open_time, blob = saved
        self._features = FeatureEngine.from_bytes(self._params, blob)
        self._rule.seed(await store.recent_macd_hist(conn, self.venue, self.symbol, self.tf))
        return self.last_open_time

    async def process(
        self, pool: asyncpg.Pool, candle: Candle, received_at: float, live: bool
    ) -> Outcome:
        """Handle one closed candle; decisions are only made for live candles."""
        if self.last_open_time is not None and candle.open_time <= self.last_open_time:
            return Outcome(processed=False, skipped_because="already processed")
        async with pool.acquire() as conn, conn.transaction():
            await store.insert_candle(conn, candle, received_at)
            values = self._features.update(
                candle.open_time,
                candle.open,
                candle.high,
                candle.low,
                candle.close,
                candle.volume,
            )
            await store.save_features(conn, candle, values, self._features.to_bytes())
            signal = self._rule.on_candle(candle, values)
            self.last_open_time = candle.open_time
            if signal is None:
                return Outcome(processed=True)
            if not live:
                return Outcome(True, signal, skipped_because="not a live candle")
            return await self._decide(conn, signal, received_at)

    async def _decide(
        self, conn: asyncpg.Connection, signal: SignalRaw, received_at: float
    ) -> Outcome:
        signal_id = await store.insert_signal(conn, signal)
        if signal_id is None:
            return Outcome(True, signal, skipped_because="signal already recorded")
        reason = await self._gate(conn)
        if reason:
            log.info("signal %s %s not taken: %s", self.symbol, signal.open_time, reason)
            return Outcome(True, signal, skipped_because=reason)
        equity = await store.equity_quote(conn)
        assert equity is not None  # checked by the gate
        try:
            bracket = build_spot_bracket(
                signal, self._rules, equity, self._settings.risk.risk_per_trade
            )
        except BracketError as exc:
            log.warning("signal %s %s cannot be sized: %s", self.symbol, signal.open_time, exc)
            return Outcome(True, signal, skipped_because=str(exc))
        did = await store.insert_decision(
            conn,
            signal_id,
            signal,
            bracket,
            self._settings.risk.decision_ttl_seconds,
            received_at,
        )
        return Outcome(True, signal, decision_id=did)

    async def _gate(self, conn: asyncpg.Connection) -> str | None:
        if not await store.trading_enabled(conn):
            return "trading is disabled (kill switch)"
        if await store.open_decisions(conn, self.venue, self.symbol) >= (
            self._settings.risk.max_open_positions
        ):
            return "a decision on this symbol is already pending or open"
        if await store.equity_quote(conn) is None:
            return "account equity unknown (router has not published it yet)"
        return None
