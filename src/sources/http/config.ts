import { CrwatchError } from "../../model/errors.js";

export const HTTP_PRESETS = ["kong", "apisix", "litellm", "generic"] as const;
export type HttpPreset = (typeof HTTP_PRESETS)[number];

/** How the generic preset follows pages: the `Link: <…>; rel="next"` header or a cursor field. */
export type GenericPagination =
  | { type: "none" }
  | { type: "link" }
  | { type: "cursor"; field?: string; param?: string };

/** What the generic preset reads from one JSON endpoint. */
export interface GenericEndpointConfig {
  /** Dotted path to the array of items in a response; empty: the response is the array. */
  items?: string;
  /** Dotted path to an item's identity (becomes the ref name). */
  id: string;
  /** Ref group and kind of the items; defaults `http.crwatch.dev` and `Item`. */
  group?: string;
  kind?: string;
  pagination?: GenericPagination;
}

export interface HttpTlsConfig {
  /** PEM file(s) of CAs to trust instead of the system store. */
  ca?: string;
  /** Client certificate and key (PEM files) for mutual TLS. */
  cert?: string;
  key?: string;
  /** Skips server certificate checks; only ever when written out. */
  insecureSkipVerify?: boolean;
}

/**
 * Settings of an `http` source: an admin API polled on an interval. Credentials come from
 * `${VAR}` in `headers` or `token`; they are sent, never logged, and masked in every error.
 */
export interface HttpSourceConfig {
  name: string;
  type: "http";
  preset: HttpPreset;
  /** Base URL of the admin API (generic: the endpoint itself). */
  url: string;
  headers?: Record<string, string>;
  /**
   * The credential in the preset's own header: Kong `Kong-Admin-Token`, APISIX `X-API-KEY`,
   * LiteLLM and generic `Authorization: Bearer`.
   */
  token?: string;
  /** `30s`, `500ms`, `5m` or milliseconds; default 30s. */
  interval?: string | number;
  /** Fraction of the interval added at random to each wait (0–1); default 0.1. */
  jitter?: number;
  /** Per request; default 10s. */
  timeout?: string | number;
  /** Largest response body read; default 32 MiB. */
  maxResponseBytes?: number;
  /** Items per page asked for, where the API takes a size; default 1000 (APISIX: 500). */
  pageSize?: number;
  tls?: HttpTlsConfig;
  generic?: GenericEndpointConfig;
}

export interface ResolvedHttpSourceConfig extends HttpSourceConfig {
  headers: Record<string, string>;
  intervalMs: number;
  jitter: number;
  timeoutMs: number;
  maxResponseBytes: number;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+)(ms|s|m|h)$/;

/** `30s` → 30000; a number is taken as milliseconds. */
export function parseDuration(value: string | number, field: string): number {
  if (typeof value === "number") return value;
  const match = DURATION.exec(value.trim());
  if (!match) {
    throw new CrwatchError(
      "CRW_CONFIG_INVALID",
      `${field} must be a duration such as 500ms, 30s, 5m or 1h (got ${JSON.stringify(value)})`,
    );
  }
  return Number(match[1]) * UNITS[match[2]!]!;
}

export function withHttpDefaults(config: HttpSourceConfig): ResolvedHttpSourceConfig {
  const intervalMs = parseDuration(config.interval ?? "30s", `sources.${config.name}.interval`);
  if (intervalMs < 1) {
    throw new CrwatchError("CRW_CONFIG_INVALID", `sources.${config.name}.interval must be > 0`);
  }
  if (config.preset === "generic" && !config.generic) {
    throw new CrwatchError(
      "CRW_CONFIG_INVALID",
      `sources.${config.name}: preset generic needs a generic block (items, id)`,
    );
  }
  return {
    ...config,
    headers: { ...(config.headers ?? {}) },
    intervalMs,
    jitter: config.jitter ?? 0.1,
    timeoutMs: parseDuration(config.timeout ?? "10s", `sources.${config.name}.timeout`),
    maxResponseBytes: config.maxResponseBytes ?? 32 * 1024 * 1024,
  };
}

/** A string such as `30s` or whole milliseconds (`pattern` applies to strings only). */
export const durationSchema = { type: ["string", "integer"], pattern: DURATION.source, minimum: 1 };

/** JSON Schema of one `http` entry in crwatch.yaml. */
export const httpSourceSchema = {
  type: "object",
  additionalProperties: false,
  required: ["name", "type", "preset", "url"],
  if: { properties: { preset: { const: "generic" } } },
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, read by ajv only
  then: { required: ["generic"] },
  properties: {
    name: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$", maxLength: 63 },
    type: { const: "http" },
    preset: { enum: [...HTTP_PRESETS] },
    url: { type: "string", pattern: "^https?://" },
    headers: { type: "object", additionalProperties: { type: "string" } },
    token: { type: "string", minLength: 1 },
    interval: durationSchema,
    jitter: { type: "number", minimum: 0, maximum: 1 },
    timeout: durationSchema,
    maxResponseBytes: { type: "integer", minimum: 1 },
    pageSize: { type: "integer", minimum: 1, maximum: 10_000 },
    tls: {
      type: "object",
      additionalProperties: false,
      properties: {
        ca: { type: "string", minLength: 1 },
        cert: { type: "string", minLength: 1 },
        key: { type: "string", minLength: 1 },
        insecureSkipVerify: { type: "boolean" },
      },
    },
    generic: {
      type: "object",
      additionalProperties: false,
      required: ["id"],
      properties: {
        items: { type: "string" },
        id: { type: "string", minLength: 1 },
        group: { type: "string" },
        kind: { type: "string", minLength: 1 },
        pagination: {
          type: "object",
          additionalProperties: false,
          required: ["type"],
          properties: {
            type: { enum: ["none", "link", "cursor"] },
            field: { type: "string", minLength: 1 },
            param: { type: "string", minLength: 1 },
          },
        },
      },
    },
  },
} as const;
