import { GatewayConfigError } from '../../src/errors.js';

/**
 * The `GatewayConfigError` that `fn` throws. Any other error is rethrown, and a `fn` that does
 * not throw fails the test.
 */
export function configErrorOf(fn: () => unknown): GatewayConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayConfigError) return err;
    throw err;
  }
  throw new Error('expected a GatewayConfigError');
}
