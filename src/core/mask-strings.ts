/**
 * Finding secrets inside a string, whatever field holds it: credentials in env-file,
 * properties and header lines, bearer/basic credentials, URL passwords, query tokens,
 * webhook URLs whose path is the secret, PEM private keys and well-known token shapes.
 *
 * Every pattern here starts at a literal or a separator and has no nested quantifiers,
 * so none can backtrack catastrophically; each pass is skipped by a cheap `includes` test
 * when its marker is absent (most strings are names, hosts and paths).
 */

export const MASK_PREFIX = "<masked:";

/** Replaces one secret value with its keyed mask. */
export type MaskFn = (value: string) => string;

/** Whether a field or header or variable name names a secret. */
export type NameTest = (name: string) => boolean;

const MASK_TOKEN = /<masked:[0-9a-f]{16}>/g;

/**
 * The text with every mask made alike: two forms of one object that differ only in their
 * masks (masked under two keys) give the same result.
 */
export function withoutMasks(text: string): string {
  return text.replace(MASK_TOKEN, "<masked>");
}

export function isMasked(value: unknown): boolean {
  return typeof value === "string" && value.startsWith(MASK_PREFIX);
}

/** A part already masked (by an earlier pass, or an earlier run) is not masked again. */
function holdsMask(value: string): boolean {
  return value.includes(MASK_PREFIX);
}

/**
 * A pointer to a secret kept elsewhere, not the secret: `${VAR}`, `$VAR`, `$(VAR)`,
 * LiteLLM's `os.environ/VAR`, Kong's `{vault://env/x}`, a Helm `{{ … }}` expression, an
 * Envoy command operator (`%REQ(x-upstream-key)%`).
 * These stay readable, so switching a reference shows as a change.
 */
