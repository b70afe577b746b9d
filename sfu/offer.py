"""What the SFU accepts in a client's SDP offer, decided before anything is allocated for it.

`check_offer(sdp, max_slots)` reads the offer once, line by line, and either raises an
`SfuError` with a message meant for a person (never a Python error, never the offer's own
text unescaped) or returns a `CheckedOffer`: per m-section what was negotiated (mid, role,
Opus payload type and parameters, whether RFC 6464 audio levels were offered), and `sdp`, the
SDP to hand aiortc, **written anew** from what was checked. Nothing here touches a socket, a
peer connection or aiortc's private names.

Why written anew: aiortc's parser does rows × columns work (every `a=rtcp-fb:*` line adds a
feedback object to every codec of its section, every `a=ssrc` line searches the ones before
it, every `a=fmtp` searches the codecs) and keeps the parsed description for the session. So
aiortc only ever reads, per section: the `m=` line with the one Opus payload type chosen here,
that payload type's `a=rtpmap` (as `opus/48000/2`, so aiortc cannot pick another), the mid,
direction, `a=rtcp-mux`, the ICE and DTLS attributes (session-level ones written into every
section), the `a=extmap` lines of the two extensions aiortc implements for audio (RFC 8843's
`sdes:mid`, RFC 6464's audio level; ids only, no extension attributes), the kept candidates
(their first eight fields) and `a=end-of-candidates`; at session level the BUNDLE group and
`a=ice-lite`. Nothing else reaches it, and nothing else is needed: aiortc answers Opus with
the parameters `opus_answer_parameters` gives (the offer's `a=fmtp` is read here, not there),
its Opus has no RTCP feedback to agree on (so `a=rtcp-fb` changes nothing), and it routes the
microphone's packets by payload type (one receiving transceiver), learning the SSRC from the
first packet, so `a=ssrc`/`a=msid` lines are not needed either. aiortc's public
`aiortc.sdp.SessionDescription.parse` is still run on that small SDP, as a guard.

Accepted (what docs/protocol.md's "SFU rooms" section lists):

- At most `MAX_OFFER_BYTES` (UTF-8) of SDP in at most `MAX_OFFER_LINES` lines, else
  `OfferTooLarge` (`offer_too_large`).
- Audio m-sections only (`m=audio`, RTP/SAVP(F) over DTLS, RFC 8829 JSEP, formats being
  payload type numbers): one `sendonly` (the microphone) at most, and `recvonly` ones (the
  slots), at most `max_slots` of them (`TooManySlots`). Data channels (`m=application`),
  video, `sendrecv`/`inactive` sections are refused with `InvalidOffer` (`invalid_offer`).
- Every section: a unique `a=mid` of 1-32 token characters (RFC 8843), `a=extmap` ids 1-255
  (RFC 8285; the mid and audio-level extensions on distinct ids), `a=rtcp-mux` (RFC 5761),
  ICE credentials (`a=ice-ufrag` 4-256 and `a=ice-pwd` 22-256 ice-chars, RFC 8839 §5.4), one
  to `MAX_FINGERPRINTS` `a=fingerprint` with sha-256/384/512 (RFC 8122), and `a=setup`
  actpass/active/passive (RFC 4145/5763), each at session or media level. The server carries
  every section on one ICE/DTLS transport (RFC 8843 §7: the transport attributes of a BUNDLE
  are its tagged section's; aiortc's answerer shares one transport among all audio sections
  even without a BUNDLE), so every section must have the same credentials, fingerprints and
  `a=setup`: mixed ones could never connect (two `passive` ends), and are refused, not
  guessed at. A `a=group:BUNDLE` (RFC 8843) names only mids of the offer, each once; there is
  at most one.
- Every section offers Opus (`opus/48000/2`, RFC 7587; `opus/48000` is taken too, the clock
  rate read as a number) on a dynamic payload type listed on its `m=` line (RFC 3264 §6.1:
  the answer may only use offered formats), else `OpusRequired` (`opus_required`): a
  listener that cannot take Opus never gets Opus bytes. Each section keeps its own payload
  type: the first one of its `m=` line (the offerer's preference, RFC 3264 §5.1) whose first
  `a=rtpmap` is Opus.
- ICE candidates (RFC 8839 §5.1): only well-formed UDP candidates of component 1 at a
  unicast IP literal (no IPv6 scope) or an mDNS `.local` name are kept; the other lines are
  dropped, not refused. Per m-section at most `MAX_CANDIDATES_PER_SECTION` are kept, the
  highest priority first, with duplicates of one address dropped (RFC 8445 §5.1.3). The rest
  are dropped, not refused, so a client with many interfaces still connects: RFC 8445
  §6.1.2.5 bounds the checklist (100 pairs by default) against floods of connectivity checks
  (§19.5.1), and this keeps ours at 10 remote × the server's few local candidates. A kept
  candidate is shown to aiortc without its extensions (generation, network-id, raddr...).

Opus parameters in the answer (RFC 7587 §6.1, per transceiver, see `opus_answer_parameters`):
`useinbandfec=1` always (in-band FEC lets a browser conceal the loss we report to it);
`stereo=1` only where that section's offer says `stereo=1`; `usedtx=1` only where the offer
says `usedtx=1` (the client's own DTX choice; DTX also lets the server see its silence when
it sends no RFC 6464 audio levels, see sfu.speakers).

Cost: every step is linear in the offer's size with small constants (dicts and sets, no
search of a list per line), a few milliseconds for any offer under the limits.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from aiortc.sdp import SessionDescription

from sfu.errors import InvalidOffer, OfferTooLarge, OpusRequired, TooManySlots

# A Chromium or Firefox offer with a microphone and 8 slots, candidates in every section, is
# 15-25 KB; twice the most any client needs here, yet small enough that reading it (a few ms)
# cannot stall forwarding. The signaling payload itself is capped at 64 KiB.
MAX_OFFER_BYTES = 32 * 1024
# Such an offer has 250-400 lines (about 30 per section, plus candidates); 32 KiB of real
# lines (candidates of 50-100 bytes) stays under 800.
MAX_OFFER_LINES = 1024
# Remote candidates kept per m-section (the transport uses one section's): with the server's
# few local candidates (one per RTC_HOST_ADDRESSES entry, plus STUN/TURN ones) the checklist
# stays within RFC 8445's 100 pairs.
MAX_CANDIDATES_PER_SECTION = 10
# A client has one certificate; RFC 8122 allows a fingerprint of it per hash function.
MAX_FINGERPRINTS = 4
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"  # RFC 6464
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"  # RFC 8843 §15
# The header extensions aiortc implements for audio: the only extmap lines it is shown.
_KEPT_EXTENSIONS = (MID_URI, AUDIO_LEVEL_URI)

_FINGERPRINT_BYTES = {"sha-256": 32, "sha-384": 48, "sha-512": 64}
_SETUP_VALUES = ("actpass", "active", "passive")
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")
_ICE_CHARS = re.compile(r"[A-Za-z0-9+/]+")
_PROTOCOL = re.compile(r"[A-Za-z/]{1,32}")
_RTP_PROFILE = re.compile(r"(UDP/TLS/)?RTP/SAVPF?")
_PAYLOAD_TYPE = re.compile(r"[0-9]{1,3}")
_HEX_PAIRS = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})*")
_DIGITS = re.compile(r"[0-9]{1,10}")
_FOUNDATION = re.compile(r"[A-Za-z0-9+/]{1,32}")
_MDNS_NAME = re.compile(r"[A-Za-z0-9-]{1,63}\.local")
# RFC 8866 §9 token characters.
_MID = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]{1,32}")
# RFC 8285 §5: 1-14 in one-byte headers, up to 255 in two-byte ones; an optional direction.
_EXTENSION_ID = re.compile(
    r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]?)(/(sendrecv|sendonly|recvonly|inactive))?"
)
_DYNAMIC_PAYLOAD_TYPES = range(96, 128)  # RFC 3551 §6; Opus has no static one (RFC 7587)
# What a refusal may quote of the offer: printable ASCII, no markup characters.
_UNQUOTABLE = re.compile(r"[^ -~]|[<>&]")


@dataclass(frozen=True)
class OfferedAudio:
    """One audio m-section of an accepted offer.

    mid: its `a=mid` (what aiortc names the transceiver by).
    sends: True for the client's microphone (`sendonly`), False for a slot (`recvonly`).
    opus_payload_type: the section's Opus payload type (96-127), the only one aiortc sees.
    stereo, dtx: the offer's `stereo=1` / `usedtx=1` for that payload type (RFC 7587 §6.1).
    audio_level: the offer has the RFC 6464 audio-level header extension.
    """

    mid: str
    sends: bool
    opus_payload_type: int
    stereo: bool
    dtx: bool
    audio_level: bool


@dataclass(frozen=True)
class CheckedOffer:
    """An offer the SFU can answer: `sdp` is what to hand aiortc (written anew from what was
    checked, see the module docstring), `sections` its audio m-sections in order,
    `dropped_candidates` how many candidate lines were left out."""

    sdp: str
    sections: tuple[OfferedAudio, ...]
    dropped_candidates: int

    @property
    def microphone(self) -> OfferedAudio | None:
        return next((s for s in self.sections if s.sends), None)

    @property
    def slots(self) -> tuple[OfferedAudio, ...]:
        return tuple(s for s in self.sections if not s.sends)

    def section(self, mid: str | None) -> OfferedAudio | None:
        return next((s for s in self.sections if s.mid == mid), None)


@dataclass
class _Candidate:
    text: str  # the line as aiortc is shown it: its first eight fields
    priority: int
    address: tuple[str, str]  # (host, port): what makes two candidates the same


@dataclass
class _Transport:
    """ICE and DTLS attributes, written at session level or in an m-section."""

    ufrag: str | None = None
    pwd: str | None = None
    setup: str | None = None
    fingerprints: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class _Section(_Transport):
    """What the checks need of one m-section, as written (media level only)."""

    number: int  # 1-based, for messages
    profile: str
    formats: list[int]  # the m= line's payload types, in its order
    mid: str | None = None
    direction: str | None = None
    rtcp_mux: bool = False
    end_of_candidates: bool = False
    # Payload type → whether its first a=rtpmap is Opus at 48 kHz (later ones are ignored,
    # as aiortc's lookup of a payload type's codec finds the first).
    opus: dict[int, bool] = field(default_factory=dict)
    fmtps: dict[int, str] = field(default_factory=dict)  # payload type → its parameters
    extensions: dict[str, int] = field(default_factory=dict)  # kept URI → its first id
    bad_extension_id: bool = False
    candidates: list[_Candidate] = field(default_factory=list)


@dataclass
class _Session(_Transport):
    bundles: list[list[str]] = field(default_factory=list)
    ice_lite: bool = False


def check_offer(sdp: str, max_slots: int) -> CheckedOffer:
    """Check a client's offer against what the SFU accepts (module docstring).

    Raises OfferTooLarge, InvalidOffer, OpusRequired or TooManySlots, each with a message for
    a person. Linear in the offer's size; nothing is kept but the result."""
    # A character is at least one UTF-8 byte: the cheap test first, then the exact one
    # ("replace": a lone surrogate from JSON must not raise here).
    if len(sdp) > MAX_OFFER_BYTES or len(sdp.encode("utf-8", "replace")) > MAX_OFFER_BYTES:
        raise OfferTooLarge(
            f"The SDP offer is larger than {MAX_OFFER_BYTES} bytes. Offer audio only, a "
            "microphone and the room's slots, with a few ICE candidates."
        )
    # splitlines, as aiortc's own parser does, so both see the same lines.
    lines = sdp.splitlines()
    if len(lines) > MAX_OFFER_LINES:
        raise OfferTooLarge(
            f"The SDP offer has more than {MAX_OFFER_LINES} lines. Offer audio only, a "
            "microphone and the room's slots, with a few ICE candidates."
        )
    session, sections, malformed = _read(lines)
    if not sections:
        raise InvalidOffer("The offer has no audio to send or receive (no m= section).")
    if len(sections) > max_slots + 1:  # before any per-section work
        raise TooManySlots(
            f"This room allows {max_slots} receive slots and a microphone; the offer has "
            f"{len(sections)} audio sections."
        )
    offered = tuple(_check_section(section, session) for section in sections)
    _check_one_transport(session, sections)
    _check_bundle(session, sections)
    microphones = sum(1 for s in offered if s.sends)
    if microphones > 1:
        raise InvalidOffer("Offer at most one sendonly audio section: your microphone.")
    slots = len(offered) - microphones
    if slots > max_slots:
        raise TooManySlots(f"This room allows {max_slots} receive slots; the offer has {slots}.")
    written, pruned = _write(session, sections, offered)
    try:
        # The guard, on the few lines written above: whatever aiortc's parser would raise on
        # is refused now, not after a peer connection exists.
        SessionDescription.parse(written)
    except Exception:  # aiortc raises AssertionError, ValueError, KeyError, StopIteration…
        raise InvalidOffer(
            "The offer is not valid SDP (RFC 8866): one of its lines could not be read."
        ) from None
    return CheckedOffer(written, offered, malformed + pruned)


