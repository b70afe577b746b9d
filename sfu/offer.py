"""What the SFU accepts in a client's SDP offer, decided before anything is allocated for it.

`check_offer(sdp, max_slots)` reads the offer once, line by line, and either raises an
`SfuError` with a message meant for a person (never a Python error) or returns a
`CheckedOffer`: the SDP to hand aiortc (bounded, its candidates pruned) and, per m-section,
what was negotiated (mid, role, Opus payload type and parameters, whether RFC 6464 audio
levels were offered). Nothing here touches a socket, a peer connection or aiortc's private
names; aiortc's public `aiortc.sdp.SessionDescription.parse` is run last, as a guard, so that
whatever it would choke on is refused here rather than after a peer connection exists.

Accepted (what docs/protocol.md's "SFU rooms" section lists):

- At most `MAX_OFFER_BYTES` (UTF-8) of SDP, else `OfferTooLarge` (`offer_too_large`).
- Audio m-sections only (`m=audio`, RTP/SAVP(F) over DTLS, RFC 8829 JSEP): one `sendonly`
  (the microphone) at most, and `recvonly` ones (the slots), at most `max_slots` of them
  (`TooManySlots`). Data channels (`m=application`), video, `sendrecv`/`inactive` sections
  are refused with `InvalidOffer` (`invalid_offer`).
- Every section: a unique `a=mid` of 1-32 token characters (RFC 8843), `a=extmap` ids 1-255
  (RFC 8285), `a=rtcp-mux` (RFC 5761), ICE credentials
  (`a=ice-ufrag` 4-256 and `a=ice-pwd` 22-256 ice-chars, RFC 8839 §5.4), at least one
  `a=fingerprint` with sha-256/384/512 (RFC 8122), and `a=setup` actpass/active/passive
  (RFC 4145/5763), each at session or media level. A `a=group:BUNDLE` (RFC 8843) names only
  mids of the offer, each once; there is at most one.
- Every section offers Opus (`opus/48000/2`, RFC 7587; `opus/48000` is taken too) on a
  dynamic payload type, else `OpusRequired` (`opus_required`): a listener that cannot take
  Opus never gets Opus bytes. Each section keeps its own payload type: that of its first
  Opus `a=rtpmap`.
- ICE candidates (RFC 8839 §5.1): only well-formed UDP candidates of component 1 at an IP
  literal or an mDNS `.local` name are kept; the other lines are dropped, not refused. Per
  m-section at most `MAX_CANDIDATES_PER_SECTION` are kept, the highest priority first, with
  duplicates of one address dropped (RFC 8445 §5.1.3). The rest are dropped, not refused, so
  a client with many interfaces still connects: RFC 8445 §6.1.2.5 bounds the checklist (100
  pairs by default) against floods of connectivity checks (§19.5.1), and this keeps ours at
  10 remote × the server's few local candidates.

Opus parameters in the answer (RFC 7587 §6.1, per transceiver, see `opus_answer_parameters`):
`useinbandfec=1` always (in-band FEC lets a browser conceal the loss we report to it);
`stereo=1` only where that section's offer says `stereo=1`; `usedtx=1` only where the offer
says `usedtx=1` (the client's own DTX choice; DTX also lets the server see its silence when
it sends no RFC 6464 audio levels, see sfu.speakers).
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
# Remote candidates kept per m-section (the transport uses one section's): with the server's
# few local candidates (one per RTC_HOST_ADDRESSES entry, plus STUN/TURN ones) the checklist
# stays within RFC 8445's 100 pairs.
MAX_CANDIDATES_PER_SECTION = 10
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"  # RFC 6464

_FINGERPRINT_BYTES = {"sha-256": 32, "sha-384": 48, "sha-512": 64}
_SETUP_VALUES = ("actpass", "active", "passive")
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")
_ICE_CHARS = re.compile(r"[A-Za-z0-9+/]+")
_M_LINE = re.compile(r"m=([^ ]+) ([0-9]+) ([A-Za-z/]+)((?: [^ ]+)+)")
_RTP_PROFILE = re.compile(r"(UDP/TLS/)?RTP/SAVPF?")
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


@dataclass(frozen=True)
class OfferedAudio:
    """One audio m-section of an accepted offer.

    mid: its `a=mid` (what aiortc names the transceiver by).
    sends: True for the client's microphone (`sendonly`), False for a slot (`recvonly`).
    opus_payload_type: the section's Opus payload type (96-127), the first Opus rtpmap.
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
    """An offer the SFU can answer: `sdp` is what to hand aiortc (candidates pruned),
    `sections` its audio m-sections in order, `dropped_candidates` how many candidate lines
    were left out."""

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
    line: int  # index into the offer's lines
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
    kind: str
    profile: str
    mid: str | None = None
    direction: str | None = None
    rtcp_mux: bool = False
    rtpmaps: dict[str, str] = field(default_factory=dict)  # payload type → "opus/48000/2"
    fmtps: dict[str, str] = field(default_factory=dict)  # payload type → its parameters
    extensions: set[str] = field(default_factory=set)
    extension_ids: list[str] = field(default_factory=list)  # as written, "3" or "3/recvonly"
    candidates: list[_Candidate] = field(default_factory=list)


