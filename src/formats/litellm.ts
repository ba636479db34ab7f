import { isJsonObject, type JsonObject, type JsonValue } from "../model/json.js";
import type { SplitEntity } from "./split.js";

/** Group of the resources cut out of a LiteLLM proxy config (recorded in decision 0009). */
export const LITELLM_GROUP = "litellm.ai";

/** The settings blocks that each become one resource, by kind. */
const SETTINGS_KINDS: Record<string, string> = {
  router_settings: "RouterSettings",
  litellm_settings: "LiteLLMSettings",
  general_settings: "GeneralSettings",
};

/**
 * Splits a LiteLLM proxy config.yaml: each `model_list` entry is a `Model` named by its
 * `model_name` (the n-th further entry with the same name gets `#n`, since several
 * deployments behind one name is how LiteLLM load-balances), each settings block one
 * resource named as its key, and any other top-level key one `Section` named as its key.
 */
export function splitLiteLLM(doc: JsonObject): SplitEntity[] {
  const out: SplitEntity[] = [];
  const add = (kind: string, name: string, object: JsonObject, field: string) =>
    out.push({ group: LITELLM_GROUP, kind, namespace: "", name, object, field });
  for (const [key, value] of Object.entries(doc)) {
    if (key === "model_list" && Array.isArray(value)) {
      modelEntries(value).forEach(({ name, object, index }) => {
        add("Model", name, object, `model_list.${index}`);
      });
    } else {
      add(SETTINGS_KINDS[key] ?? "Section", key, asObject(value), key);
    }
  }
  return out;
}

function modelEntries(list: JsonValue[]): { name: string; object: JsonObject; index: number }[] {
  const seen = new Map<string, number>();
  return list.flatMap((entry, index) => {
    if (!isJsonObject(entry)) return [];
    const modelName = typeof entry.model_name === "string" ? entry.model_name : `#${index}`;
    const n = seen.get(modelName) ?? 0;
    seen.set(modelName, n + 1);
    return [{ name: n === 0 ? modelName : `${modelName}#${n}`, object: entry, index }];
  });
}

/** A block that is not a mapping (a list, a scalar) is kept under `value`, so it is still tracked. */
function asObject(value: JsonValue): JsonObject {
  return isJsonObject(value) ? value : { value };
}
