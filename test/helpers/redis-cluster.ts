import { constants, rmSync } from 'node:fs';
import { access, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import {
  REDIS_SERVER_BIN,
  type RedisProcess,
  spawnRedisServer,
  stopRedisProcess,
} from './redis-process.js';

export { REDIS_SERVER_BIN } from './redis-process.js';

const HOST = '127.0.0.1';
const SLOTS = 16_384;
/** Redis Cluster's bus listens on the client port + 10000; both must be free. */
const BUS_OFFSET = 10_000;
/**
 * Client ports are drawn at random from here: clear of 6379 and the usual
 * fixed service ports, and low enough that the bus port (P+10000, at most
 * 39999) is a valid port. Random, so parallel test files rarely meet, and a
 * node that still loses a race for its port is started again elsewhere.
 */
const PORT_LOW = 20_000;
const PORT_HIGH = 29_999;
const START_ATTEMPTS = 5;
/** How long the cluster may take to reach `cluster_state:ok`. */
const FORM_TIMEOUT_MS = 20_000;

/** One master of a running test cluster. */
export interface ClusterNode {
  readonly host: string;
  readonly port: number;
  /** Its node id (`CLUSTER MYID`). */
  readonly id: string;
  /** A plain (non-cluster) connection to this node only, for inspecting it. */
  readonly admin: Redis;
}

/** A running 3-master Redis Cluster (no replicas), owned by one test file. */
export interface RedisClusterHandle {
  readonly nodes: readonly ClusterNode[];
  /** `[{ host, port }]` of every master, for `new Cluster(...)` / `createCluster({ rootNodes })`. */
  readonly rootNodes: ReadonlyArray<{ host: string; port: number }>;
  /** The hash slot of `key` (asked of Redis, not computed here). */
  slotOf(key: string): Promise<number>;
  /** The master that owns `slot` now (asked of the cluster, so it follows migrations). */
  ownerOf(slot: number): Promise<ClusterNode>;
  /**
   * Moves `slot` and its keys to `to`. With `finish: false` it stops half-way,
   * as a live resharding does: the keys are on `to`, but the slot is still
   * MIGRATING on its owner and IMPORTING on `to`, so the owner answers ASK.
   */
  migrateSlot(slot: number, to: ClusterNode, options?: { finish?: boolean }): Promise<void>;
  /** Kills every node and removes the data directory. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Resolves whether the cluster tests can run (a `redis-server` binary to start).
 * Without one they are skipped with a printed reason, except under CI=true,
 * where that is a failure, like {@link requireRedis} in ./redis.ts.
 */
export async function requireRedisServer(suite: string): Promise<boolean> {
  try {
    await access(REDIS_SERVER_BIN, constants.X_OK);
    return true;
  } catch {
    if (process.env.CI === 'true') {
      throw new Error(
        `${suite}: ${REDIS_SERVER_BIN} is not an executable, and CI=true makes that a failure`,
      );
    }
    process.stderr.write(
      `\n[skip] ${suite}: ${REDIS_SERVER_BIN} is not an executable; install Redis 7 (redis-server on the PATH, or set REDIS_SERVER_BIN) to run these tests\n`,
    );
    return false;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: HOST, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A client port P with P and P+10000 free right now (a started node's port is not free). */
async function freePort(): Promise<number> {
  for (let tries = 0; tries < 500; tries++) {
    const port = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW + 1));
    if ((await portIsFree(port)) && (await portIsFree(port + BUS_OFFSET))) return port;
  }
  throw new Error(
    `redis cluster: no free port pair (P, P+10000) found in ${PORT_LOW}-${PORT_HIGH}`,
  );
}

/** The data dirs this module made and has not removed yet, removed at once if the worker exits first. */
const dirs = new Set<string>();
let exitHookInstalled = false;
function cleanUpOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A worker that exits without running afterAll (interrupted run) must leave no data dirs
  // behind ('exit' handlers must be synchronous, hence rmSync); redis-process.ts kills the servers.
  process.once('exit', () => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Starts one cluster node; see spawnRedisServer. */
function startServer(port: number, dir: string): Promise<RedisProcess> {
  return spawnRedisServer(port, [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    join(dir, `nodes-${port}.conf`),
    '--dir',
    dir,
    '--daemonize',
    'no',
  ]);
}

/** Starts `count` nodes on free ports, retrying a node whose port was taken in the meantime. */
async function startServers(count: number, dir: string): Promise<RedisProcess[]> {
  const servers: RedisProcess[] = [];
  try {
    for (let failures = 0; servers.length < count; ) {
      try {
        servers.push(await startServer(await freePort(), dir));
      } catch (err) {
        if (++failures >= START_ATTEMPTS) throw err;
      }
    }
    return servers;
  } catch (err) {
    await Promise.all(servers.map(stopRedisProcess));
    throw err;
  }
}

function infoField(info: string, field: string): string | undefined {
  const match = new RegExp(`^${field}:(.*)$`, 'm').exec(info);
  return match?.[1]?.trim();
}

/** `[start, end, [host, port, id], ...]` per slot range, as CLUSTER SLOTS replies. */
type SlotRange = [number, number, [string, number, string, ...unknown[]], ...unknown[]];

const DIR_PREFIX = 'portcullis-redis-cluster-';

/**
 * Removes the data dirs of earlier runs whose worker is gone: a worker killed
 * by a signal (an interrupted run) runs no exit handler. The pid in the name
 * tells whose a dir is, so a dir of a parallel, live worker is left alone.
 */
async function removeStaleDirs(): Promise<void> {
  for (const name of await readdir(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const pid = Number(name.slice(DIR_PREFIX.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || isAlive(pid)) continue;
    await rm(join(tmpdir(), name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Starts a 3-master Redis Cluster on free ports in a fresh temp dir and
 * resolves once every node reports `cluster_state:ok`. On any failure it
 * kills what it started and removes the dir before rejecting.
 *
 * @example
 * const cluster = await startRedisCluster();
 * const client = new Cluster(cluster.rootNodes);
 * // ...
 * await cluster.stop();
 */
export async function startRedisCluster(): Promise<RedisClusterHandle> {
  await removeStaleDirs();
  const dir = await mkdtemp(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  cleanUpOnExit();
  dirs.add(dir);
  let servers: RedisProcess[] = [];
  const admins: Redis[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const admin of admins) admin.disconnect();
    await Promise.all(servers.map(stopRedisProcess));
    await rm(dir, { recursive: true, force: true });
    dirs.delete(dir);
  };
  try {
    servers = await startServers(3, dir);
    for (const s of servers) {
      // Fail fast instead of queueing: these connections only inspect the nodes.
      admins.push(new Redis({ host: HOST, port: s.port, maxRetriesPerRequest: 1 }));
    }
    const ids = await Promise.all(admins.map((a) => a.call('CLUSTER', 'MYID') as Promise<string>));
    const nodes: ClusterNode[] = servers.map((s, i) => ({
      host: HOST,
      port: s.port,
      id: ids[i] as string,
      admin: admins[i] as Redis,
    }));
    // What `redis-cli --cluster create` does, without its 1 s polling: distinct
    // config epochs (no epoch collision to resolve), a third of the slots each, then MEET.
    await Promise.all(
      admins.map(async (admin, i) => {
        await admin.call('CLUSTER', 'SET-CONFIG-EPOCH', String(i + 1));
        const first = Math.floor((SLOTS * i) / 3);
        const last = Math.floor((SLOTS * (i + 1)) / 3) - 1;
        await admin.call('CLUSTER', 'ADDSLOTSRANGE', String(first), String(last));
      }),
    );
    for (const s of servers.slice(1)) {
      await admins[0]?.call('CLUSTER', 'MEET', HOST, String(s.port));
    }
    await waitForClusterOk(nodes, servers);
    const slotOf = async (key: string) =>
      Number(await (nodes[0] as ClusterNode).admin.call('CLUSTER', 'KEYSLOT', key));
    const ownerOf = async (slot: number) => {
      // Asked of every node: after a migration all must agree before the answer counts.
      const views = await Promise.all(
        nodes.map(async (n) =>
          ownerIn((await n.admin.call('CLUSTER', 'SLOTS')) as SlotRange[], slot),
        ),
      );
      const id = views[0];
      if (id === undefined || views.some((v) => v !== id)) {
        throw new Error(`redis cluster: nodes disagree on the owner of slot ${slot}: ${views}`);
      }
      const owner = nodes.find((n) => n.id === id);
      if (!owner) throw new Error(`redis cluster: slot ${slot} is owned by unknown node ${id}`);
      return owner;
    };
    return {
      nodes,
      rootNodes: nodes.map(({ host, port }) => ({ host, port })),
      slotOf,
      ownerOf,
      migrateSlot: (slot, to, options) => migrateSlot(nodes, slot, to, options, ownerOf),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function ownerIn(ranges: SlotRange[], slot: number): string | undefined {
  for (const [start, end, master] of ranges) {
    if (slot >= start && slot <= end) return master[2];
  }
  return undefined;
}

/** Polls until every node says `cluster_state:ok` and knows all three masters, or throws with their state. */
async function waitForClusterOk(nodes: ClusterNode[], servers: RedisProcess[]): Promise<void> {
  const deadline = Date.now() + FORM_TIMEOUT_MS;
  let infos: string[] = [];
  while (Date.now() < deadline) {
    infos = await Promise.all(nodes.map((n) => n.admin.call('CLUSTER', 'INFO') as Promise<string>));
    const ready = infos.every(
      (info) =>
        infoField(info, 'cluster_state') === 'ok' && infoField(info, 'cluster_known_nodes') === '3',
    );
    if (ready) return;
    await sleep(50);
  }
  const states = infos.map(
    (info, i) =>
      `  ${nodes[i]?.port}: cluster_state:${infoField(info, 'cluster_state')} known_nodes:${infoField(info, 'cluster_known_nodes')}`,
  );
  throw new Error(
    `redis cluster: not cluster_state:ok on every node after ${FORM_TIMEOUT_MS} ms\n${states.join('\n')}\n--- log of ${servers[0]?.port}:\n${servers[0]?.log()}`,
  );
}

/**
 * How many error replies starting with `code` (e.g. `MOVED`, `ASK`, `TRYAGAIN`)
 * `node` has sent since it started (`INFO errorstats`): shows that a client
 * really took a redirection path, not just that the end result was right.
 */
export async function errorReplies(node: ClusterNode, code: string): Promise<number> {
  const info = (await node.admin.call('INFO', 'errorstats')) as string;
  const match = new RegExp(`^errorstat_${code}:count=(\\d+)`, 'm').exec(info);
  return match ? Number(match[1]) : 0;
}

/** The live-resharding steps of the Redis Cluster spec (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE). */
async function migrateSlot(
  nodes: ClusterNode[],
  slot: number,
  to: ClusterNode,
  options: { finish?: boolean } | undefined,
  ownerOf: (slot: number) => Promise<ClusterNode>,
): Promise<void> {
  const from = await ownerOf(slot);
  if (from.id === to.id) throw new Error(`redis cluster: slot ${slot} is already on ${to.port}`);
  await to.admin.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from.id);
  await from.admin.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', to.id);
  for (;;) {
    const keys = (await from.admin.call(
      'CLUSTER',
      'GETKEYSINSLOT',
      String(slot),
      '100',
    )) as string[];
    if (keys.length === 0) break;
    await from.admin.call('MIGRATE', to.host, String(to.port), '', '0', '5000', 'KEYS', ...keys);
  }
  if (options?.finish === false) return;
  // The new owner first, then the old one, then the rest (the order the spec gives).
  await to.admin.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id);
  await from.admin.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id);
  for (const n of nodes) {
    if (n.id !== to.id && n.id !== from.id) {
      await n.admin.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id);
    }
  }
}
