// Run by .ci/run with the oldest Node the package claims (20.0.0), against the built dist/:
// both entry points load, and API keys, JWT (JWKS fetch), rate limits and a route work.
// Exits non-zero with the reason on any difference.
import { strict as assert } from 'node:assert';
import http from 'node:http';
import { createRequire } from 'node:module';
import express from 'express';
import { createGateway, hashApiKey } from '../../dist/index.js';

const require = createRequire(import.meta.url);
assert.equal(typeof require('../../dist/index.cjs').createGateway, 'function', 'CommonJS entry');

const listen = (server) =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
const upstream = http.createServer((req, res) =>
  res.end(`${req.url} ${req.headers['x-consumer-id']}`),
);
const jwks = http.createServer((_req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end('{"keys":[]}');
});
const upstreamPort = await listen(upstream);
const jwksPort = await listen(jwks);

const key = 'k'.repeat(32);
const gateway = createGateway({
  auth: {
    apiKey: { keys: [{ id: 'alice', hash: hashApiKey(key) }] },
    jwt: {
      jwksUri: `http://127.0.0.1:${jwksPort}/jwks`,
      issuer: 'https://issuer.example',
      audience: 'api',
      algorithms: ['RS256'],
    },
  },
  rateLimit: { limit: 2, window: '1m' },
  routes: [
    { path: '/svc{/*path}', target: `http://127.0.0.1:${upstreamPort}`, rewrite: '/{*path}' },
  ],
});
const app = express();
app.use('/api', gateway);
const host = app.listen(0, '127.0.0.1');
await new Promise((resolve) => host.on('listening', resolve));
const url = `http://127.0.0.1:${host.address().port}/api/svc/hi`;

const get = (headers) =>
  new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });

try {
  assert.deepEqual(await get({ 'x-api-key': key }), { status: 200, body: '/hi alice' });
  assert.equal((await get({})).status, 401, 'no credentials');
  assert.equal((await get({ authorization: 'Bearer a.b.c' })).status, 401, 'bad JWT');
  assert.equal((await get({ 'x-api-key': key })).status, 200, 'second of two');
  assert.equal((await get({ 'x-api-key': key })).status, 429, 'third of two');
  process.stdout.write(`oldest-node smoke on ${process.version}: ok\n`);
} finally {
  await gateway.close();
  host.close();
  upstream.close();
  jwks.close();
}