def opus_answer_parameters(section: OfferedAudio) -> dict[str, int]:
    """The answer's Opus `a=fmtp` parameters for one section (RFC 7587 §6.1): in-band FEC
    always; `stereo=1` and `usedtx=1` only where that section's offer asked for them."""
    parameters = {"useinbandfec": 1}
    if section.stereo:
        parameters["stereo"] = 1
    if section.dtx:
        parameters["usedtx"] = 1
    return parameters


def _quote(text: str, limit: int = 32) -> str:
    """At most `limit` characters of offer text, fit for a refusal's message: anything but
    printable ASCII, and `<`, `>`, `&`, shown as `?`."""
    quoted = _UNQUOTABLE.sub("?", text[:limit])
    return quoted + "..." if len(text) > limit else quoted


# --- reading ------------------------------------------------------------------------------


def _read(lines: Sequence[str]) -> tuple[_Session, list[_Section], int]:
    """The session and its m-sections as written; how many candidate lines were dropped
    because they are malformed or of no use here."""
    session = _Session()
    sections: list[_Section] = []
    malformed = 0
    current: _Section | None = None
    for line in lines:
        if line.startswith("m="):
            current = _m_section(line, len(sections) + 1)
            sections.append(current)
            continue
        if line.startswith("c="):
            _check_connection(line)
            continue
        if not line.startswith("a="):
            continue
        name, _, value = line[2:].partition(":")
        if current is None:
            _session_attribute(session, name, value)
        elif name == "candidate":
            candidate = _candidate(value)
            if candidate is None:
                malformed += 1
            else:
                current.candidates.append(candidate)
        else:
            _media_attribute(current, name, value)
    return session, sections, malformed


