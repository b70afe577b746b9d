// The call engine: owns the socket, the microphone, the media engine (mesh or sfu) and the
// <audio> elements, and publishes one CallState that changes only through `reduce`.
import { AudioSink } from "./audio-sink";
import type { MediaEngine, MediaHost } from "./media-host";
import { MeshMedia } from "./mesh";
import { Microphone, microphoneProblem } from "./microphone";
import { SfuMedia } from "./sfu";
import { Signaling, SignalingError, type SignalingOptions } from "./signaling";
import { SpeakingMonitor } from "./speaking";
import type { ClientRequests, RequestName, RoomEvent } from "./events";
import { initialState, reduce, ROOM_END_EVENTS, SESSION_END_REASON, type CallAction } from "./state";
import { LevelMeter } from "./level";
import { isStageMember } from "./participant";
import { slotSource } from "./slots";
import { nameOf, selfUserIdOf } from "./stage";
import type {
  Call,
  CallOptions,
  CallState,
  EndReason,
  InboundAudioStats,
  Listening,
  StageRole,
} from "./types";

// Engine knobs the page does not need to know about; tests and special pages may pass them.
export type EngineOptions = SignalingOptions;

const LEAVE_TIMEOUT_MS = 2_000;
const SELF_KEY = "self";
// The audience's REST pages (docs/protocol.md: limit 1–100).
export const AUDIENCE_PAGE_SIZE = 50;
// An `audience-update` with `more` asks for the list again; at most this often (a join storm
// sends one a second), and once more at the end of a burst.
export const AUDIENCE_RELOAD_MS = 5_000;
// The server ends a lapsed invitation itself; this is our own stop if its word is lost.
const INVITE_GRACE_MS = 2_000;

// A join refused because the server is shutting down (docs/protocol.md, "Server restarts"):
// not the end of the call, the restarted server takes the re-join.
export const SERVER_DRAINING = "server_draining";
export const SERVER_RESTARTING = "The server is restarting; you will be reconnected.";

// Join refusals that end the call, and how.
export function endReasonForJoinError(code: string): EndReason {
  switch (code) {
    case "room_closed":
      return "room-closed";
    case "not_found":
    case "banned_from_room":
      return "removed";
    case "not_authenticated":
      return "session-ended";
    default:
      return "error";
  }
}

export function joinErrorMessage(error: SignalingError): string {
  switch (error.code) {
    case "room_full":
      return "This room is full.";
    case "room_closed":
      return "This room was closed.";
    case "not_found":
      return "This room does not exist, or you are not a member of it.";
    case SERVER_DRAINING:
      return SERVER_RESTARTING;
    default:
      return error.message || "Could not join the room.";
  }
}