@dataclass
class _Session(_Transport):
    bundles: list[list[str]] = field(default_factory=list)


def check_offer(sdp: str, max_slots: int) -> CheckedOffer:
    """Check a client's offer against what the SFU accepts (module docstring).

    Raises OfferTooLarge, InvalidOffer, OpusRequired or TooManySlots, each with a message for
    a person. O(lines); nothing is allocated but the result."""
    # A character is at least one UTF-8 byte: the cheap test first, then the exact one
    # ("replace": a lone surrogate from JSON must not raise here).
    if len(sdp) > MAX_OFFER_BYTES or len(sdp.encode("utf-8", "replace")) > MAX_OFFER_BYTES:
        raise OfferTooLarge(
            f"The SDP offer is larger than {MAX_OFFER_BYTES} bytes. Offer audio only, a "
            "microphone and the room's slots, with a few ICE candidates."
        )
    # splitlines, as aiortc's own parser does, so both see the same lines.
    lines = sdp.splitlines()
    session, sections, dropped, rewritten = _read(lines)
    if not sections:
        raise InvalidOffer("The offer has no audio to send or receive (no m= section).")
    offered = tuple(_check_section(section, session) for section in sections)
    _check_bundle(session, sections)
    microphones = sum(1 for s in offered if s.sends)
    if microphones > 1:
        raise InvalidOffer("Offer at most one sendonly audio section: your microphone.")
    slots = len(offered) - microphones
    if slots > max_slots:
        raise TooManySlots(f"This room allows {max_slots} receive slots; the offer has {slots}.")
    dropped |= _pruned_candidates(sections)
    kept = [rewritten.get(index, line) for index, line in enumerate(lines) if index not in dropped]
    pruned = "\r\n".join(kept) + "\r\n"
    try:
        # The guard: whatever aiortc's parser would raise on is refused now, not after a
        # peer connection exists. The checks above make this rare.
        SessionDescription.parse(pruned)
    except Exception:  # aiortc raises AssertionError, ValueError, KeyError, StopIteration…
        raise InvalidOffer(
            "The offer is not valid SDP (RFC 8866): one of its lines could not be read."
        ) from None
    return CheckedOffer(pruned, offered, len(dropped))


def opus_answer_parameters(section: OfferedAudio) -> dict[str, int]:
    """The answer's Opus `a=fmtp` parameters for one section (RFC 7587 §6.1): in-band FEC
    always; `stereo=1` and `usedtx=1` only where that section's offer asked for them."""
    parameters = {"useinbandfec": 1}
    if section.stereo:
        parameters["stereo"] = 1
    if section.dtx:
        parameters["usedtx"] = 1
    return parameters


# --- reading ------------------------------------------------------------------------------


