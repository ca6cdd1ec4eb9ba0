import createDebug from "debug";
import { OptionError, UpstreamError } from "../errors.js";
import { DEFAULT_TIMEOUT_MS, getJson, isObject, normalizeTokenResponse, postForm } from "./http.js";
import type {
  AuthorizationUrlParams,
  CodeExchangeParams,
  UpstreamIdentity,
  UpstreamProvider,
  UpstreamTokens,
} from "./types.js";

const debug = createDebug("mcp-oauth-proxy:provider");

/** Client authentication method at the provider's token and revocation endpoints (RFC 6749 §2.3). */
export type ClientAuthentication = "client_secret_basic" | "client_secret_post" | "none";

/** Options every provider takes: the proxy's registration at the provider and request tuning. */
export interface ClientOptions {
  /** Name shown on the consent page; defaults to "the identity provider". */
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
}

/** Options for `OAuthProvider`: a plain OAuth 2.0 provider with explicit endpoints. */
export interface OAuthProviderOptions extends ClientOptions {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  /** Endpoint returning the signed-in user as JSON; `identify` needs it. */
  userinfoEndpoint?: string;
  /** RFC 7009 revocation endpoint; without it `revoke` does nothing. */
  revocationEndpoint?: string;
  /** The provider's issuer identifier; setting it requires and checks the RFC 9207 `iss` response parameter. */
  issuer?: string;
}

/** The provider URLs a sign-in uses. */
export interface ProviderEndpoints {
  authorizationEndpoint: URL;
  tokenEndpoint: URL;
  userinfoEndpoint: URL | undefined;
  revocationEndpoint: URL | undefined;
}

/** Client options after validation, with defaults applied. */
export interface ClientSettings {
  clientId: string;
  clientSecret: string | undefined;
  clientAuthentication: ClientAuthentication;
  scopes: string[];
  authorizationParams: Record<string, string>;
  subjectClaim: string;
  timeoutMs: number;
}

// Parameters the proxy sets itself; letting authorizationParams override them would
// break PKCE (RFC 7636 §4.3) or the callback.
const RESERVED_PARAMS = new Set(["response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"]);

const CLIENT_AUTHENTICATIONS = new Set<unknown>(["client_secret_basic", "client_secret_post", "none"]);

/**
 * The OAuth 2.0 authorization code flow with PKCE against a provider, with each
 * protocol step a protected method that provider-specific subclasses override.
 */
export abstract class AuthorizationCodeProvider implements UpstreamProvider {
  readonly name: string;
  protected readonly client: ClientSettings;
  /** The issuer an RFC 9207 `iss` response parameter must equal, when known. */
  protected abstract readonly issuer: string | undefined;

  protected constructor(options: ClientOptions, defaultScopes: string[]) {
    this.client = checkClientOptions(options, defaultScopes);
    this.name = options.name ?? "the identity provider";
  }

  /** Resolves the endpoints to call; a subclass may discover them. */
  protected abstract endpoints(): Promise<ProviderEndpoints>;

  abstract responseIssuer(): Promise<string | undefined>;

  /** Builds the RFC 6749 §4.1.1 authorization request URL with an S256 PKCE challenge (RFC 7636 §4.3). */
  async authorizationUrl(params: AuthorizationUrlParams): Promise<URL> {
    const { authorizationEndpoint } = await this.endpoints();
    const url = new URL(authorizationEndpoint);
    const scopes = [...new Set([...this.client.scopes, ...params.scopes])];

    url.searchParams.set("response_type", "code");
    url.searchParams.set("client_id", this.client.clientId);
    url.searchParams.set("redirect_uri", params.redirectUri);
    if (scopes.length > 0) {
      url.searchParams.set("scope", scopes.join(" "));
    }
    url.searchParams.set("state", params.state);
    url.searchParams.set("code_challenge", params.codeChallenge);
    url.searchParams.set("code_challenge_method", "S256");
    for (const [name, value] of Object.entries(this.client.authorizationParams)) {
      url.searchParams.set(name, value);
    }
    return url;
  }

  /** Checks the response issuer, then redeems the code at the token endpoint (RFC 6749 §4.1.3). */
  async exchangeCode(params: CodeExchangeParams): Promise<UpstreamTokens> {
    await this.checkResponseIssuer(params.iss);

    const body = await this.tokenRequest({
      grant_type: "authorization_code",
      code: params.code,
      redirect_uri: params.redirectUri,
      code_verifier: params.codeVerifier,
    });
    // NOTE: the scopes mapped for this sign-in are not passed to exchangeCode, so a
    // response without `scope` is recorded with the configured scopes only.
    return this.parseTokenResponse(body, this.client.scopes);
  }

