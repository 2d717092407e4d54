"""One stream's path from a closed candle to a decision:
persist → features → SMC → retest → regime → agents → guards → decision (costs, exposure).

Each candle is handled in one transaction, so a crash leaves either all of a candle's rows or
none: the candle, its indicators, the step-function states of every stage and agent, the SMC
rows (swings, structure events, zones and their ends), a regime change, the guards' changed
verdicts, the signals and the decision. A candle is first advanced in memory
(:meth:`StreamProcessor.advance`), then written and concluded in a transaction
(:func:`commit_steps`) — its own (:meth:`StreamProcessor.process`), or in the engine the one
of every stream closing on the same instant (:mod:`engine.candle_batch`). Candles already
processed (replays after a restart) are skipped by open time.

With ``market.sub_timeframe`` a :class:`engine.sub_pipeline.SubStreamProcessor` is attached:
the micro structure breaks found inside a candle on the finer interval confirm retests
(``note_micro_bos``) before the candle is analysed.

Every agent plugin (:mod:`engine.agents`) sees every candle; their signals on live candles
are recorded in ``signals``, and ``strategy.agent`` chooses whose become decisions
(:mod:`engine.decision.decide`). Guards are judged at the candle's close on the venue's
clock, never the wall clock: the same candles give the same decisions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from engine import store
from engine.agents.base import BarContext
from engine.agents.registry import AgentSet, StreamAgents, by_name, load_agents
from engine.analysis_stream import AnalysisParams, AnalysisStateError, StreamAnalysis
from engine.decision.decide import Decider
from engine.events import Candle
from engine.features import FeatureEngine, FeatureParams
from engine.guards import vol as V
from engine.guards.hub import GuardHub, StreamGuards
from engine.guards.news_calendar import symbol_assets
from engine.guards.verdict import Verdict
from engine.state_patch import apply_patch, base_crc, make_patch, patch_limit
from engine.step_store import CandleStep, SubStep, write_steps, write_verdicts
from engine.sub_pipeline import SubStreamProcessor
from greenlight.core import store as core_store
from greenlight.core.contracts import Bracket, Market, SignalRaw
from greenlight.core.settings import TIMEFRAMES_MS, Settings
from greenlight.core.symbols import SymbolRules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What processing one candle led to (for logs, metrics and tests)."""

    processed: bool
    signal: SignalRaw | None = None
    decision_id: int | None = None
    skipped_because: str | None = None
    regime: str = ""
    micro: tuple[bool, bool] = (False, False)  # up / down micro-BOS inside the candle
    category: str | None = None  # why the signal was not taken: news, funding, vol, cost…
    guards: dict[str, Verdict] = field(default_factory=dict)  # live candles only


