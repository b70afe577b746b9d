// A live level (RMS 0..1) of one audio track, read on demand: the pre-join meter and the
// in-call "you are speaking but muted" hint. Works on a clone of the track, so it still hears
// the microphone while the call's own track is disabled (muted).
import { rms } from "./speaking";

export class LevelMeter {
  private readonly context: AudioContext | null = null;
  private readonly analyser: AnalyserNode | null = null;
  private readonly buffer: Float32Array<ArrayBuffer> | null = null;
  private readonly track: MediaStreamTrack;

  constructor(track: MediaStreamTrack) {
    this.track = track.clone();
    this.track.enabled = true;
    if (typeof AudioContext === "undefined") return;
    try {
      this.context = new AudioContext();
      void this.context.resume().catch(() => undefined);
      const source = this.context.createMediaStreamSource(new MediaStream([this.track]));
      this.analyser = this.context.createAnalyser();
      this.analyser.fftSize = 2048;
      source.connect(this.analyser);
      this.buffer = new Float32Array(new ArrayBuffer(this.analyser.fftSize * 4));
    } catch {
      // No Web Audio: the meter reads 0.
    }
  }

  level(): number {
    if (!this.analyser || !this.buffer) return 0;
    if (this.context?.state === "suspended") void this.context.resume().catch(() => undefined);
    this.analyser.getFloatTimeDomainData(this.buffer);
    return rms(this.buffer);
  }

  close(): void {
    this.track.stop();
    void this.context?.close().catch(() => undefined);
  }
}