  async refresh(tokens: UpstreamTokens): Promise<UpstreamTokens> {
    if (tokens.refreshToken === undefined) {
      throw new UpstreamError("invalid_grant", `${this.name} issued no refresh token for this grant, so it cannot be refreshed`);
    }

    const body = await this.tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refreshToken });
    // RFC 6749 §6: without a `scope` parameter the new token has the original scope.
    const refreshed = this.parseTokenResponse(body, tokens.scopes);
    // RFC 6749 §6 lets the provider keep the refresh token unchanged and omit it.
    refreshed.refreshToken ??= tokens.refreshToken;
    return refreshed;
  }

  /** Reads the user from the userinfo endpoint and takes the subject from the subject claim. */
  async identify(tokens: UpstreamTokens): Promise<UpstreamIdentity> {
    const claims = await this.fetchUserinfo(tokens);
    return { subject: this.subjectFrom(claims, this.client.subjectClaim), claims };
  }

  /**
   * Revokes the refresh token, or the access token when there is none (RFC 7009 §2.1).
   * Rejections are logged and ignored, because the proxy ends its own grant either
   * way; only an unavailable provider is reported, so the caller can retry.
   */
  async revoke(tokens: UpstreamTokens): Promise<void> {
    const { revocationEndpoint } = await this.endpoints();
    if (revocationEndpoint === undefined) {
      debug("revoke skipped reason=no-revocation-endpoint provider=%s", this.name);
      return;
    }

    const hint = tokens.refreshToken === undefined ? "access_token" : "refresh_token";
    const { params, headers } = this.authenticateClient({ token: tokens.refreshToken ?? tokens.accessToken, token_type_hint: hint });
    try {
      await postForm(revocationEndpoint, params, { headers, timeoutMs: this.client.timeoutMs });
      debug("revoked token_type_hint=%s provider=%s", hint, this.name);
    } catch (error) {
      if (!(error instanceof UpstreamError) || error.failure === "unavailable") {
        throw error;
      }
      debug("revoke failed failure=%s error=%s status=%s provider=%s", error.failure, error.upstreamError ?? "-", error.status ?? "-", this.name);
    }
  }

  /**
   * Rejects an authorization response whose `iss` differs from the issuer, or
   * that lacks `iss` although the provider sends it (RFC 9207 §2.4).
   */
  protected async checkResponseIssuer(iss: string | undefined): Promise<void> {
    if (iss !== undefined && this.issuer !== undefined && iss !== this.issuer) {
      throw new UpstreamError("protocol", `The authorization response came from issuer ${JSON.stringify(iss.slice(0, 200))}, not ${this.issuer} (RFC 9207 mix-up check)`);
    }

    const expected = await this.responseIssuer();
    if (iss === undefined && expected !== undefined) {
      throw new UpstreamError("protocol", `The authorization response has no iss parameter, but ${expected} always sends one (RFC 9207 §2.4)`);
    }
  }

  /** Posts a token request with client authentication and returns the response body. */
  protected async tokenRequest(params: Record<string, string>): Promise<Record<string, unknown>> {
    const { tokenEndpoint } = await this.endpoints();
    const request = this.authenticateClient(params);
    return postForm(tokenEndpoint, request.params, { headers: request.headers, timeoutMs: this.client.timeoutMs });
  }

  /** Adds client authentication to a token or revocation request (RFC 6749 §2.3.1). */
  protected authenticateClient(params: Record<string, string>): { params: Record<string, string>; headers: Record<string, string> } {
    const { clientId, clientSecret, clientAuthentication } = this.client;

    if (clientAuthentication === "client_secret_basic" && clientSecret !== undefined) {
      // RFC 6749 §2.3.1: the id and secret are form-urlencoded before base64, which
      // matters for secrets that contain ":", "+" or "%".
      const credentials = `${formEncode(clientId)}:${formEncode(clientSecret)}`;
      return { params, headers: { authorization: `Basic ${Buffer.from(credentials).toString("base64")}` } };
    }
    if (clientAuthentication === "client_secret_post" && clientSecret !== undefined) {
      return { params: { ...params, client_id: clientId, client_secret: clientSecret }, headers: {} };
    }
    // RFC 6749 §4.1.3: a public client identifies itself with client_id.
    return { params: { ...params, client_id: clientId }, headers: {} };
  }

  /** Normalizes a token response; `requestedScopes` replace a missing `scope`. */
  protected parseTokenResponse(body: Record<string, unknown>, requestedScopes: string[]): UpstreamTokens {
    return normalizeTokenResponse(body, requestedScopes);
  }

  /** Fetches the userinfo claims with the access token as a Bearer credential (RFC 6750 §2.1). */
  protected async fetchUserinfo(tokens: UpstreamTokens): Promise<Record<string, unknown>> {
    const { userinfoEndpoint } = await this.endpoints();
    if (userinfoEndpoint === undefined) {
      throw new UpstreamError("protocol", `No userinfo endpoint is configured for ${this.name}; set userinfoEndpoint so the proxy can tell who signed in`);
    }

    return getJson(userinfoEndpoint, {
      headers: { authorization: `Bearer ${tokens.accessToken}` },
      timeoutMs: this.client.timeoutMs,
    });
  }

  /** Reads the user id from `claims[claim]`, accepting numeric ids such as GitHub's. */
  protected subjectFrom(claims: Record<string, unknown>, claim: string): string {
    const value = claims[claim];
    if (typeof value === "string" && value !== "") {
      return value;
    }
    if (typeof value === "number" && Number.isSafeInteger(value)) {
      return String(value);
    }
    throw new UpstreamError("protocol", `The user claims from ${this.name} have no string or integer "${claim}" member to use as the user id`);
  }
}

