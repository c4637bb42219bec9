// `npm run example` is the first thing a newcomer runs: start the seed
// example as a real process (on free ports), read the demo key it prints,
// and walk the promised scenario. Ctrl-C (SIGINT) must stop it cleanly.
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../helpers/upstream.js';

const repo = resolve(import.meta.dirname, '../..');

describe('examples/seed-gateway.ts', () => {
  let child: ChildProcess;
  let output = '';
  let base = '';
  let key = '';

  beforeAll(async () => {
    const [gatewayPort, publicPort, privatePort] = [
      await closedPort(),
      await closedPort(),
      await closedPort(),
    ];
    child = spawn(process.execPath, ['--import', 'tsx', 'examples/seed-gateway.ts'], {
      cwd: repo,
      env: {
        ...process.env,
        PORT: String(gatewayPort),
        PUBLIC_PORT: String(publicPort),
        PRIVATE_PORT: String(privatePort),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const deadline = Date.now() + 20_000;
    while (!/Ctrl-C to stop/.test(output)) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`example did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    base = `http://127.0.0.1:${gatewayPort}/api`;
    key = /Demo API key for consumer "alice": (\S+)/.exec(output)?.[1] ?? '';
  }, 30_000);

  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('prints a demo key and curl lines, and serves the promised scenario', async () => {
    expect(key).toMatch(/^demo-/);
    expect(output).toContain(`curl -i ${base}/public/hello`);
    const open = await fetch(`${base}/public/hello`);
    expect(open.status).toBe(200);
    expect(await open.json()).toMatchObject({ service: 'public', url: '/hello' });
    expect((await fetch(`${base}/private/orders`)).status).toBe(401);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${base}/private/orders`, { headers: { 'x-api-key': key } });
      if (i === 0)
        expect(await res.json()).toMatchObject({
          service: 'private',
          consumer: 'alice',
          receivedApiKey: false,
        });
      else await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });

  it('stops cleanly on Ctrl-C', async () => {
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('stopped');
  });
});
