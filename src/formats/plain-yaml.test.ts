import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { sharedDir } from "../../test/helpers.js";
import { parseDocuments } from "./documents.js";
import { readPlainYaml } from "./plain-yaml.js";

const MiB = 1024 * 1024;
const both = (text: string) => {
  const bytes = Buffer.from(text);
  const general = parseDocuments(bytes, "/w/f.yaml", { maxBytes: MiB, plain: false });
  const plain = parseDocuments(bytes, "/w/f.yaml", { maxBytes: MiB });
  return { general, plain };
};

/** Scalars that YAML reads in surprising ways, or that the plain reader must refuse. */
const TRICKY = [
  ...["", "a", "y", "n", "Y", "yes", "no", "on", "off", "true", "True", "FALSE", "tRue"],
  ...["null", "~", "Null", "NULL", "0", "-0", "+0", "+12", "-12", "007", "0644", "0x1F"],
  ...["0o17", "0b101", "1_000", "1e3", "1E-3", "1.5", ".5", "5.", ".inf", "-.Inf", ".nan"],
  ...["1:20", "1:20:30.5", "2001-12-14", "2001-12-14 21:59:43.10 -5", "9007199254740993"],
  ...["12345", "a: b", "a:b", "a:", ":a", "a #b", "a#b", "#a", "- a", "-a", "-", "--", "?a"],
  ...["? a", "[]", "{}", "[a]", "{a: 1}", "[ ]", "<<", "*a", "&a", "a&b", "|", ">", "%a"],
  ...["@a", "`a", "'", '"', "a'b", 'a"b', "a\\b", "é", "日本", "a  b", " a", "a ", "---"],
  ...["...", "a,b", "a]b", "a}", ",a", "]a", "__proto__", "constructor", "http://x:80/p"],
  ...["v1", "10s", "gateway.networking.k8s.io/v1", "svc-1.example.com", "a\tb", "x\\ny"],
  // Unicode spaces are content to YAML, not white space to trim.
  ...["a\u00a0", "\u00a0a", "a\u2003b", "\u3000", "a\u202f", "\u1680x"],
];
const KEYS = [
  ...["a", "b", "c", "apiVersion", "kind", "metadata", "name", "y", "n", "1", "true", "null"],
  ...["<<", "__proto__", "a b", "a:b", "a#b", "a #b", "-k", "?k", "k]", "k ", "~", "0x1"],
  ...["'q'", '"q"', '"a\\"b"', "'it''s'", "é", "x.y/z", "a,b", "k}", "&k", "*k", "!k"],
];

type Tree = string | Tree[] | { [key: string]: Tree } | Array<[string, Tree]>;

const scalar = fc.oneof(
  fc.constantFrom(...TRICKY),
  fc.string({ maxLength: 6 }),
  fc.integer().map(String),
);

const tree: fc.Arbitrary<Tree> = fc.letrec<{ node: Tree }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("node"), { maxLength: 4 }),
    fc.array(fc.tuple(fc.constantFrom(...KEYS), tie("node")), { maxLength: 4 }),
  ),
})).node;

interface Style {
  indent: number;
  /** Sequences under a key sit at the key's indentation (kubectl) or one level in. */
  seqBeside: boolean;
  quote: "plain" | "single" | "double" | "mixed";
  comments: boolean;
  trailing: string;
}

function renderScalar(s: string, style: Style, i: number): string {
  const way =
    style.quote === "mixed" ? (["plain", "single", "double"] as const)[i % 3] : style.quote;
  if (way === "single") return `'${s.replace(/'/g, "''")}'`;
  if (way === "double") return JSON.stringify(s);
  return s;
}

