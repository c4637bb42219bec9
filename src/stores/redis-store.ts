import { parseRedisStoreOptions, type RedisStoreOptions } from '../schema/stores.js';
import type { RedisClientKind, SendCommand } from './redis-client.js';
import {
  CONSUME_SCRIPT,
  CONSUME_SCRIPT_SHA,
  REFUND_SCRIPT,
  REFUND_SCRIPT_SHA,
} from './redis-script.js';
import type { ChargeReceipt, Policy, RateLimitDecision, RateLimitStore } from './types.js';

export type { RedisStoreOptions } from '../schema/stores.js';

/** Deletes a client's index and every state key it lists, atomically (all in the client's hash slot). */
const RESET_SCRIPT = `local members = redis.call('SMEMBERS', KEYS[1])
for i = 1, #members do redis.call('DEL', members[i]) end
redis.call('DEL', KEYS[1])
return #members`;

const ALGORITHM_CODES: Record<string, string> = {
  'token-bucket': 't',
  'fixed-window': 'f',
  'sliding-window': 's',
};

/** What does not change between calls with the same policies array: key suffixes and script arguments. */
interface PreparedPolicies {
  /** `}:name:t` per policy: appended to `prefix{key`. */
  readonly suffixes: readonly string[];
  /** The set as the script reads it: the number of policies, then `code, limit, windowMs` per policy. */
  readonly argv: readonly string[];
  readonly names: readonly string[];
  readonly limits: readonly number[];
}

function prepare(policies: readonly Policy[]): PreparedPolicies {
  const suffixes: string[] = [];
  const argv: string[] = [String(policies.length)];
  const names: string[] = [];
  const limits: number[] = [];
  for (const policy of policies) {
    const code = ALGORITHM_CODES[policy.algorithm];
    if (code === undefined)
      throw new TypeError(`unknown rate limit algorithm '${policy.algorithm}'`);
    if (policy.name.includes('}') || policy.name.includes('{')) {
      throw new TypeError(`policy name '${policy.name}' must not contain '{' or '}'`);
    }
    suffixes.push(`}:${policy.name}:${code}`);
    argv.push(code, String(policy.limit), String(policy.windowMs));
    names.push(policy.name);
    limits.push(policy.limit);
  }
  return { suffixes, argv, names, limits };
}

/** One consume call waiting for its batch. */
interface Pending {
  key: string;
  prepared: PreparedPolicies;
  cost: number;
  /** Gets Redis's time of the call when it charged (for refund). */
  receipt: ChargeReceipt | undefined;
  resolve(decisions: RateLimitDecision[]): void;
  reject(err: unknown): void;
}

/** A Lua script as one store sends it: by SHA once this store has sent it whole. */
interface Script {
  readonly source: string;
  readonly sha: string;
  loaded: boolean;
}

/**
 * Requests per script call at most. Besides bounding a call's run time and reply, it keeps more
 * than one call in flight under load: while Redis runs one batch, the client parses the previous
 * reply and builds the next, instead of the two taking turns. With 64 decisions in flight, 32
 * gave ~190,000 decisions/s where 128 (one call at a time) gave ~108,000, 16 ~187,000 and 8
 * ~175,000 (bench/decisions.ts).
 */
const MAX_BATCH = 32;

function decisionsOf(
  reply: unknown[],
  offset: number,
  prepared: PreparedPolicies,
): RateLimitDecision[] {
  const n = prepared.names.length;
  const decisions: RateLimitDecision[] = new Array(n);
  for (let p = 0; p < n; p++) {
    const o = offset + p * 4;
    decisions[p] = {
      policy: prepared.names[p] as string,
      allowed: toNumber(reply[o]) === 1,
      limit: prepared.limits[p] as number,
      remaining: toNumber(reply[o + 1]),
      resetMs: toNumber(reply[o + 2]),
      retryAfterMs: toNumber(reply[o + 3]),
    };
  }
  return decisions;
}

const SET_NUMBERS = Array.from({ length: MAX_BATCH }, (_, i) => String(i + 1));

