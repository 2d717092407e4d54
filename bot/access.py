"""Who may do what: an allow-list of chat user ids with roles viewer < trader < admin."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from greenlight.core.settings import AccessUser

Role = Literal["viewer", "trader", "admin"]
RANK: dict[str, int] = {"viewer": 1, "trader": 2, "admin": 3}


class AccessList:
    """Roles per (channel, user id); anyone not listed has no role at all."""

    def __init__(self, users: Iterable[AccessUser]) -> None:
        self._roles: dict[tuple[str, str], Role] = {(u.channel, u.user_id): u.role for u in users}
        self._names: dict[tuple[str, str], str] = {(u.channel, u.user_id): u.name for u in users}

    def role(self, channel: str, user_id: str) -> Role | None:
        """The user's role, or ``None`` if not on the allow-list."""
        return self._roles.get((channel, user_id))

    def allows(self, channel: str, user_id: str, needed: Role) -> bool:
        """Whether the user's role is at least ``needed``."""
        role = self.role(channel, user_id)
        return role is not None and RANK[role] >= RANK[needed]

    def users(self, channel: str) -> list[tuple[str, Role]]:
        """``(user id, role)`` of everyone listed for ``channel``."""
        return [(u, r) for (c, u), r in self._roles.items() if c == channel]

    def display_name(self, channel: str, user_id: str) -> str:
        """A human name for messages: the configured name or ``channel:user``."""
        return self._names.get((channel, user_id)) or f"{channel}:{user_id}"
