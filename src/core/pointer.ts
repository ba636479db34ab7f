import type { JsonValue } from "../model/json.js";

/** RFC 6901 pointer → reference tokens (`/a~1b/0` → [`a/b`, `0`]). */
export function parsePointer(pointer: string): string[] {
  if (pointer === "") return [];
  const tokens = pointer.slice(1).split("/");
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as string;
    // Unescaping is rare in practice; skip the two regex passes when there is nothing to do.
    if (t.includes("~")) tokens[i] = t.replace(/~1/g, "/").replace(/~0/g, "~");
  }
  return tokens;
}

/** The child of a container by a reference token, or undefined. */
export function childOf(node: JsonValue | undefined, token: string): JsonValue | undefined {
  if (node === null || typeof node !== "object") return undefined;
  return Array.isArray(node) ? node[Number(token)] : node[token];
}

/** Reads the value at a JSON pointer, or undefined when there is none. */
export function valueAt(doc: JsonValue, pointer: string): JsonValue | undefined {
  let node: JsonValue | undefined = doc;
  for (const token of parsePointer(pointer)) node = childOf(node, token);
  return node;
}
