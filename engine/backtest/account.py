"""One account shared by every stream of a backtest: what the live decision stage reads from
the database (open decisions, open risk, committed quote, the day's realized loss, equity
marked at the candle's close) kept in memory, and the same refusals in the same order
(:mod:`engine.decision.decide`): guards, kill, setup, cost, exposure, size, exposure limits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from engine.decision.bracket import BracketError
from engine.decision.costs import cost_refusal
from engine.decision.decide import Decider, Skip
from engine.decision.exposure import DAY_MS
from engine.guards.hub import blocking
from engine.guards.verdict import LABELS, Verdict
from greenlight.core.contracts import Bracket, SignalRaw
from greenlight.core.settings import Settings

ZERO = Decimal(0)


@dataclass
class Leg:
    """A filled exit leg as the account sees it: when its cash is realized and how much."""

    time: int  # venue time the leg's cash counts from (its candle's close)
    quantity: Decimal
    pnl: Decimal  # after fees and funding


@dataclass
class Position:
    """A decision from its approval until its last leg fills."""

    decision_id: str
    market: str
    symbol: str
    setup: tuple[str, str, int] | None
    side: int
    entry: Decimal
    quantity: Decimal
    risk_quote: Decimal
    committed: Decimal
    entry_fee: Decimal
    opened: int  # venue time of the decision
    mark: Callable[[int], Decimal | None]  # the symbol's last close at a venue time
    legs: list[Leg] = field(default_factory=list)
    # (legs counted, closed_at, value once every leg is done or None): what the account asks
    # of every position on every decision, kept until a leg is added
    _memo: tuple[int, int, Decimal | None] = field(default=(-1, 0, None), repr=False)

    def _settled(self) -> tuple[int, int, Decimal | None]:
        if self._memo[0] != len(self.legs):
            closed = max(leg.time for leg in self.legs) if self.legs else 1 << 62
            self._memo = (len(self.legs), closed, None)
        return self._memo

    @property
    def closed_at(self) -> int:
        """Venue time the last leg counts from."""
        return self._settled()[1]

    def value(self, now: int) -> Decimal:
        """Realized and unrealized PnL at ``now`` (entry fee of the open part included)."""
        n, closed, final = self._settled()
        if final is not None and now >= closed:
            return final
        done = [leg for leg in self.legs if leg.time <= now]
        left = self.quantity - sum((leg.quantity for leg in done), ZERO)
        out = sum((leg.pnl for leg in done), ZERO)
        if left > 0:
            px = self.mark(now)
            if px is not None:
                out += self.side * left * (px - self.entry)
            out -= self.entry_fee * left / self.quantity
        elif n and len(done) == n:
            self._memo = (n, closed, out)  # every leg done: the same from now on
        return out


class Account:
    """Cash and decisions of the backtest (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.start = settings.backtest.start_equity_quote
        self.positions: list[Position] = []
        self.setups: set[tuple[str, str, int]] = set()
        self.day_open: dict[int, Decimal] = {}

    def open_at(self, now: int) -> list[Position]:
        """Decisions pending or open at ``now``."""
        return [p for p in self.positions if p.opened <= now < p.closed_at]

    def equity(self, now: int) -> Decimal:
        """Equity marked at ``now`` (closed positions at their realized PnL)."""
        return self.start + sum((p.value(now) for p in self.positions), ZERO)

    def _day_realized(self, market: str, now: int) -> Decimal:
        start = now - now % DAY_MS
        return sum(
            (
                sum((leg.pnl for leg in p.legs), ZERO)
                for p in self.positions
                if p.market == market and start <= p.opened < now and p.closed_at <= now
            ),
            ZERO,
        )

    def gate(
        self, decider: Decider, signal: SignalRaw, verdicts: dict[str, Verdict], now: int
    ) -> tuple[Bracket | None, Skip | None]:
        """The sized bracket, or why the live decision stage would not have proposed it."""
        v = blocking(verdicts)
        if v is not None:
            return None, Skip(v.guard, f"{LABELS[v.guard]} {v.state}: {v.reason}")
        s = self.settings
        equity = self.equity(now)
        day = now - now % DAY_MS
        opening = self.day_open.setdefault(day, equity)
        if equity <= opening * (1 - s.guards.daily_drawdown_limit):
            return None, Skip("kill", "daily drawdown limit reached (kill switch)")
        key = (signal.symbol, signal.agent, signal.setup) if signal.setup is not None else None
        if key is not None and key in self.setups:
            return None, Skip("setup", f"setup {signal.setup} already has a decision")
        why = cost_refusal(
            signal.entry_hint, signal.sl_hint, decider.costs, s.risk.max_cost_fraction_of_r
        )
        if why is not None:
            return None, Skip("cost", why)
        market = decider.market.value
        live = [p for p in self.open_at(now) if p.market == market]
        if sum(1 for p in live if p.symbol == signal.symbol) >= s.risk.max_open_positions:
            return None, Skip("exposure", "a decision on this symbol is already pending or open")
        free = equity - sum((p.committed for p in self.open_at(now)), ZERO)
        try:
            bracket = decider.build_bracket(signal, free)
        except BracketError as exc:
            return None, Skip("size", f"cannot be sized: {exc}")
        refusal = self._exposure(market, signal.symbol, equity, bracket.risk_quote, now, live)
        if refusal is not None:
            return None, Skip("exposure", refusal)
        if key is not None:
            self.setups.add(key)
        return bracket, None

    def _exposure(
        self,
        market: str,
        symbol: str,
        equity: Decimal,
        new_risk: Decimal,
        now: int,
        live: list[Position],
    ) -> str | None:
        risk = self.settings.risk
        realized = self._day_realized(market, now)
        if -realized >= risk.daily_loss_cap * equity:
            return "daily realized loss reached the cap: no new proposals today"
        here = sum((p.risk_quote for p in live if p.symbol == symbol), ZERO)
        if here + new_risk > risk.max_symbol_risk * equity:
            return f"open risk on {symbol} would exceed {risk.max_symbol_risk:%} of equity"
        total = sum((p.risk_quote for p in live), ZERO)
        if total + new_risk > risk.max_total_risk * equity:
            return f"open risk would exceed {risk.max_total_risk:%} of equity"
        return None
