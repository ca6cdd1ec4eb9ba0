import type { NextFunction, Request, RequestHandler, Response } from "express";
import createDebug from "debug";
import { TokenVerificationError, verifyAccessToken } from "./core/jwt.js";
import { parseScope, missingScopes } from "./core/scopes.js";
import { buildBearerChallenge, parseAuthorizationHeader } from "./core/www-authenticate.js";
import type { ProxyContext } from "./context.js";
import { OptionError, UpstreamError } from "./errors.js";
import { loadGrant, refreshUpstream, upstreamExpired } from "./grants.js";
import type { ResourceConfig } from "./options.js";
import type { GrantRecord } from "./records.js";

const debug = createDebug("mcp-oauth-proxy:bearer");

/** The upstream session of the caller, as handlers see it in `req.upstream`. */
export interface UpstreamInfo {
  accessToken: string;
  tokenType: string;
  /** Epoch seconds; absent when the upstream token does not expire. */
  expiresAt?: number;
  scopes: string[];
  idToken?: string;
  /** Identity claims from the ID token or user-info endpoint. */
  claims: Record<string, unknown>;
  /** Stable user id at the upstream provider. */
  subject: string;
}

/** The MCP SDK's `AuthInfo` shape, which its transports pass to tool handlers as `extra.authInfo`. */
export interface AuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt?: number;
  resource?: URL;
  extra?: Record<string, unknown>;
}

/** Options of `proxy.bearer()`. */
export interface BearerOptions {
  /** Scopes every request must carry; a token without them gets 403 `insufficient_scope`. */
  scopes?: string[];
  /** The protected resource this route belongs to (path or URL); default the first configured one. */
  resource?: string;
}

declare module "express-serve-static-core" {
  interface Request {
    /** Set by `proxy.bearer()`: the verified access token in the MCP SDK's `AuthInfo` shape. */
    auth?: AuthInfo;
    /** Set by `proxy.bearer()`: the caller's upstream session. */
    upstream?: UpstreamInfo;
  }
}

/** Creates the `bearer()` middleware for one resource. */
export function createBearer(context: ProxyContext, options: BearerOptions | undefined): RequestHandler {
  const resource = pickResource(context, options?.resource);
  const required = readRequiredScopes(options?.scopes);
  const challengeScopes = required.length > 0 ? required : context.options.defaultScopes;

  return (req: Request, res: Response, next: NextFunction) => {
    authenticate(context, resource, required, challengeScopes, req, res).then((passed) => {
      if (passed) {
        next();
      }
    }, next);
  };
}

