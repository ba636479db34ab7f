import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { CrwatchError, errorMessage } from "../model/errors.js";
import { isJsonObject, type JsonObject, type JsonValue } from "../model/json.js";
import { type CelStats, celValidator, type SchemaProblem } from "./crd-cel.js";

export type { SchemaProblem };

/** Validators of one CRD, by served version. */
export interface CrdValidators {
  group: string;
  kind: string;
  versions: Map<string, (object: JsonValue) => SchemaProblem[]>;
  /** x-kubernetes-validations rules run, and skipped (see crd-cel.ts), over all versions. */
  cel: CelStats;
}

/**
 * Turns a CustomResourceDefinition into one validator per version, from each version's
 * openAPIV3Schema. The Kubernetes extensions (`x-kubernetes-*`) are declared as keywords
 * for Ajv (their CEL rules run in crd-cel.ts), formats such as int32 are accepted
 * as annotations, and `metadata` is not judged (the API server owns it).
 */
export function crdValidators(crd: JsonObject, ajv: Ajv = newAjv()): CrdValidators {
  const spec = crd.spec;
  if (!isJsonObject(spec) || !isJsonObject(spec.names) || typeof spec.group !== "string") {
    throw new CrwatchError(
      "CRW_CRD_SCHEMA",
      "not a CustomResourceDefinition: spec.group or spec.names is missing",
    );
  }
  const kind = String(spec.names.kind);
  const versions = new Map<string, (object: JsonValue) => SchemaProblem[]>();
  const celStats: CelStats = { compiled: 0, skipped: 0 };
  for (const version of Array.isArray(spec.versions) ? spec.versions : []) {
    if (!isJsonObject(version) || typeof version.name !== "string") continue;
    const schema = isJsonObject(version.schema) ? version.schema.openAPIV3Schema : undefined;
    if (!isJsonObject(schema)) continue;
    let validate: ValidateFunction;
    try {
      validate = ajv.compile(withoutMetadata(schema));
    } catch (err) {
      throw new CrwatchError(
        "CRW_CRD_SCHEMA",
        `${kind}.${spec.group} ${version.name}: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    const cel = celValidator(schema);
    celStats.compiled += cel.stats.compiled;
    celStats.skipped += cel.stats.skipped;
    versions.set(version.name, (object) => {
      // CEL rules assume a structurally valid object, as the API server runs them after the schema.
      if (!validate(object)) return (validate.errors ?? []).map(problem);
      return cel.validate(object);
    });
  }
  return { group: spec.group, kind, versions, cel: celStats };
}

/** An Ajv set up for Kubernetes structural schemas. */
export function newAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  for (const keyword of [
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-validations",
  ]) {
    ajv.addKeyword({ keyword });
  }
  return ajv;
}

/** The API server fills and checks metadata itself; CRD schemas leave it loose or absent. */
function withoutMetadata(schema: JsonObject): JsonObject {
  if (!isJsonObject(schema.properties)) return schema;
  const { metadata: _ignored, ...properties } = schema.properties;
  return { ...schema, properties };
}

function problem(error: ErrorObject): SchemaProblem {
  const extra =
    error.keyword === "additionalProperties"
      ? ` (${String((error.params as { additionalProperty?: string }).additionalProperty)})`
      : "";
  return { path: error.instancePath, message: `${error.message ?? error.keyword}${extra}` };
}

/** Validators of many CRDs, looked up by a resource's apiVersion and kind. */
export interface CrdIndex {
  /** Problems of one resource; undefined when no loaded CRD covers its group, kind and version. */
  validate(object: JsonObject): SchemaProblem[] | undefined;
  size: number;
}

/** Builds the index from CRD documents (other documents are skipped), sharing one Ajv. */
export function crdIndex(documents: JsonValue[]): CrdIndex {
  const ajv = newAjv();
  const byKind = new Map<string, CrdValidators>();
  for (const doc of documents) {
    if (!isJsonObject(doc) || doc.kind !== "CustomResourceDefinition") continue;
    const v = crdValidators(doc, ajv);
    byKind.set(`${v.kind}.${v.group}`, v);
  }
  return {
    size: byKind.size,
    validate: (object) => {
      if (typeof object.apiVersion !== "string" || typeof object.kind !== "string")
        return undefined;
      const [group, version] = object.apiVersion.includes("/")
        ? object.apiVersion.split("/")
        : ["", object.apiVersion];
      return byKind.get(`${object.kind}.${group}`)?.versions.get(version ?? "")?.(object);
    },
  };
}
