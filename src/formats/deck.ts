import { isJsonObject, type JsonObject, type JsonValue } from "../model/json.js";
import type { SplitEntity } from "./split.js";

/** Group of the resources cut out of a decK declarative config (recorded in decision 0009). */
export const DECK_GROUP = "deck.konghq.com";

/** Where a plugin is attached, in decK's own field names; a global plugin has none. */
type Scope = Partial<Record<"service" | "route" | "consumer" | "consumer_group", string>>;
const SCOPE_ORDER = ["service", "route", "consumer", "consumer_group"] as const;

/** Top-level lists that hold one kind of entity each, and the field that names one. */
const SIMPLE_ENTITIES: Record<string, { kind: string; keys: string[] }> = {
  upstreams: { kind: "Upstream", keys: ["name", "id"] },
  certificates: { kind: "Certificate", keys: ["id", "snis.0.name"] },
  ca_certificates: { kind: "CACertificate", keys: ["id"] },
  vaults: { kind: "Vault", keys: ["prefix", "name", "id"] },
  key_sets: { kind: "KeySet", keys: ["name", "id"] },
  keys: { kind: "Key", keys: ["name", "id", "kid"] },
};
/** Handled by their own walkers below. */
const NESTING_ENTITIES = new Set(["services", "routes", "plugins", "consumers", "consumer_groups"]);

/**
 * Splits a decK declarative config into one resource per entity, keyed as decK keys them
 * (name, else id; a plugin by its name and the entities it is attached to), so a change to
 * one route's rate limit is one change of one `Plugin`. Nested routes and plugins are cut
 * out of their parents and carry a field naming the parent (`service: mock1`), as decK
 * writes them at the top level. Everything else (`_format_version`, `_info`, unknown
 * lists) stays in one `Config` resource. The namespace is `_workspace` (decK's own scope).
 */
export function splitDeck(doc: JsonObject): SplitEntity[] {
  const namespace = typeof doc._workspace === "string" ? doc._workspace : "";
  const out = new Collector(namespace);
  const rest: [string, JsonValue][] = [];
  for (const [field, value] of Object.entries(doc)) {
    if (NESTING_ENTITIES.has(field) && Array.isArray(value)) continue;
    const simple = SIMPLE_ENTITIES[field];
    if (simple && Array.isArray(value)) {
      value.forEach((item, i) => {
        if (isJsonObject(item))
          out.add(simple.kind, keyOf(item, simple.keys, `${field}#${i}`), item, `${field}.${i}`);
      });
    } else rest.push([field, value]);
  }
  listOf(doc.services).forEach((service, i) => {
    out.service(service, `services.${i}`);
  });
  listOf(doc.routes).forEach((route, i) => {
    out.route(route, `routes.${i}`, {});
  });
  listOf(doc.consumers).forEach((consumer, i) => {
    out.consumer(consumer, `consumers.${i}`);
  });
  listOf(doc.consumer_groups).forEach((group, i) => {
    out.consumerGroup(group, `consumer_groups.${i}`);
  });
  listOf(doc.plugins).forEach((plugin, i) => {
    out.plugin(plugin, `plugins.${i}`, {});
  });
  out.add("Config", namespace || "config", Object.fromEntries(rest), "");
  return out.entities;
}

class Collector {
  readonly entities: SplitEntity[] = [];
  constructor(private readonly namespace: string) {}

  add(kind: string, name: string, object: JsonObject, field: string): void {
    this.entities.push({ group: DECK_GROUP, kind, namespace: this.namespace, name, object, field });
  }

  service(service: JsonObject, field: string): void {
    const name = keyOf(service, ["name", "id"], field);
    this.add("Service", name, without(service, ["routes", "plugins"]), field);
    listOf(service.routes).forEach((route, i) => {
      this.route(route, `${field}.routes.${i}`, { service: name });
    });
    this.plugins(service, field, { service: name });
  }

  route(route: JsonObject, field: string, parent: Scope): void {
    const name = keyOf(route, ["name", "id"], field);
    this.add("Route", name, { ...without(route, ["plugins"]), ...parent }, field);
    this.plugins(route, field, { ...scopeOf(route), route: name });
  }

  consumer(consumer: JsonObject, field: string): void {
    const name = keyOf(consumer, ["username", "custom_id", "id"], field);
    this.add("Consumer", name, without(consumer, ["plugins"]), field);
    this.plugins(consumer, field, { consumer: name });
  }

  consumerGroup(group: JsonObject, field: string): void {
    const name = keyOf(group, ["name", "id"], field);
    this.add("ConsumerGroup", name, without(group, ["plugins"]), field);
    this.plugins(group, field, { consumer_group: name });
  }

  /** A plugin's parent fields from nesting win over none; its own fields (top-level form) stay. */
  plugin(plugin: JsonObject, field: string, parent: Scope): void {
    const scope = { ...scopeOf(plugin), ...parent };
    this.add("Plugin", pluginKey(plugin, scope, field), { ...plugin, ...scope }, field);
  }

  private plugins(owner: JsonObject, field: string, scope: Scope): void {
    listOf(owner.plugins).forEach((p, i) => {
      this.plugin(p, `${field}.plugins.${i}`, scope);
    });
  }
}

/** `rate-limiting@route:r1`, `acl@service:s1,consumer:c1`, or just `key-auth` when global. */
function pluginKey(plugin: JsonObject, scope: Scope, field: string): string {
  const name = typeof plugin.instance_name === "string" ? plugin.instance_name : plugin.name;
  const base = typeof name === "string" ? name : field;
  const parts = SCOPE_ORDER.filter((k) => scope[k] !== undefined).map((k) => `${k}:${scope[k]}`);
  return parts.length ? `${base}@${parts.join(",")}` : base;
}

/** A top-level plugin or route names its parents by name or id, or as `{ id: … }`. */
function scopeOf(entity: JsonObject): Scope {
  const scope: Scope = {};
  for (const key of SCOPE_ORDER) {
    const ref = referenceName(entity[key]);
    if (ref !== undefined) scope[key] = ref;
  }
  return scope;
}

function referenceName(value: JsonValue | undefined): string | undefined {
  if (typeof value === "string" && value) return value;
  if (isJsonObject(value)) return referenceName(value.name) ?? referenceName(value.id);
  return undefined;
}

/** The first non-empty string among `keys` (dotted paths), else a positional fallback. */
function keyOf(entity: JsonObject, keys: string[], fallback: string): string {
  for (const key of keys) {
    let node: JsonValue | undefined = entity;
    for (const token of key.split(".")) {
      node = Array.isArray(node)
        ? node[Number(token)]
        : isJsonObject(node)
          ? node[token]
          : undefined;
    }
    if (typeof node === "string" && node) return node;
  }
  return fallback;
}

/** Object.fromEntries, not assignment: a key named `__proto__` must stay a key. */
function without(entity: JsonObject, fields: string[]): JsonObject {
  return Object.fromEntries(Object.entries(entity).filter(([k]) => !fields.includes(k)));
}

function listOf(value: JsonValue | undefined): JsonObject[] {
  return Array.isArray(value) ? value.filter(isJsonObject) : [];
}
