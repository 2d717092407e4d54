"""The paper venue's pure parts: the price path read off kline updates (the simulator's own
path, as an oracle), the kline cache's paging, frame decoding, symbol rules read back from
exchangeInfo, slippage on taker fills only, and a source client that can only read."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from greenlight.core.candlefile import read_candles
from sim.errors import SimError
from sim.paper.exchange import PaperExchange
from sim.paper.frames import FrameError, decode
from sim.paper.klines import KlineCache
from sim.paper.path import PathTracker, candle_path, walk
from sim.paper.rules import RulesError, rules_from_info
from sim.paper.upstream import PUBLIC_PATHS, Upstream, stream_base
from sim.replay.player import Replay
from sim.slippage import Slippage
from sim.spot.exchange_info import exchange_info
from sim.spot.filters import rules_for
from sim.spot.orders import OcoRequest, OrderRequest

REPO = Path(__file__).resolve().parents[2]
BTC = rules_for("BTCUSDT", [9000.0])
T0 = 1_600_000_000_000
TF = 900_000


def test_the_path_read_off_kline_updates_is_the_simulators_own() -> None:
    """A paper venue following ``greenlight sim`` walks exactly the simulator's path: the
    updates of 600 real candles (two in-progress updates each, the default) give back the
    path the replay walked between them."""
    candles = read_candles(REPO / "data" / "BTCUSDT-15m-2019-2020.csv.gz").slice(0, 610)
    replay = Replay({"BTCUSDT": candles}, TF, history_candles=10, updates_per_candle=2)
    tracker = PathTracker()
    last = float(candles.close[9])
    steps = 0
    while not replay.finished:
        for u in replay.step():
            path = tracker.update(u.symbol, u.open_time, (u.open, u.high, u.low, u.close), last)
            assert path == _dedup(u.path), (u, path)
            last = u.close
            steps += 1
    assert steps == 600 * 3


def _dedup(path: tuple[float, ...]) -> tuple[float, ...]:
    out = [path[0]]
    for p in path[1:]:
        if p != out[-1]:
            out.append(p)
    return tuple(out)


def test_path_rules_nearer_extreme_first_low_on_a_tie_and_old_candles_ignored() -> None:
    assert candle_path(100, 110, 95, 105) == (100, 95, 110, 105)  # the low is nearer
    assert candle_path(100, 103, 90, 99) == (100, 103, 90, 99)  # the high is nearer
    assert candle_path(100, 105, 95, 100) == (100, 95, 105, 100)  # a tie: the low first
    assert walk(100, None, None, 100) == (100,)
    t = PathTracker()
    assert t.update("X", 2 * TF, (100, 101, 99, 100), 0) == (100, 99, 101, 100)
    assert t.update("X", 2 * TF, (100, 101, 98, 98.5), 100) == (98, 98.5)  # only the new low
    assert t.update("X", 2 * TF, (100, 101, 98, 99), 98.5) == (99,)  # inside the range
    assert t.update("X", TF, (1, 2, 0.5, 1), 99) == ()  # a late update of an older candle


def row(open_time: int, close: str = "100", high: str = "101", low: str = "99") -> list[Any]:
    t = open_time * TF
    return [t, "100", high, low, close, "1", t + TF - 1, "100", 1, "0", "0", "0"]


def test_kline_cache_pages_as_binance_and_knows_what_it_cannot_answer() -> None:
    cache = KlineCache()
    cache.seed("BTCUSDT", "15m", [row(i) for i in range(10, 21)], now=20 * TF + 5, asked=11)
    assert cache.select("BTCUSDT", "15m", None, None, 3) == [row(18), row(19), row(20)]
    assert cache.select("BTCUSDT", "15m", 12 * TF, None, 2) == [row(12), row(13)]
    assert cache.select("BTCUSDT", "15m", None, 15 * TF, 2) == [row(14), row(15)]
    assert cache.select("BTCUSDT", "15m", 19 * TF + 1, 20 * TF, 5) == [row(20)]
    assert cache.select("BTCUSDT", "15m", 5 * TF, None, 3) is None  # before the cache
    assert cache.select("BTCUSDT", "15m", None, None, 12) is None  # more than it holds
    assert cache.select("BTCUSDT", "1h", None, None, 1) is None  # not followed
    assert cache.last_closed("BTCUSDT", "15m") == row(19)  # row 20 is in progress
    # the source had fewer rows than asked: the cache holds its very beginning
    small = KlineCache()
    small.seed("BTCUSDT", "15m", [row(1), row(2)], now=3 * TF, asked=1000)
    assert small.select("BTCUSDT", "15m", 0, None, 500) == [row(1), row(2)]
    assert small.select("BTCUSDT", "15m", None, None, 500) == [row(1), row(2)]


def kline(open_time: int, close: str, closed: bool, event: int) -> dict[str, Any]:
    t = open_time * TF
    k = {"t": t, "T": t + TF - 1, "s": "BTCUSDT", "i": "15m", "o": "100", "c": close}
    k |= {"h": "102", "l": "98", "v": "3", "n": 7, "x": closed, "q": "300", "V": "1"}
    return {"e": "kline", "E": event, "s": "BTCUSDT", "k": k | {"Q": "100", "B": "0"}}


def test_frames_decode_plain_and_combined_and_keep_the_sources_payload() -> None:
    payload = kline(20, "101.5", False, 20 * TF + 300_000)
    f = decode({"stream": "btcusdt@kline_15m", "data": payload})
    assert f is not None and f.payload is payload
    assert (f.symbol, f.interval, f.event_time, f.close, f.closed) == (
        "BTCUSDT",
        "15m",
        20 * TF + 300_000,
        101.5,
        False,
    )
    assert f.row == [
        20 * TF,
        "100",
        "102",
        "98",
        "101.5",
        "3",
        21 * TF - 1,
        "300",
        7,
        "1",
        "100",
        "0",
    ]
    assert decode({"result": None, "id": 1}) is None
    assert decode({"e": "serverShutdown", "E": 1}) is None
    with pytest.raises(FrameError):
        decode({"e": "kline", "E": 1, "s": "BTCUSDT", "k": {"t": "x"}})
    cache = KlineCache()
    cache.apply(f)
    closing = decode(kline(20, "101", True, 21 * TF))
    assert closing is not None
    cache.apply(closing)
    assert cache.select("BTCUSDT", "15m", 20 * TF, None, 5) == [closing.row]


@pytest.mark.parametrize("symbol", ["BTCUSDT", "XRPUSDT"])
def test_rules_read_back_from_exchange_info_are_the_rules_it_was_written_from(
    symbol: str,
) -> None:
    rules = rules_for(symbol, [0.5] if symbol == "XRPUSDT" else [9000.0])
    assert rules_from_info(exchange_info([rules], 0), symbol) == rules
    with pytest.raises(RulesError, match="does not list ETHUSDT"):
        rules_from_info(exchange_info([rules], 0), "ETHUSDT")


def paper(slip: Slippage, usdt: str = "100000", btc: str = "0", rng: str = "50") -> PaperExchange:
    ex = PaperExchange({"BTCUSDT": BTC}, D("0.001"), slip, lambda _s: D(rng))
    ex.add_account("a", {"USDT": D(usdt), "BTC": D(btc)})
    ex.set_price("BTCUSDT", D("10000.00"))
    return ex


def req(side: str, type_: str, **kw: object) -> OrderRequest:
    return OrderRequest(symbol="BTCUSDT", side=side, type=type_, **kw)  # type: ignore[arg-type]


def expected(raw: str, side: str, bps: str = "5", frac: str = "0.02", rng: str = "50") -> D:
    slip = D(raw) * D(bps) / 10_000 + D(frac) * D(rng)
    moved = D(raw) + slip if side == "BUY" else D(raw) - slip
    return moved.quantize(D("0.01"), ROUND_HALF_EVEN)


def test_taker_fills_slip_against_the_order_maker_fills_never() -> None:
    ex = paper(Slippage(D(5), D("0.02")), btc="3")
    buy = ex.place("a", req("BUY", "MARKET", quantity=D("1")), T0).trades[0]
    assert buy.price == expected("10000", "BUY") == D("10006.00")
    sell = ex.place("a", req("SELL", "MARKET", quantity=D("1")), T0).trades[0]
    assert sell.price == expected("10000", "SELL") == D("9994.00")
    # a marketable limit slips too, but never beyond its own price
    capped = ex.place(
        "a", req("BUY", "LIMIT", quantity=D("0.1"), price=D("10003"), time_in_force="GTC"), T0
    )
    assert capped.trades[0].price == D("10003")
    # an OCO: the take-profit rests and fills at its price; the other leg expires
    oco = OcoRequest(
        "BTCUSDT",
        "SELL",
        D("1"),
        req("SELL", "LIMIT_MAKER", quantity=D("1"), price=D("10100")),
        req("SELL", "STOP_LOSS", quantity=D("1"), stop_price=D("9900")),
    )
    ex.place_oco("a", oco, T0)
    tp = ex.on_price("BTCUSDT", [D("10150.00")], T0 + 1).trades
    assert [t.price for t in tp] == [D("10100")]
    # a triggered stop fills as market at its level, moved against it
    ex.place("a", req("SELL", "STOP_LOSS", quantity=D("1"), stop_price=D("10050")), T0 + 2)
    stop = ex.on_price("BTCUSDT", [D("10000.00")], T0 + 3).trades
    assert [t.price for t in stop] == [expected("10050", "SELL")]


def test_no_slippage_fills_as_the_simulator_and_market_buys_must_afford_the_slip() -> None:
    plain = paper(Slippage())
    assert plain.place("a", req("BUY", "MARKET", quantity=D("1")), T0).trades[0].price == D(
        "10000.00"
    )
    tight = paper(Slippage(D(100), D(0)), usdt="10050")  # 1 % slip: 10,100 for one BTC
    with pytest.raises(SimError, match="insufficient balance"):
        tight.place("a", req("BUY", "MARKET", quantity=D("1")), T0)
    assert tight.accounts["a"].free["USDT"] == D("10050")  # nothing changed


async def test_the_source_client_only_reads_public_market_data() -> None:
    async with aiohttp.ClientSession() as http:
        up = Upstream(http, "https://api.binance.com")
        for path in ("/api/v3/order", "/api/v3/account", "/sapi/v1/capital/withdraw/apply"):
            with pytest.raises(ValueError, match="never calls"):
                await up.get(path, [])
        with pytest.raises(ValueError, match="never calls"):
            await up.get("/sim/admin/status", [])  # asked of a simulator on this machine only
    assert all(p.startswith("/api/v3/") for p in PUBLIC_PATHS)
    assert not {"/api/v3/order", "/api/v3/account", "/api/v3/userDataStream"} & PUBLIC_PATHS


def test_stream_hosts() -> None:
    assert stream_base("https://api.binance.com") == "wss://stream.binance.com:9443"
    assert stream_base("https://testnet.binance.vision") == "wss://stream.testnet.binance.vision"
    assert stream_base("http://127.0.0.1:8765") == "ws://127.0.0.1:8765"
    assert stream_base("https://example.org", "wss://feed.example.org/") == "wss://feed.example.org"
