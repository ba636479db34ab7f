import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { sharedDir } from "../../test/helpers.js";
import { isJsonObject, type JsonObject } from "../model/json.js";
import { groupOf } from "../model/ref.js";
import { type CrdValidators, crdIndex, crdValidators, newAjv } from "./crd-schema.js";

const DIRS = ["gateway-api", "envoy-gateway", "envoy-ai-gateway", "kong", "apisix"];

function documents(): { file: string; object: JsonObject }[] {
  return DIRS.flatMap((dir) =>
    readdirSync(join(sharedDir, "fixtures", dir))
      .filter((f) => f.endsWith(".yaml"))
      .flatMap((f) =>
        parseAllDocuments(readFileSync(join(sharedDir, "fixtures", dir, f), "utf8"))
          .map((d) => d.toJS() as unknown)
          .filter(isJsonObject)
          .map((object) => ({ file: `${dir}/${f}`, object })),
      ),
  );
}

/** The fenced YAML blocks of the APISIX docs pages (their examples). */
function markdownExamples(): { file: string; object: JsonObject }[] {
  const dir = join(sharedDir, "fixtures", "apisix");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".md"))
    .flatMap((f) =>
      [...readFileSync(join(dir, f), "utf8").matchAll(/```yaml[^\n]*\n([\s\S]*?)```/g)].flatMap(
        (m) =>
          parseAllDocuments(m[1] ?? "")
            .map((d) => d.toJS() as unknown)
            .filter(isJsonObject)
            .map((object) => ({ file: `apisix/${f}`, object })),
      ),
    );
}

describe("CRD schemas from shared/fixtures", () => {
  const all = [...documents(), ...markdownExamples()];
  const ajv = newAjv();
  const crds = new Map<string, CrdValidators>();

  it("should load every CRD, each served version", () => {
    for (const { file, object } of all.filter(
      (d) => d.object.kind === "CustomResourceDefinition",
    )) {
      const v = crdValidators(object, ajv);
      assert.ok(v.versions.size > 0, file);
      crds.set(`${v.kind}.${v.group}`, v);
    }
    assert.equal(crds.size, 15);
  });

  it("should validate every example against its CRD", () => {
    let checked = 0;
    for (const { file, object } of all) {
      const crd = crds.get(`${String(object.kind)}.${groupOf(String(object.apiVersion ?? ""))}`);
      if (!crd || object.kind === "CustomResourceDefinition") continue;
      const version = String(object.apiVersion).split("/")[1] ?? "";
      const validate = crd.versions.get(version);
      assert.ok(validate, `${file}: ${crd.kind} has version ${version}`);
      assert.deepEqual(validate(object), [], `${file} ${String(object.kind)}`);
      checked++;
    }
    assert.ok(checked >= 80, `${checked} examples checked`);
  });

  it("should point at the bad field of an invalid resource", () => {
    const route = all.find((d) => d.file === "gateway-api/traffic-split-2.yaml")?.object;
    assert.ok(route);
    const bad = structuredClone(route) as {
      spec: { rules: { backendRefs: { weight: unknown }[] }[] };
    };
    bad.spec.rules[0]!.backendRefs[0]!.weight = "ninety";
    const problems = crds.get("HTTPRoute.gateway.networking.k8s.io")?.versions.get("v1")?.(
      bad as unknown as JsonObject,
    );
    assert.ok(
      problems?.some((p) => p.path === "/spec/rules/0/backendRefs/0/weight"),
      JSON.stringify(problems),
    );
  });

  it("should index CRDs by group, kind and version", () => {
    const index = crdIndex(all.map((d) => d.object));
    assert.equal(index.size, 15);
    const gateway = all.find((d) => d.object.kind === "Gateway")?.object;
    assert.deepEqual(index.validate(gateway ?? {}), []);
    assert.equal(index.validate({ apiVersion: "v1", kind: "Service" }), undefined);
    assert.equal(
      index.validate({ ...gateway, apiVersion: "gateway.networking.k8s.io/v9" }),
      undefined,
    );
  });

  it("should run the CRDs' x-kubernetes-validations CEL rules it can parse", () => {
    const httproute = crds.get("HTTPRoute.gateway.networking.k8s.io");
    assert.ok((httproute?.cel.compiled ?? 0) > 50, JSON.stringify(httproute?.cel));
    const route = all.find((d) => d.file === "gateway-api/httproute-credentials-true.yaml")?.object;
    const bad = structuredClone(route) as {
      spec: { rules: { matches: { path: { value: string } }[] }[] };
    };
    bad.spec.rules[0]!.matches[0]!.path.value = "no-leading-slash";
    const problems = httproute?.versions.get("v1")?.(bad as unknown as JsonObject) ?? [];
    assert.ok(
      problems.some(
        (p) => p.path === "/spec/rules/0/matches/0/path" && /absolute path/.test(p.message),
      ),
      JSON.stringify(problems),
    );
  });

  it("should refuse a document that is not a CRD", () => {
    assert.throws(() => crdValidators({ kind: "ConfigMap", spec: {} }), /CustomResourceDefinition/);
  });
});
