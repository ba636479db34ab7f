import { performance } from "node:perf_hooks";
import { diff } from "../src/core/diff.js";
import type { RuleInput } from "../src/model/rule.js";
import { createRuleEngine } from "../src/rules/index.js";
import { makeRoute } from "./objects.js";

const CHANGES = Number(process.env.BENCH_RULES_CHANGES ?? 20_000);

/**
 * The catalog's cost per change, alone: MODIFIED HTTPRoute-like changes (a traffic shift
 * each) judged by the whole catalog, beside a user CEL rule alone, beside nothing (the
 * loop and input building), all on the same precomputed inputs.
 */
export async function rulesScenario(): Promise<Record<string, unknown>> {
  const inputs: RuleInput[] = Array.from({ length: CHANGES }, (_, n) => {
    const before = makeRoute(n % 1000, n);
    const after = makeRoute(n % 1000, n + 1);
    const ref = {
      source: "bench",
      group: "gateway.networking.k8s.io",
      kind: "HTTPRoute",
      namespace: "bench",
      name: `route-${n % 1000}`,
    };
    return {
      type: "MODIFIED",
      ref,
      before,
      after,
      patch: diff(before, after),
      observedAt: new Date(n * 1000).toISOString(),
    };
  });
  const catalog = createRuleEngine();
  const cel = createRuleEngine({
    catalog: [],
    rules: [
      {
        id: "cel",
        severity: "high",
        expression: "has(new.spec.hostnames) && new.spec.hostnames.exists(h, h == '*')",
        message: "{{ref}}",
      },
    ],
  });
  const time = (run: (i: RuleInput) => unknown) => {
    const t0 = performance.now();
    let findings = 0;
    for (const input of inputs) findings += (run(input) as unknown[]).length;
    return { perChangeUs: Math.round(((performance.now() - t0) * 1000) / CHANGES), findings };
  };
  return {
    scenario: "rules",
    changes: CHANGES,
    builtinRules: catalog.ids().length,
    catalog: time(catalog),
    celRule: time(cel),
    baseline: time(() => []),
  };
}
