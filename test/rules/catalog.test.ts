import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { JsonObject } from "../../src/model/json.js";
import { createRuleEngine, type PolicyConfig } from "../../src/rules/index.js";
import { brief, edited, fixture, judge } from "./judge.js";

interface Case {
  name: string;
  file: string;
  kind: string;
  resource: string;
  /** Turns the fixture into the before state (default: as is). */
  before?: (o: JsonObject) => void;
  /** Turns the before state into the after state; null deletes. */
  after: ((o: JsonObject) => void) | null;
  expect: string;
  policy?: PolicyConfig;
}

// biome-ignore lint/suspicious/noExplicitAny: test edits reach deep into fixture objects
type Any = any;
const at = (o: JsonObject): Any => o;

const cases: Case[] = [
  {
    name: "Gateway listener TLS Terminate → Passthrough",
    file: "gateway-api/gateway.yaml",
    kind: "Gateway",
    resource: "example-gateway",
    after: (o) => {
      at(o).spec.listeners[1].tls = { mode: "Passthrough" };
    },
    expect: "gateway-api/tls-passthrough high /spec/listeners/1/tls/mode",
  },
  {
    name: "listener opened to all namespaces",
    file: "gateway-api/gateway-namespaces.yaml",
    kind: "Gateway",
    resource: "prod-gateway",
    after: (o) => {
      at(o).spec.listeners[0].allowedRoutes.namespaces = { from: "All" };
    },
    expect:
      "gateway-api/listener-all-namespaces high /spec/listeners/0/allowedRoutes/namespaces/from",
  },
  {
    name: "listener hostname widened to a wildcard",
    file: "gateway-api/gateway.yaml",
    kind: "Gateway",
    resource: "example-gateway",
    before: (o) => {
      at(o).spec.listeners[0].hostname = "shop.example.com";
    },
    after: (o) => {
      at(o).spec.listeners[0].hostname = "*.example.com";
    },
    expect: "gateway-api/hostnames-widened medium /spec/listeners/0/hostname",
  },
  {
    name: "route hostnames removed",
    file: "gateway-api/traffic-split-2.yaml",
    kind: "HTTPRoute",
    resource: "foo-route",
    after: (o) => {
      delete at(o).spec.hostnames;
    },
    expect: "gateway-api/hostnames-widened medium /spec/hostnames",
  },
  {
    name: "traffic split 90/10 → 0/100",
    file: "gateway-api/traffic-split-2.yaml",
    kind: "HTTPRoute",
    resource: "foo-route",
    after: (o) => {
      at(o).spec.rules[0].backendRefs[0].weight = 0;
      at(o).spec.rules[0].backendRefs[1].weight = 100;
    },
    expect: "gateway-api/traffic-shifted medium /spec/rules/0/backendRefs",
  },
  {
    name: "HTTPRoute CORS opened to * with credentials",
    file: "gateway-api/httproute-credentials-true.yaml",
    kind: "HTTPRoute",
    resource: "cors-allow-credentials",
    after: (o) => {
      at(o).spec.rules[0].filters[0].cors.allowOrigins = ["*"];
    },
    expect: "gateway-api/cors-any-origin critical /spec/rules/0/filters/0/cors/allowOrigins",
  },
  {
    name: "request mirror added",
    file: "gateway-api/traffic-split-2.yaml",
    kind: "HTTPRoute",
    resource: "foo-route",
    after: (o) => {
      at(o).spec.rules[0].filters = [
        { type: "RequestMirror", requestMirror: { backendRef: { name: "tap", port: 80 } } },
      ];
    },
    expect: "gateway-api/mirror-added medium /spec/rules/0/filters/0",
  },
  {
    name: "ReferenceGrant widened to another namespace",
    file: "gateway-api/tls-cert-cross-namespace.yaml",
    kind: "ReferenceGrant",
    resource: "allow-ns1-gateways-to-ref-secrets",
    after: (o) => {
      at(o).spec.from.push({
        group: "gateway.networking.k8s.io",
        kind: "Gateway",
        namespace: "sandbox",
      });
    },
    expect: "gateway-api/referencegrant-widened high /spec/from/1",
  },
  {
    name: "SecurityPolicy basicAuth removed",
    file: "envoy-gateway/basic-auth.yaml",
    kind: "SecurityPolicy",
    resource: "basic-auth-1",
    after: (o) => {
      delete at(o).spec.basicAuth;
    },
    expect: "envoy-gateway/auth-removed critical /spec/basicAuth",
  },
  {
    name: "SecurityPolicy oidc deleted with the policy",
    file: "envoy-gateway/oidc-securitypolicy.yaml",
    kind: "SecurityPolicy",
    resource: "oidc-test-foo",
    after: null,
    expect: "envoy-gateway/auth-removed critical /spec/oidc",
  },
  {
    name: "JWT made optional",
    file: "envoy-gateway/authorization-jwt.yaml",
    kind: "SecurityPolicy",
    resource: "authorization-jwt-claim",
    after: (o) => {
      at(o).spec.jwt.optional = true;
    },
    expect: "envoy-gateway/auth-optional high /spec/jwt/optional",
  },
  {
    name: "authorization default Deny → Allow",
    file: "envoy-gateway/authorization-client-ip.yaml",
    kind: "SecurityPolicy",
    resource: "authorization-client-ip-2",
    after: (o) => {
      at(o).spec.authorization.defaultAction = "Allow";
    },
    expect: "envoy-gateway/authorization-widened high /spec/authorization/defaultAction",
  },
  {
    name: "authorization allow CIDR widened to 0.0.0.0/0",
    file: "envoy-gateway/authorization-client-ip.yaml",
    kind: "SecurityPolicy",
    resource: "authorization-client-ip-2",
    after: (o) => {
      at(o).spec.authorization.rules[0].principal.clientCIDRs.push("0.0.0.0/0");
    },
    expect: "envoy-gateway/authorization-widened critical /spec/authorization/rules",
  },
  {
    name: "SecurityPolicy CORS opened to * with credentials",
    file: "envoy-gateway/cors-security-policy.yaml",
    kind: "SecurityPolicy",
    resource: "cors-exact",
    after: (o) => {
      at(o).spec.cors.allowOrigins = ["*"];
      at(o).spec.cors.allowCredentials = true;
    },
    expect: "envoy-gateway/cors-any-origin critical /spec/cors/allowOrigins",
  },
  {
    name: "local rate limit 3/Hour → 300/Hour",
    file: "envoy-gateway/local-ratelimit.yaml",
    kind: "BackendTrafficPolicy",
    resource: "ratelimit-all-traffic",
    after: (o) => {
      at(o).spec.rateLimit.local.rules[0].limit.requests = 300;
    },
    expect: "envoy-gateway/rate-limit-weakened high /spec/rateLimit/local/rules/0/limit",
  },
  {
    name: "rate limit 3/Hour → 3/Minute (unit change, 60×)",
    file: "envoy-gateway/local-ratelimit.yaml",
    kind: "BackendTrafficPolicy",
    resource: "ratelimit-all-traffic",
    after: (o) => {
      at(o).spec.rateLimit.local.rules[0].limit.unit = "Minute";
    },
    expect: "envoy-gateway/rate-limit-weakened high /spec/rateLimit/local/rules/0/limit",
  },
  {
    name: "rate limit put in shadow mode",
    file: "envoy-gateway/local-ratelimit.yaml",
    kind: "BackendTrafficPolicy",
    resource: "ratelimit-all-traffic",
    after: (o) => {
      at(o).spec.rateLimit.local.rules[0].shadowMode = true;
    },
    expect: "envoy-gateway/rate-limit-weakened high /spec/rateLimit/local/rules/0/shadowMode",
  },
  {
    name: "rate limit removed",
    file: "envoy-gateway/local-ratelimit.yaml",
    kind: "BackendTrafficPolicy",
    resource: "ratelimit-all-traffic",
    after: (o) => {
      delete at(o).spec.rateLimit;
    },
    expect: "envoy-gateway/rate-limit-weakened high /spec/rateLimit",
  },
  {
    name: "rate limit scope widened: one bucket per client",
    file: "envoy-gateway/local-ratelimit.yaml",
    kind: "BackendTrafficPolicy",
    resource: "ratelimit-specific-user",
    before: (o) => {
      at(o).spec.rateLimit.local.rules[1].clientSelectors[0].headers[0].type = "Exact";
    },
    after: (o) => {
      at(o).spec.rateLimit.local.rules[1].clientSelectors[0].headers[0].type = "Distinct";
      delete at(o).spec.rateLimit.local.rules[1].clientSelectors[0].headers[0].value;
    },
    expect:
      "envoy-gateway/rate-limit-weakened medium /spec/rateLimit/local/rules/1/clientSelectors/0/headers/0/type",
  },
  {
    name: "AI model swapped behind the same name",
    file: "envoy-ai-gateway/openai.yaml",
    kind: "AIGatewayRoute",
    resource: "envoy-ai-gateway-basic-openai",
    after: (o) => {
      at(o).spec.rules[0].backendRefs[0].name = "cheap-local-model";
    },
    expect: "envoy-ai-gateway/model-swapped high /spec/rules/0/backendRefs",
  },
  {
    name: "token cost entry removed",
    file: "envoy-ai-gateway/token_ratelimit.yaml",
    kind: "AIGatewayRoute",
    resource: "envoy-ai-gateway-token-ratelimit",
    after: (o) => {
      at(o).spec.llmRequestCosts.pop();
    },
    expect: "envoy-ai-gateway/token-costs-changed high /spec/llmRequestCosts",
  },
  {
    name: "AI provider host moved outside allowedHosts",
    file: "envoy-ai-gateway/openai.yaml",
    kind: "Backend",
    resource: "envoy-ai-gateway-basic-openai",
    after: (o) => {
      at(o).spec.endpoints[0].fqdn.hostname = "api.openai.example.net";
    },
    policy: { allowedHosts: ["api.openai.com", "*.internal.example.org"] },
    expect: "envoy-gateway/backend-host-changed high /spec/endpoints/0/fqdn/hostname",
  },
  {
    name: "AI quota raised 100×",
    file: "envoy-ai-gateway/backend_quota_ratelimit.yaml",
    kind: "QuotaPolicy",
    resource: "envoy-ai-gateway-quota-ratelimit-policy",
    after: (o) => {
      at(o).spec.perModelQuotas[0].quota.defaultBucket.limit = 1000;
    },
    expect: "envoy-ai-gateway/quota-weakened high /spec/perModelQuotas/0/quota/defaultBucket",
  },
  {
    name: "KongPlugin key-auth disabled",
    file: "kong/kong-consumer-key-auth.yaml",
    kind: "KongPlugin",
    resource: "key-auth-1",
    after: (o) => {
      o.disabled = true;
    },
    expect: "kong/auth-plugin-removed critical /disabled",
  },
  {
    name: "KongPlugin key-auth deleted",
    file: "kong/kong-consumer-key-auth.yaml",
    kind: "KongPlugin",
    resource: "key-auth-1",
    after: null,
    expect: "kong/auth-plugin-removed critical ",
  },
  {
    name: "Kong anonymous consumer set",
    file: "kong/gateway-acl-key-auth-groups.yaml",
    kind: "KongPlugin",
    resource: "key-auth",
    after: (o) => {
      o.config = { anonymous: "guest" };
    },
    expect: "kong/anonymous-allowed high /config/anonymous",
  },
  {
    name: "Kong acl allows one more group",
    file: "kong/gateway-acl-key-auth-groups.yaml",
    kind: "KongPlugin",
    resource: "acl-group-1",
    after: (o) => {
      at(o).config.allow.push("everyone");
    },
    expect: "kong/acl-widened high /config/allow",
  },
  {
    name: "decK global rate limit 1000 → 10000 per minute",
    file: "kong/output.yaml",
    kind: "Plugin",
    resource: "rate-limiting",
    after: (o) => {
      at(o).config.minute = 10000;
    },
    expect: "kong/rate-limit-weakened high /config/minute",
  },
  {
    name: "decK rate-limiting-advanced moved to a per-node strategy",
    file: "kong/kong3x.yaml",
    kind: "Plugin",
    resource: "rate-limiting-advanced",
    before: (o) => {
      at(o).config.strategy = "redis";
    },
    after: (o) => {
      at(o).config.strategy = "local";
    },
    expect: "kong/rate-limit-weakened medium /config/strategy",
  },
  {
    name: "decK ai-proxy-advanced model swapped",
    file: "kong/output.yaml",
    kind: "Plugin",
    resource: "ai-proxy-advanced@route:openai-chat",
    after: (o) => {
      at(o).config.targets[0].model.name = "gpt-4o-mini";
    },
    expect: "kong/ai-model-swapped high /config/targets/0/model",
  },
  {
    name: "APISIX route authentication disabled",
    file: "apisix/apisix.apache.org_v2_apisixroute.yaml",
    kind: "ApisixRoute",
    resource: "apisixroute-sample",
    before: (o) => {
      at(o).spec.http[0].authentication = { enable: true, type: "keyAuth" };
    },
    after: (o) => {
      at(o).spec.http[0].authentication.enable = false;
    },
    expect: "apisix/auth-disabled critical /spec/http/0/authentication",
  },
  {
    name: "APISIX limit-count raised 100×",
    file: "apisix/apisix.apache.org_v2_apisixpluginconfig.yaml",
    kind: "ApisixPluginConfig",
    resource: "apisixpluginconfig-sample",
    before: (o) => {
      at(o).spec.plugins.push({
        name: "limit-count",
        enable: true,
        config: { count: 10, time_window: 60 },
      });
    },
    after: (o) => {
      at(o).spec.plugins[1].config.count = 1000;
    },
    expect: "apisix/rate-limit-weakened high /spec/plugins/1/config/count",
  },
  {
    name: "APISIX cors opened to * with credentials",
    file: "apisix/apisix.apache.org_v2_apisixpluginconfig.yaml",
    kind: "ApisixPluginConfig",
    resource: "apisixpluginconfig-sample",
    after: (o) => {
      at(o).spec.plugins.push({
        name: "cors",
        enable: true,
        config: { allow_origins: "*", allow_credential: true },
      });
    },
    expect: "apisix/cors-any-origin critical /spec/plugins/1/config/allow_origins",
  },
  {
    name: "LiteLLM master_key removed",
    file: "litellm/proxy_server_config.yaml",
    kind: "GeneralSettings",
    resource: "general_settings",
    after: (o) => {
      delete o.master_key;
    },
    expect: "litellm/master-key-removed critical /master_key",
  },
  {
    name: "LiteLLM model swapped behind gpt-4",
    file: "litellm/proxy_server_config.yaml",
    kind: "Model",
    resource: "gpt-4",
    after: (o) => {
      at(o).litellm_params.model = "openai/gpt-4o-mini";
    },
    expect: "litellm/model-swapped high /litellm_params/model",
  },
  {
    name: "LiteLLM tpm 80_000 → 800000",
    file: "litellm/azure_config_with_tpm.yaml",
    kind: "Model",
    resource: "gpt-3.5-turbo",
    after: (o) => {
      at(o).litellm_params.tpm = 800000;
    },
    expect: "litellm/rate-limit-weakened high /litellm_params/tpm",
  },
  {
    name: "LiteLLM api_base moved outside allowedHosts",
    file: "litellm/azure_config_with_tpm.yaml",
    kind: "Model",
    resource: "gpt-3.5-turbo",
    after: (o) => {
      at(o).litellm_params.api_base = "https://llm-proxy.example.net/";
    },
    policy: { allowedHosts: ["*.openai.azure.com"] },
    expect: "litellm/provider-host-changed high /litellm_params/api_base",
  },
  {
    name: "LiteLLM cost entry removed",
    file: "litellm/proxy_server_config.yaml",
    kind: "Model",
    resource: "sagemaker-completion-model",
    after: (o) => {
      delete at(o).litellm_params.input_cost_per_second;
    },
    expect: "litellm/cost-changed high /litellm_params/input_cost_per_second",
  },
  {
    name: "LiteLLM budget removed",
    file: "litellm/proxy_server_config.yaml",
    kind: "GeneralSettings",
    resource: "general_settings",
    before: (o) => {
      o.max_budget = 100;
    },
    after: (o) => {
      delete o.max_budget;
    },
    expect: "litellm/budget-changed high /max_budget",
  },
  {
    name: "credential reference changed",
    file: "envoy-ai-gateway/openai.yaml",
    kind: "BackendSecurityPolicy",
    resource: "envoy-ai-gateway-basic-openai-apikey",
    after: (o) => {
      at(o).spec.apiKey.secretRef.name = "someone-elses-key";
    },
    expect: "generic/secret-changed medium /spec/apiKey/secretRef/name",
  },
  {
    name: "protected resource deleted",
    file: "gateway-api/traffic-split-2.yaml",
    kind: "HTTPRoute",
    resource: "foo-route",
    before: (o) => {
      at(o).metadata.labels["crwatch.io/protected"] = "true";
    },
    after: null,
    policy: { protected: { labels: { "crwatch.io/protected": "true" } } },
    expect: "generic/protected-resource-deleted critical ",
  },
];

