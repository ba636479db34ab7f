import { createHmac } from "node:crypto";
import { isJsonObject, type JsonObject, type JsonValue } from "../model/json.js";
import {
  isMasked,
  isReference,
  MASK_PREFIX,
  maskCredential,
  maskSecretsInString,
} from "./mask-strings.js";

export { isMasked } from "./mask-strings.js";

/**
 * Field names whose values are secrets, compared after lower-casing and removing `_` and
 * `-`. A key matches when it equals or ends with one of these, so `clientSecret`,
 * `jwt_secrets`, `aws_secret_access_key` and `keyauth_credentials` match while `secretRef`,
 * `maxTokens` and `credentialRefs` (references to secrets, or limits) stay readable.
 */
export const DEFAULT_SECRET_KEYS = [
  "password",
  "passwd",
  "passphrase",
  "pwd",
  "token",
  "apikey",
  "masterkey",
  "secret",
  "secrets",
  "secretkey",
  "privatekey",
  "credential",
  "credentials",
  "accesskey",
  "accesskeyid",
  "accountkey",
  "signingkey",
  "serviceaccountjson",
] as const;

export interface MaskOptions {
  /** HMAC key: masks are stable for one installation and unguessable without the key. */
  key: Buffer;
  /** Extra key names (same normalisation) to mask. */
  extraKeys?: string[];
}

export type Masker = (object: JsonObject) => JsonObject;

/**
 * Header names (normalised as keys are) whose values are credentials; names ending like a
 * secret key (`X-API-Key`, `X-Auth-Token`) are credentials too.
 */
const SECRET_HEADERS = new Set([
  "authorization",
  "proxyauthorization",
  "cookie",
  "setcookie",
  "ocpapimsubscriptionkey",
  "xfunctionskey",
  "xgoogapikey",
  "privatetoken",
]);

/**
 * Inside a secret-named object these identify the secret or point at it (Envoy Gateway's
 * `clientSecret: {name: …}`, APISIX's `credentials: [{type: key-auth, name: …}]`), and stay
 * readable.
 */
const REFERENCE_KEYS = new Set(["name", "namespace", "kind", "group", "type", "valueFrom"]);

/** `secretRef`, `secretKeyRef`, `credentialRefs`, `backendRef`: references, walked not masked. */
function isReferenceKey(key: string): boolean {
  return REFERENCE_KEYS.has(key) || /Refs?$|_refs?$/.test(key);
}

/** Header objects: the field holding a header's value → the fields that may name it. */
const PAIR_NAMES = new Map<string, readonly string[]>([
  // Gateway API filters, Kubernetes env, Envoy Gateway; Envoy's `header: {key, value}`
  ["value", ["name", "key"]],
  ["header_value", ["header_name"]], // Kong AI plugins' `auth`
  ["headerValue", ["headerName"]],
  ["param_value", ["param_name"]],
]);

/**
 * Under these keys every `key` is a credential (APISIX `authParameter.keyAuth.value.key`,
 * a `key-auth` credential's `config.key`).
 */
const AUTH_CONTEXTS = new Set([
  "authparameter",
  "keyauth",
  "basicauth",
  "jwtauth",
  "hmacauth",
  "ldapauth",
  "wolfrbac",
]);

/** A command-line flag alone in its argument: `--api-key`, `-token`. */
const FLAG = /^--?([A-Za-z][A-Za-z0-9_.-]*)$/;

const SECRET_KEY = 1;
const SECRET_HEADER = 2;
const REFERENCE = 4;
const AUTH_CONTEXT = 8;
const READABLE = 16;
const VALUE_OF_PAIR = 32;
const SCHEMA = 64;

/**
 * Objects whose keys are not field names of this object's data: a CRD's schema, labels.
 * Only their strings' contents are checked.
 */
const SCHEMA_KEYS = new Set(["openAPIV3Schema", "labels"]);

/**
 * Inside a secret-named object (`awsCredentials`, `jwt_secrets[]`, `forwardIDToken`,
 * `oidcExchangeToken`), these describe or identify the secret and stay readable; their
 * strings are still checked for secrets by content.
 */
const READABLE_IN_SECRET = new Set([
  "region",
  "algorithm",
  "tags",
  "id",
  "kid",
  "header",
  "issuer",
  "clientid",
  "tenantid",
  "projectname",
  "projectid",
  "rolearn",
  "awsrolearn",
  "audience",
  "audiences",
  "scopes",
  "url",
  "uri",
  "endpoint",
  "description",
]);

