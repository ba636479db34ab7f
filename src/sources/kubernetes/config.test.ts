import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { kindKey, parseDuration, parseKind, withKubernetesDefaults } from "./config.js";

describe("kubernetes config", () => {
  it("should read group/Kind and v1/Kind (the core group)", () => {
    assert.deepStrictEqual(parseKind("gateway.networking.k8s.io/HTTPRoute"), {
      group: "gateway.networking.k8s.io",
      kind: "HTTPRoute",
    });
    assert.deepStrictEqual(parseKind("v1/Secret"), { group: "", kind: "Secret" });
    assert.equal(kindKey(parseKind("v1/Secret")), "Secret");
    assert.equal(
      kindKey(parseKind("configuration.konghq.com/KongPlugin")),
      "KongPlugin.configuration.konghq.com",
    );
  });

  it("should read durations and fill defaults, dropping duplicate kinds", () => {
    assert.equal(parseDuration("250ms"), 250);
    assert.equal(parseDuration("5m"), 300_000);
    assert.throws(() => parseDuration("5 minutes"));
    const resolved = withKubernetesDefaults({
      name: "c",
      type: "kubernetes",
      resources: ["v1/Secret", "v1/Secret"],
    });
    assert.equal(resolved.kinds.length, 1);
    assert.equal(resolved.stallTimeoutMs, 300_000);
    assert.equal(resolved.discoveryIntervalMs, 30_000);
    assert.equal(resolved.pageSize, 500);
  });
});
