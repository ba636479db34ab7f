import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import type { CrwatchConfig } from "../config/schema.js";
import { type CrdIndex, crdIndex, type SchemaProblem } from "../formats/crd-schema.js";
import { type ParsedDocument, parseDocuments } from "../formats/documents.js";
import type { Change, Finding, Severity } from "../model/change.js";
import { CrwatchError } from "../model/errors.js";
import type { JsonValue } from "../model/json.js";
import type { Observation, ObservedObject, SourceProblem } from "../model/observation.js";
import { type Ref, refKey } from "../model/ref.js";
import { createRuleEngine } from "../rules/index.js";
import { FILES_SOURCE_DEFAULTS } from "../sources/files/config.js";
import { readResourceFile } from "../sources/files/read.js";
import { FileSelector, scan } from "../sources/files/scan.js";
import { withScratchIngest } from "./offline-diff.js";

/** Rule ids of what lint finds besides the rules: the CRD's schema and its CEL validations. */
export const SCHEMA_RULE = "crd/schema";
/** Severity of a schema problem: the API server would refuse the resource. */
const SCHEMA_SEVERITY: Severity = "high";
/** Severity of a file or document that cannot be read (its code is the rule id). */
const UNREADABLE_SEVERITY: Severity = "high";
const MAX_CRD_FILE_BYTES = 64 * 1024 * 1024;
const MAX_FILE_BYTES = FILES_SOURCE_DEFAULTS.maxFileBytes;
const LINT_SOURCE = "lint";
/** Files read at once. */
const READ_CHUNK = 32;
const SCHEMA_FILES = new Set([".yaml", ".yml", ".json"]);

/** A finding placed at a line of its file. */
export interface LintFinding extends Finding {
  line?: number;
}

/** One resource (or one unreadable file or document) and what lint found in it. */
export interface LintResult {
  file: string;
  /** 1-based line of the resource (or the problem). */
  line?: number;
  document?: number;
  /** null for a file or document that could not be read. */
  ref: Ref | null;
  /** `HTTPRoute shop/web`, or the file for an unreadable one. */
  resource: string;
  /** True when a loaded CRD covered the resource's group, kind and version. */
  validated: boolean;
  findings: LintFinding[];
}

export interface LintReport {
  results: LintResult[];
  /** CRDs loaded from --schemas. */
  crds: number;
  /** Resources no loaded CRD covers, by `group/version, Kind=kind`: counted, not schema-checked. */
  unknownKinds: Record<string, number>;
}

/**
 * Lints manifests the way `serve` would read them: the files source and ingest (masking,
 * canonicalization) over a throwaway store, with the single-state rules only, each resource
 * as if ADDED; beside that, each raw resource is validated against its CRD (schema and
 * x-kubernetes-validations). Raw, because a masked value would fail a pattern the real one
 * meets; schema messages name fields and constraints, never values.
 */
