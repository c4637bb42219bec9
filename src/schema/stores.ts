import * as z from 'zod';
import {
  adaptRedisClient,
  type RedisClientKind,
  type RedisClientLike,
  type SendCommand,
} from '../stores/redis-client.js';
import type { Clock, RateLimitStore } from '../stores/types.js';
import { integer, nonEmptyString } from './common.js';
import { codeOnly, withMeta } from './meta.js';
import { type FieldRoot, fail, parseOptions } from './parse.js';
import type { ExactlyOne } from './types.js';

/**
 * A rate limit store given in the options (`store`): any object with
 * `consume(key, policies, cost)` and `reset(key)` methods (and, when present,
 * `close()` and `refund(…)` methods), checked now rather than on the first
 * request. Code-only. Problems carry `ERR_CONFIG_INVALID_STORE`.
 *
 * @example
 * const store = rateLimitStore.optional();
 */
export const rateLimitStore = withMeta(
  codeOnly<RateLimitStore>(
    'must be a rate limit store: an object with consume(key, policies, cost) and reset(key), e.g. new MemoryStore()',
    (value) => value !== null && typeof value === 'object',
  ).check((ctx) => {
    const store = ctx.value as unknown as Record<string, unknown>;
    if (typeof store.consume !== 'function') {
      fail(
        ctx,
        'must have a consume(key, policies, cost) method (e.g. new MemoryStore() or new RedisStore({ client }))',
      );
    } else if (typeof store.reset !== 'function') {
      fail(ctx, 'must have a reset(key) method');
    } else if (store.close !== undefined && typeof store.close !== 'function') {
      fail(ctx, 'close, when present, must be a method');
    } else if (store.refund !== undefined && typeof store.refund !== 'function') {
      fail(ctx, 'refund, when present, must be a method: refund(key, policies, cost, receipt)');
    }
  }),
  { code: 'ERR_CONFIG_INVALID_STORE' },
);

/**
 * The options of `new MemoryStore(options)`.
 *
 * @example
 * new MemoryStore(parseMemoryStoreOptions({ maxKeys: 10_000 }).value);
 */
export const memoryStoreOptions = z.strictObject({
  /**
   * The most client keys tracked at once; beyond it the least recently used
   * key is forgotten. Default `100_000`.
   */
  maxKeys: integer(1).default(100_000),
  /** How often expired state is swept, in milliseconds. Default `60_000`. */
  sweepIntervalMs: integer(1, 2_147_483_647).default(60_000),
  /** The clock, in milliseconds. Default `Date.now`. Injectable for tests. */
  clock: codeOnly<Clock>().optional(),
});

/**
 * Options of {@link MemoryStore}. Defaults: `maxKeys` 100 000, sweep every 60 s, `clock` `Date.now`.
 *
 * @example
 * new MemoryStore({ maxKeys: 10_000, sweepIntervalMs: 30_000 });
 */
export type MemoryStoreOptions = z.input<typeof memoryStoreOptions>;

/**
 * MemoryStore options with every default applied.
 *
 * @example
 * const { maxKeys } = parseMemoryStoreOptions({}).value; // 100_000
 */
export type ResolvedMemoryStoreOptions = z.output<typeof memoryStoreOptions>;

const MEMORY_STORE: FieldRoot = { prefix: 'MemoryStore', root: 'MemoryStore' };

/**
 * Parses `new MemoryStore()`'s options (throws `GatewayConfigError`, paths `MemoryStore.maxKeys`).
 *
 * @example
 * parseMemoryStoreOptions(undefined).value.maxKeys; // 100_000
 */
export function parseMemoryStoreOptions(input: unknown): { value: ResolvedMemoryStoreOptions } {
  return parseOptions(memoryStoreOptions, input === undefined ? {} : input, MEMORY_STORE);
}

const PREFIX_MESSAGE =
  "must be a non-empty string without '{' or '}' (the store adds the hash tag), e.g. 'myapp:rl:'";

/**
 * The options of `new RedisStore(options)`: a client or a `sendCommand`, and a key prefix.
 *
 * @example
 * parseRedisStoreOptions({ client: new Redis() }).value.kind; // 'ioredis'
 */
export const redisStoreOptions = z
  .strictObject({
    /** An `ioredis` client or `Cluster`, or a node-redis v4+ client. Never closed by the store. */
    client: withMeta(
      codeOnly<RedisClientLike>(
        'must be an ioredis client or Cluster, or a node-redis v4+ client (e.g. new Redis() or createClient())',
        (value) => value !== null && (typeof value === 'object' || typeof value === 'function'),
      ),
      { code: 'ERR_CONFIG_INVALID_STORE' },
    ).optional(),
    /** Sends one command, e.g. `(...args) => client.call(...args)`; resolves with the reply. */
    sendCommand: codeOnly<(...args: string[]) => Promise<unknown>>().optional(),
    /** Prepended to every key. Default `'portcullis:rl:'`. No `{` or `}`. */
    prefix: nonEmptyString(PREFIX_MESSAGE)
      .regex(/^[^{}]*$/, { error: PREFIX_MESSAGE })
      .default('portcullis:rl:'),
  })
  .transform((options, ctx) => {
    if (options.client !== undefined && options.sendCommand !== undefined) {
      fail(ctx, 'give either client or sendCommand, not both');
      return z.NEVER;
    }
    let adapted: { kind: RedisClientKind; send: SendCommand } | string;
    if (options.sendCommand !== undefined) {
      const sendCommand = options.sendCommand;
      adapted = { kind: 'sendCommand', send: (args) => sendCommand(...args) };
    } else if (options.client !== undefined) {
      adapted = adaptRedisClient(options.client);
    } else {
      adapted =
        'is required: an ioredis client or Cluster, a node-redis client, or give sendCommand';
    }
    if (typeof adapted === 'string') {
      fail(ctx, adapted, { path: ['client'], code: 'ERR_CONFIG_INVALID_STORE' });
      return z.NEVER;
    }
    return { kind: adapted.kind, send: adapted.send, prefix: options.prefix };
  });

/**
 * Options of {@link RedisStore}: a client (`ioredis` client or `Cluster`,
 * node-redis v4+ client) or, for any other client, a `sendCommand` function.
 * Default `prefix` `'portcullis:rl:'`.
 *
 * @example
 * new RedisStore({ sendCommand: (...args) => client.sendCommand(args), prefix: 'myapp:rl:' });
 */
export type RedisStoreOptions = ExactlyOne<
  z.input<typeof redisStoreOptions>,
  'client' | 'sendCommand'
>;

const REDIS_STORE: FieldRoot = { prefix: 'RedisStore', root: 'RedisStore' };

/**
 * Parses `new RedisStore()`'s options into the client kind, one command sender and the prefix
 * (throws `GatewayConfigError`, paths `RedisStore.client`).
 *
 * @example
 * const { send, prefix } = parseRedisStoreOptions({ sendCommand }).value;
 */
export function parseRedisStoreOptions(input: unknown): {
  value: { kind: RedisClientKind; send: SendCommand; prefix: string };
} {
  return parseOptions(redisStoreOptions, input, REDIS_STORE);
}
