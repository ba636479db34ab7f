import type { BuiltinRule } from "../types.js";
import { apisixRules } from "./apisix.js";
import { envoyAiGatewayRules } from "./envoy-ai-gateway.js";
import { envoyGatewayRules } from "./envoy-gateway.js";
import { gatewayApiRules } from "./gateway-api.js";
import { createBurstRule, genericRules } from "./generic.js";
import { kongRules } from "./kong.js";
import { litellmRules } from "./litellm.js";

/** Every built-in rule, fresh: stateful ones (burst) keep their memory per engine. */
export function builtinRules(): BuiltinRule[] {
  return [
    ...gatewayApiRules,
    ...envoyGatewayRules,
    ...envoyAiGatewayRules,
    ...kongRules,
    ...apisixRules,
    ...litellmRules,
    ...genericRules,
    createBurstRule(),
  ];
}
