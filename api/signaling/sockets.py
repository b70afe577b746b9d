"""The signaling jobs' one handle on Socket.IO: send, group connections by room, disconnect.

Each signaling room has a Socket.IO room of the same occupants (`room_name`), so a broadcast
is one `emit`: python-socketio encodes the packet once and queues it to every recipient, and a
Socket.IO manager shared between processes (DESIGN §7: `AsyncRedisManager`) carries it as one
message. A connection enters that room in the same step as it joins the signaling room and
leaves it in the same step as it leaves (python-socketio also drops a disconnected sid from
all its rooms), so from the moment a connection is out of a room it hears nothing more from
it. Entering and leaving never suspend (python-socketio keeps rooms in local dictionaries,
with the Redis manager too); emits do.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import socketio

NAMESPACE = "/"


def room_name(room_id: str) -> str:
    """The Socket.IO room of a signaling room (prefixed: never mistaken for a sid's room)."""
    return f"room:{room_id}"


class Sockets:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def enter(self, sid: str, room_id: str) -> None:
        await self._sio.enter_room(sid, room_name(room_id), namespace=NAMESPACE)

    async def leave(self, sid: str, room_id: str) -> None:
        await self._sio.leave_room(sid, room_name(room_id), namespace=NAMESPACE)

    async def to_room(
        self, room_id: str, event: str, data: Any, skip: Collection[str] = ()
    ) -> None:
        """To every occupant of the room but those in `skip` (sids): one encode."""
        await self._sio.emit(
            event, data, room=room_name(room_id), skip_sid=list(skip), namespace=NAMESPACE
        )

    async def to_one(self, sid: str, event: str, data: Any) -> None:
        await self._sio.emit(event, data, to=sid, namespace=NAMESPACE)

    async def to_each(self, sids: Collection[str], event: str, data: Any) -> None:
        """To each of these connections: one encode."""
        if sids:  # an empty `to` would mean everyone
            await self._sio.emit(event, data, to=list(sids), namespace=NAMESPACE)

    async def disconnect(self, sid: str) -> None:
        await self._sio.disconnect(sid, namespace=NAMESPACE)
