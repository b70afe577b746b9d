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
  // The current microphone, or null when we only listen (denied, none).
  micTrack(): MediaStreamTrack | null;
  micStream(): MediaStream | null;
  dispatch(action: CallAction): void;
  reportError(code: string, message: string): void;
}

export interface MediaEngine {
  // The microphone changed (another device, or granted after a denial).
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
