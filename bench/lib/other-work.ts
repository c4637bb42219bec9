// How much of the machine's CPU went to work that is not this benchmark while it ran.
//
// The load average cannot tell: the benchmark itself keeps two cores busy (gateway, upstream,
// load generator), so on a small machine it always looks "loaded". Instead, on Linux, the
// machine's busy CPU time (/proc/stat) is compared with the CPU time of this process and every
// child it started and reaped (/proc/self/stat, utime + stime + cutime + cstime) and with the
// Redis server's (INFO cpu): what is left over was somebody else's. Time the hypervisor gave
// to other guests (steal) is reported on its own: it slows every figure just the same.

import { readFileSync } from 'node:fs';
import { connectRedis } from './redis.js';

export interface OtherWork {
  /** Share of the machine's CPU (all cores) busy with work that is not this benchmark's. */
  otherShare: number;
  /** Share of the machine's CPU the hypervisor gave to other guests. */
  stealShare: number;
  /** Whether the Redis server's CPU time could be read (when not, it counts as other work). */
  redisCounted: boolean;
}

interface Snapshot {
  busy: number;
  steal: number;
  total: number;
  own: number;
  redisSeconds: number | null;
  at: number;
}

/** `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal, in ticks. */
function machineTicks(): { busy: number; steal: number; total: number } {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] as string;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line
    .trim()
    .split(/\s+/)
    .slice(1, 9)
    .map(Number) as number[];
  const busy = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0);
  const stolen = steal ?? 0;
  return { busy, steal: stolen, total: busy + (idle ?? 0) + (iowait ?? 0) + stolen };
}

/** This process's CPU ticks plus those of the children it has reaped (fields 14–17). */
function ownTicks(): number {
  const stat = readFileSync('/proc/self/stat', 'latin1');
  // The command name may hold spaces and parentheses: fields are counted after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field n is fields[n - 3].
  return [14, 15, 16, 17].reduce((sum, n) => sum + Number(fields[n - 3]), 0);
}

async function redisCpuSeconds(): Promise<number | null> {
  try {
    const client = await connectRedis();
    try {
      const info = await client.info('cpu');
      const read = (name: string): number =>
        Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
      const seconds = read('used_cpu_sys') + read('used_cpu_user');
      return Number.isFinite(seconds) ? seconds : null;
    } finally {
      client.disconnect();
    }
  } catch {
    return null;
  }
}

async function snapshot(): Promise<Snapshot> {
  const redisSeconds = await redisCpuSeconds();
  const machine = machineTicks();
  return { ...machine, own: ownTicks(), redisSeconds, at: performance.now() };
}

/**
 * Starts accounting; the returned function, called once every child has exited, tells how much
 * other work shared the machine. Resolves `null` where /proc is not there (not Linux).
 */
export async function accountOtherWork(cores: number): Promise<() => Promise<OtherWork | null>> {
  let start: Snapshot;
  try {
    start = await snapshot();
  } catch {
    return async () => null;
  }
  return async () => {
    const end = await snapshot();
    const total = end.total - start.total;
    const seconds = (end.at - start.at) / 1000;
    if (total <= 0 || seconds <= 0) return null;
    // Ticks per CPU-second, from the machine's own count: converts Redis's seconds into ticks.
    const ticksPerSecond = total / (seconds * cores);
    const redisCounted = start.redisSeconds !== null && end.redisSeconds !== null;
    const redisTicks = redisCounted
      ? ((end.redisSeconds as number) - (start.redisSeconds as number)) * ticksPerSecond
      : 0;
    const other = end.busy - start.busy - (end.own - start.own) - redisTicks;
    return {
      otherShare: Math.max(0, other) / total,
      stealShare: (end.steal - start.steal) / total,
      redisCounted,
    };
  };
}