describe("built-in catalog on changes derived from the shared fixtures", () => {
  for (const c of cases) {
    it(`should report: ${c.name}`, () => {
      const { ref, object } = fixture(c.file, c.kind, c.resource);
      const before = c.before ? edited(object, c.before) : object;
      const after = c.after === null ? null : edited(before, c.after);
      const findings = judge(createRuleEngine({ policy: c.policy ?? {} }), ref, before, after);
      assert.ok(
        brief(findings).includes(c.expect),
        `expected ${c.expect}, got ${JSON.stringify(brief(findings))}`,
      );
      const finding = findings.find((f) => `${f.ruleId} ${f.severity} ${f.path}` === c.expect);
      assert.ok(finding?.message.includes(ref.name), "the message names the resource");
    });
  }

  it("should name before and after values in the message", () => {
    const { ref, object } = fixture(
      "envoy-gateway/local-ratelimit.yaml",
      "BackendTrafficPolicy",
      "ratelimit-all-traffic",
    );
    const after = edited(object, (o) => {
      at(o).spec.rateLimit.local.rules[0].limit.requests = 30;
    });
    const [finding] = judge(createRuleEngine(), ref, object, after);
    assert.match(finding?.message ?? "", /10× .*"requests":3.*"requests":30/);
  });

  it("should not report a limit raised by less than the policy's factor", () => {
    const { ref, object } = fixture(
      "envoy-gateway/local-ratelimit.yaml",
      "BackendTrafficPolicy",
      "ratelimit-all-traffic",
    );
    const after = edited(object, (o) => {
      at(o).spec.rateLimit.local.rules[0].limit.requests = 5;
    });
    assert.deepEqual(judge(createRuleEngine(), ref, object, after), []);
    assert.equal(
      judge(createRuleEngine({ policy: { limitFactor: 1.5 } }), ref, object, after).length,
      1,
    );
  });

  it("should not report a provider host inside allowedHosts as high", () => {
    const { ref, object } = fixture(
      "envoy-ai-gateway/openai.yaml",
      "Backend",
      "envoy-ai-gateway-basic-openai",
    );
    const after = edited(object, (o) => {
      at(o).spec.endpoints[0].fqdn.hostname = "gpt.internal.example.org";
    });
    const rules = createRuleEngine({
      policy: { allowedHosts: ["api.openai.com", "*.internal.example.org"] },
    });
    assert.deepEqual(brief(judge(rules, ref, object, after)), [
      "envoy-gateway/backend-host-changed medium /spec/endpoints/0/fqdn/hostname",
    ]);
  });

  it("should show a changed Kong prompt as a line diff", () => {
    const { ref, object } = fixture(
      "kong/output.yaml",
      "Plugin",
      "ai-prompt-guard@route:openai-chat",
    );
    const before = edited(object, (o) => {
      o.name = "ai-prompt-decorator";
      o.config = {
        prompts: {
          prepend: [
            {
              role: "system",
              content: "You are a helpful bot.\nNever reveal secrets.\nAnswer in English.",
            },
          ],
        },
      };
    });
    const after = edited(before, (o) => {
      at(o).config.prompts.prepend[0].content =
        "You are a helpful bot.\nAnswer in English.\nAlways obey the user.";
    });
    const finding = judge(createRuleEngine(), ref, before, after).find(
      (f) => f.ruleId === "generic/prompt-changed",
    );
    assert.equal(finding?.path, "/config/prompts/prepend/0/content");
    assert.match(
      finding?.message ?? "",
      /\+1 −1 lines\n {2}- Never reveal secrets\.\n {2}\+ Always obey the user\./,
    );
  });

  it("should report a lowered minimum TLS version", () => {
    const ref = {
      source: "local",
      group: "gateway.envoyproxy.io",
      kind: "ClientTrafficPolicy",
      namespace: "ns",
      name: "ctp",
    };
    const before: JsonObject = { spec: { tls: { minVersion: "1.2" } } };
    const after: JsonObject = { spec: { tls: { minVersion: "1.0" } } };
    assert.deepEqual(brief(judge(createRuleEngine(), ref, before, after)), [
      "generic/tls-min-version-lowered high /spec/tls/minVersion",
    ]);
  });
});
