import type { ServerResponse } from 'node:http';
import type { EmitEvent } from './events.js';
import type { SendProblem } from './problem.js';
import { takeRequest } from './request-completed.js';
import type { GatewayMiddleware, GatewayRequest, NextFunction } from './types.js';

/**
 * One stage of the gateway's chain. It returns `true` when the request may go
 * on, `false` when it has already answered (401, 429, …). Sync stages (API
 * keys, the memory store) return a plain boolean so an allowed request costs
 * no promise tick. Throwing or rejecting means an unexpected error: `next(err)`.
 */
export type StepResult = boolean | Promise<boolean>;
export type Step = (req: GatewayRequest, res: ServerResponse) => StepResult;

/** What the gateway hands to each part it composes, so they share one sink and one error format. */
export interface InternalContext {
  emit: EmitEvent;
  sendProblem: SendProblem;
}

/**
 * Runs `step` then calls `then()` if it let the request through; errors go
 * to `next(err)`. `then` defaults to `next`.
 */
export function runStep(
  step: Step,
  req: GatewayRequest,
  res: ServerResponse,
  next: NextFunction,
  then: () => void = next,
): void {
  let result: StepResult;
  try {
    result = step(req, res);
  } catch (err) {
    next(err);
    return;
  }
  if (result === true) then();
  else if (result !== false) whenAllowed(result, next, then);
}

/**
 * The asynchronous half of a step: calls `then()` once `result` allows the
 * request; a rejection, or an exception from `then`, goes to `next(err)` so
 * nothing is left unhandled.
 */
export function whenAllowed(result: Promise<boolean>, next: NextFunction, then: () => void): void {
  result.then(
    (ok) => {
      if (!ok) return;
      try {
        then();
      } catch (err) {
        next(err);
      }
    },
    (err) => next(err),
  );
}

/**
 * Turns a step into a public middleware with `close()` (standalone `authenticate()` and
 * `rateLimit()`). Such a middleware reports `request.completed` through `emit` only for the
 * requests it answers itself: one it lets through is left to what comes after it.
 *
 * @example
 * return stepMiddleware('authenticate', step, () => authenticator.close(), emit);
 */
export function stepMiddleware(
  name: string,
  step: Step,
  close: () => Promise<void>,
  emit: EmitEvent,
): GatewayMiddleware {
  const middleware = (req: GatewayRequest, res: ServerResponse, next: NextFunction): void => {
    takeRequest(res, emit, false);
    runStep(step, req, res, next);
  };
  Object.defineProperty(middleware, 'name', { value: name });
  return Object.assign(middleware, { close }) as GatewayMiddleware;
}
