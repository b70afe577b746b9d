import type { MicrophoneChoice } from "./useMicrophones";

/** The "Microphone" picker, before joining and in the call; nothing while none is known. */
export function MicrophoneSelect({
  id,
  microphones,
  value,
  onChange,
}: {
  id: string;
  microphones: MicrophoneChoice[];
  value: string;
  onChange: (deviceId: string) => void;
}) {
  if (microphones.length === 0) return null;
  return (
    <div className="field">
      <label htmlFor={id}>Microphone</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        {microphones.map((mic) => (
          <option key={mic.deviceId} value={mic.deviceId}>
            {mic.label}
          </option>
        ))}
      </select>
    </div>
  );
}
