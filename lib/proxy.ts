import type { ErrorRequestHandler, Request, RequestHandler, Response, Router } from "express";
import express from "express";
import cors from "cors";
import createDebug from "debug";
import helmet from "helmet";
import { createBearer } from "./bearer.js";
import type { BearerOptions } from "./bearer.js";
import { createBrowserSession } from "./browser-session.js";
import { ClientMetadataResolver } from "./client-metadata/resolver.js";
import { buildEndpoints } from "./context.js";
import type { ProxyContext } from "./context.js";
import { ClientIdSealer } from "./core/client-id.js";
import { deriveKeys, hmacTokenKey } from "./core/keys.js";
import { VerifiedTokenCache } from "./core/token-cache.js";
import { OAuthError, ServerError, TemporarilyUnavailableError, toClientError, UpstreamError } from "./errors.js";
import { authorizeHandler } from "./handlers/authorize.js";
import { callbackHandler } from "./handlers/callback.js";
import { consentHandler } from "./handlers/consent.js";
import { introspectHandler } from "./handlers/introspect.js";
import { jwksHandler } from "./handlers/jwks.js";
import { authorizationServerMetadataHandler, protectedResourceMetadataHandler } from "./handlers/metadata.js";
import { registerHandler } from "./handlers/register.js";
import { revokeHandler } from "./handlers/revoke.js";
import { tokenHandler } from "./handlers/token.js";
import { sendOAuthError } from "./http.js";
import { buildAuthorizationServerMetadata } from "./metadata.js";
import type { AuthorizationServerMetadata } from "./metadata.js";
import { logResolvedOptions, resolveOptions } from "./options.js";
import { createRateLimiters } from "./rate-limit.js";
import type { OAuthProxyOptions } from "./options.js";
import { renderErrorPage, sendPage } from "./pages.js";
import { createSigningKeySet } from "./signing-key-set.js";
import { EncryptedStore, isEncryptingStore } from "./storage/encrypted.js";
import { GuardedStore, StorageUnavailableError } from "./storage/guarded.js";
import { MemoryStore } from "./storage/memory.js";
import type { Storage } from "./storage/types.js";

const debug = createDebug("mcp-oauth-proxy:proxy");

/** Request bodies of the OAuth endpoints are small; anything larger is refused before parsing. */
const BODY_LIMIT = "32kb";

/** The Express router `oauthProxy()` returns, with the proxy's helpers attached. */
export interface OAuthProxy extends Router {
  /** Middleware that requires a valid access token issued by this proxy. */
  bearer(options?: BearerOptions): RequestHandler;
  /** The redirect URI to register at the upstream provider. */
  readonly callbackUrl: string;
  /** The RFC 8414 authorization server metadata the proxy publishes. */
  readonly metadata: AuthorizationServerMetadata;
  /** Stops timers and closes the storage the proxy created itself. */
  close(): Promise<void>;
}

/**
 * Creates the OAuth proxy: an Express router serving the discovery documents
 * and OAuth endpoints, plus `bearer()` to guard MCP routes.
 *
 * @example
 * const proxy = oauthProxy({ baseUrl: "https://mcp.example.com", provider, secret });
 * app.use(proxy);
 * app.all("/mcp", proxy.bearer(), mcpHandler);
 */
export function oauthProxy(options: OAuthProxyOptions): OAuthProxy {
  const resolved = resolveOptions(options);
  const ownsStorage = resolved.storage === undefined;
  const baseStorage = resolved.storage ?? createDefaultStorage();
  const keys = deriveKeys(resolved.secret);
  const previousKeys = resolved.previousSecrets.map((secret) => deriveKeys(secret));
  const storage: Storage = new GuardedStore(isEncryptingStore(baseStorage)
    ? baseStorage
    : new EncryptedStore(baseStorage, [keys, ...previousKeys].map((set) => ({ id: set.keyId, key: set.encryptionKey }))));
  warnAboutMemoryStore(baseStorage);

  const context: ProxyContext = {
    options: resolved,
    storage,
    keys,
    previousKeys,
    signingKeys: createSigningKeySet(resolved.jwt, [keys, ...previousKeys].map(hmacTokenKey), storage, resolved.accessTokenTtl),
    verifiedTokens: new VerifiedTokenCache(resolved.jwt.verifiedTokenCacheSize),
    endpoints: buildEndpoints(resolved),
    clientIds: new ClientIdSealer([resolved.secret, ...resolved.previousSecrets]),
    upstreamRefreshes: new Map(),
    ...(resolved.clientIdMetadataDocuments === undefined ? {} : { clientMetadata: new ClientMetadataResolver(resolved.clientIdMetadataDocuments) }),
  };
  const metadata = buildAuthorizationServerMetadata(resolved, context.endpoints);
  logResolvedOptions(resolved);

  const router = buildRouter(context, metadata) as OAuthProxy;
  Object.defineProperties(router, {
    bearer: { value: bearerFactory(context), enumerable: true },
    callbackUrl: { value: context.endpoints.callback.url, enumerable: true },
    metadata: { value: metadata, enumerable: true },
    close: { value: () => (ownsStorage ? baseStorage.close?.() ?? Promise.resolve() : Promise.resolve()), enumerable: true },
  });
  return router;
}

