// Reading V8 CPU profiles (bench/profile.ts, and the observability-hooks section of run.ts):
// self and total time per function and per origin (src file, package, Node internals).

import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
/** A V8 CPU profile, as `Profiler.stop` returns it and `--cpu-prof` writes it. */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionCost {
  name: string;
  /** src file, package or Node internals. */
  origin: string;
  where: string;
  selfMs: number;
  totalMs: number;
}

/** Where a frame lives: src file (relative to the repository), package name, or Node internals. */
export function origin(url: string): string {
  if (url === '') return '(native/V8)';
  if (url.startsWith('node:')) return 'node (core)';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? path);
  }
  if (path.startsWith(repoRoot)) return relative(repoRoot, path);
  return path;
}

const sourceCache = new Map<string, string[]>();

/**
 * The TS line where `name` is defined in `file` (the profile's line numbers are those of the
 * code tsx generated, which drift from the source); falls back to the generated line.
 */
function definitionLine(file: string, name: string, generatedLine: number): string {
  let lines = sourceCache.get(file);
  if (!lines) {
    try {
      lines = readFileSync(file, 'utf8').split('\n');
    } catch {
      lines = [];
    }
    sourceCache.set(file, lines);
  }
  const bare =
    name
      .replace(/^(get |set )/, '')
      .split('.')
      .pop() ?? name;
  if (bare && bare !== '(anonymous)') {
    const escaped = bare.replace(/[$]/g, '\\$');
    const patterns = [
      new RegExp(`function\\*?\\s+${escaped}\\s*[(<]`),
      new RegExp(
        `^\\s*(?:(?:private|public|protected|static|readonly|async|get|set|override)\\s+)*${escaped}\\s*[(<]`,
      ),
      new RegExp(`(?:const|let|var)\\s+${escaped}\\s*[=:]`),
      new RegExp(`\\b${escaped}\\s*[:=]\\s*(?:async\\s*)?(?:function|\\()`),
      new RegExp(`class\\s+${escaped}\\b`),
    ];
    for (const pattern of patterns) {
      const index = lines.findIndex((line) => pattern.test(line));
      if (index >= 0) return String(index + 1);
    }
  }
  return `~${generatedLine + 1} (generated)`;
}

/** Self and total (inclusive) time per function, and self time per origin. */
export function analyseProfile(profile: CpuProfile): {
  totalMs: number;
  functions: FunctionCost[];
  byOrigin: Array<{ origin: string; selfMs: number }>;
} {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const keyOf = (frame: CallFrame): string =>
    `${frame.functionName || '(anonymous)'}|${frame.url}|${frame.lineNumber}|${frame.columnNumber}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const frames = new Map<string, CallFrame>();
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    // timeDeltas[i] is the time before sample i; attribute the next gap to this sample.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    totalUs += dt;
    const node = byId.get(id);
    if (!node) continue;
    const key = keyOf(node.callFrame);
    frames.set(key, node.callFrame);
    self.set(key, (self.get(key) ?? 0) + dt);
    const seen = new Set<string>();
    for (let up: number | undefined = id; up !== undefined; up = parent.get(up)) {
      const n = byId.get(up);
      if (!n) break;
      const k = keyOf(n.callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      frames.set(k, n.callFrame);
      total.set(k, (total.get(k) ?? 0) + dt);
    }
  }
  const functions: FunctionCost[] = [...frames.entries()].map(([key, frame]) => {
    const from = origin(frame.url);
    const file = frame.url.startsWith('file://') ? fileURLToPath(frame.url) : '';
    const name = frame.functionName || '(anonymous)';
    const where = from.startsWith('src/')
      ? `${from}:${definitionLine(file, name, frame.lineNumber)}`
      : from === '(native/V8)' || from === 'node (core)'
        ? from
        : `${from} ${frame.url.split('/').slice(-1)[0]}:${frame.lineNumber + 1}`;
    return {
      name,
      // Idle is no origin's time: kept apart so that shares of busy time add up.
      origin: name === '(idle)' ? '(idle)' : from.startsWith('src/') ? 'portcullis src/' : from,
      where,
      selfMs: (self.get(key) ?? 0) / 1000,
      totalMs: (total.get(key) ?? 0) / 1000,
    };
  });
  const originSelf = new Map<string, number>();
  for (const f of functions) {
    originSelf.set(f.origin, (originSelf.get(f.origin) ?? 0) + f.selfMs);
  }
  return {
    totalMs: totalUs / 1000,
    functions,
    byOrigin: [...originSelf.entries()]
      .map(([o, selfMs]) => ({ origin: o, selfMs }))
      .sort((a, b) => b.selfMs - a.selfMs),
  };
}
