// Mesh speaking indicators: an AnalyserNode per stream (one shared AudioContext), sampled
// about ten times a second. The sfu tells us who speaks instead (`speakers`).

export const SPEAKING_THRESHOLD = 0.02; // RMS of the waveform, 0..1
export const SPEAKING_HOLD_MS = 400;
const SAMPLE_INTERVAL_MS = 100;

// A threshold with a short hold, so the ring does not flicker between syllables.
export class SpeakingGate {
  private lastLoud = -Infinity;
  speaking = false;

  constructor(
    private readonly threshold = SPEAKING_THRESHOLD,
    private readonly holdMs = SPEAKING_HOLD_MS,
  ) {}

  // Returns true when the speaking flag changed.
  update(level: number, now: number): boolean {
    if (level >= this.threshold) this.lastLoud = now;
    const speaking = now - this.lastLoud <= this.holdMs;
    if (speaking === this.speaking) return false;
    this.speaking = speaking;
    return true;
  }
}

export function rms(samples: Float32Array): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / samples.length);
}

interface Watched {
  source: MediaStreamAudioSourceNode;
  analyser: AnalyserNode;
  buffer: Float32Array<ArrayBuffer>;
  gate: SpeakingGate;
}

export class SpeakingMonitor {
  private context: AudioContext | null = null;
  private readonly watched = new Map<string, Watched>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly onChange: (key: string, speaking: boolean) => void) {}

  watch(key: string, stream: MediaStream): void {
    this.unwatch(key);
    const context = this.audioContext();
    if (!context || stream.getAudioTracks().length === 0) return;
    try {
      const source = context.createMediaStreamSource(stream);
      const analyser = context.createAnalyser();
      // ~85 ms at 48 kHz: nearly the whole sampling interval, so short sounds are not missed.
      analyser.fftSize = 4096;
      // Not connected to the destination: the <audio> element plays the sound; this only listens.
      source.connect(analyser);
      const buffer = new Float32Array(new ArrayBuffer(analyser.fftSize * 4));
      this.watched.set(key, { source, analyser, buffer, gate: new SpeakingGate() });
    } catch {
      return;
    }
    this.timer ??= setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
  }

  unwatch(key: string): void {
    const watched = this.watched.get(key);
    if (!watched) return;
    watched.source.disconnect();
    this.watched.delete(key);
    if (watched.gate.speaking) this.onChange(key, false);
  }

  isSpeaking(key: string): boolean {
    return this.watched.get(key)?.gate.speaking ?? false;
  }

  // Browsers start an AudioContext suspended until a user gesture; enableAudio() calls this.
  async resume(): Promise<void> {
    if (this.context?.state === "suspended") await this.context.resume().catch(() => undefined);
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const w of this.watched.values()) w.source.disconnect();
    this.watched.clear();
    void this.context?.close().catch(() => undefined);
    this.context = null;
  }

  private audioContext(): AudioContext | null {
    if (this.context) return this.context;
    if (typeof AudioContext === "undefined") return null;
    this.context = new AudioContext();
    // Succeeds when the page already had a user gesture (the click that opened the room).
    void this.context.resume().catch(() => undefined);
    return this.context;
  }

  private sample(): void {
    const now = performance.now();
    for (const [key, w] of this.watched) {
      w.analyser.getFloatTimeDomainData(w.buffer);
      if (w.gate.update(rms(w.buffer), now)) this.onChange(key, w.gate.speaking);
    }
  }
}
