import { compare, isWithin, type ScanResult } from "./scan.js";
import type { FileRecord } from "./state.js";

/**
 * Directories that exist but could not be listed (EACCES, an I/O error, a link loop): the
 * walk cannot see into them, and neither can the watcher, which drops a directory it cannot
 * read and hears nothing when it becomes readable again. A missing root is not blind: the
 * watcher watches its nearest ancestor and sees it appear.
 */
export function blindPlaces(found: ScanResult): string[] {
  const missing = new Set(found.missingRoots);
  return found.unlisted.filter((path) => !missing.has(path)).sort(compare);
}

/**
 * The records of the last picture that lie in a blind place, added to `records` (which
 * then iterates in path order again, as buildView needs). What a directory held while it
 * could not be listed is unknown, not gone: keeping its files' records keeps their items in
 * the picture, so no delete is emitted, and once it can be listed again the walk finds the
 * same files with the same signatures and nothing is read or emitted for them.
 */
export function keepBlindRecords(
  records: Map<string, FileRecord>,
  previous: Map<string, FileRecord>,
  blind: string[],
): Map<string, FileRecord> {
  if (blind.length === 0) return records;
  let kept = false;
  for (const [path, record] of previous) {
    if (records.has(path) || !blind.some((dir) => isWithin(dir, path))) continue;
    records.set(path, record);
    kept = true;
  }
  if (!kept) return records;
  return new Map([...records].sort(([a], [b]) => compare(a, b)));
}

/**
 * When to walk again while some place is blind: nothing else would notice it recover.
 * Each wait doubles from `minMs` up to `maxMs` while the same places stay blind (a
 * `lost+found` that never becomes readable costs one walk a minute), and starts over when
 * the set changes.
 */
export class BlindRecheck {
  private places: string[] = [];
  private delayMs: number;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
  ) {
    this.delayMs = minMs;
  }

  /** Takes the blind places of the latest walk; returns those that recovered since the last. */
  update(blind: string[]): string[] {
    const now = new Set(blind);
    const recovered = this.places.filter((path) => !now.has(path));
    if (recovered.length > 0 || blind.length !== this.places.length) this.delayMs = this.minMs;
    this.places = blind;
    return recovered;
  }

  /** The wait before the next recheck, or undefined when nothing is blind. */
  nextDelay(): number | undefined {
    if (this.places.length === 0) return undefined;
    const delay = this.delayMs;
    this.delayMs = Math.min(delay * 2, this.maxMs);
    return delay;
  }
}
