// The opening example of portcullis: a gateway on :8080 in front of two
// services, a public one (no key, no limit) and a private one (API key,
// 5 requests a minute). `npm run example` starts the two demo upstreams and
// the gateway together; Ctrl-C stops all three.
import { randomBytes } from 'node:crypto';
import express from 'express';
import { createGateway } from 'portcullis';
import { closeServer, startDemoUpstream } from './demo-upstreams.js';

const GATEWAY_PORT = Number(process.env.PORT ?? 8080);
const PUBLIC_PORT = Number(process.env.PUBLIC_PORT ?? 8081);
const PRIVATE_PORT = Number(process.env.PRIVATE_PORT ?? 8082);
// A fresh demo key each run unless you choose one.
const ALICE_KEY = process.env.ALICE_KEY ?? `demo-${randomBytes(12).toString('base64url')}`;

const publicService = await startDemoUpstream('public', PUBLIC_PORT);
const privateService = await startDemoUpstream('private', PRIVATE_PORT);

const gateway = createGateway({
  auth: { apiKey: { keys: [{ id: 'alice', key: ALICE_KEY }] } },
  rateLimit: { limit: 5, window: '1m' },
  routes: [
    {
      path: '/public{/*path}',
      target: `http://127.0.0.1:${PUBLIC_PORT}`,
      methods: ['GET'],
      rewrite: '/{*path}',
      auth: false,
      rateLimit: false,
    },
    {
      path: '/private{/*path}',
      target: `http://127.0.0.1:${PRIVATE_PORT}`,
      methods: ['GET', 'POST', 'PUT', 'DELETE'],
      rewrite: '/{*path}',
    },
  ],
  // The library prints nothing itself; this demo shows its events.
  onEvent: (event) => {
    if (event.type !== 'proxy.response') console.log('[event]', JSON.stringify(event));
  },
});

const app = express();
app.use('/api', gateway);
// Like `app.listen(8080)` in the README: every interface, so localhost works over IPv4 and IPv6.
const server = app.listen(GATEWAY_PORT, () => {
  const base = `http://127.0.0.1:${GATEWAY_PORT}/api`;
  console.log(`portcullis demo gateway on ${base}`);
  console.log(`  public service  :${PUBLIC_PORT}  -> ${base}/public/...   (no key, no limit)`);
  console.log(
    `  private service :${PRIVATE_PORT}  -> ${base}/private/...  (API key, 5 requests/minute)`,
  );
  console.log(`\nDemo API key for consumer "alice": ${ALICE_KEY}\n`);
  console.log('Try:');
  console.log(`  curl -i ${base}/public/hello`);
  console.log(`  curl -i ${base}/private/orders                        # 401: no key`);
  console.log(`  curl -i -H 'x-api-key: ${ALICE_KEY}' ${base}/private/orders   # 200`);
  console.log(
    `  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{http_code}\\n' -H 'x-api-key: ${ALICE_KEY}' ${base}/private/orders; done   # ... 429`,
  );
  console.log('\nCtrl-C to stop.');
});
server.on('error', (err) => {
  console.error(
    `Could not listen on :${GATEWAY_PORT}: ${err.message} (set PORT to use another port)`,
  );
  void shutdown(1);
});

let stopping = false;
async function shutdown(code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  server.closeAllConnections();
  await Promise.allSettled([
    new Promise((resolve) => server.close(resolve)),
    gateway.close(),
    closeServer(publicService),
    closeServer(privateService),
  ]);
  console.log('stopped');
  process.exit(code);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
