// An Express app that already has its own routes and middlewares, and mounts
// the gateway on /api. Its own routes keep working; /api/... is authenticated,
// limited and proxied; anything under /api that no route matches falls
// through to the app (here: its JSON 404).
import express from 'express';
import { createGateway, hashApiKey } from 'portcullis';
import { closeServer, startDemoUpstream } from './demo-upstreams.js';

const PORT = Number(process.env.PORT ?? 3000);
const ORDERS_PORT = Number(process.env.ORDERS_PORT ?? 3001);
// Keys are stored hashed: only hashApiKey(key) is kept in configuration.
const BOB_KEY = process.env.BOB_KEY ?? 'bob-demo-key-change-me';

const orders = await startDemoUpstream('orders', ORDERS_PORT);

const app = express();
// Behind a load balancer, tell Express which proxies to trust: req.ip, and so
// rate limits by IP and X-Forwarded-For, follow it.
app.set('trust proxy', 'loopback');
app.use(express.json());

app.get('/', (_req, res) => {
  res.send('The app itself: its own pages keep working.\n');
});
app.get('/health', (_req, res) => {
  res.json({ ok: true });
});

const gateway = createGateway({
  auth: { apiKey: { keys: [{ id: 'bob', hash: hashApiKey(BOB_KEY), scopes: ['orders:read'] }] } },
  rateLimit: { limit: 100, window: '1m' },
  routes: [{ name: 'orders', path: '/orders{/*path}', target: `http://127.0.0.1:${ORDERS_PORT}` }],
  onEvent: (event) => console.log('[event]', event.type),
});
app.use('/api', gateway);

app.use((_req, res) => {
  res.status(404).json({ error: 'not found in the app' });
});

const server = app.listen(PORT, '127.0.0.1', () => {
  console.log(`existing app on http://127.0.0.1:${PORT}`);
  console.log(`  curl http://127.0.0.1:${PORT}/health`);
  console.log(`  curl -H 'x-api-key: ${BOB_KEY}' http://127.0.0.1:${PORT}/api/orders/42`);
  console.log(`  curl http://127.0.0.1:${PORT}/api/unknown   # falls through to the app's 404`);
});

process.on('SIGINT', async () => {
  server.closeAllConnections();
  server.close();
  await Promise.allSettled([gateway.close(), closeServer(orders)]);
  process.exit(0);
});
