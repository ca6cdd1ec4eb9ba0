import { randomBytes } from "node:crypto";
import createDebug from "debug";
import { OptionError } from "./errors.js";
import { parseAllowedOrigins } from "./core/origins.js";
import type { AllowedOrigins } from "./core/origins.js";
import { buildScopeHierarchy } from "./core/scope-hierarchy.js";
import type { ScopeHierarchy } from "./core/scope-hierarchy.js";
import { parseScope } from "./core/scopes.js";
import type { UpstreamProvider } from "./providers/types.js";
import type { Storage } from "./storage/types.js";
import { resolveIntrospectionOptions, resolveJwtOptions } from "./signing-options.js";
import type { IntrospectionOptions, JwtOptions, ResolvedIntrospectionOptions, ResolvedJwtOptions } from "./signing-options.js";
import { resolveClientMetadataOptions } from "./client-metadata/options.js";
import type { ClientIdMetadataDocumentOptions, ClientMetadataSettings } from "./client-metadata/options.js";

const debug = createDebug("mcp-oauth-proxy:options");

/** Options of `oauthProxy()`. */
export interface OAuthProxyOptions {
  /**
   * Public URL of the app root, as clients reach it (`https://mcp.example.com`).
   * It becomes the issuer; plain `http` is accepted only for loopback hosts.
   */
  baseUrl: string;

  /** The upstream identity provider users sign in at. */
  provider: UpstreamProvider;

  /**
   * At least 32 bytes; every signing, encryption and cookie key is derived from it.
   * To rotate, pass `[newSecret, oldSecret]`: the first one signs and encrypts, and
   * every listed one still verifies and decrypts. Without a secret, a random one is
   * used and every token and registration dies with the process.
   */
  secret?: string | Buffer | ReadonlyArray<string | Buffer>;

  /** Store for all proxy state; default an in-memory store. Values are encrypted unless the store encrypts itself. */
  storage?: Storage;

  /**
   * The protected MCP endpoints, as paths under `baseUrl` or absolute URLs on its
   * origin; default `"/mcp"`. Each gets RFC 9728 metadata and is a token audience.
   */
  resource?: string | string[];

  /** Human-readable name of the protected resource, published in its metadata and shown on the consent page. */
  resourceName?: string;

  /** Scopes the proxy grants. When set, clients asking for others get `invalid_scope`. */
  scopes?: string[];

  /** Scopes granted when a client asks for none; default all of `scopes`. */
  defaultScopes?: string[];

  /** Access token lifetime in seconds; default 3600. */
  accessTokenTtl?: number;

  /** Refresh token lifetime in seconds, also the idle limit of a grant; default 30 days. */
  refreshTokenTtl?: number;

  /** Lifetime of a dynamically registered client in seconds; default 365 days. */
  clientTtl?: number;

  /**
   * Seconds after a refresh during which the rotated refresh token still works
   * and returns the same successor, because clients retry a refresh whose response
   * they lost; default 10, 0 disables. Later reuse revokes the grant.
   */
  refreshGraceSeconds?: number;

  /** Accept the PKCE `plain` method from clients; default false (S256 only, as OAuth 2.1 recommends). */
  allowPlainPkce?: boolean;

  /** Signing of access tokens: HS256 from `secret` (default), or RS256/ES256 with keys published at `/oauth/jwks`. */
  jwt?: JwtOptions;

  /** Callers allowed to use `POST /oauth/introspect` (RFC 7662); without it the endpoint is not served. */
  introspection?: IntrospectionOptions;

  /**
   * Request limits of the OAuth endpoints, counted in `storage` so instances
   * sharing a store share them. `false` turns all limits off, an endpoint set to
   * `false` has none, and an omitted endpoint keeps its default.
   */
  rateLimits?: RateLimitOptions | false;

  /**
   * Accept an https URL as `client_id` and fetch the client's metadata from it
   * (Client ID Metadata Documents, which MCP clients may use instead of
   * registering); default enabled, `false` turns it off.
   */
  clientIdMetadataDocuments?: boolean | ClientIdMetadataDocumentOptions;

  /**
   * Scopes that include narrower ones, such as `{ "mcp:admin": ["mcp:read", "mcp:write"] }`.
   * A token with `mcp:admin` then passes a `bearer({ scopes: ["mcp:read"] })` check, and
   * inclusions chain.
   */
  scopeHierarchy?: Record<string, string[]>;

