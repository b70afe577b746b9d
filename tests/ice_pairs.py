"""Bare aioice connections paired with each other on this machine, without any signaling:
each side is told the other's credentials and candidates directly (RFC 8445 §5.3's exchange,
done in memory)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aioice

IcePair = tuple[aioice.Connection, aioice.Connection]
CONNECT_SECONDS = 10.0


async def connect_pairs(pairs: Sequence[IcePair]) -> None:
    """Gather, exchange and connect every (controlling, controlled) pair at once.

    Raises TimeoutError when they are not all connected within CONNECT_SECONDS, and aioice's
    ConnectionError when a pair's checks fail."""
    await asyncio.gather(*(c.gather_candidates() for pair in pairs for c in pair))
    for first, second in pairs:
        for local, remote in ((first, second), (second, first)):
            local.remote_username = remote.local_username
            local.remote_password = remote.local_password
            for candidate in remote.local_candidates:
                await local.add_remote_candidate(candidate)
            await local.add_remote_candidate(None)
    connecting = asyncio.gather(*(c.connect() for pair in pairs for c in pair))
    await asyncio.wait_for(connecting, CONNECT_SECONDS)


async def loopback_pair() -> IcePair:
    """One connected (controlling, controlled) pair over IPv4."""
    pair = (
        aioice.Connection(ice_controlling=True, use_ipv6=False),
        aioice.Connection(ice_controlling=False, use_ipv6=False),
    )
    await connect_pairs([pair])
    return pair