def _m_section(line: str, number: int) -> _Section:
    # RFC 8866 §5.14: m=<media> <port> <proto> <fmt> ...
    parts = line[2:].split(" ")
    if (
        len(parts) < 4
        or not parts[0]
        or not _DIGITS.fullmatch(parts[1])
        or not _PROTOCOL.fullmatch(parts[2])
    ):
        raise InvalidOffer(f"The offer's m= line {number} is malformed (RFC 8866 §5.14).")
    kind = parts[0]
    if kind != "audio":
        raise InvalidOffer(
            f"This room carries audio only: remove the offer's m={_quote(kind)} section "
            "(no data channel, no video)."
        )
    formats = parts[3:]
    if not all(_PAYLOAD_TYPE.fullmatch(f) for f in formats):
        raise InvalidOffer(
            f"The offer's m= line {number} is malformed: its formats must be RTP payload "
            "type numbers (RFC 8866 §5.14)."
        )
    return _Section(number=number, profile=parts[2], formats=[int(f) for f in formats])


def _check_connection(line: str) -> None:
    parts = line[2:].split(" ")
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise InvalidOffer("The offer has a malformed c= line (RFC 8866 §5.7).")


def _transport_attribute(transport: _Transport, name: str, value: str) -> bool:
    """Reads an ICE or DTLS attribute, allowed at session and media level alike (RFC 8839
    §5.4, RFC 8842 §5); False if `name` is none of them."""
    if name == "ice-ufrag":
        transport.ufrag = value
    elif name == "ice-pwd":
        transport.pwd = value
    elif name == "setup":
        transport.setup = value
    elif name == "fingerprint":
        transport.fingerprints.append(value)
    else:
        return False
    return True


