// The upstream every scenario proxies to: a minimal keep-alive node:http server on 127.0.0.1
// answering a small fixed JSON body, run in its own process. Started by run.ts and profile.ts.

import { createServer } from 'node:http';
import { answerCpuQueries, exitWithParent, report } from './lib/children.js';
import { UPSTREAM_BODY } from './lib/constants.js';

const body = Buffer.from(UPSTREAM_BODY);
const server = createServer((req, res) => {
  // Drain any request body so the connection stays reusable.
  req.resume();
  // The path as received lets run.ts check each stack's rewrite before timing it.
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': body.length,
    'x-upstream-path': req.url ?? '',
  });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('upstream: no TCP address');
  report({ type: 'ready', port: address.port });
});

answerCpuQueries();
exitWithParent(
  () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
);
