/**
 * Credentials never reach argv, the clone's config file or a log line: they are taken out
 * of the URL, handed to git as an `http.extraHeader` through GIT_CONFIG_* environment
 * variables (visible only to this user's processes), and masked in every message.
 */
export interface GitAccess {
  /** The URL without user information: what git is given and what may be shown. */
  url: string;
  /** Extra environment for git commands that talk to the remote. */
  env: Record<string, string>;
  /** Every string that must not appear in a message. */
  secrets: string[];
}

export function gitAccess(url: string, username?: string, password?: string): GitAccess {
  let user = username;
  let pass = password;
  let bare = url;
  const secrets: string[] = [];
  const m = /^(https?:\/\/)([^/@]*)@(.*)$/i.exec(url);
  if (m) {
    const [userPart, passPart] = splitOnce(m[2]!, ":");
    user ??= decodeURIComponent(userPart);
    if (passPart !== undefined) pass ??= decodeURIComponent(passPart);
    bare = `${m[1]}${m[3]}`;
    secrets.push(m[2]!);
    if (passPart !== undefined) secrets.push(passPart);
  }
  const env: Record<string, string> = {};
  if (pass !== undefined && pass !== "" && /^https?:/i.test(bare)) {
    const token = Buffer.from(`${user ?? "git"}:${pass}`).toString("base64");
    secrets.push(pass, encodeURIComponent(pass), token);
    env.GIT_CONFIG_COUNT = "1";
    env.GIT_CONFIG_KEY_0 = "http.extraHeader";
    env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${token}`;
  }
  return { url: bare, env, secrets: secrets.filter((s) => s.length >= 3) };
}

function splitOnce(text: string, sep: string): [string, string | undefined] {
  const i = text.indexOf(sep);
  return i === -1 ? [text, undefined] : [text.slice(0, i), text.slice(i + 1)];
}

/** Replaces each secret, and any user information left in a URL, with `***`. */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join("***");
  }
  return out.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, "$1***@");
}
