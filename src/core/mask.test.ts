import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { JsonObject } from "../model/json.js";
import { createMasker, isMasked } from "./mask.js";

const masker = createMasker({ key: Buffer.from("test-key-0123456789") });

describe("createMasker", () => {
  it("should mask every value of a Kubernetes Secret's data and stringData", () => {
    const secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s" },
      data: { a: "c2VjcmV0" },
      stringData: { b: "plain" },
    };
    const out = masker(secret);
    assert.ok(isMasked((out.data as JsonObject).a));
    assert.ok(isMasked((out.stringData as JsonObject).b));
    assert.equal((out.metadata as JsonObject).name, "s");
    assert.ok(!JSON.stringify(out).includes("plain") && !JSON.stringify(out).includes("c2VjcmV0"));
  });

  it("should mask fields named like secrets at any depth and keep their neighbours", () => {
    const obj = {
      model_list: [{ litellm_params: { api_key: "sk-live-1", model: "azure/gpt-4o", rpm: 600 } }],
      general_settings: { master_key: "sk-master" },
      consumers: [{ username: "a", keyauth_credentials: [{ key: "k-1" }] }],
      plugin: {
        config: { hide_credentials: true, password: 12345, clientSecret: { name: "oidc-secret" } },
      },
    };
    const text = JSON.stringify(masker(obj));
    for (const secret of ["sk-live-1", "sk-master", "k-1", "12345"])
      assert.ok(!text.includes(secret), secret);
    for (const visible of ["azure/gpt-4o", "600", 'hide_credentials":true', "oidc-secret"])
      assert.ok(text.includes(visible), visible);
  });

  it("should leave references and limits readable", () => {
    const obj = {
      secretRef: { name: "x" },
      maxTokens: 100,
      credentialRefs: [{ name: "keys" }],
      token_bucket: { size: 5 },
    };
    assert.deepStrictEqual(masker(obj), obj);
  });

  it("should give the same mask for the same value and a different one for a changed value", () => {
    const a = masker({ token: "one" }).token;
    assert.equal(masker({ token: "one" }).token, a);
    assert.notEqual(masker({ token: "two" }).token, a);
  });

  it("should give different masks under different keys", () => {
    const other = createMasker({ key: Buffer.from("another-key-000000") });
    assert.notEqual(other({ token: "one" }).token, masker({ token: "one" }).token);
  });

  it("should be idempotent", () => {
    const once = masker({ apiKey: "abc", nested: { password: "p" } });
    assert.deepStrictEqual(masker(once), once);
  });

  it("should mask extra configured keys", () => {
    const custom = createMasker({ key: Buffer.from("k"), extraKeys: ["X-Api-Key"] });
    assert.ok(isMasked(custom({ x_api_key: "v" }).x_api_key));
  });

  it("should mask the value of a credential header set by a filter, and nothing else of it", () => {
    const route = {
      spec: {
        rules: [
          {
            filters: [
              {
                type: "RequestHeaderModifier",
                requestHeaderModifier: {
                  set: [
                    { name: "Authorization", value: "Bearer eyJhbGciOi.secret" },
                    { name: "X-API-Key", value: "k-123456" },
                    { name: "x-route", value: "canary" },
                  ],
                },
              },
            ],
            matches: [{ headers: [{ name: "x-canary", value: "always" }] }],
          },
        ],
      },
    };
    const text = JSON.stringify(masker(route));
    for (const secret of ["eyJhbGciOi", "k-123456"]) assert.ok(!text.includes(secret), secret);
    for (const visible of ["Authorization", "X-API-Key", "canary", "always"])
      assert.ok(text.includes(visible), visible);
  });

  it("should mask the password of a URL in any string, and keep the rest of it", () => {
    const out = masker({
      redis: "redis://:hunter2@cache.internal:6379/0",
      db: "postgres://app:s3cr3t@db:5432/app",
      plain: "https://api.openai.com/v1",
      email: "owner@example.com",
    });
    assert.match(String(out.redis), /^redis:\/\/:<masked:[0-9a-f]{16}>@cache\.internal:6379\/0$/);
    assert.match(String(out.db), /^postgres:\/\/app:<masked:[0-9a-f]{16}>@db:5432\/app$/);
    assert.equal(out.plain, "https://api.openai.com/v1");
    assert.equal(out.email, "owner@example.com");
    assert.deepStrictEqual(masker(out), out, "idempotent");
  });
});