/**
 * Builds a function that replaces secret values with `<masked:hmac>`; the same value gives
 * the same mask, so a rotated secret still shows as a change while its value is never
 * stored or printed. A secret is found by its field's name (`password`, `api_key`, a
 * credential header's value) and by what a string holds wherever it is (see
 * mask-strings.ts: env and header lines, bearer credentials, URL passwords and query
 * tokens, webhook URLs, private keys, provider token shapes); only the secret part of a
 * string is replaced, so a header name, variable name or URL host stays readable.
 * References to secrets (`secretRef`, `os.environ/X`, `${X}`, a Secret's name) and
 * booleans stay readable. Copy-on-write: a subtree without secrets is returned as is
 * (ingest runs this on every observation, and most objects hold no secret at all).
 */
export function createMasker(options: MaskOptions): Masker {
  const suffixes = [...DEFAULT_SECRET_KEYS, ...(options.extraKeys ?? []).map(normalizeKey)];
  // What a key (or header name) is, decided once per distinct key: ingest sees the same
  // few hundred keys over and over.
  const verdicts = new Map<string, number>();
  const flags = (key: string): number => {
    let f = verdicts.get(key);
    if (f === undefined) {
      const k = normalizeKey(key);
      f =
        (suffixes.some((s) => k.endsWith(s)) ? SECRET_KEY : 0) |
        (SECRET_HEADERS.has(k) ? SECRET_HEADER : 0) |
        (isReferenceKey(key) ? REFERENCE : 0) |
        (AUTH_CONTEXTS.has(k) ? AUTH_CONTEXT : 0) |
        (READABLE_IN_SECRET.has(k) ? READABLE : 0) |
        (PAIR_NAMES.has(key) ? VALUE_OF_PAIR : 0) |
        (SCHEMA_KEYS.has(key) ? SCHEMA : 0);
      if (verdicts.size < 10_000) verdicts.set(key, f);
    }
    return f;
  };
  const isSecretKey = (key: string): boolean => (flags(key) & SECRET_KEY) !== 0;
  const isSecretHeader = (name: string): boolean =>
    (flags(name) & (SECRET_KEY | SECRET_HEADER)) !== 0;
  const mask = (value: string | number): string =>
    `${MASK_PREFIX}${createHmac("sha256", options.key).update(String(value)).digest("hex").slice(0, 16)}>`;
  const scan = (value: string): string => maskSecretsInString(value, mask, isSecretHeader);

  /** A value under a secret-named field: everything but references and structure. */
  const maskAll = (value: JsonValue, direct: boolean): JsonValue => {
    if (typeof value === "string") {
      return value === "" || isMasked(value) || isReference(value) ? value : mask(value);
    }
    if (typeof value === "number") return direct ? mask(value) : value;
    if (Array.isArray(value)) return mapArray(value, (item) => maskAll(item, direct));
    if (isJsonObject(value)) {
      return mapObject(value, (child, key) => {
        if (flags(key) & (REFERENCE | READABLE)) {
          return walk(child, key);
        }
        // `keyauth_credentials: [{key: …, ttl: 3600}]`: the key is secret, the ttl is not.
        return maskAll(child, isSecretKey(key));
      });
    }
    return value;
  };

  /** A header's value given as a scalar or a list of them. */
  const maskHeaderValue = (value: JsonValue): JsonValue => {
    if (typeof value === "string") return maskCredential(value, mask);
    if (typeof value === "number") return mask(value);
    if (Array.isArray(value)) return mapArray(value, maskHeaderValue);
    return walk(value, "");
  };

  /** Strings only: a schema's field names or a label's keys say nothing about its values. */
  const scanOnly = (value: JsonValue): JsonValue => {
    if (typeof value === "string") return scan(value);
    if (Array.isArray(value)) return mapArray(value, scanOnly);
    if (isJsonObject(value)) return mapObject(value, scanOnly);
    return value;
  };

  /** Command-line arguments: `["--api-key", "…"]` (`--api-key=…` is a named line). */
  const maskFlagValues = (list: JsonValue[]): JsonValue[] => {
    let out: JsonValue[] | null = null;
    for (let i = 0; i + 1 < list.length; i++) {
      const item = list[i];
      if (typeof item !== "string" || item.charCodeAt(0) !== 45 || item.length > 64) continue;
      const flag = FLAG.exec(item);
      const next = list[i + 1];
      if (!flag || typeof next !== "string" || next.startsWith("-")) continue;
      if (!isSecretHeader(flag[1] as string)) continue;
      const masked = maskCredential(next, mask);
      if (masked !== next) {
        out ??= list.slice();
        out[i + 1] = masked;
      }
    }
    return out ?? list;
  };

  /**
   * A header set by a filter (`{name: Authorization, value: "Bearer …"}`, Envoy's
   * `{key: x-api-key, value: …}`) carries its secret under a harmless key: the header's
   * name says what it is. Kong's AI `auth: {header_name, header_value}` always does.
   */
  const isSecretPairValue = (object: JsonObject, valueKey: string, parentKey: string) => {
    for (const nameKey of PAIR_NAMES.get(valueKey) ?? []) {
      const name = object[nameKey];
      if (typeof name === "string") {
        return isSecretHeader(name) || (parentKey === "auth" && nameKey !== "name");
      }
    }
    return false;
  };

  /** One field of an object being walked: what its value becomes. */
  const walkField = (
    object: JsonObject,
    key: string,
    child: JsonValue,
    parentKey: string,
    inAuth: boolean,
  ): JsonValue => {
    const f = flags(key);
    if (f & VALUE_OF_PAIR && isSecretPairValue(object, key, parentKey)) {
      return maskHeaderValue(child);
    }
    if (f & SCHEMA) return scanOnly(child);
    if (f & SECRET_KEY || (inAuth && key === "key")) {
      return f & REFERENCE ? walk(child, key, inAuth) : maskAll(child, true);
    }
    // `headers: {Authorization: …}`, `set: {Cookie: …}`; an `authorization:` object
    // (Envoy Gateway's authorization rules) is configuration, walked as usual.
    if (f & SECRET_HEADER && !isJsonObject(child)) {
      return maskHeaderValue(child);
    }
    return walk(child, key, inAuth);
  };

  // The hot path of every ingest: loops rather than mapObject/mapArray, so walking an
  // object allocates no closure (copy-on-write as they are).
  const walk = (value: JsonValue, parentKey: string, auth = false): JsonValue => {
    if (typeof value === "string") return scan(value);
    if (Array.isArray(value)) {
      let out: JsonValue[] | null = null;
      for (let i = 0; i < value.length; i++) {
        const before = value[i] as JsonValue;
        const after = walk(before, parentKey, auth);
        if (after !== before && out === null) out = value.slice();
        if (out !== null) out[i] = after;
      }
      return maskFlagValues(out ?? value);
    }
    if (!isJsonObject(value)) return value;
    const parent = flags(parentKey);
    const inAuth = (auth || (parent & AUTH_CONTEXT) !== 0) && (parent & REFERENCE) === 0;
    let out: JsonObject | null = null;
    for (const key in value) {
      const before = value[key] as JsonValue;
      const after = walkField(value, key, before, parentKey, inAuth);
      if (after !== before && out === null) out = { ...value };
      if (out !== null) out[key] = after;
    }
    return out ?? value;
  };

  return (object) => {
    if (object.kind === "CustomResourceDefinition") return scanOnly(object) as JsonObject;
    if (isKubernetesSecret(object)) {
      return mapObject(object, (child, key) =>
        key === "data" || key === "stringData" ? maskAll(child, true) : walk(child, key),
      );
    }
    if (isKongConsumer(object)) {
      // `credentials: [globex-key-auth]` names Secrets: a reference, kept readable.
      return mapObject(object, (child, key) =>
        key === "credentials"
          ? walk(child, key)
          : ((walk({ [key]: child }, "") as JsonObject)[key] as JsonValue),
      );
    }
    return walk(object, "") as JsonObject;
  };
}

/** Maps the values; returns the input itself when no value changed. */
function mapObject(obj: JsonObject, fn: (value: JsonValue, key: string) => JsonValue): JsonObject {
  let out: JsonObject | null = null;
  for (const key in obj) {
    const before = obj[key] as JsonValue;
    const after = fn(before, key);
    if (after !== before && out === null) out = { ...obj };
    if (out !== null) out[key] = after;
  }
  return out ?? obj;
}

function mapArray(list: JsonValue[], fn: (value: JsonValue) => JsonValue): JsonValue[] {
  let out: JsonValue[] | null = null;
  for (let i = 0; i < list.length; i++) {
    const before = list[i] as JsonValue;
    const after = fn(before);
    if (after !== before && out === null) out = list.slice();
    if (out !== null) out[i] = after;
  }
  return out ?? list;
}

function isKubernetesSecret(object: JsonObject): boolean {
  return object.kind === "Secret" && object.apiVersion === "v1";
}

function isKongConsumer(object: JsonObject): boolean {
  return (
    object.kind === "KongConsumer" &&
    typeof object.apiVersion === "string" &&
    object.apiVersion.startsWith("configuration.konghq.com/")
  );
}

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, "");
}
