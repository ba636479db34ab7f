import { sha256Hex, stableStringify } from "../core/stable-json.js";
import { isJsonObject, type JsonObject, type JsonValue } from "../model/json.js";
import type { Location, ObservedObject, SourceProblem } from "../model/observation.js";
import { groupOf, type Ref } from "../model/ref.js";
import { splitDeck } from "./deck.js";
import { detectFormat } from "./detect.js";
import type { ParsedDocument } from "./documents.js";
import { splitLiteLLM } from "./litellm.js";

/** Group of the refs crwatch gives to documents that are not Kubernetes-style resources. */
export const DOCUMENT_GROUP = "crwatch.dev";
export const DOCUMENT_KIND = "Document";

export interface ResourcesResult {
  items: ObservedObject[];
  problems: SourceProblem[];
}

/**
 * Turns a file's documents into resources. A mapping with apiVersion, kind and
 * metadata.name is a Kubernetes-style resource; a `v1 List` stands for its items; any
 * decK declarative config or LiteLLM proxy config is split into one resource per entity
 * (see deck.ts, litellm.ts); any other mapping (a manifest missing a field) is one
 * `Document` named `<relPath>#<index>`.
 *
 * The `#<index>` suffix is there even when the file has one document, so that adding a
 * second document to a file never renames (deletes and re-adds) the first.
 */
export function toObservedObjects(
  source: string,
  relPath: string,
  absPath: string,
  documents: ParsedDocument[],
): ResourcesResult {
  const items: ObservedObject[] = [];
  const problems: SourceProblem[] = [];
  for (const doc of documents) {
    const location: Location = { path: absPath, line: doc.line, document: doc.index };
    const documentName = `${relPath}#${doc.index}`;
    if (!isJsonObject(doc.value)) {
      problems.push(notAnObject(doc.value, location, `document ${doc.index}`));
    } else if (isList(doc.value)) {
      for (const [i, item] of listItems(doc.value).entries()) {
        const itemLocation = { ...location, field: `items.${i}` };
        if (isJsonObject(item)) {
          items.push(observed(source, `${documentName}/items/${i}`, item, location));
        } else {
          problems.push(notAnObject(item, itemLocation, `item ${i} of document ${doc.index}`));
        }
      }
    } else if (detectFormat(doc.value)) {
      items.push(...declarativeItems(source, documentName, doc, doc.value, location));
    } else {
      items.push(observed(source, documentName, doc.value, location));
    }
  }
  return { items, problems };
}

function observed(
  source: string,
  documentName: string,
  object: JsonObject,
  location: Location,
): ObservedObject {
  const ref = kubernetesRef(source, object) ?? documentRef(source, documentName);
  return { ref, object, location };
}

/** One resource per decK / LiteLLM entity, located at its own line and field in the document. */
function declarativeItems(
  source: string,
  documentName: string,
  parsed: ParsedDocument,
  doc: JsonObject,
  location: Location,
): ObservedObject[] {
  const entities = detectFormat(doc) === "deck" ? splitDeck(doc) : splitLiteLLM(doc);
  return entities.map(({ group, kind, namespace, name: entityName, object, field }) => {
    // decK merges several files into one configuration, each with its own `_format_version`
    // and `_info`: that file-level part is one resource per file, named after the file.
    const name = kind === "Config" ? documentName : entityName;
    const path = field.split(".").map((t) => (/^\d+$/.test(t) ? Number(t) : t));
    const line = field ? parsed.lineOf?.(path) : undefined;
    return {
      ref: { source, group, kind, namespace, name },
      object,
      location: field ? { ...location, field, ...(line !== undefined && { line }) } : location,
    };
  });
}

function kubernetesRef(source: string, object: JsonObject): Ref | undefined {
  const { apiVersion, kind, metadata } = object;
  if (!isNonEmptyString(apiVersion) || !isNonEmptyString(kind) || !isJsonObject(metadata)) {
    return undefined;
  }
  const { name, namespace } = metadata;
  if (!isNonEmptyString(name)) return undefined;
  if (namespace !== undefined && namespace !== null && typeof namespace !== "string") {
    return undefined;
  }
  return { source, group: groupOf(apiVersion), kind, namespace: namespace ?? "", name };
}

function documentRef(source: string, name: string): Ref {
  return { source, group: DOCUMENT_GROUP, kind: DOCUMENT_KIND, namespace: "", name };
}

/** `kubectl get -o yaml` output: apiVersion v1, kind List, the objects under items. */
function isList(object: JsonObject): boolean {
  return (
    object.apiVersion === "v1" &&
    object.kind === "List" &&
    (Array.isArray(object.items) || object.items === null || object.items === undefined)
  );
}

function listItems(list: JsonObject): JsonValue[] {
  return Array.isArray(list.items) ? list.items : [];
}

function notAnObject(value: JsonValue, location: Location, what: string): SourceProblem {
  return {
    code: "CRW_NOT_AN_OBJECT",
    message: `${what} is ${describe(value)}, not a mapping; only mappings are tracked`,
    location,
    // No file bytes here: the document's own content, where it sits, identifies the occurrence.
    fingerprint: `${sha256Hex(`${location.path}\0${location.document}\0${location.field ?? ""}\0${stableStringify(value)}`)}:CRW_NOT_AN_OBJECT`,
  };
}

function describe(value: JsonValue): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  return `a ${typeof value}`;
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value.length > 0;
}