class StreamProcessor:
    """Owns the feature, analysis, agent and guard state of one (venue, symbol, tf) stream.

    ``agents`` and ``guards`` are shared by the engine's streams (made here when absent);
    ``clock_shift_ms`` is how far the venue's candles are moved from the real calendar."""

    def __init__(
        self,
        settings: Settings,
        venue: str,
        rules: SymbolRules,
        tf: str,
        market: Market = Market.SPOT,
        agents: AgentSet | None = None,
        guards: GuardHub | None = None,
        clock_shift_ms: int = 0,
    ) -> None:
        self._settings = settings
        self.venue = venue
        self.market = market
        self.symbol = rules.symbol
        self.tf = tf
        self.tf_ms = TIMEFRAMES_MS[tf]
        self._params = FeatureParams.from_settings(settings.strategy)
        self._features = FeatureEngine(self._params)
        self._analysis_params = AnalysisParams.from_settings(settings)
        self._analysis = StreamAnalysis(self._analysis_params)
        agents = agents or load_agents(settings, frozenset(self._params.names()))
        self._agents = StreamAgents(agents)
        self.agent = settings.strategy.agent
        if guards is None:
            guards = GuardHub(settings)
            guards.check_calendar()
        self.hub = guards
        assets = symbol_assets(rules.symbol, rules.base_asset, rules.quote_asset)
        futures = market is Market.USDM
        self.guards = StreamGuards(guards, venue, rules.symbol, assets, futures, clock_shift_ms)
        self._ctx = BarContext(venue, rules.symbol, tf, self.tf_ms, market.value, futures)
        self._decider = Decider(settings, venue, market, rules, self.tf_ms)
        self._chop = settings.volatility.chop_bbw_pct
        self.regime = ""
        self.last_open_time: int | None = None
        self.sub: SubStreamProcessor | None = None
        # The analysis base saved in the database (see _analysis_rows) and its CRC-32.
        self._base: bytes | None = None
        self._base_crc = 0
        self._patch_limit = patch_limit(venue, rules.symbol, tf)

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
        agents = await store.load_agent_state(conn, self.venue, self.symbol, self.tf)
        base = saved.analysis_base
        if base is None or agents is None:
            log.warning("%s %s: no analysis/agent state saved; warming up", self.symbol, self.tf)
            return None
        try:
            patch = saved.analysis_patch
            analysis = base if patch is None else apply_patch(base, patch)
            self._analysis = StreamAnalysis.from_bytes(self._analysis_params, analysis)
            self._agents.load(agents)
        except AnalysisStateError as exc:
            log.warning("%s %s: %s; warming up again", self.symbol, self.tf, exc)
            self._analysis = StreamAnalysis(self._analysis_params)
            self._agents = StreamAgents(self._agents.set)
            self._base = None  # the warm-up saves a whole base first
            return None
        self._features = FeatureEngine.from_bytes(self._params, saved.state)
        self._base, self._base_crc = base, base_crc(base)
        self.regime = self._analysis.regime_name
        self.last_open_time = saved.open_time
        return saved.open_time

    def _analysis_rows(self) -> tuple[bytes | None, bytes | None]:
        """The analysis state to save after a candle: a new base and no patch when the
        patch from the saved base would pass the stream's limit (or there is no base yet),
        else no new base and that patch (:mod:`engine.state_patch`)."""
        new = self._analysis.to_bytes()
        patch = None if self._base is None else make_patch(self._base, self._base_crc, new)
        if patch is None or len(patch) > self._patch_limit:
            self._base, self._base_crc = new, base_crc(new)
            return new, None
        return None, patch

    def advance(self, candle: Candle, received_at: float, live: bool) -> CandleStep | None:
        """Advance every stage and agent by one closed candle, in memory only; ``None`` when
        the candle was already processed. Its rows are written by :func:`commit_steps`."""
        if self.last_open_time is not None and candle.open_time <= self.last_open_time:
            return None
        c = candle
        values = self._features.update(c.open_time, c.open, c.high, c.low, c.close, c.volume)
        micro = self._note_micro(c.open_time)
        step = self._analysis.step(c, values)
        self.regime = step.regime
        self._ctx.update(
            step.smc_rows, step.retest_out, step.regime, step.atr_pct, step.bbw_pct, micro
        )
        found, failed = self._agents.run(self._ctx, c, values)
        self.last_open_time = c.open_time
        analysis_state, analysis_patch = self._analysis_rows()
        return CandleStep(
            candle=c,
            received_at=received_at,
            live=live,
            close_ms=c.open_time + self.tf_ms,  # the candle's close on the venue's clock
            values=values,
            feature_state=self._features.to_bytes(),
            analysis_state=analysis_state,
            analysis_patch=analysis_patch,
            agent_state=self._agents.to_bytes(),
            smc_rows=step.smc_rows,
            regime_event=step.regime_event,
            regime=step.regime,
            regime_code=step.regime_code,
            atr_pct=step.atr_pct,
            bbw_pct=step.bbw_pct,
            micro=micro,
            found=found,
            failed=failed,
        )

    def judge(self, step: CandleStep) -> None:
        """Set a live step's guard verdicts at its close (once the hub has synced in the
        step's transaction)."""
        vol = V.vol_step(step.regime_code, step.bbw_pct, self._chop)
        step.verdicts = self.guards.evaluate(step.close_ms, vol, step.atr_pct, step.bbw_pct)

    async def conclude(self, conn: asyncpg.Connection, step: CandleStep) -> Outcome:
        """The rest of a step's transaction once its rows are written (:func:`commit_steps`):
        agents quarantined, and for a live candle the funding window entered, the signals
        and the decision (or why not)."""
        c, micro = step.candle, step.micro
        for name, why in step.failed:
            await self._quarantined(conn, name, why, c)
        signals = [s for name in sorted(step.found) for s in step.found[name]]
        chosen = by_name(step.found, self.agent)
        regime = step.regime
        if not step.live:
            note = "not a live candle" if signals else None
            return Outcome(True, chosen, skipped_because=note, regime=regime, micro=micro)
        now, verdicts = step.close_ms, step.verdicts
        await self.guards.record_window(conn, verdicts, now)
        if not signals:
            return Outcome(True, regime=regime, micro=micro, guards=verdicts)
        ids = {s.agent: await store.insert_signal(conn, s) for s in signals}
        if chosen is None:
            return Outcome(True, regime=regime, micro=micro, guards=verdicts)
        sid = ids[chosen.agent]
        if sid is None:
            return Outcome(True, chosen, None, "signal already recorded", regime, micro)
        if self.market is Market.USDM:
            await self.hub.fresh_funding(self.venue, self.symbol)
        side = chosen.side_hint  # the funding guard checks the rate against the side
        vol = V.vol_step(step.regime_code, step.bbw_pct, self._chop)
        verdicts = self.guards.evaluate(now, vol, step.atr_pct, step.bbw_pct, side)
        price = Decimal(repr(c.close))
        did, skip = await self._decider.decide(
            conn, chosen, sid, step.received_at, price, now, verdicts, regime
        )
        if skip is not None:
            return Outcome(True, chosen, None, skip.reason, regime, micro, skip.category, verdicts)
        return Outcome(True, chosen, did, None, regime, micro, None, verdicts)

    async def process(
        self, pool: asyncpg.Pool, candle: Candle, received_at: float, live: bool
    ) -> Outcome:
        """Handle one closed candle in one transaction; decisions are only made for live
        candles. (The engine hands candles of streams closing together to
        :class:`engine.candle_batch.CommitGroup` instead: one transaction for all.)"""
        step = self.advance(candle, received_at, live)
        if step is None:
            return ALREADY_PROCESSED
        async with pool.acquire() as conn, conn.transaction():
            (outcome,) = await commit_steps(conn, [(self, step)])
        return outcome

    def build_bracket(self, signal: SignalRaw, equity: Decimal) -> Bracket:
        """Size ``signal`` for this stream's market on ``equity`` (see
        :meth:`engine.decision.decide.Decider.build_bracket`)."""
        return self._decider.build_bracket(signal, equity)

    async def _quarantined(self, conn: asyncpg.Connection, name: str, why: str, c: Candle) -> None:
        """An agent raised: audit it and tell every chat (it stays off until a restart)."""
        detail = {"agent": name, "error": why, "symbol": c.symbol, "open_time": c.open_time}
        await core_store.audit(conn, "engine", "agent.quarantined", None, detail)
        tail = " No decisions until the engine restarts." if name == self.agent else ""
        await core_store.alert(
            conn, "error", f"🧯 Agent {name} quarantined after an error on {c.symbol}: {why}.{tail}"
        )


ALREADY_PROCESSED = Outcome(processed=False, skipped_because="already processed")


async def commit_steps(
    conn: asyncpg.Connection,
    parents: Sequence[tuple[StreamProcessor, CandleStep]],
    subs: Sequence[SubStep] = (),
    turn: asyncio.Future[Any] | None = None,
) -> list[Outcome]:
    """In the caller's transaction: the rows of all steps are written together
    (:func:`engine.step_store.write_steps`); then, once ``turn`` is done (the transaction
    before this one, when they overlap), the guards read the admins' bypasses once (each hub
    of a live step), every live step is judged and its verdicts written, and each parent
    step concludes in order (signals, decisions). Returns the parents' outcomes, in order."""
    steps = [s for _, s in parents]
    await write_steps(conn, steps, subs)
    if turn is not None:
        await asyncio.wait([turn])  # however it ended
    live = [(p, s) for p, s in parents if s.live]
    hubs = {id(p.hub): p.hub for p, _ in live}
    for hub in hubs.values():
        await hub.sync(conn)
    for p, s in live:
        p.judge(s)
    await write_verdicts(conn, steps)
    return [await p.conclude(conn, s) for p, s in parents]
