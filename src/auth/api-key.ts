import { timingSafeEqual } from 'node:crypto';
import { GatewayConfigError } from '../errors.js';
import {
  expectFunction,
  expectObject,
  expectString,
  fieldPath,
  rejectUnknownKeys,
} from '../options.js';
import type { GatewayRequest, Principal } from '../types.js';
import { encodeHeaderValue, encodeScopes } from './consumer-headers.js';
import { digestApiKey } from './hash-api-key.js';
import type { ApiKeyVerifier } from './options.js';
import { copyMetadata, expectHeaderName, expectScopes } from './options.js';
import { type AuthFailure, INVALID_KEY, VERIFIER_ERROR } from './outcome.js';
import { normalizePrincipal } from './principal.js';
import { isThenable } from './thenable.js';

/** One configured key, prepared at startup: only its digest is kept, never the key. */
interface KeyEntry {
  digest: Buffer;
  id: string;
  scopes: readonly string[];
  plan: string | undefined;
  metadata: Readonly<Record<string, unknown>> | undefined;
  /** X-Consumer-Id / X-Consumer-Scopes values, encoded once. */
  encoded: { id: string; scopes: string };
}

/** The API-key strategy, built once. */
export interface ApiKeyStrategy {
  /** Lower-case header name. */
  readonly header: string;
  /** Query parameter name, when enabled. */
  readonly query: string | undefined;
  /**
   * Decides a presented key. With a key list this is synchronous (one hash,
   * one Map lookup, one constant-time compare); with a verifier function it
   * may return a promise.
   */
  authenticate(key: string, req: GatewayRequest): ApiKeyResult | Promise<ApiKeyResult>;
}

/** A principal (with its pre-encoded consumer header values for listed keys) or a failure. */
export type ApiKeyResult =
  | AuthFailure
  | { principal: Principal; encoded?: { id: string; scopes: string } };

const QUERY_NAME = /^[A-Za-z0-9._~-]+$/;
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
/** Compared against on a miss, so an unknown key costs the same as a wrong one. */
const DUMMY_DIGEST = Buffer.alloc(32);

/** Validates `apiKey` options and builds the strategy. */
export function createApiKeyStrategy(value: unknown, field: string): ApiKeyStrategy {
  const raw = expectObject(value, field);
  rejectUnknownKeys(raw, ['header', 'query', 'keys'], field);
  const header =
    raw.header === undefined
      ? 'x-api-key'
      : expectHeaderName(raw.header, fieldPath(field, 'header'));
  let query: string | undefined;
  if (raw.query !== undefined) {
    query = expectString(raw.query, fieldPath(field, 'query'));
    if (!QUERY_NAME.test(query)) {
      throw new GatewayConfigError(
        fieldPath(field, 'query'),
        "must use only letters, digits and '-._~' (e.g. 'api_key')",
      );
    }
  }
  const keysField = fieldPath(field, 'keys');
  if (typeof raw.keys === 'function') {
    const verifier = expectFunction<ApiKeyVerifier>(raw.keys, keysField);
    return { header, query, authenticate: verifierAuthenticate(verifier) };
  }
  if (!Array.isArray(raw.keys)) {
    throw new GatewayConfigError(
      keysField,
      'must be an array of { id, key | hash } or a function (key, req) => principal | null',
      'ERR_CONFIG_INVALID_KEY',
    );
  }
  const entries = buildEntries(raw.keys, keysField);
  return {
    header,
    query,
    authenticate(key: string): ApiKeyResult {
      const digest = digestApiKey(key);
      const entry = entries.get(digest.toString('latin1'));
      if (entry === undefined) {
        timingSafeEqual(digest, DUMMY_DIGEST);
        return INVALID_KEY;
      }
      if (!timingSafeEqual(digest, entry.digest)) return INVALID_KEY;
      const principal: Principal = { id: entry.id, type: 'apiKey', scopes: entry.scopes.slice() };
      if (entry.plan !== undefined) principal.plan = entry.plan;
      if (entry.metadata !== undefined) principal.metadata = entry.metadata;
      return { principal, encoded: entry.encoded };
    },
  };
}

function buildEntries(list: readonly unknown[], field: string): Map<string, KeyEntry> {
  const entries = new Map<string, KeyEntry>();
  const ids = new Set<string>();
  list.forEach((item, i) => {
    const at = `${field}[${i}]`;
    const raw = expectObject(item, at);
    rejectUnknownKeys(raw, ['id', 'key', 'hash', 'scopes', 'plan', 'metadata'], at);
    const id = expectString(raw.id, `${at}.id`);
    if (ids.has(id)) {
      throw new GatewayConfigError(
        `${at}.id`,
        `duplicates the id '${id}' of an earlier key`,
        'ERR_CONFIG_INVALID_KEY',
      );
    }
    ids.add(id);
    let digest: Buffer;
    if (raw.key !== undefined && raw.hash !== undefined) {
      throw new GatewayConfigError(
        at,
        'give either key or hash, not both',
        'ERR_CONFIG_INVALID_KEY',
      );
    } else if (raw.key !== undefined) {
      digest = digestApiKey(expectString(raw.key, `${at}.key`));
    } else if (raw.hash !== undefined) {
      if (typeof raw.hash !== 'string' || !SHA256_HEX.test(raw.hash)) {
        throw new GatewayConfigError(
          `${at}.hash`,
          'must be a SHA-256 digest as 64 hex characters, as made by hashApiKey(key)',
          'ERR_CONFIG_INVALID_KEY',
        );
      }
      digest = Buffer.from(raw.hash, 'hex');
    } else {
      throw new GatewayConfigError(
        at,
        'needs key or hash (hashApiKey(key))',
        'ERR_CONFIG_INVALID_KEY',
      );
    }
    const lookup = digest.toString('latin1');
    if (entries.has(lookup)) {
      // The message names the field, never the key.
      throw new GatewayConfigError(
        at,
        'duplicates the key of an earlier entry',
        'ERR_CONFIG_INVALID_KEY',
      );
    }
    const scopes = Object.freeze(
      raw.scopes === undefined ? [] : expectScopes(raw.scopes, `${at}.scopes`),
    );
    const plan = raw.plan === undefined ? undefined : expectString(raw.plan, `${at}.plan`);
    const metadata = copyMetadata(raw.metadata, `${at}.metadata`);
    entries.set(lookup, {
      digest,
      id,
      scopes,
      plan,
      metadata,
      encoded: { id: encodeHeaderValue(id), scopes: encodeScopes(scopes) },
    });
  });
  return entries;
}

function verifierAuthenticate(
  verifier: ApiKeyVerifier,
): (key: string, req: GatewayRequest) => ApiKeyResult | Promise<ApiKeyResult> {
  return function verifyApiKey(key, req) {
    let result: ReturnType<ApiKeyVerifier>;
    try {
      result = verifier(key, req);
    } catch {
      return VERIFIER_ERROR;
    }
    if (isThenable(result)) return Promise.resolve(result).then(settle, () => VERIFIER_ERROR);
    return settle(result);
  };
}

function settle(result: unknown): ApiKeyResult {
  if (result === null || result === undefined) return INVALID_KEY;
  const principal = normalizePrincipal(result, 'apiKey');
  return principal === undefined ? VERIFIER_ERROR : { principal };
}
