"""A GStreamer webrtcbin peer for the interoperability tests: media only, no signaling.

Runs under the system Python with python3-gi (the test's venv cannot import `gi`):

    /usr/bin/python3 tests/gst_peer.py publish FREQUENCY   # sends a sine (Opus) up
    /usr/bin/python3 tests/gst_peer.py listen FREQUENCY    # one recvonly slot, listens for it

It speaks JSON lines. Out (stdout), each `{"event": ...}`:
- `offer` {sdp}: webrtcbin's own offer (its RSA certificate, `a=setup:actpass`), once ICE
  gathering is complete, with the gathered candidates written into the SDP (non-trickle).
- `state` {connection}: webrtcbin's connection-state, on every change.
- `heard` {frequency, packets}: listen mode, once a second: the dominant frequency (Hz) of
  the last 0.2 s of decoded audio (Goertzel scan, None for silence), and RTP packets received.
- `error` {message}: a GStreamer error; the peer exits.
In (stdin), each an object: `{"answer": SDP}` sets the remote description; end of input
quits.

ICE: no STUN or TURN server, UDP only; libnice gathers the host's addresses (in the tests'
network namespace, only those of `lo`).
"""

from __future__ import annotations

import ctypes
import json
import math
import sys
import threading
from typing import Any

import gi  # type: ignore[import-not-found]  # the system Python's PyGObject, not the venv's

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # type: ignore[import-not-found]  # noqa: E402

RTP_CAPS = "application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload={pt}"
PUBLISH_PAYLOAD_TYPE = 96  # GStreamer's usual dynamic type, not the 111 browsers use
ANALYSIS_RATE = 8000  # Hz: decoded audio is kept at this rate for the frequency scan
WINDOW_SECONDS = 0.2  # 5 Hz resolution, finer than the tests' ±15 Hz tolerance
SCAN_HZ = range(60, 3000, 5)
LOCAL_ADDRESS = "127.0.0.1"  # the only address ICE gathers on (tests stay on loopback)


def use_local_address(webrtc: Any, address: str) -> None:
    """Make webrtcbin's libnice agent gather on `address` only.

    libnice gathers on every interface but loopback, so in the tests' namespace (only `lo`)
    it finds nothing and gathering never completes. `nice_agent_add_local_address` is the
    remedy, but the NiceAgent has no GObject-introspection binding in Debian's packages and
    reading webrtcbin's `ice-agent` through PyGObject 3.42 breaks its reference count, so
    this goes through the C API with ctypes: g_object_get(webrtcbin, "ice-agent"), then
    g_object_get(ice, "agent"), then the NiceAddress calls (each new reference released).
    """
    gobject = ctypes.CDLL("libgobject-2.0.so.0")
    nice = ctypes.CDLL("libnice.so.10")
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    gobject.g_object_get.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.c_void_p,
    ]
    gobject.g_object_unref.argtypes = [ctypes.c_void_p]
    for name in (
        "nice_address_init",
        "nice_address_set_from_string",
        "nice_agent_add_local_address",
    ):
        getattr(nice, name).restype = ctypes.c_int
    ice, agent = ctypes.c_void_p(), ctypes.c_void_p()
    gobject.g_object_get(
        get_pointer(webrtc.__gpointer__, None), b"ice-agent", ctypes.byref(ice), None
    )
    gobject.g_object_get(ice, b"agent", ctypes.byref(agent), None)
    nice_address = ctypes.create_string_buffer(128)  # NiceAddress: a sockaddr union, < 128 bytes
    nice.nice_address_init(nice_address)
    if not nice.nice_address_set_from_string(nice_address, address.encode()):
        raise ValueError(f"not an IP address: {address}")
    added = nice.nice_agent_add_local_address(ctypes.c_void_p(agent.value), nice_address)
    gobject.g_object_unref(agent)
    gobject.g_object_unref(ice)
    if not added:
        raise RuntimeError(f"libnice refused local address {address}")


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def goertzel_power(samples: list[float], frequency: float, rate: int) -> float:
    """|X(f)|² of `samples` at one frequency (Goertzel's recurrence, O(n), pure Python)."""
    coefficient = 2.0 * math.cos(2.0 * math.pi * frequency / rate)
    previous = before = 0.0
    for sample in samples:
        previous, before = sample + coefficient * previous - before, previous
    return previous * previous + before * before - coefficient * previous * before


def dominant_frequency(samples: list[float], rate: int) -> float | None:
    if not samples or max(abs(s) for s in samples) < 1e-3:
        return None
    mean = sum(samples) / len(samples)
    centred = [s - mean for s in samples]
    return float(max(SCAN_HZ, key=lambda f: goertzel_power(centred, f, rate)))


