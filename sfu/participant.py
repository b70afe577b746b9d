"""One participant's media connection to the server: negotiated once, never renegotiated.

The client offers at most one `sendonly` audio transceiver (its microphone) and up to the
room's number of `recvonly` ones (its slots); sfu.offer checks the offer before anything is
allocated. Every transceiver is narrowed to Opus on the payload type its own m-section
negotiated (clients such as GStreamer or Pion use a different one per m-section): the
microphone's packets are taken on its payload type only, and each slot stamps its own.
Incoming packets go straight to the room without decoding, and each slot sends through a
`Slot`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from sfu.aiortc_hooks import (
    RtcpPath,
    RtpOutput,
    connect_task,
    connection_cname,
    forward_received_rtp,
    park_rtcp_loop,
    restrict_to_opus,
)
from sfu.config import SfuConfig
from sfu.connection_rtcp import ConnectionRtcp
from sfu.errors import AlreadyConnected, InvalidOffer, OpusRequired
from sfu.offer import CheckedOffer, check_offer, opus_answer_parameters
from sfu.publisher import Publisher
from sfu.rtcp_schedule import RtcpSchedule
from sfu.rtp_batch import RtpBatch
from sfu.slot import Slot

log = logging.getLogger(__name__)

CONNECT_GRACE_SECONDS = 2.0  # a leave during set-up waits this long for it to finish
PacketSink = Callable[[Publisher, RtpPacket], None]
FailureSink = Callable[["Participant"], None]


class ParkedTrack(MediaStreamTrack):
    """Keeps aiortc's own send loop asleep: the slot sends its packets itself."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._ended = asyncio.Event()

    async def recv(self) -> None:  # type: ignore[override]
        await self._ended.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._ended.set()


