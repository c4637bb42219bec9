/**
 * Why a request was not authenticated. One shared instance per reason, so a
 * refusal allocates nothing; `reason` goes into `auth.failed` events, `detail`
 * into the problem body (neither ever carries the credential).
 */
export class AuthFailure {
  constructor(
    readonly reason: string,
    readonly status: 401 | 500,
    readonly detail: string,
  ) {}
}

export const MISSING_CREDENTIALS = new AuthFailure(
  'missing_credentials',
  401,
  'Authentication is required.',
);
export const INVALID_KEY = new AuthFailure('invalid_key', 401, 'The API key is not valid.');
export const INVALID_TOKEN = new AuthFailure(
  'invalid_token',
  401,
  'The access token is not valid.',
);
export const TOKEN_EXPIRED = new AuthFailure('token_expired', 401, 'The access token has expired.');
export const TOKEN_NOT_YET_VALID = new AuthFailure(
  'token_not_yet_valid',
  401,
  'The access token is not valid yet.',
);
export const INVALID_CLAIMS = new AuthFailure(
  'invalid_claims',
  401,
  'The access token is not valid.',
);
export const JWKS_UNAVAILABLE = new AuthFailure(
  'jwks_unavailable',
  401,
  'The access token could not be verified.',
);
export const INVALID_CREDENTIALS = new AuthFailure(
  'invalid_credentials',
  401,
  'The username or password is not valid.',
);
export const VERIFIER_ERROR = new AuthFailure(
  'verifier_error',
  500,
  'Authentication failed unexpectedly.',
);
