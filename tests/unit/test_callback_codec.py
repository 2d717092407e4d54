"""Signed callback ids: round trip, size and alphabet, and refusal of anything forged."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.callbacks import (
    MAX_DECISION_ID,
    CallbackAction,
    CallbackError,
    decode,
    encode,
)

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
ACTIONS: tuple[CallbackAction, ...] = ("approve", "reject", "chart")
ids = st.integers(min_value=0, max_value=MAX_DECISION_ID)
actions = st.sampled_from(ACTIONS)


@given(ids, actions, st.binary(min_size=16, max_size=64))
def test_round_trip_is_short_ascii_and_url_safe(
    decision_id: int, action: CallbackAction, key: bytes
) -> None:
    token = encode(decision_id, action, key)
    assert len(token.encode("utf-8")) <= 64
    assert re.fullmatch(r"[A-Za-z0-9._-]+", token)
    assert decode(token, key) == (decision_id, action)


def test_token_shape() -> None:
    token = encode(1842, "approve", KEY)
    letter, id_text, tag = token.split(".")
    assert (letter, id_text, len(tag)) == ("a", "1842", 12)
    assert encode(1842, "reject", KEY).startswith("r.1842.")
    assert encode(1842, "chart", KEY).startswith("c.1842.")


@given(ids, actions)
def test_other_key_is_refused(decision_id: int, action: CallbackAction) -> None:
    with pytest.raises(CallbackError, match="signature"):
        decode(encode(decision_id, action, KEY), OTHER_KEY)


@given(ids, actions, actions)
def test_swapping_the_action_letter_is_refused(
    decision_id: int, action: CallbackAction, forged: CallbackAction
) -> None:
    token = encode(decision_id, action, KEY)
    if forged == action:
        return
    tampered = forged[0] + token[1:]
    with pytest.raises(CallbackError, match="signature"):
        decode(tampered, KEY)


@given(st.integers(min_value=0, max_value=MAX_DECISION_ID - 1), actions)
def test_editing_the_decision_id_is_refused(decision_id: int, action: CallbackAction) -> None:
    letter, _, tag = encode(decision_id, action, KEY).split(".")
    with pytest.raises(CallbackError, match="signature"):
        decode(f"{letter}.{decision_id + 1}.{tag}", KEY)


@given(ids, actions, st.data())
def test_any_single_character_change_is_refused(
    decision_id: int, action: CallbackAction, data: st.DataObject
) -> None:
    token = encode(decision_id, action, KEY)
    pos = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    alphabet = "abcrAZ09_-.x"
    new = data.draw(st.sampled_from([c for c in alphabet if c != token[pos]]))
    tampered = token[:pos] + new + token[pos + 1 :]
    with pytest.raises(CallbackError):
        decode(tampered, KEY)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.1842",
        "a.1842.",
        "x.1842.AAAAAAAAAAAA",
        "a.01842.AAAAAAAAAAAA",
        "a.-1.AAAAAAAAAAAA",
        "a.1842.AAAAAAAAAAA",
        "a.1842.AAAAAAAAAAAAA",
        "a.1842.AAAAAAAAAAA=",
        "a.99999999999999999999.AAAAAAAAAAAA",
        "a.9223372036854775808.AAAAAAAAAAAA",
        "a.1842.AAAAAAAAAAAA\n",
        " a.1842.AAAAAAAAAAAA",
        "a.1842.ÄAAAAAAAAAAA",
        "approve:1842",
        "a" * 65,
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(CallbackError):
        decode(token, KEY)


def test_bad_encode_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        encode(1, "approve", b"short")
    with pytest.raises(ValueError, match="out of range"):
        encode(-1, "approve", KEY)
    with pytest.raises(ValueError, match="out of range"):
        encode(MAX_DECISION_ID + 1, "approve", KEY)
    with pytest.raises(ValueError, match="unknown callback action"):
        encode(1, "flatten", KEY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be an int"):
        encode(True, "approve", KEY)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        decode(encode(1, "approve", KEY), b"")
