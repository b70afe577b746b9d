// What the mesh and sfu media engines need from the call around them.
import type { Signaling } from "./signaling";
import type { AudioSink } from "./audio-sink";
import type { SpeakingMonitor } from "./speaking";
import type { CallAction } from "./state";
import type { InboundAudioStats } from "./types";

export interface MediaHost {
  readonly roomId: string;
  readonly iceServers: RTCIceServer[];
  readonly signaling: Signaling;
  readonly sink: AudioSink;
  readonly speaking: SpeakingMonitor;
  // The microphone to send now, or null when we only listen (denied, none, or a listener of a
  // stage room).
  micTrack(): MediaStreamTrack | null;
  // sfu: offer the sendonly microphone transceiver even without a track (stage rooms), so
  // going on the stage is a replaceTrack, not a renegotiation.
  readonly offersMicrophone: boolean;
  micStream(): MediaStream | null;
  dispatch(action: CallAction): void;
  reportError(code: string, message: string): void;
}

export interface MediaEngine {
  // The microphone to send changed (another device, granted after a denial, or our stage role).
  setMicTrack(track: MediaStreamTrack | null): Promise<void>;
  stats(): Promise<InboundAudioStats[]>;
  close(): void;
}

export function connectionStateOf(
  state: RTCPeerConnectionState,
): "connecting" | "connected" | "failed" | "closed" {
  switch (state) {
    case "connected":
      return "connected";
    case "failed":
      return "failed";
    case "closed":
      return "closed";
    default:
      // new, connecting, and disconnected (which ICE may still recover from)
      return "connecting";
  }
}
