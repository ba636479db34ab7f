import { isIP } from "node:net";
import type { JsonSchema } from "../model/component.js";
import { CrwatchError } from "../model/errors.js";

export const ROLES = ["viewer", "operator", "admin"] as const;
/** viewer reads; operator also acts on delivery (retry dead letters); admin may do everything. */
export type Role = (typeof ROLES)[number];

/**
 * What a token may see: changes and resources of one namespace and/or one source (unset:
 * any). A token without a scope sees everything its role allows.
 */
export interface Scope {
  namespace?: string;
  source?: string;
}

/** One accepted bearer token: its sha256 (hex), or the token itself from `${VAR}`. */
export interface ApiTokenConfig {
  name: string;
  role: Role;
  sha256?: string;
  token?: string;
  /** Scope: the token sees only changes and resources of this namespace ("" cluster-scoped). */
  namespace?: string;
  /** Scope: the token sees only changes and resources of this source. */
  source?: string;
}

/** The `api` block of crwatch.yaml; the API runs only when the block is present. */
export interface ApiConfig {
  /** `host:port`, `[v6]:port`; port 0 picks a free one. */
  listen: string;
  /** `none` is for local demos and is refused on anything but a loopback address. */
  auth: "tokens" | "none";
  tokens: ApiTokenConfig[];
  /** Request bodies above this many bytes are refused with 413. */
  maxBodyBytes: number;
  watch: {
    /** Events a watch stream may have queued for a slow client before it is disconnected. */
    maxBuffered: number;
    /** A comment line this often keeps idle streams open through proxies. */
    heartbeatMs: number;
  };
}

export const API_DEFAULTS: ApiConfig = {
  listen: "127.0.0.1:7070",
  auth: "tokens",
  tokens: [],
  maxBodyBytes: 65_536,
  watch: { maxBuffered: 1000, heartbeatMs: 15_000 },
};

export const apiConfigSchema: JsonSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    listen: { type: "string", minLength: 3 },
    auth: { enum: ["tokens", "none"] },
    tokens: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["name", "role"],
        properties: {
          name: { type: "string", minLength: 1 },
          role: { enum: [...ROLES] },
          sha256: { type: "string", pattern: "^[0-9a-fA-F]{64}$" },
          token: { type: "string", minLength: 16 },
          namespace: { type: "string" },
          source: { type: "string", minLength: 1 },
        },
      },
    },
    maxBodyBytes: { type: "integer", minimum: 1 },
    watch: {
      type: "object",
      additionalProperties: false,
      properties: {
        maxBuffered: { type: "integer", minimum: 1 },
        heartbeatMs: { type: "integer", minimum: 1 },
      },
    },
  },
};

/** Completes a validated `api` block with the defaults. */
export function apiWithDefaults(raw: Partial<ApiConfig>): ApiConfig {
  return {
    ...API_DEFAULTS,
    ...raw,
    tokens: raw.tokens ?? [],
    watch: { ...API_DEFAULTS.watch, ...raw.watch },
  };
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** `127.0.0.1:7070`, `[::1]:7070`, `localhost:0`. */
export function parseListen(listen: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[3]);
  const host = match?.[1] ?? match?.[2];
  if (!match || !host || port > 65_535) {
    throw new CrwatchError(
      "CRW_CONFIG_INVALID",
      `api.listen must be host:port (e.g. 127.0.0.1:7070), got "${listen}"`,
    );
  }
  return { host, port };
}

export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

/** Rules the schema cannot say: loopback for `auth: none`, at least one token otherwise. */
export function checkApiConfig(api: ApiConfig, origin: string): void {
  const { host } = parseListen(api.listen);
  if (api.auth === "none" && !isLoopback(host)) {
    throw new CrwatchError(
      "CRW_CONFIG_INVALID",
      `${origin}: api.auth none is allowed only on a loopback address, not ${host}`,
    );
  }
  if (api.auth === "tokens" && api.tokens.length === 0) {
    throw new CrwatchError(
      "CRW_CONFIG_INVALID",
      `${origin}: api.auth is tokens but api.tokens is empty (add a token, or auth: none on loopback)`,
    );
  }
  for (const [i, token] of api.tokens.entries()) {
    if ((token.sha256 === undefined) === (token.token === undefined)) {
      throw new CrwatchError(
        "CRW_CONFIG_INVALID",
        `${origin}: api.tokens[${i}] needs exactly one of sha256 or token`,
      );
    }
  }
}
