import type { Change } from "../../model/change.js";
import { formatRef } from "../../model/ref.js";

/** A CloudEvents 1.0 event in its JSON form: attributes, extensions and `data`. */
export type CloudEvent = Record<string, unknown> & {
  specversion: "1.0";
  id: string;
  source: string;
  type: string;
};

export const STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8";

/**
 * The event for one change. `id` is the change's stable id, so a receiver can drop a
 * redelivery (CloudEvents: same `source` + `id` ⇒ duplicate); `sequence` (the sequence
 * extension, zero-padded so it sorts as text) lets it check order.
 */
export function cloudEventOf(change: Change, sourcePrefix: string): CloudEvent {
  return {
    specversion: "1.0",
    id: change.id,
    source: `${sourcePrefix}/${encodeURIComponent(change.ref.source)}`,
    type: `dev.crwatch.change.${change.type.toLowerCase()}`,
    subject: formatRef(change.ref),
    time: change.observedAt,
    sequence: String(change.seq).padStart(20, "0"),
    datacontenttype: "application/json",
    data: change,
  };
}

/** Structured mode: the whole event is the body. */
export function structured(event: CloudEvent): { headers: Record<string, string>; body: string } {
  return {
    headers: { "content-type": STRUCTURED_CONTENT_TYPE },
    body: JSON.stringify(event),
  };
}

/**
 * Binary mode: `data` is the body, `datacontenttype` is `Content-Type`, every other attribute
 * a `ce-` header. JSON data (or none declared) is sent as JSON, so a string datum is quoted.
 */
export function binary(event: CloudEvent): { headers: Record<string, string>; body: string } {
  const { data, datacontenttype, ...attributes } = event;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || name === "data_base64") continue;
    headers[`ce-${name}`] = encodeHeaderValue(String(value));
  }
  const contentType = typeof datacontenttype === "string" ? datacontenttype : "application/json";
  headers["content-type"] = contentType;
  const body = isJson(contentType) ? JSON.stringify(data) : String(data ?? "");
  return { headers, body };
}

function isJson(contentType: string): boolean {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  return type.endsWith("/json") || type.endsWith("+json");
}

/**
 * The HTTP binding's header encoding: space, `"`, `%` and everything outside U+0021–U+007E
 * is percent-encoded as UTF-8 bytes, upper-case hex.
 */
export function encodeHeaderValue(value: string): string {
  let out = "";
  for (const byte of Buffer.from(value, "utf8")) {
    const safe = byte >= 0x21 && byte <= 0x7e && byte !== 0x22 && byte !== 0x25;
    out += safe
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
