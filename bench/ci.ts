import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { stringify } from "yaml";
import { lintPaths } from "../src/compose/lint.js";
import { offlineDiff } from "../src/compose/offline-diff.js";
import { loadConfig } from "../src/config/load.js";
import { crdIndex, newAjv } from "../src/formats/crd-schema.js";
import { parseDocuments } from "../src/formats/documents.js";
import { isJsonObject, type JsonObject, type JsonValue } from "../src/model/json.js";
import { sharedDir, tempDir } from "../test/helpers.js";
import { makeRoute } from "./objects.js";

/** The figure; the environment can shrink it for a quick look. */
const MANIFESTS = Number(process.env.BENCH_MANIFESTS ?? 1_000);
const HTTPROUTE_CRD = join(
  sharedDir,
  "fixtures",
  "gateway-api",
  "gateway.networking.k8s.io_httproutes.yaml",
);

/**
 * One HTTPRoute per file, as a GitOps repository holds them (without the server-set status);
 * `version` picks the edit.
 */
async function writeManifests(dir: string, version: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < MANIFESTS; i++) {
    const { status: _serverSet, ...route } = makeRoute(i, version);
    await writeFile(join(dir, `route-${i}.yaml`), stringify(route));
  }
}

const ms = (t0: number) => Math.round((performance.now() - t0) * 10) / 10;

/**
 * Plain schema validation with the same library (Ajv, through crdIndex, which adds only the
 * CRD's CEL rules) of the same files: read + parse + validate, and validate alone on the
 * parsed objects; what lint adds beyond it is masking, canonicalizing, the store and rules.
 */
async function plainValidation(dir: string) {
  const crd = (await readFile(HTTPROUTE_CRD)).toString("utf8");
  let t0 = performance.now();
  const index = crdIndex(
    parseDocuments(Buffer.from(crd), HTTPROUTE_CRD, { maxBytes: 64 << 20 }).documents.map(
      (d) => d.value,
    ),
  );
  const compileMs = ms(t0);
  t0 = performance.now();
  const objects: JsonObject[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const bytes = await readFile(join(dir, name));
    for (const d of parseDocuments(bytes, name, { maxBytes: 5 << 20 }).documents) {
      if (isJsonObject(d.value)) objects.push(d.value);
    }
  }
  const parseMs = ms(t0);
  t0 = performance.now();
  let problems = 0;
  for (const o of objects) problems += index.validate(o)?.length ?? 0;
  const validateMs = ms(t0);
  // Ajv alone, without the CEL walk: the v1 openAPIV3Schema compiled and run directly.
  const schema = firstSchema(crd);
  const validate = newAjv().compile(schema);
  t0 = performance.now();
  let ajvInvalid = 0;
  for (const o of objects) if (!validate(o)) ajvInvalid++;
  const ajvOnlyMs = ms(t0);
  return {
    compileMs,
    readAndParseMs: parseMs,
    validateWithCelMs: validateMs,
    ajvOnlyMs,
    totalMs: Math.round((compileMs + parseMs + validateMs) * 10) / 10,
    problems,
    ajvInvalid,
  };
}

function firstSchema(crdText: string): JsonObject {
  const doc = parseDocuments(Buffer.from(crdText), "crd", { maxBytes: 64 << 20 }).documents[0]
    ?.value as JsonObject;
  const versions = (doc.spec as JsonObject).versions as JsonValue[];
  const v1 = versions.find((v) => isJsonObject(v) && v.name === "v1") as JsonObject;
  const schema = (v1.schema as JsonObject).openAPIV3Schema as JsonObject;
  const { metadata: _m, ...properties } = schema.properties as JsonObject;
  return { ...schema, properties };
}

/** `crwatch lint` of MANIFESTS files against the HTTPRoute CRD, beside plain validation. */
export async function lintScenario(): Promise<Record<string, unknown>> {
  const tmp = await tempDir("crwatch-bench-lint-");
  try {
    const dir = join(tmp.path, "routes");
    await writeManifests(dir, 0);
    const config = await loadConfig({});
    const t0 = performance.now();
    const report = await lintPaths(config, [dir], [HTTPROUTE_CRD]);
    const lintMs = ms(t0);
    const plain = await plainValidation(dir);
    return {
      scenario: "lint",
      manifests: MANIFESTS,
      lintWallMs: lintMs,
      lintPerManifestUs: Math.round((lintMs * 1000) / MANIFESTS),
      validated: report.results.filter((r) => r.validated).length,
      findings: report.results.reduce((n, r) => n + r.findings.length, 0),
      plainValidation: plain,
      ratioToPlain: Math.round((lintMs / plain.totalMs) * 10) / 10,
    };
  } finally {
    await tmp.cleanup();
  }
}

/** `crwatch diff` of two directories of MANIFESTS files, every one edited (a traffic shift). */
export async function diffScenario(): Promise<Record<string, unknown>> {
  const tmp = await tempDir("crwatch-bench-diff-");
  try {
    const before = join(tmp.path, "before");
    const after = join(tmp.path, "after");
    await writeManifests(before, 0);
    await writeManifests(after, 1);
    const config = await loadConfig({});
    const t0 = performance.now();
    const changes = await offlineDiff(config, before, after);
    const diffMs = ms(t0);
    const plain = await plainValidation(after);
    return {
      scenario: "diff",
      manifestsPerSide: MANIFESTS,
      changes: changes.length,
      findings: changes.reduce((n, c) => n + c.findings.length, 0),
      diffWallMs: diffMs,
      diffPerManifestUs: Math.round((diffMs * 1000) / MANIFESTS),
      plainValidationOfAfter: plain,
    };
  } finally {
    await tmp.cleanup();
  }
}
