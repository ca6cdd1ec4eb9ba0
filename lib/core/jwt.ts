import type { KeyObject } from "node:crypto";

import jsonwebtoken from "jsonwebtoken";
import type { JwtPayload } from "jsonwebtoken";

import { randomToken } from "./random.js";

/** JWS algorithms the proxy signs access tokens with. */
export type SigningAlgorithm = "HS256" | "RS256" | "ES256";

/** Every algorithm in {@link SigningAlgorithm}; a token with any other `alg`, `none` included, is rejected before key lookup. */
export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = ["HS256", "RS256", "ES256"];

/** Clock skew, in seconds, allowed on `exp` and `nbf` unless a caller sets another. */
export const DEFAULT_LEEWAY_SECONDS = 5;

/**
 * A key with its `kid` and algorithm. For HS256 `key` is the shared secret; otherwise it is the
 * private key when signing and the public key when verifying.
 */
export interface TokenKey {
  kid: string;
  algorithm: SigningAlgorithm;
  key: KeyObject;
}

/** Claims of an access token the proxy issues (RFC 9068 §2.2), where `sid` is the proxy's grant id. */
export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  client_id: string;
  scope: string;
  jti: string;
  iat: number;
  exp: number;
  sid: string;
}

/** Input to {@link signAccessToken}, with `now` in epoch seconds (default: the current time). */
export interface AccessTokenInput {
  issuer: string;
  subject: string;
  audience: string;
  clientId: string;
  scope: string;
  grantId: string;
  ttlSeconds: number;
  now?: number;
}

/** Issuer and audience that {@link verifyAccessToken} requires, plus `leewaySeconds` (default 5) of clock skew allowed on `exp` and `nbf`. */
export interface AccessTokenExpectations {
  issuer: string;
  /** The resource the token must be issued for, or a list of which any one suffices. */
  audience: string | readonly string[];
  leewaySeconds?: number;
  now?: number;
}

/** The JOSE header members that select the verification key. */
export interface AccessTokenHeader {
  alg: SigningAlgorithm;
  /** Absent when the token has no string `kid`; no key matches it then. */
  kid: string | undefined;
}

/** Stable codes for the ways an access token fails verification. */
export type TokenFailure =
  | "malformed"
  | "unsupported_algorithm"
  | "invalid_signature"
  | "expired"
  | "not_yet_valid"
  | "wrong_issuer"
  | "wrong_audience"
  | "wrong_type"
  | "unknown_key"
  | "invalid_claims";

const DESCRIPTIONS: Record<TokenFailure, string> = {
  malformed: "The access token is malformed",
  unsupported_algorithm: "The access token is signed with an algorithm this server does not accept",
  invalid_signature: "The access token signature is invalid",
  expired: "The access token expired",
  not_yet_valid: "The access token is not valid yet",
  wrong_issuer: "The access token was not issued by this server",
  wrong_audience: "The access token was not issued for this resource",
  wrong_type: "The token is not an access token",
  unknown_key: "The access token was signed with an unknown key",
  invalid_claims: "The access token has missing or invalid claims",
};

/**
 * A failed access token check whose `description` is safe to send in `error_description`, while `cause` keeps the jsonwebtoken error for logs.
 */
export class TokenVerificationError extends Error {
  readonly code: TokenFailure;
  readonly description: string;

  constructor(code: TokenFailure, options: { cause?: unknown } = {}) {
    super(DESCRIPTIONS[code], options);
    this.name = "TokenVerificationError";
    this.code = code;
    this.description = DESCRIPTIONS[code];
  }
}

/**
 * Signs an RFC 9068 access token with `key` and returns it with its claims. The header carries
 * `typ: at+jwt`, the key's algorithm and its `kid`.
 *
 * @example
 * const { token, claims } = signAccessToken({ issuer, subject, audience, clientId, scope: "mcp:read", grantId, ttlSeconds: 3600 }, signingKey);
 */
export function signAccessToken(input: AccessTokenInput, key: TokenKey): { token: string; claims: AccessTokenClaims } {
  const iat = Math.floor(input.now ?? Date.now() / 1000);
  const claims: AccessTokenClaims = {
    iss: input.issuer,
    sub: input.subject,
    aud: input.audience,
    client_id: input.clientId,
    scope: input.scope,
    jti: randomToken(16),
    iat,
    exp: iat + input.ttlSeconds,
    sid: input.grantId,
  };

  // RFC 9068 §2.1: "at+jwt" marks the JWT as an access token, so an ID token
  // or any other JWT signed with the same key cannot pass as one.
  const header = { alg: key.algorithm, typ: "at+jwt", kid: key.kid };
  const token = jsonwebtoken.sign({ ...claims }, key.key, { algorithm: key.algorithm, header });
  return { token, claims };
}

/**
 * Reads the `alg` and `kid` of a compact JWS without checking its signature, so the caller can
 * pick the verification key.
 *
 * @throws {TokenVerificationError} `malformed` when the token is not three segments with a JSON
 * header, and `unsupported_algorithm` when `alg` is not HS256, RS256 or ES256 (`none` included).
 */
