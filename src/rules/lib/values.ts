import { isJsonObject, type JsonObject, type JsonValue } from "../../model/json.js";

export type Path = (string | number)[];

/** The value at a path of tokens, or undefined. */
export function get(node: JsonValue | null | undefined, path: Path): JsonValue | undefined {
  let current: JsonValue | undefined = node ?? undefined;
  for (const token of path) {
    if (Array.isArray(current) && typeof token === "number") current = current[token];
    else if (isJsonObject(current) && typeof token === "string") current = current[token];
    else return undefined;
  }
  return current;
}

/** Path tokens → RFC 6901 JSON pointer. */
export function pointer(path: Path): string {
  return path.map((t) => `/${String(t).replace(/~/g, "~0").replace(/\//g, "~1")}`).join("");
}

export function list(value: JsonValue | undefined): JsonValue[] {
  return Array.isArray(value) ? value : [];
}

export function objects(value: JsonValue | undefined): JsonObject[] {
  return list(value).filter(isJsonObject);
}

export function str(value: JsonValue | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export function num(value: JsonValue | undefined): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string" && /^\s*\d+(\.\d+)?\s*$/.test(value)) return Number(value);
  return undefined;
}

/** A value as it reads in a message: JSON, clipped, `(absent)` for none. */
export function show(value: JsonValue | undefined): string {
  if (value === undefined) return "(absent)";
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

export function present(value: JsonValue | undefined): boolean {
  return value !== undefined && value !== null;
}

/** `metadata.labels` as plain strings (absent → empty). */
export function labelsOf(object: JsonObject | null): Record<string, string> {
  const labels = get(object, ["metadata", "labels"]);
  if (!isJsonObject(labels)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) if (typeof v === "string") out[k] = v;
  return out;
}

/** The dotted display of a path for messages: `spec.rules[0].limit`. */
export function dotted(path: Path): string {
  return path.map((t, i) => (typeof t === "number" ? `[${t}]` : i === 0 ? t : `.${t}`)).join("");
}

/** Every [path, value] in a tree, depth first. */
export function* walk(node: JsonValue | undefined, path: Path = []): Generator<[Path, JsonValue]> {
  if (node === undefined) return;
  yield [path, node];
  if (Array.isArray(node)) for (const [i, v] of node.entries()) yield* walk(v, [...path, i]);
  else if (isJsonObject(node))
    for (const [k, v] of Object.entries(node)) yield* walk(v, [...path, k]);
}
