import type { ResolvedGrant } from '../schema/auth.js';
import type { Principal, PrincipalType } from '../types.js';

/**
 * Checks what a user-supplied verifier returned and copies it into a fresh
 * principal of `type`. `undefined` when it is not a principal (the verifier's
 * bug: answered 500, never trusted).
 */
export function normalizePrincipal(value: unknown, type: PrincipalType): Principal | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.id !== 'string' || v.id.length === 0) return undefined;
  let scopes: string[] = [];
  if (v.scopes !== undefined) {
    if (!Array.isArray(v.scopes) || !v.scopes.every((s) => typeof s === 'string')) return undefined;
    scopes = [...(v.scopes as string[])];
  }
  const principal: Principal = { id: v.id, type, scopes };
  if (v.plan !== undefined) {
    if (typeof v.plan !== 'string') return undefined;
    principal.plan = v.plan;
  }
  if (v.metadata !== undefined) {
    if (v.metadata === null || typeof v.metadata !== 'object') return undefined;
    principal.metadata = v.metadata as Record<string, unknown>;
  }
  if (v.claims !== undefined) {
    if (v.claims === null || typeof v.claims !== 'object') return undefined;
    principal.claims = v.claims as Record<string, unknown>;
  }
  return principal;
}

/**
 * A fresh principal for a configured consumer (an API key, a Basic user): its own copy of the
 * scopes, and the plan and metadata when the configuration gave them.
 *
 * @example
 * grantedPrincipal(entry.id, 'apiKey', entry); // { id: 'alice', type: 'apiKey', scopes: ['read'] }
 */
export function grantedPrincipal(id: string, type: PrincipalType, grant: ResolvedGrant): Principal {
  const principal: Principal = { id, type, scopes: grant.scopes.slice() };
  if (grant.plan !== undefined) principal.plan = grant.plan;
  if (grant.metadata !== undefined) principal.metadata = grant.metadata;
  return principal;
}

/** The principal of a request that passed an optional route without credentials. */
export function anonymousPrincipal(): Principal {
  return { id: 'anonymous', type: 'anonymous', scopes: [] };
}

/** True when `granted` holds every scope in `required`. */
export function hasScopes(granted: readonly string[], required: readonly string[]): boolean {
  for (let i = 0; i < required.length; i++) {
    if (!granted.includes(required[i] as string)) return false;
  }
  return true;
}
