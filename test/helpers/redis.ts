import { connect } from 'node:net';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_HOST = '127.0.0.1';
const REDIS_PORT = 6379;

/** Whether a Redis answers PING on 127.0.0.1:6379 (checked with a raw socket, no client). */
export function redisAnswers(timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(REDIS_PORT, REDIS_HOST);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

/**
 * Resolves whether Redis tests should run. Without Redis they are skipped with
 * a printed reason, except under CI=true, where a missing Redis is a failure.
 */
export async function requireRedis(suite: string): Promise<boolean> {
  if (await redisAnswers()) return true;
  if (process.env.CI === 'true') {
    throw new Error(
      `${suite}: Redis does not answer on ${REDIS_HOST}:${REDIS_PORT}, and CI=true makes that a failure`,
    );
  }
  process.stderr.write(
    `\n[skip] ${suite}: Redis does not answer on ${REDIS_HOST}:${REDIS_PORT}; start redis-server to run these tests\n`,
  );
  return false;
}

/** A key prefix unique to this test file and run, so parallel files never share counters. */
export function uniquePrefix(name: string): string {
  return `portcullis-test:${name}:${process.pid}:${Date.now().toString(36)}:`;
}
