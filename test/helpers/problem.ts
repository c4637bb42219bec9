import { STATUS_CODES } from 'node:http';
import { expect } from 'vitest';
import type { RawResponse } from './raw-http.js';

/**
 * Asserts that `response` is a problem the gateway answered itself (SPEC §7, §8): `status`,
 * `application/problem+json`, `type` `about:blank`, the status's reason phrase as `title`, the
 * `code`, a `detail`, and the `requestId` echoed as `X-Request-Id`. Returns the parsed body.
 */
export function expectProblem(
  response: RawResponse,
  status: number,
  code: string,
): Record<string, unknown> {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toBe('application/problem+json');
  const body = JSON.parse(response.body) as Record<string, unknown>;
  expect(body).toMatchObject({ type: 'about:blank', title: STATUS_CODES[status], status, code });
  expect(typeof body.detail).toBe('string');
  expect(body.requestId).toBe(response.headers['x-request-id']);
  return body;
}
