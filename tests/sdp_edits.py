"""Edits of real SDP offers, the way SDP-munging clients and other WebRTC stacks differ from
aiortc's own: per-section payload types and fmtp, missing attributes, extra candidates; and
joining an sfu room with such an offer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiortc import RTCSessionDescription

from tests.rtc_audio import FrequencyProbe
from tests.sfu_client import SfuClient

Section = list[str]


def split(sdp: str) -> tuple[list[str], list[Section]]:
    """The session lines and each m-section's lines (the m= line first)."""
    session: list[str] = []
    sections: list[Section] = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        else:
            session.append(line)
    return session, sections


def join_sdp(session: list[str], sections: list[Section]) -> str:
    return "\r\n".join(session + [line for section in sections for line in section]) + "\r\n"


def edit_sections(sdp: str, edit: Callable[[int, Section], Section]) -> str:
    """Apply `edit(index, lines)` to every m-section."""
    session, sections = split(sdp)
    return join_sdp(session, [edit(index, section) for index, section in enumerate(sections)])


def with_lines(sdp: str, index: int, extra: list[str]) -> str:
    """`extra` lines appended to m-section `index` (0-based)."""
    return edit_sections(sdp, lambda i, section: section + extra if i == index else section)


def without_lines(sdp: str, prefix: str) -> str:
    """Every line starting with `prefix` removed, at session and media level."""
    return "\r\n".join(x for x in sdp.splitlines() if not x.startswith(prefix)) + "\r\n"


def opus_on(section: Section, payload_type: int, fmtp: str | None = None) -> Section:
    """The section's Opus (aiortc offers it on 96) moved to `payload_type`, with `fmtp`."""
    edited = []
    for line in section:
        if line.startswith("m="):
            words = line.split(" ")
            line = " ".join(words[:3] + [str(payload_type) if w == "96" else w for w in words[3:]])
        elif line.startswith("a=rtpmap:96 "):
            line = f"a=rtpmap:{payload_type} " + line.split(" ", 1)[1]
            edited.append(line)
            if fmtp is not None:
                edited.append(f"a=fmtp:{payload_type} {fmtp}")
            continue
        elif line.startswith("a=fmtp:96 "):
            continue
        edited.append(line)
    return edited


async def join_with(client: SfuClient, room: str, sdp: str) -> dict[str, Any]:
    """`SfuClient.join`, with `sdp` sent instead of the client's own offer (which must have
    been made with `client.offer()` first): the answer is applied, the slots probed."""
    ack: dict[str, Any] = await client.socket.call("sfu-join", {"roomId": room, "sdp": sdp})
    assert ack["ok"], ack
    await client.pc.setRemoteDescription(RTCSessionDescription(ack["sdp"], "answer"))
    slots = [t for t in client.pc.getTransceivers() if t is not client.microphone]
    client.probes = [FrequencyProbe(t.receiver.track) for t in slots]
    await asyncio.wait_for(client.connected.wait(), 10)
    return ack
