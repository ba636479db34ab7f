import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { sharedDir } from "../../test/helpers.js";
import { changeSecret, leakForms, SECRET_CORPUS } from "../../test/secret-corpus.js";
import { isJsonObject, type JsonObject } from "../model/json.js";
import { createMasker } from "./mask.js";

const masker = createMasker({ key: Buffer.from("corpus-key-0123456789") });

function documents(text: string): JsonObject[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as unknown)
    .filter((value): value is JsonObject => isJsonObject(value));
}

/** The masked documents of a file, as one JSON text to search. */
function maskedJson(text: string): string {
  return JSON.stringify(documents(text).map((doc) => masker(doc)));
}

function assertNoLeak(output: string, secrets: string[], where: string): void {
  for (const secret of secrets) {
    for (const form of leakForms(secret)) {
      assert.ok(!output.includes(form), `${where}: secret ${secret} leaked as ${form}`);
    }
  }
}

describe("masking the secret corpus", () => {
  it("should hold realistic cases with secrets that appear in their text", () => {
    assert.ok(SECRET_CORPUS.length >= 15);
    for (const c of SECRET_CORPUS) {
      assert.ok(documents(c.yaml).length > 0, `${c.name}: no document`);
      for (const secret of c.secrets) assert.ok(c.yaml.includes(secret), `${c.name}: ${secret}`);
    }
  });

  for (const c of SECRET_CORPUS) {
    describe(c.name, () => {
      it("should leave no secret, nor its base64 or URL-encoded form, in the output", () => {
        const output = maskedJson(c.yaml);
        assertNoLeak(output, c.secrets, c.name);
        if (c.secrets.length > 0) assert.match(output, /<masked:[0-9a-f]{16}>/);
      });

      it("should keep header names, variable names, references and hosts readable", () => {
        const output = maskedJson(c.yaml);
        for (const text of c.readable) {
          assert.ok(output.includes(text), `${c.name}: ${text} is no longer readable`);
        }
      });

      it("should show a changed secret as a changed mask, and be idempotent", () => {
        const output = maskedJson(c.yaml);
        assert.equal(maskedJson(c.yaml), output, "same input, same masks");
        for (const secret of c.secrets) {
          const changed = changeSecret(secret);
          const after = maskedJson(c.yaml.split(secret).join(changed));
          assert.notEqual(after, output, `${c.name}: changing ${secret} changed nothing`);
          assertNoLeak(after, [changed], c.name);
        }
        for (const doc of documents(c.yaml)) {
          const once = masker(doc);
          assert.deepStrictEqual(masker(once), once, `${c.name}: masking twice`);
        }
      });
    });
  }
});

/**
 * Dummy credentials in the real upstream manifests under ../shared/fixtures (public test
 * values), and references next to them that must stay readable. Keyed by the file's path
 * under fixtures/.
 */
