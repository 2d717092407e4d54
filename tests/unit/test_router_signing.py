from __future__ import annotations

from urllib.parse import parse_qsl

from router.signing import encode_params, hmac_signature, signed_query, ws_signature

SPOT_DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
SPOT_DOC_PAYLOAD = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)


def test_published_hmac_vector() -> None:
    assert (
        hmac_signature(SPOT_DOC_SECRET, SPOT_DOC_PAYLOAD)
        == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    )


def test_signed_query_signs_exactly_what_is_sent_and_appends_signature_last() -> None:
    params = dict(parse_qsl(SPOT_DOC_PAYLOAD))
    query = signed_query(SPOT_DOC_SECRET, params)
    body, _, sig = query.rpartition("&signature=")
    assert body == SPOT_DOC_PAYLOAD
    assert sig == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_percent_encoding_is_part_of_the_signed_payload() -> None:
    params = {"symbols": '["BTCUSDT","BNBBTC"]', "newClientOrderId": "gl-1 E"}
    encoded = encode_params(params)
    assert encoded == "symbols=%5B%22BTCUSDT%22%2C%22BNBBTC%22%5D&newClientOrderId=gl-1+E"
    query = signed_query("s3cret", params)
    assert query.endswith("&signature=" + hmac_signature("s3cret", encoded))
    assert hmac_signature("s3cret", encoded) != hmac_signature("s3cret", '["BTCUSDT","BNBBTC"]')


def test_ws_signature_sorts_parameters_alphabetically() -> None:
    params = {"timestamp": "1700000000000", "apiKey": "k"}
    expected = hmac_signature("s", "apiKey=k&timestamp=1700000000000")
    assert ws_signature("s", params) == expected
