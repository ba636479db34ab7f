import type { SinkCommonConfig } from "../config-schema.js";

export interface AmqpSinkConfig extends SinkCommonConfig {
  type: "amqp";
  /** `amqp://user:pass@host:5672/vhost`: holds a password, write it as `${AMQP_URL}`. */
  url: string;
  exchange: string;
  /** Declared (durable) at connect unless `declare: false` (default topic). */
  exchangeType?: "topic" | "direct" | "fanout" | "headers";
  declare?: boolean;
  /** Routing-key template over the ref: `{source}`, `{group}`, `{kind}`, `{namespace}`, `{name}`, `{type}`. */
  routingKey?: string;
}

export const DEFAULT_ROUTING_KEY = "{source}.{kind}";

export const amqpSinkSchema = {
  required: ["url", "exchange"],
  properties: {
    type: { const: "amqp" },
    url: { type: "string", pattern: "^amqps?://" },
    exchange: { type: "string", maxLength: 255 },
    exchangeType: { enum: ["topic", "direct", "fanout", "headers"] },
    declare: { type: "boolean" },
    routingKey: { type: "string", minLength: 1 },
  },
} as const;