def _read(lines: Sequence[str]) -> tuple[_Session, list[_Section], set[int], dict[int, str]]:
    """The session and its m-sections as written; the indexes of candidate lines dropped
    because they are malformed or of no use here; lines to write differently, by index."""
    session = _Session()
    sections: list[_Section] = []
    dropped: set[int] = set()
    rewritten: dict[int, str] = {}
    current: _Section | None = None
    for index, line in enumerate(lines):
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
            candidate = _candidate(index, value)
            if candidate is None:
                dropped.add(index)
            else:
                current.candidates.append(candidate)
        elif name == "extmap" and value.count(" ") > 1:
            # RFC 8285 extension attributes, which aiortc cannot read and nothing here uses.
            rewritten[index] = "a=extmap:" + " ".join(value.split(" ")[:2])
            _media_attribute(current, name, value)
        else:
            _media_attribute(current, name, value)
    return session, sections, dropped, rewritten


def _m_section(line: str, number: int) -> _Section:
    match = _M_LINE.fullmatch(line)
    if match is None:
        raise InvalidOffer(f"The offer's m= line {number} is malformed (RFC 8866 §5.14).")
    kind = match.group(1)
    if kind != "audio":
        raise InvalidOffer(
            f"This room carries audio only: remove the offer's m={kind} section "
            "(no data channel, no video)."
        )
    return _Section(number=number, kind=kind, profile=match.group(3))


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


def _media_attribute(section: _Section, name: str, value: str) -> None:
    if _transport_attribute(section, name, value):
        return
    if name in _DIRECTIONS and not value:
        section.direction = name
    elif name == "mid":
        section.mid = value
    elif name == "rtcp-mux":
        section.rtcp_mux = True
    elif name == "rtpmap":
        payload_type, _, encoding = value.partition(" ")
        section.rtpmaps.setdefault(payload_type, encoding)
    elif name == "fmtp":
        payload_type, _, parameters = value.partition(" ")
        section.fmtps[payload_type] = parameters
    elif name == "extmap":
        parts = value.split(" ")
        section.extension_ids.append(parts[0])
        if len(parts) >= 2:
            section.extensions.add(parts[1])


def _candidate(index: int, value: str) -> _Candidate | None:
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
    if not _MDNS_NAME.fullmatch(host):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return None
    extensions = bits[8:]
    if len(extensions) % 2:
        return None
    for name, extension in zip(extensions[::2], extensions[1::2], strict=True):
        if name == "rport" and not (_DIGITS.fullmatch(extension) and int(extension) < 65536):
            return None
    return _Candidate(index, int(priority), (host.lower(), port))


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
    if not all(_EXTENSION_ID.fullmatch(x) for x in section.extension_ids):
        raise InvalidOffer(f"{where} has an a=extmap whose id is not 1-255 (RFC 8285).")
    if section.direction not in ("sendonly", "recvonly"):
        raise InvalidOffer(
            f"{where} must be sendonly (your microphone) or recvonly (a slot), "
            f"not {section.direction or 'sendrecv'}."
        )
    if not section.rtcp_mux:
        raise InvalidOffer(f"{where} has no a=rtcp-mux (RFC 5761): RTCP must share the port.")
    ufrag = section.ufrag if section.ufrag is not None else session.ufrag
    pwd = section.pwd if section.pwd is not None else session.pwd
    if ufrag is None or pwd is None:
        raise InvalidOffer(f"{where} has no ICE credentials (a=ice-ufrag and a=ice-pwd).")
    if not (_ice_chars(ufrag, 4) and _ice_chars(pwd, 22)):
        raise InvalidOffer(
            f"{where} has malformed ICE credentials: a=ice-ufrag is 4-256 and a=ice-pwd "
            "22-256 letters, digits, + or / (RFC 8839 §5.4)."
        )
    setup = section.setup if section.setup is not None else session.setup
    if setup is None:
        raise InvalidOffer(f"{where} has no a=setup (RFC 5763): offer a=setup:actpass.")
    if setup not in _SETUP_VALUES:
        raise InvalidOffer(f"{where} has a=setup:{setup}; offer actpass, active or passive.")
    fingerprints = session.fingerprints + section.fingerprints
    if not fingerprints:
        raise InvalidOffer(f"{where} has no a=fingerprint (RFC 8122): DTLS needs one.")
    if not all(_fingerprint_ok(f) for f in fingerprints):
        raise InvalidOffer(
            f"{where} has a malformed a=fingerprint, or one that is not sha-256, sha-384 "
            "or sha-512 (RFC 8122)."
        )
    payload_type = _opus_payload_type(section)
    if payload_type is None:
        raise OpusRequired(f"{where} does not offer Opus (opus/48000/2 on a dynamic payload type).")
    parameters = dict(_fmtp_pairs(section.fmtps.get(str(payload_type), "")))
    return OfferedAudio(
        mid=section.mid,
        sends=section.direction == "sendonly",
        opus_payload_type=payload_type,
        stereo=parameters.get("stereo") == "1",
        dtx=parameters.get("usedtx") == "1",
        audio_level=AUDIO_LEVEL_URI in section.extensions,
    )


