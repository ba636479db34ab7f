import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { ResourceChangeType } from "../model/change.js";
import { CrwatchError } from "../model/errors.js";
import type { JsonObject } from "../model/json.js";
import type { RuleInput } from "../model/rule.js";
import { checkUserRules, createRuleEngine, RULE_FAILED } from "./engine.js";
import { toSarif } from "./sarif.js";
import { meetsSeverity } from "./severity.js";
import type { BuiltinRule } from "./types.js";

const ref = {
  source: "cluster",
  group: "gateway.networking.k8s.io",
  kind: "HTTPRoute",
  namespace: "shop",
  name: "web",
};
const route = (hostnames: string[]): JsonObject => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name: "web" },
  spec: { hostnames },
});

function input(
  before: JsonObject | null,
  after: JsonObject | null,
  extra: Partial<RuleInput> = {},
): RuleInput {
  const type: ResourceChangeType =
    before === null ? "ADDED" : after === null ? "DELETED" : "MODIFIED";
  return { type, ref, before, after, patch: [], ...extra };
}

const wildcard = {
  id: "no-wildcard-hostnames",
  match: { group: "gateway.networking.k8s.io", kind: "HTTPRoute" },
  severity: "high" as const,
  expression: "has(new.spec.hostnames) && new.spec.hostnames.exists(h, h == '*')",
  message: "{{ref}} now answers for every hostname (was {{old.spec.hostnames}})",
};

describe("user rules in CEL", () => {
  it("should fire with the rule's id, severity and a rendered message", () => {
    const rules = createRuleEngine({ rules: [wildcard], catalog: [] });
    assert.deepEqual(rules(input(route(["a.example"]), route(["*"]))), [
      {
        ruleId: "no-wildcard-hostnames",
        severity: "high",
        message: 'HTTPRoute shop/web now answers for every hostname (was ["a.example"])',
        path: "",
      },
    ]);
    assert.deepEqual(rules(input(route(["a.example"]), route(["b.example"]))), []);
  });

  it("should match by group and kind, never by version", () => {
    const rules = createRuleEngine({ rules: [wildcard], catalog: [] });
    const v1beta1 = { ...route(["*"]), apiVersion: "gateway.networking.k8s.io/v1beta1" };
    assert.equal(rules(input(null, v1beta1)).length, 1);
    assert.equal(
      rules(input(null, route(["*"]), { ref: { ...ref, kind: "GRPCRoute" } })).length,
      0,
    );
  });

  it("should see change metadata and compare whole numbers as ints", () => {
    const rules = createRuleEngine({
      catalog: [],
      rules: [
        {
          id: "weight-jump",
          severity: "medium",
          expression:
            "change.type == 'MODIFIED' && change.actor != 'flux' && new.spec.w > old.spec.w * 2",
          message: "{{kind}} {{name}} by {{actor}}: {{old.spec.w}} → {{new.spec.w}}",
          path: "/spec/w",
        },
      ],
    });
    const findings = rules(
      input({ spec: { w: 10 } }, { spec: { w: 30 } }, { actor: { name: "alice" } }),
    );
    assert.deepEqual(findings, [
      {
        ruleId: "weight-jump",
        severity: "medium",
        message: "HTTPRoute web by alice: 10 → 30",
        path: "/spec/w",
      },
    ]);
    assert.deepEqual(
      rules(input({ spec: { w: 10 } }, { spec: { w: 30 } }, { actor: { name: "flux" } })),
      [],
    );
  });

  it("should report compile errors with the rule id and position, all at once", () => {
    const bad = [
      { ...wildcard, id: "a", expression: "new.spec.hostnames.exists(h, h == '*'" },
      { ...wildcard, id: "b", expression: "1 + 'x' == 2" },
      { ...wildcard, id: "c", message: "{{nope}}" },
      { ...wildcard, id: "d", expression: "'just a string'" },
    ];
    const errors = checkUserRules(bad);
    assert.deepEqual(
      errors.map((e) => [e.index, e.id, e.field]),
      [
        [0, "a", "expression"],
        [1, "b", "expression"],
        [2, "c", "message"],
        [3, "d", "expression"],
      ],
    );
    assert.equal(errors[0]?.line, 1);
    assert.equal(errors[0]?.column, 38);
    assert.throws(
      () => createRuleEngine({ rules: bad }),
      (err: unknown) =>
        err instanceof CrwatchError &&
        err.code === "CRW_RULE_COMPILE" &&
        /rules\[0\] \(a\): expression:1:38:/.test(err.message),
    );
  });

  it("should refuse duplicate ids and unknown disabled rules", () => {
    assert.equal(checkUserRules([wildcard, wildcard])[0]?.field, "id");
    assert.throws(
      () => createRuleEngine({ policy: { disable: ["no-such-rule"] } }),
      /CRW_RULE_CONFIG|unknown rules/,
    );
  });

  it("should turn an evaluation error into a finding naming the rule", () => {
    const rules = createRuleEngine({
      catalog: [],
      rules: [{ ...wildcard, expression: "new.spec.missing.exists(h, h == '*')" }],
    });
    const [finding] = rules(input(route([]), route(["*"])));
    assert.equal(finding?.ruleId, "no-wildcard-hostnames");
    assert.equal(finding?.severity, "info");
    assert.ok(
      finding?.message.startsWith(
        `${RULE_FAILED}: rule no-wildcard-hostnames failed on HTTPRoute shop/web:`,
      ),
    );
  });
});