const REFERENCE =
  /^(?:%[A-Z_]+(?:\([^()%]*\))?%|\$\{[A-Za-z_][A-Za-z0-9_.]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\$\([A-Za-z_][A-Za-z0-9_]*\)|os\.environ\/[A-Za-z_][A-Za-z0-9_]*|\{vault:\/\/[^{}\s]+\}|\{\{[^{}]*\}\})$/;

export function isReference(value: string): boolean {
  return value.length < 512 && REFERENCE.test(value);
}

/** Authorization schemes kept readable before the masked credential (`Bearer <masked:…>`). */
const SCHEMES = new Set([
  "bearer",
  "basic",
  "digest",
  "token",
  "bot",
  "apikey",
  "key",
  "ssws",
  "negotiate",
  "aws4-hmac-sha256",
  "gostoken",
]);

/**
 * The value of a credential header or field: `Bearer x` keeps its scheme, a reference or
 * an existing mask stays, anything else is masked whole.
 */
export function maskCredential(value: string, mask: MaskFn): string {
  if (value === "" || holdsMask(value) || isReference(value)) return value;
  const space = value.search(/\s/);
  if (space > 0 && space <= 24) {
    const scheme = value.slice(0, space);
    const rest = value.slice(space).trimStart();
    if (SCHEMES.has(scheme.toLowerCase()) && rest !== "") {
      if (isMasked(rest) || isReference(rest)) return value;
      return `${value.slice(0, value.length - rest.length)}${mask(rest)}`;
    }
  }
  return mask(value);
}

/**
 * Masks whatever secrets a free-standing string holds and returns it (the same string
 * when it holds none). `isSecretName` decides for env/properties/header lines and query
 * parameters.
 */
export function maskSecretsInString(value: string, mask: MaskFn, isSecretName: NameTest): string {
  if (value.length < 8 || !SUSPECT.test(value) || isMasked(value)) return value;
  let s = value;
  if (s.includes("-----BEGIN ")) s = maskPrivateKeys(s, mask);
  if (s.includes('":')) s = maskJsonPairs(s, mask, isSecretName);
  if (s.includes("=") || s.includes(":")) s = maskNamedLines(s, mask, isSecretName);
  if (s.includes("://")) {
    if (s.includes("@")) s = maskUrlPasswords(s, mask);
    s = maskWebhookPaths(s, mask);
  }
  if (s.includes("=") && (s.includes("?") || s.includes("&") || s.includes(";"))) {
    s = maskQueryParams(s, mask, isSecretName);
  }
  s = s.replace(SCHEME_CREDENTIAL, (whole, scheme: string, gap: string, cred: string) =>
    looksLikeCredential(cred) ? `${scheme}${gap}${mask(cred)}` : whole,
  );
  s = s.replace(TOKEN_SHAPES, (token) => mask(token));
  return s;
}

/**
 * Whether a string could hold anything the passes below look for: a separator (`=`, `:`,
 * `?`, `&`, `;`, `@`), PEM dashes, a scheme word or a token prefix. Names, hosts and paths
 * fail this one cheap test and are returned untouched. Keep it in step with the passes.
 */
const SUSPECT =
  /[=:?&;@]|-----|sk-|[sr]k_|whsec_|A[KSGIRNBC][A-Z]A|gh[pousr]_|github_pat_|glpat-|xox|xapp-|AIza|hf_|npm_|pat_|gsk_|pplx-|xai-|r8_|hv[sb]\.|dapi|SG\.|shp|eyJ|bearer|basic/i;

// ---------------------------------------------------------------------------------------
// PEM private keys

const PEM_BEGIN = "-----BEGIN ";
const PEM_DASHES = "-----";

/** Masks the body of every `-----BEGIN … PRIVATE KEY-----` block; certificates stay. */
function maskPrivateKeys(s: string, mask: MaskFn): string {
  let out = "";
  let copied = 0; // s[0, copied) is in out
  let search = 0;
  for (;;) {
    const begin = s.indexOf(PEM_BEGIN, search);
    if (begin < 0) break;
    search = begin + PEM_BEGIN.length;
    const headerEnd = s.indexOf(PEM_DASHES, search);
    if (headerEnd < 0 || headerEnd - begin > 80) continue;
    const label = s.slice(search, headerEnd);
    const bodyStart = headerEnd + PEM_DASHES.length;
    if (!label.includes("PRIVATE KEY")) continue;
    const end = s.indexOf(`-----END ${label}-----`, bodyStart);
    const bodyEnd = end < 0 ? s.length : end;
    const body = s.slice(bodyStart, bodyEnd);
    const trimmed = body.trim();
    // An empty body or one already masked is left; the search goes on inside it.
    if (trimmed === "" || holdsMask(trimmed)) continue;
    const lead = body.slice(0, body.length - body.trimStart().length);
    const tail = body.slice(body.trimEnd().length);
    out += `${s.slice(copied, bodyStart)}${lead}${mask(trimmed)}${tail}`;
    copied = bodyEnd;
    search = bodyEnd;
  }
  return copied === 0 ? s : out + s.slice(copied);
}

// ---------------------------------------------------------------------------------------
// NAME=value, name: value, name = value (env files, Java properties, INI, header strings)

/**
 * One line: optional indent, `export` (or `local`, `const`… in scripts) or a flag's dashes,
 * a quote; the name; `=` or `:`; the value. The name
 * allows dots (`spring.datasource.password`) and dashes (`X-API-Key`).
 */
const NAMED_LINE =
  /^(\s{0,64}(?:(?:export|local|const|let|var|set)\s{1,8}|--?)?["']?)([A-Za-z_][A-Za-z0-9_.-]{0,127})(["']?[ \t]{0,16}[=:][ \t]{0,16})([^\n]*)$/;

/** YAML/INI value starters that mean "the value is on the next lines", not a value. */
const NOT_A_VALUE = new Set(["|", ">", "|-", ">-", "|+", ">+", "{", "[", "null", "~", '""', "''"]);

function maskNamedLines(s: string, mask: MaskFn, isSecretName: NameTest): string {
  if (!s.includes("\n")) return maskNamedLine(s, mask, isSecretName);
  const lines = s.split("\n");
  let changed = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (!line.includes("=") && !line.includes(":")) continue;
    const after = maskNamedLine(line, mask, isSecretName);
    if (after !== line) {
      lines[i] = after;
      changed = true;
    }
  }
  return changed ? lines.join("\n") : s;
}

function maskNamedLine(line: string, mask: MaskFn, isSecretName: NameTest): string {
  const m = NAMED_LINE.exec(line);
  if (!m) return line;
  const name = m[2] as string;
  if (!isSecretName(name)) return line;
  const raw = m[4] as string;
  const value = raw.trim();
  if (value === "" || NOT_A_VALUE.has(value) || holdsMask(value)) return line;
  // Prose (`Secret: a Kubernetes Secret holding…`) is not a value; a quoted value may hold spaces.
  const quoted = value.startsWith('"') || value.startsWith("'");
  if (!quoted && value.split(/\s+/, 3).length > 2) return line;
  const unquoted = quoted
    ? value.slice(1, value.endsWith(value[0] as string) ? -1 : undefined)
    : value;
  if (unquoted === "" || isReference(unquoted) || isMasked(unquoted)) return line;
  const lead = raw.slice(0, raw.length - raw.trimStart().length);
  const tail = raw.slice(raw.trimEnd().length);
  return `${m[1]}${name}${m[3]}${lead}${maskCredential(value, mask)}${tail}`;
}

/** `"apiKey": "…"` inside JSON text kept in a string (a ConfigMap's `config.json`). */
const JSON_PAIR = /"([A-Za-z_][A-Za-z0-9_.-]{0,127})"(\s{0,8}:\s{0,8})"([^"\\]+)"/g;

