// The call engine's public surface: the page creates a Call and renders its CallState.
import { CallEngine, type EngineOptions } from "./call";
import type { Call, CallOptions } from "./types";

export function createCall(options: CallOptions, engine?: EngineOptions): Call {
  return new CallEngine(options, engine);
}

export type { EngineOptions } from "./call";
export { SignalingError } from "./signaling";
export type * from "./types";