def _session_attribute(session: _Session, name: str, value: str) -> None:
    if _transport_attribute(session, name, value):
        return
    if name == "group":
        semantics, *mids = value.split(" ")
        if semantics == "BUNDLE":
            session.bundles.append([mid for mid in mids if mid])
    elif name == "ice-lite" and not value:
        session.ice_lite = True


def _media_attribute(section: _Section, name: str, value: str) -> None:
    if _transport_attribute(section, name, value):
        return
    if name in _DIRECTIONS and not value:
        section.direction = name
    elif name == "mid":
        section.mid = value
    elif name == "rtcp-mux":
        section.rtcp_mux = True
    elif name == "end-of-candidates":
        section.end_of_candidates = True
    elif name == "rtpmap":
        payload_type, _, encoding = value.partition(" ")
        if _PAYLOAD_TYPE.fullmatch(payload_type):
            section.opus.setdefault(int(payload_type), _is_opus(encoding))
    elif name == "fmtp":
        payload_type, _, parameters = value.partition(" ")
        if _PAYLOAD_TYPE.fullmatch(payload_type):
            section.fmtps[int(payload_type)] = parameters
    elif name == "extmap":
        # RFC 8285 §8: <id>[/<direction>] <URI> [<extension attributes>]
        extension_id, _, rest = value.partition(" ")
        if not _EXTENSION_ID.fullmatch(extension_id):
            section.bad_extension_id = True
            return
        uri = rest.partition(" ")[0]
        if uri in _KEPT_EXTENSIONS:
            section.extensions.setdefault(uri, int(extension_id.partition("/")[0]))


