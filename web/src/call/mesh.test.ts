import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { MediaHost } from "./media-host";
import { MeshMedia, meshRole } from "./mesh";
import type { Signaling } from "./signaling";
import type { CallAction } from "./state";

describe("meshRole", () => {
  it("offers when add-peer says createOffer (we are the newcomer)", () => {
    expect(meshRole({ createOffer: true })).toBe("offerer");
  });
  it("answers otherwise (the peer is the newcomer and will offer)", () => {
    expect(meshRole({ createOffer: false })).toBe("answerer");
  });
});

// Just enough of RTCPeerConnection to follow the signaling steps MeshMedia takes.
class FakePeerConnection {
  static instances: FakePeerConnection[] = [];
  localDescription: RTCSessionDescriptionInit | null = null;
  remoteDescription: RTCSessionDescriptionInit | null = null;
  signalingState: RTCSignalingState = "stable";
  connectionState: RTCPeerConnectionState = "new";
  transceivers: { direction: string; sender: { track: unknown; replaceTrack: (t: unknown) => Promise<void> }; receiver: { track: { kind: string } } }[] = [];
  added: RTCIceCandidateInit[] = [];
  onicecandidate: ((e: { candidate: null }) => void) | null = null;
  ontrack: unknown = null;
  onconnectionstatechange: unknown = null;
  closed = false;

  constructor() {
    FakePeerConnection.instances.push(this);
  }
  addTransceiver(_: unknown, init: { direction: string }) {
    const t = this.transceiver(init.direction);
    return t;
  }
  getTransceivers() {
    return this.transceivers;
  }
  async createOffer() {
    return { type: "offer" as const, sdp: "offer-sdp" };
  }
  async createAnswer() {
    return { type: "answer" as const, sdp: "answer-sdp" };
  }
  async setLocalDescription(d: RTCSessionDescriptionInit) {
    this.localDescription = d;
    this.signalingState = d.type === "offer" ? "have-local-offer" : "stable";
  }
  async setRemoteDescription(d: RTCSessionDescriptionInit) {
    this.remoteDescription = d;
    if (d.type === "offer" && this.transceivers.length === 0) this.transceiver("recvonly");
    this.signalingState = d.type === "offer" ? "have-remote-offer" : "stable";
  }
  async addIceCandidate(c: RTCIceCandidateInit) {
    this.added.push(c);
  }
  close() {
    this.closed = true;
    this.signalingState = "closed";
  }
  private transceiver(direction: string) {
    const sender = { track: null as unknown, replaceTrack: async (t: unknown) => void (sender.track = t) };
    const t = { direction, sender, receiver: { track: { kind: "audio" } } };
    this.transceivers.push(t);
    return t;
  }
}

function fakeHost() {
  const requests: { event: string; payload: unknown }[] = [];
  const actions: CallAction[] = [];
  const signaling = {
    request: vi.fn(async (event: string, payload: unknown) => {
      requests.push({ event, payload });
      return { ok: true };
    }),
  } as unknown as Signaling;
  const host: MediaHost = {
    roomId: "rm_1",
    iceServers: [],
    signaling,
    sink: { play: vi.fn(), remove: vi.fn() } as unknown as MediaHost["sink"],
    speaking: { watch: vi.fn(), unwatch: vi.fn() } as unknown as MediaHost["speaking"],
    micTrack: () => ({ kind: "audio", id: "mic" }) as unknown as MediaStreamTrack,
    micStream: () => null,
    offersMicrophone: false,
    dispatch: (a) => void actions.push(a),
    reportError: vi.fn(),
  };
  return { host, requests, actions };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("MeshMedia", () => {
  beforeEach(() => {
    FakePeerConnection.instances = [];
    vi.stubGlobal("RTCPeerConnection", FakePeerConnection);
  });
  afterEach(() => vi.unstubAllGlobals());

  it("as the newcomer, offers to each peer through relay-sdp", async () => {
    const { host, requests } = fakeHost();
    const mesh = new MeshMedia(host);
    mesh.addPeer({ peerId: "A", createOffer: true, user: { id: "u", name: "", username: null, bio: "", avatarUrl: "" } });
    await settle();
    expect(FakePeerConnection.instances[0]?.transceivers[0]?.direction).toBe("sendrecv");
    expect(requests).toEqual([
      { event: "relay-sdp", payload: { peerId: "A", sessionDescription: { type: "offer", sdp: "offer-sdp" } } },
    ]);
    mesh.onDescription({ peerId: "A", sessionDescription: { type: "answer", sdp: "answer-sdp" } });
    await settle();
    expect(FakePeerConnection.instances[0]?.remoteDescription?.type).toBe("answer");
  });

  it("as an existing member, waits for the offer, answers with the microphone, and applies early candidates after it", async () => {
    const { host, requests } = fakeHost();
    const mesh = new MeshMedia(host);
    mesh.addPeer({ peerId: "C", createOffer: false, user: { id: "u", name: "", username: null, bio: "", avatarUrl: "" } });
    mesh.onCandidate({ peerId: "C", icecandidate: { candidate: "candidate:1", sdpMid: "0" } });
    await settle();
    expect(requests).toEqual([]);
    const pc = FakePeerConnection.instances[0];
    expect(pc?.added).toEqual([]);
    mesh.onDescription({ peerId: "C", sessionDescription: { type: "offer", sdp: "offer-sdp" } });
    await settle();
    expect(pc?.added).toEqual([{ candidate: "candidate:1", sdpMid: "0" }]);
    expect(pc?.transceivers[0]?.direction).toBe("sendrecv");
    expect(pc?.transceivers[0]?.sender.track).toEqual({ kind: "audio", id: "mic" });
    expect(requests).toEqual([
      { event: "relay-sdp", payload: { peerId: "C", sessionDescription: { type: "answer", sdp: "answer-sdp" } } },
    ]);
  });

  it("closes the connection on remove-peer", () => {
    const { host } = fakeHost();
    const mesh = new MeshMedia(host);
    mesh.addPeer({ peerId: "A", createOffer: false, user: { id: "u", name: "", username: null, bio: "", avatarUrl: "" } });
    mesh.removePeer("A");
    expect(FakePeerConnection.instances[0]?.closed).toBe(true);
  });
});
