import type { Clock, TimerHandle } from "../../../core/clock.js";
import type { Actor, Cause } from "../../../model/observation.js";

/** What an audit event says about a change: who, from where, how. */
export interface AuditFacts {
  actor: Actor;
  cause: Cause;
}

/** Which object a change or an audit event is about. */
export interface AuditKey {
  group: string;
  /** The plural resource name (`httproutes`), as audit events name it. */
  resource: string;
  namespace: string;
  name: string;
}

export interface AuditRecord {
  key: AuditKey;
  /** The resourceVersion the write produced, when the audit event carries the response object. */
  resourceVersion?: string;
  /** Epoch ms of the event's stage timestamp. */
  at: number;
  facts: AuditFacts;
}

interface Stored extends AuditRecord {
  id: string;
}

interface Waiter {
  id: string;
  rv: string;
  seenAt: number;
  resolve: (facts: AuditFacts | undefined) => void;
  timer: TimerHandle;
}

function idOf(key: AuditKey): string {
  return JSON.stringify([key.group, key.resource, key.namespace, key.name]);
}

/**
 * Joins audit events and watched changes, whichever comes first: a change waits up to the
 * window for its audit event; an audit event waits up to the window for its change. A match
 * is by object and resourceVersion when the audit event has one, else by time (within the
 * window). Bounded: entries older than the window are dropped, and at most `maxEntries` kept.
 */
export class AuditIndex {
  private records: Stored[] = [];
  private waiters: Waiter[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  add(records: AuditRecord[]): void {
    for (const record of records) {
      const stored = { ...record, id: idOf(record.key) };
      const waiter = this.waiters.find((w) => this.matches(stored, w.id, w.rv, w.seenAt));
      if (waiter) {
        this.settle(waiter, stored.facts);
        continue;
      }
      this.records.push(stored);
    }
    this.prune();
  }

  /** The facts of the audit event behind a change seen now, waiting up to the window. */
  match(key: AuditKey, rv: string, signal: AbortSignal): Promise<AuditFacts | undefined> {
    const id = idOf(key);
    const seenAt = this.clock.now();
    this.prune();
    const i = this.records.findIndex((r) => this.matches(r, id, rv, seenAt));
    if (i !== -1) {
      const [found] = this.records.splice(i, 1);
      return Promise.resolve(found?.facts);
    }
    if (signal.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        id,
        rv,
        seenAt,
        resolve,
        timer: this.clock.setTimeout(() => this.settle(waiter, undefined), this.windowMs),
      };
      this.waiters.push(waiter);
      signal.addEventListener("abort", () => this.settle(waiter, undefined), { once: true });
    });
  }

  /** Audit events held now (for tests and status). */
  get size(): number {
    return this.records.length;
  }

  private matches(record: Stored, id: string, rv: string, seenAt: number): boolean {
    if (record.id !== id) return false;
    if (record.resourceVersion) return record.resourceVersion === rv;
    return Math.abs(record.at - seenAt) <= this.windowMs;
  }

  private settle(waiter: Waiter, facts: AuditFacts | undefined): void {
    const i = this.waiters.indexOf(waiter);
    if (i === -1) return;
    this.waiters.splice(i, 1);
    this.clock.clearTimeout(waiter.timer);
    waiter.resolve(facts);
  }

  private prune(): void {
    const oldest = this.clock.now() - 2 * this.windowMs;
    this.records = this.records.filter((r) => r.at >= oldest);
    if (this.records.length > this.maxEntries)
      this.records = this.records.slice(this.records.length - this.maxEntries);
  }
}
