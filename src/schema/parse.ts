import * as z from 'zod';
import {
  GatewayConfigError,
  type GatewayConfigErrorCode,
  type GatewayConfigIssue,
} from '../errors.js';
import { type OptionMeta, optionMeta } from './meta.js';

/**
 * Turns zod's parse of an options object into portcullis' contract: the
 * resolved options, or one {@link GatewayConfigError} listing every problem
 * with its field path (`routes[1].target`), a stable code and a message that
 * says what is wrong, shows the value received when it is the problem (never
 * one that may be a secret), and suggests the closest name for an unknown one.
 * Also collects configuration warnings (`config.warning`) without emitting
 * anything: parsing has no side effects, so `gateway.update()` can call it.
 */

/**
 * A warning found while parsing, for the caller to emit as a `config.warning` event.
 *
 * @example
 * for (const w of warnings) emit({ type: 'config.warning', ...w });
 */
export interface ConfigWarning {
  field: string;
  message: string;
}

/**
 * The parse of one factory's options: everything resolved, and the warnings to emit.
 *
 * @example
 * const { value, warnings } = parseOptions(routeOptions, input, STANDALONE);
 */
export interface Parsed<T> {
  value: T;
  warnings: ConfigWarning[];
}

/**
 * How field paths are written for one factory: `prefix` goes before every path
 * (`'MemoryStore'` → `MemoryStore.maxKeys`), `root` names the options object itself.
 *
 * @example
 * const at: FieldRoot = { prefix: '', root: 'options' };
 */
export interface FieldRoot {
  prefix: string;
  root: string;
}

/** Standalone factories: paths without a prefix, the object itself is `options`. */
export const STANDALONE: FieldRoot = { prefix: '', root: 'options' };

/**
 * True only during the first pass of {@link parseOptions}, which also collects
 * warnings. Module state, but never seen by two parses: a parse is synchronous.
 */
let collectingWarnings = false;

/**
 * Adds a warning at `path` (relative to the schema the refinement is on). Warnings are issues
 * of their own kind that {@link parseOptions} takes out of the result; they are only raised
 * while it collects them, so a second, warning-free pass gives the value.
 *
 * @example
 * z.number().check((ctx) => { if (ctx.value < 1000) warn(ctx, 'is in milliseconds'); });
 */
export function warn(
  ctx: { issues: z.core.$ZodRawIssue[]; value: unknown },
  message: string,
  path: PropertyKey[] = [],
): void {
  if (!collectingWarnings) return;
  ctx.issues.push({
    code: 'custom',
    message,
    input: ctx.value,
    path,
    continue: true,
    params: { warning: true },
  });
}

/**
 * Raises a problem from a refinement or transform, with its own code when it is not the
 * field's. `showInput` appends the value received (or its type and length for a secret).
 *
 * @example
 * fail(ctx, 'must not carry a query string', { code: 'ERR_CONFIG_INVALID_TARGET' });
 */
export function fail(
  ctx: { issues: z.core.$ZodRawIssue[]; value: unknown },
  message: string,
  options: {
    path?: PropertyKey[];
    code?: GatewayConfigErrorCode;
    showInput?: boolean;
    input?: unknown;
  } = {},
): void {
  // A problem of a part of the value (`path`) received that part, not the whole value.
  const input = 'input' in options ? options.input : options.path?.length ? undefined : ctx.value;
  ctx.issues.push({
    code: 'custom',
    message,
    input,
    path: options.path ?? [],
    params: { code: options.code, showInput: options.showInput },
  });
}

