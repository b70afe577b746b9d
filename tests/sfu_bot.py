"""A participant in its own process, for tests that freeze or kill it:
`python -m tests.sfu_bot BASE_URL ACCESS_TOKEN ROOM_ID` joins the sfu room with a tone,
prints `CONNECTED <its socket id>` once its media connection is up, then idles until killed."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

from sfu.aiortc_hooks import use_host_addresses
from sfu.config import RtcConfig
from tests.sfu_client import SfuClient
from tests.sockets import SocketClient


async def main(base_url: str, token: str, room_id: str) -> None:
    use_host_addresses(["127.0.0.1"])
    socket = SocketClient()
    await socket.connect(base_url, token)
    await socket.join(room_id)
    client = SfuClient(socket, RtcConfig(host_addresses=("127.0.0.1",)), 1, frequency=660.0)
    await client.join(room_id)
    print("CONNECTED", socket.peer_id, flush=True)
    await asyncio.Event().wait()


@contextlib.asynccontextmanager
async def bot_process(
    base_url: str, token: str, room_id: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """This module in its own process, in the room with its media up: (the process, its
    socket id) for the block; killed after it."""
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.sfu_bot", base_url, token, room_id,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert bot.stdout is not None
        status, sid = (await asyncio.wait_for(bot.stdout.readline(), 20)).split()
        assert status == b"CONNECTED"
        yield bot, sid.decode()
    finally:
        bot.kill()
        await bot.wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