  /**
   * Origins that browsers may call `bearer()` routes from: a request whose `Origin` header
   * names another origin gets 403, which stops DNS rebinding. Requests without `Origin` pass.
   * Entries look like `"https://app.example.com"`, and `":*"` in place of the port matches any
   * port. Default: the issuer's origin plus `http://localhost:*`, `http://127.0.0.1:*` and
   * `http://[::1]:*`. `"*"` turns the check off.
   */
  allowedOrigins?: string[] | "*";

  /**
   * Also serve `/authorize`, `/token` and `/register` at the origin root, where clients of the
   * 2025-03-26 MCP revision look when they find no metadata; default true. The metadata keeps
   * naming the `/oauth/*` endpoints.
   */
  rootEndpointAliases?: boolean;
}

/** A request budget: at most `limit` requests per window from one key. */
export interface RateLimit {
  /** Requests accepted per window. */
  limit: number;
  /** Window length in seconds; default 60. */
  windowSeconds?: number;
}

/** Rate limits per endpoint, keyed by client IP address (`req.ip`) unless stated otherwise. */
export interface RateLimitOptions {
  /** `POST /oauth/register`; default 30 per minute. */
  register?: RateLimit | false;
  /** `GET /oauth/authorize`; default 60 per minute. */
  authorize?: RateLimit | false;
  /** `POST /oauth/token`; default 60 per minute. */
  token?: RateLimit | false;
  /** `POST /oauth/token` per registered `client_id`, from any address; default 60 per minute. */
  tokenPerClient?: RateLimit | false;
  /** `POST /oauth/revoke`; default 60 per minute. */
  revoke?: RateLimit | false;
}

/** The endpoints with a rate limit. */
export type RateLimitedEndpoint = keyof RateLimitOptions;

/** A validated rate limit. */
export interface ResolvedRateLimit {
  limit: number;
  windowSeconds: number;
}

/** A protected resource with its precomputed URLs. */
export interface ResourceConfig {
  /** Canonical resource identifier: the token audience. */
  url: string;
  /** Path of the RFC 9728 metadata document for this resource. */
  metadataPath: string;
  /** Absolute URL of that document, sent in `resource_metadata` challenges. */
  metadataUrl: string;
}

