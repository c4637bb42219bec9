import * as z from 'zod';
import type { GatewayConfigErrorCode } from '../errors.js';

/**
 * What portcullis records about an option's schema, beside zod's own
 * definition. Kept in a registry of our own (never zod's global one), read by
 * the error mapping (`parse.ts`) and by the JSON Schema generator, which strips
 * every key but `description` from its output.
 *
 * @example
 * const meta: OptionMeta = { code: 'ERR_CONFIG_INVALID_TARGET' };
 */
export interface OptionMeta {
  /** The `GatewayConfigError` code of every problem at or under this option (the nearest wins). Default `ERR_CONFIG_INVALID_OPTION`. */
  code?: GatewayConfigErrorCode;
  /** Values that may be secrets (keys, secrets, passwords, hashes, tokens): messages show only their type and length. */
  secret?: true;
  /** Functions and live objects only code can give (`store`, `verify`, `onEvent`, …): left out of the JSON Schema. */
  codeOnly?: true;
  /** Names that are options elsewhere but refused on this object, with the message that says why. */
  refusedKeys?: Readonly<Record<string, string>>;
  /** Shown by editors through the JSON Schema. */
  description?: string;
}

/**
 * The registry of {@link OptionMeta}.
 *
 * @example
 * optionMeta.get(schema)?.code;
 */
export const optionMeta = z.registry<OptionMeta>();

/**
 * Records `meta` for `schema` and returns the schema, so it reads inline.
 *
 * @example
 * const target = withMeta(z.string(), { code: 'ERR_CONFIG_INVALID_TARGET' });
 */
export function withMeta<T extends z.ZodType>(schema: T, meta: OptionMeta): T {
  optionMeta.add(schema, { ...optionMeta.get(schema), ...meta });
  return schema;
}

/**
 * A value only code can give: a function or a live object, checked by `check`
 * (`typeof value === 'function'` by default), typed as `T`, and marked
 * code-only so the JSON Schema leaves it out.
 *
 * @example
 * const onEvent = codeOnly<GatewayEventListener>();
 */
export function codeOnly<T>(
  message = 'must be a function',
  check: (value: unknown) => boolean = isFunction,
): z.ZodCustom<T, T> {
  // `mismatch`: a union whose other members are data reports its own message, not this one.
  return withMeta(z.custom<T>(check, { error: message, params: { mismatch: true } }), {
    codeOnly: true,
  });
}

function isFunction(value: unknown): boolean {
  return typeof value === 'function';
}
