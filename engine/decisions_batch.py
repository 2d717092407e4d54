"""Decisions over a candle file, through the same stages, agent plugin and guards as the live
engine (``greenlight analyze`` writes them as ``decisions.csv``; the backtester reuses it).

Per candle: the batch features, causal SMC, retest and regime outputs (the same numba steps
the live stream calls one candle at a time) feed the agents' ``on_bar``; the chosen agent's
signal then meets the news guard (a calendar, on the file's own times), the volatility guard,
the funding guard (not applicable: a candle file has no funding) and the round-trip cost
limit, and is sized on a nominal equity. What needs an account — the kill switch, open-risk
and daily-loss limits, one open decision per symbol — is left to a backtester that simulates
fills; here every signal the guards and costs pass counts as taken.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from engine.agents.base import BarContext
from engine.agents.registry import AgentSet, StreamAgents, by_name
from engine.decision.bracket import BracketError
from engine.decision.costs import cost_refusal
from engine.decision.decide import Decider
from engine.events import Candle
from engine.features import FeatureEngine, FeatureParams
from engine.guards import vol as V
from engine.guards.funding import NOT_APPLICABLE
from engine.guards.hub import blocking
from engine.guards.news import NewsGuard
from engine.guards.news_calendar import NewsEvent, symbol_assets
from engine.guards.verdict import LABELS, Verdict
from engine.regime import kernel as RK
from engine.regime.classifier import RegimeParams, run_regime_batch
from engine.retest import kernel as TK
from engine.retest.analyzer import RetestParams, run_retest_batch
from engine.smc import layout as L
from engine.smc.engine import SmcParams, run_smc_batch
from greenlight.core.candlefile import CandleArrays
from greenlight.core.contracts import Market, SignalRaw
from greenlight.core.settings import TIMEFRAMES_MS, Settings
from greenlight.core.symbols import SymbolRules

F64 = npt.NDArray[np.float64]
B1 = npt.NDArray[np.bool_]
COLUMNS = (
    "open_time",
    "agent",
    "side",
    "score",
    "entry",
    "stop",
    "tp1",
    "tp2",
    "tp3",
    "risk_quote",
    "cost_quote",
    "taken",
    "blocked_by",
)


@dataclass(frozen=True)
class BatchDecision:
    """One signal of the chosen agent and what became of it (a ``decisions.csv`` row)."""

    open_time: int
    agent: str
    side: str
    score: float
    taken: bool
    blocked_by: str  # "" when taken; else news, funding, vol, cost or size
    reason: str = ""
    entry: Decimal | None = None
    stop: Decimal | None = None
    tps: tuple[Decimal, ...] = ()
    risk_quote: Decimal | None = None
    cost_quote: Decimal | None = None

    def row(self) -> dict[str, object]:
        """The CSV cells (empty for what does not apply)."""
        tps = [*self.tps, None, None, None][:3]
        return {
            "open_time": self.open_time,
            "agent": self.agent,
            "side": self.side,
            "score": self.score,
            "entry": self.entry,
            "stop": self.stop,
            "tp1": tps[0],
            "tp2": tps[1],
            "tp3": tps[2],
            "risk_quote": self.risk_quote,
            "cost_quote": self.cost_quote,
            "taken": self.taken,
            "blocked_by": self.blocked_by,
        }


def file_rules(symbol: str, close: F64) -> SymbolRules:
    """Permissive rules for sizing a file's signals: the tick the prices are written with, a
    lot step worth about 0.1 quote, a 5-quote minimum notional."""
    sample = close[:: max(1, len(close) // 500)]
    decimals = (
        max(len(repr(float(p)).split(".")[1].rstrip("0")) for p in sample) if len(sample) else 2
    )
    tick = Decimal(1).scaleb(-min(decimals, 8))
    px = float(np.median(close)) if len(close) else 1.0
    step = Decimal(1).scaleb(min(0, math.floor(math.log10(0.1 / px)))) if px > 0 else Decimal(1)
    base, quote = symbol, ""
    assets = symbol_assets(symbol)
    for a in assets:
        if a != symbol and symbol.endswith(a) and a != "USD":
            quote, base = a, symbol[: -len(a)]
    big = Decimal("1e12")
    return SymbolRules(
        symbol,
        base,
        quote,
        "TRADING",
        tick,
        tick,
        big,
        step,
        step,
        big,
        step,
        step,
        big,
        Decimal(5),
        Decimal(0),
        200,
    )


def _slices(events: F64, n: int) -> npt.NDArray[np.int64]:
    """Row offsets: the events of candle ``i`` are ``events[off[i]:off[i + 1]]``."""
    off = np.zeros(n + 1, np.int64)
    if len(events):
        counts = np.bincount(events[:, L.EV_BAR].astype(np.int64), minlength=n)
        np.cumsum(counts[:n], out=off[1:])
    return off


@dataclass(frozen=True)
class StageOutputs:
    """Every stage's batch output over one candle file (the live stream's step functions
    looped over arrays): features, SMC event rows and their per-candle offsets, the retest
    and regime rows, and the volatility guard's states."""

    feats: dict[str, F64]
    events: F64
    offsets: npt.NDArray[np.int64]
    retest: F64
    regime: F64
    vol: npt.NDArray[np.int64]
    micro: tuple[B1, B1] | None


