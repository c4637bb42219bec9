// Writes dist/config.schema.json, the JSON Schema of createGateway's data part, from the same
// zod schema that validates configurations at run time. Run by `npm run build` after tsup.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { configJsonSchema } from '../src/schema/json-schema.js';

const { version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as {
  version: string;
};
const out = new URL('../dist/config.schema.json', import.meta.url);
mkdirSync(new URL('.', out), { recursive: true });
writeFileSync(out, `${JSON.stringify(configJsonSchema(version), null, 2)}\n`);
