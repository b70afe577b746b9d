// Mesh rooms: one RTCPeerConnection per peer, negotiated through the relays of
// docs/protocol.md. The newcomer offers (add-peer createOffer: true), so each pair has exactly
// one offerer and no glare handling is needed.
import type { AddPeerEvent, IceCandidateEvent, SessionDescriptionEvent } from "./events";
import { connectionStateOf, type MediaEngine, type MediaHost } from "./media-host";
import { statsOf } from "./stats";
import type { InboundAudioStats } from "./types";

export type MeshRole = "offerer" | "answerer";

export function meshRole(event: Pick<AddPeerEvent, "createOffer">): MeshRole {
  return event.createOffer === true ? "offerer" : "answerer";
}

const MAX_ICE_RESTARTS = 3;

interface MeshPeer {
  readonly peerId: string;
  readonly pc: RTCPeerConnection;
  readonly role: MeshRole;
  // Candidates that arrived before the remote description; addIceCandidate would reject them.
  readonly pendingCandidates: RTCIceCandidateInit[];
  // Signaling steps for one peer run one after another, never interleaved.
  queue: Promise<void>;
  iceRestarts: number;
}

export class MeshMedia implements MediaEngine {
  private readonly peers = new Map<string, MeshPeer>();

  constructor(private readonly host: MediaHost) {}

  addPeer(event: AddPeerEvent): void {
    const peer = this.createPeer(event.peerId, meshRole(event));
    if (peer.role === "offerer") this.enqueue(peer, () => this.sendOffer(peer, false));
  }

  removePeer(peerId: string): void {
    const peer = this.peers.get(peerId);
    if (!peer) return;
    this.peers.delete(peerId);
    peer.pc.close();
    this.host.sink.remove(peerId);
    this.host.speaking.unwatch(peerId);
  }

  onDescription(event: SessionDescriptionEvent): void {
    const description = event.sessionDescription;
    // An offer from a peer we have not heard of yet: the add-peer is late or lost; answer anyway.
    const peer = this.peers.get(event.peerId) ?? this.createPeer(event.peerId, "answerer");
    this.enqueue(peer, async () => {
      if (description.type === "offer") await this.answer(peer, description);
      else if (description.type === "answer") {
        if (peer.pc.signalingState !== "have-local-offer") return;
        await peer.pc.setRemoteDescription(description);
        await this.flushCandidates(peer);
      }
    });
  }

  onCandidate(event: IceCandidateEvent): void {
    const candidate = event.icecandidate;
    // End-of-candidates needs no action: ICE finishes with what it has.
    if (!candidate || !candidate.candidate) return;
    const peer = this.peers.get(event.peerId);
    if (!peer) return;
    this.enqueue(peer, async () => {
      if (!peer.pc.remoteDescription) peer.pendingCandidates.push(candidate);
      else await peer.pc.addIceCandidate(candidate);
    });
  }

  async setMicTrack(track: MediaStreamTrack | null): Promise<void> {
    // Every pc carries a sendrecv audio transceiver from the start, so swapping (or adding)
    // the track never needs renegotiation.
    await Promise.all(
      [...this.peers.values()].map(async (peer) => {
        for (const t of audioTransceivers(peer.pc)) {
          if (t.currentDirection !== "stopped") await t.sender.replaceTrack(track).catch(() => undefined);
        }
      }),
    );
  }

  async stats(): Promise<InboundAudioStats[]> {
    return Promise.all([...this.peers.values()].map((peer) => statsOf(peer.peerId, peer.pc)));
  }

  // Our socket reconnected with a new id: the other side forgets the old pcs, so do we.
  closeAll(): void {
    for (const peerId of [...this.peers.keys()]) this.removePeer(peerId);
  }

  close(): void {
    this.closeAll();
  }

