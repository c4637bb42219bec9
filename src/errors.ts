/**
 * Stable codes carried by {@link GatewayConfigError}. Match on `code`, not on
 * the message: messages may be reworded, codes never change meaning.
 */
export type GatewayConfigErrorCode =
  | 'ERR_CONFIG_INVALID_OPTION'
  | 'ERR_CONFIG_INVALID_DURATION'
  | 'ERR_CONFIG_INVALID_TARGET'
  | 'ERR_CONFIG_INVALID_PATH'
  | 'ERR_CONFIG_INVALID_KEY'
  | 'ERR_CONFIG_INVALID_STORE'
  | 'ERR_CONFIG_UNSAFE_PATTERN';

/** Marks a GatewayConfigError, whichever copy of the class made it. */
const BRAND = Symbol.for('portcullis.GatewayConfigError');

/**
 * Thrown synchronously by every factory (`createGateway`, `authenticate`,
 * `rateLimit`, `route`, the stores) when an option is invalid. The message
 * starts with the option's path, e.g. `routes[1].target: must be an http(s) URL`.
 *
 * @example
 * try { route({ path: '/x', target: 'ftp://nope' }); }
 * catch (err) { if (err instanceof GatewayConfigError) reportMistake(err.field, err.code); else throw err; }
 */
export class GatewayConfigError extends Error {
  /**
   * `instanceof` recognises the errors of every copy of this class in the process: the ESM and
   * CommonJS builds each have one, and so does the `portcullis/metrics` entry point.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && Object.hasOwn(value, BRAND);
  }

  override readonly name = 'GatewayConfigError';
  /** A stable machine-readable code. */
  readonly code: GatewayConfigErrorCode;
  /** The path of the offending option, e.g. `routes[1].target`. */
  readonly field: string;

  constructor(
    field: string,
    problem: string,
    code: GatewayConfigErrorCode = 'ERR_CONFIG_INVALID_OPTION',
  ) {
    super(`${field}: ${problem}`);
    this.field = field;
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }
}