class Laps:
    """Wall time spent per named step, summed over calls (``None`` target: not kept)."""

    def __init__(self, into: dict[str, float] | None) -> None:
        self.into = into
        self.t = time.perf_counter()

    def __call__(self, name: str) -> None:
        """Charge the time since the previous lap to ``name``."""
        now = time.perf_counter()
        if self.into is not None:
            self.into[name] = self.into.get(name, 0.0) + now - self.t
        self.t = now


def run_stages(
    c: CandleArrays,
    settings: Settings,
    micro: tuple[B1, B1] | None = None,
    timings: dict[str, float] | None = None,
) -> StageOutputs:
    """Features, causal SMC, retest and regime over ``c`` with ``settings``' parameters
    (``timings`` gets each stage's wall time added, in seconds)."""
    s = settings
    lap = Laps(timings)
    params = FeatureParams.from_settings(s.strategy)
    feats = FeatureEngine(params).warm_up(c)
    lap("features")
    events, _ = run_smc_batch(c, SmcParams.from_settings(s.smc))
    lap("smc")
    rparams = RetestParams.from_settings(s.retest, s.strategy.take_profit_r, s.smc.zone_capacity)
    atr, rsi, hist = feats[f"atr{params.atr}"], feats[f"rsi{params.rsi}"], feats["macd_hist"]
    up, dn = micro if micro is not None else (None, None)
    retest, _ = run_retest_batch(
        events, c.open, c.high, c.low, c.close, atr, rsi, hist, rparams, up, dn
    )
    lap("retest")
    reg, _ = run_regime_batch(
        feats[f"adx{params.adx}"],
        atr,
        c.close,
        feats["bb_width"],
        RegimeParams.from_settings(s.regime),
    )
    vol = V.vol_states(reg, s.volatility)
    lap("regime")
    out = StageOutputs(feats, events, _slices(events, len(c)), retest, reg, vol, micro)
    lap("smc")
    return out


def bar_candle(c: CandleArrays, i: int, symbol: str, tf: str, tf_ms: int, venue: str) -> Candle:
    """Candle ``i`` of ``c`` as the live stream's ``Candle`` (the file was validated)."""
    t = int(c.open_time[i])
    return Candle.model_construct(
        venue=venue,
        symbol=symbol,
        tf=tf,
        open_time=t,
        close_time=t + tf_ms - 1,
        open=float(c.open[i]),
        high=float(c.high[i]),
        low=float(c.low[i]),
        close=float(c.close[i]),
        volume=float(c.volume[i]),
    )


def update_context(ctx: BarContext, st: StageOutputs, i: int) -> None:
    """Set ``ctx`` to the stages' outputs at candle ``i`` (what the live stream sets)."""
    row = st.retest[i]
    reg = st.regime
    up, dn = st.micro if st.micro is not None else (None, None)
    ctx.update(
        st.events[st.offsets[i] : st.offsets[i + 1]],
        row if row[TK.O_DIR] != 0.0 else None,
        RK.NAMES[int(reg[i, RK.O_REGIME])],
        float(reg[i, RK.O_ATR_PCT]),
        float(reg[i, RK.O_BBW_PCT]),
        (bool(up[i]), bool(dn[i])) if up is not None and dn is not None else (False, False),
    )


