import { isJsonObject, type JsonValue } from "../../model/json.js";

/** The value at a dotted path (`data.items`, `metadata.name`); an empty path is the value. */
export function atPath(value: JsonValue | undefined, path: string): JsonValue | undefined {
  if (!path) return value;
  let node = value;
  for (const token of path.split(".")) {
    if (Array.isArray(node)) node = node[Number(token)];
    else if (isJsonObject(node)) node = node[token];
    else return undefined;
  }
  return node;
}
