/**
 * Sends one Redis command (its name and arguments as strings) and resolves
 * with the reply. Every supported client is reduced to this.
 *
 * @example
 * const send: SendCommand = (args) => client.call(args[0], ...args.slice(1));
 */
export type SendCommand = (args: string[]) => Promise<unknown>;

/**
 * Which client a `RedisStore` was given, detected once at construction.
 *
 * @example
 * new RedisStore({ client: new Cluster(nodes) }).clientKind; // 'ioredis-cluster'
 */
export type RedisClientKind =
  | 'ioredis'
  | 'ioredis-cluster'
  | 'node-redis'
  | 'node-redis-cluster'
  | 'sendCommand';

/**
 * The part of an `ioredis` client (or `Cluster`) that RedisStore uses.
 *
 * @example
 * const client: IoRedisLike = new Redis();
 */
export interface IoRedisLike {
  call(command: string, ...args: Array<string | number>): Promise<unknown>;
  isCluster?: boolean;
}

/**
 * The part of a node-redis (v4+) client that RedisStore uses.
 *
 * @example
 * const client: NodeRedisLike = await createClient().connect();
 */
export interface NodeRedisLike {
  sendCommand(args: string[]): Promise<unknown>;
  isOpen: boolean;
}

/**
 * The part of a node-redis (v4+) cluster that RedisStore uses.
 *
 * @example
 * const cluster: NodeRedisClusterLike = await createCluster({ rootNodes }).connect();
 */
export interface NodeRedisClusterLike {
  sendCommand(
    firstKey: string | undefined,
    isReadonly: boolean | undefined,
    args: string[],
  ): Promise<unknown>;
  masters: unknown;
}

/**
 * Any client RedisStore accepts.
 *
 * @example
 * new RedisStore({ client: redis as RedisClientLike });
 */
export type RedisClientLike = IoRedisLike | NodeRedisLike | NodeRedisClusterLike;

/**
 * Reduces a client to a {@link SendCommand}, or says why it cannot (the
 * message for `RedisStore.client`). For clusters the command is routed by its
 * first key (`firstKey(args)`), so EVALSHA reaches the slot owner; both cluster
 * clients follow MOVED/ASK themselves, and a node-redis cluster's `TRYAGAIN`
 * (mid-resharding) is retried here as ioredis does it.
 *
 * @example
 * const adapted = adaptRedisClient(new Redis());
 * if (typeof adapted !== 'string') await adapted.send(['PING']);
 */
export function adaptRedisClient(
  client: object,
): { kind: RedisClientKind; send: SendCommand } | string {
  const c = client as Record<string, unknown>;
  if (typeof c.call === 'function') {
    const io = client as IoRedisLike;
    const kind: RedisClientKind = io.isCluster === true ? 'ioredis-cluster' : 'ioredis';
    return {
      kind,
      send: (args) => io.call(args[0] as string, ...args.slice(1)),
    };
  }
  if (typeof c.sendCommand === 'function') {
    if ('masters' in c) {
      const cluster = client as NodeRedisClusterLike;
      return {
        kind: 'node-redis-cluster',
        send: (args) => retryingTryAgain(() => cluster.sendCommand(firstKey(args), false, args)),
      };
    }
    const nodeRedis = client as NodeRedisLike;
    return { kind: 'node-redis', send: (args) => nodeRedis.sendCommand(args) };
  }
  return 'is not a supported Redis client: pass an ioredis client or Cluster, a node-redis v4+ client, or use { sendCommand }';
}

/**
 * How a node-redis cluster waits out `TRYAGAIN`: the delay and count ioredis's
 * `Cluster` uses by default (`retryDelayOnTryAgain: 100`, `maxRedirections: 16`),
 * so both cluster clients behave alike. While a slot is being resharded, a
 * multi-key command (every RedisStore script call) whose keys are not all on
 * one side yet is answered `TRYAGAIN`, e.g. for any client new to that slot.
 * node-redis hands that error straight to the caller (ioredis retries); the
 * command did not run, so sending it again is safe.
 */
export const TRYAGAIN_RETRY = { delayMs: 100, retries: 16 } as const;

async function retryingTryAgain(send: () => Promise<unknown>): Promise<unknown> {
  for (let retry = 0; ; retry++) {
    try {
      return await send();
    } catch (err) {
      if (retry >= TRYAGAIN_RETRY.retries || !isTryAgain(err)) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, TRYAGAIN_RETRY.delayMs));
  }
}

function isTryAgain(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('TRYAGAIN');
}

/** The first key of the commands RedisStore sends (EVALSHA/EVAL/SMEMBERS/DEL). */
function firstKey(args: string[]): string | undefined {
  const command = (args[0] as string).toUpperCase();
  if (command === 'EVALSHA' || command === 'EVAL') return args[3];
  return args[1];
}
