// What the observability hooks cost a request when nobody listens, read from a CPU profile of
// the gateway process under load (the `portcullis` scenario: no onEvent, no diagnostics-channel
// subscriber, @opentelemetry/api installed but no tracer provider registered).
//
// The hooks are the functions of the files below: the per-type `isListening` checks and the
// emitter (src/events.ts), the request-ended hook `takeRequest` / `trackRequest` and its 'close'
// listener (src/request-completed.ts), the tracing provider check `tracing()?.tracer()`
// (src/tracing/tracing.ts), `traceServerRoute`, and the per-attempt span check
// (`UpstreamSpans.attemptStarted`/`attemptEnded`). A sample counts as hook time when one of
// them is on its stack, so what they call (EventEmitter.on for the 'close' listener, the
// in-flight counter, `trace.getTracerProvider()` of @opentelemetry/api, a channel's
// `hasSubscribers`) counts too. V8's profiler reports an inlined function as its caller (checked
// on Node 24: a small function inlined into a hot loop got no samples of its own), so an
// `isListening` inlined into a request handler would vanish: the profiled process runs with
// V8's inlining off (NO_INLINING), so that every hook is a call of its own. Samples anywhere in
// node:diagnostics_channel count as well, even those from Node's own http channels. The share is
// of the main thread's busy samples (idle left out): the thread that runs every request.
// Each of these choices leans towards a larger share than the hooks' true cost, not a smaller.

import { type CallFrame, type CpuProfile, origin, type ProfileNode } from './cpu-profile.js';

/** The files whose functions are the hooks (paths relative to the repository). */
export const HOOK_FILES: readonly string[] = [
  'src/events.ts',
  'src/request-completed.ts',
  'src/tracing/tracing.ts',
  'src/tracing/server-route.ts',
  'src/tracing/upstream-spans.ts',
];

/**
 * Functions of those files that run the request's own work inside them (the upstream send of a
 * traced request): what they call is not hook cost. Only reached when a tracer provider is
 * registered.
 */
const NOT_HOOKS = new Set(['within']);

const DIAGNOSTICS_CHANNEL = 'node:diagnostics_channel';

/**
 * V8 flags of the profiled process. V8's profiler counts an inlined function's samples as its
 * caller's, so with inlining on, a hook inlined into a request handler is invisible. With it off
 * every hook is a real call that also pays for the call, which weighs most on the smallest
 * functions: the hooks' share leans high, not low, against the normal build.
 */
export const NO_INLINING: readonly string[] = ['--no-turbo-inlining', '--no-maglev-inlining'];

/** One profiled measurement of the `portcullis` scenario. */
export interface HooksRound {
  /** Hook samples ÷ busy samples of the gateway's main thread. */
  share: number;
  hookSamples: number;
  busySamples: number;
  /** Hook time per request, µs. */
  hooksUsPerRequest: number;
  /** Busy time of the main thread per request, µs. */
  busyUsPerRequest: number;
  /** req/s while profiled without inlining (slower than the scenario's own figure). */
  requestsPerSec: number;
  /** Each outermost hook's share of the main thread's busy time, largest first. */
  parts: Array<{ name: string; share: number }>;
}

export interface HooksResult {
  intervalUs: number;
  rounds: HooksRound[];
  /** Why the measurement could not be made, or null. */
  failed: string | null;
}

export interface HookCost {
  /** Samples of the main thread that were not idle. */
  busySamples: number;
  /** Of those, the samples with a hook on the stack, or in node:diagnostics_channel. */
  hookSamples: number;
  /** hookSamples ÷ busySamples. */
  share: number;
  /** Busy time of the main thread, ms (from the sampling timestamps). */
  busyMs: number;
  /** share × busyMs. */
  hooksMs: number;
  /** Each outermost hook on the stack (its caller's view) and its share, largest first. */
  parts: Array<{ name: string; share: number }>;
}

function bareName(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  return name.split('.').pop() ?? name;
}

/** The hook a frame is (`file:function`), or null. */
function hookOf(frame: CallFrame): string | null {
  const from = origin(frame.url);
  if (!HOOK_FILES.includes(from)) return null;
  const name = bareName(frame);
  return NOT_HOOKS.has(name) ? null : `${name} (${from})`;
}

/** The hooks' time in one profile (see the top of this file for what counts). */
export function hookCost(profile: CpuProfile): HookCost {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  // Per node: the outermost hook on its stack, else whether it is in node:diagnostics_channel.
  const attribution = new Map<number, string | null>();
  const attribute = (id: number): string | null => {
    const known = attribution.get(id);
    if (known !== undefined) return known;
    let outermost: string | null = null;
    for (let up: number | undefined = id; up !== undefined; up = parent.get(up)) {
      const frame = byId.get(up)?.callFrame;
      if (frame === undefined) break;
      outermost = hookOf(frame) ?? outermost;
    }
    if (outermost === null) {
      const leaf = byId.get(id)?.callFrame;
      if (leaf !== undefined && leaf.url === DIAGNOSTICS_CHANNEL) {
        outermost = `${bareName(leaf)} (node:diagnostics_channel, from Node's own code)`;
      }
    }
    attribution.set(id, outermost);
    return outermost;
  };

  // Shares are counted in samples, each one look at what the thread was doing. Weighing them by
  // the gap to the next sample would let one gap of 100 ms (the process kept off a core of a
  // busy machine) count as 100 ms in whatever function it happened to stop in.
  let totalUs = 0;
  let idleUs = 0;
  let busySamples = 0;
  const parts = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    // timeDeltas[i] is the time before sample i; the next gap is attributed to this sample.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    totalUs += dt;
    const node = byId.get(id);
    if (node?.callFrame.functionName === '(idle)') {
      idleUs += dt;
      continue;
    }
    busySamples++;
    const hook = attribute(id);
    if (hook !== null) parts.set(hook, (parts.get(hook) ?? 0) + 1);
  }
  const hookSamples = [...parts.values()].reduce((sum, n) => sum + n, 0);
  const share = busySamples > 0 ? hookSamples / busySamples : Number.NaN;
  const busyMs = (totalUs - idleUs) / 1000;
  return {
    busySamples,
    hookSamples,
    share,
    busyMs,
    hooksMs: share * busyMs,
    parts: [...parts.entries()]
      .map(([name, n]) => ({ name, share: n / busySamples }))
      .sort((a, b) => b.share - a.share),
  };
}

/** One round's figures from its profile and the requests served while it was taken. */
export function hooksRound(profile: CpuProfile, requests: number, seconds: number): HooksRound {
  const cost = hookCost(profile);
  return {
    share: cost.share,
    hookSamples: cost.hookSamples,
    busySamples: cost.busySamples,
    hooksUsPerRequest: (cost.hooksMs * 1000) / requests,
    busyUsPerRequest: (cost.busyMs * 1000) / requests,
    requestsPerSec: requests / seconds,
    parts: cost.parts,
  };
}