class Participant:
    """One media session. `id` names the session (a signaling connection), `user_id` whom it
    belongs to: a user's newer session never shares an id with an older one, so closing the
    older one cannot touch the newer."""

    def __init__(
        self,
        participant_id: str,
        user_id: str,
        config: SfuConfig,
        on_packet: PacketSink,
        on_failed: FailureSink,
        batch: RtpBatch,
        rtcp: RtcpSchedule,
    ) -> None:
        """`batch`: where the slots' packets are queued until the room flushes it; `rtcp`:
        what sends this connection's RTCP once it is up."""
        self.id = participant_id
        self.user_id = user_id
        self.slots: list[Slot] = []
        # Set once a microphone is negotiated: what the packet path sees of this participant.
        self.publisher: Publisher | None = None
        # True once the answer is set: before that the slots do not exist yet.
        self.negotiated = False
        self._config = config
        self._on_packet = on_packet
        self._on_failed = on_failed
        self._batch = batch
        self._rtcp_schedule = rtcp
        self._rtcp: ConnectionRtcp | None = None
        self._pc: RTCPeerConnection | None = None
        self._detached = False
        self._pc_closing = False
        self._detach_receivers: list[Callable[[], None]] = []
        self._connecting: asyncio.Task[None] | None = None
        self._setup_deadline: asyncio.TimerHandle | None = None

    async def connect(self, offer_sdp: str, max_slots: int) -> str:
        """Answer the client's one and only offer (what is accepted: sfu.offer).

        The offer is checked before the peer connection exists, so a refused one allocates
        nothing. Raises AlreadyConnected, OfferTooLarge, InvalidOffer, OpusRequired,
        TooManySlots."""
        if self._pc is not None:
            raise AlreadyConnected()
        offer = check_offer(offer_sdp, max_slots)
        self._pc = pc = RTCPeerConnection(self._config.rtc.rtc_configuration())
        pc.on("connectionstatechange", self._on_connection_state)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
        except Exception:  # check_offer refuses what aiortc is known to choke on; the rest:
            log.info("aiortc refused an offer that passed the checks", exc_info=True)
            raise InvalidOffer("The SDP offer could not be used.") from None
        self._set_up_transceivers(pc, offer)
        await pc.setLocalDescription(await pc.createAnswer())
        self._connecting = connect_task(pc)
        self.negotiated = True
        self._setup_deadline = asyncio.get_running_loop().call_later(
            self._config.media_setup_seconds, self._setup_expired
        )
        return str(pc.localDescription.sdp)

    def _set_up_transceivers(self, pc: RTCPeerConnection, offer: CheckedOffer) -> None:
        """Narrow every transceiver to Opus on its own payload type (a client may use one per
        m-section) with the parameters its offer asked for, hook the microphone's receiver
        and build the slots."""
        transceivers = pc.getTransceivers()
        sections = [offer.section(t.mid) for t in transceivers]
        if len(transceivers) != len(offer.sections) or None in sections:
            raise InvalidOffer("The SDP offer could not be used.")  # check_offer's job: defensive
        slot_index = 0
        microphone: RTCRtpReceiver | None = None
        outputs: list[RtpOutput] = []
        for transceiver, section in zip(transceivers, sections, strict=True):
            assert section is not None and transceiver.mid is not None
            payload_type = restrict_to_opus(transceiver, opus_answer_parameters(section))
            if payload_type is None:
                raise OpusRequired()
            if section.sends:
                self._detach_receivers.append(
                    forward_received_rtp(transceiver.receiver, self._receive)
                )
                self.publisher = Publisher(self.id, self.user_id, payload_type)
                microphone = transceiver.receiver
            else:
                transceiver.direction = "sendonly"
                transceiver.sender.replaceTrack(ParkedTrack())
                park_rtcp_loop(transceiver.sender)
                # Stamped with the PT this listener negotiated for this very m-section.
                output = RtpOutput(transceiver.sender, payload_type, self._batch)
                outputs.append(output)
                self.slots.append(Slot(slot_index, output))
                slot_index += 1
        self._rtcp = ConnectionRtcp(
            outputs, microphone, RtcpPath(transceivers[0].sender.transport), connection_cname(pc)
        )

    @property
    def publishing(self) -> bool:
        return self.publisher is not None

    def _receive(self, packet: RtpPacket) -> None:
        publisher = self.publisher
        if (
            publisher is not None
            and packet.payload_type == publisher.payload_type
            and not self._detached
        ):
            self._on_packet(publisher, packet)

    def _setup_expired(self) -> None:
        """A client that never completes ICE and DTLS must not hold the session forever."""
        self._setup_deadline = None
        pc = self._pc
        if pc is not None and pc.connectionState != "connected" and not self._detached:
            log.info("media connection of %s not set up in time", self.id)
            self._on_failed(self)

    def _on_connection_state(self) -> None:
        assert self._pc is not None
        if self._pc.connectionState == "connected" and not self._detached:
            if self._setup_deadline is not None:
                self._setup_deadline.cancel()
                self._setup_deadline = None
            if self._rtcp is not None:
                self._rtcp_schedule.add(self._rtcp)
        # "closed" without our close(): the peer ended DTLS; "failed": ICE consent expired.
        if self._pc.connectionState in ("failed", "closed") and not self._detached:
            log.info("media connection of %s ended (%s)", self.id, self._pc.connectionState)
            self._on_failed(self)

    def detach(self) -> None:
        """Stop taking packets in and sending them out, at once; `close()` frees the rest.
        Idempotent."""
        self._detached = True
        self.negotiated = False
        self.slots = []
        if self._rtcp is not None:
            self._rtcp_schedule.remove(self._rtcp)
        if self._setup_deadline is not None:
            self._setup_deadline.cancel()
            self._setup_deadline = None
        for detach in self._detach_receivers:
            detach()
        self._detach_receivers = []

    async def close(self) -> None:
        """Idempotent: frees the connection, its transports, senders and receivers."""
        self.detach()
        if self._pc is None or self._pc_closing:
            return
        self._pc_closing = True
        if self._connecting is not None and not self._connecting.done():
            await asyncio.wait({self._connecting}, timeout=CONNECT_GRACE_SECONDS)
        if self._pc is not None:
            await self._pc.close()
