import { createHash, timingSafeEqual } from "node:crypto";
import { Hono, type MiddlewareHandler } from "hono";
import type { ApiConfig, Role, Scope } from "./config.js";
import { ApiError } from "./errors.js";

export interface Principal {
  name: string;
  role: Role;
  /** What the token may see (empty: everything its role allows). */
  scope: Scope;
}

/** The Hono environment of every route: who is asking. */
export interface ApiEnv {
  Variables: { principal: Principal };
}

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };

interface KnownToken {
  principal: Principal;
  digest: Buffer;
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/**
 * Tokens are kept only as sha256 digests; a presented token is hashed and compared with
 * every known digest in constant time, so neither timing nor an early exit says which
 * (or whether any) matched.
 */
export class TokenTable {
  private readonly tokens: KnownToken[];

  constructor(config: ApiConfig["tokens"]) {
    this.tokens = config.map((t) => ({
      principal: {
        name: t.name,
        role: t.role,
        scope: {
          ...(t.namespace !== undefined ? { namespace: t.namespace } : {}),
          ...(t.source !== undefined ? { source: t.source } : {}),
        },
      },
      digest: t.sha256 ? Buffer.from(t.sha256, "hex") : sha256(t.token ?? ""),
    }));
  }

  find(token: string): Principal | undefined {
    const digest = sha256(token);
    let found: Principal | undefined;
    for (const known of this.tokens) {
      if (timingSafeEqual(known.digest, digest) && !found) found = known.principal;
    }
    return found;
  }
}

/** `sha256` of a token as crwatch.yaml's `api.tokens[].sha256` holds it. */
export function tokenDigest(token: string): string {
  return sha256(token).toString("hex");
}

const ANONYMOUS: Principal = { name: "anonymous", role: "admin", scope: {} };

/** Sets the principal from `Authorization: Bearer …`; 401 without a known token. */
export function authenticate(config: ApiConfig): MiddlewareHandler<ApiEnv> {
  const table = new TokenTable(config.tokens);
  return async (c, next) => {
    if (config.auth === "none") {
      c.set("principal", ANONYMOUS);
      return next();
    }
    const header = c.req.header("authorization");
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match?.[1]) {
      throw new ApiError(401, "CRW_API_UNAUTHORIZED", "an Authorization: Bearer token is required");
    }
    const principal = table.find(match[1]);
    if (!principal) throw new ApiError(401, "CRW_API_UNAUTHORIZED", "the token is not recognised");
    c.set("principal", principal);
    return next();
  };
}

/** 403 unless the principal's role is at least `role`. */
export function requireRole(role: Role): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const principal = c.get("principal");
    if (RANK[principal.role] < RANK[role]) {
      throw new ApiError(
        403,
        "CRW_API_FORBIDDEN",
        `this needs the ${role} role; token "${principal.name}" has ${principal.role}`,
      );
    }
    return next();
  };
}

/** `GET /whoami`: lets the UI check a token at login. */
export function authRoutes(): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.get("/whoami", (c) => c.json(c.get("principal")));
  return app;
}
