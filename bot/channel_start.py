"""Start the chat channels, waiting for a chat service that is not reachable yet.

A channel whose service cannot be reached at start (a network error, a timeout) is retried with
capped back-off and one clear log line per try; the bot keeps running and starts serving once
every channel is up. A refusal that retrying cannot fix (a rejected token) still ends the bot.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from bot.channel import Channel, Inbound
from greenlight.core.startup import retry_with_backoff


def temporary_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the chat service is not reachable now"."""
    errors: list[type[BaseException]] = [OSError, TimeoutError]
    try:
        from telegram.error import NetworkError

        errors.append(NetworkError)  # TimedOut too; InvalidToken is not a NetworkError
    except ImportError:  # pragma: no cover - python-telegram-bot is a dependency
        pass
    return tuple(errors)


async def start_channels(
    channels: Sequence[Channel], inbound: Inbound, first_delay_s: float = 1.0
) -> None:
    """``start`` every channel in order, retrying each while its service is unreachable."""
    for ch in channels:
        await retry_with_backoff(
            f"chat channel {ch.name}",
            functools.partial(ch.start, inbound),
            temporary_errors(),
            "Check the network and the channel's base_url; the bot keeps trying.",
            first_delay_s=first_delay_s,
        )