/**
 * Refinements on containers (`.check` on an array or object) must begin with
 * `if (ctx.issues.length > 0) return;`: zod runs them after problems that do
 * not abort (a string's format), on values whose own transforms did not run.
 *
 * Parses `input` with `schema`: the resolved value and the warnings, or a
 * {@link GatewayConfigError} naming every problem. Synchronous, no side effects.
 *
 * @example
 * const { value } = parseOptions(memoryStoreOptions, options, { prefix: 'MemoryStore', root: 'MemoryStore' });
 */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  input: unknown,
  at: FieldRoot,
): Parsed<z.output<S>> {
  let first: ReturnType<S['safeParse']>;
  collectingWarnings = true;
  try {
    first = schema.safeParse(input, PARSE_CONTEXT) as ReturnType<S['safeParse']>;
  } finally {
    collectingWarnings = false;
  }
  if (first.success) return { value: first.data as z.output<S>, warnings: [] };
  // Warnings can sit inside a union's members: read them where the errors would be read.
  const flat: FlatIssue[] = [];
  flatten(first.error.issues, [], flat);
  const warnings = flat.filter((f) => isWarning(f.issue));
  // Errors are always taken from a pass without warnings: a warning stops the transforms above
  // it, which could hide a problem they would find.
  const second = schema.safeParse(input, PARSE_CONTEXT);
  if (!second.success) throw configError(schema, input, second.error.issues, at);
  return {
    value: second.data as z.output<S>,
    warnings: warnings.map((f) => ({ field: fieldOf(f.path, at), message: f.issue.message })),
  };
}

function isWarning(issue: z.core.$ZodIssue): boolean {
  return issue.code === 'custom' && issue.params?.warning === true;
}

/**
 * The wording of zod's own issues (types, ranges, enums); schemas give their own message
 * where they know better, and refinements always do.
 */
