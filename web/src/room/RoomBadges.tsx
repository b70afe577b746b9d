import type { Room } from "../api/types";

export function RoomBadges({ room }: { room: Room }) {
  return (
    <p className="room-meta">
      <span className="badge">{room.media === "sfu" ? "SFU" : "Mesh"}</span>
      {room.stage && <span className="badge">Stage</span>}
      <span className="badge subtle">{room.visibility === "private" ? "Private" : "Public"}</span>
      <span className="muted small">hosted by {room.owner.name}</span>
    </p>
  );
}
