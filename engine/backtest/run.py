"""A backtest: every stream's signals (:mod:`engine.backtest.signals`), merged in time order
and judged by one shared account (:mod:`engine.backtest.account`) exactly as the live
decision stage judges them, sized by the live bracket builder, then filled
(:mod:`engine.backtest.fills`) with fees, slippage, funding and liquidation.

A decision is made at its signal candle's close and approved ``approve_delay_bars`` candles
later (0: at once); its market entry fills at that candle's close (the simulator's last
price). A decision whose TTL runs out before the approval is not traded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from engine.agents.base import BarContext
from engine.agents.registry import AgentSet
from engine.backtest.account import Account, Leg, Position
from engine.backtest.fills import Exit, Plan, resolve
from engine.backtest.signals import VENUE, Candidate, agent_signals, funding_book, verdicts
from engine.decision.decide import Decider
from engine.decisions_batch import Laps, StageOutputs, file_rules, run_stages
from engine.guards.news import NewsGuard
from engine.guards.news_calendar import NewsEvent
from greenlight.core.candlefile import CandleArrays
from greenlight.core.contracts import Bracket, Market
from greenlight.core.settings import TIMEFRAMES_MS, Settings
from greenlight.core.symbols import SymbolRules
from sim.slippage import Slippage
from sim.usdm.account import FutAccount

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
ZERO = Decimal(0)


@dataclass
class Stream:
    """One symbol's candles (and optional finer candles and funding rates)."""

    symbol: str
    market: Market
    tf: str
    candles: CandleArrays
    sub: CandleArrays | None = None
    micro: tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None = None
    funding: tuple[I64, F64] | None = None
    rules: SymbolRules | None = None
    warmup: int = 0  # first candles that only warm the stages up (no decisions on them)

    @property
    def tf_ms(self) -> int:
        """Candle length in ms."""
        return TIMEFRAMES_MS[self.tf]


@dataclass
class TradeLeg:
    """One row of ``trades.csv``."""

    decision_id: str
    symbol: str
    market: str
    side: str
    agent: str
    signal_time: int
    entry_time: int
    entry_price: Decimal
    exit_time: int
    exit_price: Decimal
    quantity: Decimal
    fees_quote: Decimal
    funding_quote: Decimal
    pnl_quote: Decimal
    r_multiple: Decimal
    exit_reason: str


@dataclass
class Result:
    """Everything a backtest produced."""

    legs: list[TradeLeg] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    streams: list[Stream] = field(default_factory=list)
    candles: int = 0
    brackets: dict[str, Bracket] = field(default_factory=dict)  # decision id → its bracket
    # wall seconds per step (features, smc, retest, regime, agent, decisions); never written
    # to the output files
    timings: dict[str, float] = field(default_factory=dict)


def _liquidation(b: Bracket, mmr: Decimal) -> Decimal:
    """Isolated liquidation price of the position (the simulator's formula)."""
    acct = FutAccount("bt", b.equity_quote, b.leverage)
    acct.margin_type[b.symbol] = "ISOLATED"
    pos = acct.position(b.symbol, "BOTH")
    pos.amount = b.quantity if b.side.value == "BUY" else -b.quantity
    pos.entry_price = b.entry_price
    pos.isolated_wallet = b.quantity * b.entry_price / b.leverage
    return acct.liquidation_price(pos, {}, {b.symbol: mmr})