const FIXTURE_SECRETS: Record<string, { secrets: string[]; readable?: string[] }> = {
  "kong/kong-consumer-key-auth.yaml": { secrets: ["password"], readable: ["consumer1-auth"] },
  "kong/gateway-acl-key-auth-groups.yaml": {
    secrets: ["password1", "password2"],
    readable: ["consumer-auth-1", "consumer-acl-1", "consumer-auth-2"],
  },
  "kong/output.yaml": { secrets: ["secret-abc"], readable: ["{vault://env/openai-key}"] },
  "kong/kong3x.yaml": { secrets: ["i-am-special", "i-am-not-so-special", "i-am-just-average"] },
  "kong/konnect-workspace-with-multiple-entities.yaml": {
    secrets: ["basic_pass", "test-api-key", "test-jwt-secret"],
    readable: ["{vault://my-workspace-vault/key}"],
  },
  "kong/konnect-workspace-with-multiple-entities-updated.yaml": {
    secrets: ["basic_pass_updated", "test-api-key-updated", "test-jwt-secret-updated"],
  },
  "kong/konnect-kongservice-kongroute-kongconsumer-plugin-annotated.yaml": {
    secrets: ["kpat_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"],
    readable: ["demo-auth"],
  },
  "litellm/azure_config_with_tpm.yaml": { secrets: ["73g", "9kj"] },
  "litellm/load_balancer.yaml": { secrets: ["sk-uj6F", "sk-Imn", "eYVX71"] },
  "litellm/proxy_server_config.yaml": {
    secrets: ["sk-1234", "fake-key", "my-fake-key"],
    readable: [
      "os.environ/AZURE_API_KEY",
      "os.environ/LANGFUSE_PROJECT1_SECRET",
      "os.environ/REDIS_PASSWORD",
    ],
  },
  "envoy-ai-gateway/openai.yaml": {
    secrets: ["OPENAI_API_KEY"],
    readable: ["envoy-ai-gateway-basic-openai-apikey"],
  },
  "envoy-ai-gateway/aws.yaml": {
    secrets: ["AWS_SECRET_ACCESS_KEY"],
    readable: ["envoy-ai-gateway-basic-aws-credentials", "us-east-1"],
  },
  "envoy-gateway/api-key-auth.yaml": {
    secrets: ["a2V5MQ==", "a2V5Mg=="],
    readable: ["api-key-auth-users-secret-1", "X-API-KEY"],
  },
  "envoy-gateway/basic-auth.yaml": {
    secrets: ["dXNlcjE6e1NIQX10RVNzQm1FL3lOWTNsYjZhMEw2dlZRRVpOcXc9"],
    readable: ["basic-auth-users-secret-1"],
  },
  "envoy-gateway/oidc-securitypolicy.yaml": {
    secrets: ["b2lkY3Rlc3QtZm9vLWNsaWVudC1zZWNyZXQ=", "b2lkY3Rlc3QtYmFyLWNsaWVudC1zZWNyZXQ="],
    readable: ["oidctest-foo-secret", "X-Id-Token"],
  },
  "apisix/apisix.apache.org_v2_apisixconsumer.yaml": { secrets: ["sample-key"] },
  "apisix/key-authentication.md": { secrets: ["secret-key"], readable: ["primary-key"] },
};

/** YAML files, and the YAML code blocks of the Markdown pages, under fixtures/. */
async function fixtureTexts(): Promise<Array<{ file: string; text: string }>> {
  const root = join(sharedDir, "fixtures");
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const out: Array<{ file: string; text: string }> = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const file = relative(root, path);
    const text = await readFile(path, "utf8");
    if (/\.ya?ml$/.test(file)) out.push({ file, text });
    else if (file.endsWith(".md") && file !== "MANIFEST.md") {
      const blocks = [...text.matchAll(/```yaml[^\n]*\n([\s\S]*?)```/g)].map((m) => m[1]);
      out.push({ file, text: blocks.join("\n---\n") });
    }
  }
  return out.sort((a, b) => a.file.localeCompare(b.file));
}

describe("masking the shared gateway fixtures", () => {
  it("should mask the dummy credentials of every fixture and keep references readable", async () => {
    const texts = await fixtureTexts();
    assert.ok(texts.length > 40, `expected the shared fixtures, found ${texts.length}`);
    const seen = new Set<string>();
    for (const { file, text } of texts) {
      const docs = documents(text);
      const masked = docs.map((doc) => masker(doc));
      const expected = FIXTURE_SECRETS[file];
      if (!expected) continue;
      seen.add(file);
      const output = JSON.stringify(masked);
      // Match whole JSON strings: `password` is also a field name, `fake-key` part of another.
      for (const secret of expected.secrets) {
        assert.ok(text.includes(secret), `${file} holds ${secret}`);
        assert.ok(!output.includes(JSON.stringify(secret)), `${file}: ${secret} not masked`);
        assert.ok(!output.includes(secret.length > 8 ? secret : `:${JSON.stringify(secret)}`));
      }
      for (const visible of expected.readable ?? []) {
        assert.ok(output.includes(visible), `${file}: ${visible} is no longer readable`);
      }
    }
    assert.deepStrictEqual([...seen].sort(), Object.keys(FIXTURE_SECRETS).sort());
  });

  it("should leave CRDs and manifests without secrets exactly as they are", async () => {
    for (const { file, text } of await fixtureTexts()) {
      if (FIXTURE_SECRETS[file]) continue;
      for (const doc of documents(text)) {
        assert.equal(masker(doc), doc, `${file}: ${String(doc.kind)} changed by masking`);
      }
    }
  });
});
