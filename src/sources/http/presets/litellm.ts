import type { JsonObject } from "../../../model/json.js";
import { asObject, type Endpoint, joinUrl, omit, type Preset, str } from "./preset.js";

/** The group of LiteLLM proxy config entities (decision 0009): `Model` per model_list entry. */
export const LITELLM_GROUP = "litellm.ai";

/**
 * Fields /model/info adds to `model_info` from LiteLLM's cost map and its database: they
 * are not in config.yaml and change with LiteLLM releases, not with the configuration.
 */
const DERIVED_INFO = new Set([
  "db_model",
  "key",
  "litellm_provider",
  "max_tokens",
  "max_input_tokens",
  "max_output_tokens",
  "input_cost_per_token",
  "output_cost_per_token",
  "input_cost_per_character",
  "output_cost_per_character",
  "supported_openai_params",
  "supports_function_calling",
  "supports_parallel_function_calling",
  "supports_vision",
  "supports_system_messages",
  "supports_response_schema",
  "supports_tool_choice",
  "supports_prompt_caching",
  "supports_audio_input",
  "supports_audio_output",
  "supports_assistant_prefill",
  "supports_embedding_image_input",
  "supports_native_streaming",
  "supports_pdf_input",
  "supports_reasoning",
  "supports_web_search",
  "supports_computer_use",
  "supports_url_context",
  "created_at",
  "updated_at",
  "created_by",
  "updated_by",
]);

/**
 * The LiteLLM proxy's `/model/info` (`{ data: [{ model_name, litellm_params, model_info }] }`,
 * master key as Bearer) and its router settings: one `Model` per deployment, named as a parsed config.yaml names
 * it, `model_name` and for the n-th further deployment of the same name `model_name#n`.
 */
export const litellmPreset: Preset = {
  tokenHeaders: (token) => ({ Authorization: `Bearer ${token}` }),
  endpoints: [models(), routerSettings()],
};

/**
 * `router_settings` from `/get/config/callbacks` (the proxy's read of its config; the
 * callbacks it also lists are left alone: they carry credentials). Named as the parsed
 * config.yaml names the block. A proxy without the endpoint (404) skips it.
 */
function routerSettings(): Endpoint {
  return {
    name: "router_settings",
    group: LITELLM_GROUP,
    kind: "RouterSettings",
    paging: { style: "object", path: "router_settings" },
    optional: true,
    url: (base) => joinUrl(base, "/get/config/callbacks"),
    toEntity: (item) => ({ name: "router_settings", object: asObject(item, "router_settings") }),
  };
}

function models(): Endpoint {
  return {
    name: "models",
    group: LITELLM_GROUP,
    kind: "Model",
    paging: { style: "none", items: "data" },
    url: (base) => joinUrl(base, "/model/info"),
    toEntity: (item, ctx) => {
      const entry = asObject(item, "a /model/info entry");
      const modelName = str(entry.model_name) ?? `#${ctx.seen.size}`;
      const n = ctx.seen.get(modelName) ?? 0;
      ctx.seen.set(modelName, n + 1);
      const object: JsonObject = { model_name: modelName };
      if (entry.litellm_params !== undefined) object.litellm_params = entry.litellm_params;
      const info = modelInfo(entry.model_info);
      if (info) object.model_info = info;
      return { name: n === 0 ? modelName : `${modelName}#${n}`, object };
    },
  };
}

function modelInfo(value: unknown): JsonObject | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const kept = omit(value as JsonObject, (k, v) => DERIVED_INFO.has(k) || v === null);
  return Object.keys(kept).length ? kept : undefined;
}