function defaultMessage(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return TYPE_MESSAGES[issue.expected] ?? `must be of type ${issue.expected}`;
    case 'too_small':
      if (issue.origin === 'string') return 'must be a non-empty string';
      if (issue.origin === 'array') return `must list at least ${String(issue.minimum)}`;
      return `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      if (issue.origin === 'array') return `must list at most ${String(issue.maximum)}`;
      if (issue.origin === 'string') return `must be at most ${String(issue.maximum)} characters`;
      return `must be at most ${String(issue.maximum)}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map(quote).join(', ')}`;
    case 'invalid_union':
      return 'is not valid here';
    default:
      return 'is not valid';
  }
}

const TYPE_MESSAGES: Record<string, string> = {
  string: 'must be a non-empty string',
  boolean: 'must be true or false',
  number: 'must be a number',
  int: 'must be an integer',
  object: 'must be an object',
  array: 'must be an array',
  record: 'must be an object',
  function: 'must be a function',
};

const PARSE_CONTEXT = {
  reportInput: true,
  error: (issue: z.core.$ZodRawIssue) => defaultMessage(issue),
};

/** An issue with its absolute path, after unions were resolved to the member that fits. */
interface FlatIssue {
  issue: z.core.$ZodIssue;
  path: PropertyKey[];
  /** For an unknown key: the key, and the path of its object. */
  unknownKey?: { key: string; objectPath: PropertyKey[] };
}

/**
 * Builds the error: one entry per problem, in the order zod found them. A failed union is
 * reported through the member the value fits (an array for an array, an object for an
 * object); when it fits none, through the union's own message.
 */
function configError(
  schema: z.ZodType,
  input: unknown,
  issues: readonly z.core.$ZodIssue[],
  at: FieldRoot,
): GatewayConfigError {
  const flat: FlatIssue[] = [];
  flatten(issues, [], flat);
  const out: GatewayConfigIssue[] = flat
    .filter((f) => !isWarning(f.issue))
    .map((f) => describe(schema, input, f, at));
  const firstIssue = out[0] ?? {
    field: at.root,
    code: 'ERR_CONFIG_INVALID_OPTION',
    message: 'is not valid',
  };
  return new GatewayConfigError(firstIssue.field, firstIssue.message, firstIssue.code, out);
}

function flatten(issues: readonly z.core.$ZodIssue[], base: PropertyKey[], out: FlatIssue[]): void {
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const fitting = issue.errors.find((member) => member.length > 0 && !member.some(isMismatch));
      if (fitting !== undefined) {
        flatten(fitting, path, out);
        continue;
      }
    }
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ issue, path: [...path, key], unknownKey: { key, objectPath: path } });
      }
      continue;
    }
    out.push({ issue, path });
  }
}

/** A union member the value does not even have the type of. */
function isMismatch(issue: z.core.$ZodIssue): boolean {
  if (issue.path.length > 0) return false;
  if (issue.code === 'invalid_type' || issue.code === 'invalid_value') return true;
  if (issue.code === 'invalid_union') return issue.errors.every((m) => m.some(isMismatch));
  return issue.code === 'custom' && issue.params?.mismatch === true;
}

function describe(
  schema: z.ZodType,
  input: unknown,
  flat: FlatIssue,
  at: FieldRoot,
): GatewayConfigIssue {
  const field = fieldOf(flat.path, at);
  const { issue } = flat;
  if (flat.unknownKey !== undefined) {
    const { key, objectPath } = flat.unknownKey;
    const object = schemaAt(schema, objectPath);
    const refused = object.metas.reduce<Record<string, string> | undefined>(
      (found, meta) =>
        found ??
        (meta.refusedKeys && Object.hasOwn(meta.refusedKeys, key) ? meta.refusedKeys : undefined),
      undefined,
    );
    if (refused !== undefined) {
      return { field, code: 'ERR_CONFIG_INVALID_OPTION', message: refused[key] as string };
    }
    return {
      field,
      code: 'ERR_CONFIG_UNKNOWN_OPTION',
      message: unknownOptionMessage(key, object.keys),
    };
  }
  const found = schemaAt(schema, flat.path);
  const params = issue.code === 'custom' ? (issue.params as CustomParams | undefined) : undefined;
  const code =
    params?.code ??
    [...found.metas].reverse().find((meta) => meta.code !== undefined)?.code ??
    'ERR_CONFIG_INVALID_OPTION';
  let message = issue.message;
  const received = (issue as { input?: unknown }).input;
  if (received === undefined && isPresentUndefined(input, flat.path)) {
    message = `${message} (got undefined — is the environment variable set?)`;
  } else if (
    received !== undefined &&
    showsInput(issue, params) &&
    !message.includes('(got ') &&
    !(typeof received === 'string' && received !== '' && message.includes(`'${received}'`))
  ) {
    const secret = found.metas.some((meta) => meta.secret) || SECRET_NAME.test(lastName(flat.path));
    message = `${message} (got ${describeValue(received, secret)})`;
  }
  return { field, code, message };
}

interface CustomParams {
  code?: GatewayConfigErrorCode;
  showInput?: boolean;
  warning?: boolean;
  mismatch?: boolean;
}

function showsInput(issue: z.core.$ZodIssue, params: CustomParams | undefined): boolean {
  switch (issue.code) {
    case 'invalid_type':
    case 'invalid_value':
    case 'invalid_union':
    case 'invalid_format':
      return true;
    case 'too_small':
    case 'too_big':
      return issue.origin === 'number' || issue.origin === 'int';
    case 'custom':
      return params?.showInput === true || params?.mismatch === true;
    default:
      return false;
  }
}

/** Names of options whose values may be secrets, in case a schema forgot to say so. */
const SECRET_NAME = /(secret|password|hash|token|credential)s?$|[a-z]Keys?$/i;

function lastName(path: readonly PropertyKey[]): string {
  for (let i = path.length - 1; i >= 0; i--) {
    const segment = path[i];
    if (typeof segment === 'string') return segment;
  }
  return '';
}

/**
 * The received value as a message shows it: short values as they are, strings quoted and cut
 * at 60 characters, URLs without their credentials, secrets as their type and length only.
 *
 * @example
 * describeValue('soon', false); // "'soon'"
 * describeValue('k-123', true); // 'a string of 5 characters'
 */
export function describeValue(value: unknown, secret: boolean): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string': {
      if (secret) return `a string of ${value.length} character${value.length === 1 ? '' : 's'}`;
      const shown = value.replace(/\/\/[^/@\s]*@/g, '//…@');
      return shown.length > 60
        ? `${JSON.stringify(shown.slice(0, 57))}… (${value.length} characters)`
        : quote(shown);
    }
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'function':
      return 'a function';
    case 'undefined':
      return 'undefined';
    case 'symbol':
      return 'a symbol';
    default:
      return Array.isArray(value) ? 'an array' : 'an object';
  }
}

function quote(value: unknown): string {
  return typeof value === 'string' ? `'${value.replace(/['\\]/g, '\\$&')}'` : String(value);
}