  private createPeer(peerId: string, role: MeshRole): MeshPeer {
    this.removePeer(peerId);
    const pc = new RTCPeerConnection({ iceServers: this.host.iceServers });
    const peer: MeshPeer = { peerId, pc, role, pendingCandidates: [], queue: Promise.resolve(), iceRestarts: 0 };
    this.peers.set(peerId, peer);
    if (role === "offerer") {
      // sendrecv even without a microphone: a later getUserMedia success only needs replaceTrack.
      const track = this.host.micTrack();
      const stream = this.host.micStream();
      pc.addTransceiver(track ?? "audio", { direction: "sendrecv", streams: stream ? [stream] : [] });
    }
    pc.onicecandidate = (e) => {
      void this.host.signaling
        .request("relay-ice", { peerId, icecandidate: e.candidate ? e.candidate.toJSON() : null })
        .catch(() => undefined); // the peer left meanwhile; remove-peer follows
    };
    pc.ontrack = (e) => {
      if (e.track.kind !== "audio" || this.peers.get(peerId) !== peer) return;
      const stream = new MediaStream([e.track]);
      this.host.sink.play(peerId, stream);
      this.host.speaking.watch(peerId, stream);
    };
    pc.onconnectionstatechange = () => {
      if (this.peers.get(peerId) !== peer) return;
      const connection = connectionStateOf(pc.connectionState);
      this.host.dispatch({ type: "peer-connection", peerId, connection });
      if (connection === "connected") peer.iceRestarts = 0;
      if (connection === "failed" && role === "offerer" && peer.iceRestarts < MAX_ICE_RESTARTS) {
        peer.iceRestarts += 1;
        this.enqueue(peer, () => this.sendOffer(peer, true));
      }
    };
    this.host.dispatch({ type: "peer-connection", peerId, connection: "connecting" });
    return peer;
  }

  private async sendOffer(peer: MeshPeer, iceRestart: boolean): Promise<void> {
    const offer = await peer.pc.createOffer({ iceRestart });
    await peer.pc.setLocalDescription(offer);
    await this.relay(peer, peer.pc.localDescription ?? offer);
  }

  private async answer(peer: MeshPeer, offer: RTCSessionDescriptionInit): Promise<void> {
    await peer.pc.setRemoteDescription(offer);
    // The offer created the transceiver (recvonly by default); make it send our microphone.
    const track = this.host.micTrack();
    for (const t of audioTransceivers(peer.pc)) {
      if (t.direction === "recvonly" || t.direction === "inactive") t.direction = "sendrecv";
      if (t.sender.track !== track) await t.sender.replaceTrack(track);
      const stream = this.host.micStream();
      if (stream) t.sender.setStreams?.(stream);
    }
    await this.flushCandidates(peer);
    const answer = await peer.pc.createAnswer();
    await peer.pc.setLocalDescription(answer);
    await this.relay(peer, peer.pc.localDescription ?? answer);
  }

  private async relay(peer: MeshPeer, description: RTCSessionDescriptionInit): Promise<void> {
    if (this.peers.get(peer.peerId) !== peer) return;
    await this.host.signaling.request("relay-sdp", {
      peerId: peer.peerId,
      sessionDescription: { type: description.type, sdp: description.sdp },
    });
  }

  private async flushCandidates(peer: MeshPeer): Promise<void> {
    const pending = peer.pendingCandidates.splice(0);
    for (const candidate of pending) await peer.pc.addIceCandidate(candidate).catch(() => undefined);
  }

  private enqueue(peer: MeshPeer, step: () => Promise<void>): void {
    peer.queue = peer.queue
      .then(() => (this.peers.get(peer.peerId) === peer ? step() : undefined))
      .catch((error: unknown) => {
        // A closed pc rejects everything; only failures of a live peer are worth a state change.
        if (this.peers.get(peer.peerId) === peer && peer.pc.signalingState !== "closed") {
          console.warn(`mesh: negotiation with ${peer.peerId} failed`, error);
          this.host.dispatch({ type: "peer-connection", peerId: peer.peerId, connection: "failed" });
        }
      });
  }
}

function audioTransceivers(pc: RTCPeerConnection): RTCRtpTransceiver[] {
  return pc.getTransceivers().filter((t) => t.receiver.track.kind === "audio");
}
