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

  it("should split a LiteLLM config into one Model per model_list entry and one per settings block", async () => {
    const { items, problems } = await fixture("litellm/proxy_server_config.yaml");
    assert.deepEqual(problems, []);
    const refs = items.map((i) => `${i.ref.group}/${i.ref.kind}/${i.ref.name}`);
    assert.ok(refs.includes("litellm.ai/Model/gpt-3.5-turbo-end-user-test"));
    assert.ok(
      refs.includes("litellm.ai/Model/gpt-3.5-turbo-end-user-test#1"),
      "second entry, same name",
    );
    assert.ok(refs.includes("litellm.ai/Model/*"));
    for (const block of [
      "RouterSettings/router_settings",
      "LiteLLMSettings/litellm_settings",
      "GeneralSettings/general_settings",
    ]) {
      assert.ok(refs.includes(`litellm.ai/${block}`), block);
    }
    assert.ok(refs.includes("litellm.ai/Section/finetune_settings"));
    assert.equal(new Set(refs).size, refs.length, "refs are unique");
    const general = items.find((i) => i.ref.kind === "GeneralSettings");
    assert.equal(general?.object.master_key, "sk-1234");
    assert.equal(general?.location?.field, "general_settings");
    assert.ok((general?.location?.line ?? 0) > 100, "the block's own line");
  });

  it("should read LiteLLM configs as YAML 1.1, as PyYAML does (tpm: 80_000 is 80000)", async () => {
    const { items } = await fixture("litellm/azure_config_with_tpm.yaml");
    assert.deepEqual(
      items.map((i) => [i.ref.name, (i.object.litellm_params as { tpm?: unknown }).tpm]),
      [
        ["gpt-3.5-turbo", 80000],
        ["gpt-3.5-turbo#1", 80000],
      ],
    );
  });

  it("should read Kubernetes manifests as YAML 1.1, as the API machinery does, and the rest as 1.2", () => {
    const { items } = fromText(
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {count: 80_000, on: yes}\n",
    );
    // go-yaml v2 reads `on` (a key, too) as a boolean, as YAML 1.1 says.
    assert.deepEqual(items[0]?.object.data, { count: 80000, true: true });
    const plain = fromText("settings: {count: 80_000, on: yes}\n");
    assert.deepEqual(plain.items[0]?.object.settings, { count: "80_000", on: "yes" });
  });

  it("should split a decK file into one resource per entity, plugins keyed by what they attach to", async () => {
    const { items, problems } = await fixture("kong/kong3x.yaml");
    assert.deepEqual(problems, []);
    assert.deepEqual(
      items.map((i) => `${i.ref.kind}/${i.ref.namespace}/${i.ref.name}`),
      [
        "Service//svc1",
        "Route//r1",
        "Consumer//foo",
        "Consumer//bar",
        "Consumer//baz",
        "ConsumerGroup//silver",
        "Plugin//rate-limiting-advanced@consumer_group:silver",
        "ConsumerGroup//gold",
        "Plugin//rate-limiting-advanced@consumer_group:gold",
        "Plugin//key-auth",
        "Plugin//rate-limiting-advanced",
        "Config//kong/kong3x.yaml#0",
      ],
    );
    assert.ok(items.every((i) => i.ref.group === "deck.konghq.com"));
    const route = items.find((i) => i.ref.kind === "Route");
    assert.equal(route?.object.service, "svc1", "a nested route names its service");
    assert.equal(route?.location?.field, "services.0.routes.0");
    assert.equal(route?.location?.line, 12, "the route's own line");
    assert.equal(items.find((i) => i.ref.kind === "Service")?.object.routes, undefined);
    assert.deepEqual(items.at(-1)?.object, { _format_version: "3.0" });
  });

  it("should scope decK entities by _workspace and attach top-level plugins to their route", async () => {
    const { items } = await fixture("kong/konnect-workspace-with-multiple-entities.yaml");
    const names = items.map((i) => `${i.ref.kind}/${i.ref.namespace}/${i.ref.name}`);
    for (const ref of [
      "Service/test-workspace/mock1",
      "Route/test-workspace/route-multi-entity-1",
      "Plugin/test-workspace/rate-limiting@route:route-multi-entity-1",
      "Upstream/test-workspace/upstream1",
      "Certificate/test-workspace/13c562a1-191c-4464-9b18-e5222b46035b",
      "Consumer/test-workspace/test_consumer_3x",
      "ConsumerGroup/test-workspace/silver",
      "Vault/test-workspace/my-workspace-vault",
      "KeySet/test-workspace/test-key-set",
      "Key/test-workspace/test-key-jwk",
    ]) {
      assert.ok(names.includes(ref), ref);
    }
  });

  it("should attach plugins nested under services, routes and consumers", () => {
    const { items } = fromText(
      [
        "_format_version: '3.0'",
        "services:",
        "- name: s",
        "  plugins: [{name: acl, config: {allow: [a]}}]",
        "  routes:",
        "  - name: r",
        "    plugins: [{name: rate-limiting, config: {minute: 5}}]",
        "consumers:",
        "- username: u",
        "  plugins: [{name: rate-limiting, config: {minute: 1}}]",
        "plugins:",
        "- {name: cors, service: {name: s}, route: r}",
      ].join("\n"),
    );
    assert.deepEqual(
      items.filter((i) => i.ref.kind === "Plugin").map((i) => i.ref.name),
      [
        "rate-limiting@route:r",
        "acl@service:s",
        "rate-limiting@consumer:u",
        "cors@service:s,route:r",
      ],
    );
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
