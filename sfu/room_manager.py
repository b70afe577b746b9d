"""The SFU's entry point (mediasoup's Worker and Router in one): rooms by id, created on first
join and dropped when empty, and the process-wide aiortc hooks the media plane runs on.

The signaling layer calls `join`/`leave`/`set_muted`/`close_room` and hears back through one
`SfuListener`. A participant is a media session: its id is chosen by the caller (one per
signaling connection) and is never the user's id, so a user's older session ending can never
take a newer one with it.

`leave` and `close_room` take effect at once (nothing more is forwarded to or from those
sessions when they return); closing the peer connections, which may take seconds, happens in
tasks the manager owns and `closed()`/`stop()` wait for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Protocol

from sfu import aiortc_hooks
from sfu.config import SfuConfig
from sfu.participant import Participant
from sfu.room import FailureSink as ParticipantFailureSink
from sfu.room import PacketSink, Room, RoomParticipant, SpeakerUpdate
from sfu.rtcp_schedule import RtcpSchedule
from sfu.rtp_batch import new_batch
from sfu.stats import SfuStats


class SfuListener(Protocol):
    """What the SFU tells its user (signaling); both are called synchronously, from the
    packet path's event loop, and must not block."""

    def on_speakers(
        self, room_id: str, participant_ids: Sequence[str], update: SpeakerUpdate
    ) -> None:
        """Whose voice is on each of these listeners' slots changed (≤ 5 a second); every
        listener whose new update is this one, in one call."""

    def on_media_failed(self, room_id: str, participant_id: str) -> None:
        """The participant's media connection died (ICE consent lost, DTLS closed) or was
        not set up within `media_setup_seconds`. It is still in the room until `leave`."""


class SfuStartError(RuntimeError):
    """The media plane cannot run: the installed aiortc/aioice moved internals it relies on,
    a configured address is no IP, or RTC_UDP_PORT cannot be bound (the message says which,
    e.g. "RTC_UDP_PORT 40000 is in use on 127.0.0.1")."""


class RoomManager:
    def __init__(
        self, config: SfuConfig, listener: SfuListener, stats: SfuStats | None = None
    ) -> None:
        self.config = config
        self.stats = stats or SfuStats()
        # Every room's forwarded datagrams, sent together once per received packet.
        self.batch = new_batch()
        # Every connection's periodic RTCP, on one timer.
        self.rtcp = RtcpSchedule(config.rtcp_interval_seconds)
        self._listener = listener
        self.rooms: dict[str, Room] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._restore: Callable[[], None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Check aiortc's internals and apply this config's process-wide hooks (ICE host
        addresses, announced address, consent policy, DTLS interoperability) and, with
        `rtc.udp_port`, bind the shared media port on each host address (`sfu.media_port`;
        call it on the event loop that serves the media). Raises SfuStartError saying what
        moved, which address is no IP, or which port cannot be bound where; nothing is
        installed or bound then."""
        try:
            aiortc_hooks.check_internals()
            self._restore = aiortc_hooks.install(self.config)
        except (RuntimeError, ValueError) as error:  # MediaPortUnavailable is a RuntimeError
            raise SfuStartError(str(error)) from None

    def media_ready(self) -> bool:
        """Whether new media sessions can be set up: started, and the shared media port bound
        on every host address when one is configured (RTC_UDP_PORT)."""
        if self._restore is None:
            return False
        return self.config.rtc.udp_port is None or aiortc_hooks.media_ports_bound()

    def media_port_faults(self) -> tuple[int, int]:
        """`(dropped, errors)` summed over the shared media ports since they opened: datagrams
        no connection took (strangers, unknown ICE usernames, junk) and datagrams that could
        not be sent or whose handler raised. `(0, 0)` without RTC_UDP_PORT."""
        ports = [p.stats() for p in aiortc_hooks.active_media_ports()]
        return sum(p.dropped for p in ports), sum(p.errors for p in ports)

    def send_failures(self) -> int:
        """Forwarded datagrams the kernel refused since start (sfu.rtp_batch)."""
        return self.batch.failed

    async def stop(self) -> None:
        """Close every room, wait for their connections to close, restore the hooks."""
        for room_id in list(self.rooms):
            self.close_room(room_id)
        await self.closed()
        self.rtcp.close()
        if self._restore is not None:
            self._restore()
            self._restore = None

    async def __aenter__(self) -> RoomManager:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def closed(self) -> None:
        """Wait until every peer connection that left or was closed is fully closed."""
        while self._closing:
            await asyncio.gather(*self._closing)

    # --- sessions ------------------------------------------------------------------------------

    async def join(
        self,
        room_id: str,
        slot_count: int,
        participant_id: str,
        user_id: str,
        offer_sdp: str,
        on_stage: bool = True,
    ) -> str:
        """Connect a media session; returns the SDP answer. `on_stage` False: a stage room's
        listener, whose audio is dropped on arrival until `set_on_stage`.

        Raises SfuError subclasses for unusable offers, an id already connected, or a session
        that ended while it was being set up."""
        room = self.rooms.get(room_id)
        if room is None:
            room = self._new_room(room_id, slot_count)
        try:
            return await room.join(participant_id, user_id, offer_sdp, on_stage)
        finally:
            self._drop_if_empty(room)

    def leave(self, room_id: str, participant_id: str) -> None:
        """Idempotent; effective at once."""
        room = self.rooms.get(room_id)
        if room is None:
            return
        participant = room.remove(participant_id)
        if participant is not None:
            self._close_later([participant])
        self._drop_if_empty(room)

    def set_muted(self, room_id: str, participant_id: str, muted: bool) -> None:
        room = self.rooms.get(room_id)
        if room is not None:
            room.set_muted(participant_id, muted)

    def set_on_stage(self, room_id: str, participant_id: str, on_stage: bool) -> None:
        """A stage room's role change: only participants on stage are heard."""
        room = self.rooms.get(room_id)
        if room is not None:
            room.set_on_stage(participant_id, on_stage)

    def close_room(self, room_id: str) -> None:
        """Idempotent; effective at once, and silent: no `on_speakers` calls."""
        room = self.rooms.pop(room_id, None)
        if room is not None:
            self._close_later(room.close())

    # --- gauges, read at scrape time -------------------------------------------------------------

    def room_count(self) -> int:
        return len(self.rooms)

    def participant_count(self) -> int:
        return sum(len(room.participants) for room in self.rooms.values())

    # --- helpers ---------------------------------------------------------------------------------

    def _new_room(self, room_id: str, slot_count: int) -> Room:
        listener = self._listener
        room = Room(
            room_id,
            slot_count,
            self.config,
            self.stats,
            new_participant=self._new_participant,
            on_speakers=lambda participant_ids, update: listener.on_speakers(
                room_id, participant_ids, update
            ),
            on_failed=lambda participant_id: listener.on_media_failed(room_id, participant_id),
            flush=self.batch.flush,
        )
        self.rooms[room_id] = room
        return room

    def _new_participant(
        self,
        participant_id: str,
        user_id: str,
        on_packet: PacketSink,
        on_failed: ParticipantFailureSink,
    ) -> RoomParticipant:
        return Participant(
            participant_id, user_id, self.config, on_packet, on_failed, self.batch, self.rtcp
        )

    def _close_later(self, participants: Iterable[RoomParticipant]) -> None:
        for participant in participants:
            task = asyncio.create_task(participant.close(), name=f"sfu-close-{participant.id}")
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _drop_if_empty(self, room: Room) -> None:
        if not room.participants and self.rooms.get(room.id) is room:
            self.close_room(room.id)
