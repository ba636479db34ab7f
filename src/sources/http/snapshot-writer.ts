import type { ObservationEvent, ObservedObject, Scope } from "../../model/observation.js";

type Emit = (events: ObservationEvent[]) => Promise<void>;

/**
 * Writes one endpoint's read as a paged snapshot, or nothing when the read equals the last
 * committed one. Pages are held while each hashes the same as the same page last time; at
 * the first difference the snapshot begins with the held pages and the rest streams out
 * as it arrives. A read that fails part way simply never calls `end`: no snapshot-end, so
 * nothing is deleted.
 */
export class SnapshotWriter {
  private readonly held: ObservedObject[][] = [];
  private readonly digests: string[] = [];
  private streaming = false;

  constructor(
    private readonly id: string,
    private readonly scope: Scope,
    /** Page digests of the last complete read; undefined on the first read. */
    private readonly previous: readonly string[] | undefined,
    private readonly emit: Emit,
    /** Called once, when the first page goes out (the caller forgets the old digests). */
    private readonly onStream: () => void,
  ) {}

  async page(items: ObservedObject[], digest: string): Promise<void> {
    this.digests.push(digest);
    if (!this.streaming && this.previous?.[this.digests.length - 1] === digest) {
      this.held.push(items);
      return;
    }
    if (!this.streaming) await this.begin();
    await this.emit([{ type: "snapshot-page", id: this.id, items }]);
  }

  /** Ends the snapshot, unless nothing differed; returns whether anything was emitted. */
  async end(): Promise<boolean> {
    const unchanged =
      !this.streaming &&
      this.previous !== undefined &&
      this.previous.length === this.digests.length;
    if (unchanged) return false;
    if (!this.streaming) await this.begin();
    await this.emit([{ type: "snapshot-end", id: this.id }]);
    return true;
  }

  /** The page digests of this read, to compare the next one with. */
  pageDigests(): string[] {
    return this.digests;
  }

  private async begin(): Promise<void> {
    this.streaming = true;
    this.onStream();
    const pages = this.held
      .splice(0)
      .map((items) => ({ type: "snapshot-page" as const, id: this.id, items }));
    await this.emit([{ type: "snapshot-begin", id: this.id, scope: this.scope }, ...pages]);
  }
}
