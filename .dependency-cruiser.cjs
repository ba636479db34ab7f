/**
 * Keeps the picture in ../shared/DESIGN.md true: dependencies point inward.
 * model/ and core/ import nothing of the outer rooms; sources never import the store,
 * ingest or sinks; sinks read the log, never the pipeline; the store knows no source,
 * sink or HTTP.
 */
module.exports = {
  forbidden: [
    {
      name: "model-is-pure",
      severity: "error",
      from: { path: "^src/model/" },
      to: { path: "^src/(?!model/)" },
    },
    {
      name: "core-is-pure",
      severity: "error",
      from: { path: "^src/core/" },
      to: { path: "^src/(?!model/|core/)" },
    },
    {
      name: "sources-only-observe",
      severity: "error",
      from: { path: "^src/sources/" },
      to: { path: "^src/(store|ingest|sinks|api|cli)/" },
    },
    {
      name: "sinks-read-the-log",
      severity: "error",
      from: { path: "^src/sinks/" },
      to: { path: "^src/(sources|ingest|api|cli)/" },
    },
    {
      name: "store-knows-no-edges",
      severity: "error",
      from: { path: "^src/store/" },
      to: { path: "^src/(sources|ingest|sinks|api|cli|config)/" },
    },
    {
      name: "ingest-knows-no-edges",
      severity: "error",
      from: { path: "^src/ingest/" },
      to: { path: "^src/(sources|sinks|api|cli)/" },
    },
    {
      // Only the composition root and the store's own registry know which dialects exist.
      name: "dialects-behind-the-registry",
      severity: "error",
      from: { path: "^src/", pathNot: ["^src/(store/|main\\.ts$|compose/)", "\\.test\\.ts$"] },
      to: { path: "^src/store/(sqlite|postgres)/" },
    },
    {
      // Ingest and sources are built in one place, so every command runs the same pipeline.
      name: "only-the-root-builds-the-pipeline",
      severity: "error",
      from: { path: "^src/(cli|api|sinks|store|config)/" },
      to: { path: "^src/(ingest|sources)/(?!registry\\.ts$)" },
    },
    {
      // Components register with their registry; nothing points back up at the config.
      name: "components-know-no-config",
      severity: "error",
      from: { path: "^src/(sources|sinks|store|ingest|core|model)/" },
      to: { path: "^src/config/" },
    },
    {
      // Rules judge changes and nothing else: the same engine runs in serve, diff and lint.
      name: "rules-are-pure",
      severity: "error",
      from: { path: "^src/rules/" },
      to: { path: "^src/(?!model/|core/|rules/)" },
    },
    {
      name: "rules-do-no-io",
      severity: "error",
      from: { path: "^src/rules/" },
      to: {
        dependencyTypes: ["core"],
        path: "^(node:)?(fs|fs/promises|net|http|https|child_process|dgram|tls|worker_threads)$",
      },
    },
    {
      name: "no-circular",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
