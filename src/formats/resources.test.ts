import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { sharedDir } from "../../test/helpers.js";
import { parseDocuments } from "./documents.js";
import { toObservedObjects } from "./resources.js";

const fromText = (text: string, relPath = "dir/app.yaml") => {
  const { documents, problems } = parseDocuments(Buffer.from(text), `/w/${relPath}`, {
    maxBytes: 1 << 20,
  });
  assert.deepEqual(problems, []);
  return toObservedObjects("local", relPath, `/w/${relPath}`, documents);
};

const fixture = async (relPath: string) => {
  const absPath = join(sharedDir, "fixtures", relPath);
  const { documents } = parseDocuments(await readFile(absPath), absPath, { maxBytes: 5 << 20 });
  return toObservedObjects("local", relPath, absPath, documents);
};

describe("toObservedObjects", () => {
  it("should give Kubernetes objects refs from group, kind, namespace and name", () => {
    const { items, problems } = fromText(
      [
        "apiVersion: gateway.networking.k8s.io/v1",
        "kind: HTTPRoute",
        "metadata: {name: storefront, namespace: shop}",
        "---",
        "apiVersion: v1",
        "kind: Secret",
        "metadata: {name: keys}",
      ].join("\n"),
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(
      items.map((i) => [i.ref, i.location]),
      [
        [
          {
            source: "local",
            group: "gateway.networking.k8s.io",
            kind: "HTTPRoute",
            namespace: "shop",
            name: "storefront",
          },
          { path: "/w/dir/app.yaml", line: 1, document: 0 },
        ],
        [
          { source: "local", group: "", kind: "Secret", namespace: "", name: "keys" },
          { path: "/w/dir/app.yaml", line: 5, document: 1 },
        ],
      ],
    );
    assert.equal(items[0]?.object.kind, "HTTPRoute");
  });

  it("should expand a v1 List into its items", () => {
    const { items, problems } = fromText(
      [
        "apiVersion: v1",
        "kind: List",
        "items:",
        "- {apiVersion: gateway.networking.k8s.io/v1, kind: Gateway, metadata: {name: gw, namespace: infra}}",
        "- {apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: r, namespace: infra}}",
        "- {note: not a resource}",
        "- just a string",
      ].join("\n"),
    );
    assert.deepEqual(
      items.map((i) => `${i.ref.kind}/${i.ref.namespace}/${i.ref.name}`),
      ["Gateway/infra/gw", "HTTPRoute/infra/r", "Document//dir/app.yaml#0/items/2"],
    );
    assert.deepEqual(
      problems.map((p) => [p.code, p.location.field]),
      [["CRW_NOT_AN_OBJECT", "items.3"]],
    );
  });

  it("should track a LiteLLM config as one Document named by path and index", async () => {
    const { items, problems } = await fixture("litellm/proxy_server_config.yaml");
    assert.deepEqual(problems, []);
    assert.equal(items.length, 1);
    assert.deepEqual(items[0]?.ref, {
      source: "local",
      group: "crwatch.dev",
      kind: "Document",
      namespace: "",
      name: "litellm/proxy_server_config.yaml#0",
    });
    assert.ok(Array.isArray(items[0]?.object.model_list));
  });

  it("should track a decK kong.yaml as one Document", async () => {
    const { items, problems } = await fixture("kong/kong3x.yaml");
    assert.deepEqual(problems, []);
    assert.deepEqual(
      items.map((i) => [i.ref.group, i.ref.kind, i.ref.name]),
      [["crwatch.dev", "Document", "kong/kong3x.yaml#0"]],
    );
    assert.equal(items[0]?.object._format_version, "3.0");
  });

  it("should fall back to a Document when a manifest lacks metadata.name", () => {
    const { items } = fromText("apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: x-}\n");
    assert.deepEqual(items[0]?.ref, {
      source: "local",
      group: "crwatch.dev",
      kind: "Document",
      namespace: "",
      name: "dir/app.yaml#0",
    });
  });

  it("should report a top-level scalar or list as not an object and keep the other documents", () => {
    const { items, problems } = fromText("just text\n---\n- a\n- b\n---\nkind: x\n");
    assert.deepEqual(
      items.map((i) => i.ref.name),
      ["dir/app.yaml#2"],
    );
    assert.deepEqual(
      problems.map((p) => [p.code, p.location]),
      [
        ["CRW_NOT_AN_OBJECT", { path: "/w/dir/app.yaml", line: 1, document: 0 }],
        ["CRW_NOT_AN_OBJECT", { path: "/w/dir/app.yaml", line: 3, document: 1 }],
      ],
    );
    assert.match(problems[1]?.message ?? "", /document 1 is a list/);
  });
});