def _is_opus(encoding: str) -> bool:
    """RFC 7587 writes `opus/48000/2`; `OPUS/48000` (GStreamer caps without channels) is the
    same stream, and aiortc matches it too. The clock rate is read as a number, as aiortc
    does (`opus/048000/2` is Opus)."""
    parts = encoding.split("/")
    return (
        2 <= len(parts) <= 3
        and parts[0].lower() == "opus"
        and _DIGITS.fullmatch(parts[1]) is not None
        and int(parts[1]) == 48000
        and (len(parts) == 2 or _PAYLOAD_TYPE.fullmatch(parts[2]) is not None)
    )


def _candidate(value: str) -> _Candidate | None:
    """A usable candidate (RFC 8839 §5.1), or None to drop the line: malformed, not UDP
    (the server listens on UDP only), not component 1 (RTCP is muxed), or at an address that
    is neither an IP literal nor an mDNS name (other names are never resolved)."""
    bits = value.split(" ")
    if len(bits) < 8 or bits[6] != "typ" or bits[7] not in _CANDIDATE_TYPES:
        return None
    foundation, component, transport, priority, host, port = bits[:6]
    if (
        not _FOUNDATION.fullmatch(foundation)
        or component != "1"
        or transport.lower() != "udp"
        or not _DIGITS.fullmatch(priority)
        or not 0 < int(priority) < 2**31
        or not _DIGITS.fullmatch(port)
        or not 0 < int(port) < 65536
    ):
        return None
    if not _MDNS_NAME.fullmatch(host) and not _unicast_address(host):
        return None
    extensions = bits[8:]
    if len(extensions) % 2:
        return None
    for name, extension in zip(extensions[::2], extensions[1::2], strict=True):
        if name == "rport" and not (_DIGITS.fullmatch(extension) and int(extension) < 65536):
            return None
    # The extensions (raddr/rport, generation, network-id…) mean nothing to the server.
    text = "a=candidate:" + " ".join(bits[:8])
    return _Candidate(text, int(priority), (host.lower(), port))


def _unicast_address(host: str) -> bool:
    """An IP literal the server may send connectivity checks to: not a name, not an IPv6
    scope (`fe80::1%eth0` names an interface of the client's), not unspecified, multicast or
    broadcast (checks would go to a whole network of the server's)."""
    if "%" in host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not (
        address.is_unspecified
        or address.is_multicast
        or address == ipaddress.IPv4Address("255.255.255.255")
    )


# --- checking -----------------------------------------------------------------------------


