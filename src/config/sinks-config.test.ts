import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir } from "../../test/helpers.js";
import { systemClock } from "../core/clock.js";
import { CrwatchError } from "../model/errors.js";
import { SINK_TYPES } from "../sinks/registry.js";
import { loadConfig } from "./load.js";

/** The sinks block of issue 11, as users will write it. */
const ISSUE_CONFIG = `
sinks:
  - name: hook
    type: webhook
    url: https://hooks.example.org/crwatch
    secret: "\${WEBHOOK_SECRET}"
    filter: { minSeverity: medium }
  - { name: chat, type: slack, url: "\${SLACK_WEBHOOK_URL}" }
  - { name: bus, type: nats, url: nats://127.0.0.1:4222, stream: CRWATCH,
      subject: "crwatch.{source}.{group}.{kind}" }
  - { name: mq, type: amqp, url: amqp://guest:guest@127.0.0.1:5672,
      exchange: crwatch, routingKey: "{source}.{kind}" }
`;

const ENV = {
  WEBHOOK_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  SLACK_WEBHOOK_URL: "https://hooks.slack.com/services/T0/B0/X",
};

describe("sink entries in crwatch.yaml", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let n = 0;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => dir.cleanup());

  async function load(text: string, env: NodeJS.ProcessEnv = ENV) {
    n += 1;
    const configPath = join(dir.path, `c${n}.yaml`);
    await writeFile(configPath, text);
    return loadConfig({ configPath, env });
  }

  it("should accept the issue's config shape and build every sink without connecting", async () => {
    const config = await load(ISSUE_CONFIG);
    assert.deepStrictEqual(
      config.sinks.map((s) => s.type),
      ["webhook", "slack", "nats", "amqp"],
    );
    const deps = { stdout: process.stdout, clock: systemClock };
    for (const entry of config.sinks) {
      const sink = SINK_TYPES.find((t) => t.type === entry.type)!.create(entry, deps);
      assert.equal(sink.name, entry.name);
      await sink.close();
    }
  });

  it("should accept a NATS stream block to create and a webhook secret rotation list", async () => {
    const config = await load(`
sinks:
  - { name: bus, type: nats, url: nats://127.0.0.1:4222,
      stream: { name: CRWATCH, subjects: ["crwatch.>"], create: true, replicas: 1 } }
  - { name: hook, type: webhook, url: "http://127.0.0.1:1/x", mode: binary,
      secret: ["\${WEBHOOK_SECRET}", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"] }
`);
    assert.equal(config.sinks.length, 2);
  });

  it("should refuse a sink without its url, an unknown mode and an unknown key", async () => {
    for (const text of [
      "sinks: [{name: hook, type: webhook}]",
      "sinks: [{name: hook, type: webhook, url: 'http://x', mode: batch}]",
      "sinks: [{name: mq, type: amqp, url: 'amqp://x', exchange: e, queue: q}]",
      "sinks: [{name: bus, type: nats, url: 'http://x'}]",
    ]) {
      await assert.rejects(
        load(text),
        (err: unknown) => err instanceof CrwatchError && err.code === "CRW_CONFIG_INVALID",
        text,
      );
    }
  });

  it("should name an unset secret variable", async () => {
    await assert.rejects(
      load(ISSUE_CONFIG, {}),
      (err: unknown) => err instanceof CrwatchError && err.code === "CRW_CONFIG_ENV",
    );
  });
});