class Peer:
    def __init__(self, mode: str, frequency: float) -> None:
        self.mode = mode
        self.frequency = frequency
        self.loop = GLib.MainLoop()
        self.pipeline = Gst.Pipeline.new("peer")
        self.webrtc = Gst.ElementFactory.make("webrtcbin", "webrtc")
        self.webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
        self.webrtc.set_property("stun-server", None)
        use_local_address(self.webrtc, LOCAL_ADDRESS)
        self.pipeline.add(self.webrtc)
        self.candidates: list[tuple[int, str]] = []
        self.offered = False
        self.packets = 0
        self.samples: list[float] = []
        self.lock = threading.Lock()

        if mode == "publish":
            self._add_source()
        else:
            caps = Gst.Caps.from_string(RTP_CAPS.format(pt=111))
            self.webrtc.emit(
                "add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY, caps
            )
            self.webrtc.connect("pad-added", self._on_pad_added)
            GLib.timeout_add(1000, self._report)

        self.webrtc.connect("on-negotiation-needed", self._on_negotiation_needed)
        self.webrtc.connect("on-ice-candidate", self._on_ice_candidate)
        self.webrtc.connect("notify::ice-gathering-state", self._on_gathering_state)
        self.webrtc.connect("notify::connection-state", self._on_connection_state)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self._on_error)

    # --- media -------------------------------------------------------------------------

    def _add_source(self) -> None:
        description = (
            f"audiotestsrc is-live=true wave=sine freq={self.frequency} volume=0.5 "
            "! audioconvert ! audioresample ! opusenc "
            f"! rtpopuspay pt={PUBLISH_PAYLOAD_TYPE} "
            f"! capsfilter caps={RTP_CAPS.format(pt=PUBLISH_PAYLOAD_TYPE)}"
        ).replace(",", "\\,")
        source = Gst.parse_bin_from_description(description, True)
        self.pipeline.add(source)
        source.link(self.webrtc)
        # Linking made a sendrecv transceiver; an sfu microphone is sendonly.
        transceiver = self.webrtc.emit("get-transceiver", 0)
        transceiver.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)

    def _on_pad_added(self, _webrtc: Any, pad: Any) -> None:
        if pad.direction != Gst.PadDirection.SRC:
            return
        pad.add_probe(Gst.PadProbeType.BUFFER, self._count_packet)
        decode = Gst.parse_bin_from_description(
            "rtpopusdepay ! opusdec ! audioconvert ! audioresample "
            f"! audio/x-raw,format=F32LE,channels=1,rate={ANALYSIS_RATE} "
            "! appsink name=sink emit-signals=true sync=false",
            True,
        )
        self.pipeline.add(decode)
        decode.get_by_name("sink").connect("new-sample", self._on_sample)
        decode.sync_state_with_parent()
        pad.link(decode.get_static_pad("sink"))

    def _count_packet(self, _pad: Any, _info: Any) -> Any:
        self.packets += 1
        return Gst.PadProbeReturn.OK

    def _on_sample(self, sink: Any) -> Any:
        buffer = sink.emit("pull-sample").get_buffer()
        data = buffer.extract_dup(0, buffer.get_size())
        values = memoryview(data).cast("f").tolist()
        keep = int(WINDOW_SECONDS * ANALYSIS_RATE)
        with self.lock:
            self.samples = (self.samples + values)[-keep:]
        return Gst.FlowReturn.OK

    def _report(self) -> bool:
        with self.lock:
            samples = list(self.samples)
        emit("heard", frequency=dominant_frequency(samples, ANALYSIS_RATE), packets=self.packets)
        return True

    # --- negotiation (the test does the signaling) -------------------------------------

    def _on_negotiation_needed(self, _webrtc: Any) -> None:
        promise = Gst.Promise.new_with_change_func(self._on_offer_created, None)
        self.webrtc.emit("create-offer", None, promise)

    def _on_offer_created(self, promise: Any, _data: Any) -> None:
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())

    def _on_ice_candidate(self, _webrtc: Any, mline: int, candidate: str) -> None:
        # UDP only: the SFU (aioice) pairs no TCP candidates. (Reading webrtcbin's
        # `ice-agent` to turn ICE-TCP off breaks its reference count under PyGObject 3.42.)
        if candidate.split()[2].lower() == "udp":
            self.candidates.append((mline, candidate))

    def _on_gathering_state(self, *_: Any) -> None:
        state = self.webrtc.get_property("ice-gathering-state")
        if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE and not self.offered:
            self.offered = True
            emit("offer", sdp=self._offer_with_candidates())

    def _offer_with_candidates(self) -> str:
        sdp = self.webrtc.get_property("local-description").sdp.as_text()
        lines = sdp.rstrip("\r\n").split("\r\n")
        written = set(line for line in lines if line.startswith("a=candidate:"))
        out: list[str] = []
        mline = -1
        for line in [*lines, "m=end"]:
            if line.startswith("m="):
                if mline >= 0:
                    out += [
                        f"a={candidate}"
                        for index, candidate in self.candidates
                        if index == mline and f"a={candidate}" not in written
                    ]
                    out.append("a=end-of-candidates")
                mline += 1
            if line != "m=end" and line != "a=end-of-candidates":
                out.append(line)
        return "\r\n".join(out) + "\r\n"

    def set_answer(self, text: str) -> None:
        _, message = GstSdp.SDPMessage.new_from_text(text)
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, message)
        self.webrtc.emit("set-remote-description", answer, Gst.Promise.new())

    def _on_connection_state(self, *_: Any) -> None:
        state = self.webrtc.get_property("connection-state")
        emit("state", connection=state.value_nick)

    def _on_error(self, _bus: Any, message: Any) -> None:
        error, debug = message.parse_error()
        emit("error", message=f"{error.message} ({debug})")
        self.loop.quit()

    # --- running -----------------------------------------------------------------------

    def read_commands(self) -> None:
        for line in sys.stdin:
            command = json.loads(line)
            if "answer" in command:
                GLib.idle_add(self.set_answer, command["answer"])
        GLib.idle_add(self.loop.quit)

    def run(self) -> None:
        threading.Thread(target=self.read_commands, daemon=True).start()
        self.pipeline.set_state(Gst.State.PLAYING)
        try:
            self.loop.run()
        finally:
            self.pipeline.set_state(Gst.State.NULL)


def main() -> None:
    Gst.init(None)
    mode, frequency = sys.argv[1], float(sys.argv[2])
    if mode not in ("publish", "listen"):
        raise SystemExit(f"unknown mode {mode!r}: publish or listen")
    Peer(mode, frequency).run()


if __name__ == "__main__":
    main()
