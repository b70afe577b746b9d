// One <audio autoplay> element per remote source, appended to the page's container.
export class AudioSink {
  private readonly elements = new Map<string, HTMLAudioElement>();
  // Per-source volume (0 = silenced), kept for elements created later.
  private readonly volumes = new Map<string, number>();
  private blocked = false;

  constructor(
    private readonly container: HTMLElement,
    private readonly onBlocked: (blocked: boolean) => void,
  ) {}

  play(source: string, stream: MediaStream): void {
    let element = this.elements.get(source);
    if (!element) {
      element = document.createElement("audio");
      element.autoplay = true;
      element.dataset.source = source;
      this.container.append(element);
      this.elements.set(source, element);
      element.volume = this.volumes.get(source) ?? 1;
    }
    if (element.srcObject !== stream) element.srcObject = stream;
    void this.start(element);
  }

  remove(source: string): void {
    const element = this.elements.get(source);
    if (!element) return;
    element.pause();
    element.srcObject = null;
    element.remove();
    this.elements.delete(source);
  }

  setVolume(source: string, volume: number): void {
    const clamped = Math.min(1, Math.max(0, volume));
    this.volumes.set(source, clamped);
    const element = this.elements.get(source);
    if (element && element.volume !== clamped) element.volume = clamped;
  }

  clear(): void {
    for (const source of [...this.elements.keys()]) this.remove(source);
  }

  // Called from a user gesture ("click to enable audio"): retries every element.
  async resume(): Promise<boolean> {
    this.blocked = false;
    const results = await Promise.all([...this.elements.values()].map((e) => this.start(e)));
    const ok = results.every(Boolean);
    if (ok) this.onBlocked(false);
    return ok;
  }

  private async start(element: HTMLAudioElement): Promise<boolean> {
    try {
      await element.play();
      return true;
    } catch (error) {
      const name = (error as { name?: string } | null)?.name;
      // AbortError: the source changed or the element was removed meanwhile; not our problem.
      if (name === "NotAllowedError" && !this.blocked) {
        this.blocked = true;
        this.onBlocked(true);
      }
      return name !== "NotAllowedError";
    }
  }
}