/** Whether the options object has the key at `path`, with `undefined` as its value (an unset environment variable). */
function isPresentUndefined(input: unknown, path: readonly PropertyKey[]): boolean {
  if (path.length === 0) return false;
  let parent: unknown = input;
  for (let i = 0; i < path.length - 1; i++) {
    if (parent === null || typeof parent !== 'object') return false;
    parent = (parent as Record<PropertyKey, unknown>)[path[i] as PropertyKey];
  }
  const key = path[path.length - 1] as PropertyKey;
  return (
    parent !== null &&
    typeof parent === 'object' &&
    Object.hasOwn(parent, key) &&
    (parent as Record<PropertyKey, unknown>)[key] === undefined
  );
}

/**
 * `routes[1].target`, `auth.apiKey.keys[0]`, `MemoryStore.maxKeys`; the object itself is `at.root`.
 *
 * @example
 * fieldOf(['routes', 1, 'target'], { prefix: '', root: 'config' }); // 'routes[1].target'
 */
export function fieldOf(path: readonly PropertyKey[], at: FieldRoot): string {
  let out = at.prefix;
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out === '' ? at.root : out;
}

/**
 * The schemas met along `path` from `root` (their metadata, outermost first) and, when the
 * path ends on an object, its option names. A union is entered through the first member that
 * has the next step, which is enough for metadata: codes and secrecy sit on the option itself.
 */
function schemaAt(
  root: z.ZodType,
  path: readonly PropertyKey[],
): { metas: OptionMeta[]; keys: string[] } {
  const metas: OptionMeta[] = [];
  let current: z.ZodType | undefined = root;
  for (const segment of path) {
    current = step(current, segment, metas);
    if (current === undefined) return { metas, keys: [] };
  }
  const object = current === undefined ? undefined : unwrap(current, metas);
  return { metas, keys: object instanceof z.ZodObject ? Object.keys(object.shape) : [] };
}

function step(schema: z.ZodType, segment: PropertyKey, metas: OptionMeta[]): z.ZodType | undefined {
  const inner = unwrap(schema, metas);
  if (inner instanceof z.ZodObject) {
    return typeof segment === 'string' && Object.hasOwn(inner.shape, segment)
      ? (inner.shape[segment] as z.ZodType)
      : undefined;
  }
  if (inner instanceof z.ZodArray)
    return typeof segment === 'number' ? (inner.element as z.ZodType) : undefined;
  if (inner instanceof z.ZodRecord)
    return typeof segment === 'string' ? (inner.valueType as z.ZodType) : undefined;
  if (inner instanceof z.ZodUnion) {
    for (const option of inner.options as readonly z.ZodType[]) {
      const scratch: OptionMeta[] = [];
      const next = step(option, segment, scratch);
      if (next !== undefined) {
        metas.push(...scratch);
        return next;
      }
    }
  }
  return undefined;
}

/** Through optional, default, pipe (its input side) … to the schema that holds the shape; records metadata met. */
function unwrap(schema: z.ZodType, metas: OptionMeta[]): z.ZodType {
  let current = schema;
  for (;;) {
    const meta = optionMeta.get(current);
    if (meta !== undefined) metas.push(meta);
    if (
      current instanceof z.ZodOptional ||
      current instanceof z.ZodNullable ||
      current instanceof z.ZodDefault ||
      current instanceof z.ZodPrefault ||
      current instanceof z.ZodReadonly
    ) {
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodPipe) {
      current = current.in as z.ZodType;
    } else {
      return current;
    }
  }
}

/**
 * "unknown option; did you mean 'timeout'?" for a near miss (at most a third of the letters
 * wrong, case ignored), else the list of known names.
 */
function unknownOptionMessage(key: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  if (best !== undefined && bestDistance <= Math.max(1, Math.floor(key.length / 3))) {
    return `unknown option; did you mean '${best}'?`;
  }
  return known.length > 0 ? `unknown option (known: ${known.join(', ')})` : 'unknown option';
}

/**
 * Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
 * neighbours each cost 1 (`wieght` is one step from `weight`).
 *
 * @example
 * editDistance('limitt', 'limit'); // 1
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(
        (d[(i - 1) * cols + j] as number) + 1,
        (d[i * cols + j - 1] as number) + 1,
        (d[(i - 1) * cols + j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (d[(i - 2) * cols + j - 2] as number) + 1);
      }
      d[i * cols + j] = best;
    }
  }
  return d[rows * cols - 1] as number;
}
