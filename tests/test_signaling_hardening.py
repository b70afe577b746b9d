"""What a security review found after issue 9's first fixes, each as a test that failed then.

Races are driven under contention (other people joining and leaving the same room keep its
lock busy), as an attacker would, not on an idle room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from api.services import SERVICES
from api.signaling.hub import SIGNALING
from tests.conftest import RunningServer
from tests.people import Person, invite
from tests.sockets import SocketClient

MakePerson = Callable[[str], Awaitable[Person]]
CHURNERS = 5
TRIALS = 12


@contextlib.asynccontextmanager
async def churn(people: list[Person], room: str) -> AsyncIterator[None]:
    """Keeps the room's lock busy: each person joins and leaves it in a loop."""
    sockets = [await someone.socket() for someone in people]
    stop = asyncio.Event()

    async def loop(socket: SocketClient) -> None:
        while not stop.is_set():
            await socket.call("join", {"roomId": room})
            await socket.call("leave", {"roomId": room})

    tasks = [asyncio.create_task(loop(socket)) for socket in sockets]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_a_join_racing_a_removal_under_contention_never_stays_inside(
    person: MakePerson, server: RunningServer
) -> None:
    owner, victim = await person("Owner"), await person("Victim")
    others = [await person(f"Other{n}") for n in range(CHURNERS)]
    room = await owner.create_room(media="sfu", visibility="private")
    for someone in others:
        await invite(owner, room, someone)
    hub = server.app[SIGNALING]
    async with churn(others, room):
        for trial in range(TRIALS):
            await invite(owner, room, victim)
            socket = await victim.socket()

            async def remove(offset: float = trial * 0.001) -> int:
                await asyncio.sleep(offset)  # the race's offset, not a wait for an event
                url = f"/api/rooms/{room}/members/{victim.user_id}"
                return (await owner.http.delete(url)).status

            ack, status = await asyncio.gather(socket.call("join", {"roomId": room}), remove())
            assert status == 204
            if ack["ok"]:
                removed = await socket.next("removed-from-room")
                assert removed == {"roomId": room, "by": owner.user_id, "banned": False}
            else:
                assert ack["error"]["code"] == "not_found", ack
            assert hub.state.occupant_of_user(room, victim.user_id) is None, trial
            refused = await socket.call("sfu-join", {"roomId": room, "sdp": "v=0\r\n"})
            assert refused["error"]["code"] == "not_in_room"
            await socket.close()


