"""Gethory's media plane (aiortc): a selective forwarding unit for Opus voice rooms.

It never imports aiohttp, python-socketio or `api`; signaling drives it through
`RoomManager` and hears back through one `SfuListener`.

Glossary (mediasoup's and LiveKit's terms where they fit):
- **room manager** (`RoomManager`): all rooms of this process, and the process-wide aiortc
  hooks (mediasoup's Worker + Router registry; LiveKit's RoomManager).
- **room** (`Room`): the participants of one voice room, the speaker detector and the slot
  assignment (mediasoup's Router).
- **participant** (`Participant`): one media session, i.e. one peer connection to one
  browser, keyed by a session id chosen by signaling (one per Socket.IO connection), never
  by the user's id. `user_id` is only a label shown to listeners.
- **publisher** (`Publisher`): a participant's microphone as the packet path sees it: id,
  negotiated payload type, muted (mediasoup's Producer).
- **listener**: a participant receiving audio; its **slots** are its recvonly transceivers,
  each one continuous outgoing RTP stream (own SSRC, sequence numbers, timestamps) that
  carries one publisher at a time (mediasoup's Consumer + RtpStreamSend; LiveKit's
  DownTrack). `Room.slot_count` is how many each listener has; `Participant.slots` the
  objects.
- **speaker**: a publisher the detector ranks as talking (RFC 6464 audio levels, or the Opus
  payload size for a publisher that sends none).

Packet path, all synchronous on the event loop, no decoding:

    UDP datagram → (media_port.MediaPort, by address, when RTC_UDP_PORT is set) → aioice
      → RTCDtlsTransport (SRTP unprotect, RTP parse)
      → hooked RTCRtpReceiver._handle_rtp_packet (aiortc_hooks.forward_received_rtp)
      → Participant._receive (payload type check) → Room.route(publisher, packet)
        (mute check, audio level → SpeakerDetector, routes[publisher] → slots)
      → Slot.forward (OutgoingRtpStream: the slot's sequence number and timestamp)
      → RtpOutput.put → RtpBatch.add (the slot's header template rewritten in place, SRTP
        protect into the batch's buffer: rtp_batch, native in _rtp_batch.c)
      → after the last slot, one RtpBatch.flush: sendmmsg, one call per socket (one in all
        with RTC_UDP_PORT)

aiortc terminates ICE and DTLS and keeps each connection's SRTP sessions; once DTLS is up the
media plane sends the forwarded RTP itself on the selected pair. Periodic RTCP is one compound
packet per connection every 5 s (connection_rtcp), all connections on one timer
(rtcp_schedule), instead of aiortc's loop per sender and receiver.

Slot assignment (`Room._reassign`) runs at most five times a second and is the only place
routes change.
"""

from sfu.config import DEFAULT_SLOTS, MAX_SLOTS, RtcConfig, SfuConfig
from sfu.errors import SfuError
from sfu.room import SpeakerUpdate
from sfu.room_manager import RoomManager, SfuListener, SfuStartError
from sfu.speakers import SpeakerConfig
from sfu.stats import SfuStats

__all__ = [
    "DEFAULT_SLOTS",
    "MAX_SLOTS",
    "RoomManager",
    "RtcConfig",
    "SfuConfig",
    "SfuError",
    "SfuListener",
    "SfuStartError",
    "SfuStats",
    "SpeakerConfig",
    "SpeakerUpdate",
]
