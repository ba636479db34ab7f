/** A JSON Schema object, as ajv takes it. */
export type JsonSchema = Readonly<Record<string, unknown>>;

/**
 * The one shape in which sources, sinks and stores register (see Vector): a `type` as it is
 * written in crwatch.yaml, the JSON Schema of that config entry, and a factory. The config
 * schema is composed from these lists, and the composition root is the only caller of
 * `create`, so a new component is one new folder and one line in its registry.
 */
export interface ComponentType<Config extends { type: string }, Deps, Built> {
  readonly type: Config["type"];
  readonly schema: JsonSchema;
  /** Makes relative paths in the entry absolute, against the config file's directory. */
  resolvePaths?(config: Config, baseDir: string): Config;
  create(config: Config, deps: Deps): Built;
}
