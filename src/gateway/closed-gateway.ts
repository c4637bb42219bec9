import type { ServerResponse } from 'node:http';
import type { InternalContext } from '../pipeline.js';
import { takeRequest } from '../request-completed.js';
import type { GatewayRequest, NextFunction } from '../types.js';

/**
 * What the gateway's handler hands each request to: the current configuration's
 * snapshot, or a {@link ClosedGateway} once `close()` was called.
 *
 * @example
 * let current: ServesRequests = snapshot;
 * current.serve(req, res, next);
 */
export interface ServesRequests {
  serve(req: GatewayRequest, res: ServerResponse, next: NextFunction): void;
}

/**
 * A closing (or closed) gateway: every request that still reaches it, upgrades
 * included, gets `503 service_unavailable` with `Connection: close`, in the
 * last configuration's problem format and with its `request.completed`.
 *
 * @example
 * current = new ClosedGateway(latest.ctx);
 */
export class ClosedGateway implements ServesRequests {
  constructor(private readonly ctx: InternalContext) {}

  serve(req: GatewayRequest, res: ServerResponse, next: NextFunction): void {
    try {
      takeRequest(res, this.ctx.emit, true);
      this.ctx.sendProblem(req, res, {
        code: 'service_unavailable',
        detail: 'The gateway is shutting down.',
        // The client should take its next request elsewhere.
        headers: { Connection: 'close' },
      });
    } catch (err) {
      next(err);
    }
  }
}
