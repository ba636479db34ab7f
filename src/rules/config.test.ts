import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Ajv } from "ajv";
import { parse } from "yaml";
import { policySchema, rulesSchema } from "./config.js";

const EXAMPLE = `
rules:
  - id: no-wildcard-hostnames
    match: { group: gateway.networking.k8s.io, kind: HTTPRoute }
    severity: high
    expression: "has(new.spec.hostnames) && new.spec.hostnames.exists(h, h == '*')"
    message: "{{ref}} now answers for every hostname"
policy:
  allowedHosts: ["api.openai.com", "*.internal.example.org"]
  approvedActors: { cluster: ["system:serviceaccount:flux-system:*"] }
  protected: { labels: { "crwatch.io/protected": "true" } }
  burst: { changes: 20, window: 5m }
  disable: [rule-id]
`;

describe("rules and policy schema fragments", () => {
  const ajv = new Ajv({ allErrors: true });
  const schema = { type: "object", properties: { rules: rulesSchema, policy: policySchema } };
  const validate = ajv.compile(schema);

  it("should accept the issue's example", () => {
    assert.ok(validate(parse(EXAMPLE)), JSON.stringify(validate.errors));
  });

  it("should refuse a bad severity, a bad window and unknown keys", () => {
    const bad = parse(EXAMPLE);
    bad.rules[0].severity = "severe";
    bad.policy.burst.window = "five minutes";
    bad.policy.extra = true;
    assert.ok(!validate(bad));
    assert.deepEqual(validate.errors?.map((e) => e.instancePath).sort(), [
      "/policy",
      "/policy/burst/window",
      "/rules/0/severity",
    ]);
  });
});
