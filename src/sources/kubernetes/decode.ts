import { CrwatchError } from "../../model/errors.js";
import type { JsonObject } from "../../model/json.js";
import { type ObservedObject, observedText } from "../../model/observation.js";
import { actorFromManagedFields } from "./actor.js";
import type { ServedKind } from "./discovery.js";
import { objectMemberText, splitItems } from "./split-items.js";

/**
 * Turning list pages and watch lines into observed items, as one pure step that runs the
 * same in the decode worker (decode-worker.ts) and on the source's thread (decoder.ts).
 * Each item leaves as its object's JSON text beside its small fields, so the thread that
 * runs the source and ingest never parses the object: ingest hands the text on to where
 * the object is built (decision 0033), and with build workers that is not this thread
 * (decision 0034).
 */

/** What decoding needs to know of a stream: its kind, as served, and its name for messages. */
export interface DecodeStream {
  served: ServedKind;
  key: string;
  source: string;
}

/** An item's fields other than its object, and the object's JSON text. */
export interface DecodedItem {
  fields: Omit<ObservedObject, "object" | "json">;
  text: string;
}

export interface DecodedList {
  resourceVersion: string;
  continue: string;
  items: DecodedItem[];
}

/** One watch line: an event with its object's resourceVersion, a 410 or other ERROR, or a bad line. */
export type DecodedEvent =
  | { type: "ADDED" | "MODIFIED" | "DELETED"; rv: string; item: DecodedItem }
  | { type: "BOOKMARK"; rv: string }
  | { type: "ERROR"; code: number | undefined; reason: string; message: string }
  | { type: "bad"; error: DecodeError };

/** An error as it crosses from the worker: its code and message (a CrwatchError again here). */
export interface DecodeError {
  code: "CRW_K8S_HTTP" | "CRW_K8S_STREAM";
  message: string;
}

export function toCrwatchError(error: DecodeError): CrwatchError {
  return new CrwatchError(error.code, error.message);
}

/**
 * A list page's body: its items, resourceVersion and continue token. Each item's text is cut
 * from the body (split-items.ts) and parsed alone; a body that does not split plainly is
 * parsed whole instead. Throws CRW_K8S_HTTP when the body is not JSON.
 */
export function decodeList(stream: DecodeStream, path: string, body: string): DecodedList {
  const split = splitItems(body);
  const fromParts = split && decodeParts(stream, split);
  if (fromParts) return fromParts;
  let list: KubeList;
  try {
    list = JSON.parse(body) as KubeList;
  } catch (err) {
    throw new CrwatchError("CRW_K8S_HTTP", `GET ${path}: the answer is not JSON`, { cause: err });
  }
  const items = Array.isArray(list?.items) ? (list.items as unknown[]) : [];
  return {
    resourceVersion: stringOr(list?.metadata?.resourceVersion),
    continue: stringOr(list?.metadata?.continue),
    items: items.map((item) => decodeItem(stream, item as JsonObject)),
  };
}

interface KubeList {
  metadata?: { resourceVersion?: unknown; continue?: unknown };
  items?: unknown;
}

/**
 * The page from its split parts, or undefined when a part is not JSON or the rest holds
 * items of its own (a second `items` key, which JSON.parse of the whole would take): the
 * whole is then parsed, and its error (or its reading) is the answer.
 */
function decodeParts(
  stream: DecodeStream,
  split: { rest: string; items: string[] },
): DecodedList | undefined {
  let list: KubeList;
  let objects: JsonObject[];
  try {
    list = JSON.parse(split.rest) as KubeList;
    objects = split.items.map((text) => JSON.parse(text) as JsonObject);
  } catch {
    return undefined;
  }
  if (!list || (Array.isArray(list.items) && list.items.length > 0)) return undefined;
  return {
    resourceVersion: stringOr(list.metadata?.resourceVersion),
    continue: stringOr(list.metadata?.continue),
    items: objects.map((object, i) => decodeItem(stream, object, split.items[i])),
  };
}

/** Each watch line, in order; a line that is not a watch event is a `bad` entry in its place. */
export function decodeEvents(stream: DecodeStream, lines: readonly string[]): DecodedEvent[] {
  return lines.map((line) => {
    try {
      return decodeEvent(stream, line);
    } catch (err) {
      if (!(err instanceof CrwatchError)) throw err;
      return {
        type: "bad",
        error: { code: err.code as DecodeError["code"], message: err.message },
      };
    }
  });
}

const EVENT_TYPES = new Set(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]);

