import pino from "pino";
import { tempDir } from "../../test/helpers.js";
import { FakeClock } from "../core/clock.js";
import type { NewChange } from "../model/change.js";
import { batchOf, resourceChange, routeRef } from "../store/contract.js";
import { storeType } from "../store/registry.js";
import type { Store } from "../store/store.js";
import { tokenDigest } from "./auth.js";
import { type ApiConfig, apiWithDefaults } from "./config.js";
import type { ApiDeps } from "./deps.js";
import { type CommitNotifier, fanoutNotifier } from "./notifier.js";

/** Tokens of the test config, one per role. */
export const TOKENS = {
  viewer: "viewer-token-0123456789",
  operator: "operator-token-0123456789",
  admin: "admin-token-0123456789",
} as const;

export function testConfig(over: Partial<ApiConfig> = {}): ApiConfig {
  return apiWithDefaults({
    listen: "127.0.0.1:0",
    tokens: [
      { name: "v", role: "viewer", sha256: tokenDigest(TOKENS.viewer) },
      { name: "o", role: "operator", token: TOKENS.operator },
      { name: "a", role: "admin", sha256: tokenDigest(TOKENS.admin) },
    ],
    ...over,
  });
}

/** A notifier the test fires by hand after it commits. */
export function manualNotifier(): CommitNotifier & { notify(): void } {
  return fanoutNotifier();
}

export interface Fixture {
  store: Store;
  notifier: ReturnType<typeof manualNotifier>;
  deps: ApiDeps;
  commit(changes: NewChange[]): Promise<void>;
  cleanup(): Promise<void>;
}

export async function fixture(config: ApiConfig = testConfig()): Promise<Fixture> {
  const dir = await tempDir("crwatch-api-");
  const { store, release } = await storeType("sqlite").create(
    { type: "sqlite", path: dir.path },
    { mode: "write" },
  );
  const notifier = manualNotifier();
  const deps: ApiDeps = {
    store,
    config,
    sources: ["local"],
    sinks: [{ name: "audit", consumer: "sink:audit" }],
    notifier,
    logger: pino({ level: "silent" }),
    clock: new FakeClock(),
  };
  return {
    store,
    notifier,
    deps,
    async commit(changes) {
      await store.commit(batchOf(changes));
      notifier.notify();
    },
    async cleanup() {
      await store.close();
      await release();
      await dir.cleanup();
    },
  };
}

/** seq 1 storefront ADDED, 2 storefront MODIFIED (high finding, bob), 3 api ADDED (cluster). */
export function sampleChanges(): NewChange[] {
  const front = routeRef("storefront");
  return [
    resourceChange("ADDED", front, 1, { findings: [] }),
    resourceChange("MODIFIED", front, 2, {
      actor: { name: "bob" },
      findings: [{ ruleId: "route.public", severity: "high", message: "m", path: "/spec" }],
    }),
    resourceChange("ADDED", routeRef("api", { source: "cluster" }), 1),
  ];
}

/** `n` further edits of one route (revisions from `from` on). */
export function edits(name: string, from: number, n: number): NewChange[] {
  return Array.from({ length: n }, (_, i) =>
    resourceChange(from + i === 1 ? "ADDED" : "MODIFIED", routeRef(name), from + i),
  );
}
