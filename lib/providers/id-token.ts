import { createPublicKey } from "node:crypto";
import type { JsonWebKey, KeyObject } from "node:crypto";

import createDebug from "debug";
import jsonwebtoken from "jsonwebtoken";
import type { Algorithm, JwtPayload } from "jsonwebtoken";

import { UpstreamError } from "../errors.js";
import { getJson, isObject } from "./http.js";

const debug = createDebug("mcp-oauth-proxy:provider");

/**
 * Asymmetric JWS algorithms accepted for ID tokens. HS256 is left out because its
 * "key" would be the client secret, which the proxy has no reason to accept ID
 * tokens under. jsonwebtoken 9 lacks EdDSA.
 */
export const ASYMMETRIC_ALGORITHMS: readonly Algorithm[] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

// OIDC Core §2 token plumbing, meaningless once the ID token is verified.
const PLUMBING_CLAIMS = ["iss", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "auth_time", "azp", "sid", "jti"];

// Seconds of clock skew allowed between the proxy and the provider when checking exp, iat and nbf.
const CLOCK_TOLERANCE_SECONDS = 60;

/** Requirements an ID token must meet besides its signature (OIDC Core §3.1.3.7). */
export interface IdTokenRequirements {
  /** Accepted `iss` values; `undefined` leaves the issuer check to the caller. */
  issuer: string | [string, ...string[]] | undefined;
  /** The `aud` the token must carry: the proxy's client id. */
  audience: string;
  algorithms: Algorithm[];
  /** Provider name for error messages. */
  providerName: string;
}

/**
 * A provider's JSON Web Key Set, fetched on first use and fetched again when a
 * token names a key id the cached set lacks (key rotation, OIDC Core §10.1.1).
 */
export class JwksKeySet {
  readonly uri: URL;
  private readonly timeoutMs: number;
  private keys: Promise<Map<string, JsonWebKey>> | undefined;

  constructor(uri: URL, timeoutMs: number) {
    this.uri = uri;
    this.timeoutMs = timeoutMs;
  }

  /** Fetches the key set unless it is cached; a failed fetch is retried on the next call. */
  async load(): Promise<void> {
    await this.cachedKeys(false);
  }

  /** Returns the public key for `kid` and `alg`, fetching the set again once if it is missing. */
  async signingKey(kid: string | undefined, alg: string): Promise<KeyObject> {
    let jwk = selectKey(await this.cachedKeys(false), kid, alg);
    if (jwk === undefined) {
      debug("jwks refetch reason=unknown-kid kid=%s", kid ?? "-");
      jwk = selectKey(await this.cachedKeys(true), kid, alg);
    }
    if (jwk === undefined) {
      throw new UpstreamError("protocol", `The JWKS at ${this.uri.href} has no ${alg} signing key${kid === undefined ? "" : ` with kid ${JSON.stringify(kid)}`}`);
    }

    try {
      return createPublicKey({ key: jwk, format: "jwk" });
    } catch (error) {
      throw new UpstreamError("protocol", `The JWKS at ${this.uri.href} contains an unusable key${kid === undefined ? "" : ` (kid ${JSON.stringify(kid)})`}`, { cause: error });
    }
  }

  private cachedKeys(refresh: boolean): Promise<Map<string, JsonWebKey>> {
    if (refresh || this.keys === undefined) {
      this.keys = this.fetchKeys().catch((error: unknown) => {
        this.keys = undefined;
        throw error;
      });
    }
    return this.keys;
  }

  private async fetchKeys(): Promise<Map<string, JsonWebKey>> {
    const document = await getJson(this.uri, { timeoutMs: this.timeoutMs }).catch((error: unknown) => {
      if (!(error instanceof UpstreamError)) {
        throw error;
      }
      throw new UpstreamError(error.failure, `${error.message}, where the provider's JSON Web Key Set was expected`, {
        ...(error.status === undefined ? {} : { status: error.status }),
        cause: error,
      });
    });
    if (!Array.isArray(document.keys)) {
      throw new UpstreamError("protocol", `The JWKS at ${this.uri.href} has no keys array`);
    }

    // Keys without a kid are kept under a positional name; selectKey uses them only when the token has no kid.
    const keys = new Map<string, JsonWebKey>();
    document.keys.filter(isObject).forEach((jwk, index) => {
      keys.set(typeof jwk.kid === "string" ? jwk.kid : `#${index}`, jwk as JsonWebKey);
    });
    debug("jwks loaded uri=%s keys=%d", this.uri.href, keys.size);
    return keys;
  }
}

