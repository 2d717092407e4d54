"""The spot protection book: which lists cover the position, which to keep, cancel, place."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from router.ladder import Rung, parse_leg, rung_leg, split_rungs
from router.markets.spot_otoco import plan_otoco
from router.markets.spot_protect import plan_changes, read_book
from router.venues.base import NewOrder
from tests.unit.ladder_support import RULES, bracket


def row(leg: str, status: str, qty: str, filled: str = "0", lst: str | None = None) -> Any:
    parsed = parse_leg(leg)
    list_cid = lst or (f"gl-9-{rung_leg('L', parsed[1], parsed[2])}" if parsed else None)
    return {
        "leg": leg,
        "status": status,
        "quantity": D(qty),
        "filled_quantity": D(filled),
        "list_client_id": list_cid,
    }


def book(rows: list[Any]) -> Any:
    return read_book(rows)


def test_leg_names_round_trip() -> None:
    assert parse_leg("SL2r1") == ("SL", 2, 1)
    assert parse_leg("TP3") == ("TP", 3, 0)
    assert parse_leg("E") is None and parse_leg("M1") is None
    assert rung_leg("TP", 2, 0) == "TP2" and rung_leg("L", 1, 3) == "L1r3"


def test_executed_rungs_take_no_share_and_indices_are_kept() -> None:
    rungs = split_rungs(bracket(), D("0.04"), RULES, skip={1})
    assert [r.index for r in rungs] == [2, 3]
    assert sum(r.quantity for r in rungs) == D("0.04")
    only_last = split_rungs(bracket(), D("0.01"), RULES, skip={1, 2, 3})
    assert [(r.index, r.quantity) for r in only_last] == [(3, D("0.01"))]


def test_pending_otoco_legs_cover_nothing_while_the_entry_works() -> None:
    rows = [
        row("E", "PARTIALLY_FILLED", "0.06", "0.02", "gl-9-L1"),
        row("TP1", "PENDING_NEW", "0.0229"),
        row("SL1", "PENDING_NEW", "0.0229"),
        row("TP1r1", "NEW", "0.006"),
        row("SL1r1", "NEW", "0.006"),
    ]
    b = book(rows)
    assert [rl.list_cid for rl in b.frozen] == ["gl-9-L1"]
    assert [(rl.index, rl.covers) for rl in b.lists] == [(1, D("0.006"))]
    assert b.gens == {1: 1} and not b.in_flight
    rows[0] = row("E", "FILLED", "0.06", "0.06", "gl-9-L1")  # full fill: they activate
    assert len(book(rows).lists) == 2 and not book(rows).frozen


def test_matching_keeps_equal_rungs_and_replaces_the_rest() -> None:
    rows = [
        row("TP1", "NEW", "0.02"),
        row("SL1", "NEW", "0.02"),
        row("TP2", "NEW", "0.01"),
        row("SL2", "NEW", "0.01"),
        row("TP3", "FILLED", "0.01", "0.01"),
        row("SL3", "EXPIRED", "0.01"),
    ]
    ideal = [Rung(1, D("61300"), D("59550"), D("0.02")), Rung(2, D("61650"), D("59550"), D("0.03"))]
    keep, stale, wanted = plan_changes(book(rows), ideal)
    assert [k.index for k in keep] == [1]
    assert [s.list_cid for s in stale] == ["gl-9-L2"]
    assert [w.index for w in wanted] == [2]
    assert book(rows).executed == {3}


def test_a_take_profit_without_its_stop_covers_nothing() -> None:
    rows = [row("TP1", "PARTIALLY_FILLED", "0.02", "0.005"), row("SL1", "EXPIRED", "0.02")]
    assert [(rl.index, rl.covers) for rl in book(rows).lists] == [(1, D(0))]


def test_otoco_pending_quantity_is_rung_one_of_the_expected_net_fill() -> None:
    b = bracket(entry_type="LIMIT")
    entry = NewOrder("BTCUSDT", "BUY", "LIMIT", D("0.0688"), "gl-9-E", D("60250"))
    otoco, rung = plan_otoco(9, b, RULES, entry)
    expected = split_rungs(b, RULES.round_qty(D("0.0688") * D("0.999")), RULES)[0]
    assert rung == expected and otoco.protection.quantity == expected.quantity
    assert otoco.protection.list_client_id == "gl-9-L1"
    assert (otoco.protection.take_profit_client_id, otoco.protection.stop_client_id) == (
        "gl-9-TP1",
        "gl-9-SL1",
    )
    assert otoco.entry is entry
