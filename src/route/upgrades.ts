import { type IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { GatewayConfigError } from '../errors.js';

/**
 * Where `handleUpgrades` keeps the bytes that came after the upgrade request's headers.
 *
 * @example
 * const head = (req as IncomingMessage & { [UPGRADE_HEAD]?: Buffer })[UPGRADE_HEAD];
 */
export const UPGRADE_HEAD: unique symbol = Symbol('portcullis.upgradeHead');

/**
 * Whether `req` came through {@link handleUpgrades} (an upgrade whose response is bound to its socket).
 *
 * @example
 * if (isUpgradeRequest(req)) tunnel(req, res);
 */
export function isUpgradeRequest(req: IncomingMessage): boolean {
  return (req as IncomingMessage & { [UPGRADE_HEAD]?: Buffer })[UPGRADE_HEAD] !== undefined;
}

/**
 * What an Express app (4 or 5) or any `(req, res)` handler looks like to `handleUpgrades`.
 *
 * @example
 * const app: UpgradeApp = express();
 */
export type UpgradeApp = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * Routes WebSocket (and any other) upgrade requests through your app. On each
 * `'upgrade'` event of `server` the request runs through `app` as an ordinary
 * request whose response is bound to the socket, so mount paths, `trust
 * proxy`, your own middlewares and the gateway's normalisation, auth and
 * limits apply exactly as to plain requests. A route with `websocket: true`
 * then tunnels the upgrade to its target; anything else (refused, unmatched,
 * a route without `websocket`) is answered with an ordinary HTTP response on
 * the socket, which is then closed. Nothing else subscribes to `'upgrade'`.
 *
 * Returns a function that unsubscribes. Default: not installed (upgrades are
 * left to whoever else listens, or Node answers them as plain requests).
 *
 * @example
 * const app = express();
 * app.use('/api', createGateway({ routes: [{ path: '/chat', target: 'http://chat:8080', websocket: true }] }));
 * const server = app.listen(8080);
 * const stop = handleUpgrades(server, app);
 */
export function handleUpgrades(server: Server, app: UpgradeApp): () => void {
  // Plain JavaScript callers get a clear answer instead of a TypeError from deep inside.
  const candidate = server as Partial<Server> | null | undefined;
  if (typeof candidate?.on !== 'function' || typeof candidate.off !== 'function') {
    throw new GatewayConfigError(
      'server',
      'must be the http.Server (or https.Server) the app listens on',
    );
  }
  if (typeof app !== 'function') {
    throw new GatewayConfigError('app', 'must be the Express app, or any (req, res) handler');
  }
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // Node removed its own listeners from the socket: an error must not crash the process.
    socket.on('error', destroyOnError);
    (req as IncomingMessage & { [UPGRADE_HEAD]?: Buffer })[UPGRADE_HEAD] = head;
    const res = new ServerResponse(req);
    // The socket carries exactly one response (or becomes a tunnel).
    res.shouldKeepAlive = false;
    // Node hands every 'upgrade' listener a net.Socket (typed as the Duplex it extends).
    res.assignSocket(socket as Socket);
    res.on('finish', () => {
      // Still bound: an ordinary response was written. Close the socket once it is flushed,
      // as Node does after a `Connection: close` response.
      if (res.socket === socket) (socket as Socket).destroySoon();
    });
    try {
      app(req, res);
    } catch {
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end();
      } else socket.destroy();
    }
  };
  server.on('upgrade', onUpgrade);
  return () => {
    server.off('upgrade', onUpgrade);
  };
}

function destroyOnError(this: Duplex): void {
  this.destroy();
}
