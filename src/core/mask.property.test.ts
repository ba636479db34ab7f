import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { JsonObject } from "../model/json.js";
import { createMasker } from "./mask.js";

const masker = createMasker({ key: Buffer.from("property-key-0123456789") });

/** A credential as a generator would make one: 16–48 token characters. */
const credential = fc
  .string({
    unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"),
    minLength: 16,
    maxLength: 48,
  })
  .filter((s) => !s.startsWith("-"));

/** Places a credential can sit in gateway configuration. */
const placements: Array<(s: string) => JsonObject> = [
  (s) => ({ config: { add: { headers: [`Authorization:Bearer ${s}`, "x-trace:on"] } } }),
  (s) => ({ config: { add: { headers: [`X-Api-Key: ${s}`] } } }),
  (s) => ({ data: { "app.env": `LOG_LEVEL=info\nAPI_TOKEN=${s}\nPORT=80` } }),
  (s) => ({ data: { "app.properties": `db.host=db\ndb.password = ${s}\n` } }),
  (s) => ({ endpoint: `https://logs.example.com/in?source=kong&access_token=${s}&x=1` }),
  (s) => ({ dsn: `postgres://app:${s}@db.internal:5432/app` }),
  (s) => ({ data: { "config.json": `{"region":"eu","client_secret":"${s}"}` } }),
  (s) => ({ headers: { set: { authorization: `Basic ${s}` } } }),
  (s) => ({ set: [{ name: "X-Auth-Token", value: s }] }),
  (s) => ({ value: [{ header: { key: "Cookie", value: `sid=${s}` } }] }),
  (s) => ({ slack: `https://hooks.slack.com/services/T0/B0/${s}` }),
  (s) => ({ args: ["--port", "80", "--client-secret", s] }),
  (s) => ({ litellm_params: { model: "openai/gpt-4o", api_key: s } }),
];

describe("masking, property-based", () => {
  it("should never leave a credential in any placement, and mask a changed one differently", () => {
    fc.assert(
      fc.property(credential, fc.nat(placements.length - 1), (secret, i) => {
        const place = placements[i] as (s: string) => JsonObject;
        const out = JSON.stringify(masker(place(secret)));
        assert.ok(!out.includes(secret), `${secret} leaked from placement ${i}: ${out}`);
        const other = JSON.stringify(masker(place(`${secret}x`)));
        assert.notEqual(other, out);
      }),
      { numRuns: 500 },
    );
  });

  it("should be idempotent and keep clean objects as they are, on arbitrary strings", () => {
    const fragment = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom(
        "Authorization:",
        "Bearer ",
        "Basic ",
        "password=",
        "token: ",
        '"apiKey":"',
        "://",
        "u:p@",
        "?token=",
        "&sig=",
        ";Password=",
        "-----BEGIN PRIVATE KEY-----",
        "-----END PRIVATE KEY-----",
        "hooks.slack.com/services/",
        "sk-",
        "AKIA",
        "eyJ",
        "${X}",
        "os.environ/X",
        "\n",
        " ",
        "<masked:0123456789abcdef>",
      ),
    );
    const text = fc.array(fragment, { maxLength: 12 }).map((parts) => parts.join(""));
    fc.assert(
      fc.property(text, text, (a, b) => {
        const object = { value: a, headers: { Authorization: b }, list: [a, b], token: b };
        const once = masker(object);
        assert.deepStrictEqual(masker(once), once);
      }),
      {
        numRuns: 1000,
        // Counterexamples found on longer runs, kept as regressions.
        examples: [
          ["?token=://&://u:p@", ""],
          ["", "&password=://;://u:p@"],
          ["://;Password=(&@", ""],
          ["", '!"apiKey":"&sig=\\"'],
          [
            ";Password=-----BEGIN PRIVATE KEY-----<masked:0123456789abcdef>-----BEGIN PRIVATE KEY-----Authorization:",
            "",
          ],
        ],
      },
    );
  });
});