export class CallEngine implements Call {
  private current: CallState;
  private readonly listeners = new Set<(state: CallState) => void>();
  private readonly signaling: Signaling;
  private readonly mic = new Microphone();
  private readonly sink: AudioSink;
  private readonly speaking: SpeakingMonitor;
  private mesh: MeshMedia | null = null;
  private sfu: SfuMedia | null = null;
  private starting: Promise<void> | null = null;
  private joined = false;
  private tornDown = false;
  private micSettled = false;
  private joining: Promise<void> | null = null;
  private meter: LevelMeter | null = null;
  private meterTrack: MediaStreamTrack | null = null;
  // Counts setMuted calls: one that waited for the microphone knows whether it is still the
  // latest choice once the browser answers.
  private muteChoice = 0;
  // Audience paging: one load at a time; who left while it was on its way.
  private audienceLoad: Promise<void> | null = null;
  private audienceGone = new Set<string>();
  private lastAudienceReload = -Infinity;
  private audienceReloadTimer: ReturnType<typeof setTimeout> | null = null;
  private inviteTimer: ReturnType<typeof setTimeout> | null = null;
  // The microphone chosen (the pre-join's, or one picked in the call).
  private microphoneId: string | undefined;
  // Role changes are followed one after another (a microphone opening may take a while).
  private roleWork: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: CallOptions,
    engine: EngineOptions = {},
  ) {
    // The desired mute state from the start ("Join muted"): the page shows it at once, and the
    // microphone opens in it, whenever the browser hands it over.
    this.current = initialState(options.roomId, options.media);
    this.microphoneId = options.microphoneId;
    if (options.stage) {
      // Until room-state says otherwise: the owner hosts, everyone else listens.
      const role: StageRole = options.ownerId === options.self.id ? "host" : "listener";
      this.current = { ...this.current, stage: true, role };
    }
    if (options.startMuted) this.current = reduce(this.current, { type: "self-muted", muted: true });
    this.sink = new AudioSink(options.audioContainer, (blocked) =>
      this.dispatch({ type: "audio-blocked", blocked }),
    );
    this.speaking = new SpeakingMonitor((key, speaking) => {
      // Our own level is watched under a fixed key: our peerId changes with every re-join.
      const peerId = key === SELF_KEY ? this.current.selfPeerId : key;
      if (peerId) this.dispatch({ type: "speaking", peerId, speaking });
    });
    this.signaling = new Signaling(
      {
        onConnect: (first) => void this.onSocketConnect(first),
        onDisconnect: () => this.onSocketDisconnect(),
        onSessionEnded: () => this.end("session-ended"),
        onConnectProblem: (message) => {
          if (!this.joined) this.dispatch({ type: "error", message, code: "connection_failed" });
        },
      },
      engine,
    );
    this.listen();
  }

  get state(): CallState {
    return this.current;
  }

  subscribe(listener: (state: CallState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // Never rejects: failures end up in state.error / state.ended, which the page renders.
  start(): Promise<void> {
    this.starting ??= this.run();
    return this.starting;
  }

  // `state.muted` is the desired state: the track follows it now if it is open, else when it
  // opens (the first opening in run() may still be waiting for the browser).
  async setMuted(muted: boolean): Promise<void> {
    if (this.ended) return;
    const choice = ++this.muteChoice;
    if (this.inAudience) {
      // No microphone off the stage: the choice applies once on it.
      this.dispatch({ type: "self-muted", muted });
      await this.sendMute(muted);
      return;
    }
    if (!muted && !this.mic.track && this.micSettled) {
      // Listening only so far (denied or no device): asking again is the only way to speak.
      const opened = await this.openMicrophone(this.microphoneId, () => choice === this.muteChoice);
      if (choice !== this.muteChoice) {
        // Muted again while the browser was asking: that later choice stands.
        this.mic.setEnabled(!this.current.muted);
        if (opened) {
          await this.media()?.setMicTrack(this.sendingTrack());
          this.watchSelf();
        }
        return;
      }
      if (!opened) return;
      await this.media()?.setMicTrack(this.sendingTrack());
      this.watchSelf();
    }
    this.mic.setEnabled(!muted);
    this.dispatch({ type: "self-muted", muted });
    await this.sendMute(muted);
  }

  async muteParticipant(userId: string): Promise<void> {
    if (this.ended) return;
    try {
      await this.signaling.request("mute-participant", { roomId: this.options.roomId, userId });
    } catch (error) {
      this.reportError(error, "Could not mute that participant.");
    }
  }

  async setMicrophone(deviceId: string): Promise<void> {
    if (this.ended) return;
    this.microphoneId = deviceId;
    if (this.inAudience) return; // opened with it on the stage
    const hadTrack = this.mic.track !== null;
    if (!(await this.openMicrophone(deviceId, () => !this.current.muted || !hadTrack))) return;
    if (!hadTrack && this.current.muted) {
      // Granted at last: speak, as a user picking a microphone expects.
      this.dispatch({ type: "self-muted", muted: false });
      await this.sendMute(false);
    }
    await this.media()?.setMicTrack(this.sendingTrack());
    this.watchSelf();
  }

  async enableAudio(): Promise<void> {
    await this.speaking.resume();
    await this.sink.resume();
  }

  async inboundAudioStats(): Promise<InboundAudioStats[]> {
    return (await this.media()?.stats()) ?? [];
  }

  localLevel(): number {
    const track = this.mic.track;
    if (!track || this.tornDown) return 0;
    if (this.meterTrack !== track) {
      this.meter?.close();
      this.meter = new LevelMeter(track);
      this.meterTrack = track;
    }
    return this.meter?.level() ?? 0;
  }

  setListening(userId: string, change: Partial<Listening>): void {
    const previous = this.current.listening[userId] ?? { volume: 1, muted: false };
    const volume = Math.min(1, Math.max(0, change.volume ?? previous.volume));
    this.dispatch({ type: "listening", userId, listening: { ...previous, ...change, volume } });
  }

  // --- stage rooms ----------------------------------------------------------------------------

  async setHandRaised(raised: boolean): Promise<void> {
    await this.stageRequest(raised ? "raise-hand" : "lower-hand", { roomId: this.options.roomId });
    this.dispatch({ type: "self-hand", raised });
  }

  async answerSpeakInvite(accept: boolean): Promise<void> {
    try {
      await this.stageRequest(accept ? "accept-speak" : "decline-speak", { roomId: this.options.roomId });
    } catch (error) {
      // The invitation lapsed (or was answered in another tab) meanwhile: nothing to answer.
      if (error instanceof SignalingError && error.code === "no_speak_invite") {
        this.dispatch({ type: "speak-invite-ended", reason: "expired" });
      }
      throw error;
    }
    // Accepting: role-changed follows and puts us on the stage.
    this.dispatch({ type: "speak-invite-ended", reason: accept ? "accepted" : "declined" });
  }

  async leaveStage(): Promise<void> {
    await this.stageRequest("leave-stage", { roomId: this.options.roomId });
  }

  async inviteToSpeak(userId: string): Promise<void> {
    await this.stageRequest("invite-to-speak", { roomId: this.options.roomId, userId });
    this.dispatch({
      type: "speak-invite-answered",
      event: { roomId: this.options.roomId, userId, answer: "pending" },
    });
  }

  async setRole(userId: string, role: StageRole): Promise<void> {
    await this.stageRequest("set-role", { roomId: this.options.roomId, userId, role });
  }

  async removeParticipant(userId: string): Promise<void> {
    await this.stageRequest("remove-participant", { roomId: this.options.roomId, userId });
  }

  loadMoreAudience(): Promise<void> {
    if (this.audienceLoad) return this.audienceLoad;
    const cursor = this.current.audience.nextCursor;
    if (cursor === null || this.ended) return Promise.resolve();
    return this.loadAudience(cursor, false);
  }

  async leave(): Promise<void> {
    if (this.tornDown) return;
    const wasJoined = this.joined && this.signaling.connected;
    this.end("left", false);
    if (wasJoined) {
      await this.signaling
        .request("leave", { roomId: this.options.roomId }, LEAVE_TIMEOUT_MS)
        .catch(() => undefined);
    }
    this.teardown();
  }

  // --- lifecycle ----------------------------------------------------------------------------

  private async run(): Promise<void> {
    this.dispatch({ type: "status", status: "connecting" });
    this.exposeForTests();
    this.signaling.connect();
    // The microphone must be ready before `join`: the server sends add-peer right away and
    // the offers we then make must carry it.
    // Opens in the mute state desired when the track arrives (Mute may be pressed meanwhile).
    // A stage room's listener opens none: nothing would be sent (it opens on the stage).
    if (this.inAudience) {
      this.micSettled = true;
    } else {
      await this.openMicrophone(this.microphoneId, () => !this.current.muted);
      if (this.ended) {
        this.mic.stop(); // left while the browser was still asking for the microphone
        return;
      }
      // No microphone: muted by force (not a choice the page remembers).
      if (!this.mic.track) this.dispatch({ type: "self-muted", muted: true });
      else this.mic.setEnabled(!this.current.muted);
      this.watchSelf();
    }
    if (this.signaling.connected) await this.join();
    // Otherwise onSocketConnect joins once the socket is up.
  }

  private async onSocketConnect(first: boolean): Promise<void> {
    if (this.ended) return;
    this.dispatch({ type: "clear-error", code: "connection_failed" });
    // The first join waits for the microphone (run() joins); later ones are reconnections.
    if (first && !this.micSettled) return;
    await this.join();
  }

  private onSocketDisconnect(): void {
    if (this.ended) return;
    this.joined = false;
    this.dispatch({ type: "status", status: "reconnecting" });
    this.dispatch({ type: "server-connection", connection: "connecting" });
    // Mesh pcs may keep playing through a short blip; they are replaced on re-join. The sfu
    // connection is freed by the server with our presence.
    this.sfu?.suspend();
  }

  private join(): Promise<void> {
    this.joining ??= this.doJoin().finally(() => {
      this.joining = null;
    });
    return this.joining;
  }

  private async doJoin(): Promise<void> {
    if (this.ended) return;
    // A re-join gets a new peerId; every peer will offer again through add-peer.
    this.mesh?.closeAll();
    try {
      await this.signaling.request("join", { roomId: this.options.roomId, user: this.options.self });
    } catch (error) {
      if (error instanceof SignalingError && (error.code === "disconnected" || error.code === "timeout")) {
        return; // the next connect retries
      }
      if (error instanceof SignalingError && error.code === SERVER_DRAINING) {
        // The draining server closes this connection at its deadline; socket.io-client then
        // reconnects (to the restarted server) and onSocketConnect joins again.
        this.dispatch({ type: "server-draining" });
        return;
      }
      const signalingError =
        error instanceof SignalingError ? error : new SignalingError("internal_error", String(error));
      this.dispatch({ type: "error", message: joinErrorMessage(signalingError), code: signalingError.code });
      this.end(endReasonForJoinError(signalingError.code));
      return;
    }
    if (this.ended) return;
    this.joined = true;
    // The server starts every connection unmuted.
    if (this.current.muted) await this.sendMute(true);
    if (this.options.media === "mesh") {
      this.dispatch({ type: "server-connection", connection: "connected" });
      this.dispatch({ type: "status", status: "connected" });
    } else {
      this.sfu ??= new SfuMedia(this.host(), this.options.slots, {
        onConnected: () => this.dispatch({ type: "status", status: "connected" }),
        onReconnecting: () => this.dispatch({ type: "status", status: "reconnecting" }),
      });
      await this.sfu.connect();
    }
  }

  private end(reason: EndReason, teardown = true): void {
    if (this.ended) return;
    this.dispatch({ type: "ended", reason });
    if (teardown) this.teardown();
  }

  private teardown(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    this.mesh?.close();
    this.sfu?.close();
    this.mic.stop();
    this.meter?.close();
    this.meter = null;
    if (this.audienceReloadTimer !== null) clearTimeout(this.audienceReloadTimer);
    if (this.inviteTimer !== null) clearTimeout(this.inviteTimer);
    this.sink.clear();
    this.speaking.close();
    this.signaling.close();
    const w = globalThis as { gethoryCall?: Call };
    if (w.gethoryCall === this) delete w.gethoryCall;
  }

  private get ended(): boolean {
    return this.current.status === "ended";
  }

  // --- server events ------------------------------------------------------------------------

  private listen(): void {
    const s = this.signaling;
    const roomId = this.options.roomId;
    const selfUserId = this.options.self.id;
    s.on("room-state", (event) => {
      if (event.roomId !== roomId) return;
      this.dispatch({ type: "room-state", event });
      // Our level may have crossed the threshold before we knew our peerId (see SELF_KEY).
      if (this.speaking.isSpeaking(SELF_KEY)) {
        this.dispatch({ type: "speaking", peerId: event.selfPeerId, speaking: true });
      }
    });
    s.on("participant-joined", (info) => this.dispatch({ type: "participant-joined", info }));
    s.on("room-updated", (event) => {
      if (event.roomId === roomId) this.dispatch({ type: "topic", topic: event.topic });
    });
    s.on("participant-left", ({ peerId }) => {
      this.dispatch({ type: "participant-left", peerId });
      this.mesh?.removePeer(peerId);
    });
    s.on("mute-info", (event) => {
      if (event.userId === selfUserId && event.mute && event.by !== undefined && event.by !== selfUserId) {
        // The protocol requires us to obey the owner: stop sending before showing it.
        this.mic.setEnabled(false);
      }
      this.dispatch({ type: "mute-info", event, selfUserId });
    });
    s.on("removed-from-room", (event) => {
      if (event.roomId !== roomId) return;
      this.dispatch({ type: "removal", byName: nameOf(this.current, event.by), banned: event.banned === true });
    });
    for (const [event, reason] of Object.entries(ROOM_END_EVENTS)) {
      s.on(event as keyof typeof ROOM_END_EVENTS, (payload: RoomEvent) => this.endIfThisRoom(payload.roomId, reason));
    }
    s.on("session-ended", () => this.end(SESSION_END_REASON));
    // The call goes on until the server closes the connection; the notice stays up until we
    // are back in the room on the restarted server (state.ts, `restart`).
    s.on("server-draining", () => this.dispatch({ type: "server-draining" }));
    this.listenStage();
    if (this.options.media === "mesh") {
      this.mesh = new MeshMedia(this.host());
      const mesh = this.mesh;
      s.on("add-peer", (event) => mesh.addPeer(event));
      s.on("remove-peer", ({ peerId }) => mesh.removePeer(peerId));
      s.on("session-description", (event) => mesh.onDescription(event));
      s.on("ice-candidate", (event) => mesh.onCandidate(event));
    } else {
      s.on("speakers", (event) => this.sfu?.onSpeakers(event));
      s.on("sfu-failed", (event) => {
        if (event.roomId === roomId) this.sfu?.onFailed();
      });
    }
  }

  private listenStage(): void {
    const s = this.signaling;
    const roomId = this.options.roomId;
    s.on("audience-update", (event) => {
      if (event.roomId !== roomId) return;
      for (const left of event.left) this.audienceGone.add(left.userId);
      this.dispatch({ type: "audience-update", event });
      if (event.more) this.reloadAudienceSoon();
    });
    s.on("role-changed", (event) => {
      if (event.roomId !== roomId) return;
      this.dispatch({ type: "role-changed", event, selfUserId: this.options.self.id });
    });
    s.on("hand-raised", (event) => {
      if (event.roomId === roomId) this.dispatch({ type: "hand-raised", event, now: Date.now() });
    });
    s.on("speak-invite", (event) => {
      if (event.roomId !== roomId) return;
      this.dispatch({ type: "speak-invite", invite: event, now: Date.now() });
    });
    s.on("speak-invite-ended", (event) => {
      if (event.roomId === roomId) this.dispatch({ type: "speak-invite-ended", reason: event.reason });
    });
    s.on("speak-invite-answered", (event) => {
      if (event.roomId === roomId) this.dispatch({ type: "speak-invite-answered", event });
    });
    s.on("raised-hands", (event) => {
      if (event.roomId === roomId) this.dispatch({ type: "raised-hands", hands: event.hands });
    });
  }

  private endIfThisRoom(roomId: string, reason: EndReason): void {
    if (roomId === this.options.roomId) this.end(reason);
  }

  // --- helpers ------------------------------------------------------------------------------

  private dispatch(action: CallAction): void {
    const previous = this.current;
    const next = reduce(previous, action);
    if (next === previous) return;
    this.current = next;
    if (next.role !== previous.role && this.options.media === "sfu") {
      this.roleWork = this.roleWork.then(
        () => this.followRole(),
        () => this.followRole(),
      );
    }
    if (next.speakInvite !== previous.speakInvite) this.watchInvite(next);
    if (
      next.participants !== previous.participants ||
      next.slotOwners !== previous.slotOwners ||
      next.listening !== previous.listening
    ) {
      this.applyListening();
    }
    for (const listener of [...this.listeners]) listener(next);
  }

  // Each <audio> element's volume from how we listen to the person it carries: in mesh rooms
  // a peer's element, in sfu rooms whichever slot carries that person right now.
  private applyListening(): void {
    const { listening, participants, slotOwners } = this.current;
    const volumeOf = (userId: string | null): number => {
      const how = userId ? listening[userId] : undefined;
      return !how ? 1 : how.muted ? 0 : how.volume;
    };
    if (this.options.media === "mesh") {
      for (const p of participants) if (!p.isSelf) this.sink.setVolume(p.peerId, volumeOf(p.user.id));
    } else {
      slotOwners.forEach((userId, i) => this.sink.setVolume(slotSource(i), volumeOf(userId)));
    }
  }

  private media(): MediaEngine | null {
    return this.mesh ?? this.sfu;
  }

  private host(): MediaHost {
    return {
      roomId: this.options.roomId,
      iceServers: this.options.iceServers ?? [],
      signaling: this.signaling,
      sink: this.sink,
      speaking: this.speaking,
      micTrack: () => this.sendingTrack(),
      offersMicrophone: this.options.stage === true && this.options.media === "sfu",
      micStream: () => this.mic.stream,
      dispatch: (action) => this.dispatch(action),
      reportError: (code, message) => this.dispatch({ type: "error", code, message }),
    };
  }

  // Returns whether a microphone is open; a failure is reported and the call goes on, listening.
  private async openMicrophone(
    deviceId: string | undefined,
    enabled: boolean | (() => boolean) = true,
  ): Promise<boolean> {
    try {
      await this.mic.open(deviceId, enabled);
      if (this.current.errorCode?.startsWith("microphone_")) {
        this.dispatch({ type: "clear-error", code: this.current.errorCode });
      }
      return true;
    } catch (error) {
      const problem = microphoneProblem(error);
      this.dispatch({ type: "error", message: problem.message, code: problem.code });
      return false;
    } finally {
      this.micSettled = true;
    }
  }

  // Mesh only: in sfu rooms the server's `speakers` says whether we speak.
  private watchSelf(): void {
    const stream = this.mic.stream;
    if (stream && this.options.media === "mesh") this.speaking.watch(SELF_KEY, stream);
  }

  private async sendMute(muted: boolean): Promise<void> {
    if (!this.joined) return; // doJoin re-sends the mute state after (re)joining
    try {
      await this.signaling.request(muted ? "mute" : "unmute", {
        roomId: this.options.roomId,
        userId: this.options.self.id,
      });
    } catch (error) {
      if (error instanceof SignalingError && error.code === "disconnected") return;
      this.reportError(error, "Could not change the microphone state on the server.");
    }
  }

  // A stage room's listener: no microphone is open or sent.
  private get inAudience(): boolean {
    return this.current.stage && !isStageMember(this.current.role, true);
  }

  // On the stage the microphone goes out on the transceiver offered from the start; back in
  // the audience it stops, and is closed (replaceTrack both ways: no renegotiation).
  private async followRole(): Promise<void> {
    if (this.tornDown) return;
    try {
      if (this.inAudience) {
        await this.sfu?.setMicTrack(null);
        if (this.inAudience && this.current.stage) this.closeMicrophone();
        return;
      }
      if (this.current.stage && !this.mic.track) {
        const opened = await this.openMicrophone(this.microphoneId, () => !this.current.muted);
        if (this.tornDown || this.inAudience) {
          if (this.inAudience) this.closeMicrophone();
          return;
        }
        if (!opened) {
          // No microphone: on the stage but muted by force, as when joining without one.
          this.dispatch({ type: "self-muted", muted: true });
          await this.sendMute(true);
          return;
        }
      }
      await this.sfu?.setMicTrack(this.sendingTrack());
    } catch (error) {
      console.warn("stage: could not switch the microphone", error);
    }
  }

  private closeMicrophone(): void {
    this.mic.stop();
    this.meter?.close();
    this.meter = null;
    this.meterTrack = null;
  }

  // What we send: our microphone while we may be heard (always outside stage rooms), else none.
  private sendingTrack(): MediaStreamTrack | null {
    if (this.current.stage && !isStageMember(this.current.role, true)) return null;
    return this.mic.track;
  }

  private async stageRequest<E extends RequestName>(event: E, payload: ClientRequests[E]["payload"]): Promise<void> {
    if (this.ended) return;
    await this.signaling.request(event, payload);
  }

  private loadAudience(cursor: string | null, reset: boolean): Promise<void> {
    const fetchAudience = this.options.fetchAudience;
    if (!fetchAudience) return Promise.resolve();
    const role: StageRole = this.current.audience.role ?? (this.current.stage ? "listener" : "speaker");
    this.audienceGone = new Set();
    const load = fetchAudience(this.options.roomId, { role, cursor, limit: AUDIENCE_PAGE_SIZE })
      .then((page) => {
        if (this.ended) return;
        const selfUserId = selfUserIdOf(this.current) ?? this.options.self.id;
        this.dispatch({ type: "audience-page", page, reset, selfUserId, gone: this.audienceGone });
      })
      .finally(() => {
        if (this.audienceLoad === load) this.audienceLoad = null;
      });
    this.audienceLoad = load;
    return load;
  }

  // The server left some joins or leaves out: load the list again from its first page, at most
  // every AUDIENCE_RELOAD_MS (and once at the end of a burst).
  private reloadAudienceSoon(): void {
    if (this.audienceReloadTimer !== null || this.tornDown) return;
    const wait = Math.max(0, this.lastAudienceReload + AUDIENCE_RELOAD_MS - performance.now());
    this.audienceReloadTimer = setTimeout(() => {
      this.audienceReloadTimer = null;
      if (this.ended) return;
      this.lastAudienceReload = performance.now();
      const after = this.audienceLoad ?? Promise.resolve();
      void after
        .catch(() => undefined)
        .then(() => this.loadAudience(null, true))
        .catch((error: unknown) => console.warn("stage: could not load the audience", error));
    }, wait);
  }

  private watchInvite(state: CallState): void {
    if (this.inviteTimer !== null) clearTimeout(this.inviteTimer);
    this.inviteTimer = null;
    const invite = state.speakInvite;
    if (!invite) return;
    this.inviteTimer = setTimeout(
      () => {
        this.inviteTimer = null;
        if (this.current.speakInvite === invite) this.dispatch({ type: "speak-invite-ended", reason: "expired" });
      },
      Math.max(0, invite.expiresAt - Date.now()) + INVITE_GRACE_MS,
    );
  }

  private reportError(error: unknown, fallback: string): void {
    if (error instanceof SignalingError) this.dispatch({ type: "error", message: error.message, code: error.code });
    else this.dispatch({ type: "error", message: fallback, code: "internal_error" });
  }

  private exposeForTests(): void {
    // UI_CONTRACT.md: the end-to-end tests read `window.gethoryCall` while a room page is open.
    (globalThis as { gethoryCall?: Call }).gethoryCall = this;
  }
}