export function readAccessTokenHeader(token: string): AccessTokenHeader {
  const segments = typeof token === "string" ? token.split(".") : [];
  if (segments.length !== 3) {
    throw new TokenVerificationError("malformed");
  }

  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(segments[0] ?? "", "base64url").toString("utf8"));
  } catch (error) {
    throw new TokenVerificationError("malformed", { cause: error });
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new TokenVerificationError("malformed");
  }

  const { alg, kid } = header as Record<string, unknown>;
  if (!(SIGNING_ALGORITHMS as readonly unknown[]).includes(alg)) {
    throw new TokenVerificationError("unsupported_algorithm");
  }
  return { alg: alg as SigningAlgorithm, kid: typeof kid === "string" ? kid : undefined };
}

/**
 * Verifies an access token's signature with `key`, and its `kid`, type, issuer, audience and
 * lifetime, and returns its claims. Only `key.algorithm` is accepted, so a token cannot switch a
 * public key into an HMAC secret.
 *
 * @throws {TokenVerificationError} for every failure, with a description safe to show the client.
 */
export function verifyAccessToken(token: string, key: TokenKey, expected: AccessTokenExpectations): AccessTokenClaims {
  const audience = audienceOption(expected.audience);
  let decoded: jsonwebtoken.Jwt;
  try {
    decoded = jsonwebtoken.verify(token, key.key, {
      algorithms: [key.algorithm],
      complete: true,
      issuer: expected.issuer,
      audience,
      clockTolerance: expected.leewaySeconds ?? DEFAULT_LEEWAY_SECONDS,
      ...(expected.now === undefined ? {} : { clockTimestamp: expected.now }),
    });
  } catch (error) {
    throw new TokenVerificationError(classifyLibraryError(error), { cause: error });
  }

  // RFC 9068 §4: a resource server rejects a token whose typ is not "at+jwt" or "application/at+jwt".
  if (!isAccessTokenType(decoded.header.typ)) {
    throw new TokenVerificationError("wrong_type");
  }
  if (decoded.header.kid !== key.kid) {
    throw new TokenVerificationError("unknown_key");
  }

  return readClaims(decoded.payload, expected.audience);
}

// An empty list matches no token, and jsonwebtoken's types require a non-empty one.
function audienceOption(audience: string | readonly string[]): string | [string, ...string[]] {
  if (typeof audience === "string") {
    return audience;
  }

  const [first, ...rest] = audience;
  if (first === undefined) {
    throw new TokenVerificationError("wrong_audience");
  }

  return [first, ...rest];
}

function isAccessTokenType(typ: unknown): boolean {
  if (typeof typ !== "string") {
    return false;
  }

  const lower = typ.toLowerCase();
  return lower === "at+jwt" || lower === "application/at+jwt";
}

function readClaims(payload: string | JwtPayload, expectedAudience: string | readonly string[]): AccessTokenClaims {
  if (typeof payload === "string") {
    throw new TokenVerificationError("malformed");
  }

  const { iss, sub, client_id, scope, jti, iat, exp, sid } = payload;
  if (
    typeof iss !== "string" ||
    typeof sub !== "string" ||
    typeof client_id !== "string" ||
    typeof scope !== "string" ||
    typeof jti !== "string" ||
    typeof sid !== "string" ||
    typeof iat !== "number" ||
    typeof exp !== "number"
  ) {
    throw new TokenVerificationError("invalid_claims");
  }

  const aud = matchedAudience(payload.aud, expectedAudience);
  if (aud === undefined) {
    throw new TokenVerificationError("wrong_audience");
  }

  return { iss, sub, aud, client_id, scope, jti, iat, exp, sid };
}

// jsonwebtoken has already checked that `aud`, a string or an array, shares a
// value with the expected audience. This finds that value for the returned claims.
function matchedAudience(aud: unknown, expected: string | readonly string[]): string | undefined {
  const tokenAudiences: unknown[] = Array.isArray(aud) ? aud : [aud];
  const expectedAudiences: readonly string[] = typeof expected === "string" ? [expected] : expected;
  return expectedAudiences.find((audience) => tokenAudiences.includes(audience));
}

// jsonwebtoken 9 throws JsonWebTokenError for most failures and distinguishes
// them only by message text, so this mapping matches on it. None of that text reaches the client.
function classifyLibraryError(error: unknown): TokenFailure {
  if (error instanceof jsonwebtoken.TokenExpiredError) {
    return "expired";
  }

  if (error instanceof jsonwebtoken.NotBeforeError) {
    return "not_yet_valid";
  }

  const message = error instanceof Error ? error.message : "";
  if (message === "invalid signature") {
    return "invalid_signature";
  }

  if (message === "invalid algorithm" || message === "jwt signature is required" || message.startsWith("secretOrPublicKey must")) {
    return "unsupported_algorithm";
  }

  if (message === "invalid exp value" || message === "invalid nbf value") {
    return "invalid_claims";
  }

  if (message.startsWith("jwt issuer invalid")) {
    return "wrong_issuer";
  }

  if (message.startsWith("jwt audience invalid")) {
    return "wrong_audience";
  }

  return "malformed";
}
