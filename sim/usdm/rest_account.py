"""SIGNED USD-M account endpoints: leverage, margin type, position mode, account, balance
and position risk."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from sim.errors import SimError, mandatory
from sim.http_util import Params
from sim.streams.conn import dumps
from sim.usdm.account import FutAccount
from sim.usdm.models import Position
from sim.usdm.params import p_bool
from sim.usdm.payloads import num
from sim.usdm.rest import fsymbol
from sim.usdm.rest_trade import fsigned
from sim.usdm.state import FutState

ZERO = Decimal(0)
OK = {"code": 200, "msg": "success"}


@fsigned({"symbol", "leverage"})
async def leverage(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``POST /fapi/v1/leverage``."""
    symbol = fsymbol(fut, params)
    text = params.get("leverage", "")
    if not text:
        raise mandatory("leverage")
    rules = fut.book.rules[symbol]
    if not text.isdigit() or not 1 <= int(text) <= rules.max_leverage:
        raise SimError(-4028, f"Leverage {text} is not valid")
    acct = fut.book.accounts[key]
    acct.leverage[symbol] = int(text)
    now = fut.replay.now_ms
    event = {"e": "ACCOUNT_CONFIG_UPDATE", "E": now, "T": now, "ac": {"s": symbol, "l": int(text)}}
    for s in [s for s in fut.users if s.account == key]:
        fut.gate.send(s.conn, dumps(event))
    return {"leverage": int(text), "maxNotionalValue": "1000000", "symbol": symbol}


