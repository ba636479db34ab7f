import type { Clock } from "../../core/clock.js";
import type { Change } from "../../model/change.js";
import { HttpEndpoint, type HttpRequest } from "../http/endpoint.js";
import type { Sink } from "../sink.js";
import type { SlackSinkConfig } from "./config.js";
import { DEFAULT_TEMPLATE, escapeMrkdwn, VIEW_NAMES, viewOf } from "./message.js";
import { checkTemplate, renderTemplate } from "./template.js";

/**
 * Posts one compact message per change to a Slack incoming webhook. Slack answers 200 `ok`,
 * 4xx for a bad payload or a removed hook (410 for an archived channel), 429 with
 * `Retry-After` when rate limited: the same mapping as any HTTP endpoint.
 */
export function createSlackSink(config: SlackSinkConfig, clock: Clock): Sink {
  const template = config.template ?? DEFAULT_TEMPLATE;
  checkTemplate(template, VIEW_NAMES);
  const build = (change: Change): HttpRequest => {
    const text = renderTemplate(template, viewOf(change, config.maxDiffLines ?? 10), escapeMrkdwn);
    return {
      headers: { "content-type": "application/json; charset=utf-8" },
      body: JSON.stringify({ text }),
    };
  };
  const endpoint = new HttpEndpoint(config.url, build, clock);
  return {
    name: config.name,
    type: "slack",
    deliver: (changes, signal) => endpoint.deliver(changes, signal),
    health: () => endpoint.health(),
    async close() {},
  };
}