/** Renders as block YAML, by the style's choices; pairs with a quoted key keep it as written. */
function render(node: Tree, style: Style, depth: number, out: string[], prefix: string): void {
  const pad = " ".repeat(depth * style.indent);
  const comment = style.comments && out.length % 3 === 0 ? " # c" : "";
  if (typeof node === "string") {
    out.push(`${prefix}${renderScalar(node, style, out.length)}${comment}${style.trailing}`);
    return;
  }
  const pairs = !Array.isArray(node)
    ? Object.entries(node)
    : node.length > 0 &&
        node.every(
          (n) =>
            Array.isArray(n) && n.length === 2 && typeof n[0] === "string" && KEYS.includes(n[0]),
        )
      ? (node as Array<[string, Tree]>)
      : undefined;
  if (pairs === undefined) {
    const items = node as Tree[];
    if (items.length === 0) {
      out.push(`${prefix}[]${comment}`);
      return;
    }
    if (prefix) out.push(prefix.trimEnd());
    const at = prefix && !style.seqBeside ? depth : Math.max(depth - 1, 0);
    for (const item of items)
      render(item, style, at + 1, out, `${" ".repeat(at * style.indent)}- `);
    return;
  }
  if (pairs.length === 0) {
    out.push(`${prefix}{}${comment}`);
    return;
  }
  if (prefix) out.push(prefix.trimEnd());
  for (const [key, value] of pairs) {
    if (style.comments && out.length % 5 === 1) out.push(`${pad}# a comment`);
    const simple = typeof value === "string" || (Array.isArray(value) && value.length === 0);
    if (simple) render(value, style, depth + 1, out, `${pad}${key}: `);
    else render(value, style, depth + 1, out, `${pad}${key}:${comment}`);
  }
}

const style: fc.Arbitrary<Style> = fc.record({
  indent: fc.integer({ min: 1, max: 4 }),
  seqBeside: fc.boolean(),
  quote: fc.constantFrom("plain", "single", "double", "mixed"),
  comments: fc.boolean(),
  trailing: fc.constantFrom("", "", " "),
});

/** Edits that make text broken or odd: a line dropped, doubled, shifted; a character removed. */
const mutation = fc.array(
  fc.tuple(fc.constantFrom("drop", "dup", "shift", "unshift", "cut", "marker"), fc.nat()),
  { maxLength: 2 },
);

function mutate(lines: string[], edits: Array<[string, number]>): string[] {
  const out = [...lines];
  for (const [edit, n] of edits) {
    if (out.length === 0) break;
    const i = n % out.length;
    const line = out[i]!;
    if (edit === "drop") out.splice(i, 1);
    else if (edit === "dup") out.splice(i, 0, line);
    else if (edit === "shift") out[i] = ` ${line}`;
    else if (edit === "unshift") out[i] = line.replace(/^ /, "");
    else if (edit === "cut" && line.length > 0)
      out[i] = line.slice(0, n % line.length) + line.slice((n % line.length) + 1);
    else if (edit === "marker") out.splice(i, 0, "---");
  }
  return out;
}

const documentText = fc
  .tuple(
    fc.array(fc.tuple(tree, style, fc.boolean()), { minLength: 1, maxLength: 3 }),
    mutation,
    fc.boolean(),
  )
  .map(([docs, edits, leadingMarker]) => {
    const lines: string[] = leadingMarker ? ["# head", "---"] : [];
    docs.forEach(([node, s, manifest], i) => {
      if (i > 0) lines.push("---");
      const body = manifest ? { apiVersion: "v1", kind: "Thing", spec: node } : node;
      const top = typeof body === "string" || Array.isArray(body) ? { top: body } : body;
      render(top as Tree, s, 0, lines, "");
    });
    return `${mutate(lines, edits).join("\n")}\n`;
  });

