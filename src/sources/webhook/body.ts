import { parseDocument } from "yaml";
import { CrwatchError } from "../../model/errors.js";
import { isJsonObject, type JsonObject, type JsonValue } from "../../model/json.js";
import type {
  Actor,
  Cause,
  ObservationEvent,
  ObservedObject,
  Scope,
} from "../../model/observation.js";
import { groupOf, type Ref, refKey } from "../../model/ref.js";

/** A push, read: the events to emit and who made the change and why, when the sender said. */
export interface Push {
  events: ObservationEvent[];
  actor?: Actor;
  cause?: Omit<Cause, "kind"> & { kind?: string };
}

const ENVELOPE_KEYS = new Set(["upsert", "delete", "snapshot", "actor", "cause"]);

/**
 * Reads a pushed body, JSON or YAML (JSON when the content type says so, else YAML, which
 * reads JSON too). It is one resource, a list of resources (upserts), or an envelope
 * `{ upsert?: [...], delete?: [{apiVersion|group, kind, namespace?, name}], snapshot?:
 * { scope?, items }, actor?, cause? }`. A resource is any object with apiVersion, kind and
 * metadata.name: kinds crwatch has never heard of are accepted like any custom resource.
 * Every problem throws CRW_WEBHOOK_BODY naming the place.
 */
export function readPush(source: string, body: Buffer, contentType: string | undefined): Push {
  const value = parseBody(body, contentType);
  if (Array.isArray(value)) return { events: upserts(source, value, "") };
  if (!isJsonObject(value))
    throw bad("the body must be a resource, a list of resources, or an envelope");
  if ("apiVersion" in value || "kind" in value) return { events: upserts(source, [value], "") };
  return envelope(source, value);
}

function parseBody(body: Buffer, contentType: string | undefined): JsonValue {
  const text = body.toString("utf8");
  if (!text.trim()) throw bad("the body is empty");
  if (/\bjson\b/i.test(contentType ?? "")) {
    try {
      return JSON.parse(text) as JsonValue;
    } catch (err) {
      throw bad(`invalid JSON: ${(err as Error).message}${jsonWhere(text, err)}`, err);
    }
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const at = error.linePos?.[0];
    const where = at ? `line ${at.line}, column ${at.col}: ` : "";
    throw bad(`invalid YAML: ${where}${error.message.split("\n")[0]}`, error);
  }
  try {
    return doc.toJS({ maxAliasCount: 100 }) as JsonValue;
  } catch (err) {
    throw bad(`invalid YAML: ${(err as Error).message}`, err);
  }
}

/** V8 names an offset (`at position 20`); people read lines and columns. */
function jsonWhere(text: string, err: unknown): string {
  const offset = Number(/at position (\d+)/.exec((err as Error).message)?.[1] ?? Number.NaN);
  if (Number.isNaN(offset)) return "";
  const before = text.slice(0, offset).split("\n");
  return ` (line ${before.length}, column ${before.at(-1)!.length + 1})`;
}

function envelope(source: string, value: JsonObject): Push {
  const unknown = Object.keys(value).filter((k) => !ENVELOPE_KEYS.has(k));
  if (unknown.length > 0) {
    throw bad(
      `unknown field(s) ${unknown.join(", ")}: expected upsert, delete, snapshot, actor, cause`,
    );
  }
  if (value.upsert === undefined && value.delete === undefined && value.snapshot === undefined) {
    throw bad("the envelope has no upsert, delete or snapshot");
  }
  const events: ObservationEvent[] = [];
  if (value.upsert !== undefined)
    events.push(...upserts(source, listAt(value.upsert, "upsert"), "upsert"));
  if (value.delete !== undefined) {
    events.push(
      ...listAt(value.delete, "delete").map((d, i) => ({
        type: "delete" as const,
        ref: deletionRef(source, d, `delete[${i}]`),
      })),
    );
  }
  if (value.snapshot !== undefined) events.push(snapshot(source, value.snapshot));
  const push: Push = { events };
  if (value.actor !== undefined) push.actor = actor(value.actor);
  if (value.cause !== undefined) push.cause = cause(value.cause);
  return push;
}