function maskJsonPairs(s: string, mask: MaskFn, isSecretName: NameTest): string {
  return s.replace(JSON_PAIR, (whole, name: string, gap: string, value: string) => {
    if (!isSecretName(name) || holdsMask(value) || isReference(value)) return whole;
    return `"${name}"${gap}"${maskCredential(value, mask)}"`;
  });
}

// ---------------------------------------------------------------------------------------
// URLs: user:password@, secret query parameters, secret paths

/** `scheme://user:password@host` anywhere in the string: the password is masked. */
function maskUrlPasswords(s: string, mask: MaskFn): string {
  let out = "";
  let from = 0;
  let at = s.indexOf("://");
  while (at >= 0) {
    const start = at + 3;
    let i = start;
    let colon = -1;
    // userinfo ends at the first `@`; `/`, `?`, `#`, whitespace or quotes end the authority.
    while (i < s.length && i - start < 2048) {
      const c = s.charCodeAt(i);
      if (c === 64 /* @ */ || c === 47 || c === 63 || c === 35 || c <= 32 || c === 34 || c === 39)
        break;
      if (c === 58 /* : */ && colon < 0) colon = i;
      i++;
    }
    if (i < s.length && s.charCodeAt(i) === 64 && colon >= 0 && colon + 1 < i) {
      const password = s.slice(colon + 1, i);
      if (!holdsMask(s.slice(start, i)) && !isReference(password)) {
        out += `${s.slice(from, colon + 1)}${mask(password)}`;
        from = i;
      }
    }
    at = s.indexOf("://", start); // a "://" inside this one ends its authority at its "/"
  }
  return from === 0 ? s : out + s.slice(from);
}

/** Query (and `;`-separated connection-string) parameter names whose values are secrets. */
const SECRET_PARAMS = new Set(["sig", "signature", "key", "auth", "pwd", "pass", "code"]);

