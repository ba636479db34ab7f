import type { JsonObject } from "../model/json.js";

/** One entity cut out of a declarative file (decK, LiteLLM), ready to become a resource. */
export interface SplitEntity {
  group: string;
  kind: string;
  namespace: string;
  name: string;
  object: JsonObject;
  /** Dotted path of the entity in its document (`services.0.routes.1`), for locations. */
  field: string;
}