def _ice_chars(value: str, least: int) -> bool:
    return least <= len(value) <= 256 and _ICE_CHARS.fullmatch(value) is not None


def _fingerprint_ok(value: str) -> bool:
    algorithm, _, digest = value.partition(" ")
    size = _FINGERPRINT_BYTES.get(algorithm.lower())
    return size is not None and len(digest) == 3 * size - 1 and bool(_HEX_PAIRS.fullmatch(digest))


def _opus_payload_type(section: _Section) -> int | None:
    """The payload type of the section's first Opus rtpmap, in the order of the a=rtpmap
    lines: the one aiortc negotiates. RFC 7587 writes `opus/48000/2`; `OPUS/48000` (GStreamer
    caps without channels) is the same stream, and aiortc matches it too. None if there is
    none, or if that one is not dynamic (aiortc would answer another payload type than the
    client sends)."""
    for payload_type, encoding in section.rtpmaps.items():
        name, _, rest = encoding.partition("/")
        if name.lower() == "opus" and rest.partition("/")[0] == "48000":
            number = int(payload_type) if _DIGITS.fullmatch(payload_type) else -1
            return number if number in _DYNAMIC_PAYLOAD_TYPES else None
    return None


def _fmtp_pairs(parameters: str) -> Iterator[tuple[str, str]]:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        yield name.strip().lower(), value.strip()


def _check_bundle(session: _Session, sections: Sequence[_Section]) -> None:
    mids = [s.mid for s in sections]
    if len(set(mids)) != len(mids):
        raise InvalidOffer("Two of the offer's sections share one a=mid (RFC 8843).")
    if len(session.bundles) > 1:
        raise InvalidOffer("The offer has more than one BUNDLE group; offer one.")
    for bundle in session.bundles:
        unknown = [mid for mid in bundle if mid not in mids]
        if unknown:
            raise InvalidOffer(
                "The offer's a=group:BUNDLE names mids that no section has "
                f"({', '.join(unknown[:3])[:60]})."
            )
        if len(set(bundle)) != len(bundle):
            raise InvalidOffer("The offer's a=group:BUNDLE names one mid twice.")


def _pruned_candidates(sections: Sequence[_Section]) -> set[int]:
    """Indexes of candidate lines to leave out: per section, all but the
    `MAX_CANDIDATES_PER_SECTION` highest-priority distinct addresses. Every section keeps its
    own, even inside a BUNDLE group: aiortc's answerer shares one transport among all audio
    sections and takes the candidates of whichever section it reads last."""
    dropped: set[int] = set()
    for section in sections:
        # Stable sort: equal priorities keep the offer's order.
        ranked = sorted(section.candidates, key=lambda c: -c.priority)
        seen: set[tuple[str, str]] = set()
        for candidate in ranked:
            if candidate.address in seen or len(seen) >= MAX_CANDIDATES_PER_SECTION:
                dropped.add(candidate.line)
            else:
                seen.add(candidate.address)
    return dropped