/** Options after validation, with everything derivable computed once. */
export interface ResolvedOptions {
  issuer: string;
  origin: string;
  /** Path prefix of the issuer: "" or "/prefix". */
  basePath: string;
  secure: boolean;
  provider: UpstreamProvider;
  /** The secret that signs and encrypts. */
  secret: Buffer;
  /** Older secrets from a rotation, still accepted for verification and decryption. */
  previousSecrets: Buffer[];
  storage: Storage | undefined;
  resources: ResourceConfig[];
  resourceName: string | undefined;
  scopes: string[];
  defaultScopes: string[];
  accessTokenTtl: number;
  refreshTokenTtl: number;
  clientTtl: number;
  refreshGraceSeconds: number;
  allowPlainPkce: boolean;
  jwt: ResolvedJwtOptions;
  introspection: ResolvedIntrospectionOptions | undefined;
  /** Limits per endpoint; `undefined` means no limit. */
  rateLimits: Record<RateLimitedEndpoint, ResolvedRateLimit | undefined>;
  /** `undefined` when Client ID Metadata Documents are turned off. */
  clientIdMetadataDocuments: ClientMetadataSettings | undefined;
  scopeHierarchy: ScopeHierarchy;
  allowedOrigins: AllowedOrigins;
  rootEndpointAliases: boolean;
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Validates `oauthProxy()` options, throwing an `OptionError` that names the option and the fix. */
export function resolveOptions(options: OAuthProxyOptions): ResolvedOptions {
  if (typeof options !== "object" || options === null) {
    throw new OptionError("options", options, "Pass an object: oauthProxy({ baseUrl, provider, secret }).");
  }
  checkKnownOptions(options);

  const base = resolveBaseUrl(options.baseUrl);
  const issuer = base.href.replace(/\/$/, "");
  const basePath = base.pathname.replace(/\/$/, "");
  const scopes = resolveScopeList("scopes", options.scopes) ?? [];
  const defaultScopes = resolveScopeList("defaultScopes", options.defaultScopes) ?? scopes;
  checkDefaultScopes(scopes, defaultScopes);
  const accessTokenTtl = positiveSeconds("accessTokenTtl", options.accessTokenTtl, 3600);

  return {
    issuer,
    origin: base.origin,
    basePath,
    secure: base.protocol === "https:",
    provider: resolveProvider(options.provider),
    ...resolveSecrets(options.secret),
    storage: resolveStorage(options.storage),
    resources: resolveResources(options.resource, base),
    resourceName: optionalString("resourceName", options.resourceName),
    scopes,
    defaultScopes,
    accessTokenTtl,
    refreshTokenTtl: positiveSeconds("refreshTokenTtl", options.refreshTokenTtl, 30 * 24 * 3600),
    clientTtl: positiveSeconds("clientTtl", options.clientTtl, 365 * 24 * 3600),
    refreshGraceSeconds: options.refreshGraceSeconds === 0 ? 0 : positiveSeconds("refreshGraceSeconds", options.refreshGraceSeconds, 10),
    allowPlainPkce: optionalBoolean("allowPlainPkce", options.allowPlainPkce, false),
    jwt: resolveJwtOptions(options.jwt, accessTokenTtl),
    introspection: resolveIntrospectionOptions(options.introspection),
    rateLimits: resolveRateLimits(options.rateLimits),
    clientIdMetadataDocuments: resolveClientMetadataOptions(options.clientIdMetadataDocuments),
    scopeHierarchy: resolveScopeHierarchy(options.scopeHierarchy, scopes),
    allowedOrigins: resolveAllowedOrigins(options.allowedOrigins, base.origin),
    rootEndpointAliases: resolveBoolean("rootEndpointAliases", options.rootEndpointAliases, true),
  };
}

const KNOWN_OPTIONS: ReadonlyArray<keyof OAuthProxyOptions> = [
  "baseUrl", "provider", "secret", "storage", "resource", "resourceName", "scopes", "defaultScopes",
  "accessTokenTtl", "refreshTokenTtl", "clientTtl", "refreshGraceSeconds", "allowPlainPkce", "jwt",
  "introspection", "rateLimits", "clientIdMetadataDocuments", "scopeHierarchy", "allowedOrigins", "rootEndpointAliases",
];

/** Rejects unknown option names, because a misspelled option would otherwise be ignored and its default used. */
function checkKnownOptions(options: object): void {
  for (const name of Object.keys(options)) {
    if ((KNOWN_OPTIONS as readonly string[]).includes(name)) {
      continue;
    }
    const similar = KNOWN_OPTIONS.find((known) => known.toLowerCase() === name.toLowerCase() || known.startsWith(name) || name.startsWith(known));
    const hint = similar === undefined ? `Known options: ${KNOWN_OPTIONS.join(", ")}.` : `Did you mean ${similar}?`;
    throw OptionError.unknown(name, hint);
  }
}

function optionalBoolean(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) {
    return fallback;
  }
  if (typeof value !== "boolean") {
    throw new OptionError(option, value, "Pass true or false.");
  }
  return value;
}

function resolveBaseUrl(value: unknown): URL {
  const fix = 'Set it to the public URL of the app root, for example "https://mcp.example.com".';
  if (typeof value !== "string" || value === "") {
    throw new OptionError("baseUrl", value, fix);
  }

  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new OptionError("baseUrl", value, fix);
  }

  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new OptionError("baseUrl", value, "An issuer has no query, fragment or credentials (RFC 8414 §2); remove them.");
  }
  if (url.protocol === "http:" && !LOOPBACK_HOSTS.has(url.hostname)) {
    throw new OptionError("baseUrl", value, "OAuth endpoints must use https; plain http is only accepted for localhost, 127.0.0.1 and [::1].");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new OptionError("baseUrl", value, "Use an https URL.");
  }
  return url;
}

function resolveProvider(value: unknown): UpstreamProvider {
  const methods = ["authorizationUrl", "exchangeCode", "refresh", "identify", "revoke", "responseIssuer"];
  const isProvider = typeof value === "object" && value !== null &&
    methods.every((name) => typeof (value as Record<string, unknown>)[name] === "function");
  if (!isProvider) {
    throw new OptionError("provider", value, "Pass a provider instance, for example new OIDCProvider({ issuer, clientId, clientSecret }).");
  }
  return value as UpstreamProvider;
}

function resolveSecrets(value: unknown): { secret: Buffer; previousSecrets: Buffer[] } {
  if (value === undefined) {
    process.emitWarning(
      "mcp-oauth-proxy: no secret configured, so a random one is used and every token and registration is lost on restart. Set the secret option (32 bytes or more, the same on every instance).",
      { code: "MCP_OAUTH_PROXY_RANDOM_SECRET" },
    );
    return { secret: randomBytes(32), previousSecrets: [] };
  }

  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) {
    throw new OptionError("secret", value, "Pass a secret, or [newSecret, oldSecret] while rotating.");
  }

  const [secret, ...previousSecrets] = list.map((entry: unknown, index) => resolveSecret(entry, list.length > 1 ? `secret[${index}]` : "secret"));
  return { secret: secret as Buffer, previousSecrets };
}

