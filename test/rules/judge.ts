import { readFileSync } from "node:fs";
import { join } from "node:path";
import { canonicalize } from "../../src/core/canonicalize.js";
import { diff } from "../../src/core/diff.js";
import { createMasker } from "../../src/core/mask.js";
import { parseDocuments } from "../../src/formats/documents.js";
import { toObservedObjects } from "../../src/formats/resources.js";
import type { Finding, PatchOp, ResourceChangeType } from "../../src/model/change.js";
import type { JsonObject } from "../../src/model/json.js";
import type { Actor, ObservedObject } from "../../src/model/observation.js";
import type { Ref } from "../../src/model/ref.js";
import type { EvaluateRules } from "../../src/model/rule.js";
import { sharedDir } from "../helpers.js";

/** The resources of a shared fixture file, as the files source reads them. */
export function fixtureResources(relPath: string): ObservedObject[] {
  const absPath = join(sharedDir, "fixtures", relPath);
  const { documents, problems } = parseDocuments(readFileSync(absPath), absPath, {
    maxBytes: 5 << 20,
  });
  if (problems.length > 0) throw new Error(`${relPath}: ${problems[0]?.message}`);
  return toObservedObjects("local", relPath, absPath, documents).items;
}

/** One resource of a fixture, by kind and name; a copy, free to edit. */
export function fixture(
  relPath: string,
  kind: string,
  name: string,
): { ref: Ref; object: JsonObject } {
  const found = fixtureResources(relPath).find((r) => r.ref.kind === kind && r.ref.name === name);
  if (!found) throw new Error(`${relPath} holds no ${kind} ${name}`);
  return { ref: found.ref, object: structuredClone(found.object) };
}

/** A copy of `object` changed by `edit`. */
export function edited(object: JsonObject, edit: (o: JsonObject) => void): JsonObject {
  const copy = structuredClone(object);
  edit(copy);
  return copy;
}

const masker = createMasker({ key: Buffer.alloc(32, 7) });

export interface JudgeExtras {
  actor?: Actor;
  observedAt?: string;
}

/** Runs a change through canonicalize, mask and diff as ingest does, then through the rules. */
export function judge(
  rules: EvaluateRules,
  ref: Ref,
  before: JsonObject | null,
  after: JsonObject | null,
  extras: JudgeExtras = {},
): Finding[] {
  const b = before && masker(canonicalize(before, {}));
  const a = after && masker(canonicalize(after, {}));
  const type: ResourceChangeType = b === null ? "ADDED" : a === null ? "DELETED" : "MODIFIED";
  const patch: PatchOp[] = diff(b ?? {}, a ?? {});
  return rules({
    type,
    ref,
    before: b,
    after: a,
    patch,
    observedAt: extras.observedAt ?? "2026-01-01T00:00:00Z",
    ...(extras.actor && { actor: extras.actor }),
  });
}

/** Findings as `id severity path`, the form assertions compare. */
export function brief(findings: Finding[]): string[] {
  return findings.map((f) => `${f.ruleId} ${f.severity} ${f.path ?? ""}`);
}
