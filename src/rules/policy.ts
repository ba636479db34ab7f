import { CrwatchError } from "../model/errors.js";
import type { Ref } from "../model/ref.js";
import type { PolicyConfig } from "./config.js";

/** The policy block, checked and compiled once, as the catalog consumes it. */
export interface Policy {
  /** Undefined when no allowlist is configured (then hosts are not judged against one). */
  hostAllowed?: (host: string) => boolean;
  /** Undefined when no rule covers the source; else whether the actor may change it. */
  actorApproved(source: string, actor: string): boolean | undefined;
  isProtected(ref: Ref, labels: Record<string, string>): boolean;
  burst?: { changes: number; windowMs: number };
  disabled: Set<string>;
  limitFactor: number;
}

const DEFAULT_LIMIT_FACTOR = 2;
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function compilePolicy(config: PolicyConfig = {}): Policy {
  const hosts = config.allowedHosts;
  const actors = config.approvedActors;
  const protectedRefs = (config.protected?.refs ?? []).map(globToRegExp);
  const labels = Object.entries(config.protected?.labels ?? {});
  return {
    ...(hosts && { hostAllowed: (host: string) => hosts.some((p) => hostMatches(p, host)) }),
    actorApproved: (source, actor) => {
      const patterns = actors ? [...(actors[source] ?? []), ...(actors["*"] ?? [])] : [];
      if (!actors || !(source in actors || "*" in actors)) return undefined;
      return patterns.some((p) => globToRegExp(p).test(actor));
    },
    isProtected: (ref, objectLabels) => {
      const refText = `${ref.kind}/${ref.namespace}/${ref.name}`;
      if (protectedRefs.some((re) => re.test(refText))) return true;
      return labels.length > 0 && labels.every(([k, v]) => objectLabels[k] === v);
    },
    ...(config.burst && {
      burst: { changes: config.burst.changes, windowMs: parseDuration(config.burst.window) },
    }),
    disabled: new Set(config.disable ?? []),
    limitFactor: config.limitFactor ?? DEFAULT_LIMIT_FACTOR,
  };
}

/** `30s`, `5m`, `1h`, `2d`, `500ms` → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) {
    throw new CrwatchError(
      "CRW_RULE_CONFIG",
      `policy.burst.window: "${text}" is not a duration such as 30s, 5m or 1h`,
    );
  }
  return Number(m[1]) * UNITS[m[2]!]!;
}

/** `api.openai.com` matches itself; `*.example.org` matches any subdomain (not the apex). */
export function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase().replace(/\.$/, "");
  if (p.startsWith("*.")) return h.endsWith(p.slice(1)) && h.length > p.length - 1;
  return p === h;
}

/** `*` matches any run of characters; everything else is literal. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split("*")
    .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${body}$`);
}