function resolveSecret(value: unknown, option: string): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.isBuffer(value) ? value : undefined;
  if (bytes === undefined) {
    throw new OptionError(option, typeof value, "Pass a string or Buffer of at least 32 bytes, for example from `openssl rand -base64 48`.");
  }
  if (bytes.length < 32) {
    throw new OptionError(option, `(hidden, ${bytes.length} bytes)`, "Use at least 32 bytes, for example from `openssl rand -base64 48`.");
  }
  return bytes;
}

function resolveStorage(value: unknown): Storage | undefined {
  if (value === undefined) {
    return undefined;
  }

  const methods = ["get", "set", "take", "add", "increment", "delete"];
  const isStorage = typeof value === "object" && value !== null &&
    methods.every((name) => typeof (value as Record<string, unknown>)[name] === "function");
  if (!isStorage) {
    throw new OptionError("storage", value, `Pass an object with the Storage methods (${methods.join(", ")}), for example new MemoryStore().`);
  }
  return value as Storage;
}

function resolveResources(value: unknown, base: URL): ResourceConfig[] {
  let list: unknown = value ?? ["/mcp"];
  if (typeof list === "string") {
    list = [list];
  }
  if (!Array.isArray(list) || list.length === 0) {
    throw new OptionError("resource", value, 'Pass a path such as "/mcp" or a list of paths.');
  }

  const resources = list.map((entry) => resolveResource(entry, base));
  const urls = new Set(resources.map((resource) => resource.url));
  if (urls.size !== resources.length) {
    throw new OptionError("resource", value, "List each protected resource once.");
  }
  return resources;
}

function resolveResource(entry: unknown, base: URL): ResourceConfig {
  const fix = `Use a path under the base URL, such as "/mcp", or an absolute URL on ${base.origin}.`;
  if (typeof entry !== "string" || entry === "") {
    throw new OptionError("resource", entry, fix);
  }

  let url: URL;
  try {
    url = entry.startsWith("/") ? new URL(base.pathname.replace(/\/$/, "") + entry, base.origin) : new URL(entry);
  } catch {
    throw new OptionError("resource", entry, fix);
  }
  if (url.origin !== base.origin || url.search !== "" || url.hash !== "") {
    throw new OptionError("resource", entry, `${fix} A resource has no query or fragment (RFC 8707 §2).`);
  }

  // RFC 9728 §3.1: the well-known segment goes between the host and the resource's path.
  const path = url.pathname === "/" ? "" : url.pathname;
  const metadataPath = `/.well-known/oauth-protected-resource${path}`;
  const href = path === "" ? url.origin : url.origin + path;
  return { url: href, metadataPath, metadataUrl: url.origin + metadataPath };
}

function resolveScopeList(option: string, value: unknown): string[] | undefined {
  if (value === undefined) {
    return undefined;
  }

  const valid = Array.isArray(value) && value.every((scope) => typeof scope === "string" && parseScope(scope)?.length === 1);
  if (!valid) {
    throw new OptionError(option, value, 'Pass an array of scope names without spaces, for example ["mcp:read", "mcp:write"].');
  }
  return [...new Set(value as string[])];
}

function checkDefaultScopes(scopes: string[], defaultScopes: string[]): void {
  if (scopes.length === 0) {
    return;
  }

  const unknown = defaultScopes.filter((scope) => !scopes.includes(scope));
  if (unknown.length > 0) {
    throw new OptionError("defaultScopes", unknown, "Every default scope must also be listed in scopes.");
  }
}

function resolveScopeHierarchy(value: unknown, scopes: string[]): ScopeHierarchy {
  const fix = 'Pass an object from a scope to the scopes it includes, for example { "mcp:admin": ["mcp:read", "mcp:write"] }.';
  if (value === undefined) {
    return new Map();
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new OptionError("scopeHierarchy", value, fix);
  }

  for (const [scope, included] of Object.entries(value)) {
    const option = `scopeHierarchy[${JSON.stringify(scope)}]`;
    if (parseScope(scope)?.length !== 1 || !Array.isArray(included) || !included.every((entry) => typeof entry === "string" && parseScope(entry)?.length === 1)) {
      throw new OptionError(option, included, fix);
    }
    // A name missing from the scopes list is a typo: no token can carry it.
    const unknown = [scope, ...(included as string[])].filter((name) => scopes.length > 0 && !scopes.includes(name));
    if (unknown.length > 0) {
      throw new OptionError(option, unknown, "Every scope in scopeHierarchy must also be listed in scopes.");
    }
  }
  return buildScopeHierarchy(value as Record<string, string[]>);
}