function decodeEvent(stream: DecodeStream, line: string): DecodedEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (err) {
    throw streamError(stream, line, "not JSON", err);
  }
  const event = parsed as { type?: unknown; object?: unknown } | null;
  if (
    !event ||
    typeof event.type !== "string" ||
    !EVENT_TYPES.has(event.type) ||
    !event.object ||
    typeof event.object !== "object"
  )
    throw streamError(stream, line, "not a {type, object} watch event");
  const object = event.object as JsonObject;
  if (event.type === "ERROR") {
    const status = object as { code?: unknown; message?: unknown; reason?: unknown };
    return {
      type: "ERROR",
      code: typeof status.code === "number" ? status.code : undefined,
      reason: typeof status.reason === "string" ? status.reason : "",
      message: typeof status.message === "string" ? status.message : "",
    };
  }
  const rv = stringOr(
    (object.metadata as { resourceVersion?: unknown } | undefined)?.resourceVersion,
  );
  if (!rv) throw streamError(stream, line, "the object has no metadata.resourceVersion");
  if (event.type === "BOOKMARK") return { type: "BOOKMARK", rv };
  return {
    type: event.type as "ADDED" | "MODIFIED" | "DELETED",
    rv,
    // The object as the server wrote it, when the line is plain: not serialized again.
    item: decodeItem(stream, object, objectMemberText(line)),
  };
}

/**
 * An API object as an item: kind and apiVersion filled in (lists omit them for core kinds;
 * the object's own win, as in `{ apiVersion, kind, ...item }`), the actor from its managed
 * fields, its location the object's API path. `raw`: the object's own JSON text, when the
 * caller has it; it is handed on as it is (the fields it lacks put in front), never
 * serialized again. Its keys may be in another order than the spread's: ingest sorts keys
 * before it stores or compares anything (canonicalize), so the change is the same.
 */
export function decodeItem(stream: DecodeStream, item: JsonObject, raw?: string): DecodedItem {
  const { served } = stream;
  const metadata = (item?.metadata ?? {}) as { name?: unknown; namespace?: unknown };
  if (typeof metadata.name !== "string" || !metadata.name)
    throw streamError(
      stream,
      JSON.stringify(item).slice(0, 200),
      "an object without metadata.name",
    );
  const namespace = typeof metadata.namespace === "string" ? metadata.namespace : "";
  const apiVersion = served.group ? `${served.group}/${served.version}` : served.version;
  const text =
    raw === undefined
      ? JSON.stringify({ apiVersion, kind: served.kind, ...item })
      : withTypeFields(raw, item, apiVersion, served.kind);
  const nsPath = namespace ? `/namespaces/${namespace}` : "";
  const base = served.group ? `/apis/${served.group}/${served.version}` : `/api/${served.version}`;
  const who = actorFromManagedFields(item);
  return {
    fields: {
      ref: {
        source: stream.source,
        group: served.group,
        kind: served.kind,
        namespace,
        name: metadata.name,
      },
      location: { path: `${base}${nsPath}/${served.plural}/${metadata.name}` },
      ...(who ? { actor: who.actor, cause: who.cause } : {}),
    },
    text,
  };
}

/** The object's text with `apiVersion` and `kind` put in front where it has none. */
function withTypeFields(raw: string, item: JsonObject, apiVersion: string, kind: string): string {
  const missing: string[] = [];
  if (!("apiVersion" in item)) missing.push(`"apiVersion":${JSON.stringify(apiVersion)}`);
  if (!("kind" in item)) missing.push(`"kind":${JSON.stringify(kind)}`);
  if (missing.length === 0) return raw;
  const inner = raw.slice(raw.indexOf("{") + 1).trimStart();
  return `{${missing.join(",")}${inner.startsWith("}") ? "" : ","}${inner}`;
}

/** The item as ingest takes it: its text, parsed only if something reads `object`. */
export function toObserved(item: DecodedItem): ObservedObject {
  return observedText(item.text, item.fields);
}

export function streamError(
  stream: Pick<DecodeStream, "key">,
  line: string,
  why: string,
  cause?: unknown,
): CrwatchError {
  const shown = line.length > 200 ? `${line.slice(0, 200)}…` : line;
  return new CrwatchError(
    "CRW_K8S_STREAM",
    `watch of ${stream.key}: ${why}: ${shown}`,
    cause ? { cause } : undefined,
  );
}

function stringOr(value: unknown): string {
  return typeof value === "string" ? value : "";
}
