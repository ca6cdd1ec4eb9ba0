import type { NextFunction, Request, RequestHandler, Response } from "express";
import createDebug from "debug";

import type { AuthInfo } from "./bearer.js";
import { DEFAULT_LEEWAY_SECONDS, readAccessTokenHeader, TokenVerificationError, verifyAccessToken } from "./core/jwt.js";
import type { AccessTokenClaims, TokenKey } from "./core/jwt.js";
import { deriveKeys, hmacTokenKey } from "./core/keys.js";
import { missingScopes, parseScope } from "./core/scopes.js";
import { VerifiedTokenCache } from "./core/token-cache.js";
import { buildBearerChallenge, parseAuthorizationHeader } from "./core/www-authenticate.js";
import { OptionError, UpstreamError } from "./errors.js";
import { JWKS_MAX_AGE_SECONDS } from "./handlers/jwks.js";
import { DEFAULT_TIMEOUT_MS } from "./providers/http.js";
import { RemoteKeySet } from "./remote-jwks.js";

const debug = createDebug("mcp-oauth-proxy:verifier");

/** Options of {@link createTokenVerifier}; pass exactly one of `jwksUri` and `secret`. */
export interface TokenVerifierOptions {
  /** The proxy's issuer: its `baseUrl` without a trailing slash. */
  issuer: string;
  /** The resource URL tokens must be issued for (their `aud`), or a list of which any one suffices. */
  audience: string | string[];
  /** The proxy's `jwks_uri`, for RS256 or ES256 tokens. */
  jwksUri?: string;
  /** The proxy's `secret`, for HS256 tokens; a list accepts tokens signed under any of them during a secret rotation. */
  secret?: string | Buffer | Array<string | Buffer>;
  /** RFC 9728 metadata URL sent in challenges; default the well-known URL built from the first audience. */
  resourceMetadataUrl?: string;
  /** Clock skew allowed on `exp` and `nbf`, in seconds; default 5. */
  leewaySeconds?: number;
  /** How long a fetched JWKS is used, in seconds; default 300, the proxy's `Cache-Control` max-age. */
  jwksCacheSeconds?: number;
  /** Minimum seconds between JWKS fetches caused by an unknown `kid`; default 30. */
  jwksCooldownSeconds?: number;
  /** Time limit of one JWKS request in milliseconds; default 10 000. */
  timeoutMs?: number;
  /** Number of verified tokens whose signature check repeat requests skip; default 10000, 0 turns it off. */
  verifiedTokenCacheSize?: number;
}

/** Options of {@link TokenVerifier.middleware}. */
export interface VerifierMiddlewareOptions {
  /** Scopes every request must carry; a token without them gets 403 `insufficient_scope`. */
  scopes?: string[];
}

/** Verifies the proxy's access tokens in a process that does not hold the proxy's router. */
export interface TokenVerifier {
  /**
   * Verifies a token and returns it in the MCP SDK's `AuthInfo` shape, as `bearer()` sets it, but
   * without `extra.upstream`.
   *
   * @throws {TokenVerificationError} when the token is invalid.
   * @throws {UpstreamError} when the JWKS cannot be fetched.
   */
  verify(token: string): Promise<AuthInfo>;
  /** Creates Express middleware that sets `req.auth`, or responds with the same RFC 6750 challenges as `bearer()`. */
  middleware(options?: VerifierMiddlewareOptions): RequestHandler;
}

interface KeySource {
  find(kid: string | undefined): Promise<TokenKey | undefined>;
}