export async function lintPaths(
  config: CrwatchConfig,
  paths: string[],
  schemaPaths: string[],
): Promise<LintReport> {
  for (const path of paths) await mustExist(path);
  const crds = await loadCrds(schemaPaths);
  const rules = createRuleEngine({ policy: config.policy, rules: config.rules, singleState: true });
  const problems = new Map<string, SchemaProblem[] | undefined>();
  const unknownKinds: Record<string, number> = {};
  const validate = (item: ObservedObject) => {
    const found = crds.validate(item.object);
    problems.set(refKey(item.ref), found);
    if (found === undefined) {
      const { apiVersion } = item.object;
      const name = `${typeof apiVersion === "string" ? apiVersion : item.ref.group}, Kind=${item.ref.kind}`;
      unknownKinds[name] = (unknownKinds[name] ?? 0) + 1;
    }
  };
  const selector = new FileSelector({
    paths,
    include: [...FILES_SOURCE_DEFAULTS.include],
    exclude: [],
  });
  const changes = await withScratchIngest(config, rules, async (ingest, store) => {
    const listed = await scan(selector);
    if (listed.problems.length > 0) {
      await ingest.accept(observation(LINT_SOURCE, listed.problems, []));
    }
    // Files are independent: read a chunk at once (the disk waits overlap), then hand each
    // to ingest, which batches the commits.
    for (let start = 0; start < listed.files.length; start += READ_CHUNK) {
      const chunk = listed.files.slice(start, start + READ_CHUNK);
      const reads = await Promise.all(
        chunk.map((file, k) =>
          // One source per file: lint judges files alone, so the same resource in two files
          // is no conflict (serve would report it), and each is linted where it is written.
          readResourceFile({
            source: `${LINT_SOURCE}#${start + k}`,
            ...file,
            maxBytes: MAX_FILE_BYTES,
          }),
        ),
      );
      const accepted = reads.map((read, k) => {
        if (read.status === "gone") return undefined;
        const items = read.status === "read" ? unique(read.items) : { kept: [], duplicates: [] };
        items.kept.forEach(validate);
        const problems = [...read.problems, ...items.duplicates];
        return ingest.accept(observation(`${LINT_SOURCE}#${start + k}`, problems, items.kept));
      });
      await Promise.all(accepted);
    }
    return store.readChanges({ afterSeq: 0, limit: Number.MAX_SAFE_INTEGER });
  });
  const lines = new LineFinder();
  const results: LintResult[] = [];
  for (const change of changes) {
    const result = await toResult(change, problems, lines);
    if (result) results.push(result);
  }
  results.sort((a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0));
  return { results, crds: crds.size, unknownKinds };
}

function observation(
  source: string,
  problems: SourceProblem[],
  items: ObservedObject[],
): Observation {
  return {
    source,
    observedAt: new Date().toISOString(),
    events: [
      ...problems.map((problem) => ({ type: "problem" as const, problem })),
      ...items.map((item) => ({ type: "upsert" as const, item })),
    ],
  };
}

/** The first of each ref in a file; later ones are CRW_DUPLICATE_RESOURCE problems. */
function unique(items: ObservedObject[]): { kept: ObservedObject[]; duplicates: SourceProblem[] } {
  const seen = new Map<string, ObservedObject>();
  const duplicates: SourceProblem[] = [];
  for (const item of items) {
    const key = refKey(item.ref);
    const first = seen.get(key);
    if (!first) {
      seen.set(key, item);
      continue;
    }
    const location = item.location ?? { path: "" };
    duplicates.push({
      code: "CRW_DUPLICATE_RESOURCE",
      message: `${item.ref.kind} ${item.ref.namespace ? `${item.ref.namespace}/` : ""}${item.ref.name} is defined twice in this file (documents ${first.location?.document} and ${location.document}); the first is used`,
      location,
      fingerprint: `${key}:${location.document}:CRW_DUPLICATE_RESOURCE`,
    });
  }
  return { kept: [...seen.values()], duplicates };
}

async function toResult(
  change: Change,
  problems: Map<string, SchemaProblem[] | undefined>,
  lines: LineFinder,
): Promise<LintResult | undefined> {
  const loc = change.location;
  const file = loc?.path ?? "";
  const at = {
    file,
    ...(loc?.line !== undefined && { line: loc.line }),
    ...(loc?.document !== undefined && { document: loc.document }),
  };
  if (change.type === "ERROR" && change.notice) {
    const finding: LintFinding = {
      ruleId: change.notice.code,
      severity: UNREADABLE_SEVERITY,
      message: change.notice.message,
      ...(loc?.field !== undefined && { path: `/${loc.field.split(".").join("/")}` }),
      ...(loc?.line !== undefined && { line: loc.line }),
    };
    return { ...at, ref: null, resource: file, validated: false, findings: [finding] };
  }
  if (change.type !== "ADDED") return undefined;
  const schema = problems.get(refKey(change.ref));
  const findings: Finding[] = [
    ...(schema ?? []).map((p) => ({
      ruleId: SCHEMA_RULE,
      severity: SCHEMA_SEVERITY,
      message: `${resourceName(change.ref)} ${p.path || "/"}: ${p.message}`,
      path: p.path,
    })),
    ...change.findings,
  ];
  const located: LintFinding[] = [];
  for (const f of findings) {
    const line = await lines.lineOf(file, loc?.document, loc?.field, f.path ?? "");
    located.push({ ...f, ...((line ?? loc?.line) !== undefined && { line: line ?? loc?.line }) });
  }
  return {
    ...at,
    ref: { ...change.ref, source: LINT_SOURCE },
    resource: resourceName(change.ref),
    validated: schema !== undefined,
    findings: located,
  };
}

