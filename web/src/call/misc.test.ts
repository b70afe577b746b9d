import { describe, expect, it } from "vitest";
import { endReasonForJoinError, joinErrorMessage } from "./call";
import { microphoneConstraints, microphoneProblem } from "./microphone";
import { backoffDelay, transceiverPlan } from "./sfu";
import { SignalingError } from "./signaling";
import { rms, SpeakingGate } from "./speaking";
import { inboundAudioCounters } from "./stats";

describe("sfu offer", () => {
  it("puts the sendonly microphone first, then the recvonly slots", () => {
    expect(transceiverPlan(true, 3)).toEqual(["sendonly", "recvonly", "recvonly", "recvonly"]);
  });
  it("listens only without a microphone", () => {
    expect(transceiverPlan(false, 2)).toEqual(["recvonly", "recvonly"]);
  });
  it("keeps the slot count within 1–8", () => {
    expect(transceiverPlan(false, 20)).toHaveLength(8);
    expect(transceiverPlan(false, 0)).toHaveLength(3);
  });
  it("backs off up to a ceiling", () => {
    expect(backoffDelay(0)).toBeLessThan(backoffDelay(2));
    expect(backoffDelay(100)).toBe(15_000);
  });
});

describe("microphone", () => {
  it("asks for voice processing and the chosen device", () => {
    expect(microphoneConstraints("dev1").audio).toEqual({
      deviceId: { exact: "dev1" },
      echoCancellation: true,
      noiseSuppression: true,
      autoGainControl: true,
    });
  });
  it("explains a denial", () => {
    const denied = microphoneProblem({ name: "NotAllowedError", message: "" });
    expect(denied.code).toBe("microphone_denied");
    expect(denied.message).toMatch(/^Microphone access was denied/);
  });
});

describe("join errors", () => {
  it("end the call with a reason and a readable message", () => {
    expect(endReasonForJoinError("room_closed")).toBe("room-closed");
    expect(endReasonForJoinError("room_full")).toBe("error");
    expect(joinErrorMessage(new SignalingError("room_full", "full"))).toBe("This room is full.");
  });
});

describe("speaking gate", () => {
  it("turns on at the threshold and holds through short pauses", () => {
    const gate = new SpeakingGate(0.02, 400);
    expect(gate.update(0.001, 0)).toBe(false);
    expect(gate.update(0.1, 100)).toBe(true);
    expect(gate.speaking).toBe(true);
    expect(gate.update(0.001, 400)).toBe(false); // still within the hold
    expect(gate.update(0.001, 600)).toBe(true);
    expect(gate.speaking).toBe(false);
  });
  it("measures RMS", () => {
    expect(rms(new Float32Array([0.5, -0.5]))).toBeCloseTo(0.5);
    expect(rms(new Float32Array(0))).toBe(0);
  });
});

describe("inbound audio stats", () => {
  it("reads inbound-rtp audio entries only", () => {
    const entries = [
      { type: "inbound-rtp", kind: "audio", packetsReceived: 50, totalAudioEnergy: 0.25 },
      { type: "inbound-rtp", kind: "video", packetsReceived: 999 },
      { type: "outbound-rtp", kind: "audio", packetsSent: 10 },
      { type: "candidate-pair" },
    ];
    expect(inboundAudioCounters(entries)).toEqual({ packetsReceived: 50, totalAudioEnergy: 0.25 });
  });
});
