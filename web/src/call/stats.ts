// Reading inbound audio counters out of getStats() reports.
import type { InboundAudioStats } from "./types";

interface InboundCounters {
  packetsReceived: number;
  totalAudioEnergy: number;
}

// Sums every inbound-rtp audio entry of a report (a receiver's report has one; a mesh peer
// connection has one per remote audio track, normally one).
export function inboundAudioCounters(entries: Iterable<unknown>): InboundCounters {
  let packetsReceived = 0;
  let totalAudioEnergy = 0;
  for (const entry of entries) {
    if (!isInboundAudio(entry)) continue;
    packetsReceived += numberOr0(entry.packetsReceived);
    totalAudioEnergy += numberOr0(entry.totalAudioEnergy);
  }
  return { packetsReceived, totalAudioEnergy };
}

export async function statsOf(
  source: string,
  target: { getStats(): Promise<RTCStatsReport> },
): Promise<InboundAudioStats> {
  try {
    const report = await target.getStats();
    return { source, ...inboundAudioCounters(report.values()) };
  } catch {
    // A closed connection has no stats; zeros say "nothing flowing" honestly.
    return { source, packetsReceived: 0, totalAudioEnergy: 0 };
  }
}

function isInboundAudio(
  entry: unknown,
): entry is { type: string; kind?: string; mediaType?: string; packetsReceived?: unknown; totalAudioEnergy?: unknown } {
  if (typeof entry !== "object" || entry === null) return false;
  const e = entry as { type?: unknown; kind?: unknown; mediaType?: unknown };
  return e.type === "inbound-rtp" && (e.kind ?? e.mediaType) === "audio";
}

function numberOr0(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}
