import type pg from "pg";
import { CrwatchError } from "../../model/errors.js";
import type { Fence, Lease, LeaseManager } from "../store.js";

interface LeaseRow {
  name: string;
  holder: string;
  token: number;
  expires_at: Date;
}

function leaseOf(row: LeaseRow): Lease {
  return {
    name: row.name,
    holder: row.holder,
    token: Number(row.token),
    expiresAt: row.expires_at.toISOString(),
  };
}

type Queryable = Pick<pg.PoolClient, "query">;

/**
 * Leases in the `leases` table (migration 3). One statement decides a take-over, so two
 * replicas asking at once cannot both win; expiry is measured by the server's clock.
 */
export class PostgresLeases implements LeaseManager {
  readonly settings: { holder: string; ttlMs: number };
  private readonly pool: pg.Pool;
  private readonly table: string;

  constructor(pool: pg.Pool, table: string, settings: { holder: string; ttlMs: number }) {
    this.pool = pool;
    this.table = table;
    this.settings = settings;
  }

  async acquire(name: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
    const { rows } = await this.pool.query<LeaseRow>(
      `INSERT INTO ${this.table} AS l (name, holder, token, expires_at)
       VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond')
       ON CONFLICT (name) DO UPDATE SET
         holder = excluded.holder,
         token = CASE WHEN l.holder = excluded.holder AND l.expires_at > now()
                      THEN l.token ELSE l.token + 1 END,
         expires_at = excluded.expires_at
       WHERE l.holder = excluded.holder OR l.expires_at <= now()
       RETURNING name, holder, token, expires_at`,
      [name, holder, ttlMs],
    );
    return rows[0] && leaseOf(rows[0]);
  }

  async release(lease: Lease): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.table} SET expires_at = now() WHERE name = $1 AND holder = $2 AND token = $3`,
      [lease.name, lease.holder, lease.token],
    );
  }

  async list(): Promise<Lease[]> {
    const { rows } = await this.pool.query<LeaseRow>(
      `SELECT name, holder, token, expires_at FROM ${this.table} ORDER BY name COLLATE "C"`,
    );
    return rows.map(leaseOf);
  }
}

/**
 * Inside a commit: the writer's lease must still carry its token and be live. FOR SHARE
 * holds the row until the commit ends, so a take-over waits for this commit rather than
 * slipping in between the check and the write: whatever the old holder commits happens
 * before the new holder reads the cursors.
 */
export async function checkFence(client: Queryable, table: string, fence: Fence): Promise<void> {
  const { rows } = await client.query<{ token: number; live: boolean; holder: string }>(
    `SELECT token, holder, expires_at > now() AS live FROM ${table} WHERE name = $1 FOR SHARE`,
    [fence.lease],
  );
  const row = rows[0];
  if (!row || Number(row.token) !== fence.token || !row.live) {
    const now = row
      ? `token ${row.token} held by ${row.holder}${row.live ? "" : ", expired"}`
      : "no such lease";
    throw new CrwatchError(
      "CRW_STORE_CONFLICT",
      `lease ${fence.lease}: this writer's token ${fence.token} is no longer current (${now}); it must stop writing`,
    );
  }
}