def iter_signals(
    c: CandleArrays, st: StageOutputs, agents: AgentSet, chosen: str, ctx: BarContext
) -> Iterator[tuple[int, SignalRaw]]:
    """Bar by bar, every agent's ``on_bar`` (as the live stream calls them); yields the
    bars where agent ``chosen`` signalled, with its signal."""
    stream = StreamAgents(agents)
    names = list(st.feats)
    cols = [st.feats[k] for k in names]
    for i in range(len(c)):
        bar = bar_candle(c, i, ctx.symbol, ctx.tf, ctx.tf_ms, ctx.venue)
        update_context(ctx, st, i)
        found, _failed = stream.run(
            ctx, bar, {k: float(v[i]) for k, v in zip(names, cols, strict=True)}
        )
        signal = by_name(found, chosen)
        if signal is not None:
            yield i, signal


def run_decisions(
    c: CandleArrays,
    settings: Settings,
    agents: AgentSet,
    symbol: str,
    tf: str,
    news: list[NewsEvent] | None = None,
    equity: Decimal = Decimal(10000),
    micro: tuple[B1, B1] | None = None,
) -> list[BatchDecision]:
    """The chosen agent's (``settings.strategy.agent``) signals over ``c``, each taken or
    blocked (see the module docstring)."""
    tf_ms = TIMEFRAMES_MS[tf]
    s = settings
    st = run_stages(c, s, micro)
    guard = NewsGuard(s.news, news or [])
    rules = file_rules(symbol, c.close)
    assets = symbol_assets(symbol, rules.base_asset, rules.quote_asset)
    decider = Decider(s, "file", Market.SPOT, rules, tf_ms)
    ctx = BarContext("file", symbol, tf, tf_ms, "spot", False)
    out: list[BatchDecision] = []
    for i, signal in iter_signals(c, st, agents, s.strategy.agent, ctx):
        now = int(c.open_time[i]) + tf_ms
        verdicts = {
            "news": guard.verdict(now, assets),
            "funding": NOT_APPLICABLE,
            "vol": V.vol_verdict(int(st.vol[i]), s.volatility, ctx.atr_pct, ctx.bbw_pct),
        }
        out.append(_judge(signal, decider, verdicts, equity))
    return out


def _judge(
    signal: SignalRaw, decider: Decider, verdicts: dict[str, Verdict], equity: Decimal
) -> BatchDecision:
    """Guards, then the cost limit, then the size (in the live stage's order); a signal the
    costs refuse still shows the bracket it would have had."""
    head = BatchDecision(signal.open_time, signal.agent, signal.side_hint, signal.score, True, "")
    blocked = blocking(verdicts)
    if blocked is not None:
        note = f" ({blocked.note})" if blocked.note else ""
        why = f"{LABELS[blocked.guard]} {blocked.state}: {blocked.reason}{note}"
        return replace(head, taken=False, blocked_by=blocked.guard, reason=why)
    limit = decider.settings.risk.max_cost_fraction_of_r
    cost = cost_refusal(signal.entry_hint, signal.sl_hint, decider.costs, limit)
    try:
        b = decider.build_bracket(signal, equity)
    except BracketError as exc:
        category, why = ("cost", cost) if cost is not None else ("size", str(exc))
        return replace(head, taken=False, blocked_by=category, reason=why)
    sized = replace(
        head,
        entry=b.entry_price,
        stop=b.stop_price,
        tps=tuple(leg.price for leg in b.take_profits),
        risk_quote=b.risk_quote,
        cost_quote=b.cost_quote,
    )
    if cost is not None:
        return replace(sized, taken=False, blocked_by="cost", reason=cost)
    return sized


def decisions_table(rows: list[BatchDecision]) -> dict[str, list[str]]:
    """``decisions.csv`` columns (text cells; empty where nothing applies)."""

    def cell(v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return format(v, "f") if isinstance(v, Decimal) else str(v)

    dicts = [r.row() for r in rows]
    return {k: [cell(d[k]) for d in dicts] for k in COLUMNS}
