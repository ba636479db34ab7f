import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { Ajv, type ErrorObject } from "ajv";
import { type Document, isMap, isScalar, LineCounter, parseDocument } from "yaml";
import { type ApiConfig, apiWithDefaults, checkApiConfig } from "../api/config.js";
import type { ComponentType } from "../model/component.js";
import { CrwatchError } from "../model/errors.js";
import { SINK_TYPES } from "../sinks/registry.js";
import { SOURCE_TYPES } from "../sources/registry.js";
import { STORE_TYPES } from "../store/registry.js";
import {
  type CrwatchConfig,
  configSchema,
  type SinkConfig,
  type SourceConfig,
  type StoreConfig,
} from "./schema.js";

export interface LoadOptions {
  /** crwatch.yaml; when omitted, the config is built from the flags alone. */
  configPath?: string;
  /** Overrides `store.path`. */
  dataDir?: string;
  /** Adds a files source named `files` watching these paths. */
  watch?: string[];
  /** Overrides `api.listen` (each replica of a shared store listens on its own address). */
  apiListen?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

const ajv = new Ajv({ allErrors: true, discriminator: true, strict: false });
const validate = ajv.compile(configSchema);

/** Reads, interpolates, validates and completes the configuration. */
export async function loadConfig(options: LoadOptions): Promise<CrwatchConfig> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  let raw: Record<string, unknown> = {};
  let baseDir = cwd;
  if (options.configPath) {
    const path = resolve(cwd, options.configPath);
    baseDir = dirname(path);
    raw = await readConfigFile(path, env);
  }
  const config = withDefaults(raw, baseDir, env);
  if (options.dataDir) config.store = { ...config.store, path: resolve(cwd, options.dataDir) };
  if (options.watch && options.watch.length > 0) {
    config.sources.push({
      name: "files",
      type: "files",
      paths: options.watch.map((p) => resolve(cwd, p)),
    });
  }
  checkUniqueNames(config.sources, "sources", options.configPath ?? "flags");
  checkUniqueNames(config.sinks, "sinks", options.configPath ?? "flags");
  if (options.apiListen !== undefined) {
    if (!config.api) {
      throw new CrwatchError("CRW_USAGE", "--api-listen needs an api block in the config");
    }
    config.api = { ...config.api, listen: options.apiListen };
  }
  if (config.api) checkApiConfig(config.api, options.configPath ?? "flags");
  return config;
}

/** Parses and validates one config file; every message names the file, line and field. */
export async function readConfigFile(
  path: string,
  env: NodeJS.ProcessEnv,
): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new CrwatchError("CRW_CONFIG_NOT_FOUND", `config file ${path} could not be read`, {
      cause: err,
    });
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const [syntax] = doc.errors;
  if (syntax) {
    const pos = lineCounter.linePos(syntax.pos[0]);
    const first = syntax.message.split("\n")[0];
    throw new CrwatchError("CRW_CONFIG_PARSE", `${path}:${pos.line}:${pos.col}: ${first}`, {
      cause: syntax,
    });
  }
  const where = (segments: (string | number)[]) => `${path}:${lineOf(doc, lineCounter, segments)}`;
  const value = withStoreType(interpolate(doc.toJS({ maxAliasCount: 100 }) ?? {}, [], env, where));
  if (!validate(value)) {
    const lines = (validate.errors ?? []).map((e) => describeError(e, where));
    throw new CrwatchError(
      "CRW_CONFIG_INVALID",
      `invalid configuration:\n  ${[...new Set(lines)].join("\n  ")}`,
    );
  }
  return value as Record<string, unknown>;
}

/** `store: {path: …}` without a type is the embedded default, as it was before stores had types. */
function withStoreType(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const store = (value as { store?: unknown }).store;
  if (store === null || typeof store !== "object" || Array.isArray(store) || "type" in store)
    return value;
  return { ...value, store: { type: "sqlite", ...store } };
}

function describeError(
  error: ErrorObject,
  where: (segments: (string | number)[]) => string,
): string {
  const segments = error.instancePath
    .split("/")
    .slice(1)
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, "/").replace(/~0/g, "~")));
  let message = error.message ?? "is invalid";
  if (error.keyword === "additionalProperties") {
    const extra = String((error.params as { additionalProperty: string }).additionalProperty);
    segments.push(extra);
    message = "is not a known setting";
  } else if (error.keyword === "enum" || error.keyword === "const") {
    const allowed = error.params as { allowedValues?: unknown[]; allowedValue?: unknown };
    message = `must be one of ${JSON.stringify(allowed.allowedValues ?? [allowed.allowedValue])}`;
  } else if (error.keyword === "discriminator") {
    message = "has an unknown or missing `type`";
  }
  return `${where(segments)}: ${dotted(segments) || "(top level)"} ${message}`;
}

function dotted(segments: (string | number)[]): string {
  return segments
    .map((s, i) => (typeof s === "number" ? `[${s}]` : i === 0 ? s : `.${s}`))
    .join("");
}