function resourceName({ kind, namespace, name }: Ref): string {
  return `${kind} ${namespace ? `${namespace}/` : ""}${name}`;
}

async function mustExist(path: string): Promise<void> {
  await stat(path).catch((err) => {
    throw new CrwatchError("CRW_LINT_INPUT", `${path} cannot be read`, { cause: err });
  });
}

/** CRDs from files and directories (walked for YAML and JSON files); other documents are skipped. */
export async function loadCrds(schemaPaths: string[]): Promise<CrdIndex> {
  const documents: JsonValue[] = [];
  for (const root of schemaPaths) {
    for (const file of await schemaFiles(root)) {
      const bytes = await readFile(file).catch((err) => {
        throw new CrwatchError("CRW_LINT_INPUT", `${file} cannot be read`, { cause: err });
      });
      const parsed = parseDocuments(bytes, file, { maxBytes: MAX_CRD_FILE_BYTES });
      const problem = parsed.problems[0];
      if (problem) {
        const line = problem.location.line !== undefined ? `:${problem.location.line}` : "";
        throw new CrwatchError(
          "CRW_LINT_INPUT",
          `--schemas ${file}${line}: ${problem.code}: ${problem.message}`,
        );
      }
      documents.push(...parsed.documents.map((d) => d.value));
    }
  }
  return crdIndex(documents);
}

async function schemaFiles(root: string): Promise<string[]> {
  const info = await stat(root).catch((err) => {
    throw new CrwatchError("CRW_LINT_INPUT", `--schemas ${root} cannot be read`, { cause: err });
  });
  if (!info.isDirectory()) return [root];
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && SCHEMA_FILES.has(extname(e.name).toLowerCase()))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/**
 * The line of a JSON pointer inside a document, by reading the file again (the source keeps
 * only each resource's first line). A pointer the file does not hold (a field rules derive,
 * a decK entity's attached plugin) falls back to its nearest ancestor that it does hold.
 */
export class LineFinder {
  private readonly files = new Map<string, ParsedDocument[]>();

  async lineOf(
    file: string,
    document: number | undefined,
    field: string | undefined,
    pointer: string,
  ): Promise<number | undefined> {
    const doc = (await this.documents(file)).find((d) => d.index === (document ?? 0));
    if (!doc?.lineOf) return undefined;
    const prefix = field ? field.split(".") : [];
    const tokens = pointer
      .split("/")
      .slice(1)
      .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
    for (let n = tokens.length; n >= 0; n--) {
      const line = doc.lineOf([...prefix, ...tokens.slice(0, n)]);
      if (line !== undefined) return line;
    }
    return undefined;
  }

  private async documents(file: string): Promise<ParsedDocument[]> {
    let docs = this.files.get(file);
    if (!docs) {
      try {
        docs = parseDocuments(await readFile(file), file, {
          maxBytes: MAX_CRD_FILE_BYTES,
        }).documents;
      } catch {
        // The file changed or vanished since the source read it: lines fall back to the resource's.
        docs = [];
      }
      this.files.set(file, docs);
    }
    return docs;
  }
}
