/**
 * Ref → id, as committed: a ref's id never changes once its row is in `refs`, so a hit is as
 * good as a lookup. A commit hands over the ids it resolved (found or newly inserted) only
 * once its transaction committed: a rolled-back insert must not leave an id no row has, and
 * concurrent commits (PostgreSQL) must not see each other's. Bounded in entries (about 150
 * bytes each); beyond it the oldest go first and cost one indexed lookup when seen again.
 */
export class RefIds {
  private readonly ids = new Map<string, number>();

  constructor(private readonly max = 20_000) {}

  get(key: string): number | undefined {
    return this.ids.get(key);
  }

  /** The ids a committed transaction resolved. */
  remember(resolved: ReadonlyMap<string, number>): void {
    for (const [key, id] of resolved) {
      if (this.ids.has(key)) continue;
      this.ids.set(key, id);
      if (this.ids.size > this.max) this.ids.delete(this.ids.keys().next().value as string);
    }
  }
}
