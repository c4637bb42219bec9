import type { ProblemCode } from '../problem.js';

/**
 * Why an exchange with an upstream failed, decided in this one place.
 *
 * @example
 * const failure: UpstreamFailure = { code: 'bad_gateway', connect: true, reason: 'ECONNREFUSED' };
 */
export interface UpstreamFailure {
  /**
   * The problem answered when nothing was sent to the client yet: `request_timeout` when the
   * client's own body stalled (SPEC §8), else the upstream's failure.
   */
  code: Extract<ProblemCode, 'bad_gateway' | 'gateway_timeout' | 'request_timeout'>;
  /**
   * The target could not be reached (refused, unreachable, DNS, connect
   * timeout): nothing was sent to it, so the request may go to another
   * target, and the target is marked down.
   */
  connect: boolean;
  /** Short and secret-free, for events and problem details: an errno code or a phrase. */
  reason: string;
}

/**
 * Raised by the gateway's own timers; `phase` says which limit was hit (`code` is `ETIMEDOUT`).
 *
 * @example
 * proxyReq.destroy(new UpstreamTimeoutError('connect'));
 */
export class UpstreamTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(readonly phase: 'connect' | 'response') {
    super(phase === 'connect' ? 'connect timeout' : 'upstream timeout');
  }
}

/** Errno codes meaning "the target was never reached". */
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);

/**
 * Maps an error of the upstream exchange to the answer (SPEC §7): a connect
 * timeout or a refused/unreachable target → 502 (connect failure), an
 * upstream that stays silent past `timeout` → 504, a reset connection or a
 * malformed response (llhttp's `HPE_*`: bad framing, headers over Node's
 * limit) → 502.
 *
 * @example
 * classifyUpstreamError(Object.assign(new Error(), { code: 'ECONNREFUSED' })); // { code: 'bad_gateway', connect: true, … }
 */
export function classifyUpstreamError(err: unknown): UpstreamFailure {
  if (err instanceof UpstreamTimeoutError) {
    return err.phase === 'connect'
      ? { code: 'bad_gateway', connect: true, reason: 'connect timeout' }
      : { code: 'gateway_timeout', connect: false, reason: 'upstream timeout' };
  }
  const code = errorCode(err);
  if (code !== undefined && CONNECT_CODES.has(code))
    return { code: 'bad_gateway', connect: true, reason: code };
  if (code?.startsWith('HPE_')) {
    return { code: 'bad_gateway', connect: false, reason: `malformed upstream response (${code})` };
  }
  return { code: 'bad_gateway', connect: false, reason: code ?? 'upstream error' };
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = (err as { code: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Problem details, by code: fixed phrases, never the target URL.
 *
 * @example
 * ctx.sendProblem(req, res, { code: 'bad_gateway', detail: FAILURE_DETAIL.bad_gateway });
 */
export const FAILURE_DETAIL: Record<UpstreamFailure['code'], string> = {
  bad_gateway: 'The upstream service could not be reached or sent an invalid response.',
  gateway_timeout: 'The upstream service did not answer in time.',
  request_timeout: 'The request body stopped arriving for longer than the route allows.',
};
