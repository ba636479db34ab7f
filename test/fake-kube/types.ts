import { readFile } from "node:fs/promises";
import { parseAllDocuments } from "yaml";

/** A kind the fake API server serves. */
export interface ServedType {
  group: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  namespaced: boolean;
  /** Served versions, preferred (storage) first. */
  versions: string[];
}

type Json = Record<string, unknown>;

/** Built-in core kinds (group ""), as /api/v1 lists them. */
export const CORE_TYPES: ServedType[] = [
  core("Secret", "secrets", true),
  core("ConfigMap", "configmaps", true),
  core("Namespace", "namespaces", false),
];

function core(kind: string, plural: string, namespaced: boolean): ServedType {
  return {
    group: "",
    kind,
    listKind: `${kind}List`,
    plural,
    singular: kind.toLowerCase(),
    shortNames: [],
    namespaced,
    versions: ["v1"],
  };
}

/** The served type a CustomResourceDefinition object declares. */
export function typeOfCrd(crd: Json): ServedType {
  const spec = crd.spec as Json;
  const names = spec.names as Json;
  const versions = (spec.versions as Json[]).filter((v) => v.served !== false);
  const storage = versions.find((v) => v.storage === true);
  const ordered = storage ? [storage, ...versions.filter((v) => v !== storage)] : versions;
  return {
    group: spec.group as string,
    kind: names.kind as string,
    listKind: (names.listKind as string | undefined) ?? `${names.kind}List`,
    plural: names.plural as string,
    singular: (names.singular as string | undefined) ?? String(names.kind).toLowerCase(),
    shortNames: (names.shortNames as string[] | undefined) ?? [],
    namespaced: spec.scope === "Namespaced",
    versions: ordered.map((v) => v.name as string),
  };
}

/** Every YAML document of a file that is a mapping. */
export async function readYamlObjects(path: string): Promise<Json[]> {
  const text = await readFile(path, "utf8");
  return parseAllDocuments(text)
    .map((d) => d.toJS() as unknown)
    .filter((d): d is Json => Boolean(d) && typeof d === "object" && !Array.isArray(d));
}

/** The CRD of a file that holds one (the fixtures' CRD files). */
export async function readCrd(path: string): Promise<Json> {
  const crd = (await readYamlObjects(path)).find((d) => d.kind === "CustomResourceDefinition");
  if (!crd) throw new Error(`${path} holds no CustomResourceDefinition`);
  return crd;
}