async function authenticate(
  context: ProxyContext,
  resource: ResourceConfig,
  required: string[],
  challengeScopes: string[],
  req: Request,
  res: Response,
): Promise<boolean> {
  // CORS preflights carry no credentials by design (Fetch standard); let the CORS middleware answer them.
  if (req.method === "OPTIONS") {
    return true;
  }

  const challenge = (status: number, error?: string, description?: string, scope = challengeScopes): false => {
    res.status(status);
    res.setHeader("WWW-Authenticate", buildBearerChallenge({
      ...(error === undefined ? {} : { error }),
      ...(description === undefined ? {} : { errorDescription: description }),
      scope,
      resourceMetadata: resource.metadataUrl,
    }));
    res.setHeader("Cache-Control", "no-store");
    res.json(error === undefined ? { error: "unauthorized", error_description: "An access token is required" } : { error, error_description: description });
    return false;
  };

  // Tokens in the query string are ignored (OAuth 2.1 §5.1): they end up in logs and Referer headers.
  const header = parseAuthorizationHeader(req.headers.authorization);
  if (header.kind === "none" || header.kind === "other") {
    return challenge(401);
  }
  if (header.kind === "malformed") {
    return challenge(400, "invalid_request", header.reason);
  }

  let claims;
  try {
    claims = verifyAccessToken(header.token, context.keys.signingKey, { issuer: context.options.issuer, audience: resource.url, keyId: context.keys.keyId });
  } catch (error) {
    if (error instanceof TokenVerificationError) {
      return challenge(401, "invalid_token", error.description);
    }
    throw error;
  }

  let grant = await loadGrant(context, claims.sid);
  if (grant === undefined || grant.clientId !== claims.client_id) {
    return challenge(401, "invalid_token", "The access token was revoked");
  }

  const tokenScopes = parseScope(claims.scope) ?? [];
  const missing = missingScopes(tokenScopes, required);
  if (missing.length > 0) {
    // The challenge lists what the token has plus what is missing, so clients that replace scopes rather than add still step up correctly.
    return challenge(403, "insufficient_scope", `This request needs the scope ${missing.join(" ")}`, [...tokenScopes, ...missing]);
  }

  if (upstreamExpired(grant)) {
    const refreshed = await refreshExpiredUpstream(context, grant, res, challenge);
    if (refreshed === undefined) {
      return false;
    }
    grant = refreshed;
  }

  req.upstream = toUpstreamInfo(grant);
  req.auth = {
    token: header.token,
    clientId: claims.client_id,
    scopes: tokenScopes,
    expiresAt: claims.exp,
    resource: new URL(resource.url),
    extra: { subject: claims.sub, grantId: grant.id, upstream: req.upstream },
  };
  return true;
}

async function refreshExpiredUpstream(
  context: ProxyContext,
  grant: GrantRecord,
  res: Response,
  challenge: (status: number, error?: string, description?: string) => false,
): Promise<GrantRecord | undefined> {
  if (grant.upstream.tokens.refreshToken === undefined) {
    challenge(401, "invalid_token", "The sign-in at the identity provider expired");
    return undefined;
  }

  try {
    return await refreshUpstream(context, grant);
  } catch (error) {
    if (!(error instanceof UpstreamError)) {
      throw error;
    }
    debug("upstream refresh failed grant=%s failure=%s", grant.id, error.failure);
    if (error.failure === "invalid_grant") {
      challenge(401, "invalid_token", "The sign-in at the identity provider is no longer valid");
      return undefined;
    }

    res.status(503);
    res.setHeader("Retry-After", "30");
    res.setHeader("Cache-Control", "no-store");
    res.json({ error: "temporarily_unavailable", error_description: "The identity provider is unavailable; try again later" });
    return undefined;
  }
}

function toUpstreamInfo(grant: GrantRecord): UpstreamInfo {
  const tokens = grant.upstream.tokens;
  const info: UpstreamInfo = {
    accessToken: tokens.accessToken,
    tokenType: tokens.tokenType,
    scopes: tokens.scopes,
    claims: grant.upstream.claims,
    subject: grant.upstream.subject,
  };
  if (tokens.expiresAt !== undefined) {
    info.expiresAt = tokens.expiresAt;
  }
  if (tokens.idToken !== undefined) {
    info.idToken = tokens.idToken;
  }
  return info;
}

function pickResource(context: ProxyContext, value: unknown): ResourceConfig {
  const resources = context.options.resources;
  if (value === undefined) {
    return resources[0] as ResourceConfig;
  }

  const found = typeof value === "string"
    ? resources.find((resource) => resource.url === value || new URL(resource.url).pathname === value)
    : undefined;
  if (found === undefined) {
    throw new OptionError("bearer({ resource })", value, `Use one of the configured resources: ${resources.map((resource) => resource.url).join(", ")}.`);
  }
  return found;
}

function readRequiredScopes(value: unknown): string[] {
  if (value === undefined) {
    return [];
  }
  if (!Array.isArray(value) || !value.every((scope) => typeof scope === "string" && parseScope(scope)?.length === 1)) {
    throw new OptionError("bearer({ scopes })", value, 'Pass an array of scope names, for example ["mcp:write"].');
  }
  return value as string[];
}
