import * as z from 'zod';
import { gatewayConfig } from './gateway.js';
import { optionMeta } from './meta.js';

/** Keys of our own metadata (see `OptionMeta`) that have no place in the published schema. */
const OUR_KEYS = ['code', 'secret', 'codeOnly', 'refusedKeys'] as const;

type Json = Record<string, unknown>;

/**
 * The JSON Schema (draft 2020-12) of the data part of `createGateway`'s
 * configuration, as published in `portcullis/config.schema.json`: generated
 * from the same zod schema that validates it at run time (`io: 'input'`, so
 * defaults are shown and nothing is required that has one), with the
 * code-only options (functions and live objects: `store`, `verify`,
 * `onEvent`, `key` functions, `proxy.agent`, …) left out and our metadata
 * keys stripped. A JSON or YAML file names it for editor completion.
 *
 * @example
 * writeFileSync('dist/config.schema.json', JSON.stringify(configJsonSchema('0.1.0'), null, 2));
 */
export function configJsonSchema(version: string): Json {
  const generated = z.toJSONSchema(gatewayConfig, {
    target: 'draft-2020-12',
    io: 'input',
    metadata: optionMeta,
    // Code-only members are left out below; they must not make the conversion fail.
    unrepresentable: 'any',
  }) as Json;
  const cleaned = clean(generated) as Json;
  const { $schema, ...rest } = cleaned;
  return {
    $schema,
    $id: `urn:portcullis:config-schema:${version}`,
    title: 'portcullis gateway configuration',
    description:
      "The data part of createGateway(config) from the 'portcullis' package (functions and objects such as store, verify or onEvent can only be given in code).",
    ...rest,
  };
}

function isCodeOnly(value: unknown): boolean {
  return value !== null && typeof value === 'object' && (value as Json).codeOnly === true;
}

/** Drops code-only properties and union members, our metadata keys and zod's `readOnly`. */
function clean(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clean);
  if (value === null || typeof value !== 'object') return value;
  const node = { ...(value as Json) };
  for (const key of OUR_KEYS) delete node[key];
  // `.readonly()` types the input for TypeScript; a config file is no read-only document.
  delete node.readOnly;
  if (node.properties !== undefined) {
    const properties: Json = {};
    for (const [name, schema] of Object.entries(node.properties as Json)) {
      if (!isCodeOnly(schema)) properties[name] = clean(schema);
    }
    node.properties = properties;
    if (Array.isArray(node.required)) {
      node.required = (node.required as string[]).filter((name) => name in properties);
      if ((node.required as string[]).length === 0) delete node.required;
    }
  }
  for (const union of ['anyOf', 'oneOf'] as const) {
    if (!Array.isArray(node[union])) continue;
    const members = (node[union] as unknown[]).filter((member) => !isCodeOnly(member)).map(clean);
    if (members.length === 1) {
      delete node[union];
      Object.assign(node, members[0]);
    } else {
      node[union] = members;
    }
  }
  for (const [key, inner] of Object.entries(node)) {
    if (key !== 'properties' && key !== 'anyOf' && key !== 'oneOf') node[key] = clean(inner);
  }
  return node;
}
