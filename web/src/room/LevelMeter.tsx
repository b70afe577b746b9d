import { useEffect, useState } from "react";

const FRAME_MS = 100;

/** A live microphone level: `read` is sampled ten times a second. */
export function LevelMeter({ read, label }: { read: () => number; label: string }) {
  const [level, setLevel] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => {
      // RMS of speech is small (0.02–0.2): a square root spreads it over the bar.
      setLevel(Math.min(1, Math.sqrt(read() * 4)));
    }, FRAME_MS);
    return () => clearInterval(timer);
  }, [read]);
  const percent = Math.round(level * 100);
  return (
    <div className="level">
      <span className="level-label">{label}</span>
      <div
        className="level-bar"
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        data-level={percent}
      >
        <span className="level-fill" style={{ width: `${percent}%` }} />
      </div>
    </div>
  );
}