/**
 * Verifies an ID token's signature with `keys` and its iss, aud, exp, sub and azp
 * claims (OIDC Core §3.1.3.7), and returns its claims.
 */
export async function verifyIdToken(idToken: string, keys: JwksKeySet, requirements: IdTokenRequirements): Promise<JwtPayload> {
  const { providerName, algorithms } = requirements;
  const header = jsonwebtoken.decode(idToken, { complete: true })?.header;
  if (header === undefined) {
    throw new UpstreamError("protocol", `The ID token from ${providerName} is not a JWT`);
  }
  if (!(algorithms as string[]).includes(header.alg)) {
    throw new UpstreamError("protocol", `The ID token from ${providerName} is signed with ${header.alg}, but only ${algorithms.join(", ")} are accepted`);
  }

  const key = await keys.signingKey(header.kid, header.alg);
  let payload: JwtPayload;
  try {
    payload = jsonwebtoken.verify(idToken, key, {
      algorithms,
      audience: requirements.audience,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      ...(requirements.issuer === undefined ? {} : { issuer: requirements.issuer }),
    }) as JwtPayload;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new UpstreamError("protocol", `The ID token from ${providerName} failed verification: ${reason}`, { cause: error });
  }

  checkRequiredClaims(payload, requirements.audience, providerName);
  return payload;
}

/**
 * Picks the algorithms to accept from a discovery document's
 * `id_token_signing_alg_values_supported`, keeping only asymmetric ones.
 */
export function allowedAlgorithms(advertised: unknown): Algorithm[] {
  // OIDC Discovery §3: the member is required and RS256 is always supported.
  const allowed = Array.isArray(advertised) ? ASYMMETRIC_ALGORITHMS.filter((alg) => advertised.includes(alg)) : ["RS256" as const];
  return allowed.length > 0 ? allowed : ["RS256"];
}

/** Returns the claims without the JWT plumbing (iss, aud, exp, nonce, ...). */
export function withoutPlumbing(claims: Record<string, unknown>, extra: readonly string[] = []): Record<string, unknown> {
  const result = { ...claims };
  for (const claim of [...PLUMBING_CLAIMS, ...extra]) {
    delete result[claim];
  }
  return result;
}

function selectKey(keys: Map<string, JsonWebKey>, kid: string | undefined, alg: string): JsonWebKey | undefined {
  if (kid !== undefined) {
    const jwk = keys.get(kid);
    return jwk !== undefined && isSigningKeyFor(jwk, alg) ? jwk : undefined;
  }

  // The kid header is optional (RFC 7515 §4.1.4), so a token without one is verified only when a single key fits.
  const candidates = [...keys.values()].filter((jwk) => isSigningKeyFor(jwk, alg));
  return candidates.length === 1 ? candidates[0] : undefined;
}

function isSigningKeyFor(jwk: JsonWebKey, alg: string): boolean {
  if (jwk.use !== undefined && jwk.use !== "sig") {
    return false;
  }
  if (typeof jwk.alg === "string" && jwk.alg !== alg) {
    return false;
  }
  const keyType = alg.startsWith("ES") ? "EC" : "RSA";
  return jwk.kty === keyType;
}

// jsonwebtoken 9 checks exp only when the token has one, but OIDC Core §2 requires exp and sub.
function checkRequiredClaims(payload: JwtPayload, clientId: string, providerName: string): void {
  if (typeof payload.sub !== "string" || payload.sub === "") {
    throw new UpstreamError("protocol", `The ID token from ${providerName} has no sub claim`);
  }
  if (typeof payload.exp !== "number") {
    throw new UpstreamError("protocol", `The ID token from ${providerName} has no exp claim`);
  }
  // OIDC Core §3.1.3.7 steps 4 and 5: several audiences need an azp, and an azp must name this client.
  if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp === undefined) {
    throw new UpstreamError("protocol", `The ID token from ${providerName} has several audiences but no azp claim`);
  }
  if (payload.azp !== undefined && payload.azp !== clientId) {
    throw new UpstreamError("protocol", `The ID token from ${providerName} was issued to ${JSON.stringify(payload.azp)} (azp), not ${clientId}`);
  }
}
