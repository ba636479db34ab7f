import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** Where an inbound push webhook is received and how it is authenticated. */
export interface GitWebhookConfig {
  /** `host:port` of a small HTTP listener of this source (port 0 picks a free one). */
  listen: string;
  /** Shared secret: HMAC key (GitHub, Gitea/Forgejo) or token (GitLab). Use `${VAR}`. */
  secret: string;
  /** Bodies over this size are refused with 413; default 1 MiB. */
  maxBodyBytes?: number;
}

/**
 * Settings of a `git` source: one repository, one branch, the paths within it that hold
 * resources, and how the history is read.
 */
export interface GitSourceConfig {
  name: string;
  type: "git";
  /** A local path (relative to the config file) or a remote URL (https, ssh, file). */
  url: string;
  /** Default `main`. */
  branch?: string;
  /** Files, directories or globs relative to the repository root; default the whole tree. */
  paths?: string[];
  /** Globs applied inside directory paths; default YAML and JSON files. */
  include?: string[];
  exclude?: string[];
  /** Poll interval, e.g. `30s`, `5m`, `500ms`; default `30s`. */
  interval?: string;
  /**
   * What the first start (no stored position) records: `head` (default) the current tree as
   * one snapshot, `full` every commit from the first, or a number N: the tree N commits back
   * as one snapshot, then the N commits after it one by one.
   */
  history?: "head" | "full" | number;
  /** Instead of `history`: the tree at this commit as a snapshot, then every commit after it. */
  since?: string;
  /** Walk only the first parent of each commit (default), or every commit in topological order. */
  firstParent?: boolean;
  /** HTTP(S) credentials; use `${VAR}`. A user:password in the URL works the same way. */
  username?: string;
  password?: string;
  maxFileBytes?: number;
  webhook?: GitWebhookConfig;
}

export type ResolvedGitSourceConfig = Required<
  Omit<GitSourceConfig, "since" | "username" | "password" | "webhook">
> &
  Pick<GitSourceConfig, "since" | "username" | "password" | "webhook"> & { intervalMs: number };

export const GIT_SOURCE_DEFAULTS = {
  branch: "main",
  paths: ["."],
  include: ["**/*.yaml", "**/*.yml", "**/*.json"],
  exclude: [] as string[],
  interval: "30s",
  history: "head" as const,
  firstParent: true,
  maxFileBytes: 5 * 1024 * 1024,
};

const DURATION = /^([0-9]+)(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** `30s` → 30000. The schema has checked the spelling. */
export function parseDuration(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new Error(`not a duration: ${text}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

export function withGitDefaults(config: GitSourceConfig): ResolvedGitSourceConfig {
  const d = GIT_SOURCE_DEFAULTS;
  const interval = config.interval ?? d.interval;
  return {
    ...config,
    branch: config.branch ?? d.branch,
    paths: [...(config.paths ?? d.paths)],
    include: [...(config.include ?? d.include)],
    exclude: [...(config.exclude ?? d.exclude)],
    interval,
    intervalMs: parseDuration(interval),
    history: config.history ?? d.history,
    firstParent: config.firstParent ?? d.firstParent,
    maxFileBytes: config.maxFileBytes ?? d.maxFileBytes,
  };
}

/** True for `https://…`, `ssh://…`, `file://…` and scp-like `git@host:path`. */
export function isRemoteUrl(url: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/\\]+@[^/\\:]+:/.test(url);
}

/** A local path becomes an absolute `file://` URL (so shallow fetches work on it too). */
export function resolveGitUrl(url: string, baseDir: string): string {
  if (isRemoteUrl(url)) return url;
  return pathToFileURL(isAbsolute(url) ? url : resolve(baseDir, url)).href;
}

/** JSON Schema of one `git` entry in crwatch.yaml (the config loader composes these). */
export const gitSourceSchema = {
  type: "object",
  additionalProperties: false,
  required: ["name", "type", "url"],
  properties: {
    name: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$", maxLength: 63 },
    type: { const: "git" },
    url: { type: "string", minLength: 1 },
    // No leading dash: a branch is passed to git as an argument.
    branch: { type: "string", pattern: "^[^-\\s~^:?*\\[\\\\][^\\s~^:?*\\[\\\\]*$" },
    paths: { type: "array", items: { type: "string", minLength: 1 }, minItems: 1 },
    include: { type: "array", items: { type: "string", minLength: 1 } },
    exclude: { type: "array", items: { type: "string", minLength: 1 } },
    interval: { type: "string", pattern: DURATION.source },
    history: {
      oneOf: [{ enum: ["head", "full"] }, { type: "integer", minimum: 1 }],
    },
    since: { type: "string", pattern: "^[0-9a-fA-F]{4,64}$" },
    firstParent: { type: "boolean" },
    username: { type: "string" },
    password: { type: "string" },
    maxFileBytes: { type: "integer", minimum: 1 },
    webhook: {
      type: "object",
      additionalProperties: false,
      required: ["listen", "secret"],
      properties: {
        listen: { type: "string", pattern: "^(\\[[0-9a-fA-F:.]+\\]|[^:\\s]+):[0-9]{1,5}$" },
        secret: { type: "string", minLength: 8 },
        maxBodyBytes: { type: "integer", minimum: 1 },
      },
    },
  },
} as const;