def _check_section(section: _Section, session: _Session) -> OfferedAudio:
    where = f"The offer's audio section {section.number}"
    if not _RTP_PROFILE.fullmatch(section.profile):
        raise InvalidOffer(f"{where} must use UDP/TLS/RTP/SAVPF (DTLS-SRTP).")
    if not section.mid:
        raise InvalidOffer(f"{where} has no a=mid (RFC 8843).")
    if not _MID.fullmatch(section.mid):
        # The mid goes into every RTP packet's header extension (RFC 8843 §15): a token,
        # short enough for that.
        raise InvalidOffer(f"{where} has an a=mid that is not 1-32 token characters.")
    if section.bad_extension_id:
        raise InvalidOffer(f"{where} has an a=extmap whose id is not 1-255 (RFC 8285).")
    if len(set(section.extensions.values())) < len(section.extensions):
        raise InvalidOffer(f"{where} has two a=extmap lines with one id (RFC 8285 §6).")
    if section.direction not in ("sendonly", "recvonly"):
        raise InvalidOffer(
            f"{where} must be sendonly (your microphone) or recvonly (a slot), "
            f"not {section.direction or 'sendrecv'}."
        )
    if not section.rtcp_mux:
        raise InvalidOffer(f"{where} has no a=rtcp-mux (RFC 5761): RTCP must share the port.")
    _effective_transport(section, session)
    ufrag, pwd, setup = section.ufrag, section.pwd, section.setup
    if ufrag is None or pwd is None:
        raise InvalidOffer(f"{where} has no ICE credentials (a=ice-ufrag and a=ice-pwd).")
    if not (_ice_chars(ufrag, 4) and _ice_chars(pwd, 22)):
        raise InvalidOffer(
            f"{where} has malformed ICE credentials: a=ice-ufrag is 4-256 and a=ice-pwd "
            "22-256 letters, digits, + or / (RFC 8839 §5.4)."
        )
    if setup is None:
        raise InvalidOffer(f"{where} has no a=setup (RFC 5763): offer a=setup:actpass.")
    if setup not in _SETUP_VALUES:
        raise InvalidOffer(
            f"{where} has a=setup:{_quote(setup)}; offer actpass, active or passive."
        )
    fingerprints = section.fingerprints
    if not fingerprints:
        raise InvalidOffer(f"{where} has no a=fingerprint (RFC 8122): DTLS needs one.")
    if len(fingerprints) > MAX_FINGERPRINTS:
        raise InvalidOffer(
            f"{where} has more than {MAX_FINGERPRINTS} a=fingerprint lines; offer one per "
            "hash function of your one certificate (RFC 8122)."
        )
    if not all(_fingerprint_ok(f) for f in fingerprints):
        raise InvalidOffer(
            f"{where} has a malformed a=fingerprint, or one that is not sha-256, sha-384 "
            "or sha-512 (RFC 8122)."
        )
    payload_type = _opus_payload_type(section)
    if payload_type is None:
        raise OpusRequired(
            f"{where} does not offer Opus (opus/48000/2 on a dynamic payload type listed on "
            "its m= line)."
        )
    parameters = dict(_fmtp_pairs(section.fmtps.get(payload_type, "")))
    return OfferedAudio(
        mid=section.mid,
        sends=section.direction == "sendonly",
        opus_payload_type=payload_type,
        stereo=parameters.get("stereo") == "1",
        dtx=parameters.get("usedtx") == "1",
        audio_level=AUDIO_LEVEL_URI in section.extensions,
    )


def _effective_transport(section: _Section, session: _Session) -> None:
    """Fills in the section's ICE and DTLS attributes from the session level, as aiortc
    reads them: a media-level value replaces the session's; fingerprints add up."""
    if section.ufrag is None:
        section.ufrag = session.ufrag
    if section.pwd is None:
        section.pwd = session.pwd
    if section.setup is None:
        section.setup = session.setup
    section.fingerprints = session.fingerprints + section.fingerprints


def _ice_chars(value: str, least: int) -> bool:
    return least <= len(value) <= 256 and _ICE_CHARS.fullmatch(value) is not None


def _fingerprint_ok(value: str) -> bool:
    algorithm, _, digest = value.partition(" ")
    size = _FINGERPRINT_BYTES.get(algorithm.lower())
    return size is not None and len(digest) == 3 * size - 1 and bool(_HEX_PAIRS.fullmatch(digest))


def _opus_payload_type(section: _Section) -> int | None:
    """The first payload type of the m= line (RFC 3264 §5.1: the offerer's preference) that is
    dynamic and whose first a=rtpmap is Opus at 48 kHz; None if there is none. aiortc is shown
    that one only, so both agree on it."""
    for payload_type in section.formats:
        if payload_type in _DYNAMIC_PAYLOAD_TYPES and section.opus.get(payload_type):
            return payload_type
    return None


def _fmtp_pairs(parameters: str) -> Iterator[tuple[str, str]]:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        yield name.strip().lower(), value.strip()


