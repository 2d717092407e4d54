"""Account-level differences between the database and the venue, each alerted once.

:class:`DifferenceMemory` keeps account-level alerts (positions, balances, foreign orders)
from repeating every reconciliation pass, and on periodic passes lets a difference through
only once it was seen twice in a row (a fill in flight makes the books differ for a moment).
"""

from __future__ import annotations


class DifferenceMemory:
    """Which account-level differences were reported, and which a periodic pass saw once."""

    def __init__(self) -> None:
        self._seen: dict[str, object] = {}
        self._reported: dict[str, object] = {}

    def report(self, key: str, value: object | None, confirm: bool) -> bool:
        """Whether to alert ``value`` (``None``: no difference) for ``key`` now.

        Each distinct difference is reported once; with ``confirm`` only when the previous
        pass saw the very same difference.
        """
        if value is None:
            self._seen.pop(key, None)
            self._reported.pop(key, None)
            return False
        if self._reported.get(key) == value:
            return False
        first_sight = self._seen.get(key) != value
        self._seen[key] = value
        if confirm and first_sight:
            return False
        self._reported[key] = value
        return True