/** The script's 1-based number of the `index`-th policy set of a call, as a string. */
function setNumber(index: number): string {
  return SET_NUMBERS[index] ?? String(index + 1);
}

function toNumber(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

function isAllowed(decision: RateLimitDecision): boolean {
  return decision.allowed;
}

function isNoScript(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return message.includes('NOSCRIPT');
}

/**
 * A rate limit store in Redis, for several gateway processes. Each decision is
 * one round trip: a Lua script (loaded once, called by SHA, re-sent with EVAL
 * on `NOSCRIPT`) that decides and charges all of a request's policies
 * atomically on Redis's clock (`TIME`), so hosts with skewed clocks agree.
 * Every key has a TTL; one client's keys share a hash tag (`prefix{key}…`),
 * so it works on Redis Cluster. The store never closes your client.
 *
 * Default `prefix` `'portcullis:rl:'`.
 *
 * @example
 * import Redis from 'ioredis';
 * const store = new RedisStore({ client: new Redis(process.env.REDIS_URL) });
 * app.use(rateLimit({ limit: 100, window: '1m', store }));
 */
export class RedisStore implements RateLimitStore {
  /** Which kind of client was detected. */
  readonly clientKind: RedisClientKind;
  readonly #send: SendCommand;
  readonly #prefix: string;
  readonly #prepared = new WeakMap<readonly Policy[], PreparedPolicies>();
  readonly #consumeScript: Script = {
    source: CONSUME_SCRIPT,
    sha: CONSUME_SCRIPT_SHA,
    loaded: false,
  };
  readonly #refundScript: Script = { source: REFUND_SCRIPT, sha: REFUND_SCRIPT_SHA, loaded: false };
  /** Single-node clients batch; clusters cannot (a call's keys must share one slot). */
  readonly #batching: boolean;
  #queue: Pending[] = [];
  /** Consume script calls sent and not answered yet. */
  #inFlight = 0;

  constructor(options: RedisStoreOptions) {
    const { kind, send, prefix } = parseRedisStoreOptions(options).value;
    this.clientKind = kind;
    this.#send = send;
    this.#prefix = prefix;
    this.#batching = this.clientKind === 'ioredis' || this.clientKind === 'node-redis';
  }

  /** The Redis key of `key`'s index set; its policy keys are `<this>:<policy name>:<t|f|s>`. */
  keyOf(key: string): string {
    return `${this.#prefix}{${key}}`;
  }

  /**
   * Decides and charges every policy for `key` in one atomic script call.
   * With a single-node client, a decision asked for while no call is in flight
   * is sent at once (batching costs nothing when there is nothing to batch);
   * decisions asked for while one is travel together in one call (still one
   * round trip each, fewer script runs), sent from `setImmediate`, so behind an
   * HTTP server every request whose data arrived in the same poll phase shares
   * it (a `process.nextTick` flush sent each request on its own).
   */
  consume(
    key: string,
    policies: readonly Policy[],
    cost: number,
    receipt?: ChargeReceipt,
  ): Promise<RateLimitDecision[]> {
    const prepared = this.#prepare(policies);
    return new Promise<RateLimitDecision[]>((resolve, reject) => {
      const request: Pending = {
        key,
        prepared,
        cost,
        receipt,
        resolve,
        reject,
      };
      if (!this.#batching || (this.#inFlight === 0 && this.#queue.length === 0)) {
        this.#run([request]);
        return;
      }
      this.#queue.push(request);
      if (this.#queue.length === 1) setImmediate(this.#flush);
      else if (this.#queue.length >= MAX_BATCH) this.#flush();
    });
  }

  readonly #flush = (): void => {
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    this.#run(batch);
  };

  #prepare(policies: readonly Policy[]): PreparedPolicies {
    let prepared = this.#prepared.get(policies);
    if (prepared === undefined) {
      prepared = prepare(policies);
      this.#prepared.set(policies, prepared);
    }
    return prepared;
  }

  #run(batch: Pending[]): void {
    // KEYS: per request its index and policy keys. ARGV: R, S, each distinct policy set once,
    // then per request its set number and cost (see CONSUME_SCRIPT).
    const args: string[] = ['EVALSHA', CONSUME_SCRIPT_SHA, ''];
    const sets: PreparedPolicies[] = [];
    const perRequest: string[] = [];
    let keyCount = 0;
    for (const request of batch) {
      const { prepared, key } = request;
      const head = `${this.#prefix}{${key}`;
      args.push(`${head}}`);
      for (const suffix of prepared.suffixes) args.push(head + suffix);
      keyCount += 1 + prepared.suffixes.length;
      let set = sets.indexOf(prepared);
      if (set === -1) set = sets.push(prepared) - 1;
      perRequest.push(setNumber(set), String(request.cost));
    }
    args[2] = String(keyCount);
    args.push(String(batch.length), String(sets.length));
    for (const set of sets) for (const value of set.argv) args.push(value);
    for (const value of perRequest) args.push(value);
    this.#inFlight++;
    this.#call(args, this.#consumeScript).then(
      (reply) => {
        this.#inFlight--;
        let offset = 0;
        const expected = batch.reduce((sum, r) => sum + r.prepared.names.length * 4, 0);
        // The decisions, then Redis's time of the call: the receipt of every charge in it.
        if (!Array.isArray(reply) || reply.length !== expected + 1) {
          const err = new Error('RedisStore: unexpected reply from the rate limit script');
          for (const request of batch) request.reject(err);
          return;
        }
        const chargedAt = toNumber(reply[expected]);
        for (const request of batch) {
          const decisions = decisionsOf(reply, offset, request.prepared);
          offset += request.prepared.names.length * 4;
          if (request.receipt !== undefined && decisions.every(isAllowed)) {
            request.receipt.value = chargedAt;
          }
          request.resolve(decisions);
        }
      },
      (err: unknown) => {
        this.#inFlight--;
        for (const request of batch) request.reject(err);
      },
    );
  }

  /** Sends `args` (`EVALSHA <sha> …`) for `script`, as EVAL the first time and after NOSCRIPT. */
  async #call(args: string[], script: Script): Promise<unknown> {
    if (script.loaded) {
      try {
        return await this.#send(args);
      } catch (err) {
        if (!isNoScript(err)) throw err;
      }
    }
    // First call, or the script was flushed: EVAL caches it on that server; EVALSHA from then on.
    const evalArgs = args.slice();
    evalArgs[0] = 'EVAL';
    evalArgs[1] = script.source;
    const reply = await this.#send(evalArgs);
    script.loaded = true;
    return reply;
  }

  /**
   * Gives back the charge `consume(key, policies, cost, receipt)` made, in one atomic
   * script on Redis's clock (`EVALSHA`, re-sent on `NOSCRIPT`): a token bucket gets
   * `cost × window` back (never more than it holds now), a fixed window `cost` if the
   * charge was in its current window, a sliding log loses the entries that charge added
   * (they carry its time). Keys keep their TTLs. At most once per receipt.
   */
  async refund(
    key: string,
    policies: readonly Policy[],
    cost: number,
    receipt: ChargeReceipt,
  ): Promise<void> {
    const chargedAt = receipt.value;
    if (typeof chargedAt !== 'number' || !(cost > 0)) return;
    const prepared = this.#prepare(policies);
    const head = `${this.#prefix}{${key}`;
    const args: string[] = [
      'EVALSHA',
      REFUND_SCRIPT_SHA,
      String(1 + prepared.suffixes.length),
      `${head}}`,
    ];
    for (const suffix of prepared.suffixes) args.push(head + suffix);
    args.push(String(chargedAt), String(cost));
    // prepared.argv is the number of policies, then code, limit and window per policy.
    for (const value of prepared.argv) args.push(value);
    await this.#call(args, this.#refundScript);
  }

  /** Forgets `key` under every policy (all its keys, found through its index set). */
  async reset(key: string): Promise<void> {
    // One script, so a decision cannot slip in between reading the index and deleting.
    await this.#send(['EVAL', RESET_SCRIPT, '1', this.keyOf(key)]);
  }

  /** Nothing to release: the client is yours and stays open. */
  async close(): Promise<void> {}
}
