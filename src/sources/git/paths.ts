import picomatch from "picomatch";

interface PathRule {
  /** A literal path prefix (`""` for the whole tree) that git can filter on. */
  base: string;
  matches(path: string): boolean;
}

/**
 * Which paths in the repository belong to the source, with the files source's meaning of
 * `paths`, `include` and `exclude`: a named file is always taken, a directory is filtered by
 * include, a glob replaces include; exclude applies to everything but a named file.
 */
export class RepoPathSelector {
  private readonly rules: PathRule[];

  constructor(config: { paths: string[]; include: string[]; exclude: string[] }) {
    const include = picomatch(config.include);
    const exclude = config.exclude.length > 0 ? picomatch(config.exclude) : () => false;
    this.rules = config.paths.map((spec) => toRule(normalize(spec), include, exclude));
  }

  selects(path: string): boolean {
    return this.rules.some((rule) => rule.matches(path));
  }

  /** Literal prefixes to hand git as pathspecs (none: the whole tree). */
  pathspecs(): string[] {
    const bases = this.rules.map((r) => r.base);
    if (bases.includes("")) return [];
    return [...new Set(bases)].sort();
  }
}

function normalize(spec: string): string {
  const trimmed = spec.replace(/^\.\/+/, "").replace(/\/+$/, "");
  return trimmed === "." ? "" : trimmed;
}

function toRule(
  spec: string,
  include: (path: string) => boolean,
  exclude: (path: string) => boolean,
): PathRule {
  const scanned = picomatch.scan(spec);
  if (scanned.isGlob) {
    const glob = picomatch(spec);
    return { base: scanned.base, matches: (path) => glob(path) && !exclude(path) };
  }
  if (spec === "") return { base: "", matches: (path) => include(path) && !exclude(path) };
  return {
    base: spec,
    matches: (path) => {
      if (path === spec) return true;
      if (!path.startsWith(`${spec}/`)) return false;
      const rel = path.slice(spec.length + 1);
      return include(rel) && !exclude(rel);
    },
  };
}
