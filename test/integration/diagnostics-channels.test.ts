// Subscribers are other people's code: one that throws must break nothing of ours. And the
// core entry point never loads prom-client. Both run in child processes, where an uncaught
// exception or a loaded module is the host's alone.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));

/** Imports `entry` (relative to the repository) in a fresh process; prints how many prom-client modules are loaded. */
async function promClientModulesAfterImporting(entry: string): Promise<number> {
  const script = [
    "import { createRequire } from 'node:module';",
    `await import(${JSON.stringify(`./${entry}`)});`,
    'const require = createRequire(import.meta.url);',
    "const loaded = Object.keys(require.cache).filter((k) => k.includes('prom-client'));",
    'console.log(loaded.length);',
  ].join('\n');
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: repo },
  );
  return Number(stdout.trim());
}

describe('portcullis and portcullis/metrics', () => {
  it('loading portcullis does not load prom-client; loading portcullis/metrics does', async () => {
    expect(await promClientModulesAfterImporting('src/index.ts')).toBe(0);
    expect(await promClientModulesAfterImporting('src/metrics/index.ts')).toBeGreaterThan(0);
  }, 60_000);
});

describe('subscribers that throw', () => {
  it('break no request: every response is whole, other subscribers and the metrics still count', async () => {
    const fixture = fileURLToPath(new URL('../fixtures/throwing-subscribers.ts', import.meta.url));
    const { stdout } = await run(process.execPath, ['--import', 'tsx', fixture], { cwd: repo });
    const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
      statuses: number[];
      bodies: string[];
      upstreamRequests: number;
      seen: string[];
      uncaught: number;
      counted: string[];
    };
    expect(result.statuses).toEqual([200, 200, 404]);
    expect(result.bodies).toEqual(['upstream body', 'upstream body', 'host 404']);
    expect(result.upstreamRequests).toBe(2);
    // The subscriber after the throwing one heard every request.
    expect(result.seen).toEqual(['200', '200', '404']);
    // Node reports each throw of a channel subscriber as an uncaught exception (3 completions and
    // 2 upstream responses); the throwing onEvent hook is swallowed by the gateway.
    expect(result.uncaught).toBe(5);
    expect(result.counted.sort()).toEqual([
      '{route="svc",method="GET",status="200"} 2',
      '{route="unmatched",method="GET",status="404"} 1',
    ]);
  }, 60_000);
});
