import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { sharedDir } from "../../test/helpers.js";
import { firstInvalidUtf8, parseDocuments } from "./documents.js";

const MiB = 1024 * 1024;
const parse = (text: string | Buffer, maxBytes = MiB) =>
  parseDocuments(Buffer.isBuffer(text) ? text : Buffer.from(text), "/w/f.yaml", { maxBytes });

describe("parseDocuments", () => {
  it("should return each document of a multi-document file with the line it starts on", () => {
    const text = [
      "# leading comment",
      "apiVersion: v1",
      "kind: A",
      "---",
      "---",
      "# empty above, comment here",
      "apiVersion: v1",
      "kind: B",
      "--- null",
      "---",
      "x: 1",
      "",
    ].join("\n");
    const { documents, problems } = parse(text);
    assert.deepEqual(problems, []);
    assert.deepEqual(documents, [
      { index: 0, line: 2, value: { apiVersion: "v1", kind: "A" } },
      { index: 2, line: 7, value: { apiVersion: "v1", kind: "B" } },
      { index: 4, line: 11, value: { x: 1 } },
    ]);
  });

  it("should read JSON through the same parser", () => {
    const json =
      '{\n\t"apiVersion": "v1",\n\t"kind": "ConfigMap",\n\t"data": {"a": [1, 2.5, true, null]}\n}\n';
    const { documents, problems } = parse(json);
    assert.deepEqual(problems, []);
    assert.deepEqual(documents, [
      {
        index: 0,
        line: 1,
        value: { apiVersion: "v1", kind: "ConfigMap", data: { a: [1, 2.5, true, null] } },
      },
    ]);
  });

  it("should report a syntax error with its line and without quoting the bad line", () => {
    const text = "a: 1\n---\nb: [1, 2\npassword: hunter2-very-secret\n";
    const { documents, problems } = parse(text);
    assert.deepEqual(documents, [], "a half-read file yields no documents at all");
    assert.equal(problems.length, 1);
    const [problem] = problems;
    assert.equal(problem?.code, "CRW_YAML_SYNTAX");
    assert.equal(problem?.location.path, "/w/f.yaml");
    assert.equal(problem?.location.line, 4);
    assert.equal(typeof problem?.location.column, "number");
    assert.doesNotMatch(problem?.message ?? "", /hunter2|password/);
    assert.doesNotMatch(problem?.message ?? "", /\n/);
  });

  it("should fingerprint a problem by the file's bytes and the code", () => {
    const bytes = Buffer.from("a: [\n");
    const first = parse(bytes).problems[0];
    assert.match(first?.fingerprint ?? "", /^[0-9a-f]{64}:CRW_YAML_SYNTAX$/);
    assert.equal(parse(Buffer.from("a: [\n")).problems[0]?.fingerprint, first?.fingerprint);
    assert.notEqual(parse(Buffer.from("b: [\n")).problems[0]?.fingerprint, first?.fingerprint);
  });

  it("should refuse an alias bomb quickly with CRW_YAML_ALIAS_LIMIT", () => {
    const levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
    for (const [i, name] of [..."bcdefghi"].entries()) {
      const prev = "abcdefghi"[i];
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(", ")}]`);
    }
    const { documents, problems } = parse(`${levels.join("\n")}\n`);
    assert.deepEqual(documents, []);
    assert.equal(problems[0]?.code, "CRW_YAML_ALIAS_LIMIT");
    assert.equal(problems[0]?.location.line, 1);
  });

  it("should allow a few ordinary aliases and merge keys", () => {
    const text = "base: &b {x: 1}\nuse:\n  <<: *b\n  y: 2\nagain: *b\n";
    const { documents, problems } = parse(text);
    assert.deepEqual(problems, []);
    assert.deepEqual(documents[0]?.value, { base: { x: 1 }, use: { x: 1, y: 2 }, again: { x: 1 } });
  });

  it("should read a decK file whose 100 services each merge the same defaults (not a bomb)", () => {
    const services = Array.from(
      { length: 100 },
      (_, i) => `  - <<: *defaults\n    name: svc-${i}\n    host: svc-${i}.internal`,
    );
    const text = `_format_version: "3.0"\nx-defaults: &defaults\n  protocol: https\n  port: 443\n  retries: 5\n  connect_timeout: 60000\nservices:\n${services.join("\n")}\n`;
    const { documents, problems } = parse(text);
    assert.deepEqual(problems, []);
    const value = documents[0]?.value as { services: { name: string; port: number }[] };
    assert.equal(value.services.length, 100);
    assert.deepEqual(value.services[99], {
      protocol: "https",
      port: 443,
      retries: 5,
      connect_timeout: 60000,
      name: "svc-99",
      host: "svc-99.internal",
    });
  });

  it("should say that a document nests too deeply rather than crash", () => {
    const depth = 50_000;
    const { documents, problems } = parse(`a: ${"[".repeat(depth)}${"]".repeat(depth)}\n`);
    assert.deepEqual(documents, []);
    assert.equal(problems[0]?.code, "CRW_YAML_SYNTAX");
    assert.match(problems[0]?.message ?? "", /nests too deeply/);
  });

  it("should report a UTF-16 file as UTF-16, with the hint to save it as UTF-8", () => {
    const text = "apiVersion: v1\nkind: ConfigMap\n";
    for (const [bytes, kind] of [
      [Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]), /little-endian/],
      [Buffer.from(text, "utf16le"), /little-endian/],
      [Buffer.from(text, "utf16le").swap16(), /big-endian/],
    ] as const) {
      const { problems } = parse(bytes);
      assert.equal(problems[0]?.code, "CRW_NOT_UTF8");
      assert.match(problems[0]?.message ?? "", /UTF-16 \(.*\); save it as UTF-8/);
      assert.match(problems[0]?.message ?? "", kind);
    }
  });

  it("should read Kubernetes manifests as Kubernetes does (YAML 1.1), keeping big integers exact", () => {
    const text = [
      "apiVersion: v1",
      "kind: ConfigMap",
      "metadata: {name: m}",
      "spec:",
      "  mode: 0644",
      "  enabled: yes",
      "  big: 9007199254740993",
      "  small: 42",
      "",
    ].join("\n");
    const value = parse(text).documents[0]?.value as { spec: Record<string, unknown> } | undefined;
    const spec = value?.spec;
    assert.deepEqual(spec, { mode: 420, enabled: true, big: "9007199254740993", small: 42 });
    // Other documents keep YAML 1.2 (decK is read by go-yaml v3).
    const plain = parse("mode: 0644\nenabled: yes\n").documents[0]?.value;
    assert.deepEqual(plain, { mode: 644, enabled: "yes" });
  });

  it("should refuse .inf in a Kubernetes manifest, which the API server cannot hold", () => {
    const text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\nspec:\n  ratio: .inf\n";
    const { documents, problems } = parse(text);
    assert.deepEqual(documents, []);
    assert.equal(problems[0]?.code, "CRW_YAML_SYNTAX");
    assert.match(problems[0]?.message ?? "", /spec\.ratio is not a finite number/);
  });

  it("should refuse a file with a NUL byte as binary", () => {
    const { documents, problems } = parse(Buffer.from("a: 1\nb: \0\n"));
    assert.deepEqual(documents, []);
    assert.equal(problems[0]?.code, "CRW_BINARY_FILE");
    assert.deepEqual(problems[0]?.location, { path: "/w/f.yaml", line: 2, column: 4 });
  });

  it("should report invalid UTF-8 with the line and byte offset of the first bad byte", () => {
    const bytes = Buffer.concat([
      Buffer.from("a: 1\nb: caf"),
      Buffer.from([0xc3, 0x28]),
      Buffer.from("\n"),
    ]);
    const { documents, problems } = parse(bytes);
    assert.deepEqual(documents, []);
    assert.equal(problems[0]?.code, "CRW_NOT_UTF8");
    assert.deepEqual(problems[0]?.location, { path: "/w/f.yaml", line: 2, column: 7 });
    assert.match(problems[0]?.message ?? "", /byte offset 11/);
  });

  it("should find the first ill-formed UTF-8 sequence the way the decoder judges it", () => {
    assert.equal(firstInvalidUtf8(Buffer.from("héllo ✓ 😀")), undefined);
    assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0xc0, 0x80])), 1, "overlong");
    assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0x62, 0xed, 0xa0, 0x80])), 2, "surrogate");
    assert.equal(firstInvalidUtf8(Buffer.from([0xf4, 0x90, 0x80, 0x80])), 0, "above U+10FFFF");
    assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0xe2, 0x9c])), 1, "truncated at the end");
  });

  it("should refuse a file over the size cap, naming the size and the cap", () => {
    const { documents, problems } = parse("a: 12345\n", 4);
    assert.deepEqual(documents, []);
    assert.equal(problems[0]?.code, "CRW_FILE_TOO_LARGE");
    assert.match(problems[0]?.message ?? "", /\b9 bytes\b.*\b4 bytes\b/);
  });

  it("should strip a UTF-8 byte order mark", () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("kind: A\n")]);
    const { documents, problems } = parse(bytes);
    assert.deepEqual(problems, []);
    assert.deepEqual(documents, [{ index: 0, line: 1, value: { kind: "A" } }]);
  });

  it("should give values that survive JSON (non-finite numbers, __proto__ keys)", () => {
    const { documents } = parse("a: .inf\nb: -.inf\nc: .nan\n__proto__: {x: 1}\n");
    const value = documents[0]?.value as Record<string, unknown>;
    assert.equal(JSON.stringify(value), '{"a":".inf","b":"-.inf","c":".nan","__proto__":{"x":1}}');
    assert.ok(Object.hasOwn(value, "__proto__"));
  });

  it("should parse every YAML fixture without a problem", async () => {
    const files = await yamlFiles(join(sharedDir, "fixtures"));
    assert.ok(files.length > 20, `expected the shared fixtures, found ${files.length} files`);
    for (const file of files) {
      const { documents, problems } = parseDocuments(await readFile(file), file, {
        maxBytes: 5 * MiB,
      });
      assert.deepEqual(problems, [], file);
      assert.ok(documents.length > 0, `${file} has no document`);
    }
  });
});

async function yamlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

describe("parseDocuments on .json files", () => {
  const read = (text: string, json: boolean) =>
    parseDocuments(Buffer.from(text), "/w/f.json", { maxBytes: MiB, json });
  const manifest = fc.record({
    apiVersion: fc.constant("v1"),
    kind: fc.constantFrom("ConfigMap", "Thing"),
    metadata: fc.record({ name: fc.string({ minLength: 1 }) }),
    data: fc.jsonValue(),
  });

  it("should give what the YAML reading gives, for manifests and any other JSON", () => {
    fc.assert(
      fc.property(fc.oneof(manifest, fc.jsonValue()), fc.boolean(), (value, pretty) => {
        const text = `\n${JSON.stringify(value, null, pretty ? 2 : undefined)}\n`;
        assert.deepEqual(read(text, true), read(text, false));
      }),
      { numRuns: 300 },
    );
  });

  it("should leave repeated keys, exponents, big integers and syntax errors to the YAML parser", () => {
    for (const text of [
      '{"a": 1, "b": {"c": 2, "c": 3}}',
      '{"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}, "n": 1e3}',
      '{"apiVersion": "v1", "kind": "X", "metadata": {"name": "a"}, "n": 12345678901234567890}',
      '{"a": [1, 2,}',
      '{"_format_version": "3.0", "services": [{"name": "s", "url": "http://x"}]}',
    ]) {
      assert.deepEqual(read(text, true), read(text, false), text);
    }
    assert.equal(read('{"a": 1, "a": 2}', true).problems[0]?.code, "CRW_YAML_SYNTAX");
  });
});

describe("parseDocuments on a mapping with many keys", () => {
  const configMap = (keys: string[]) =>
    Buffer.from(
      `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n${keys.map((k) => `  ${k}: v\n`).join("")}`,
    );

  it("should read every key of a 20,000-key ConfigMap", () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `key-${i}`);
    const { documents, problems } = parseDocuments(configMap(keys), "/w/big.yaml", {
      maxBytes: 8 * MiB,
    });
    assert.deepEqual(problems, []);
    const value = documents[0]?.value as { data: Record<string, string> } | undefined;
    const data = value?.data ?? {};
    assert.equal(Object.keys(data).length, 20_000);
  });

  it("should still refuse a key repeated far down a big mapping, at the repeated key's line", () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `key-${i}`);
    keys.push("key-7");
    const { problems } = parseDocuments(configMap(keys), "/w/big.yaml", { maxBytes: 8 * MiB });
    assert.equal(problems[0]?.code, "CRW_YAML_SYNTAX");
    assert.match(problems[0]?.message ?? "", /Map keys must be unique at line 20005, column 3/);
    assert.equal(problems[0]?.location.line, 20_005);
  });
});
