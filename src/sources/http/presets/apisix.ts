import type { JsonObject } from "../../../model/json.js";
import { asObject, type Endpoint, joinUrl, omit, type Preset, str, withQuery } from "./preset.js";

/** APISIX's resources in their own group; the ingress controller's CRDs are `Apisix*` kinds. */
export const APISIX_GROUP = "apisix.apache.org";

/** Set by APISIX on every write. */
const SERVER_FIELDS = new Set(["create_time", "update_time"]);
/** Credentials inside consumers' plugins (key-auth `key`) and upstreams' mTLS key. */
const SECRET_FIELDS: Record<string, ReadonlySet<string>> = {
  consumers: new Set(["key", "password", "client_key"]),
  upstreams: new Set(["client_key"]),
};

const RESOURCES: [path: string, kind: string, idField: string][] = [
  ["routes", "Route", "id"],
  ["services", "Service", "id"],
  ["upstreams", "Upstream", "id"],
  ["consumers", "Consumer", "username"],
  ["plugin_configs", "PluginConfig", "id"],
  ["global_rules", "GlobalRule", "id"],
];

/**
 * APISIX 3's admin API: `/apisix/admin/<resource>` lists as `{ total, list: [{ key, value,
 * createdIndex, modifiedIndex }] }`, paged with `page` / `page_size`, authenticated by
 * `X-API-KEY`. Each value is one entity named by its id (consumers: username); the etcd
 * indexes and times are the server's, not the configuration.
 */
export const apisixPreset: Preset = {
  tokenHeaders: (token) => ({ "X-API-KEY": token }),
  endpoints: RESOURCES.map(([path, kind, idField]) => endpoint(path, kind, idField)),
};

function endpoint(path: string, kind: string, idField: string): Endpoint {
  const secrets = SECRET_FIELDS[path];
  return {
    name: path,
    group: APISIX_GROUP,
    kind,
    paging: { style: "apisix" },
    url: (base, size) =>
      withQuery(joinUrl(base, `/apisix/admin/${path}`), {
        page: 1,
        page_size: Math.min(500, Math.max(10, size ?? 500)), // APISIX accepts 10–500
      }),
    toEntity: (item, ctx) => {
      const entry = asObject(item, `an APISIX ${path} entry`);
      const value = asObject(entry.value ?? null, `the value of ${str(entry.key) ?? "an entry"}`);
      const name = str(value[idField]) ?? lastSegment(str(entry.key));
      if (!name) throw new TypeError(`an APISIX ${kind} has no ${idField} and no key`);
      const cleaned: JsonObject = omit(value, (k) => SERVER_FIELDS.has(k));
      return { name, object: secrets ? ctx.redactor.fields(cleaned, secrets) : cleaned };
    },
  };
}

function lastSegment(key: string | undefined): string | undefined {
  return key?.split("/").filter(Boolean).pop();
}
