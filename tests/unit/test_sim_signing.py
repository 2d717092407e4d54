"""Request signing and timing rules (Binance's published HMAC test vector)."""

from __future__ import annotations

import pytest

from sim.errors import SimError
from sim.http_util import check_timestamp, hmac_hex, signature_payload
from sim.spot.userdata import ws_signature_payload

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
PAYLOAD = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
EXPECTED = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_published_hmac_vector() -> None:
    assert hmac_hex(SECRET, PAYLOAD) == EXPECTED


def test_payload_is_query_then_body_without_signature() -> None:
    query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
    body = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    # Binance concatenates query and body with no separator.
    assert signature_payload(query, body + "&signature=abc") == query + body
    assert signature_payload(PAYLOAD + "&signature=" + EXPECTED, "") == PAYLOAD
    assert signature_payload("", PAYLOAD + "&signature=" + EXPECTED) == PAYLOAD


def test_ws_api_payload_is_sorted() -> None:
    params = {"timestamp": 5, "apiKey": "k", "signature": "zz", "recvWindow": 100}
    assert ws_signature_payload(params) == "apiKey=k&recvWindow=100&timestamp=5"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"timestamp": "100000"}, "outside of the recvWindow"),
        ({"timestamp": "111000"}, "1000ms ahead"),
        ({"timestamp": "104000", "recvWindow": "1000"}, "outside of the recvWindow"),
    ],
)
def test_timestamp_rule(params: dict[str, str], message: str) -> None:
    with pytest.raises(SimError, match=message) as exc:
        check_timestamp(params, 110_000)
    assert exc.value.code == -1021 and exc.value.status == 400


def test_timestamp_inside_window_passes() -> None:
    check_timestamp({"timestamp": "105000"}, 110_000)
    check_timestamp({"timestamp": "110999"}, 110_000)
    with pytest.raises(SimError) as exc:
        check_timestamp({"timestamp": "105000", "recvWindow": "70000"}, 110_000)
    assert exc.value.code == -1131