let memoryStoreWarned = false;

function createDefaultStorage(): Storage {
  return new MemoryStore();
}

/** Warns once per process: an in-memory store loses everything on restart and is not shared between instances. */
function warnAboutMemoryStore(storage: Storage): void {
  if (memoryStoreWarned || process.env.NODE_ENV !== "production" || !(storage instanceof MemoryStore)) {
    return;
  }

  memoryStoreWarned = true;
  process.emitWarning(
    "mcp-oauth-proxy: using the in-memory store in production, so sign-ins are lost on restart and not shared between instances. Pass storage: new RedisStore({ url }) or new DiskStore({ directory }).",
    { code: "MCP_OAUTH_PROXY_MEMORY_STORE" },
  );
}

/** `app.use(proxy.bearer)` without the call would treat the request as options; catch that at once. */
function bearerFactory(context: ProxyContext): (options?: BearerOptions) => RequestHandler {
  return (...args: unknown[]) => {
    const [first] = args;
    if (args.length >= 2 || (typeof first === "object" && first !== null && "headers" in first && "method" in first)) {
      throw new TypeError("proxy.bearer is a factory: use app.use(proxy.bearer()) or app.all(\"/mcp\", proxy.bearer(), handler), with the parentheses.");
    }
    return createBearer(context, first as BearerOptions | undefined);
  };
}

function buildRouter(context: ProxyContext, metadata: AuthorizationServerMetadata): Router {
  const { endpoints } = context;
  const router = express.Router();
  const apiCors = cors({
    origin: "*",
    methods: ["GET", "POST", "OPTIONS"],
    allowedHeaders: ["Authorization", "Content-Type", "MCP-Protocol-Version"],
    // Browser clients need the Basic challenge of a 401 and when to retry after a 429.
    exposedHeaders: ["WWW-Authenticate", "Retry-After", "RateLimit", "RateLimit-Policy"],
    maxAge: 600,
  });
  const pageHeaders = securityHeaders(context);
  const browserSession = createBrowserSession(context);
  const form = express.urlencoded({ extended: false, limit: BODY_LIMIT, parameterLimit: 64 });
  const json = express.json({ limit: BODY_LIMIT, strict: false });
  const limits = createRateLimiters(context);

  const metadataHandler = authorizationServerMetadataHandler(metadata);
  router.options(endpoints.authorizationServerMetadataPath, apiCors);
  router.get(endpoints.authorizationServerMetadataPath, apiCors, metadataHandler);
  for (const resource of context.options.resources) {
    router.options(resource.metadataPath, apiCors);
    router.get(resource.metadataPath, apiCors, protectedResourceMetadataHandler(context, resource.url));
  }
  serveRootResourceMetadata(context, router, apiCors);

  const paths = routePaths(context);
  router.options(paths.register, apiCors);
  router.post(paths.register, apiCors, ...limits.register, json, registerHandler(context));
  router.get(paths.authorize, pageHeaders, ...limits.authorize, browserSession, authorizeHandler(context));
  router.post(endpoints.consent.path, pageHeaders, form, browserSession, consentHandler(context));
  router.get(endpoints.callback.path, pageHeaders, browserSession, callbackHandler(context));
  router.options(paths.token, apiCors);
  router.post(paths.token, apiCors, ...limits.token, form, ...limits.tokenPerClient, tokenHandler(context));
  router.options(endpoints.revoke.path, apiCors);
  router.post(endpoints.revoke.path, apiCors, ...limits.revoke, form, revokeHandler(context));
  if (endpoints.jwks !== undefined) {
    router.options(endpoints.jwks.path, apiCors);
    router.get(endpoints.jwks.path, apiCors, jwksHandler(context));
  }
  if (endpoints.introspect !== undefined && context.options.introspection !== undefined) {
    router.options(endpoints.introspect.path, apiCors);
    router.post(endpoints.introspect.path, apiCors, form, introspectHandler(context, context.options.introspection));
    router.all(endpoints.introspect.path, apiCors, methodNotAllowed);
  }
  for (const path of [...paths.token, ...paths.register, endpoints.revoke.path]) {
    router.all(path, apiCors, methodNotAllowed);
  }

  router.use(errorHandler(context, paths));
  return router;
}

