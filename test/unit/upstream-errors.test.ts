import { describe, expect, it } from 'vitest';
import { classifyUpstreamError, UpstreamTimeoutError } from '../../src/route/upstream-errors.js';

const errno = (code: string): Error => Object.assign(new Error(code), { code });

describe('classifyUpstreamError', () => {
  it.each([
    [new UpstreamTimeoutError('connect'), 'bad_gateway', true],
    [new UpstreamTimeoutError('response'), 'gateway_timeout', false],
    [errno('ECONNREFUSED'), 'bad_gateway', true],
    [errno('EHOSTUNREACH'), 'bad_gateway', true],
    [errno('ENOTFOUND'), 'bad_gateway', true],
    [errno('ECONNRESET'), 'bad_gateway', false],
    [errno('HPE_INVALID_CONSTANT'), 'bad_gateway', false],
    [errno('HPE_HEADER_OVERFLOW'), 'bad_gateway', false],
    [new Error('no code'), 'bad_gateway', false],
  ])('%s → %s (connect failure: %s)', (err, code, connect) => {
    const failure = classifyUpstreamError(err);
    expect(failure.code).toBe(code);
    expect(failure.connect).toBe(connect);
    expect(failure.reason.length).toBeGreaterThan(0);
  });
});
