import { CrwatchError } from "../../model/errors.js";
import { durationSchema, parseDuration } from "../http/config.js";

/**
 * Settings of a `webhook` source: a listener that other systems POST signed changes to
 * (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`).
 */
export interface WebhookSourceConfig {
  name: string;
  type: "webhook";
  /** `host:port` to listen on (`127.0.0.1:7073`, `[::1]:7073`, `0.0.0.0:7073`). */
  listen: string;
  /** `whsec_<base64>` (the prefix is optional), usually `${PUSH_SECRET}`. */
  secret: string;
  /** The request path pushes go to; default `/`. */
  path?: string;
  /** Larger bodies are refused with 413; default 1 MiB. */
  maxBodyBytes?: number;
  /** How far a signature's timestamp may be from now, either way; default 5m. */
  tolerance?: string | number;
}

export interface ResolvedWebhookSourceConfig
  extends Required<Omit<WebhookSourceConfig, "tolerance">> {
  host: string;
  port: number;
  toleranceMs: number;
}

export function withWebhookDefaults(config: WebhookSourceConfig): ResolvedWebhookSourceConfig {
  const { host, port } = parseListen(config.listen, config.name);
  return {
    name: config.name,
    type: "webhook",
    listen: config.listen,
    secret: config.secret,
    path: config.path ?? "/",
    maxBodyBytes: config.maxBodyBytes ?? 1024 * 1024,
    host,
    port,
    toleranceMs: parseDuration(config.tolerance ?? "5m", `sources.${config.name}.tolerance`),
  };
}

function parseListen(listen: string, name: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[2]);
  if (!match || port > 65535) {
    throw new CrwatchError(
      "CRW_CONFIG_INVALID",
      `sources.${name}.listen must be host:port, e.g. 127.0.0.1:7073 (got ${JSON.stringify(listen)})`,
    );
  }
  const host = match[1]!.replace(/^\[|\]$/g, "");
  return { host: host || "0.0.0.0", port };
}

/** JSON Schema of one `webhook` entry in crwatch.yaml. */
export const webhookSourceSchema = {
  type: "object",
  additionalProperties: false,
  required: ["name", "type", "listen", "secret"],
  properties: {
    name: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$", maxLength: 63 },
    type: { const: "webhook" },
    listen: { type: "string", pattern: "^(\\[[^\\]]+\\]|[^:]*):\\d{1,5}$" },
    secret: { type: "string", pattern: "^(whsec_)?[A-Za-z0-9+/]{16,}={0,2}$" },
    path: { type: "string", pattern: "^/" },
    maxBodyBytes: { type: "integer", minimum: 1 },
    tolerance: durationSchema,
  },
} as const;