function lineOf(doc: Document, lineCounter: LineCounter, segments: (string | number)[]): number {
  for (let n = segments.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(segments.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (range) return lineCounter.linePos(keyStart(doc, segments.slice(0, n)) ?? range[0]).line;
  }
  return 1;
}

/** For an unknown key the key itself is the place to point at, not its value. */
function keyStart(doc: Document, segments: (string | number)[]): number | undefined {
  const parent = segments.length > 1 ? doc.getIn(segments.slice(0, -1), true) : doc.contents;
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find(
    (p) => isScalar(p.key) && p.key.value === segments[segments.length - 1],
  );
  return isScalar(pair?.key) ? pair.key.range?.[0] : undefined;
}

const ENV_REF = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** `${NAME}` and `${NAME:-default}` in string values; `$$` is a literal `$`. */
function interpolate(
  value: unknown,
  path: (string | number)[],
  env: NodeJS.ProcessEnv,
  where: (segments: (string | number)[]) => string,
): unknown {
  if (typeof value === "string") {
    return value.replace(
      ENV_REF,
      (match, name: string | undefined, fallback: string | undefined) => {
        if (match === "$$") return "$";
        const found = env[name as string] ?? fallback;
        if (found === undefined) {
          throw new CrwatchError(
            "CRW_CONFIG_ENV",
            `${where(path)}: ${dotted(path)} refers to \${${name}}, which is not set`,
          );
        }
        return found;
      },
    );
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, [...path, i], env, where));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, [...path, k], env, where);
    return out;
  }
  return value;
}

interface RawConfig {
  store?: Partial<StoreConfig>;
  sources?: SourceConfig[];
  sinks?: SinkConfig[];
  rules?: CrwatchConfig["rules"];
  policy?: CrwatchConfig["policy"];
  ingest?: Partial<CrwatchConfig["ingest"]>;
  maskKey?: string;
  maskKeyFile?: string;
  maskKeyPrevious?: string;
  maskKeyPreviousFile?: string;
  shutdownGraceMs?: number;
  delivery?: Partial<CrwatchConfig["delivery"]>;
  api?: Partial<ApiConfig>;
}

/** Lets the entry's own component make its relative paths absolute. */
function resolveEntry<C extends { type: string }>(
  types: readonly ComponentType<C, never, unknown>[],
  entry: C,
  baseDir: string,
): C {
  const type = types.find((t) => t.type === entry.type);
  return type?.resolvePaths ? type.resolvePaths(entry, baseDir) : entry;
}

function withDefaults(
  input: Record<string, unknown>,
  baseDir: string,
  env: NodeJS.ProcessEnv,
): CrwatchConfig {
  const raw = input as RawConfig;
  const sources = (raw.sources ?? []).map((s) => resolveEntry(SOURCE_TYPES, s, baseDir));
  const sinks = (raw.sinks ?? [{ name: "console", type: "console" } as SinkConfig]).map((s) =>
    resolveEntry(SINK_TYPES, s, baseDir),
  );
  const store = { type: "sqlite", path: ".crwatch", ...raw.store } as StoreConfig;
  const config: CrwatchConfig = {
    store: resolveEntry(STORE_TYPES, store, baseDir),
    sources,
    sinks,
    rules: raw.rules ?? [],
    policy: raw.policy ?? {},
    shutdownGraceMs: raw.shutdownGraceMs ?? 10_000,
    ingest: {
      keepStatus: raw.ingest?.keepStatus ?? false,
      ignorePaths: raw.ingest?.ignorePaths ?? [],
      secretKeys: raw.ingest?.secretKeys ?? [],
      workers: raw.ingest?.workers ?? "auto",
    },
    delivery: {
      maxAttempts: 10,
      initialDelayMs: 200,
      maxDelayMs: 30_000,
      batchSize: 500,
      timeoutMs: 30_000,
      ratePerSecond: 0,
      ...raw.delivery,
    },
  };
  if (raw.api) config.api = apiWithDefaults(raw.api);
  const maskKey = raw.maskKey ?? env.CRWATCH_MASK_KEY;
  if (maskKey) config.maskKey = maskKey;
  const maskKeyFile = raw.maskKeyFile ?? env.CRWATCH_MASK_KEY_FILE;
  if (maskKeyFile) config.maskKeyFile = resolve(baseDir, maskKeyFile);
  const previous = raw.maskKeyPrevious ?? env.CRWATCH_MASK_KEY_PREVIOUS;
  if (previous) config.maskKeyPrevious = previous;
  const previousFile = raw.maskKeyPreviousFile ?? env.CRWATCH_MASK_KEY_PREVIOUS_FILE;
  if (previousFile) config.maskKeyPreviousFile = resolve(baseDir, previousFile);
  return config;
}

function checkUniqueNames(items: { name: string }[], what: string, origin: string): void {
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(item.name)) {
      throw new CrwatchError(
        "CRW_CONFIG_INVALID",
        `${origin}: ${what} has two entries named "${item.name}"`,
      );
    }
    seen.add(item.name);
  }
}