/**
 * An upstream OAuth 2.0 provider with explicitly configured endpoints.
 *
 * @example
 * const provider = new OAuthProvider({
 *   clientId: "proxy",
 *   clientSecret: process.env.UPSTREAM_CLIENT_SECRET,
 *   authorizationEndpoint: "https://login.example.com/oauth2/authorize",
 *   tokenEndpoint: "https://login.example.com/oauth2/token",
 *   userinfoEndpoint: "https://login.example.com/oauth2/userinfo",
 * });
 */
export class OAuthProvider extends AuthorizationCodeProvider {
  protected readonly issuer: string | undefined;
  private readonly configuredEndpoints: ProviderEndpoints;

  constructor(options: OAuthProviderOptions) {
    super(options, []);
    this.configuredEndpoints = {
      authorizationEndpoint: endpointOption("authorizationEndpoint", options.authorizationEndpoint),
      tokenEndpoint: endpointOption("tokenEndpoint", options.tokenEndpoint),
      userinfoEndpoint: optionalEndpointOption("userinfoEndpoint", options.userinfoEndpoint),
      revocationEndpoint: optionalEndpointOption("revocationEndpoint", options.revocationEndpoint),
    };
    this.issuer = options.issuer === undefined ? undefined : issuerOption("issuer", options.issuer);
  }

  protected async endpoints(): Promise<ProviderEndpoints> {
    return this.configuredEndpoints;
  }

  async responseIssuer(): Promise<string | undefined> {
    return this.issuer;
  }
}

function checkClientOptions(options: ClientOptions, defaultScopes: string[]): ClientSettings {
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

  const clientAuthentication = options.clientAuthentication ?? (options.clientSecret === undefined ? "none" : "client_secret_basic");
  if (!CLIENT_AUTHENTICATIONS.has(clientAuthentication)) {
    throw new OptionError("clientAuthentication", clientAuthentication, "Use \"client_secret_basic\", \"client_secret_post\" or \"none\".");
  }
  if (clientAuthentication !== "none" && options.clientSecret === undefined) {
    throw new OptionError("clientAuthentication", clientAuthentication, "This method needs clientSecret; set it, or use \"none\" for a public client.");
  }
  if (clientAuthentication === "none" && options.clientSecret !== undefined) {
    throw new OptionError("clientAuthentication", clientAuthentication, "A clientSecret is set but would never be sent; remove it or choose \"client_secret_basic\".");
  }

  return {
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    clientAuthentication,
    scopes: scopesOption(options.scopes ?? defaultScopes),
    authorizationParams: authorizationParamsOption(options.authorizationParams ?? {}),
    subjectClaim: options.subjectClaim ?? "sub",
    timeoutMs: timeoutOption(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
  };
}

function scopesOption(scopes: unknown): string[] {
  // RFC 6749 §3.3: a scope token is non-empty and contains no spaces or quotes.
  const valid = Array.isArray(scopes) && scopes.every((scope) => typeof scope === "string" && /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(scope));
  if (!valid) {
    throw new OptionError("scopes", scopes, "Pass an array of scope names without spaces, such as [\"openid\", \"email\"].");
  }
  return [...new Set(scopes as string[])];
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

function optionalEndpointOption(option: string, value: unknown): URL | undefined {
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

// application/x-www-form-urlencoded encoding of one value, as RFC 6749 §2.3.1 and Appendix B require.
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}
