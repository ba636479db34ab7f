import type { Clock } from "../../core/clock.js";
import type { Change } from "../../model/change.js";
import { HttpEndpoint, type HttpRequest } from "../http/endpoint.js";
import type { Sink } from "../sink.js";
import { binary, cloudEventOf, structured } from "./cloudevent.js";
import type { WebhookSinkConfig } from "./config.js";
import { keyOf, standardWebhookHeaders } from "./signature.js";

/**
 * POSTs each change as a CloudEvent, signed per Standard Webhooks. `webhook-id` and the
 * event `id` are the change id, so a redelivery is recognisable; the timestamp is the time
 * of this attempt (receivers reject stale ones), from the injected clock.
 */
export function createWebhookSink(config: WebhookSinkConfig, clock: Clock): Sink {
  const secrets = config.secret === undefined ? [] : [config.secret].flat();
  const keys = secrets.map(keyOf);
  const encode = config.mode === "binary" ? binary : structured;
  const build = (change: Change): HttpRequest => {
    const { headers, body } = encode(cloudEventOf(change, config.source ?? "/crwatch"));
    const timestamp = Math.floor(clock.now() / 1000);
    return {
      headers: {
        ...config.headers,
        ...headers,
        ...standardWebhookHeaders(keys, change.id, timestamp, body),
      },
      body,
    };
  };
  const endpoint = new HttpEndpoint(config.url, build, clock);
  return {
    name: config.name,
    type: "webhook",
    deliver: (changes, signal) => endpoint.deliver(changes, signal),
    health: () => endpoint.health(),
    async close() {},
  };
}