describe("the engine", () => {
  const boom: BuiltinRule = {
    id: "test/boom",
    severity: "high",
    match: [],
    rationale: "throws",
    check: () => {
      throw new Error("bad rule");
    },
  };

  it("should keep going when a built-in rule throws, and name it", () => {
    const rules = createRuleEngine({ catalog: [boom] });
    assert.deepEqual(rules(input(null, route([]))), [
      {
        ruleId: "test/boom",
        severity: "info",
        message: `${RULE_FAILED}: rule test/boom failed on HTTPRoute shop/web: bad rule`,
        path: "",
      },
    ]);
  });

  it("should skip rules named in policy.disable", () => {
    assert.deepEqual(
      createRuleEngine({ catalog: [boom], policy: { disable: ["test/boom"] } })(
        input(null, route([])),
      ),
      [],
    );
  });

  it("should explain every rule, built-in or user", () => {
    const rules = createRuleEngine({ rules: [{ ...wildcard, rationale: "why" }] });
    assert.equal(rules.explain("no-wildcard-hostnames")?.rationale, "why");
    const builtin = rules.explain("envoy-gateway/auth-removed");
    assert.equal(builtin?.severity, "critical");
    assert.match(builtin?.match ?? "", /SecurityPolicy\.gateway\.envoyproxy\.io/);
    for (const id of rules.ids().filter((i) => i !== "no-wildcard-hostnames")) {
      assert.ok((rules.explain(id)?.rationale.length ?? 0) > 40, `${id} has a rationale`);
    }
  });

  it("should report changes by actors outside policy.approvedActors", () => {
    const rules = createRuleEngine({
      policy: { approvedActors: { cluster: ["system:serviceaccount:flux-system:*"] } },
    });
    const change = (actor: string) =>
      rules(input(route(["a"]), route(["a", "b"]), { actor: { name: actor, via: "kubectl" } }));
    assert.deepEqual(change("system:serviceaccount:flux-system:kustomize-controller"), []);
    const [finding] = change("alice@example.com");
    assert.equal(finding?.ruleId, "generic/unapproved-actor");
    assert.match(finding?.message ?? "", /alice@example\.com via kubectl/);
    assert.deepEqual(
      rules(
        input(route(["a"]), route(["a", "b"]), {
          ref: { ...ref, source: "git" },
          actor: { name: "alice" },
        }),
      ),
      [],
    );
  });

  it("should report a burst once per window, counting in the changes' own time", () => {
    const rules = createRuleEngine({ policy: { burst: { changes: 2, window: "5m" } } });
    const at = (minute: number) =>
      rules(
        input(route(["a"]), route(["b"]), {
          observedAt: new Date(Date.UTC(2026, 0, 1, 0, minute)).toISOString(),
        }),
      ).map((f) => f.ruleId);
    assert.deepEqual(at(0), []);
    assert.deepEqual(at(1), []);
    assert.deepEqual(at(2), ["generic/change-burst"]);
    assert.deepEqual(at(3), [], "reported once per window");
    assert.deepEqual(at(20), [], "the window slid past");
  });

  it("should report bursts as counting every change would, keeping only the newest", () => {
    // The rule keeps the N+1 newest times per kind; the reference keeps all of them.
    const changes = 3;
    const windowMs = 5 * 60_000;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 60 }), (minutes) => {
        const rules = createRuleEngine({ policy: { burst: { changes, window: "5m" } } });
        const kept: number[] = [];
        let alertedAt: number | undefined;
        for (const minute of minutes) {
          const time = Date.UTC(2026, 0, 1, 0, minute);
          const all = kept.filter((t) => t > time - windowMs);
          kept.length = 0;
          kept.push(...all, time);
          let expected = kept.length > changes;
          if (expected && alertedAt !== undefined && time - alertedAt < windowMs) expected = false;
          if (expected) alertedAt = time;
          const fired = rules(
            input(route(["a"]), route(["b"]), { observedAt: new Date(time).toISOString() }),
          ).some((f) => f.ruleId === "generic/change-burst");
          assert.equal(fired, expected, `at minute ${minute} of ${minutes.join(",")}`);
        }
      }),
      { numRuns: 500, seed: 20261130 },
    );
  });

  it("should run only single-state rules in lint mode", () => {
    const rules = createRuleEngine({ singleState: true, rules: [wildcard] });
    assert.ok(
      rules
        .ids()
        .every((id) => id !== "no-wildcard-hostnames" && rules.explain(id)?.origin === "builtin"),
    );
    const cors = {
      spec: {
        rules: [
          { filters: [{ type: "CORS", cors: { allowOrigins: ["*"], allowCredentials: true } }] },
        ],
      },
    };
    assert.deepEqual(
      rules(input(null, cors)).map((f) => `${f.ruleId} ${f.severity}`),
      ["gateway-api/cors-any-origin critical"],
    );
  });
});

describe("SARIF and --fail-on helpers", () => {
  it("should map severities to SARIF levels and carry file, line and path", () => {
    const rules = createRuleEngine();
    const finding = {
      ruleId: "envoy-gateway/auth-removed",
      severity: "critical" as const,
      message: "m",
      path: "/spec/jwt",
    };
    const log = toSarif(
      [{ finding, resource: "SecurityPolicy ns/p", file: "a.yaml", line: 7 }],
      rules.explain,
    ) as {
      runs: {
        results: {
          level: string;
          locations: { physicalLocation: { region: { startLine: number } } }[];
        }[];
        tool: { driver: { rules: { id: string }[] } };
      }[];
    };
    const run = log.runs[0];
    assert.equal(run?.results[0]?.level, "error");
    assert.equal(run?.results[0]?.locations[0]?.physicalLocation.region.startLine, 7);
    assert.deepEqual(
      run?.tool.driver.rules.map((r) => r.id),
      ["envoy-gateway/auth-removed"],
    );
    assert.ok(meetsSeverity([finding], "high"));
    assert.ok(!meetsSeverity([{ ...finding, severity: "medium" }], "high"));
  });
});
