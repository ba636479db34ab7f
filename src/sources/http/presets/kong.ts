import { isJsonObject, type JsonObject, type JsonValue } from "../../../model/json.js";
import {
  asObject,
  type Endpoint,
  type EntityContext,
  joinUrl,
  omit,
  type Preset,
  str,
  withQuery,
} from "./preset.js";

/** The group of decK entities (decision 0009): a polled Kong and a decK file give the same refs. */
export const DECK_GROUP = "deck.konghq.com";

/** Set by Kong, not by whoever configures it; decK does not write them either. */
const SERVER_FIELDS = new Set(["created_at", "updated_at", "ws_id"]);
/** Where a plugin can be attached, in decK's order for its name. */
const PLUGIN_SCOPES = ["service", "route", "consumer", "consumer_group"] as const;
/** The endpoint whose entities each plugin scope names. */
const SCOPE_ENDPOINT: Record<(typeof PLUGIN_SCOPES)[number], string> = {
  service: "services",
  route: "routes",
  consumer: "consumers",
  consumer_group: "consumer_groups",
};
/** Private keys of certificates: not a name the ingest masker knows. */
const CERT_SECRETS = new Set(["key", "key_alt"]);

/**
 * Kong's admin API (DB mode): each list is `{ data, next }`. Consumer groups are read
 * where the server has them (a 404 skips them); an upstream's targets are read into it. Entities are keyed as decK
 * keys them (name, else id; consumers by username, else custom_id; certificates by id; a
 * plugin by its name and the names of what it is attached to), references by id become
 * the referenced entity's name, and server-set fields and top-level nulls (which decK
 * omits) are dropped, as is `id` where the name is the key.
 */
export const kongPreset: Preset = {
  tokenHeaders: (token) => ({ "Kong-Admin-Token": token }),
  endpoints: [
    simple("services", "Service", ["name", "id"], (o) => o),
    simple("routes", "Route", ["name", "id"], (o, ctx) => withRefs(o, ["service"], ctx), [
      "services",
    ]),
    simple("consumers", "Consumer", ["username", "custom_id", "id"], (o) => o),
    { ...simple("consumer_groups", "ConsumerGroup", ["name", "id"], (o) => o), optional: true },
    { ...simple("upstreams", "Upstream", ["name", "id"], (o) => o), expand: withTargets },
    simple("certificates", "Certificate", ["id"], (o, ctx) => certificate(o, ctx)),
    plugins(),
  ],
};

type Shape = (object: JsonObject, ctx: EntityContext) => JsonObject;

function simple(
  name: string,
  kind: string,
  keys: string[],
  shape: Shape,
  needs: string[] = [],
): Endpoint {
  const keyOf = (item: JsonObject) => keys.map((k) => str(item[k])).find((v) => v !== undefined);
  return {
    name,
    group: DECK_GROUP,
    kind,
    paging: { style: "kong" },
    needs,
    url: (base, size) => withQuery(joinUrl(base, `/${name}`), { size: kongSize(size) }),
    index: (item) => {
      if (!isJsonObject(item)) return undefined;
      const id = str(item.id);
      const key = keyOf(item);
      return id && key ? [id, key] : undefined;
    },
    toEntity: (item, ctx) => {
      const object = asObject(item, `a ${kind}`);
      const key = keyOf(object);
      if (!key) throw new TypeError(`a ${kind} has none of ${keys.join(", ")}`);
      const keyedById = key === str(object.id);
      const cleaned = omit(object, (k, v) => dropped(k, v) || (k === "id" && !keyedById));
      return { name: key, object: shape(cleaned, ctx) };
    },
  };
}

function plugins(): Endpoint {
  const needs = ["services", "routes", "consumers"];
  return {
    name: "plugins",
    group: DECK_GROUP,
    kind: "Plugin",
    paging: { style: "kong" },
    needs,
    url: (base, size) => withQuery(joinUrl(base, "/plugins"), { size: kongSize(size) }),
    toEntity: (item, ctx) => {
      const object = asObject(item, "a Plugin");
      const base = str(object.instance_name) ?? str(object.name) ?? str(object.id);
      if (!base) throw new TypeError("a Plugin has no name");
      const cleaned = withRefs(
        omit(object, (k, v) => dropped(k, v) || k === "id"),
        PLUGIN_SCOPES,
        ctx,
      );
      const parts = PLUGIN_SCOPES.filter((s) => typeof cleaned[s] === "string").map(
        (s) => `${s}:${cleaned[s]}`,
      );
      return { name: parts.length ? `${base}@${parts.join(",")}` : base, object: cleaned };
    },
  };
}

/** decK keeps an upstream's targets inside it; the admin API lists them apart. */
async function withTargets(
  item: JsonValue,
  list: (path: string) => Promise<JsonValue[]>,
): Promise<JsonValue> {
  const upstream = asObject(item, "an Upstream");
  const id = str(upstream.id);
  if (!id) return item;
  const targets = await list(`/upstreams/${encodeURIComponent(id)}/targets`);
  if (targets.length === 0) return upstream;
  const cleaned = targets.map((t) =>
    isJsonObject(t) ? omit(t, (k, v) => dropped(k, v) || k === "id" || k === "upstream") : t,
  );
  return { ...upstream, targets: cleaned };
}

/** `service: { id }` → `service: "<its name>"`, as decK writes references. */
function withRefs(object: JsonObject, fields: readonly string[], ctx: EntityContext): JsonObject {
  const out: JsonObject = { ...object };
  for (const field of fields) {
    const ref = object[field];
    if (ref === undefined) continue;
    const id = isJsonObject(ref) ? str(ref.id) : undefined;
    const endpoint = SCOPE_ENDPOINT[field as (typeof PLUGIN_SCOPES)[number]] ?? `${field}s`;
    const name = id
      ? (ctx.nameOf(endpoint, id) ?? id)
      : isJsonObject(ref)
        ? str(ref.name)
        : str(ref);
    if (name) out[field] = name;
    else delete out[field];
  }
  return out;
}

/** decK writes SNIs as `[{ name }]`; the admin API as strings. Private keys are masked. */
function certificate(object: JsonObject, ctx: EntityContext): JsonObject {
  const snis = Array.isArray(object.snis)
    ? object.snis.map((s: JsonValue) => (typeof s === "string" ? { name: s } : s))
    : object.snis;
  const withSnis = snis === undefined ? object : { ...object, snis };
  return ctx.redactor.fields(withSnis, CERT_SECRETS);
}

/** Kong answers 400 to a size outside 1–1000. */
function kongSize(size: number | undefined): number {
  return Math.min(1000, Math.max(1, size ?? 1000));
}

function dropped(key: string, value: JsonValue): boolean {
  return SERVER_FIELDS.has(key) || value === null;
}
