import { type ServerResponse, STATUS_CODES } from 'node:http';
import { recordProblem } from './request-completed.js';
import { gatewayContext } from './request-id.js';
import type { GatewayRequest } from './types.js';

/** The error codes of gateway-made responses, and their HTTP status. */
export const PROBLEM_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  payload_too_large: 413,
  request_header_fields_too_large: 431,
  rate_limited: 429,
  internal_error: 500,
  not_implemented: 501,
  bad_gateway: 502,
  service_unavailable: 503,
  gateway_timeout: 504,
} as const;

export type ProblemCode = keyof typeof PROBLEM_STATUS;

/** An RFC 9457 problem document, as portcullis sends it. */
export interface Problem {
  type: 'about:blank';
  /** The HTTP reason phrase of `status`. */
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  requestId: string;
  /** Present on 429: the names of the policies that refused the request. */
  'violated-policies'?: string[];
}

/**
 * Replaces how problem documents are written (`createGateway({ errorResponse })`).
 * Status and gateway headers (`Retry-After`, `WWW-Authenticate`, `Allow`, …)
 * are already set on `res` when it is called; it must end the response.
 */
export type ErrorResponder = (problem: Problem, req: GatewayRequest, res: ServerResponse) => void;

export interface ProblemInit {
  code: ProblemCode;
  detail: string;
  /** Headers to set before the body (e.g. `Retry-After`, `WWW-Authenticate`). */
  headers?: Record<string, string | number | string[]>;
  'violated-policies'?: string[];
}

/** Sends a problem for a request: one function for every gateway-made error response. */
export type SendProblem = (req: GatewayRequest, res: ServerResponse, init: ProblemInit) => void;

export function buildProblem(req: GatewayRequest, res: ServerResponse, init: ProblemInit): Problem {
  const status = PROBLEM_STATUS[init.code];
  const problem: Problem = {
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail: init.detail,
    code: init.code,
    requestId: gatewayContext(req, res).requestId,
  };
  if (init['violated-policies']) problem['violated-policies'] = init['violated-policies'];
  return problem;
}

const writeProblemJson: ErrorResponder = (problem, _req, res) => {
  const body = JSON.stringify(problem);
  res.setHeader('Content-Type', 'application/problem+json');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
};

/**
 * Makes the gateway's problem sender. With a custom `errorResponse`, the
 * status and headers are still set here so that every format carries them.
 * A response whose headers are already sent can only be cut short.
 */
export function createProblemSender(responder: ErrorResponder = writeProblemJson): SendProblem {
  return function sendProblem(req, res, init) {
    if (res.headersSent) {
      // Too late for a status: end what was started so the client never hangs.
      res.destroy();
      return;
    }
    const problem = buildProblem(req, res, init);
    // For `request.completed` (its `code` and `outcome`), when someone listens.
    recordProblem(res, init.code);
    res.statusCode = problem.status;
    const headers = init.headers;
    if (headers) for (const name in headers) res.setHeader(name, headers[name] as string);
    try {
      responder(problem, req, res);
    } catch {
      // A throwing custom responder must not leave the request hanging.
      if (!res.headersSent) writeProblemJson(problem, req, res);
      else res.destroy();
    }
  };
}

/** The default sender, used by standalone middlewares. */
export const sendProblem: SendProblem = createProblemSender();
