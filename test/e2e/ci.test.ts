import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sharedDir, tempDir } from "../helpers.js";
import { cli } from "./process.js";

const fixtures = join(sharedDir, "fixtures");
const SEVERITIES = ["info", "low", "medium", "high", "critical"];

interface JsonFinding {
  rule: string;
  ruleId: string;
  severity: string;
  message: string;
  path: string;
  line?: number;
  rationale?: string;
}

interface SarifResult {
  ruleId: string;
  level: string;
  message: { text: string };
  locations: {
    physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } };
  }[];
}

/** The shape GitHub code scanning needs of a SARIF 2.1.0 log. */
function assertSarif(text: string): SarifResult[] {
  const sarif = JSON.parse(text);
  assert.equal(sarif.version, "2.1.0");
  assert.match(sarif.$schema, /sarif-2\.1\.0/);
  assert.equal(sarif.runs.length, 1);
  assert.equal(sarif.runs[0].tool.driver.name, "crwatch");
  const ruleIds = new Set(sarif.runs[0].tool.driver.rules.map((r: { id: string }) => r.id));
  const results = sarif.runs[0].results as SarifResult[];
  for (const r of results) {
    assert.ok(ruleIds.has(r.ruleId), `${r.ruleId} is described in tool.driver.rules`);
    assert.ok(["note", "warning", "error"].includes(r.level));
    assert.ok(r.message.text.length > 0);
    const loc = r.locations[0]!.physicalLocation;
    assert.ok(loc.artifactLocation.uri.length > 0);
    assert.ok(!loc.artifactLocation.uri.startsWith("/"), "uri is relative to the checkout");
    assert.ok(Number.isInteger(loc.region.startLine) && loc.region.startLine >= 1);
  }
  return results;
}

const SECURITY_POLICY = (auth: string) => `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata:
  name: shop-auth
  namespace: shop
  labels:
    team: shop
spec:
  targetRefs:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      name: storefront
${auth}`;

const BASIC_AUTH = `  basicAuth:
    users:
      name: shop-users
`;

describe("crwatch diff for CI", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let before_: string;
  let authRemoved: string;
  let relabelled: string;

  before(async () => {
    tmp = await tempDir("crwatch-ci-diff-");
    before_ = join(tmp.path, "before");
    authRemoved = join(tmp.path, "auth-removed");
    relabelled = join(tmp.path, "relabelled");
    for (const [dir, text] of [
      [before_, SECURITY_POLICY(BASIC_AUTH)],
      [authRemoved, SECURITY_POLICY("")],
      [relabelled, SECURITY_POLICY(BASIC_AUTH).replace("team: shop", "team: storefront")],
    ] as const) {
      await mkdir(dir);
      await writeFile(join(dir, "policy.yaml"), text);
    }
  });
  after(async () => tmp.cleanup());

  it("should exit 0 without --fail-on and 1 when a finding reaches it", () => {
    assert.equal(cli(["diff", before_, authRemoved]).status, 0);
    const r = cli(["diff", before_, authRemoved, "--fail-on", "high"]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /envoy-gateway\/auth-removed/);
  });

  it("should exit 0 when no finding reaches --fail-on (a benign label edit)", () => {
    const r = cli(["diff", before_, relabelled, "--fail-on", "info", "--output", "json"]);
    assert.equal(r.status, 0, r.stderr);
    const [change] = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(change.type, "MODIFIED");
    assert.deepEqual(change.findings, []);
  });

  it("should exit 2 for a bad severity, a missing path, a bad config or a bad --output", async () => {
    const badConfig = join(tmp.path, "bad.yaml");
    await writeFile(badConfig, "rules:\n  - id: x\n    severity: urgent\n");
    for (const [args, code] of [
      [["--fail-on", "urgent"], "CRW_USAGE"],
      [["--output", "xml"], "CRW_USAGE"],
      [["--config", badConfig], "CRW_CONFIG_INVALID"],
      [["--config", join(tmp.path, "absent.yaml")], "CRW_CONFIG_NOT_FOUND"],
    ] as const) {
      const r = cli(["diff", before_, authRemoved, ...args]);
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(code));
    }
    const missing = cli(["diff", before_, join(tmp.path, "nowhere")]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /CRW_DIFF_INPUT/);
  });

  it("should print changes as JSON with findings carrying rule, severity, message and path", () => {
    const r = cli(["diff", before_, authRemoved, "--output", "json"]);
    const changes = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(changes.length, 1);
    const findings = changes[0].findings as JsonFinding[];
    const removed = findings.find((f) => f.rule === "envoy-gateway/auth-removed");
    assert.ok(removed, JSON.stringify(findings));
    assert.equal(removed.ruleId, removed.rule, "ruleId stays for readers of the stored shape");
    assert.equal(removed.severity, "critical");
    assert.equal(removed.path, "/spec/basicAuth");
    assert.match(removed.message, /shop\/shop-auth/);
    for (const f of findings) assert.ok(SEVERITIES.includes(f.severity));
    assert.equal(removed.rationale, undefined, "rationale only with --explain");
  });

  it("should print SARIF 2.1.0 with the level mapped from the severity and a file and line", () => {
    const r = cli(["diff", before_, authRemoved, "--output", "sarif"], tmp.path);
    assert.equal(r.status, 0, r.stderr);
    const results = assertSarif(r.stdout);
    const removed = results.find((x) => x.ruleId === "envoy-gateway/auth-removed");
    assert.ok(removed);
    assert.equal(removed.level, "error");
    assert.equal(
      removed.locations[0]!.physicalLocation.artifactLocation.uri,
      "auth-removed/policy.yaml",
    );
  });

  it("should print each fired rule's rationale with --explain", () => {
    const text = cli(["diff", before_, authRemoved, "--explain"]);
    assert.match(text.stdout, /Why these rules fired:/);
    assert.match(text.stdout, /envoy-gateway\/auth-removed \(critical, builtin/);
    assert.match(text.stdout, /keeps anonymous callers out/);
    const json = cli(["diff", before_, authRemoved, "--explain", "--output", "json"]);
    const [change] = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.ok(change.findings.every((f: JsonFinding) => (f.rationale ?? "").length > 0));
  });
});