function upserts(source: string, items: JsonValue[], field: string): ObservationEvent[] {
  return resources(source, items, field).map((item) => ({ type: "upsert" as const, item }));
}

function resources(source: string, items: JsonValue[], field: string): ObservedObject[] {
  const seen = new Set<string>();
  return items.map((item, i) => {
    const where = `${field}[${i}]`;
    if (!isJsonObject(item)) throw bad(`${where} is not an object`);
    const ref = resourceRef(source, item, where);
    const key = refKey(ref);
    if (seen.has(key)) throw bad(`${where} repeats ${ref.kind} ${ref.namespace}/${ref.name}`);
    seen.add(key);
    return { ref, object: item };
  });
}

function resourceRef(source: string, object: JsonObject, where: string): Ref {
  const { apiVersion, kind, metadata } = object;
  if (typeof apiVersion !== "string" || !apiVersion)
    throw bad(`${where}: apiVersion must be a non-empty string`);
  if (typeof kind !== "string" || !kind) throw bad(`${where}: kind must be a non-empty string`);
  if (!isJsonObject(metadata)) throw bad(`${where}: metadata must be an object`);
  const { name, namespace } = metadata;
  if (typeof name !== "string" || !name)
    throw bad(`${where}: metadata.name must be a non-empty string`);
  if (namespace !== undefined && namespace !== null && typeof namespace !== "string") {
    throw bad(`${where}: metadata.namespace must be a string`);
  }
  return { source, group: groupOf(apiVersion), kind, namespace: namespace ?? "", name };
}

function deletionRef(source: string, value: JsonValue, where: string): Ref {
  if (!isJsonObject(value)) throw bad(`${where} is not an object`);
  if ("metadata" in value) return resourceRef(source, value, where);
  const { apiVersion, group, kind, namespace, name } = value;
  const g =
    typeof apiVersion === "string"
      ? groupOf(apiVersion)
      : typeof group === "string"
        ? group
        : undefined;
  if (g === undefined) throw bad(`${where}: needs apiVersion or group`);
  if (typeof kind !== "string" || !kind) throw bad(`${where}: kind must be a non-empty string`);
  if (typeof name !== "string" || !name) throw bad(`${where}: name must be a non-empty string`);
  if (namespace !== undefined && typeof namespace !== "string")
    throw bad(`${where}: namespace must be a string`);
  return { source, group: g, kind, namespace: namespace ?? "", name };
}

function snapshot(source: string, value: JsonValue): ObservationEvent {
  if (!isJsonObject(value)) throw bad("snapshot must be an object with items");
  const items = resources(source, listAt(value.items, "snapshot.items"), "snapshot.items");
  if (value.scope === undefined) return { type: "snapshot", items };
  if (!isJsonObject(value.scope)) throw bad("snapshot.scope must be an object");
  const scope: Scope = {};
  for (const key of ["group", "kind", "namespace"] as const) {
    const v = value.scope[key];
    if (v === undefined) continue;
    if (typeof v !== "string") throw bad(`snapshot.scope.${key} must be a string`);
    scope[key] = v;
  }
  return { type: "snapshot", scope, items };
}

function actor(value: JsonValue): Actor {
  if (!isJsonObject(value) || typeof value.name !== "string" || !value.name) {
    throw bad("actor must be an object with a non-empty name");
  }
  const out: Actor = { name: value.name };
  if (typeof value.email === "string") out.email = value.email;
  if (typeof value.via === "string") out.via = value.via;
  return out;
}

function cause(value: JsonValue): Push["cause"] {
  if (!isJsonObject(value)) throw bad("cause must be an object");
  const out: NonNullable<Push["cause"]> = {};
  for (const key of ["kind", "id", "message", "time"] as const) {
    const v = value[key];
    if (v === undefined) continue;
    if (typeof v !== "string") throw bad(`cause.${key} must be a string`);
    out[key] = v;
  }
  return out;
}

function listAt(value: JsonValue | undefined, field: string): JsonValue[] {
  if (!Array.isArray(value)) throw bad(`${field} must be a list`);
  return value;
}

function bad(message: string, cause?: unknown): CrwatchError {
  return new CrwatchError("CRW_WEBHOOK_BODY", message, { cause });
}
