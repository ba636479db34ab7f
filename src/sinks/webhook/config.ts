import type { SinkCommonConfig } from "../config-schema.js";

export interface WebhookSinkConfig extends SinkCommonConfig {
  type: "webhook";
  url: string;
  /** `whsec_…` (Standard Webhooks); a list during rotation: every one signs. */
  secret?: string | string[];
  /** CloudEvents content mode (default structured). */
  mode?: "structured" | "binary";
  /** The CloudEvents `source` prefix; the change's source name is appended (default `/crwatch`). */
  source?: string;
  /** Extra request headers (an API key of a gateway in front of the receiver). */
  headers?: Record<string, string>;
}

const secret = { type: "string", minLength: 1 } as const;

export const webhookSinkSchema = {
  required: ["url"],
  properties: {
    type: { const: "webhook" },
    url: { type: "string", pattern: "^https?://" },
    secret: { oneOf: [secret, { type: "array", items: secret, minItems: 1 }] },
    mode: { enum: ["structured", "binary"] },
    source: { type: "string", minLength: 1 },
    headers: { type: "object", additionalProperties: { type: "string" } },
  },
} as const;
