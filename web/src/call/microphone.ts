// The local microphone: opening it with the voice-friendly constraints, and turning
// getUserMedia's DOMExceptions into messages a user can act on.

export function microphoneConstraints(deviceId?: string): MediaStreamConstraints {
  return {
    audio: {
      ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
      echoCancellation: true,
      noiseSuppression: true,
      autoGainControl: true,
    },
    video: false,
  };
}

export interface MicrophoneProblem {
  code: string;
  message: string;
}

export function microphoneProblem(error: unknown): MicrophoneProblem {
  const name = error instanceof Error || isDomException(error) ? error.name : "";
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
      return {
        code: "microphone_denied",
        message:
          "Microphone access was denied. You can still listen; allow the microphone in your browser to speak.",
      };
    case "NotFoundError":
    case "OverconstrainedError":
      return { code: "microphone_not_found", message: "No microphone was found. You can still listen." };
    case "NotReadableError":
      return {
        code: "microphone_busy",
        message: "The microphone is in use by another application. You can still listen.",
      };
    default:
      return { code: "microphone_failed", message: "The microphone could not be opened. You can still listen." };
  }
}

function isDomException(error: unknown): error is { name: string } {
  return typeof error === "object" && error !== null && typeof (error as { name?: unknown }).name === "string";
}

export class Microphone {
  private current: MediaStream | null = null;

  get stream(): MediaStream | null {
    return this.current;
  }

  get track(): MediaStreamTrack | null {
    return this.current?.getAudioTracks()[0] ?? null;
  }

  // Opens a new stream, replacing (and stopping) the previous one only once the new one works.
  // `enabled` is read once the browser hands over the track, not before asking: the person
  // may mute or unmute while the browser is still asking (or slow), and the track must carry
  // the state they see, not the one of a moment ago.
  async open(deviceId?: string, enabled: boolean | (() => boolean) = true): Promise<MediaStreamTrack> {
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(microphoneConstraints(deviceId));
    } catch (error) {
      // A remembered device may be gone; the default one is better than none.
      const name = (error as { name?: string } | null)?.name;
      if (!deviceId || (name !== "OverconstrainedError" && name !== "NotFoundError")) throw error;
      stream = await navigator.mediaDevices.getUserMedia(microphoneConstraints());
    }
    const track = stream.getAudioTracks()[0];
    if (!track) {
      stream.getTracks().forEach((t) => t.stop());
      throw new DOMException("No audio track", "NotFoundError");
    }
    track.enabled = typeof enabled === "function" ? enabled() : enabled;
    this.stop();
    this.current = stream;
    return track;
  }

  setEnabled(enabled: boolean): void {
    const track = this.track;
    if (track) track.enabled = enabled;
  }

  stop(): void {
    this.current?.getTracks().forEach((t) => t.stop());
    this.current = null;
  }
}
