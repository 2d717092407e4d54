"""One stream's path from a closed candle to a decision:
persist → features → SMC → retest → regime → rule → gate (incl. regime) → bracket.

Each candle is handled in one transaction, so a crash leaves either all of a candle's rows or
none: the candle, its indicators, the step-function states of every stage, the SMC rows
(swings, structure events, zones and their ends), a regime change, the signals and the
decision. Candles already processed (replays after a restart) are skipped by open time.

With ``market.sub_timeframe`` a :class:`engine.sub_pipeline.SubStreamProcessor` is attached:
the micro structure breaks found inside a candle on the finer interval confirm retests
(``note_micro_bos``) before the candle is analysed.

``strategy.agent`` chooses whose signals become decisions (``starter`` or ``retest``); every
agent's signals on live candles are recorded in ``signals``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from decimal import Decimal

import asyncpg

from engine import store
from engine.analysis_stream import AnalysisParams, AnalysisStateError, StreamAnalysis
from engine.contracts import Bracket, Candle, Market, SignalRaw
from engine.decision.bracket import BracketError, build_spot_bracket
from engine.decision.commitment import uncommitted_equity
from engine.decision.futures import build_futures_bracket
from engine.decision.starter import AGENT as STARTER_AGENT
from engine.decision.starter import StarterRule
from engine.features import FeatureEngine, FeatureParams
from engine.regime.events import save_regimes
from engine.retest.analyzer import AGENT as RETEST_AGENT
from engine.settings import TIMEFRAMES_MS, Settings
from engine.smc.store import write_smc_rows
from engine.sub_pipeline import SubStreamProcessor
from engine.symbols import SymbolRules

log = logging.getLogger(__name__)

AGENTS = {"starter": STARTER_AGENT, "retest": RETEST_AGENT}
NO_ENTRY_REGIMES = frozenset({"SHOCK"})


@dataclass(frozen=True)
class Outcome:
    """What processing one candle led to (for logs, metrics and tests)."""

    processed: bool
    signal: SignalRaw | None = None
    decision_id: int | None = None
    skipped_because: str | None = None
    regime: str = ""
    micro: tuple[bool, bool] = (False, False)  # up / down micro-BOS inside the candle


class StreamProcessor:
    """Owns the feature, analysis and rule state of one (venue, symbol, tf) stream.

    Market-specific sizing lives in :meth:`build_bracket`; a futures stream overrides it."""

    def __init__(
        self,
        settings: Settings,
        venue: str,
        rules: SymbolRules,
        tf: str,
        market: Market = Market.SPOT,
    ) -> None:
        self._settings = settings
        self.venue = venue
        self.market = market
        self.symbol = rules.symbol
        self.tf = tf
        self.tf_ms = TIMEFRAMES_MS[tf]
        self._rules = rules
        self._params = FeatureParams.from_settings(settings.strategy)
        self._features = FeatureEngine(self._params)
        self._analysis_params = AnalysisParams.from_settings(settings)
        self._analysis = StreamAnalysis(self._analysis_params)
        self._rule = StarterRule(settings.strategy, shorts=market is Market.USDM)
        self.agent = AGENTS[settings.strategy.agent]
        self.regime = ""
        self.last_open_time: int | None = None
        self.sub: SubStreamProcessor | None = None

    def attach_sub(self, sub: SubStreamProcessor) -> None:
        """Confirm retests with the micro structure breaks of ``sub`` (same venue and symbol,
        finer timeframe); breaks of candles already processed are dropped."""
        if (sub.venue, sub.symbol, sub.parent_tf_ms) != (self.venue, self.symbol, self.tf_ms):
            raise ValueError(
                f"{sub.symbol} {sub.tf} is not a sub-stream of {self.symbol} {self.tf}"
            )
        self.sub = sub
        if self.last_open_time is not None:
            sub.discard_through(self.last_open_time)

    def _note_micro(self, open_time: int) -> tuple[bool, bool]:
        if self.sub is None:
            return False, False
        up, dn = self.sub.take_breaks(open_time)
        if up:
            self._analysis.retest.note_micro_bos(1)
        if dn:
            self._analysis.retest.note_micro_bos(-1)
        return up, dn

    async def restore(self, conn: asyncpg.Connection) -> int | None:
        """Resume from persisted state; return the open time it resumes after, or ``None``
        when there is no usable state (the caller warms up from history)."""
        saved = await store.load_feature_state(conn, self.venue, self.symbol, self.tf)
        if saved is None:
            return None
        last, blob, analysis = saved
        if analysis is None:
            log.warning("%s %s: no analysis state saved; warming up again", self.symbol, self.tf)
            return None
        try:
            self._analysis = StreamAnalysis.from_bytes(self._analysis_params, analysis)
        except AnalysisStateError as exc:
            log.warning("%s %s: %s; warming up again", self.symbol, self.tf, exc)
            self._analysis = StreamAnalysis(self._analysis_params)
            return None
        self._features = FeatureEngine.from_bytes(self._params, blob)
        self._rule.seed(await store.recent_macd_hist(conn, self.venue, self.symbol, self.tf))
        self.regime = self._analysis.regime_name
        self.last_open_time = last
        return last

    async def process(
        self, pool: asyncpg.Pool, candle: Candle, received_at: float, live: bool
    ) -> Outcome:
        """Handle one closed candle; decisions are only made for live candles."""
        if self.last_open_time is not None and candle.open_time <= self.last_open_time:
            return Outcome(processed=False, skipped_because="already processed")
        async with pool.acquire() as conn, conn.transaction():
            c = candle
            values = self._features.update(c.open_time, c.open, c.high, c.low, c.close, c.volume)
            micro = self._note_micro(c.open_time)
            step = self._analysis.step(c, values)
            self.regime = step.regime
            await store.save_candle_step(
                conn, c, received_at, values, self._features.to_bytes(), self._analysis.to_bytes()
            )
            await write_smc_rows(conn, self.venue, self.symbol, self.tf, step.smc_rows)
            if step.regime_event is not None:
                await save_regimes(conn, [step.regime_event])
            starter = self._rule.on_candle(c, values)
            self.last_open_time = c.open_time
            signals = [s for s in (starter, step.signal) if s is not None]
            chosen = next((s for s in signals if s.agent == self.agent), None)
            if not signals:
                return Outcome(processed=True, regime=self.regime, micro=micro)
            if not live:
                return Outcome(
                    True,
                    chosen,
                    skipped_because="not a live candle",
                    regime=self.regime,
                    micro=micro,
                )
            ids = {s.agent: await store.insert_signal(conn, s) for s in signals}
            if chosen is None:
                return Outcome(True, regime=self.regime, micro=micro)
            price = Decimal(repr(c.close))
            out = await self._decide(conn, chosen, ids[chosen.agent], received_at, price)
            return replace(out, micro=micro)

    async def _decide(
        self,
        conn: asyncpg.Connection,
        signal: SignalRaw,
        signal_id: int | None,
        received_at: float,
        price: Decimal,
    ) -> Outcome:
        if signal_id is None:
            return Outcome(True, signal, skipped_because="signal already recorded")
        reason = await self._gate(conn)
        bracket = None
        if reason is None:
            prices = {self.symbol: price}
            equity = await store.sizing_equity(conn, self.market.value, prices)
            assert equity is not None  # checked by the gate
            free = await uncommitted_equity(conn, self.market.value, equity)
            try:
                bracket = self.build_bracket(signal, free)
            except BracketError as exc:
                reason = f"cannot be sized: {exc} (equity {equity}, uncommitted {free})"
        if bracket is None:
            return await self._skip(conn, signal, signal_id, reason or "no bracket")
        did = await store.insert_decision(
            conn,
            signal_id,
            signal,
            bracket,
            self._settings.risk.decision_ttl_seconds,
            received_at,
            self.regime,
        )
        return Outcome(True, signal, decision_id=did, regime=self.regime)

    def build_bracket(self, signal: SignalRaw, equity: Decimal) -> Bracket:
        """Size the signal for this stream's market on ``equity`` (the uncommitted part of the
        account; spot: long-only, no leverage), fees at the stop included."""
        risk = self._settings.risk.risk_per_trade
        fee = self._settings.router.taker_fee_rate  # the router re-checks risk with it
        if self.market is Market.USDM:
            cap = self._settings.futures.leverage_cap
            return build_futures_bracket(signal, self._rules, equity, risk, cap, fee)
        return build_spot_bracket(signal, self._rules, equity, risk, fee_rate=fee)

    async def _skip(
        self, conn: asyncpg.Connection, signal: SignalRaw, signal_id: int, reason: str
    ) -> Outcome:
        """Record why a signal did not become a decision (audit log) and report it."""
        log.info("signal %s %s not taken: %s", self.symbol, signal.open_time, reason)
        detail = {
            "signal_id": signal_id,
            "agent": signal.agent,
            "symbol": self.symbol,
            "open_time": signal.open_time,
            "regime": self.regime or None,
            "reason": reason,
        }
        await store.audit(conn, "engine", "signal.skipped", None, detail)
        return Outcome(True, signal, skipped_because=reason, regime=self.regime)

    async def _gate(self, conn: asyncpg.Connection) -> str | None:
        if self.regime in NO_ENTRY_REGIMES:
            return f"regime {self.regime}: no new entries"
        if not await store.trading_enabled(conn):
            return "trading is disabled (kill switch)"
        if await store.open_decisions(conn, self.venue, self.symbol) >= (
            self._settings.risk.max_open_positions
        ):
            return "a decision on this symbol is already pending or open"
        if await store.equity_quote(conn, self.market.value) is None:
            return "account equity unknown (router has not published it yet)"
        return None
