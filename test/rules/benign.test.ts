import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { JsonObject, JsonValue } from "../../src/model/json.js";
import { createRuleEngine, RULE_FAILED } from "../../src/rules/index.js";
import { sharedDir } from "../helpers.js";
import { edited, fixtureResources, judge } from "./judge.js";

const YAML_FIXTURES = [
  "gateway-api",
  "envoy-gateway",
  "envoy-ai-gateway",
  "kong",
  "apisix",
  "litellm",
].flatMap((dir) =>
  readdirSync(join(sharedDir, "fixtures", dir))
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => `${dir}/${f}`),
);

/** Every resource of every fixture (CRDs left out: they are schemas, not gateway config). */
const resources = YAML_FIXTURES.flatMap((file) =>
  fixtureResources(file)
    .filter((r) => r.ref.kind !== "CustomResourceDefinition")
    .map((r) => ({ file, ...r })),
);

function reorderKeys(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(reorderKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reorderKeys(v)]),
  );
}

/** A label on Kubernetes objects, a tag on decK entities, a comment-like key elsewhere. */
function benignEdit(o: JsonObject): void {
  const metadata = o.metadata as JsonObject | undefined;
  if (metadata) metadata.labels = { ...((metadata.labels as JsonObject) ?? {}), team: "platform" };
  else if (Array.isArray(o.tags)) o.tags = [...o.tags, "reviewed"];
}

describe("benign edits of every fixture resource", () => {
  it("should hold resources of every ecosystem", () => {
    const groups = new Set(resources.map((r) => r.ref.group));
    for (const g of [
      "gateway.networking.k8s.io",
      "gateway.envoyproxy.io",
      "aigateway.envoyproxy.io",
      "configuration.konghq.com",
      "deck.konghq.com",
      "apisix.apache.org",
      "litellm.ai",
    ]) {
      assert.ok(groups.has(g), g);
    }
  });

  it("should find nothing when keys are reordered or a label or tag is added", () => {
    const rules = createRuleEngine({ policy: { allowedHosts: ["*"] } });
    for (const { file, ref, object } of resources) {
      const reordered = reorderKeys(object) as JsonObject;
      assert.deepEqual(
        judge(rules, ref, object, reordered),
        [],
        `${file} ${ref.kind} ${ref.name} reordered`,
      );
      assert.deepEqual(
        judge(rules, ref, object, edited(object, benignEdit)),
        [],
        `${file} ${ref.kind} ${ref.name} labelled`,
      );
    }
  });

  it("should never fail a rule on any fixture added, deleted or emptied", () => {
    const rules = createRuleEngine({
      policy: {
        allowedHosts: ["api.openai.com"],
        burst: { changes: 1000, window: "1m" },
        approvedActors: { "*": ["flux"] },
      },
    });
    for (const { file, ref, object } of resources) {
      const findings = [
        ...judge(rules, ref, null, object),
        ...judge(rules, ref, object, null),
        ...judge(rules, ref, object, { kind: object.kind ?? null }),
        ...judge(rules, ref, { kind: object.kind ?? null }, object),
      ];
      const failed = findings.filter((f) => f.message.startsWith(RULE_FAILED));
      assert.deepEqual(failed, [], `${file} ${ref.kind} ${ref.name}`);
    }
  });
});
