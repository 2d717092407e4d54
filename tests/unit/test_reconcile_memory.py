"""Account-level differences are alerted once, and on periodic passes only once confirmed."""

from __future__ import annotations

from router.differences import DifferenceMemory


def test_each_difference_is_reported_once() -> None:
    m = DifferenceMemory()
    assert m.report("k", (1, 2), confirm=False)
    assert not m.report("k", (1, 2), confirm=False)
    assert m.report("k", (1, 3), confirm=False)  # a different difference
    assert not m.report("k", None, confirm=False)  # gone: forgotten …
    assert m.report("k", (1, 3), confirm=False)  # … so its return is news again


def test_periodic_passes_need_the_same_difference_twice_in_a_row() -> None:
    m = DifferenceMemory()
    assert not m.report("k", (1, 2), confirm=True)  # first sight: maybe a fill in flight
    assert not m.report("k", None, confirm=True)  # it was
    assert not m.report("k", (1, 2), confirm=True)
    assert not m.report("k", (1, 5), confirm=True)  # changed: start over
    assert m.report("k", (1, 5), confirm=True)
    assert not m.report("k", (1, 5), confirm=True)
    assert not m.report("other", (1, 5), confirm=True)  # keys are independent
