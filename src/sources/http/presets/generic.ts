import type { GenericEndpointConfig } from "../config.js";
import { atPath } from "../json-path.js";
import type { Paging } from "../paginate.js";
import { asObject, type Preset, str } from "./preset.js";

/**
 * Any JSON endpoint that lists things: the items at a dotted path, each named by the value
 * at another, pages by `Link` header or a cursor field. The source's `url` is the endpoint.
 */
export function genericPreset(config: GenericEndpointConfig): Preset {
  const items = config.items ?? "";
  const pagination = config.pagination ?? { type: "none" };
  const paging: Paging =
    pagination.type === "link"
      ? { style: "link", items }
      : pagination.type === "cursor"
        ? {
            style: "cursor",
            items,
            field: pagination.field ?? "next",
            param: pagination.param ?? "cursor",
          }
        : { style: "none", items };
  const kind = config.kind ?? "Item";
  return {
    tokenHeaders: (token) => ({ Authorization: `Bearer ${token}` }),
    endpoints: [
      {
        name: "items",
        group: config.group ?? "http.crwatch.dev",
        kind,
        paging,
        url: (base) => base,
        toEntity: (item) => {
          const object = asObject(item, `a ${kind}`);
          const name = str(atPath(object, config.id));
          if (!name) throw new TypeError(`a ${kind} has no value at \`${config.id}\``);
          return { name, object };
        },
      },
    ],
  };
}
