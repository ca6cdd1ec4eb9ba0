import type { NextFunction, Request, RequestHandler, Response } from "express";
import express from "express";
import createDebug from "debug";
import { TokenVerificationError } from "./core/jwt.js";
import { isAllowedOrigin } from "./core/origins.js";
import { expandScopes } from "./core/scope-hierarchy.js";
import { parseScope, missingScopes } from "./core/scopes.js";
import { buildBearerChallenge, parseAuthorizationHeader } from "./core/www-authenticate.js";
import type { ProxyContext } from "./context.js";
import { OptionError, UpstreamError } from "./errors.js";
import { loadGrant, refreshUpstream, upstreamExpired } from "./grants.js";
import type { ResourceConfig } from "./options.js";
import type { GrantRecord } from "./records.js";
import { StorageUnavailableError } from "./storage/guarded.js";
import { verifyIssuedAccessToken } from "./verified-tokens.js";

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

/** Form bodies `bearer()` reads itself to find an `access_token` field; larger ones fail as in body-parser. */
const FORM_LIMIT = "100kb";

/** Creates the `bearer()` middleware for one resource. */
export function createBearer(context: ProxyContext, options: BearerOptions | undefined): RequestHandler {
  const resource = pickResource(context, options?.resource);
  const required = readRequiredScopes(options?.scopes);
  const challengeScopes = required.length > 0 ? required : context.options.defaultScopes;
  const parseForm = express.urlencoded({ extended: false, limit: FORM_LIMIT });

  return (req: Request, res: Response, next: NextFunction) => {
    // CORS preflights carry no credentials by design (Fetch standard); let the CORS middleware respond to them.
    if (req.method === "OPTIONS") {
      next();
      return;
    }
    if (!originAllowed(context, req, res)) {
      return;
    }

    readFormBody(parseForm, req, res)
      .then(() => authenticate(context, resource, required, challengeScopes, req, res))
      .then((passed) => {
        if (passed) {
          next();
        }
      }, (error: unknown) => {
        if (res.headersSent) {
          next(error);
        } else if (error instanceof StorageUnavailableError) {
          debug("storage unavailable error=%s", error.message);
          sendUnavailable(res, "The server's storage is unavailable; try again later");
        } else if (isBodyParserError(error)) {
          // The form body is read before authentication, so its errors must not reach a host error handler that prints stacks.
          debug("unreadable form body status=%d type=%s", error.status, error.type);
          sendChallenge(res, resource, error.status === 413 ? 413 : 400, { error: "invalid_request", description: "The request body could not be read" });
        } else {
          next(error);
        }
      });
  };
}

/**
 * MCP's Streamable HTTP transport requires a 403 for a request whose Origin is
 * not allowed, before and regardless of authentication: a page that rebinds
 * its DNS name to this server sends its own Origin. Clients outside a browser
 * send no Origin and pass.
 */
function originAllowed(context: ProxyContext, req: Request, res: Response): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || isAllowedOrigin(context.options.allowedOrigins, origin)) {
    return true;
  }

  debug("rejected origin=%s", origin.slice(0, 100));
  res.status(403);
  res.setHeader("Cache-Control", "no-store");
  // MCP lets the 403 body be a JSON-RPC error without an id.
  res.json({ jsonrpc: "2.0", error: { code: -32600, message: "Requests from this Origin are not allowed" }, id: null });
  return false;
}

/**
 * Parses a form-encoded body that no body parser has read yet, because a token
 * in an `access_token` field next to the Authorization header must be rejected
 * (RFC 6750 §2 allows one method per request). Other bodies stay untouched.
 */
function readFormBody(parseForm: RequestHandler, req: Request, res: Response): Promise<void> {
  // A parser that ran already either consumed the stream or, for another content type, left it unread.
  const consumed = req.readableEnded || (req as Request & { _body?: boolean })._body === true;
  if (req.headers.authorization === undefined || consumed || !req.is("application/x-www-form-urlencoded")) {
    return Promise.resolve();
  }

  return new Promise((resolve, reject) => {
    parseForm(req, res, (error?: unknown) => {
      if (error !== undefined && error !== null) {
        reject(error);
        return;
      }
      // body-parser 1 (Express 4) skips a body marked as read; body-parser 2 detects that the stream ended.
      (req as Request & { _body?: boolean })._body = true;
      resolve();
    });
  });
}

/** Checks whether the request also carries a token outside the Authorization header, in the query or a form body. */
function hasOtherTokenField(req: Request): boolean {
  const query = req.originalUrl.includes("?") ? req.originalUrl.slice(req.originalUrl.indexOf("?") + 1) : "";
  if (new URLSearchParams(query).has("access_token")) {
    return true;
  }

  const body: unknown = req.body;
  return Boolean(req.is("application/x-www-form-urlencoded")) && typeof body === "object" && body !== null && Object.hasOwn(body, "access_token");
}

async function authenticate(
  context: ProxyContext,
  resource: ResourceConfig,
  required: string[],
  challengeScopes: string[],
  req: Request,
  res: Response,
): Promise<boolean> {
  const challenge = (status: number, error?: string, description?: string, scope = challengeScopes): false => {
    sendChallenge(res, resource, status, { error, description, scope });
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
  if (hasOtherTokenField(req)) {
    return challenge(400, "invalid_request", "Send the access token in the Authorization header only, not also as an access_token parameter");
  }

  let claims;
  try {
    claims = await verifyIssuedAccessToken(context, header.token, resource.url);
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
  const missing = missingScopes(expandScopes(tokenScopes, context.options.scopeHierarchy), required);
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

    sendUnavailable(res, "The identity provider is unavailable; try again later");
    return undefined;
  }
}

/** Sends an RFC 6750 §3 challenge with the resource's metadata URL (RFC 9728 §5.1) and a JSON body saying the same. */
function sendChallenge(
  res: Response,
  resource: ResourceConfig,
  status: number,
  { error, description, scope }: { error?: string | undefined; description?: string | undefined; scope?: string[] },
): void {
  res.status(status);
  res.setHeader("WWW-Authenticate", buildBearerChallenge({
    ...(error === undefined ? {} : { error }),
    ...(description === undefined ? {} : { errorDescription: description }),
    ...(scope === undefined ? {} : { scope }),
    resourceMetadata: resource.metadataUrl,
  }));
  res.setHeader("Cache-Control", "no-store");
  res.json(error === undefined ? { error: "unauthorized", error_description: "An access token is required" } : { error, error_description: description });
}

function isBodyParserError(error: unknown): error is { status: number; type: string } {
  if (typeof error !== "object" || error === null) {
    return false;
  }
  const { status, type } = error as { status?: unknown; type?: unknown };
  return typeof status === "number" && status >= 400 && status < 500 && typeof type === "string";
}

function sendUnavailable(res: Response, description: string): void {
  res.status(503);
  res.setHeader("Retry-After", "30");
  res.setHeader("Cache-Control", "no-store");
  res.json({ error: "temporarily_unavailable", error_description: description });
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
