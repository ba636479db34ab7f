import type { SinkCommonConfig } from "../config-schema.js";

export interface NatsStreamConfig {
  name: string;
  /** Subjects the stream captures when crwatch creates it (default: the template's prefix + `.>`). */
  subjects?: string[];
  /** Create the stream at connect when it does not exist (file storage). */
  create?: boolean;
  /** Replicas when created (1 on a single server; 3 on a cluster for durability). */
  replicas?: number;
  /** De-duplication window by `Nats-Msg-Id` when created, ms (default 2 minutes, the server's). */
  duplicateWindowMs?: number;
}

export interface NatsSinkConfig extends SinkCommonConfig {
  type: "nats";
  /** One server URL or a comma-separated list: `nats://127.0.0.1:4222`. */
  url: string;
  /** The stream that must store each message: a name (it must exist) or a block to create it. */
  stream?: string | NatsStreamConfig;
  /** Subject template over the ref: `{source}`, `{group}`, `{kind}`, `{namespace}`, `{name}`, `{type}`. */
  subject?: string;
  /** Publish-ack wait, ms (default 5000). */
  ackTimeoutMs?: number;
  user?: string;
  pass?: string;
  token?: string;
}

export const DEFAULT_SUBJECT = "crwatch.{source}.{group}.{kind}";

export const natsSinkSchema = {
  required: ["url"],
  properties: {
    type: { const: "nats" },
    url: { type: "string", pattern: "^(nats|tls|ws|wss)://" },
    stream: {
      oneOf: [
        { type: "string", pattern: "^[A-Za-z0-9_-]+$" },
        {
          type: "object",
          additionalProperties: false,
          required: ["name"],
          properties: {
            name: { type: "string", pattern: "^[A-Za-z0-9_-]+$" },
            subjects: { type: "array", items: { type: "string", minLength: 1 }, minItems: 1 },
            create: { type: "boolean" },
            replicas: { type: "integer", minimum: 1, maximum: 5 },
            duplicateWindowMs: { type: "integer", minimum: 1000 },
          },
        },
      ],
    },
    subject: { type: "string", minLength: 1 },
    ackTimeoutMs: { type: "integer", minimum: 1 },
    user: { type: "string" },
    pass: { type: "string" },
    token: { type: "string" },
  },
} as const;
