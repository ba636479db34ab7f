import { createHmac } from "node:crypto";
import { isJsonObject, type JsonObject, type JsonValue } from "../../model/json.js";

/**
 * Hides the credentials a source was configured with (header values, the token, a URL
 * password) in any text about to be logged, put in health or written as a GAP: an error
 * from a proxy or an admin API may echo a request header back.
 */
export class SecretText {
  private readonly secrets: string[];

  constructor(values: Iterable<string | undefined>) {
    // Longest first, so a secret containing another is hidden whole.
    this.secrets = [...new Set([...values].filter((v): v is string => !!v && v.length >= 4))]
      .flatMap((v) => (v.startsWith("Bearer ") ? [v, v.slice(7)] : [v]))
      .sort((a, b) => b.length - a.length);
  }

  mask(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join("***");
    return out;
  }
}

/** The password of a URL such as `https://admin:pw@kong:8001`, if any. */
export function urlPassword(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.password ? decodeURIComponent(parsed.password) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Replaces credential values an admin API returns under names the ingest masker does not
 * know (a certificate's `key`, a key-auth `key`) with `<masked:…>`. The HMAC key is
 * derived from the source's own credentials: stable across restarts (a rotation still
 * shows as a change) and unguessable by anyone who cannot call the admin API anyway; an
 * admin API without credentials is readable by whoever reads the log.
 */
export class FieldRedactor {
  private readonly key: Buffer;

  constructor(name: string, credentials: Iterable<string | undefined>) {
    const material = [name, ...[...credentials].filter((v): v is string => !!v)].join("\0");
    this.key = createHmac("sha256", "crwatch-http-source").update(material).digest();
  }

  value(value: JsonValue): string {
    const digest = createHmac("sha256", this.key).update(JSON.stringify(value)).digest("hex");
    return `<masked:${digest.slice(0, 16)}>`;
  }

  /** Copies `object` with the string values of `fields` (at any depth) masked. */
  fields(object: JsonObject, fields: ReadonlySet<string>): JsonObject {
    return this.walk(object, fields) as JsonObject;
  }

  private walk(node: JsonValue, fields: ReadonlySet<string>): JsonValue {
    if (Array.isArray(node)) return node.map((v) => this.walk(v, fields));
    if (!isJsonObject(node)) return node;
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [
        k,
        fields.has(k) && (typeof v === "string" || Array.isArray(v))
          ? this.value(v)
          : this.walk(v, fields),
      ]),
    );
  }
}