/**
 * Creates a verifier for the proxy's access tokens, for a resource server that is not the app
 * holding the router: from the published JWKS (RS256, ES256) or from the shared secret (HS256).
 *
 * It checks signature, type, issuer, audience and lifetime, but cannot see revocations: a
 * revoked token passes until it expires. Use the introspection endpoint where revocation must
 * take effect at once.
 *
 * @example
 * const verifier = createTokenVerifier({ issuer: "https://auth.example.com", audience: "https://auth.example.com/mcp", jwksUri: "https://auth.example.com/oauth/jwks" });
 * app.all("/mcp", verifier.middleware({ scopes: ["mcp:read"] }), mcpHandler);
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  if (typeof options !== "object" || options === null) {
    throw new OptionError("createTokenVerifier(options)", options, "Pass { issuer, audience, jwksUri } or { issuer, audience, secret }.");
  }

  const issuer = readIssuer(options.issuer);
  const audiences = readAudiences(options.audience);
  const keys = readKeySource(options);
  const leewaySeconds = readWholeNumber("leewaySeconds", options.leewaySeconds, DEFAULT_LEEWAY_SECONDS, 0);
  const cache = new VerifiedTokenCache(readWholeNumber("verifiedTokenCacheSize", options.verifiedTokenCacheSize, 10_000, 0));
  const resourceMetadataUrl = options.resourceMetadataUrl === undefined
    ? defaultResourceMetadataUrl(audiences[0] as string)
    : readUrl("resourceMetadataUrl", options.resourceMetadataUrl).href;

  const verifyClaims = async (token: string): Promise<AccessTokenClaims> => {
    const cached = cache.get(token, Math.floor(Date.now() / 1000));
    if (cached !== undefined) {
      return cached;
    }

    const header = readAccessTokenHeader(token);
    const key = await keys.find(header.kid);
    if (key === undefined) {
      throw new TokenVerificationError("unknown_key");
    }
    const claims = verifyAccessToken(token, key, { issuer, audience: audiences, leewaySeconds });
    cache.set(token, claims);
    return claims;
  };

  const verify = async (token: string): Promise<AuthInfo> => toAuthInfo(token, await verifyClaims(token));
  return {
    verify,
    middleware: (middlewareOptions?: VerifierMiddlewareOptions) => createMiddleware(verify, resourceMetadataUrl, readRequiredScopes(middlewareOptions?.scopes)),
  };
}

function createMiddleware(verify: (token: string) => Promise<AuthInfo>, resourceMetadataUrl: string, required: string[]): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    // CORS preflights carry no credentials by design (Fetch standard), so the CORS middleware responds to them.
    if (req.method === "OPTIONS") {
      next();
      return;
    }

    const challenge = (status: number, error?: string, description?: string, scope: string[] = required): void => {
      res.status(status);
      res.setHeader("WWW-Authenticate", buildBearerChallenge({
        ...(error === undefined ? {} : { error }),
        ...(description === undefined ? {} : { errorDescription: description }),
        scope,
        resourceMetadata: resourceMetadataUrl,
      }));
      res.setHeader("Cache-Control", "no-store");
      res.json(error === undefined ? { error: "unauthorized", error_description: "An access token is required" } : { error, error_description: description });
    };

    // Tokens in the query string are ignored (OAuth 2.1 §5.1): they end up in logs and Referer headers.
    const header = parseAuthorizationHeader(req.headers.authorization);
    if (header.kind === "none" || header.kind === "other") {
      challenge(401);
      return;
    }
    if (header.kind === "malformed") {
      challenge(400, "invalid_request", header.reason);
      return;
    }

    verify(header.token).then((auth) => {
      const missing = missingScopes(auth.scopes, required);
      if (missing.length > 0) {
        challenge(403, "insufficient_scope", `This request needs the scope ${missing.join(" ")}`, [...auth.scopes, ...missing]);
        return;
      }
      req.auth = auth;
      next();
    }, (error: unknown) => {
      if (error instanceof TokenVerificationError) {
        challenge(401, "invalid_token", error.description);
        return;
      }
      if (error instanceof UpstreamError) {
        debug("jwks unavailable error=%s", error.message);
        res.status(503);
        res.setHeader("Retry-After", "30");
        res.setHeader("Cache-Control", "no-store");
        res.json({ error: "temporarily_unavailable", error_description: "The keys that verify access tokens could not be fetched; try again later" });
        return;
      }
      next(error);
    });
  };
}

function toAuthInfo(token: string, claims: AccessTokenClaims): AuthInfo {
  return {
    token,
    clientId: claims.client_id,
    scopes: parseScope(claims.scope) ?? [],
    expiresAt: claims.exp,
    resource: new URL(claims.aud),
    extra: { subject: claims.sub, grantId: claims.sid },
  };
}

function readKeySource(options: TokenVerifierOptions): KeySource {
  if ((options.jwksUri === undefined) === (options.secret === undefined)) {
    throw new OptionError("createTokenVerifier({ jwksUri, secret })", options.jwksUri === undefined ? undefined : "both", "Pass exactly one: jwksUri for RS256 or ES256 tokens, secret for HS256 tokens.");
  }

  if (options.secret !== undefined) {
    const secrets = Array.isArray(options.secret) ? options.secret : [options.secret];
    const keys = secrets.map((secret, index) => hmacTokenKey(deriveKeys(readSecret(secret, index))));
    const byKid = new Map(keys.map((key) => [key.kid, key]));
    return { find: async (kid) => (kid === undefined ? undefined : byKid.get(kid)) };
  }

  const url = readUrl("jwksUri", options.jwksUri);
  return new RemoteKeySet(url, {
    cacheSeconds: readWholeNumber("jwksCacheSeconds", options.jwksCacheSeconds, JWKS_MAX_AGE_SECONDS, 1),
    cooldownSeconds: readWholeNumber("jwksCooldownSeconds", options.jwksCooldownSeconds, 30, 0),
    timeoutMs: readWholeNumber("timeoutMs", options.timeoutMs, DEFAULT_TIMEOUT_MS, 1),
  });
}

function readSecret(value: unknown, index: number): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.isBuffer(value) ? value : undefined;
  if (bytes === undefined || bytes.length < 32) {
    const redactedValue = bytes === undefined ? typeof value : `(hidden, ${bytes.length} bytes)`;
    throw new OptionError(`createTokenVerifier({ secret })[${index}]`, redactedValue, "Pass the proxy's secret: a string or Buffer of at least 32 bytes.");
  }
  return bytes;
}

function readIssuer(value: unknown): string {
  readUrl("issuer", value);
  const issuer = value as string;
  if (issuer.endsWith("/")) {
    throw new OptionError("createTokenVerifier({ issuer })", issuer, "Remove the trailing slash: the proxy's issuer has none.");
  }
  return issuer;
}

function readAudiences(value: unknown): string[] {
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((entry) => typeof entry === "string" && URL.canParse(entry))) {
    throw new OptionError("createTokenVerifier({ audience })", value, 'Pass the resource URL tokens are issued for, such as "https://mcp.example.com/mcp", or a list of them.');
  }
  return list as string[];
}

// The same rule as the proxy's baseUrl: https, or http on a loopback host.
function readUrl(option: string, value: unknown): URL {
  const fix = "Pass an https URL; http is accepted only for localhost, 127.0.0.1 and [::1].";
  if (typeof value !== "string" || !URL.canParse(value)) {
    throw new OptionError(`createTokenVerifier({ ${option} })`, value, fix);
  }
  const url = new URL(value);
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new OptionError(`createTokenVerifier({ ${option} })`, value, fix);
  }
  return url;
}

function readWholeNumber(option: string, value: unknown, fallback: number, minimum: number): number {
  if (value === undefined) {
    return fallback;
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value < minimum) {
    throw new OptionError(`createTokenVerifier({ ${option} })`, value, `Pass a whole number of at least ${minimum}.`);
  }
  return value;
}

function readRequiredScopes(value: unknown): string[] {
  if (value === undefined) {
    return [];
  }
  if (!Array.isArray(value) || !value.every((scope) => typeof scope === "string" && parseScope(scope)?.length === 1)) {
    throw new OptionError("middleware({ scopes })", value, 'Pass an array of scope names, for example ["mcp:write"].');
  }
  return value as string[];
}

/** Builds the RFC 9728 §3.1 metadata URL of a resource: the well-known segment goes between host and path. */
function defaultResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === "/" ? "" : url.pathname;
  return `${url.origin}/.well-known/oauth-protected-resource${path}`;
}