async def test_a_join_racing_the_close_under_contention_never_stays_inside(
    person: MakePerson, server: RunningServer
) -> None:
    owner, guest = await person("Owner"), await person("Guest")
    others = [await person(f"Other{n}") for n in range(CHURNERS)]
    hub = server.app[SIGNALING]
    for trial in range(TRIALS // 2):
        room = await owner.create_room(media="sfu")
        async with churn(others, room):
            socket = await guest.socket()

            async def close(offset: float = trial * 0.002, room: str = room) -> int:
                await asyncio.sleep(offset)  # the race's offset, not a wait for an event
                return (await owner.http.delete(f"/api/rooms/{room}")).status

            ack, status = await asyncio.gather(socket.call("join", {"roomId": room}), close())
        assert status == 204
        if ack["ok"]:
            assert await socket.next("room-closed") == {"roomId": room}
        else:
            assert ack["error"]["code"] == "room_closed", ack
        assert hub.state.occupants(room) == []
        assert room not in server.app[SERVICES].sfu.rooms
        await socket.close()


async def test_a_join_racing_its_own_disconnect_leaves_no_ghost(
    person: MakePerson, server: RunningServer
) -> None:
    owner, ghost = await person("Owner"), await person("Ghost")
    others = [await person(f"Other{n}") for n in range(CHURNERS)]
    room = await owner.create_room()
    hub = server.app[SIGNALING]
    async with churn(others, room):
        for _ in range(TRIALS):
            socket = SocketClient()
            await socket.connect(ghost.base_url, ghost.access_token)
            await socket.sio.emit("join", {"roomId": room})
            await socket.sio.eio.disconnect(abort=True)  # gone mid-join, without a word
            await socket.close()
    deadline = time.monotonic() + 10
    while hub.state.connections_of_user(ghost.user_id):
        # The server handles the last disconnects; sample its state (no event to await).
        assert time.monotonic() < deadline, "a disconnected connection is still known"
        await asyncio.sleep(0.05)
    assert hub.state.occupant_of_user(room, ghost.user_id) is None


async def test_revoking_sessions_elsewhere_never_fails_other_peoples_joins(
    person: MakePerson,
) -> None:
    mallory, ann = await person("Mallory"), await person("Ann")
    room = await ann.create_room()
    socket = await ann.socket()
    stop = asyncio.Event()

    async def revoke_forever() -> None:
        while not stop.is_set():
            await mallory.http.delete("/api/auth/sessions")

    revokers = [asyncio.create_task(revoke_forever()) for _ in range(8)]
    try:
        for _ in range(20):
            joined = await socket.call("join", {"roomId": room})
            assert joined["ok"], joined
            assert (await socket.call("leave", {"roomId": room}))["ok"]
            extra = SocketClient()
            await extra.connect(ann.base_url, ann.access_token)  # refused with try_again before
            await extra.close()
    finally:
        stop.set()
        await asyncio.gather(*revokers)


async def test_an_owners_mute_holds_until_the_owner_lifts_it(person: MakePerson) -> None:
    owner, guest = await person("Owner"), await person("Guest")
    room = await owner.create_room(media="sfu")
    o, g = await owner.socket(), await guest.socket()
    await o.join(room)
    await g.join(room)
    muted = await o.call("mute-participant", {"roomId": room, "userId": guest.user_id})
    assert muted == {"ok": True}
    refused = await g.call("unmute", {"roomId": room})
    assert refused["error"]["code"] == "muted_by_owner"
    assert (await g.call("mute", {"roomId": room}))["ok"]  # muting oneself again is harmless
    assert (await g.call("unmute", {"roomId": room}))["error"]["code"] == "muted_by_owner"
    lifted = await o.call("unmute-participant", {"roomId": room, "userId": guest.user_id})
    assert lifted == {"ok": True}
    info = await g.next("mute-info")
    while info["mute"]:
        info = await g.next("mute-info")
    assert info == {"userId": guest.user_id, "mute": False, "isMute": False, "by": owner.user_id}
    assert (await g.call("unmute", {"roomId": room}))["ok"]
    assert (await g.call("unmute-participant", {"roomId": room, "userId": owner.user_id}))["error"][
        "code"
    ] == "not_room_owner"


async def test_odd_event_names_get_an_error_ack_and_no_traceback(
    person: MakePerson, server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    ann = await person("Ann")
    url = f"{server.base_url}/socket.io/?EIO=4&transport=websocket"
    frames = {
        "4211[{}]": "4311",
        '4212[["a"],1]': "4312",
        "4213[7]": "4313",
        '4214["Join",{}]': "4314",
        '4215["connect_error"]': "4315",
        '4216["disconnecting"]': "4316",
        '4217["*"]': "4317",
    }
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.receive()
        await ws.send_str('40{"token": "%s"}' % ann.access_token)  # noqa: UP031
        assert (await ws.receive()).data.startswith("40")
        for frame in frames:
            await ws.send_str(frame)
        answers: dict[str, str] = {}
        while len(answers) < len(frames):
            message = await asyncio.wait_for(ws.receive(), 10)
            assert message.type == aiohttp.WSMsgType.TEXT, message
            if message.data == "2":
                await ws.send_str("3")  # Engine.IO ping
                continue
            answers[message.data[:4]] = message.data
    for prefix in frames.values():
        assert '"code":"unknown_event"' in answers[prefix].replace(" ", ""), answers
    assert not [r for r in caplog.records if r.exc_info or "never retrieved" in r.getMessage()]


async def test_a_websocket_never_receives_an_http_answer(server: RunningServer) -> None:
    url = f"{server.base_url}/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.receive()
        await ws.send_str("zzz")  # not an Engine.IO packet at all
        received = []
        async for message in ws:  # until the server closes it
            received.append(message.data)
    # At most Engine.IO's own close packet ("1"), never an HTTP status line.
    assert received in ([], ["1"]), received


async def test_an_anonymous_engine_io_session_is_dropped_after_ten_seconds(
    server: RunningServer,
) -> None:
    url = f"{server.base_url}/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        opened = time.monotonic()
        await ws.receive()
        while True:  # answers every ping, never signs in
            message = await asyncio.wait_for(ws.receive(), 20)
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            if message.data == "2":
                await ws.send_str("3")
        assert 9 < time.monotonic() - opened < 20
