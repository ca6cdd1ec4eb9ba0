import { OptionError } from "../errors.js";
import { DEFAULT_TIMEOUT_MS, isObject } from "./http.js";

/** Client authentication method at the provider's token and revocation endpoints (RFC 6749 §2.3). */
export type ClientAuthentication = "client_secret_basic" | "client_secret_post" | "none";

/** Provider URLs that replace the ones a provider would use, for tests and self-hosted variants. */
export interface EndpointOverrides {
  authorization?: string;
  token?: string;
  userinfo?: string;
  revocation?: string;
  /** The JSON Web Key Set that ID tokens are verified against. */
  jwks?: string;
}

/** Options every provider takes: the proxy's registration at the provider and request tuning. */
export interface ClientOptions {
  /** Name shown on the consent page; defaults to the provider's name, or "the identity provider". */
  name?: string;
  clientId: string;
  clientSecret?: string;
  /** Upstream scopes requested on every sign-in, in addition to the mapped ones. */
  scopes?: string[];
  /** Defaults to `client_secret_basic` when `clientSecret` is set and `none` otherwise. */
  clientAuthentication?: ClientAuthentication;
  /** Extra authorization request parameters, such as `{ prompt: "consent" }`. */
  authorizationParams?: Record<string, string>;
  /** Userinfo member that contains the stable user id; defaults to "sub". */
  subjectClaim?: string;
  /** Time limit for each upstream request in milliseconds; defaults to 10 000. */
  timeoutMs?: number;
  /** Endpoint URLs that replace the provider's own (discovered or built in). */
  endpoints?: EndpointOverrides;
  /**
   * One-to-one renames from the scope names the proxy's clients use to the provider's names,
   * such as `{ "files:read": "repo" }`. Scopes are renamed on the way to the provider and
   * back when the provider reports the granted scopes; unmapped scopes pass unchanged.
   */
  scopeMap?: Record<string, string>;
}

/** Defaults a provider class puts under the caller's options. */
export interface ClientDefaults {
  name?: string;
  scopes?: string[];
  clientAuthentication?: ClientAuthentication;
  authorizationParams?: Record<string, string>;
  subjectClaim?: string;
}

/** Endpoint overrides after validation. */
export type EndpointOverrideUrls = Partial<Record<keyof EndpointOverrides, URL>>;

/** Client options after validation, with defaults applied. */
export interface ClientSettings {
  clientId: string;
  clientSecret: string | undefined;
  clientAuthentication: ClientAuthentication;
  scopes: string[];
  authorizationParams: Record<string, string>;
  subjectClaim: string;
  timeoutMs: number;
  endpoints: EndpointOverrideUrls;
  /** Local scope name to provider scope name. */
  scopeMap: Map<string, string>;
  /** Provider scope name to local scope name, the inverse of `scopeMap`. */
  scopeMapInverse: Map<string, string>;
}

// Parameters the proxy sets itself; letting authorizationParams override them would
// break PKCE (RFC 7636 §4.3) or the callback.
const RESERVED_PARAMS = new Set(["response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"]);

const CLIENT_AUTHENTICATIONS = new Set<unknown>(["client_secret_basic", "client_secret_post", "none"]);

const ENDPOINT_NAMES = new Set<string>(["authorization", "token", "userinfo", "revocation", "jwks"]);

/** Validates the options every provider shares and applies `defaults` under them. */
export function checkClientOptions(options: ClientOptions, defaults: ClientDefaults = {}): ClientSettings {
  if (!isObject(options)) {
    throw new OptionError("options", options, "Pass an object with at least clientId.");
  }
  if (options.name !== undefined && (typeof options.name !== "string" || options.name.trim() === "")) {
    throw new OptionError("name", options.name, "Set it to the provider name shown on the consent page, or leave it out.");
  }
  if (typeof options.clientId !== "string" || options.clientId === "") {
    throw new OptionError("clientId", options.clientId, "Set it to the client_id the provider issued for the proxy.");
  }
  if (options.clientSecret !== undefined && (typeof options.clientSecret !== "string" || options.clientSecret === "")) {
    throw new OptionError("clientSecret", "(hidden)", "Set it to the client secret the provider issued, or leave it out for a public client.");
  }
  if (options.subjectClaim !== undefined && (typeof options.subjectClaim !== "string" || options.subjectClaim === "")) {
    throw new OptionError("subjectClaim", options.subjectClaim, "Set it to the name of the userinfo member that contains the user id, such as \"sub\" or \"id\".");
  }

  const clientAuthentication = options.clientAuthentication ?? defaultAuthentication(options, defaults);
  checkClientAuthentication(clientAuthentication, options.clientSecret);
  const scopeMap = scopeMapOption(options.scopeMap ?? {});

  return {
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    clientAuthentication,
    scopes: scopesOption(options.scopes ?? defaults.scopes ?? []),
    authorizationParams: { ...defaults.authorizationParams, ...authorizationParamsOption(options.authorizationParams ?? {}) },
    subjectClaim: options.subjectClaim ?? defaults.subjectClaim ?? "sub",
    timeoutMs: timeoutOption(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    endpoints: endpointOverridesOption(options.endpoints ?? {}),
    scopeMap,
    scopeMapInverse: new Map([...scopeMap].map(([local, upstream]) => [upstream, local])),
  };
}

function defaultAuthentication(options: ClientOptions, defaults: ClientDefaults): ClientAuthentication {
  if (options.clientSecret === undefined) {
    return "none";
  }
  return defaults.clientAuthentication ?? "client_secret_basic";
}

function checkClientAuthentication(method: unknown, clientSecret: string | undefined): asserts method is ClientAuthentication {
  if (!CLIENT_AUTHENTICATIONS.has(method)) {
    throw new OptionError("clientAuthentication", method, "Use \"client_secret_basic\", \"client_secret_post\" or \"none\".");
  }
  if (method !== "none" && clientSecret === undefined) {
    throw new OptionError("clientAuthentication", method, "This method needs clientSecret; set it, or use \"none\" for a public client.");
  }
  if (method === "none" && clientSecret !== undefined) {
    throw new OptionError("clientAuthentication", method, "A clientSecret is set but would never be sent; remove it or choose \"client_secret_basic\".");
  }
}

/** Validates a list of scope names and removes duplicates. */
export function scopesOption(scopes: unknown, option = "scopes"): string[] {
  const valid = Array.isArray(scopes) && scopes.every(isScopeToken);
  if (!valid) {
    throw new OptionError(option, scopes, "Pass an array of scope names without spaces, such as [\"openid\", \"email\"].");
  }
  return [...new Set(scopes as string[])];
}

// RFC 6749 §3.3: a scope token is non-empty and contains no spaces or quotes.
function isScopeToken(scope: unknown): scope is string {
  return typeof scope === "string" && /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope);
}

