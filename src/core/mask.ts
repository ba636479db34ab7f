import { createHmac } from "node:crypto";
import { isJsonObject, type JsonObject, type JsonValue } from "../model/json.js";

/**
 * Field names whose values are secrets, compared after lower-casing and removing `_` and
 * `-`. A key matches when it equals or ends with one of these, so `clientSecret`,
 * `jwt_secrets` and `keyauth_credentials` match while `secretRef`, `maxTokens` and
 * `credentialRefs` (references to secrets, or limits) stay readable.
 */
export const DEFAULT_SECRET_KEYS = [
  "password",
  "passwd",
  "token",
  "apikey",
  "masterkey",
  "secret",
  "secrets",
  "secretkey",
  "privatekey",
  "credentials",
  "accesskey",
] as const;

export interface MaskOptions {
  /** HMAC key: masks are stable for one installation and unguessable without the key. */
  key: Buffer;
  /** Extra key names (same normalisation) to mask. */
  extraKeys?: string[];
}

export type Masker = (object: JsonObject) => JsonObject;

const MASK_PREFIX = "<masked:";

/** Header names (normalised as keys are) whose values are credentials. */
const SECRET_HEADERS = new Set(["authorization", "proxyauthorization", "cookie", "setcookie"]);

/**
 * Inside a secret-named object, these identify a reference to a secret (Envoy Gateway's
 * `clientSecret: {name: …}`), not the secret itself, and stay readable.
 */
const REFERENCE_KEYS = new Set(["name", "namespace", "kind", "group"]);

export function isMasked(value: unknown): boolean {
  return typeof value === "string" && value.startsWith(MASK_PREFIX);
}

/**
 * Builds a function that replaces secret values with `<masked:hmac>`; the same value gives
 * the same mask, so a rotated secret still shows as a change while its value is never
 * stored or printed. Booleans stay visible (`hide_credentials: false` is a finding, not a
 * secret). Copy-on-write: a subtree without secrets is returned as is (ingest runs this on
 * every observation, and most objects hold no secret at all).
 */
export function createMasker(options: MaskOptions): Masker {
  const suffixes = [...DEFAULT_SECRET_KEYS, ...(options.extraKeys ?? []).map(normalizeKey)];
  const keyVerdicts = new Map<string, boolean>();
  const isSecretKey = (key: string): boolean => {
    let verdict = keyVerdicts.get(key);
    if (verdict === undefined) {
      const k = normalizeKey(key);
      verdict = suffixes.some((s) => k.endsWith(s));
      if (keyVerdicts.size < 10_000) keyVerdicts.set(key, verdict);
    }
    return verdict;
  };
  const mask = (value: string | number): string =>
    `${MASK_PREFIX}${createHmac("sha256", options.key).update(String(value)).digest("hex").slice(0, 16)}>`;
  const maskAll = (value: JsonValue): JsonValue => {
    if (typeof value === "string" || typeof value === "number") {
      return isMasked(value) ? value : mask(value);
    }
    if (Array.isArray(value)) return mapArray(value, maskAll);
    if (isJsonObject(value)) {
      return mapObject(value, (child, key) => (REFERENCE_KEYS.has(key) ? child : maskAll(child)));
    }
    return value;
  };
  const isSecretHeader = (name: string): boolean =>
    isSecretKey(name) || SECRET_HEADERS.has(normalizeKey(name));
  const walk = (value: JsonValue): JsonValue => {
    if (Array.isArray(value)) return mapArray(value, walk);
    if (typeof value === "string") return maskUrlPassword(value, mask);
    if (!isJsonObject(value)) return value;
    // A header set by a filter (`{name: Authorization, value: "Bearer …"}`) carries its
    // secret in `value`, under a harmless key: the header's name says what it is.
    const named = typeof value.name === "string" && isSecretHeader(value.name);
    return mapObject(value, (child, key) =>
      isSecretKey(key) || (named && key === "value") ? maskAll(child) : walk(child),
    );
  };
  return (object) => {
    if (isKubernetesSecret(object)) {
      return mapObject(object, (child, key) =>
        key === "data" || key === "stringData" ? maskAll(child) : walk(child),
      );
    }
    return walk(object) as JsonObject;
  };
}

const URL_WITH_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/@\s:]*:)([^/@\s]+)(@)/i;

/** `redis://:hunter2@host` → `redis://:<masked:…>@host`: a URL can carry its own password. */
function maskUrlPassword(value: string, mask: (v: string) => string): string {
  if (!value.includes("@") || !value.includes("://")) return value;
  const m = URL_WITH_PASSWORD.exec(value);
  if (!m || isMasked(m[2])) return value;
  return `${m[1]}${mask(m[2] as string)}${m[3]}${value.slice(m[0].length)}`;
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

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, "");
}
