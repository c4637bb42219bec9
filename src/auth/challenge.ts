import type { PrincipalType } from '../types.js';
import type { AuthFailure } from './outcome.js';

/** What the challenges are built from: the configured strategies. */
export interface ChallengeConfig {
  realm: string;
  apiKeyHeader: string | undefined;
  jwt: boolean;
  basicRealm: string | undefined;
}

/**
 * `WWW-Authenticate` challenges, built once (RFC 9110 §11.6.1, RFC 6750 §3,
 * RFC 7617 §2):
 *
 * - no credentials: one challenge per configured strategy, in strategy order
 *   (`ApiKey`, `Bearer` without `error=`, `Basic`); a setup with only `verify`
 *   sends `Custom realm="…"` so a 401 always carries a challenge;
 * - credentials presented but refused: only the presented strategy's challenge
 *   (`Bearer … error="invalid_token"` for tokens);
 * - missing scope on a token: `Bearer … error="insufficient_scope", scope="…"`.
 */
export class Challenges {
  /** For requests that carried no credentials. */
  readonly missing: string[];
  private readonly apiKey: string | undefined;
  private readonly bearer: string;
  private readonly basic: string | undefined;
  private readonly invalidToken = new Map<string, string>();

  constructor(config: ChallengeConfig) {
    const realm = `realm="${config.realm}"`;
    this.apiKey = config.apiKeyHeader
      ? `ApiKey ${realm}, header="${config.apiKeyHeader}"`
      : undefined;
    this.bearer = `Bearer ${realm}`;
    this.basic = config.basicRealm
      ? `Basic realm="${config.basicRealm}", charset="UTF-8"`
      : undefined;
    const missing: string[] = [];
    if (this.apiKey) missing.push(this.apiKey);
    if (config.jwt) missing.push(this.bearer);
    if (this.basic) missing.push(this.basic);
    if (missing.length === 0) missing.push(`Custom ${realm}`);
    this.missing = missing;
  }

  /** The challenge for credentials of `strategy` that were refused. */
  refused(strategy: PrincipalType | undefined, failure: AuthFailure): string | string[] {
    if (strategy === 'apiKey' && this.apiKey) return this.apiKey;
    if (strategy === 'basic' && this.basic) return this.basic;
    if (strategy === 'jwt') {
      let value = this.invalidToken.get(failure.reason);
      if (value === undefined) {
        value = `${this.bearer}, error="invalid_token", error_description="${failure.detail}"`;
        this.invalidToken.set(failure.reason, value);
      }
      return value;
    }
    return this.missing;
  }

  /** The 403 challenge for a bearer token that lacks `scopes` (undefined for other strategies). */
  insufficientScope(scopes: readonly string[]): string {
    return `${this.bearer}, error="insufficient_scope", scope="${scopes.join(' ')}"`;
  }
}
