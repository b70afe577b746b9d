// REST calls only the room page makes (the shared endpoint list lives in src/api).
import { request } from "../api/client";
import type { Room } from "../api/types";

export function updateTopic(roomId: string, topic: string): Promise<Room> {
  return request<Room>(`/api/rooms/${encodeURIComponent(roomId)}`, {
    method: "PATCH",
    body: { topic },
  });
}