/** Paths of the endpoints that 2025-03-26 MCP clients may guess, with the real ones first. */
interface RoutePaths {
  authorize: string[];
  token: string[];
  register: string[];
}

/**
 * Adds `/authorize`, `/token` and `/register` at the origin root unless turned
 * off: the 2025-03-26 MCP revision directs clients that find no metadata to
 * these paths. The metadata keeps naming the real endpoints.
 */
function routePaths(context: ProxyContext): RoutePaths {
  const { endpoints } = context;
  const alias = (path: string): string[] => (context.options.rootEndpointAliases ? [path] : []);
  return {
    authorize: [endpoints.authorize.path, ...alias("/authorize")],
    token: [endpoints.token.path, ...alias("/token")],
    register: [endpoints.register.path, ...alias("/register")],
  };
}

/**
 * Serves RFC 9728 metadata at the root well-known URL when exactly one resource
 * is configured. Clients that find no `resource_metadata` probe the root, and
 * RFC 9728 §3.3 requires the document there to name the origin as the resource.
 */
function serveRootResourceMetadata(context: ProxyContext, router: Router, apiCors: RequestHandler): void {
  const [only, ...others] = context.options.resources;
  if (only === undefined || others.length > 0 || only.metadataPath === "/.well-known/oauth-protected-resource") {
    return;
  }
  router.options("/.well-known/oauth-protected-resource", apiCors);
  router.get("/.well-known/oauth-protected-resource", apiCors, protectedResourceMetadataHandler(context, context.options.origin));
}

/** Headers for the HTML pages: no framing (clickjacking on the consent page), no scripts, no referrer. */
function securityHeaders(context: ProxyContext): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        styleSrc: ["'unsafe-inline'"],
        imgSrc: ["'self'", "data:"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
        // form-action is left out on purpose: browsers apply it to the redirects that follow
        // the consent POST, which go to the upstream provider or to any client redirect URI.
      },
    },
    frameguard: { action: "deny" },
    referrerPolicy: { policy: "no-referrer" },
    strictTransportSecurity: context.options.secure ? { maxAge: 31536000 } : false,
  });
}

function methodNotAllowed(_req: Request, res: Response): void {
  res.setHeader("Allow", "POST, OPTIONS");
  sendOAuthError(res, new OAuthError("invalid_request", "Use POST for this endpoint", 405));
}

/**
 * Turns every failure on the proxy's routes into an OAuth error or an error
 * page, without a stack trace. Body-parser errors carry their own 4xx status.
 */
function errorHandler(context: ProxyContext, paths: RoutePaths): ErrorRequestHandler {
  const pagePaths = new Set([...paths.authorize, context.endpoints.consent.path, context.endpoints.callback.path]);
  return (error: unknown, req: Request, res: Response, _next) => {
    const oauthError = toOAuthError(error, paths.register.includes(req.path) ? "invalid_client_metadata" : "invalid_request");
    if (oauthError.status >= 500) {
      debug("request failed path=%s error=%s", req.path, error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    if (pagePaths.has(req.path)) {
      const title = oauthError.status >= 500 ? "Something went wrong" : "Request rejected";
      sendPage(res, oauthError.status, renderErrorPage(title, oauthError.message));
      return;
    }
    sendOAuthError(res, oauthError);
  };
}

/** Maps an error to its OAuth form; a register request gets `invalid_client_metadata` (RFC 7591 §3.2.2). */
function toOAuthError(error: unknown, errorCode: string): OAuthError {
  if (error instanceof OAuthError) {
    return error;
  }
  // An upstream failure carries the upstream's HTTP status, which must not pass for a body-parser error.
  if (error instanceof UpstreamError) {
    return toClientError(error);
  }
  if (error instanceof StorageUnavailableError) {
    return new TemporarilyUnavailableError("The server's storage is unavailable; try again later", error.message);
  }

  const details = typeof error === "object" && error !== null ? (error as { status?: unknown; type?: unknown }) : {};
  if (typeof details.status !== "number" || details.status < 400 || details.status >= 500) {
    return new ServerError("The server could not process the request");
  }

  const description = details.type === "entity.too.large" ? "The request body is too large"
    : details.type === "entity.parse.failed" ? "The request body could not be parsed"
    : "The request body could not be read";
  return new OAuthError(errorCode, description, details.status === 413 ? 413 : 400);
}
