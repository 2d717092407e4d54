"""Fills and positions: every fill recorded once, positions recomputed from all fills."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from router.venues.base import TradeFill

ZERO = Decimal(0)


@dataclass(frozen=True)
class PositionFigures:
    """A decision's position derived from its fills (long spot: BUY in, SELL out)."""

    quantity: Decimal
    entry_price: Decimal | None
    exit_quantity: Decimal
    exit_quote: Decimal
    open_quantity: Decimal
    realized_pnl: Decimal


async def insert_fill(
    conn: asyncpg.Connection,
    venue: str,
    symbol: str,
    client_order_id: str,
    decision_id: int,
    side: str,
    fill: TradeFill,
) -> bool:
    """Record a fill; ``False`` when this trade id was already recorded (replayed event)."""
    inserted = await conn.fetchval(
        "INSERT INTO fills (venue, symbol, trade_id, client_order_id, decision_id, side, price,"
        " quantity, commission, commission_asset, trade_time)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
        " ON CONFLICT (venue, symbol, trade_id) DO NOTHING RETURNING id",
        venue,
        symbol,
        fill.trade_id,
        client_order_id,
        decision_id,
        side,
        fill.price,
        fill.qty,
        fill.commission,
        fill.commission_asset,
        fill.time_ms,
    )
    return inserted is not None


def figures(rows: list[asyncpg.Record], base: str, quote: str) -> PositionFigures:
    """Position figures from fill rows; commissions in base or quote asset are netted."""
    buy_qty = buy_quote = buy_fee_base = buy_fee_quote = ZERO
    sell_qty = sell_quote = sell_fee_base = sell_fee_quote = ZERO
    for r in rows:
        qty, notional = r["quantity"], r["price"] * r["quantity"]
        fee, asset = r["commission"], r["commission_asset"]
        if r["side"] == "BUY":
            buy_qty += qty
            buy_quote += notional
            buy_fee_base += fee if asset == base else ZERO
            buy_fee_quote += fee if asset == quote else ZERO
        else:
            sell_qty += qty
            sell_quote += notional
            sell_fee_base += fee if asset == base else ZERO
            sell_fee_quote += fee if asset == quote else ZERO
    quantity = buy_qty - buy_fee_base
    exit_qty = sell_qty + sell_fee_base
    exit_quote = sell_quote - sell_fee_quote
    cost = buy_quote + buy_fee_quote
    pnl = exit_quote - cost * exit_qty / quantity if quantity > 0 else ZERO
    return PositionFigures(
        quantity=quantity,
        entry_price=(buy_quote / buy_qty).quantize(Decimal("1e-12")) if buy_qty else None,
        exit_quantity=exit_qty,
        exit_quote=exit_quote,
        open_quantity=quantity - exit_qty,
        realized_pnl=pnl.quantize(Decimal("1e-12")),
    )


def futures_figures(rows: list[asyncpg.Record], long: bool) -> PositionFigures:
    """USD-M position figures: fills on the decision's side open, the other side closes.

    PnL is the price difference on the closed quantity less every commission (USDT-margined
    contracts charge commission in the margin asset), i.e. the sum of the fills' ``rp``
    minus fees.
    """
    open_side = "BUY" if long else "SELL"
    in_qty = in_quote = out_qty = out_quote = fees = ZERO
    for r in rows:
        qty, notional = r["quantity"], r["price"] * r["quantity"]
        fees += r["commission"]
        if r["side"] == open_side:
            in_qty += qty
            in_quote += notional
        else:
            out_qty += qty
            out_quote += notional
    avg = in_quote / in_qty if in_qty else ZERO
    gross = (out_quote - avg * out_qty) * (1 if long else -1)
    return PositionFigures(
        quantity=in_qty,
        entry_price=avg.quantize(Decimal("1e-12")) if in_qty else None,
        exit_quantity=out_qty,
        exit_quote=out_quote,
        open_quantity=in_qty - out_qty,
        realized_pnl=(gross - fees).quantize(Decimal("1e-12")),
    )


FiguresOf = Callable[[list[asyncpg.Record]], PositionFigures]


async def recompute_position(
    conn: asyncpg.Connection, decision: asyncpg.Record, figures_of: FiguresOf
) -> PositionFigures:
    """Recompute and store the decision's position from all its fills (idempotent);
    ``figures_of`` is the market's arithmetic (:func:`figures`, :func:`futures_figures`)."""
    rows = await conn.fetch(
        "SELECT side, price, quantity, commission, commission_asset FROM fills"
        " WHERE decision_id = $1",
        decision["id"],
    )
    fig = figures_of(list(rows))
    if not rows:
        return fig
    await conn.execute(
        "INSERT INTO positions (decision_id, venue, market, symbol, side, quantity,"
        " open_quantity, entry_price, exit_quantity, exit_quote, realized_pnl)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
        " ON CONFLICT (decision_id) DO UPDATE SET quantity = EXCLUDED.quantity,"
        " open_quantity = EXCLUDED.open_quantity, entry_price = EXCLUDED.entry_price,"
        " exit_quantity = EXCLUDED.exit_quantity, exit_quote = EXCLUDED.exit_quote,"
        " realized_pnl = EXCLUDED.realized_pnl",
        decision["id"],
        decision["venue"],
        decision["market"],
        decision["symbol"],
        decision["side"],
        fig.quantity,
        fig.open_quantity,
        fig.entry_price,
        fig.exit_quantity,
        fig.exit_quote,
        fig.realized_pnl,
    )
    return fig


async def close_position(conn: asyncpg.Connection, decision_id: int) -> None:
    """Mark the position row closed."""
    await conn.execute(
        "UPDATE positions SET state = 'CLOSED', closed_at = clock_timestamp()"
        " WHERE decision_id = $1 AND state = 'OPEN'",
        decision_id,
    )