function scopeMapOption(value: unknown): Map<string, string> {
  if (!isObject(value)) {
    throw new OptionError("scopeMap", value, "Pass an object from client scope names to provider scope names, such as { \"files:read\": \"repo\" }.");
  }

  const map = new Map<string, string>();
  const targets = new Set<string>();
  for (const [local, upstream] of Object.entries(value)) {
    if (!isScopeToken(local) || !isScopeToken(upstream)) {
      throw new OptionError(`scopeMap.${local}`, upstream, "Map a scope name to one provider scope name, both without spaces.");
    }
    // The map is read backwards for the granted scopes, so two names may not share a target.
    if (targets.has(upstream)) {
      throw new OptionError(`scopeMap.${local}`, upstream, "Another entry already maps to this provider scope; each provider scope may appear once.");
    }
    targets.add(upstream);
    map.set(local, upstream);
  }
  return map;
}

function authorizationParamsOption(params: unknown): Record<string, string> {
  if (!isObject(params) || !Object.values(params).every((value) => typeof value === "string")) {
    throw new OptionError("authorizationParams", params, "Pass an object whose values are strings, such as { prompt: \"consent\" }.");
  }

  for (const name of Object.keys(params)) {
    if (RESERVED_PARAMS.has(name)) {
      const fix = name === "scope" ? "Use the scopes option instead." : "The proxy sets this parameter itself; remove it.";
      throw new OptionError(`authorizationParams.${name}`, params[name], fix);
    }
  }
  return { ...(params as Record<string, string>) };
}

function timeoutOption(timeoutMs: unknown): number {
  if (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new OptionError("timeoutMs", timeoutMs, "Set it to a positive number of milliseconds, such as 10000.");
  }
  return timeoutMs;
}

function endpointOverridesOption(value: unknown): EndpointOverrideUrls {
  if (!isObject(value)) {
    throw new OptionError("endpoints", value, "Pass an object such as { token: \"https://login.example.com/token\" }.");
  }

  const urls: EndpointOverrideUrls = {};
  for (const [name, url] of Object.entries(value)) {
    if (!ENDPOINT_NAMES.has(name)) {
      throw new OptionError(`endpoints.${name}`, url, "Use the names authorization, token, userinfo, revocation and jwks.");
    }
    if (url !== undefined) {
      urls[name as keyof EndpointOverrides] = endpointOption(`endpoints.${name}`, url);
    }
  }
  return urls;
}

/**
 * Returns why `value` cannot be a provider endpoint, or `undefined` when it can:
 * an absolute https URL without a fragment (RFC 6749 §3.1), or http on a loopback host.
 */
export function endpointProblem(value: unknown): string | undefined {
  const url = typeof value === "string" ? parseUrl(value) : undefined;
  if (url === undefined) {
    return "Use an absolute URL such as https://login.example.com/oauth2/token.";
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHost(url.hostname))) {
    return "Use an https:// URL; http:// is accepted only for 127.0.0.1, localhost and [::1].";
  }
  if (url.hash !== "" || (typeof value === "string" && value.includes("#"))) {
    return "Remove the #fragment; RFC 6749 §3.1 forbids one.";
  }
  return undefined;
}

/** Validates an endpoint option and returns it as a URL, throwing `OptionError` otherwise. */
export function endpointOption(option: string, value: unknown): URL {
  const problem = endpointProblem(value);
  if (problem !== undefined) {
    throw new OptionError(option, value, problem);
  }
  return new URL(value as string);
}

/** Like `endpointOption`, but `undefined` passes through. */
export function optionalEndpointOption(option: string, value: unknown): URL | undefined {
  return value === undefined ? undefined : endpointOption(option, value);
}

/** Validates an issuer identifier option and returns it unchanged, since issuers compare as exact strings. */
export function issuerOption(option: string, value: unknown): string {
  const problem = endpointProblem(value);
  if (problem !== undefined) {
    throw new OptionError(option, value, problem);
  }
  if (new URL(value as string).search !== "" || (value as string).includes("?")) {
    throw new OptionError(option, value, "Remove the query; an issuer identifier has none (RFC 8414 §2).");
  }
  return value as string;
}

// URL.parse would do, but it arrived in Node 20.18 and the package supports all of Node 20.
function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === "127.0.0.1" || hostname === "localhost" || hostname === "[::1]";
}
