// Plain words for the errors people meet.

import { ApiError, CANNOT_REACH_SERVER } from "./client";

interface FieldError {
  field: string;
  message: string;
}

const FIELD_NAMES: Record<string, string> = {
  email: "Email",
  password: "Password",
  name: "Name",
  username: "Username",
  bio: "Bio",
  topic: "Topic",
  token: "Link",
};

function fieldErrors(details: unknown): FieldError[] {
  if (!Array.isArray(details)) return [];
  return details.filter(
    (item): item is FieldError =>
      typeof item === "object" && item !== null && typeof (item as FieldError).message === "string",
  );
}

function plainValidation(item: FieldError): string {
  const label = FIELD_NAMES[item.field] ?? item.field;
  let text = item.message.replace(/^Value error, /, "");
  if (item.field === "password" && /at least/.test(text)) text = "must be at least 10 characters";
  if (item.field === "email") text = "is not a valid email address";
  if (item.field === "username" && /pattern/.test(text)) {
    text = "may use only letters, digits, _ and .";
  }
  return label ? `${label}: ${text}` : text;
}

/** One sentence (or a few) for any error, in words a person understands. */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) {
    if (error instanceof TypeError) return CANNOT_REACH_SERVER;
    return error instanceof Error && error.message ? error.message : "Something went wrong.";
  }
  switch (error.code) {
    case "network_error":
      return CANNOT_REACH_SERVER;
    case "validation_failed": {
      const items = fieldErrors(error.details);
      if (items.length) return items.map(plainValidation).join(". ") + ".";
      return "Some of what you entered is not valid.";
    }
    case "rate_limited": {
      const retry = (error.details as { retryAfter?: number } | null)?.retryAfter;
      if (typeof retry === "number" && retry > 0) {
        const minutes = Math.ceil(retry / 60);
        return `Too many attempts. Try again in ${minutes} minute${minutes === 1 ? "" : "s"}.`;
      }
      return "Too many attempts. Try again later.";
    }
    case "image_too_large":
    case "payload_too_large":
      return "The image is larger than 5 MB. Choose a smaller one.";
    case "unsupported_image":
    case "unsupported_media_type":
      return "That file is not an image we can use. Upload a PNG, JPEG, WebP or GIF image.";
    case "username_taken":
      return "That username is taken. Try another one.";
    case "server_error":
    case "internal_error":
      return "Something went wrong on the server. Try again in a moment.";
    default:
      return error.message || "Something went wrong.";
  }
}
