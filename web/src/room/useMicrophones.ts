import { useEffect, useState } from "react";

export interface MicrophoneChoice {
  deviceId: string;
  label: string;
}

/** The audio inputs, listed again when devices change; `ready` once a stream was granted
 * (labels need the permission), so callers re-list after asking for the microphone. */
export function useMicrophones(ready: boolean): MicrophoneChoice[] {
  const [microphones, setMicrophones] = useState<MicrophoneChoice[]>([]);
  useEffect(() => {
    if (!ready || !navigator.mediaDevices?.enumerateDevices) return;
    let current = true;
    const list = () => {
      navigator.mediaDevices
        .enumerateDevices()
        .then((devices) => {
          if (!current) return;
          const inputs = devices.filter((d) => d.kind === "audioinput" && d.deviceId);
          setMicrophones(
            inputs.map((d, index) => ({
              deviceId: d.deviceId,
              label: d.label || `Microphone ${index + 1}`,
            })),
          );
        })
        .catch(() => undefined);
    };
    list();
    navigator.mediaDevices.addEventListener?.("devicechange", list);
    return () => {
      current = false;
      navigator.mediaDevices.removeEventListener?.("devicechange", list);
    };
  }, [ready]);
  return microphones;
}

/** "granted" / "denied" / "prompt" for the microphone, following changes; null if unknown. */
export function useMicrophonePermission(): PermissionState | null {
  const [state, setState] = useState<PermissionState | null>(null);
  useEffect(() => {
    let status: PermissionStatus | null = null;
    let current = true;
    const update = () => current && status && setState(status.state);
    navigator.permissions
      ?.query({ name: "microphone" as PermissionName })
      .then((answer) => {
        status = answer;
        update();
        answer.addEventListener("change", update);
      })
      .catch(() => undefined);
    return () => {
      current = false;
      status?.removeEventListener("change", update);
    };
  }, []);
  return state;
}
