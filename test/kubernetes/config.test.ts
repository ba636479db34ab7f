import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import pino from "pino";
import { loadConfig } from "../../src/config/load.js";
import { FakeClock } from "../../src/core/clock.js";
import { CrwatchError } from "../../src/model/errors.js";
import type { KubernetesSourceConfig } from "../../src/sources/kubernetes/config.js";
import { createKubernetesSource } from "../../src/sources/kubernetes/source.js";
import type { SourceContext } from "../../src/sources/source.js";
import { writeKubeconfig } from "../fake-kube/fixtures.js";
import { tempDir } from "../helpers.js";

describe("kubernetes source config", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  before(async () => {
    dir = await tempDir("crwatch-k8s-config-");
  });
  after(async () => dir.cleanup());

  async function load(yaml: string) {
    const configPath = join(dir.path, "crwatch.yaml");
    await writeFile(configPath, yaml);
    return loadConfig({ configPath, env: { AUDIT_TOKEN: "t" } });
  }

  async function rejects(yaml: string, pattern: RegExp): Promise<void> {
    await assert.rejects(load(yaml), (err: unknown) => {
      assert.ok(err instanceof CrwatchError);
      assert.equal(err.code, "CRW_CONFIG_INVALID");
      assert.match(err.message, pattern);
      return true;
    });
  }

  const entry = (extra: string) =>
    `sources:\n  - name: cluster\n    type: kubernetes\n    resources: [gateway.networking.k8s.io/HTTPRoute, v1/Secret]\n${extra}`;

  it("should load the documented shape, resolving the kubeconfig against the config file", async () => {
    const config = await load(
      entry(
        "    kubeconfig: ./kubeconfig\n    context: prod\n    namespaces: [edge]\n    labelSelector: team=platform\n    stallTimeout: 5m\n",
      ),
    );
    const source = config.sources[0] as KubernetesSourceConfig;
    assert.equal(source.kubeconfig, join(dir.path, "kubeconfig"));
    assert.deepStrictEqual(source.resources, ["gateway.networking.k8s.io/HTTPRoute", "v1/Secret"]);
    assert.deepStrictEqual(source.namespaces, ["edge"]);
  });

  it("should refuse malformed kinds, durations and namespaces, and a weak audit token, with line and field", async () => {
    await rejects(
      "sources:\n  - name: c\n    type: kubernetes\n    resources: [HTTPRoute]\n",
      /:4: sources\[0\]\.resources\/0 must match pattern|sources\[0\]\.resources\[0\] must match pattern/,
    );
    await rejects(
      entry("    stallTimeout: 5 minutes\n"),
      /:5: sources\[0\]\.stallTimeout must match pattern/,
    );
    await rejects(
      entry("    namespaces: [Edge_1]\n"),
      /sources\[0\]\.namespaces.* must match pattern/,
    );
    await rejects(
      entry('    audit: { listen: 127.0.0.1:7071, token: "${AUDIT_TOKEN}" }\n'),
      /:5: sources\[0\]\.audit\.token must NOT have fewer than 16 characters/,
    );
    await rejects(
      entry("    audit: { listen: nowhere, token: 0123456789abcdef }\n"),
      /:5: sources\[0\]\.audit\.listen must match pattern/,
    );
    await rejects(
      "sources:\n  - name: c\n    type: kubernetes\n",
      /sources\[0\] must have required property 'resources'/,
    );
  });

  it("should fail a run with CRW_K8S_CONFIG for a missing kubeconfig or an unknown context", async () => {
    const good = await writeKubeconfig(dir.path, "http://127.0.0.1:1");
    const cases: Array<[Partial<KubernetesSourceConfig>, RegExp]> = [
      [{ kubeconfig: join(dir.path, "nope") }, /nope: ENOENT/],
      [{ kubeconfig: good, context: "prod" }, /no context "prod"|prod/],
    ];
    for (const [config, pattern] of cases) {
      const source = createKubernetesSource({
        name: "c",
        type: "kubernetes",
        resources: ["v1/Secret"],
        ...config,
      });
      const ctx: SourceContext = {
        name: "c",
        cursors: {},
        log: pino({ level: "silent" }),
        clock: new FakeClock(),
        emit: async () => undefined,
        health: () => undefined,
        ready: () => undefined,
      };
      await assert.rejects(source.run(ctx, new AbortController().signal), (err: unknown) => {
        assert.ok(err instanceof CrwatchError);
        assert.equal(err.code, "CRW_K8S_CONFIG");
        assert.match(err.message, pattern);
        return true;
      });
    }
  });
});
