// Sfu rooms: one RTCPeerConnection to the server, negotiated once per connection (never
// renegotiated): an optional sendonly microphone and `slots` recvonly transceivers. When it dies
// (sfu-failed, or our pc fails) a new one is negotiated from scratch, with backoff.
import type { SpeakersEvent } from "./events";
import { connectionStateOf, type MediaEngine, type MediaHost } from "./media-host";
import { SignalingError } from "./signaling";
import { slotSource } from "./slots";
import { statsOf } from "./stats";
import type { InboundAudioStats } from "./types";

const ICE_GATHERING_TIMEOUT_MS = 5_000;
const SFU_JOIN_TIMEOUT_MS = 20_000;
const BACKOFF_MS = [500, 1_000, 2_000, 4_000, 8_000, 15_000];
// Refusals that a new attempt cannot fix.
const FATAL_CODES = new Set([
  "wrong_media_mode",
  "invalid_offer",
  "offer_too_large",
  "opus_required",
  "too_many_slots",
]);

export function backoffDelay(attempt: number): number {
  return BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)] ?? 15_000;
}

// The offer the server expects: [sendonly mic]? then N recvonly slots, in this order.
export function transceiverPlan(hasMicrophone: boolean, slots: number): RTCRtpTransceiverDirection[] {
  const count = Math.max(1, Math.min(8, Math.floor(slots) || 3));
  return [...(hasMicrophone ? (["sendonly"] as const) : []), ...Array<"recvonly">(count).fill("recvonly")];
}

export interface SfuCallbacks {
  // The first negotiation, and each one after a failure, completed.
  onConnected(): void;
  onReconnecting(): void;
}

interface Negotiated {
  pc: RTCPeerConnection;
  sender: RTCRtpSender | null;
  slots: RTCRtpTransceiver[];
}

export class SfuMedia implements MediaEngine {
  private current: Negotiated | null = null;
  // Bumped on each new attempt and on close, so a slow negotiation knows it was superseded.
  private generation = 0;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  // Once an sfu-join was sent, the server may hold a connection for us (even if its ack was
  // lost), and it takes one per participant: later attempts free it first.
  private joinSent = false;

  constructor(
    private readonly host: MediaHost,
    private readonly slotCount: number,
    private readonly callbacks: SfuCallbacks,
  ) {}

  // (Re)negotiates now; failures schedule retries by themselves.
  async connect(): Promise<void> {
    this.cancelRetry();
    const generation = ++this.generation;
    const previous = this.current;
    this.current = null;
    this.discard(previous);
    this.host.dispatch({ type: "server-connection", connection: "connecting" });
    try {
      if (previous || this.joinSent) {
        // The server holds one media connection per participant; free ours before the new one.
        await this.host.signaling.request("sfu-leave", { roomId: this.host.roomId }).catch(() => undefined);
      }
      const negotiated = await this.negotiate(generation);
      if (generation !== this.generation) {
        this.discard(negotiated);
        return;
      }
      this.current = negotiated;
      this.attempt = 0;
      // The track to send may have changed while we negotiated (our stage role, a device).
      const wanted = this.host.micTrack();
      if (negotiated.sender && negotiated.sender.track !== wanted) await negotiated.sender.replaceTrack(wanted);
      this.callbacks.onConnected();
    } catch (error) {
      if (generation !== this.generation || this.closed) return;
      if (error instanceof SignalingError && FATAL_CODES.has(error.code)) {
        this.host.dispatch({ type: "server-connection", connection: "failed" });
        this.host.reportError(error.code, `The audio server refused the connection: ${error.message}`);
        return;
      }
      console.warn("sfu: negotiation failed", error);
      this.scheduleRetry();
    }
  }

  onFailed(): void {
    if (this.closed) return;
    this.host.dispatch({ type: "server-connection", connection: "failed" });
    this.scheduleRetry();
  }

  onSpeakers(event: SpeakersEvent): void {
    if (event.roomId === this.host.roomId) this.host.dispatch({ type: "speakers", event });
  }

  async setMicTrack(track: MediaStreamTrack | null): Promise<void> {
    const current = this.current;
    if (current?.sender) {
      await current.sender.replaceTrack(track);
      return;
    }
    // Listening only so far: sending needs a sendonly transceiver, i.e. a new connection
    // (stage rooms always offer one, so this is for the others).
    if (track && !this.closed && !this.host.offersMicrophone) await this.connect();
  }

  async stats(): Promise<InboundAudioStats[]> {
    const current = this.current;
    if (!current) return [];
    return Promise.all(current.slots.map((t, i) => statsOf(slotSource(i), t.receiver)));
  }

  // Stops media without telling the server (leave / socket loss free it there).
  close(): void {
    this.closed = true;
    this.generation += 1;
    this.cancelRetry();
    this.discard(this.current);
    this.current = null;
  }

  // The socket went away: the server has dropped our media connection with our presence.
  suspend(): void {
    this.generation += 1;
    this.cancelRetry();
    this.discard(this.current);
    this.current = null;
  }

  private async negotiate(generation: number): Promise<Negotiated> {
    const pc = new RTCPeerConnection({ iceServers: this.host.iceServers });
    const negotiated: Negotiated = { pc, sender: null, slots: [] };
    try {
      const track = this.host.micTrack();
      const stream = this.host.micStream();
      for (const direction of transceiverPlan(track !== null || this.host.offersMicrophone, this.slotCount)) {
        if (direction === "sendonly") {
          // Without a track (a stage room's listener) the section is still offered sendonly;
          // replaceTrack fills it later.
          negotiated.sender = pc.addTransceiver(track ?? "audio", {
            direction,
            streams: stream ? [stream] : [],
          }).sender;
        } else {
          negotiated.slots.push(pc.addTransceiver("audio", { direction }));
        }
      }
      pc.onconnectionstatechange = () => {
        if (generation !== this.generation) return;
        const connection = connectionStateOf(pc.connectionState);
        this.host.dispatch({ type: "server-connection", connection });
        if (connection === "failed") this.scheduleRetry();
      };
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      // The server takes no trickled candidates: the offer must carry them all.
      await iceGatheringComplete(pc, ICE_GATHERING_TIMEOUT_MS);
      const sdp = pc.localDescription?.sdp ?? offer.sdp ?? "";
      this.joinSent = true;
      const ack = await this.host.signaling.request(
        "sfu-join",
        { roomId: this.host.roomId, sdp, type: "offer" },
        SFU_JOIN_TIMEOUT_MS,
      );
      if (generation !== this.generation) return negotiated;
      await pc.setRemoteDescription({ type: "answer", sdp: ack.sdp });
      negotiated.slots.forEach((t, i) => {
        const stream = new MediaStream([t.receiver.track]);
        this.host.sink.play(slotSource(i), stream);
      });
      return negotiated;
    } catch (error) {
      this.discard(negotiated);
      throw error;
    }
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer !== null) return;
    this.generation += 1; // the failing attempt's events stop counting
    this.callbacks.onReconnecting();
    const delay = backoffDelay(this.attempt);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
  }

  private cancelRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private discard(negotiated: Negotiated | null): void {
    if (!negotiated) return;
    negotiated.pc.onconnectionstatechange = null;
    negotiated.pc.close();
    negotiated.slots.forEach((_, i) => this.host.sink.remove(slotSource(i)));
  }
}

function iceGatheringComplete(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    // Past the timeout, the candidates gathered so far are usually enough (host candidates
    // come first); waiting longer only delays the call.
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}
