import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { offlineDiff } from "../../src/compose/offline-diff.js";
import { loadConfig } from "../../src/config/load.js";
import type { Change } from "../../src/model/change.js";
import { sharedDir } from "../helpers.js";

const KONG = join(sharedDir, "fixtures", "kong");
const BEFORE = join(KONG, "konnect-workspace-with-multiple-entities.yaml");
const AFTER = join(KONG, "konnect-workspace-with-multiple-entities-updated.yaml");

/** A user rule that proves ingest hands rules the change's time. */
const SEEN = {
  id: "seen",
  severity: "info" as const,
  expression: "change.observedAt != '' && change.source == 'deck'",
  message: "{{type}} {{kind}} seen",
  on: ["DELETED" as const],
};

/** The changes from BEFORE to AFTER through the real pipeline (as `crwatch diff` runs it). */
async function changes(): Promise<Change[]> {
  const config = await loadConfig({ env: {} });
  config.rules = [SEEN];
  config.maskKey = "deck-pair-mask-key-0123";
  return offlineDiff(config, BEFORE, AFTER, "deck");
}

describe("the decK before/after pair in shared/fixtures/kong", () => {
  it("should give one change per entity that changed, with findings and masked credentials", async () => {
    const all = await changes();
    const byRef = new Map(all.map((c) => [`${c.type} ${c.ref.kind}/${c.ref.name}`, c]));
    const plugin = byRef.get("MODIFIED Plugin/rate-limiting@route:route-multi-entity-1");
    assert.deepEqual(plugin?.summary, ["config.minute: 10 → 20"]);
    assert.deepEqual(
      plugin?.findings.map((f) => [f.ruleId, f.severity, f.path]),
      [["kong/rate-limit-weakened", "medium", "/config/minute"]],
    );
    const route = byRef.get("MODIFIED Route/route-multi-entity-1");
    assert.deepEqual(
      route?.summary.sort(),
      [
        "https_redirect_status_code: 301 → 302",
        'paths[0]: "/route-multi-entity-1" → "/route-multi-entity-1-updated"',
      ].sort(),
    );
    assert.deepEqual(
      byRef.get("DELETED Route/route-multi-entity-2")?.findings.map((f) => f.message),
      ["DELETED Route seen"],
    );
    assert.ok(byRef.has("ADDED Route/route-multi-entity-3"));
    assert.ok(byRef.has("DELETED Certificate/13c562a1-191c-4464-9b18-e5222b46035b"));
    assert.ok(byRef.has("MODIFIED Upstream/upstream1"));
    assert.ok(!byRef.has("MODIFIED Service/mock1"), "the service did not change");
    const consumer = byRef.get("MODIFIED Consumer/test_consumer_3x");
    assert.ok(consumer, "credentials rotated: one consumer change");
    const secretPaths = consumer.findings
      .filter((f) => f.ruleId === "generic/secret-changed")
      .map((f) => f.path);
    for (const path of [
      "/basicauth_credentials/0/password",
      "/keyauth_credentials/0/key",
      "/jwt_secrets/0/secret",
    ]) {
      assert.ok(secretPaths.includes(path), `${path} in ${JSON.stringify(secretPaths)}`);
    }
    const text = JSON.stringify(all);
    for (const secret of [
      "basic_pass_updated",
      "test-api-key-updated",
      "test-jwt-secret-updated",
      "basic_pass",
      "test-jwt-secret",
    ]) {
      assert.ok(!text.includes(secret), `${secret} is masked`);
      assert.ok(
        !text.includes(Buffer.from(secret).toString("base64")),
        `${secret} (base64) is masked`,
      );
    }
    assert.ok(
      all.every((c) => c.ref.group === "deck.konghq.com" && c.ref.namespace === "test-workspace"),
    );
  });

  it("should read both files as decK (the pair is what the test says it is)", () => {
    for (const f of [BEFORE, AFTER])
      assert.match(readFileSync(f, "utf8"), /^_format_version: "3.0"/m);
  });
});
