import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { loadConfig } from "../../src/config/load.js";
import { type Crwatch, startCrwatch } from "../../src/main.js";
import type { Change } from "../../src/model/change.js";
import { FakeKong } from "../fake-admin-apis.js";
import { tempDir, waitFor } from "../helpers.js";

const TOKEN = "kong-admin-e2e-s3cret";

/**
 * The whole path through the composition root: crwatch.yaml with `type: http` and a
 * `${VAR}` token → the source polls a local fake Kong → ingest → SQLite, with real time.
 */
describe("crwatch with a polled Kong admin API", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let kong: FakeKong;
  let crwatch: Crwatch;

  const changes = (): Promise<Change[]> => crwatch.store.readChanges({ refContains: "kong-prod:" });
  const waitForChange = (what: string, match: (c: Change) => boolean) =>
    waitFor(async () => (await changes()).find(match), 15_000, what);

  before(async () => {
    tmp = await tempDir("crwatch-poll-e2e-");
    kong = new FakeKong(["kong-admin-token", TOKEN]);
    const shop = kong.addService("shop");
    const route = kong.addRoute("shop-route", shop);
    kong.addRoute("legacy-route", shop);
    kong.addPlugin("rate-limiting", { route }, { minute: 20, policy: "local" });
    kong.addConsumer("alice");
    const url = await kong.start();
    const configPath = join(tmp.path, "crwatch.yaml");
    await writeFile(
      configPath,
      [
        "store: { path: ./data }",
        "sources:",
        "  - name: kong-prod",
        "    type: http",
        "    preset: kong",
        `    url: ${url}`,
        '    token: "${KONG_ADMIN_TOKEN}"',
        "    interval: 100ms",
        "sinks:",
        "  - { name: audit, type: jsonl, path: ./changes.jsonl }",
        "",
      ].join("\n"),
    );
    const config = await loadConfig({ configPath, env: { KONG_ADMIN_TOKEN: TOKEN } });
    crwatch = await startCrwatch(config, { log: pino({ level: "silent" }) });
    await crwatch.ready();
  });

  after(async () => {
    await crwatch.stop();
    await kong.stop();
    await tmp.cleanup();
  });

  it("should record every entity ADDED under its decK ref", async () => {
    await waitFor(async () => (await changes()).length >= 5, 15_000, "five ADDED");
    const refs = (await changes()).map((c) => `${c.type} ${c.ref.kind} ${c.ref.name}`).sort();
    assert.deepStrictEqual(refs, [
      "ADDED Consumer alice",
      "ADDED Plugin rate-limiting@route:shop-route",
      "ADDED Route legacy-route",
      "ADDED Route shop-route",
      "ADDED Service shop",
    ]);
    assert.ok((await changes()).every((c) => c.ref.group === "deck.konghq.com"));
  });

  it("should record an edit as MODIFIED with its patch, and a removal as DELETED", async () => {
    (kong.list("plugins")[0]!.config as Record<string, unknown>).minute = 50;
    kong.remove("routes", "legacy-route");
    const modified = await waitForChange("the MODIFIED plugin", (c) => c.type === "MODIFIED");
    assert.deepStrictEqual(modified.patch, [{ op: "replace", path: "/config/minute", value: 50 }]);
    assert.equal(modified.cause?.kind, "poll");
    const deleted = await waitForChange("the DELETED route", (c) => c.type === "DELETED");
    assert.equal(deleted.ref.name, "legacy-route");
  });

  it("should delete nothing while a list fails, show it in health, and write a GAP", async () => {
    kong.fail(
      "/plugins",
      { status: 500, body: '{"message":"An unexpected error occurred"}' },
      1_000_000,
    );
    kong.remove("plugins", "rate-limiting");
    const gap = await waitForChange("the GAP", (c) => c.type === "GAP");
    assert.equal(gap.notice?.code, "CRW_SOURCE_DOWN");
    const health = (await crwatch.store.listSourceHealth()).find((h) => h.source === "kong-prod");
    assert.equal(health?.status, "degraded");
    assert.match(health?.message ?? "", /plugins: GET .* answered 500/);
    assert.ok(!(await changes()).some((c) => c.type === "DELETED" && c.ref.kind === "Plugin"));
    kong.clearFaults();
    await waitForChange(
      "the plugin's deletion after recovery",
      (c) => c.type === "DELETED" && c.ref.kind === "Plugin",
    );
    const all = JSON.stringify(await crwatch.store.readChanges({}));
    assert.ok(!all.includes(TOKEN), "the token is nowhere in the log");
    assert.equal((await crwatch.store.verify()).ok, true);
  });
});
