import type { MiddlewareHandler } from "hono";
import type { Ref } from "../model/ref.js";
import type { ApiEnv, Principal } from "./auth.js";
import type { Scope } from "./config.js";
import { ApiError } from "./errors.js";

const DIMENSIONS = ["namespace", "source"] as const;

export function isScoped(scope: Scope): boolean {
  return scope.namespace !== undefined || scope.source !== undefined;
}

export function describeScope(scope: Scope): string {
  return DIMENSIONS.filter((d) => scope[d] !== undefined)
    .map((d) => `${d} ${JSON.stringify(scope[d])}`)
    .join(" and ");
}

function forbidden(principal: Principal, what: string): ApiError {
  return new ApiError(
    403,
    "CRW_API_FORBIDDEN",
    `token "${principal.name}" sees only ${describeScope(principal.scope)}; ${what} is outside it`,
  );
}

/**
 * A list's or a watch stream's filter narrowed to the principal's scope: an unset dimension
 * is set to the scope's value (so the store filters, and pages stay full); one set to
 * another value is refused with 403 rather than answered with an empty list.
 */
export function narrowToScope<Q extends Scope>(principal: Principal, query: Q): Q {
  const narrowed = { ...query };
  for (const dimension of DIMENSIONS) {
    const allowed = principal.scope[dimension];
    if (allowed === undefined) continue;
    const asked = query[dimension];
    if (asked !== undefined && asked !== allowed) {
      throw forbidden(principal, `${dimension} ${JSON.stringify(asked)}`);
    }
    narrowed[dimension] = allowed;
  }
  return narrowed;
}

export function refInScope(scope: Scope, ref: Ref): boolean {
  return DIMENSIONS.every((d) => scope[d] === undefined || scope[d] === ref[d]);
}

/** 403 for one change or resource outside the principal's scope. */
export function checkRefInScope(principal: Principal, ref: Ref, what: string): void {
  if (!refInScope(principal.scope, ref)) throw forbidden(principal, what);
}

/** 403 for a scoped token: the route shows or acts on data across every scope. */
export function requireUnscoped(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const principal = c.get("principal");
    if (isScoped(principal.scope)) throw forbidden(principal, "this route spans every scope");
    return next();
  };
}
