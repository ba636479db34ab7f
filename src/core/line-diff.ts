/** A line-level comparison of two texts, for prompts, Lua code and embedded config files. */
export interface LineDiff {
  added: number;
  removed: number;
  /** `- old line` / `+ new line`, in order, at most `maxLines` of them. */
  lines: string[];
  /** True when lines were left out to stay under `maxLines`. */
  truncated: boolean;
}

/** Above this many lines on a side the quadratic table is skipped: the texts are compared whole. */
const MAX_TABLE_LINES = 2000;

export function isMultiline(value: unknown): value is string {
  return typeof value === "string" && value.includes("\n");
}

/**
 * The lines removed and added between two texts (longest common subsequence, so a moved
 * block shows as removed and added, and unchanged lines are never listed).
 */
export function lineDiff(before: string, after: string, maxLines = 20): LineDiff {
  const a = before.split(/\r?\n/);
  const b = after.split(/\r?\n/);
  const ops =
    a.length > MAX_TABLE_LINES || b.length > MAX_TABLE_LINES ? wholeOps(a, b) : lcsOps(a, b);
  const added = ops.filter((op) => op.startsWith("+")).length;
  return {
    added,
    removed: ops.length - added,
    lines: ops.slice(0, maxLines),
    truncated: ops.length > maxLines,
  };
}

function wholeOps(a: string[], b: string[]): string[] {
  return [...a.map((l) => `- ${l}`), ...b.map((l) => `+ ${l}`)];
}

function lcsOps(a: string[], b: string[]): string[] {
  // lengths[i][j]: LCS length of a[i..] and b[j..], filled from the end.
  const lengths = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lengths[i]![j] =
        a[i] === b[j]
          ? lengths[i + 1]![j + 1]! + 1
          : Math.max(lengths[i + 1]![j]!, lengths[i]![j + 1]!);
    }
  }
  const ops: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      i++;
      j++;
    } else if (j < b.length && (i === a.length || lengths[i]![j + 1]! > lengths[i + 1]![j]!)) {
      ops.push(`+ ${b[j++]}`);
    } else {
      ops.push(`- ${a[i++]}`);
    }
  }
  return ops;
}

/** `+2 −1 lines` plus the lines themselves, indented, for a summary or a finding. */
export function describeLineDiff(diff: LineDiff, indent = "    "): string[] {
  const more = diff.truncated ? [`${indent}…`] : [];
  return [
    `+${diff.added} −${diff.removed} lines`,
    ...diff.lines.map((l) => `${indent}${l}`),
    ...more,
  ];
}
