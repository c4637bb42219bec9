// The public surface of authentication, for src/index.ts.
export { authenticate } from './authenticate.js';
export { type Authenticator, createAuthenticator } from './authenticator.js';
export { hashApiKey } from './hash-api-key.js';
export type {
  ApiKeyEntry,
  ApiKeyOptions,
  ApiKeyVerifier,
  AuthOptions,
  AuthRequirement,
  BasicOptions,
  BasicUser,
  BasicVerifier,
  CustomVerifier,
  JwtAlgorithm,
  JwtKeySource,
  JwtOptions,
} from './options.js';
export { hashPassword } from './password-hash.js';
