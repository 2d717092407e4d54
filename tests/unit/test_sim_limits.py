"""Request-weight budget: 429 with Retry-After, then escalating 418 bans."""

from __future__ import annotations

import pytest

from sim.limits import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0  # a minute boundary

    def __call__(self) -> float:
        return self.now


def test_budget_then_429_until_the_minute_ends() -> None:
    clock = Clock()
    lim = RateLimiter(spot_limit=50, futures_limit=10, ban_after=3, ban_seconds=2, clock=clock)
    assert [lim.charge("ip", "spot", 20).status for _ in range(3)] == [200, 200, 429]
    assert lim.charge("ip", "futures", 10).status == 200  # separate budget per market
    clock.now += 15
    v = lim.charge("ip", "spot", 1)
    assert (v.status, v.retry_after, v.used) == (429, 45, 61)
    clock.now += 45  # next minute: budget restored
    assert lim.charge("ip", "spot", 20).status == 200
    assert lim.charge("other", "spot", 50).status == 200


def test_ignoring_429s_gets_an_escalating_ban() -> None:
    clock = Clock()
    lim = RateLimiter(spot_limit=1, ban_after=2, ban_seconds=2, clock=clock)
    statuses = [lim.charge("ip", "spot", 1).status for _ in range(5)]
    assert statuses == [200, 429, 429, 418, 418]
    v = lim.charge("ip", "spot", 1)
    assert v.retry_after == 2 and v.banned_until_ms == int((clock.now + 2) * 1000)
    clock.now += 60  # ban over, new minute: keeps hammering again
    statuses = [lim.charge("ip", "spot", 1).status for _ in range(4)]
    assert statuses == [200, 429, 429, 418]
    assert lim.charge("ip", "spot", 1).retry_after == 4  # doubled


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(spot_limit=0)