describe("crwatch lint for CI", () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let broken: string;

  before(async () => {
    tmp = await tempDir("crwatch-ci-lint-");
    const example = await readFile(join(fixtures, "gateway-api", "traffic-split-2.yaml"), "utf8");
    assert.match(example, /port: 8080/);
    broken = join(tmp.path, "broken.yaml");
    await writeFile(broken, example.replace("port: 8080", 'port: "eighty"'));
  });
  after(async () => tmp.cleanup());

  it("should find every example in the shared fixtures valid against its CRD", () => {
    const r = cli([
      "lint",
      fixtures,
      "--schemas",
      fixtures,
      "--output",
      "json",
      "--fail-on",
      "none",
    ]);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    const schemaFindings = report.results.flatMap((x: { findings: JsonFinding[] }) =>
      x.findings.filter((f) => f.rule === "crd/schema" || f.rule.startsWith("CRW_")),
    );
    assert.deepEqual(schemaFindings, []);
    assert.ok(report.summary.crds >= 15, `CRDs loaded: ${report.summary.crds}`);
    assert.ok(report.summary.validated >= 40, `validated: ${report.summary.validated}`);
    // Kinds with no CRD among the fixtures (Secrets, decK entities …) are counted, not judged.
    assert.ok(report.summary.unknownKinds["v1, Kind=Secret"] > 0);
  });

  it("should report a schema error with file, line, document and JSON path, and exit 1", () => {
    const r = cli(["lint", broken, "--schemas", join(fixtures, "gateway-api")], tmp.path);
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stdout,
      /^broken\.yaml:16: document 0 HTTPRoute foo-route: \[high\] crd\/schema: HTTPRoute foo-route \/spec\/rules\/0\/backendRefs\/0\/port: must be integer$/m,
    );
    const json = JSON.parse(
      cli(["lint", broken, "--schemas", join(fixtures, "gateway-api"), "--output", "json"]).stdout,
    );
    const [result] = json.results;
    assert.equal(result.document, 0);
    assert.equal(result.validated, true);
    assert.deepEqual(
      result.findings.map((f: JsonFinding) => [f.rule, f.severity, f.path, f.line]),
      [["crd/schema", "high", "/spec/rules/0/backendRefs/0/port", 16]],
    );
  });

  it("should run x-kubernetes-validations CEL rules", async () => {
    const file = join(tmp.path, "cel.yaml");
    await writeFile(
      file,
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: cel-broken
  namespace: shop
spec:
  parentRefs:
    - name: gw
  rules:
    - filters:
        - type: RequestRedirect
          requestHeaderModifier:
            set:
              - name: x-a
                value: b
`,
    );
    const r = cli(["lint", file, "--schemas", join(fixtures, "gateway-api")]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /cel\.yaml:11: .*filter\.requestHeaderModifier must be nil/);
  });

  it("should run the single-state rules and honour --fail-on", async () => {
    const file = join(tmp.path, "cors.yaml");
    await writeFile(
      file,
      `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata:
  name: open-cors
  namespace: shop
spec:
  targetRefs:
    - group: gateway.networking.k8s.io
      kind: HTTPRoute
      name: storefront
  cors:
    allowOrigins: ["*"]
    allowCredentials: true
`,
    );
    const schemas = join(fixtures, "envoy-gateway");
    const r = cli([
      "lint",
      file,
      "--schemas",
      schemas,
      "--output",
      "json",
      "--fail-on",
      "critical",
    ]);
    const findings = JSON.parse(r.stdout).results[0].findings as JsonFinding[];
    const cors = findings.find((f) => f.rule === "envoy-gateway/cors-any-origin");
    assert.ok(cors, JSON.stringify(findings));
    assert.equal(cors.severity, "critical", "any origin with credentials");
    assert.equal(cors.line, 12);
    assert.equal(r.status, 1);
    assert.equal(cli(["lint", file, "--schemas", schemas, "--fail-on", "none"]).status, 0);
    const explained = cli(["lint", file, "--schemas", schemas, "--explain"]);
    assert.match(explained.stdout, /Why these rules fired:\nenvoy-gateway\/cors-any-origin/);
    assertSarif(cli(["lint", file, "--schemas", schemas, "--output", "sarif"], tmp.path).stdout);
  });

  it("should report an unreadable file with its line and exit 1, and print SARIF for it", async () => {
    const file = join(tmp.path, "syntax.yaml");
    await writeFile(file, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata: [1\n");
    const r = cli(["lint", file], tmp.path);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^syntax\.yaml:\d+: .*CRW_YAML_SYNTAX/m);
    const [result] = assertSarif(cli(["lint", file, "--output", "sarif"], tmp.path).stdout);
    assert.equal(result?.ruleId, "CRW_YAML_SYNTAX");
  });

  it("should count kinds without a CRD instead of judging them", async () => {
    const r = cli(["lint", join(fixtures, "litellm"), "--output", "json"]);
    assert.equal(r.status, 0, r.stderr);
    const { summary } = JSON.parse(r.stdout);
    assert.equal(summary.validated, 0);
    assert.ok(summary.unknownKinds["litellm.ai, Kind=Model"] > 0);
    const text = cli(["lint", join(fixtures, "litellm")]).stdout;
    assert.match(text, /not schema-checked, no CRD given for: .*litellm\.ai, Kind=Model \(\d+\)/);
  });

  it("should exit 2 for a missing path, a bad --schemas, a bad severity or a bad config", async () => {
    const notCrd = join(tmp.path, "bad-crd.yaml");
    await writeFile(
      notCrd,
      "kind: CustomResourceDefinition\napiVersion: apiextensions.k8s.io/v1\nspec: {}\n",
    );
    const badConfig = join(tmp.path, "bad-config.yaml");
    await writeFile(badConfig, "policy:\n  disable: [no-such-rule]\n");
    for (const [args, code] of [
      [[join(tmp.path, "nowhere.yaml")], "CRW_LINT_INPUT"],
      [[broken, "--schemas", join(tmp.path, "nowhere")], "CRW_LINT_INPUT"],
      [[broken, "--schemas", notCrd], "CRW_CRD_SCHEMA"],
      [[broken, "--fail-on", "severe"], "CRW_USAGE"],
      [[broken, "--config", badConfig], "CRW_RULE_CONFIG"],
    ] as const) {
      const r = cli(["lint", ...args]);
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(code));
    }
  });
});
