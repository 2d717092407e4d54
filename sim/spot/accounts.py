"""Spot balances with free/locked amounts per asset."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sim.errors import INSUFFICIENT_BALANCE, new_order_rejected

ZERO = Decimal(0)


class Account:
    """Balances of one API key. Amounts never go negative: a failed check changes nothing."""

    def __init__(self, key: str, balances: Mapping[str, Decimal]) -> None:
        self.key = key
        self.free: dict[str, Decimal] = {a: Decimal(v) for a, v in balances.items()}
        self.locked: dict[str, Decimal] = {a: ZERO for a in balances}
        self.update_time = 0
        self._dirty: set[str] = set()

    def available(self, asset: str) -> Decimal:
        """Free amount of ``asset``."""
        return self.free.get(asset, ZERO)

    def require(self, asset: str, amount: Decimal) -> None:
        """Raise ``-2010`` insufficient balance unless ``amount`` is free."""
        if amount > self.available(asset):
            raise new_order_rejected(INSUFFICIENT_BALANCE)

    def lock(self, asset: str, amount: Decimal) -> None:
        """Move ``amount`` from free to locked."""
        self.require(asset, amount)
        self.free[asset] = self.available(asset) - amount
        self.locked[asset] = self.locked.get(asset, ZERO) + amount
        self._dirty.add(asset)

    def unlock(self, asset: str, amount: Decimal) -> None:
        """Move ``amount`` from locked back to free."""
        if amount == 0:
            return
        self.locked[asset] = self.locked.get(asset, ZERO) - amount
        self.free[asset] = self.available(asset) + amount
        self._dirty.add(asset)

    def spend_locked(self, asset: str, amount: Decimal) -> None:
        """Remove ``amount`` from the locked part (paid out in a trade)."""
        self.locked[asset] = self.locked.get(asset, ZERO) - amount
        self._dirty.add(asset)

    def spend_free(self, asset: str, amount: Decimal) -> None:
        """Remove ``amount`` from the free part (checked beforehand)."""
        self.require(asset, amount)
        self.free[asset] = self.available(asset) - amount
        self._dirty.add(asset)

    def credit(self, asset: str, amount: Decimal) -> None:
        """Add ``amount`` to the free part."""
        self.free[asset] = self.available(asset) + amount
        self.locked.setdefault(asset, ZERO)
        self._dirty.add(asset)

    def take_dirty(self) -> tuple[tuple[str, Decimal, Decimal], ...]:
        """(asset, free, locked) for every asset changed since the last call."""
        out = tuple(
            (a, self.free.get(a, ZERO), self.locked.get(a, ZERO)) for a in sorted(self._dirty)
        )
        self._dirty.clear()
        return out

    def snapshot(self) -> list[tuple[str, Decimal, Decimal]]:
        """(asset, free, locked) for every asset ever held."""
        assets = sorted(set(self.free) | set(self.locked))
        return [(a, self.free.get(a, ZERO), self.locked.get(a, ZERO)) for a in assets]
