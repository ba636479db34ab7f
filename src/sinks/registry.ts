import { resolve } from "node:path";
import type { Clock } from "../core/clock.js";
import type { ComponentType } from "../model/component.js";
import { type AmqpSinkConfig, amqpSinkSchema } from "./amqp/config.js";
import { createAmqpSink } from "./amqp/sink.js";
import { sinkEntrySchema } from "./config-schema.js";
import type { ConsoleSinkConfig } from "./console/config.js";
import { consoleSinkSchema } from "./console/config.js";
import { createConsoleSink } from "./console/sink.js";
import { type JsonlSinkConfig, jsonlSinkSchema } from "./jsonl/config.js";
import { createJsonlSink } from "./jsonl/sink.js";
import { type NatsSinkConfig, natsSinkSchema } from "./nats/config.js";
import { createNatsSink } from "./nats/sink.js";
import type { Sink } from "./sink.js";
import { type SlackSinkConfig, slackSinkSchema } from "./slack/config.js";
import { createSlackSink } from "./slack/sink.js";
import { type WebhookSinkConfig, webhookSinkSchema } from "./webhook/config.js";
import { createWebhookSink } from "./webhook/sink.js";

export interface SinkDeps {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  clock: Clock;
}

export type SinkConfig =
  | ConsoleSinkConfig
  | JsonlSinkConfig
  | WebhookSinkConfig
  | SlackSinkConfig
  | NatsSinkConfig
  | AmqpSinkConfig;

export type SinkType<C extends SinkConfig = SinkConfig> = ComponentType<C, SinkDeps, Sink>;

const consoleSink: SinkType<ConsoleSinkConfig> = {
  type: "console",
  schema: sinkEntrySchema(consoleSinkSchema),
  create: (config, deps) => createConsoleSink(config, deps.stdout),
};

const jsonlSink: SinkType<JsonlSinkConfig> = {
  type: "jsonl",
  schema: sinkEntrySchema(jsonlSinkSchema),
  resolvePaths: (config, baseDir) =>
    config.path && config.path !== "-"
      ? { ...config, path: resolve(baseDir, config.path) }
      : config,
  create: (config, deps) => createJsonlSink(config, deps.stdout),
};

const webhookSink: SinkType<WebhookSinkConfig> = {
  type: "webhook",
  schema: sinkEntrySchema(webhookSinkSchema),
  create: (config, deps) => createWebhookSink(config, deps.clock),
};

const slackSink: SinkType<SlackSinkConfig> = {
  type: "slack",
  schema: sinkEntrySchema(slackSinkSchema),
  create: (config, deps) => createSlackSink(config, deps.clock),
};

const natsSink: SinkType<NatsSinkConfig> = {
  type: "nats",
  schema: sinkEntrySchema(natsSinkSchema),
  create: (config) => createNatsSink(config),
};

const amqpSink: SinkType<AmqpSinkConfig> = {
  type: "amqp",
  schema: sinkEntrySchema(amqpSinkSchema),
  create: (config) => createAmqpSink(config),
};

/** Sink types as data: the config schema is composed from this list, the root builds from it. */
export const SINK_TYPES = [
  consoleSink,
  jsonlSink,
  webhookSink,
  slackSink,
  natsSink,
  amqpSink,
] as readonly SinkType[];
