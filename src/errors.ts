/**
 * Stable codes carried by {@link GatewayConfigError}. Match on `code`, not on
 * the message: messages may be reworded, codes never change meaning.
 * `ERR_CONFIG_UNKNOWN_OPTION`: an option name that is not one (usually a typo;
 * the message suggests the closest known name).
 */
export type GatewayConfigErrorCode =
  | 'ERR_CONFIG_INVALID_OPTION'
  | 'ERR_CONFIG_UNKNOWN_OPTION'
  | 'ERR_CONFIG_INVALID_DURATION'
  | 'ERR_CONFIG_INVALID_TARGET'
  | 'ERR_CONFIG_INVALID_PATH'
  | 'ERR_CONFIG_INVALID_KEY'
  | 'ERR_CONFIG_INVALID_STORE'
  | 'ERR_CONFIG_UNSAFE_PATTERN';

/**
 * One problem of a configuration: the option's path, a stable code and what is
 * wrong (the message without the path). `GatewayConfigError.issues` lists every
 * one found, so a tool (`portcullis check`) can print them all.
 *
 * @example
 * const issue: GatewayConfigIssue = { field: 'routes[1].target', code: 'ERR_CONFIG_INVALID_TARGET', message: 'must be an http(s) URL' };
 */
export interface GatewayConfigIssue {
  field: string;
  code: GatewayConfigErrorCode;
  message: string;
}

/** Marks a GatewayConfigError, whichever copy of the class made it. */
const BRAND = Symbol.for('portcullis.GatewayConfigError');

/**
 * Thrown synchronously by every factory (`createGateway`, `authenticate`,
 * `rateLimit`, `route`, the stores) when an option is invalid. The message
 * starts with the option's path, e.g. `routes[1].target: must be an http(s) URL`;
 * `field` and `code` are those of the first problem, and `issues` lists every
 * problem found (the first is the error's own).
 *
 * @example
 * try { route({ path: '/x', target: 'ftp://nope' }); }
 * catch (err) { if (err instanceof GatewayConfigError) for (const i of err.issues) report(i.field, i.code, i.message); else throw err; }
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
  /** A stable machine-readable code (of the first problem). */
  readonly code: GatewayConfigErrorCode;
  /** The path of the offending option, e.g. `routes[1].target` (of the first problem). */
  readonly field: string;
  /** Every problem found, in the order of the options; `issues[0]` is this error's own. Default: that one alone. */
  readonly issues: readonly GatewayConfigIssue[];

  constructor(
    field: string,
    problem: string,
    code: GatewayConfigErrorCode = 'ERR_CONFIG_INVALID_OPTION',
    issues?: readonly GatewayConfigIssue[],
  ) {
    const more = issues === undefined ? 0 : issues.length - 1;
    super(
      more > 0
        ? `${field}: ${problem} (and ${more} more problem${more > 1 ? 's' : ''}: see error.issues)`
        : `${field}: ${problem}`,
    );
    this.field = field;
    this.code = code;
    this.issues = Object.freeze(
      issues !== undefined && issues.length > 0
        ? issues.map((issue) => Object.freeze({ ...issue }))
        : [Object.freeze({ field, code, message: problem })],
    );
    Object.defineProperty(this, BRAND, { value: true });
  }
}
