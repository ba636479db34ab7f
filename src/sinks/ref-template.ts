import type { Change } from "../model/change.js";

/** The fields a subject or routing-key template may name: `{source}.{group}.{kind}`. */
const FIELDS = ["source", "group", "kind", "namespace", "name", "type"] as const;
type Field = (typeof FIELDS)[number];

const PLACEHOLDER = /\{([a-z]+)\}/g;

/** Names in `template` that are not fields; an empty list means the template is valid. */
export function unknownFields(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)]
    .map((m) => m[1]!)
    .filter((name) => !(FIELDS as readonly string[]).includes(name));
}

/**
 * Fills a dot-separated template from a change's ref. Each value is made into one safe token
 * first (`sanitize`), so a group like `gateway.networking.k8s.io` or a name with a `*` can
 * never add a level to a subject or become a wildcard.
 */
export function renderRefTemplate(
  template: string,
  change: Change,
  sanitize: (value: string) => string = tokenOf,
): string {
  const values: Record<Field, string> = { ...change.ref, type: change.type };
  return template.replace(PLACEHOLDER, (whole, name: string) =>
    (FIELDS as readonly string[]).includes(name) ? sanitize(values[name as Field]) : whole,
  );
}

/**
 * One subject token / routing-key word: letters, digits, `_` and `-` stay; anything else
 * (`.`, `*`, `>`, `#`, spaces, non-ASCII) becomes `_`; an empty value becomes `_`, because
 * an empty token is not a valid subject.
 */
export function tokenOf(value: string): string {
  const token = value.replace(/[^A-Za-z0-9_-]/g, "_");
  return token.length > 0 ? token : "_";
}
