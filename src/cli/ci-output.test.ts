import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Finding } from "../model/change.js";
import { CrwatchError } from "../model/errors.js";
import { changeJson, explainText, fails, parseFailOn, parseOutput } from "./ci-output.js";

const finding = (severity: Finding["severity"]): Finding => ({
  ruleId: `r-${severity}`,
  severity,
  message: "m",
  path: "/spec",
});

describe("CI output helpers", () => {
  it("should accept the severities and none, any case, and refuse others with CRW_USAGE", () => {
    assert.equal(parseFailOn("HIGH"), "high");
    assert.equal(parseFailOn("none"), "none");
    assert.throws(
      () => parseFailOn("urgent"),
      (e) => e instanceof CrwatchError && e.code === "CRW_USAGE",
    );
    assert.equal(parseOutput("sarif", ["text", "json", "sarif"]), "sarif");
    assert.throws(() => parseOutput("sarif", ["text", "json"]), /--output must be text, json/);
  });

  it("should fail only when a finding reaches the threshold, never with none", () => {
    assert.equal(fails([finding("medium")], "high"), false);
    assert.equal(fails([finding("medium"), finding("critical")], "high"), true);
    assert.equal(fails([finding("high")], "high"), true);
    assert.equal(fails([finding("critical")], "none"), false);
    assert.equal(fails([], "info"), false);
  });

  it("should add rule beside ruleId, and the rationale only when asked", () => {
    const explain = (id: string) =>
      id === "r-high"
        ? {
            id,
            severity: "high" as const,
            origin: "builtin" as const,
            rationale: "why",
            match: "*",
          }
        : undefined;
    const plain = changeJson({ findings: [finding("high")] });
    assert.deepEqual(plain.findings, [
      { rule: "r-high", ruleId: "r-high", severity: "high", message: "m", path: "/spec" },
    ]);
    assert.equal(
      changeJson({ findings: [finding("high")] }, explain).findings[0]?.rationale,
      "why",
    );
    assert.equal(
      explainText(["r-high", "r-high", "r-low"], explain),
      "\nWhy these rules fired:\nr-high (high, builtin, *)\n  why\n",
    );
    assert.equal(explainText(["r-low"], explain), "");
  });
});