@fsigned({"symbol", "marginType"})
async def margin_type(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``POST /fapi/v1/marginType`` (``-4046`` when unchanged)."""
    symbol = fsymbol(fut, params)
    value = params.get("marginType", "").upper()
    if not value:
        raise mandatory("marginType")
    if value == "CROSS":
        value = "CROSSED"
    if value not in ("ISOLATED", "CROSSED"):
        raise SimError(-1130, "Data sent for parameter 'marginType' is not valid.")
    acct = fut.book.accounts[key]
    if acct.mtype(symbol) == value:
        raise SimError(-4046, "No need to change margin type.")
    if fut.book.open_orders(key, symbol):
        raise SimError(-4047, "Margin type cannot be changed if there exists open orders.")
    if any(p.symbol == symbol for p in acct.open_positions()):
        raise SimError(-4048, "Margin type cannot be changed if there exists position.")
    acct.margin_type[symbol] = "ISOLATED" if value == "ISOLATED" else "CROSSED"
    return OK


async def position_mode(request: web.Request) -> web.StreamResponse:
    """``GET|POST /fapi/v1/positionSide/dual``."""
    return await (_get_dual if request.method == "GET" else _set_dual)(request)


@fsigned(set())
async def _get_dual(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    return {"dualSidePosition": fut.book.accounts[key].dual}


@fsigned({"dualSidePosition"})
async def _set_dual(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    if not params.get("dualSidePosition"):
        raise mandatory("dualSidePosition")
    want = p_bool(params, "dualSidePosition")
    acct = fut.book.accounts[key]
    if acct.dual == want:
        raise SimError(-4059, "No need to change position side.")
    if fut.book.open_orders(key) or fut.desk.open_algos(key):
        raise SimError(-4067, "Position side cannot be changed if there exists open orders.")
    if acct.open_positions():
        raise SimError(-4068, "Position side cannot be changed if there exists position.")
    acct.dual = want
    return OK


def _figures(fut: FutState, acct: FutAccount) -> dict[str, Decimal]:
    marks = fut.book.marks
    order_margin = fut.book.order_margin(acct)
    upnl = cross_upnl = pos_im = maint = ZERO
    for p in acct.open_positions():
        mark = marks[p.symbol]
        u = acct.unrealized(p, mark)
        upnl += u
        cross_upnl += u if acct.mtype(p.symbol) == "CROSSED" else ZERO
        pos_im += acct.initial_margin(p, mark)
        maint += abs(p.amount) * mark * fut.book.rules[p.symbol].maint_margin_rate
    available = acct.available(marks, order_margin)
    return {
        "wallet": acct.wallet,
        "upnl": upnl,
        "cross_wallet": acct.cross_wallet(),
        "cross_upnl": cross_upnl,
        "pos_im": pos_im,
        "order_im": order_margin,
        "maint": maint,
        "available": available,
        "max_withdraw": max(min(available, acct.cross_wallet()), ZERO),
    }


def _position_json(fut: FutState, acct: FutAccount, p: Position, v3: bool) -> dict[str, Any]:
    mark = fut.book.marks[p.symbol]
    notional = p.amount * mark
    body: dict[str, Any] = {
        "symbol": p.symbol,
        "positionSide": p.side,
        "positionAmt": num(p.amount),
        "entryPrice": num(p.entry_price),
        "breakEvenPrice": num(p.entry_price),
        "markPrice": num(mark),
        "unRealizedProfit": num(acct.unrealized(p, mark)),
        "liquidationPrice": num(acct.liquidation_price(p, fut.book.marks, fut.book.mmr)),
        "isolatedMargin": num(
            p.isolated_wallet + (acct.unrealized(p, mark) if p.isolated_wallet else ZERO)
        ),
        "notional": num(notional),
        "isolatedWallet": num(p.isolated_wallet),
        "updateTime": p.update_time,
    }
    if v3:
        body |= {
            "marginAsset": "USDT",
            "initialMargin": num(acct.initial_margin(p, mark)),
            "maintMargin": num(abs(notional) * fut.book.rules[p.symbol].maint_margin_rate),
            "positionInitialMargin": num(acct.initial_margin(p, mark)),
            "openOrderInitialMargin": "0",
            "adl": 0,
            "bidNotional": "0",
            "askNotional": "0",
        }
    else:
        body |= {
            "marginType": "isolated" if acct.mtype(p.symbol) == "ISOLATED" else "cross",
            "isAutoAddMargin": "false",
            "leverage": str(acct.lev(p.symbol)),
            "maxNotionalValue": "1000000",
        }
    return body


def _positions(fut: FutState, acct: FutAccount, v3: bool) -> list[dict[str, Any]]:
    sides = ("LONG", "SHORT") if acct.dual else ("BOTH",)
    out = []
    for symbol in fut.book.rules:
        for side in sides:
            p = acct.positions.get((symbol, side)) or Position(symbol, side)  # type: ignore[arg-type]
            if v3 and p.amount == 0 and not fut.book.open_orders(acct.key, symbol):
                continue
            out.append(_position_json(fut, acct, p, v3))
    return out


@fsigned({"symbol"})
async def position_risk(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``GET /fapi/v2/positionRisk`` and ``/fapi/v3/positionRisk``."""
    acct = fut.book.accounts[key]
    symbol = fsymbol(fut, params) if params.get("symbol") else None
    rows = _positions(fut, acct, request.path.startswith("/fapi/v3"))
    return [r for r in rows if symbol is None or r["symbol"] == symbol]


@fsigned(set())
async def balance(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``GET /fapi/v2/balance`` and ``/fapi/v3/balance``."""
    acct = fut.book.accounts[key]
    f = _figures(fut, acct)
    return [
        {
            "accountAlias": "SgsR",
            "asset": "USDT",
            "balance": num(f["wallet"]),
            "crossWalletBalance": num(f["cross_wallet"]),
            "crossUnPnl": num(f["cross_upnl"]),
            "availableBalance": num(f["available"]),
            "maxWithdrawAmount": num(f["max_withdraw"]),
            "marginAvailable": True,
            "updateTime": acct.update_time,
        }
    ]


@fsigned(set())
async def account(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``GET /fapi/v2/account`` and ``/fapi/v3/account``."""
    acct = fut.book.accounts[key]
    f = _figures(fut, acct)
    totals = {
        "totalInitialMargin": num(f["pos_im"] + f["order_im"]),
        "totalMaintMargin": num(f["maint"]),
        "totalWalletBalance": num(f["wallet"]),
        "totalUnrealizedProfit": num(f["upnl"]),
        "totalMarginBalance": num(f["wallet"] + f["upnl"]),
        "totalPositionInitialMargin": num(f["pos_im"]),
        "totalOpenOrderInitialMargin": num(f["order_im"]),
        "totalCrossWalletBalance": num(f["cross_wallet"]),
        "totalCrossUnPnl": num(f["cross_upnl"]),
        "availableBalance": num(f["available"]),
        "maxWithdrawAmount": num(f["max_withdraw"]),
    }
    asset = {
        "asset": "USDT",
        "walletBalance": num(f["wallet"]),
        "unrealizedProfit": num(f["upnl"]),
        "marginBalance": num(f["wallet"] + f["upnl"]),
        "maintMargin": num(f["maint"]),
        "initialMargin": num(f["pos_im"] + f["order_im"]),
        "positionInitialMargin": num(f["pos_im"]),
        "openOrderInitialMargin": num(f["order_im"]),
        "crossWalletBalance": num(f["cross_wallet"]),
        "crossUnPnl": num(f["cross_upnl"]),
        "availableBalance": num(f["available"]),
        "maxWithdrawAmount": num(f["max_withdraw"]),
        "marginAvailable": True,
        "updateTime": acct.update_time,
    }
    return {
        "feeTier": 0,
        "feeBurn": False,
        "canTrade": True,
        "canDeposit": False,
        "canWithdraw": False,
        "updateTime": acct.update_time,
        "multiAssetsMargin": False,
        "tradeGroupId": -1,
        **totals,
        "assets": [asset],
        "positions": _positions(fut, acct, request.path.startswith("/fapi/v3")),
    }


@fsigned({"symbol"})
async def leverage_brackets(request: web.Request, fut: FutState, key: str, params: Params) -> Any:
    """``GET /fapi/v1/leverageBracket``: one bracket per symbol (the sim's single MMR)."""
    symbols = [fsymbol(fut, params)] if params.get("symbol") else list(fut.book.rules)
    out = []
    for s in symbols:
        r = fut.book.rules[s]
        bracket = {
            "bracket": 1,
            "initialLeverage": r.max_leverage,
            "notionalCap": 1_000_000,
            "notionalFloor": 0,
            "maintMarginRatio": float(r.maint_margin_rate),
            "cum": 0.0,
        }
        out.append({"symbol": s, "notionalCoef": 1.0, "brackets": [bracket]})
    return out


def add_routes(app: web.Application) -> None:
    """Register the SIGNED futures account endpoints."""
    r = app.router
    r.add_post("/fapi/v1/leverage", leverage)
    r.add_get("/fapi/v1/leverageBracket", leverage_brackets)
    r.add_post("/fapi/v1/marginType", margin_type)
    r.add_get("/fapi/v1/positionSide/dual", position_mode)
    r.add_post("/fapi/v1/positionSide/dual", position_mode)
    for v in ("v2", "v3"):
        r.add_get(f"/fapi/{v}/positionRisk", position_risk)
        r.add_get(f"/fapi/{v}/balance", balance)
        r.add_get(f"/fapi/{v}/account", account)