const QUERY_PARAM = /([?&;][ ]{0,2})([A-Za-z0-9_.[\]-]{1,64})=([^&#;\s"'<>]+)/g;

function maskQueryParams(s: string, mask: MaskFn, isSecretName: NameTest): string {
  return s.replace(QUERY_PARAM, (whole, sep: string, name: string, value: string) => {
    const n = name.toLowerCase().replace(/[-_.]/g, "");
    const secret =
      SECRET_PARAMS.has(n) ||
      n.endsWith("signature") ||
      n.endsWith("credential") ||
      n.endsWith("accountkey") ||
      isSecretName(name);
    if (!secret || isReference(value)) return whole;
    return `${sep}${name}=${mask(value)}`;
  });
}

/** Hosts and path prefixes whose rest of path is the credential (incoming webhooks). */
const WEBHOOK_PATHS = [
  "hooks.slack.com/services/",
  "hooks.slack.com/workflows/",
  "hooks.slack.com/triggers/",
  "discord.com/api/webhooks/",
  "discordapp.com/api/webhooks/",
  "ptb.discord.com/api/webhooks/",
  "canary.discord.com/api/webhooks/",
  ".webhook.office.com/webhookb2/",
  ".logic.azure.com/workflows/",
  "api.telegram.org/bot",
  "chat.googleapis.com/v1/spaces/",
  "events.pagerduty.com/integration/",
  "hooks.zapier.com/hooks/catch/",
];

/** Ends a URL path: whitespace, quotes, angle brackets, `?`, `#`. */
function isPathEnd(c: number): boolean {
  return c <= 32 || c === 34 || c === 39 || c === 60 || c === 62 || c === 63 || c === 35;
}

function maskWebhookPaths(s: string, mask: MaskFn): string {
  let result = s;
  for (const prefix of WEBHOOK_PATHS) {
    if (!result.includes(prefix)) continue;
    let out = "";
    let from = 0;
    let at = result.indexOf(prefix);
    while (at >= 0) {
      const start = at + prefix.length;
      let end = start;
      while (end < result.length && !isPathEnd(result.charCodeAt(end))) end++;
      const path = result.slice(start, end);
      if (path !== "" && !holdsMask(path)) {
        out += `${result.slice(from, start)}${mask(path)}`;
        from = end;
      }
      at = result.indexOf(prefix, end);
    }
    if (from > 0) result = out + result.slice(from);
  }
  return result;
}

// ---------------------------------------------------------------------------------------
// Bearer/Basic credentials and well-known token shapes, anywhere in a string

const SCHEME_CREDENTIAL = /(?<![A-Za-z0-9])(Bearer|Basic)(\s{1,4})([A-Za-z0-9._~+/=-]{8,})/gi;

/**
 * Free text says `Bearer authentication` or `Basic Authentication.`; a credential has a
 * digit, base64 padding, or capitals after its first character mixed with small letters.
 */
function looksLikeCredential(value: string): boolean {
  if (/[0-9]/.test(value) || value.endsWith("=")) return true;
  const rest = value.slice(1);
  return /[A-Z]/.test(rest) && /[a-z]/.test(rest);
}

/**
 * Provider token formats. Each starts with a literal prefix right after a non-token
 * character, so a run of token characters is tried from one place only (linear time).
 */
const TOKEN_SHAPES = new RegExp(
  [
    "sk-[A-Za-z0-9_-]{16,}", // OpenAI, Anthropic (sk-ant-…), DeepSeek and the like
    "(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}", // Stripe secret and restricted keys
    "whsec_[A-Za-z0-9+/=]{16,}", // Stripe / Standard Webhooks signing secrets
    "(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])", // AWS
    "gh[pousr]_[A-Za-z0-9]{20,}", // GitHub tokens
    "github_pat_[A-Za-z0-9_]{20,}", // GitHub fine-grained tokens
    "glpat-[A-Za-z0-9_-]{20,}", // GitLab
    "xox[abposre]-[A-Za-z0-9-]{10,}", // Slack bot, user, … tokens
    "xapp-[A-Za-z0-9-]{10,}", // Slack app-level tokens
    "AIza[A-Za-z0-9_-]{30,}", // Google API keys
    "hf_[A-Za-z0-9]{30,}", // Hugging Face
    "npm_[A-Za-z0-9]{36}", // npm
    "(?:kpat|spat)_[A-Za-z0-9]{20,}", // Kong Konnect personal / system access tokens
    "gsk_[A-Za-z0-9]{20,}", // Groq
    "pplx-[A-Za-z0-9]{20,}", // Perplexity
    "xai-[A-Za-z0-9]{20,}", // xAI
    "r8_[A-Za-z0-9]{20,}", // Replicate
    "hv[sb]\\.[A-Za-z0-9_-]{20,}", // HashiCorp Vault service / batch tokens
    "dapi[a-f0-9]{32}(?![A-Za-z0-9])", // Databricks
    "SG\\.[A-Za-z0-9_-]{16,}\\.[A-Za-z0-9_-]{16,}", // SendGrid
    "shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}", // Shopify
    "eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]*", // JWT (header.payload.sig)
  ]
    .map((p) => `(?:${p})`)
    .join("|")
    .replace(/^/, "(?<![A-Za-z0-9_-])(?:")
    .concat(")"),
  "g",
);
