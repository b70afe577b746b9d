"""Between signaling and the SFU: media sessions in (`sfu-join`, `sfu-leave`, mute, ends), and
the SFU's speaker updates and media failures out.

A connection's media session is keyed by its sid (the SFU's participant id), never by its
user, so the clean-up of a replaced connection cannot touch the connection that replaced it.
The SFU calls `on_speakers` and `on_media_failed` (its `SfuListener`) synchronously from its
event-loop callbacks; what they send is spawned as background tasks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from api.background import BackgroundTasks
from api.errors import NotInRoom, WrongMediaMode
from api.signaling.payloads import RoomPayload, SfuJoinPayload
from api.signaling.sockets import Sockets
from api.signaling.state import Connection, Departure, SignalingState
from api.store.rooms import Room
from sfu import RoomManager, SpeakerUpdate

Ack = dict[str, Any]


@dataclass(frozen=True)
class _Bound:
    state: SignalingState
    sfu: RoomManager
    background: BackgroundTasks


class SfuBridge:
    """Built with the hub (the SFU needs its listener before it exists); `bind` completes it."""

    def __init__(self, sockets: Sockets) -> None:
        self._sockets = sockets
        self._binding: _Bound | None = None

    def bind(self, state: SignalingState, sfu: RoomManager, background: BackgroundTasks) -> None:
        self._binding = _Bound(state, sfu, background)

    @property
    def _bound(self) -> _Bound:
        assert self._binding is not None, "the bridge is bound at start-up"
        return self._binding

    # --- from clients ---------------------------------------------------------------------

    async def join(self, connection: Connection, payload: SfuJoinPayload) -> Ack:
        room = self._bound.state.current_room(connection, payload.roomId)
        if room.media != "sfu":
            raise WrongMediaMode("This room is peer to peer; use the mesh events.")
        state, sfu, stay = self._bound.state, self._bound.sfu, connection.stay
        answer = await sfu.join(
            room.id,
            room.slots or 1,
            connection.sid,
            connection.user_id,
            payload.sdp,
            on_stage=state.on_stage(connection),
        )
        if connection.stay is not stay:
            # Left, replaced, removed, disconnected or the room closed while negotiating.
            sfu.leave(room.id, connection.sid)
            raise NotInRoom()
        # Either may have changed while the offer was answered.
        sfu.set_muted(room.id, connection.sid, connection.muted)
        sfu.set_on_stage(room.id, connection.sid, state.on_stage(connection))
        return {"type": "answer", "sdp": answer, "slots": room.slots}

    async def leave(self, connection: Connection, payload: RoomPayload) -> Ack:
        room = self._bound.state.current_room(connection, payload.roomId)
        self._bound.sfu.leave(room.id, connection.sid)
        return {}

    # --- from the other jobs --------------------------------------------------------------

    def set_muted(self, room: Room, connection: Connection, muted: bool) -> None:
        """In sfu rooms the server drops a muted publisher's audio."""
        if room.media == "sfu":
            self._bound.sfu.set_muted(room.id, connection.sid, muted)

    def set_on_stage(self, room: Room, connection: Connection) -> None:
        """After a role change: in sfu rooms only hosts' and speakers' audio is received."""
        if room.media == "sfu":
            on_stage = self._bound.state.on_stage(connection)
            self._bound.sfu.set_on_stage(room.id, connection.sid, on_stage)

    def end_media(self, departures: Iterable[Departure]) -> None:
        """At once, before anything is awaited: a departed connection hears nothing more."""
        sfu = self._bound.sfu
        for departure in departures:
            if departure.room.media == "sfu":
                sfu.leave(departure.room.id, departure.connection.sid)

    def close_room(self, room_id: str) -> None:
        self._bound.sfu.close_room(room_id)

    # --- from the SFU (its SfuListener) ---------------------------------------------------

    def on_speakers(
        self, room_id: str, participant_ids: Sequence[str], update: SpeakerUpdate
    ) -> None:
        """From the SFU (≤ 5 a second per listener, only on change): whose voice is on each
        of these listeners' slots, and who is speaking; one message to all of them (one
        encode however large the audience). `participant_ids` are connection ids."""
        state = self._bound.state
        sids = [
            sid
            for sid in participant_ids
            if (listener := state.connection(sid)) is not None and listener.room_id == room_id
        ]
        if not sids:
            return
        speakers = {
            "roomId": room_id,
            "slots": list(update.slots),
            "speaking": sorted(update.speaking),
        }
        self._bound.background.spawn(
            self._sockets.to_each(sids, "speakers", speakers), name="emit-speakers"
        )

    def on_media_failed(self, room_id: str, participant_id: str) -> None:
        """The SFU lost a participant's media connection (ICE consent expired, or never set
        up in time)."""
        self._bound.sfu.leave(room_id, participant_id)
        listener = self._bound.state.connection(participant_id)
        if listener is not None and listener.room_id == room_id:
            self._bound.background.spawn(
                self._sockets.to_one(listener.sid, "sfu-failed", {"roomId": room_id}),
                name="emit-sfu-failed",
            )