def _transport_key(section: _Section) -> tuple[object, ...]:
    """What must be the same in every section: credentials, role, fingerprints (in any order,
    hash names and hex digits in any case)."""
    fingerprints = sorted(f.lower() for f in section.fingerprints)
    return (section.ufrag, section.pwd, section.setup, fingerprints)


def _check_one_transport(session: _Session, sections: Sequence[_Section]) -> None:
    """Every section has the ICE credentials, fingerprints and a=setup of the first one
    (all were checked and filled in by `_check_section`)."""
    first = sections[0]
    reference = _transport_key(first)
    for section in sections[1:]:
        key = _transport_key(section)
        if key == reference:
            continue
        differing = [
            name
            for name, a, b in zip(
                ("a=ice-ufrag", "a=ice-pwd", "a=setup", "a=fingerprint"),
                reference,
                key,
                strict=True,
            )
            if a != b
        ]
        raise InvalidOffer(
            f"The offer's audio sections {first.number} and {section.number} differ in "
            f"{' and '.join(differing)}: the server carries every section on one transport "
            "(one BUNDLE, RFC 8843 §7), so offer the same ICE credentials, fingerprints and "
            "a=setup in each."
        )


def _check_bundle(session: _Session, sections: Sequence[_Section]) -> None:
    mids = {s.mid for s in sections}
    if len(mids) != len(sections):
        raise InvalidOffer("Two of the offer's sections share one a=mid (RFC 8843).")
    if len(session.bundles) > 1:
        raise InvalidOffer("The offer has more than one BUNDLE group; offer one.")
    for bundle in session.bundles:
        unknown = [mid for mid in bundle if mid not in mids]
        if unknown:
            quoted = ", ".join(_quote(mid, 16) for mid in unknown[:3])
            raise InvalidOffer(
                f"The offer's a=group:BUNDLE names mids that no section has ({quoted})."
            )
        if len(set(bundle)) != len(bundle):
            raise InvalidOffer("The offer's a=group:BUNDLE names one mid twice.")


# --- writing ------------------------------------------------------------------------------


def _write(
    session: _Session, sections: Sequence[_Section], offered: Sequence[OfferedAudio]
) -> tuple[str, int]:
    """The SDP aiortc is shown (module docstring), from checked values only; and how many
    well-formed candidates were left out."""
    lines = ["v=0", "o=- 0 0 IN IP4 0.0.0.0", "s=-", "t=0 0"]
    if session.ice_lite:
        lines.append("a=ice-lite")
    lines += ["a=group:BUNDLE " + " ".join(bundle) for bundle in session.bundles if bundle]
    pruned = 0
    for section, audio in zip(sections, offered, strict=True):
        payload_type = audio.opus_payload_type
        lines += [
            f"m=audio 9 {section.profile} {payload_type}",
            "c=IN IP4 0.0.0.0",
            f"a=mid:{audio.mid}",
            "a=sendonly" if audio.sends else "a=recvonly",
            "a=rtcp-mux",
            f"a=ice-ufrag:{section.ufrag}",
            f"a=ice-pwd:{section.pwd}",
            *(f"a=fingerprint:{f}" for f in section.fingerprints),
            f"a=setup:{section.setup}",
            f"a=rtpmap:{payload_type} opus/48000/2",
            *(f"a=extmap:{i} {uri}" for uri, i in section.extensions.items()),
        ]
        kept = _best_candidates(section.candidates)
        pruned += len(section.candidates) - len(kept)
        lines += [c.text for c in kept]
        if section.end_of_candidates:
            lines.append("a=end-of-candidates")
    return "\r\n".join(lines) + "\r\n", pruned


def _best_candidates(candidates: Sequence[_Candidate]) -> list[_Candidate]:
    """The `MAX_CANDIDATES_PER_SECTION` highest-priority candidates of distinct addresses, in
    the offer's order. Every section keeps its own, even inside a BUNDLE group: aiortc's
    answerer shares one transport among all audio sections and takes the candidates of
    whichever section it reads last."""
    # Stable sort: equal priorities keep the offer's order.
    ranked = sorted(range(len(candidates)), key=lambda i: -candidates[i].priority)
    seen: set[tuple[str, str]] = set()
    kept: set[int] = set()
    for index in ranked:
        address = candidates[index].address
        if address not in seen and len(seen) < MAX_CANDIDATES_PER_SECTION:
            seen.add(address)
            kept.add(index)
    return [c for i, c in enumerate(candidates) if i in kept]
