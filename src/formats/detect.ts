import { isJsonObject, type JsonValue } from "../model/json.js";

/** The declarative formats crwatch splits into one resource per entity. */
export type DeclarativeFormat = "deck" | "litellm";

/** Top-level keys that only a LiteLLM proxy config.yaml has. */
const LITELLM_KEYS = ["model_list", "litellm_settings", "router_settings", "general_settings"];

/**
 * Tells a decK file or a LiteLLM proxy config by its content (file names say nothing
 * reliable: both are commonly `config.yaml`). A Kubernetes-style object is neither.
 */
export function detectFormat(value: JsonValue): DeclarativeFormat | undefined {
  if (!isJsonObject(value)) return undefined;
  if (typeof value.apiVersion === "string" && typeof value.kind === "string") return undefined;
  if ("_format_version" in value) return "deck";
  if (LITELLM_KEYS.some((key) => key in value)) return "litellm";
  return undefined;
}
