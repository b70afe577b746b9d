"""What the packet path needs to know about a participant's microphone (mediasoup's Producer).

Kept apart from the peer connection that carries it, so routing a packet touches three plain
fields and nothing of aiortc. `muted` lives here and only here in the SFU: the room drops a
muted publisher's packets before looking at them.
"""

from __future__ import annotations


class Publisher:
    __slots__ = ("id", "muted", "payload_type", "user_id")

    def __init__(self, participant_id: str, user_id: str, payload_type: int) -> None:
        self.id = participant_id
        self.user_id = user_id
        # The Opus payload type negotiated for the microphone: packets with any other are
        # not audio we understand.
        self.payload_type = payload_type
        self.muted = False