const LOOPBACK_ORIGINS = ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

function resolveAllowedOrigins(value: unknown, issuerOrigin: string): AllowedOrigins {
  if (value === "*") {
    return "*";
  }

  const entries = value ?? [issuerOrigin, ...LOOPBACK_ORIGINS];
  if (!Array.isArray(entries) || !entries.every((entry) => typeof entry === "string")) {
    throw new OptionError("allowedOrigins", value, 'Pass "*" or a list of origins, for example ["https://app.example.com", "http://localhost:*"].');
  }

  const { allowed, invalid } = parseAllowedOrigins(entries as string[]);
  if (invalid.length > 0) {
    throw new OptionError("allowedOrigins", invalid, 'Write each origin as scheme://host or scheme://host:port with no path, or use ":*" for any port.');
  }
  return allowed;
}

function resolveBoolean(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) {
    return fallback;
  }
  if (typeof value !== "boolean") {
    throw new OptionError(option, value, "Pass true or false.");
  }
  return value;
}

function optionalString(option: string, value: unknown): string | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== "string" || value.trim() === "") {
    throw new OptionError(option, value, "Pass a non-empty string or leave it out.");
  }
  return value;
}

function positiveSeconds(option: string, value: unknown, fallback: number): number {
  if (value === undefined) {
    return fallback;
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new OptionError(option, value, "Pass a whole number of seconds greater than 0.");
  }
  return value;
}

const DEFAULT_RATE_LIMITS: Record<RateLimitedEndpoint, ResolvedRateLimit> = {
  register: { limit: 30, windowSeconds: 60 },
  authorize: { limit: 60, windowSeconds: 60 },
  token: { limit: 60, windowSeconds: 60 },
  tokenPerClient: { limit: 60, windowSeconds: 60 },
  revoke: { limit: 60, windowSeconds: 60 },
};

function resolveRateLimits(value: unknown): Record<RateLimitedEndpoint, ResolvedRateLimit | undefined> {
  const endpoints = Object.keys(DEFAULT_RATE_LIMITS) as RateLimitedEndpoint[];
  if (value === false) {
    return Object.fromEntries(endpoints.map((endpoint) => [endpoint, undefined])) as Record<RateLimitedEndpoint, undefined>;
  }

  const given = value ?? {};
  if (typeof given !== "object" || given === null || Array.isArray(given)) {
    throw new OptionError("rateLimits", value, "Pass false or an object such as { register: { limit: 30, windowSeconds: 60 } }.");
  }
  const unknown = Object.keys(given).filter((name) => !(endpoints as string[]).includes(name));
  if (unknown.length > 0) {
    throw new OptionError(`rateLimits.${unknown[0]}`, (given as Record<string, unknown>)[unknown[0] as string], `Rate limits exist for ${endpoints.join(", ")}.`);
  }

  const entries = endpoints.map((endpoint) => [endpoint, resolveRateLimit(endpoint, (given as RateLimitOptions)[endpoint])]);
  return Object.fromEntries(entries) as Record<RateLimitedEndpoint, ResolvedRateLimit | undefined>;
}

function resolveRateLimit(endpoint: RateLimitedEndpoint, value: unknown): ResolvedRateLimit | undefined {
  if (value === undefined) {
    return DEFAULT_RATE_LIMITS[endpoint];
  }
  if (value === false) {
    return undefined;
  }

  const option = `rateLimits.${endpoint}`;
  const { limit, windowSeconds = 60 } = (typeof value === "object" && value !== null ? value : {}) as Partial<RateLimit>;
  if (typeof value !== "object" || value === null || typeof limit !== "number" || !Number.isInteger(limit) || limit <= 0) {
    throw new OptionError(option, value, "Pass { limit, windowSeconds } with a whole number of requests greater than 0, or false for no limit.");
  }
  if (typeof windowSeconds !== "number" || !Number.isInteger(windowSeconds) || windowSeconds <= 0) {
    throw new OptionError(`${option}.windowSeconds`, windowSeconds, "Pass a whole number of seconds greater than 0.");
  }
  return { limit, windowSeconds };
}

/** Logs the resolved settings that matter when debugging a deployment. */
export function logResolvedOptions(options: ResolvedOptions): void {
  debug("issuer=%s resources=%s scopes=%s", options.issuer, options.resources.map((resource) => resource.url).join(","), options.scopes.join(" "));
}
