/**
 * Settings of a `kubernetes` source: which cluster (kubeconfig and context, or the
 * in-cluster service account), which kinds, where, and how long a silent watch may last.
 */
export interface KubernetesSourceConfig {
  name: string;
  type: "kubernetes";
  /** A kubeconfig file; omitted: the in-cluster service account, then ~/.kube/config. */
  kubeconfig?: string;
  /** A context of the kubeconfig; omitted: its current context. */
  context?: string;
  /** `group/Kind` (any CRD), or `v1/Kind` for the core group. */
  resources: string[];
  /** Namespaces to watch (namespaced kinds only); omitted: all. */
  namespaces?: string[];
  /** A label selector applied to every list and watch, e.g. `team=platform`. */
  labelSelector?: string;
  /** A watch that delivers neither an event nor a bookmark for this long is restarted. */
  stallTimeout?: string;
  /** How often discovery is asked again for kinds that are not (or no longer) served. */
  discoveryInterval?: string;
  /** Objects per list page (`limit`). */
  pageSize?: number;
  /** An endpoint for the API server's audit webhook: who made each change. */
  audit?: AuditConfig;
}

export interface AuditConfig {
  /** `host:port` to listen on. */
  listen: string;
  /** The bearer token the webhook presents (its kubeconfig's `token`). */
  token: string;
  /** Larger bodies are refused with 413; default 4 MiB. */
  maxBodyBytes?: number;
  /** How far apart an audit event and its change may arrive; default 10s. */
  window?: string;
}

/** One configured kind: `group` is "" for the core group. */
export interface KindSpec {
  group: string;
  kind: string;
}

export interface ResolvedKubernetesSourceConfig {
  name: string;
  kubeconfig: string | undefined;
  context: string | undefined;
  kinds: KindSpec[];
  namespaces: string[];
  labelSelector: string | undefined;
  stallTimeoutMs: number;
  discoveryIntervalMs: number;
  pageSize: number;
  audit: { listen: string; token: string; maxBodyBytes: number; windowMs: number } | undefined;
}

export const KUBERNETES_SOURCE_DEFAULTS = {
  stallTimeout: "5m",
  discoveryInterval: "30s",
  pageSize: 500,
} as const;

const DURATION = /^(\d+)(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
const CORE_VERSION = /^v\d+((alpha|beta)\d+)?$/;

/** `5m` → 300000. The schema has already checked the form. */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** `gateway.networking.k8s.io/HTTPRoute` → that group and kind; `v1/Secret` → the core group. */
export function parseKind(text: string): KindSpec {
  const slash = text.lastIndexOf("/");
  const prefix = text.slice(0, slash);
  const kind = text.slice(slash + 1);
  return { group: CORE_VERSION.test(prefix) ? "" : prefix, kind };
}

/** The stream name of a kind's resourceVersion: `HTTPRoute.gateway.networking.k8s.io`, `Secret`. */
export function kindKey(spec: KindSpec): string {
  return spec.group ? `${spec.kind}.${spec.group}` : spec.kind;
}

export function withKubernetesDefaults(
  config: KubernetesSourceConfig,
): ResolvedKubernetesSourceConfig {
  const seen = new Set<string>();
  const kinds = config.resources.map(parseKind).filter((k) => {
    const key = kindKey(k);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return {
    name: config.name,
    kubeconfig: config.kubeconfig,
    context: config.context,
    kinds,
    namespaces: [...new Set(config.namespaces ?? [])],
    labelSelector: config.labelSelector,
    stallTimeoutMs: parseDuration(config.stallTimeout ?? KUBERNETES_SOURCE_DEFAULTS.stallTimeout),
    discoveryIntervalMs: parseDuration(
      config.discoveryInterval ?? KUBERNETES_SOURCE_DEFAULTS.discoveryInterval,
    ),
    pageSize: config.pageSize ?? KUBERNETES_SOURCE_DEFAULTS.pageSize,
    audit: config.audit && {
      listen: config.audit.listen,
      token: config.audit.token,
      maxBodyBytes: config.audit.maxBodyBytes ?? 4 * 1024 * 1024,
      windowMs: parseDuration(config.audit.window ?? "10s"),
    },
  };
}

const duration = { type: "string", pattern: "^[0-9]+(ms|s|m|h)$" };

/** JSON Schema of one `kubernetes` entry in crwatch.yaml (the config loader composes these). */
export const kubernetesSourceSchema = {
  type: "object",
  additionalProperties: false,
  required: ["name", "type", "resources"],
  properties: {
    name: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9_.-]*$", maxLength: 63 },
    type: { const: "kubernetes" },
    kubeconfig: { type: "string", minLength: 1 },
    context: { type: "string", minLength: 1 },
    resources: {
      type: "array",
      minItems: 1,
      items: { type: "string", pattern: "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?/[A-Z][A-Za-z0-9]*$" },
    },
    namespaces: {
      type: "array",
      items: { type: "string", pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength: 63 },
    },
    labelSelector: { type: "string", minLength: 1 },
    stallTimeout: duration,
    discoveryInterval: duration,
    pageSize: { type: "integer", minimum: 1, maximum: 10_000 },
    audit: {
      type: "object",
      additionalProperties: false,
      required: ["listen", "token"],
      properties: {
        listen: { type: "string", pattern: "^[^\\s]*:[0-9]{1,5}$" },
        token: { type: "string", minLength: 16 },
        maxBodyBytes: { type: "integer", minimum: 1024 },
        window: duration,
      },
    },
  },
} as const;
