import { resolve } from "node:path";
import type { ComponentType } from "../model/component.js";
import { type FilesSourceConfig, filesSourceSchema } from "./files/config.js";
import { createFilesSource } from "./files/source.js";
import { type GitSourceConfig, gitSourceSchema, resolveGitUrl } from "./git/config.js";
import { createGitSource } from "./git/source.js";
import { type HttpSourceConfig, httpSourceSchema } from "./http/config.js";
import { createHttpSource } from "./http/source.js";
import { type KubernetesSourceConfig, kubernetesSourceSchema } from "./kubernetes/config.js";
import type { Source, SourceContext } from "./source.js";
import { type WebhookSourceConfig, webhookSourceSchema } from "./webhook/config.js";
import { createWebhookSource } from "./webhook/source.js";

/** What a source may be given when it is built (its state lives in the store, not here). */
export interface SourceDeps {
  /** A directory the source may keep working files in (a Git clone), under the data directory. */
  workDir: string;
  /**
   * Names the ingest settings that decide what is recorded of an object (mask keys,
   * canonicalization); a source that skips re-sending unchanged state keys that on it.
   */
  stateKey?: string;
}

export type SourceConfig =
  | FilesSourceConfig
  | KubernetesSourceConfig
  | GitSourceConfig
  | HttpSourceConfig
  | WebhookSourceConfig;

export type SourceType<C extends SourceConfig = SourceConfig> = ComponentType<
  C,
  SourceDeps,
  Source
>;

const files: SourceType<FilesSourceConfig> = {
  type: "files",
  schema: filesSourceSchema,
  resolvePaths: (config, baseDir) => ({
    ...config,
    paths: config.paths.map((p) => resolve(baseDir, p)),
  }),
  create: (config, deps) => createFilesSource(config, {}, deps.workDir, deps.stateKey),
};

const kubernetes: SourceType<KubernetesSourceConfig> = {
  type: "kubernetes",
  schema: kubernetesSourceSchema,
  resolvePaths: (config, baseDir) =>
    config.kubeconfig ? { ...config, kubeconfig: resolve(baseDir, config.kubeconfig) } : config,
  create: (config) =>
    lazySource(config.name, "kubernetes", async () => {
      const { createKubernetesSource } = await import("./kubernetes/source.js");
      return createKubernetesSource(config);
    }),
};

const git: SourceType<GitSourceConfig> = {
  type: "git",
  schema: gitSourceSchema,
  resolvePaths: (config, baseDir) => ({ ...config, url: resolveGitUrl(config.url, baseDir) }),
  create: (config, deps) => createGitSource(config, deps),
};

const http: SourceType<HttpSourceConfig> = {
  type: "http",
  schema: httpSourceSchema,
  resolvePaths: (config, baseDir) =>
    config.tls
      ? {
          ...config,
          tls: {
            ...config.tls,
            ...(config.tls.ca ? { ca: resolve(baseDir, config.tls.ca) } : {}),
            ...(config.tls.cert ? { cert: resolve(baseDir, config.tls.cert) } : {}),
            ...(config.tls.key ? { key: resolve(baseDir, config.tls.key) } : {}),
          },
        }
      : config,
  create: (config) => createHttpSource(config),
};

const webhook: SourceType<WebhookSourceConfig> = {
  type: "webhook",
  schema: webhookSourceSchema,
  create: (config) => createWebhookSource(config),
};

/**
 * A source whose module loads when it first runs. The Kubernetes source pulls in
 * @kubernetes/client-node, which alone adds ~70 MiB of RSS and ~40 MiB of heap to every
 * process that imports it (measured: 48 → 120 MiB RSS); users without a Kubernetes source,
 * and every read command, should not carry it.
 */
function lazySource(name: string, type: string, load: () => Promise<Source>): Source {
  let loaded: Promise<Source> | undefined;
  const source = () => {
    loaded ??= load();
    return loaded;
  };
  return {
    name,
    type,
    async run(ctx: SourceContext, signal: AbortSignal) {
      await (await source()).run(ctx, signal);
    },
    async flush() {
      // Nothing can be pending before the source ran (and so loaded).
      if (!loaded) return;
      await (await loaded).flush?.();
    },
  };
}

/** Source types as data: the config schema is composed from this list, the root builds from it. */
export const SOURCE_TYPES = [files, kubernetes, git, http, webhook] as readonly SourceType[];
