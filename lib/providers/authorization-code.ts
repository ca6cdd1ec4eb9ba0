import createDebug from "debug";
import { UpstreamError } from "../errors.js";
import { getJson, normalizeTokenResponse, postForm } from "./http.js";
import { checkClientOptions } from "./options.js";
import type { ClientDefaults, ClientOptions, ClientSettings } from "./options.js";
import type {
  AuthorizationUrlParams,
  CodeExchangeParams,
  UpstreamIdentity,
  UpstreamProvider,
  UpstreamTokens,
} from "./types.js";

const debug = createDebug("mcp-oauth-proxy:provider");

/** The provider URLs a sign-in uses. */
export interface ProviderEndpoints {
  authorizationEndpoint: URL;
  tokenEndpoint: URL;
  userinfoEndpoint: URL | undefined;
  revocationEndpoint: URL | undefined;
  /** The key set ID tokens are verified against, for providers that issue them. */
  jwksUri?: URL | undefined;
}

/** The grant a token request uses, for error messages and provider-specific error codes. */
export type TokenGrant = "authorization_code" | "refresh_token";

/**
 * The OAuth 2.0 authorization code flow with PKCE against a provider, with each
 * protocol step a protected method that provider-specific subclasses override.
 *
 * Constructors only check options; nothing contacts the provider before the
 * first sign-in, or before `ready()` when the application calls it at startup.
 */
export abstract class AuthorizationCodeProvider implements UpstreamProvider {
  readonly name: string;
  protected readonly client: ClientSettings;
  /** The issuer an RFC 9207 `iss` response parameter must equal, when known. */
  protected abstract readonly issuer: string | undefined;

  protected constructor(options: ClientOptions, defaults: ClientDefaults = {}) {
    this.client = checkClientOptions(options, defaults);
    this.name = options.name ?? defaults.name ?? "the identity provider";
  }

  /** Resolves the provider's own endpoints; a subclass may build or discover them. */
  protected abstract defaultEndpoints(): Promise<ProviderEndpoints>;

  abstract responseIssuer(): Promise<string | undefined>;

  /**
   * Contacts the provider once and checks that it matches the options (for
   * example, fetches and checks a discovery document), so an application can
   * fail at startup rather than on the first sign-in. Throws `UpstreamError`
   * with a message that names the URL and what was expected.
   */
  async ready(): Promise<void> {
    await this.endpoints();
  }

  /** Builds the RFC 6749 §4.1.1 authorization request URL with an S256 PKCE challenge (RFC 7636 §4.3). */
  async authorizationUrl(params: AuthorizationUrlParams): Promise<URL> {
    const { authorizationEndpoint } = await this.endpoints();
    const url = new URL(authorizationEndpoint);
    const scopes = this.upstreamScopes([...this.client.scopes, ...params.scopes]);

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
    }, "authorization_code");
    // NOTE: the scopes mapped for this sign-in are not passed to exchangeCode, so a
    // response without `scope` is recorded with the configured scopes only.
    return this.parseTokenResponse(body, this.client.scopes);
  }

  async refresh(tokens: UpstreamTokens): Promise<UpstreamTokens> {
    if (tokens.refreshToken === undefined) {
      throw new UpstreamError("invalid_grant", `${this.name} issued no refresh token for this grant, so it cannot be refreshed`);
    }

    const body = await this.tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refreshToken }, "refresh_token");
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
    await this.ignoreRejection(postForm(revocationEndpoint, params, { headers, timeoutMs: this.client.timeoutMs }));
    debug("revoked token_type_hint=%s provider=%s", hint, this.name);
  }

  /** Resolves the provider's endpoints and applies the `endpoints` option over them. */
  protected async endpoints(): Promise<ProviderEndpoints> {
    const own = await this.defaultEndpoints();
    const overrides = this.client.endpoints;
    return {
      authorizationEndpoint: overrides.authorization ?? own.authorizationEndpoint,
      tokenEndpoint: overrides.token ?? own.tokenEndpoint,
      userinfoEndpoint: overrides.userinfo ?? own.userinfoEndpoint,
      revocationEndpoint: overrides.revocation ?? own.revocationEndpoint,
      jwksUri: overrides.jwks ?? own.jwksUri,
    };
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
  protected async tokenRequest(params: Record<string, string>, grant: TokenGrant): Promise<Record<string, unknown>> {
    const { tokenEndpoint } = await this.endpoints();
    const request = this.authenticateClient(params);
    try {
      return await postForm(tokenEndpoint, request.params, { headers: request.headers, timeoutMs: this.client.timeoutMs });
    } catch (error) {
      throw error instanceof UpstreamError ? this.tokenError(error, grant) : error;
    }
  }

  /**
   * Classifies a failed token request. A rejected client is the operator's
   * configuration problem, so its message names the options to check.
   * Subclasses map provider-specific error codes here.
   */
  protected tokenError(error: UpstreamError, grant: TokenGrant): UpstreamError {
    if (error.failure !== "invalid_client") {
      return error;
    }
    return new UpstreamError(
      "invalid_client",
      `${error.message}: ${this.name} did not accept the proxy's client credentials. ` +
        `Check the clientId and clientSecret options, that the client authentication method is "${this.client.clientAuthentication}", ` +
        `and that the client may use the ${grant} grant`,
      withDetails(error),
    );
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

  /** Normalizes a token response and maps the granted scopes back; `requestedScopes` replace a missing `scope`. */
  protected parseTokenResponse(body: Record<string, unknown>, requestedScopes: string[]): UpstreamTokens {
    const tokens = normalizeTokenResponse(body, requestedScopes);
    if (typeof body.scope === "string") {
      tokens.scopes = [...new Set(tokens.scopes.map((scope) => this.localScope(scope)))];
    }
    return tokens;
  }

  /** Maps scope names the proxy uses to the names sent to the provider, removing duplicates. */
  protected upstreamScopes(scopes: string[]): string[] {
    return [...new Set(scopes.map((scope) => this.upstreamScope(scope)))];
  }

  /** Maps one scope name to the provider's name for it; the `scopeMap` option by default. */
  protected upstreamScope(scope: string): string {
    return this.client.scopeMap.get(scope) ?? scope;
  }

  /** Maps a scope name the provider granted back to the name the proxy uses; the inverse of `upstreamScope`. */
  protected localScope(scope: string): string {
    return this.client.scopeMapInverse.get(scope) ?? scope;
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

  /**
   * Awaits an upstream call whose rejection does not matter (revocation), logging it;
   * an unavailable provider still throws, so the caller can retry.
   */
  protected async ignoreRejection(call: Promise<unknown>): Promise<void> {
    try {
      await call;
    } catch (error) {
      if (!(error instanceof UpstreamError) || error.failure === "unavailable") {
        throw error;
      }
      debug("revoke failed failure=%s error=%s status=%s provider=%s", error.failure, error.upstreamError ?? "-", error.status ?? "-", this.name);
    }
  }
}

/** Returns the details of `error` that an error replacing it carries over, with `error` as the cause. */
export function withDetails(error: UpstreamError): { upstreamError?: string; status?: number; cause: unknown } {
  return {
    ...(error.upstreamError === undefined ? {} : { upstreamError: error.upstreamError }),
    ...(error.status === undefined ? {} : { status: error.status }),
    cause: error,
  };
}

// application/x-www-form-urlencoded encoding of one value, as RFC 6749 §2.3.1 and Appendix B require.
function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}