class Backtest:
    """Runs the streams through one account (see the module docstring)."""

    def __init__(self, settings: Settings, agents: AgentSet, news: list[NewsEvent]) -> None:
        self.s = settings
        self.agents = agents
        self.news = NewsGuard(settings.news, news)
        bt = settings.backtest
        self.taker = (
            bt.taker_fee_rate if bt.taker_fee_rate is not None else (settings.router.taker_fee_rate)
        )
        self.maker = bt.maker_fee_rate if bt.maker_fee_rate is not None else self.taker
        self.account = Account(settings)
        self.result = Result()
        self._closes: dict[int, I64] = {}  # id(stream) → its candles' close times

    def candidates(self, st: Stream, stages: StageOutputs) -> list[Candidate]:
        """The chosen agent's signals on ``st`` with the guards' verdicts."""
        c, rules = st.candles, st.rules
        assert rules is not None
        futures = st.market is Market.USDM
        ctx = BarContext(VENUE, st.symbol, st.tf, st.tf_ms, st.market.value, futures)
        found = agent_signals(c, stages, self.agents, self.s.strategy.agent, ctx)
        book = None
        if futures and st.funding is not None:
            book = (funding_book(self.s, st.symbol, *st.funding), *st.funding)
        out = []
        for i, sig in found:
            if i < st.warmup:
                continue
            now = int(c.open_time[i]) + st.tf_ms
            v = verdicts(self.s, stages, i, now, self.news, rules, st.market, book, sig.side_hint)
            out.append(Candidate(i, sig, v))
        return out

    def run(
        self, streams: list[Stream], progress: Callable[[str, float], None] | None = None
    ) -> Result:
        """Backtest ``streams`` (one account); the result's legs are in decision order.
        ``progress(label, done)`` is called as the run goes (``done`` from 0 to 1: the stages
        of every stream count for the first 90 %, the decisions for the rest)."""
        queue: list[tuple[int, str, Stream, Candidate, Decider]] = []
        timings = self.result.timings
        for n, st in enumerate(streams):
            if progress is not None:
                progress(st.symbol, 0.9 * n / len(streams))
            st.rules = st.rules or file_rules(st.symbol, st.candles.close)
            stages = run_stages(st.candles, self.s, st.micro, timings)
            lap = Laps(timings)
            self._closes[id(st)] = st.candles.open_time + st.tf_ms
            decider = Decider(self.s, VENUE, st.market, st.rules, st.tf_ms)
            for cand in self.candidates(st, stages):
                t = int(st.candles.open_time[cand.index]) + st.tf_ms
                queue.append((t, st.symbol, st, cand, decider))
            self.result.candles += len(st.candles)
            lap("agent")
            if progress is not None:
                progress(st.symbol, 0.9 * (n + 1) / len(streams))
        lap = Laps(timings)
        queue.sort(key=lambda q: (q[0], q[1]))
        step = max(1, len(queue) // 50)
        for k, (now, _sym, st, cand, decider) in enumerate(queue):
            self._decide(now, st, cand, decider)
            if progress is not None and k % step == step - 1:
                progress("decisions", 0.9 + 0.1 * (k + 1) / len(queue))
        lap("decisions")
        if progress is not None:
            progress("done", 1.0)
        self.result.streams = streams
        self.result.positions = self.account.positions
        return self.result

    def _decide(self, now: int, st: Stream, cand: Candidate, decider: Decider) -> None:
        bracket, skip = self.account.gate(decider, cand.signal, cand.verdicts, now)
        if skip is not None or bracket is None:
            cat = skip.category if skip is not None else "size"
            self.result.skipped[cat] = self.result.skipped.get(cat, 0) + 1
            return
        delay = self.s.backtest.approve_delay_bars
        if delay * st.tf_ms > decider.ttl_seconds(cand.signal) * 1000:
            self.result.skipped["expired"] = self.result.skipped.get("expired", 0) + 1
            return
        entry_bar = cand.index + delay
        if entry_bar >= len(st.candles):
            return
        self._trade(now, st, cand, bracket, entry_bar)

    def _slip(self, price: Decimal, c: CandleArrays, bar: int) -> Decimal:
        bt = self.s.backtest
        rng = Decimal(repr(float(c.high[bar] - c.low[bar])))
        return Slippage(bt.slippage_bps, bt.slippage_range_fraction).amount(price, rng)

    def _trade(self, now: int, st: Stream, cand: Candidate, b: Bracket, entry_bar: int) -> None:
        c, rules = st.candles, st.rules
        assert rules is not None
        side = 1 if b.side.value == "BUY" else -1
        close = Decimal(repr(float(c.close[entry_bar])))
        entry = rules.round_price(close + side * self._slip(close, c, entry_bar))
        futures = st.market is Market.USDM
        liq = _liquidation(b, self.s.backtest.maintenance_margin_rate) if futures else None
        plan = Plan(
            side,
            b.quantity,
            b.stop_price,
            tuple((leg.price, leg.quantity) for leg in b.take_profits),
            liq,
        )
        bt = self.s.backtest
        exits = resolve(plan, c, entry_bar, bt.intrabar, bt.max_hold_bars, st.sub, st.tf_ms)
        did = f"BT-{len(self.account.positions) + 1:05d}"
        self.result.brackets[did] = b
        entry_fee = b.quantity * entry * self.taker
        entry_time = int(c.open_time[entry_bar]) + st.tf_ms
        pos = Position(
            did,
            st.market.value,
            st.symbol,
            None,
            side,
            entry,
            b.quantity,
            b.risk_quote,
            b.quantity * entry / b.leverage,
            entry_fee,
            now,
            _marker(c, self._closes[id(st)]),
        )
        for ex in exits:
            self._leg(pos, st, cand, b, ex, entry_time)
        self.account.positions.append(pos)

    def _leg(
        self, pos: Position, st: Stream, cand: Candidate, b: Bracket, ex: Exit, entry_time: int
    ) -> None:
        c, rules = st.candles, st.rules
        assert rules is not None
        price = ex.price
        if ex.market:
            price = rules.round_price(price - pos.side * self._slip(price, c, ex.bar))
        rate = self.taker if ex.market else self.maker
        fees = ex.quantity * price * rate + pos.entry_fee * ex.quantity / pos.quantity
        funding = _funding(st, pos.side, ex.quantity, entry_time, ex.time)
        pnl = pos.side * ex.quantity * (price - pos.entry) - fees + funding
        cent = Decimal("0.00000001")
        pos.legs.append(Leg(int(c.open_time[ex.bar]) + st.tf_ms, ex.quantity, pnl))
        self.result.legs.append(
            TradeLeg(
                pos.decision_id,
                st.symbol,
                st.market.value,
                "long" if pos.side > 0 else "short",
                cand.signal.agent,
                cand.signal.open_time,
                entry_time,
                pos.entry,
                ex.time,
                price,
                ex.quantity,
                fees.quantize(cent),
                funding.quantize(cent),
                pnl.quantize(cent),
                (pnl / b.risk_quote).quantize(Decimal("0.0001")) if b.risk_quote else ZERO,
                ex.reason,
            )
        )


def _marker(c: CandleArrays, closes: I64) -> Callable[[int], Decimal | None]:
    def mark(now: int) -> Decimal | None:
        k = int(np.searchsorted(closes, now, side="right")) - 1
        return Decimal(repr(float(c.close[k]))) if k >= 0 else None

    return mark


def _funding(st: Stream, side: int, qty: Decimal, start: int, end: int) -> Decimal:
    """Funding received by ``qty`` held from ``start`` to ``end`` (negative when paid):
    each funding time inside pays ``rate × notional`` from longs to shorts, the notional at
    the close of the candle it falls in."""
    if st.market is not Market.USDM or st.funding is None:
        return ZERO
    times, rates = st.funding
    a = int(np.searchsorted(times, start, side="right"))
    z = int(np.searchsorted(times, end, side="right"))
    total = ZERO
    c = st.candles
    for k in range(a, z):
        bar = max(0, int(np.searchsorted(c.open_time, times[k], side="right")) - 1)
        px = Decimal(repr(float(c.close[bar])))
        total -= side * qty * px * Decimal(repr(float(rates[k])))
    return total
