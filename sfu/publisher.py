"""What the packet path needs to know about a participant's microphone (mediasoup's Producer).

Kept apart from the peer connection that carries it, so routing a packet touches three plain
fields and nothing of aiortc. `muted` and `on_stage` live here and only here in the SFU: the
room drops the packets of a muted publisher, or of a stage room's listener, before looking at
them (one field, `silenced`, tells both on the packet path).
"""

from __future__ import annotations


class Publisher:
    __slots__ = ("_muted", "_on_stage", "id", "payload_type", "silenced", "user_id")

    def __init__(self, participant_id: str, user_id: str, payload_type: int) -> None:
        self.id = participant_id
        self.user_id = user_id
        # The Opus payload type negotiated for the microphone: packets with any other are
        # not audio we understand.
        self.payload_type = payload_type
        self._muted = False
        # False for a stage room's listener: its audio is never received into the room.
        self._on_stage = True
        # muted or off stage: what `Room.route` checks per packet.
        self.silenced = False

    @property
    def muted(self) -> bool:
        return self._muted

    @muted.setter
    def muted(self, muted: bool) -> None:
        self._muted = muted
        self.silenced = muted or not self._on_stage

    @property
    def on_stage(self) -> bool:
        return self._on_stage

    @on_stage.setter
    def on_stage(self, on_stage: bool) -> None:
        self._on_stage = on_stage
        self.silenced = self._muted or not on_stage