describe("readPlainYaml", () => {
  it("should give what the general parser gives, or leave the text to it", () => {
    let taken = 0;
    let runs = 0;
    fc.assert(
      fc.property(documentText, (text) => {
        runs++;
        const { general, plain } = both(text);
        assert.deepEqual(plain, general, text);
        if (readPlainYaml(text, 1000) !== undefined) {
          taken++;
          assert.deepEqual(general.problems, [], text);
        }
      }),
      { numRuns: 4000 },
    );
    // The generator must exercise the plain reader, not only its refusals.
    assert.ok(taken > runs / 5, `the plain reader took ${taken} of ${runs} texts`);
  });

  it("should read what yaml.stringify writes of manifests, as the general parser does", () => {
    // Mostly characters of names and values, with some that need quoting or end the fast way.
    const text = fc.string({ unit: fc.constantFrom(..."abcxyz019 -_./:#'\"é\\&*"), maxLength: 12 });
    const manifest = fc.record({
      apiVersion: fc.constant("v1"),
      kind: fc.constantFrom("ConfigMap", "HTTPRoute"),
      metadata: fc.record({ name: text, labels: fc.dictionary(text, text) }),
      data: fc.dictionary(
        text,
        fc.oneof(
          { arbitrary: text, weight: 10 },
          { arbitrary: fc.constantFrom(...TRICKY), weight: 1 },
          { arbitrary: fc.integer(), weight: 2 },
          { arbitrary: fc.boolean(), weight: 1 },
          { arbitrary: fc.constant(null), weight: 1 },
          { arbitrary: fc.array(fc.oneof(text, fc.integer())), weight: 2 },
          { arbitrary: fc.jsonValue(), weight: 1 },
        ),
      ),
    });
    let taken = 0;
    fc.assert(
      fc.property(fc.array(manifest, { minLength: 1, maxLength: 3 }), (docs) => {
        const text = docs.map((d) => stringify(d)).join("---\n");
        const { general, plain } = both(text);
        assert.deepEqual(plain, general, text);
        if (readPlainYaml(text, 1e6) !== undefined) taken++;
      }),
      { numRuns: 1000 },
    );
    assert.ok(taken > 25, `the plain reader took ${taken} texts`);
  });

  it("should read documents, indexes and lines as the general parser does", () => {
    const texts = [
      "# leading comment\napiVersion: v1\nkind: A\n---\n---\n# empty above\napiVersion: v1\nkind: B\n---\n",
      "---\na: 1\n---\nb: 2\n",
      "# only a comment\n---\n\n---\n  # indented comment\na:\n- x\n-   p: 1\n    q: [] # c\n",
      "a:\n  b:\n  - c: 1\n    d:\n    - e\n  f: 'it''s'\ng: \"\\u00e9\\x41\\t\"\n",
      "key: value # comment\nimage: nginx:1.2\nurl: http://a.example/#x\nempty:\nnothing: ~\n",
      "a: 1\n---   # marker with a comment\nb: 2\n",
      "a: x\u00a0\nb: \u00a0y\nc: x\u3000\n",
    ];
    for (const text of texts) {
      assert.notEqual(readPlainYaml(text, 1e6), undefined, text);
      const { general, plain } = both(text);
      assert.deepEqual(plain, general, text);
    }
  });

  it("should leave anchors, block scalars, flow collections, floats and repeated keys to the general parser", () => {
    for (const text of [
      "a: &x 1\nb: *x\n",
      "a: |\n  text\n",
      "a: [1, 2]\n",
      "a: 1.5\n",
      "a: yes\n",
      "a: 1\na: 2\n",
      "a: !!str 1\n",
      "- a\n- b\n",
      "a: b\n  c\n",
      "a:\tb\n",
      "a: 1\r\nb: 2\r\n",
      "<<: {a: 1}\n",
      "%YAML 1.2\n---\na: 1\n",
    ]) {
      assert.equal(readPlainYaml(text, 1e6), undefined, text);
      const { general, plain } = both(text);
      assert.deepEqual(plain, general, text);
    }
  });

  it("should give lines inside a document (lineOf) as the general parser does", () => {
    const text =
      "apiVersion: v1\nkind: A\nmetadata:\n  name: a\nspec:\n  rules:\n  - x: 1\n  - y: 2\n";
    const { general, plain } = both(text);
    for (const path of [["spec", "rules", 1, "y"], ["metadata", "name"], ["nope"]]) {
      assert.equal(plain.documents[0]?.lineOf?.(path), general.documents[0]?.lineOf?.(path));
    }
    assert.equal(plain.documents[0]?.lineOf?.(["spec", "rules", 1, "y"]), 8);
  });

  it("should read every shared fixture and example as the general parser does", async () => {
    const dirs = [join(sharedDir, "fixtures"), join(import.meta.dirname, "../../../examples")];
    let files = 0;
    for (const dir of dirs) {
      const entries = await readdir(dir, { recursive: true, withFileTypes: true });
      for (const e of entries) {
        if (!e.isFile() || !/\.ya?ml$/.test(e.name)) continue;
        const text = await readFile(join(e.parentPath, e.name), "utf8");
        const { general, plain } = both(text);
        assert.deepEqual(plain, general, e.name);
        files++;
      }
    }
    assert.ok(files > 40, `found ${files} files`);
  });
});
