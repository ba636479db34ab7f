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

  it("should finish on 1 MB adversarial strings (no catastrophic backtracking)", () => {
    const MB = 1 << 20;
    const fill = (unit: string) => unit.repeat(Math.ceil(MB / unit.length)).slice(0, MB);
    const inputs = [
      fill("a"),
      `${fill("a")}=`,
      fill("eyJ"),
      `eyJ${fill("a")}.`,
      fill("eyJaaaaaaaaa."),
      fill("sk-"),
      `x${fill("sk-a")}`,
      fill("AKIA"),
      `Bearer ${fill(" ")}`,
      fill("Bearer "),
      `https://${fill(":")}`,
      `https://user:${fill("p")}`,
      fill("://a:b"),
      fill("?a="),
      `?token=${fill("x")}`,
      fill("&key"),
      fill("-----BEGIN "),
      `-----BEGIN PRIVATE KEY-----${fill("A")}`,
      fill("password=x\n"),
      `password${fill(" ")}=`,
      `${fill(" ")}x`,
      fill('"apiKey":"'),
      `"apiKey":"${fill("x")}`,
      fill("hooks.slack.com/services/"),
      `https://hooks.slack.com/services/${fill("x")}`,
      fill("Authorization:"),
    ];
    for (const input of inputs) {
      const out = masker({ value: input, token: input, headers: { Authorization: input } });
      assert.equal(typeof out.value, "string");
    }
  });

  it("should mask by value: header strings, env lines, bearer credentials, tokens, keys", () => {
    const out = masker({
      headers: ["Authorization:Bearer abc.def-123456", "x-api-key:k-987654321", "accept:json"],
      env: "OPENAI_API_KEY=sk-INVENTED0000000000000000\nLOG_LEVEL=debug",
      note: "use Bearer AbCdEf0123456789 here",
      url: "https://h.example.com/x?token=t-123456789&page=2",
      key: "-----BEGIN EC PRIVATE KEY-----\nMHcINVENTED\n-----END EC PRIVATE KEY-----",
      bundle:
        "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMIIEkey01\n-----END PRIVATE KEY-----\n",
    });
    assert.deepStrictEqual(
      (out.headers as string[]).map((h) => h.replace(/<masked:[0-9a-f]{16}>/, "M")),
      ["Authorization:Bearer M", "x-api-key:M", "accept:json"],
    );
    assert.match(String(out.env), /^OPENAI_API_KEY=<masked:[0-9a-f]{16}>\nLOG_LEVEL=debug$/);
    assert.match(String(out.note), /^use Bearer <masked:[0-9a-f]{16}> here$/);
    assert.match(String(out.url), /\?token=<masked:[0-9a-f]{16}>&page=2$/);
    assert.match(
      String(out.key),
      /^-----BEGIN EC PRIVATE KEY-----\n<masked:[0-9a-f]{16}>\n-----END/,
    );
    assert.equal(
      String(out.bundle).replace(/<masked:[0-9a-f]{16}>/, "M"),
      "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nM\n-----END PRIVATE KEY-----\n",
      "a certificate before the key stays whole",
    );
  });

  it("should keep references, Secret names, placeholders, numbers and booleans readable", () => {
    const consumer = {
      apiVersion: "configuration.konghq.com/v1",
      kind: "KongConsumer",
      metadata: { name: "globex" },
      username: "globex",
      credentials: ["globex-key-auth"],
    };
    assert.equal(masker(consumer), consumer);
    const refs = {
      api_key: "os.environ/AZURE_API_KEY",
      password: "${DB_PASSWORD}",
      header_value: "{vault://env/openai-key}",
      env: [{ name: "TOKEN", valueFrom: { secretKeyRef: { name: "s", key: "token" } } }],
      apiKey: { secretRef: { name: "openai-apikey", namespace: "default" } },
      max_tokens: 4096,
      hide_credentials: false,
    };
    assert.deepStrictEqual(masker(refs), refs);
  });
});
