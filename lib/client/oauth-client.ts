import type { OAuthClientProvider, OAuthDiscoveryState } from "@modelcontextprotocol/sdk/client/auth.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";
import createDebug from "debug";
import { randomToken } from "../core/random.js";
import { CallbackServer } from "./callback-server.js";
import { parseBearerChallenge } from "./challenge.js";
import type { BearerChallenge } from "./challenge.js";
import { resolveClientOptions } from "./client-options.js";
import type { OAuthClientOptions, ResolvedClientOptions } from "./client-options.js";
import { sameUrl } from "./discovery.js";
import { describeNetworkError, OAuthClientError } from "./errors.js";
import { receiveCode, registrationMetadata, signIn, unionScopes } from "./sign-in.js";
import type { SignInHints } from "./sign-in.js";
import { requestTokens } from "./token-request.js";
import type { StoredClient, StoredCredentials, StoredTokens } from "./token-store.js";

const debug = createDebug("mcp-oauth-proxy:client");

// RFC 6749 §5.2 errors after which the refresh token is useless and a new sign-in is needed.
const REFRESH_REJECTIONS = new Set(["invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope"]);

/**
 * The OAuth client of a command-line or desktop MCP app. It signs the user in
 * through the system browser and a loopback callback server, with PKCE. It
 * stores the tokens per server, refreshes them before they expire, and signs
 * in again when a refresh is rejected.
 *
 * It implements the MCP SDK's `OAuthClientProvider`, so it plugs into the
 * SDK's transports. Its `fetch` is a wrapper that also handles the server's
 * 401 and 403 challenges, including requests for more scopes.
 *
 * @example
 * const oauth = new OAuthClient({ serverUrl: "https://mcp.example.com/mcp", clientName: "Weather CLI" });
 * const transport = new StreamableHTTPClientTransport(new URL("https://mcp.example.com/mcp"), { authProvider: oauth, fetch: oauth.fetch });
 * await new Client({ name: "weather", version: "1.0.0" }).connect(transport);
 */
export class OAuthClient implements OAuthClientProvider {
  readonly #options: ResolvedClientOptions;
  #credentials: StoredCredentials | undefined;
  #loaded = false;
  #flight: Promise<StoredTokens | undefined> | undefined;
  #closing = new AbortController();
  // State of a flow the SDK drives through the provider methods below.
  #sdkState: string | undefined;
  #sdkCallback: CallbackServer | undefined;
  #sdkCodeVerifier: string | undefined;
  #sdkDiscovery: OAuthDiscoveryState | undefined;

  constructor(options: OAuthClientOptions) {
    this.#options = resolveClientOptions(options);
  }

  /**
   * A fetch for the MCP endpoint that sends the access token, and on a 401
   * signs in (with the challenge's scope and metadata URL) or on a 403
   * `insufficient_scope` signs in for the added scopes, then retries once.
   */
  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const send = (tokens: StoredTokens | undefined): Promise<Response> => {
      const headers = new Headers(init?.headers);
      if (tokens !== undefined) {
        headers.set("authorization", `Bearer ${tokens.access_token}`);
      }
      return this.#options.fetch(input, { ...init, headers });
    };

    const tokens = await this.#usableTokens();
    const response = await send(tokens);
    const challenge = challengeToAnswer(response);
    if (challenge === undefined) {
      return response;
    }

    await response.body?.cancel();
    // NOTE: the retry sends init.body again, which works for the strings the SDK transports send, not for streams.
    return send(await this.#answerChallenge(challenge, tokens));
  };

  /** Signs in now, whether or not tokens are stored, and returns the new tokens. */
  async authorize(hints: SignInHints = {}): Promise<OAuthTokens> {
    const probed = hints.resourceMetadataUrl === undefined && hints.scope === undefined ? await this.#probe() : undefined;
    const tokens = await this.#singleFlight(() => this.#signIn({ ...hints, ...challengeHints(probed) }));
    return this.#toSdkTokens(tokens as StoredTokens);
  }

  /** Forgets the tokens of this server; the client registration is kept. */
  async signOut(): Promise<void> {
    const credentials = await this.#load();
    if (credentials?.tokens !== undefined) {
      delete credentials.tokens;
      await this.#save(credentials);
    }
  }

  /** Cancels a sign-in in progress and closes its callback server. */
  async close(): Promise<void> {
    this.#closing.abort();
    this.#closing = new AbortController();
    await this.#sdkCallback?.close();
  }

  // ---- OAuthClientProvider ----

  get redirectUrl(): string {
    const port = this.#options.callbackPort === 0 ? "" : `:${this.#options.callbackPort}`;
    // RFC 8252 §7.3: servers accept any port on a loopback redirect URI, so the registered one may lack the real port.
    return this.#sdkCallback?.redirectUri ?? `http://127.0.0.1${port}${this.#options.callbackPath}`;
  }

  get clientMetadataUrl(): string | undefined {
    return this.#options.clientMetadataUrl;
  }

  get clientMetadata(): OAuthClientMetadata {
    return registrationMetadata(this.#options, this.redirectUrl, this.#options.scope) as OAuthClientMetadata;
  }

  /**
   * Returns a fresh `state`. The SDK calls this right before it builds the
   * authorization URL, so the callback server is started here and
   * `redirectUrl` carries its port.
   */
  async state(): Promise<string> {
    await this.#sdkCallback?.close();
    this.#sdkCallback = await CallbackServer.start({ port: this.#options.callbackPort, path: this.#options.callbackPath });
    this.#sdkState = randomToken(32);
    return this.#sdkState;
  }

  async clientInformation(): Promise<OAuthClientInformationMixed | undefined> {
    const preRegistered = this.#options.preRegistered;
    if (preRegistered !== undefined) {
      return {
        client_id: preRegistered.clientId,
        ...(preRegistered.clientSecret === undefined ? {} : { client_secret: preRegistered.clientSecret }),
      };
    }
    const credentials = await this.#load();
    const client = credentials?.client;
    if (credentials === undefined || client === undefined) {
      return undefined;
    }
    const { kind: _kind, ...information } = client;
    return { ...information, issuer: credentials.authorizationServer };
  }

  async saveClientInformation(information: OAuthClientInformationMixed): Promise<void> {
    if (this.#options.preRegistered !== undefined) {
      return;
    }
    const credentials = await this.#credentialsFor(information.issuer);
    credentials.client = {
      client_id: information.client_id,
      ...(information.client_secret === undefined ? {} : { client_secret: information.client_secret }),
      ...(information.client_secret_expires_at === undefined ? {} : { client_secret_expires_at: information.client_secret_expires_at }),
      ...("token_endpoint_auth_method" in information && information.token_endpoint_auth_method !== undefined
        ? { token_endpoint_auth_method: information.token_endpoint_auth_method }
        : {}),
      kind: information.client_id === this.#options.clientMetadataUrl ? "metadata-document" : "dynamic",
    };
    await this.#save(credentials);
  }

  /**
   * Returns tokens for the transport: the stored ones, refreshed when they
   * expire within `refreshBefore` seconds. With none stored, it sends the
   * server one request without a token and signs in when the response is 401,
   * so the first request of a new transport already carries a token.
   */
  async tokens(): Promise<OAuthTokens | undefined> {
    const usable = await this.#usableTokens();
    if (usable !== undefined) {
      return this.#toSdkTokens(usable);
    }

    const tokens = await this.#singleFlight(async () => {
      const challenge = await this.#probe();
      return challenge === undefined ? undefined : this.#signIn(challengeHints(challenge));
    });
    return tokens === undefined ? undefined : this.#toSdkTokens(tokens);
  }

  async saveTokens(tokens: OAuthTokens): Promise<void> {
    const credentials = await this.#credentialsFor(tokens.issuer);
    credentials.tokens = fromSdkTokens(tokens, credentials.tokens);
    const metadata = this.#sdkDiscovery?.authorizationServerMetadata;
    if (metadata !== undefined) {
      credentials.tokenEndpoint = metadata.token_endpoint;
      credentials.tokenEndpointAuthMethods = metadata.token_endpoint_auth_methods_supported;
    }
    await this.#save(credentials);
  }

  /**
   * Completes an authorization the SDK started: shows the URL, waits for the
   * callback, and exchanges the code itself, so the tokens are stored when
   * the SDK's call returns. The SDK transport then still rejects the request
   * that needed the sign-in with `UnauthorizedError`; a retry succeeds.
   */
  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    const callback = this.#sdkCallback;
    const state = this.#sdkState;
    if (callback === undefined || state === undefined || authorizationUrl.searchParams.get("redirect_uri") !== callback.redirectUri) {
      throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_CALLBACK_SERVER", "The authorization URL does not use this client's callback server; the MCP SDK did not call state() before building it.");
    }

    const metadata = this.#sdkDiscovery?.authorizationServerMetadata;
    try {
      const code = await receiveCode(this.#options, callback, authorizationUrl, {
        state,
        issuer: metadata?.issuer,
        // RFC 9207 §3: the SDK's metadata type does not list this field, although servers publish it.
        issuerRequired: (metadata as Record<string, unknown> | undefined)?.authorization_response_iss_parameter_supported === true,
      }, this.#closing.signal);
      await this.#exchangeSdkCode(code, authorizationUrl, callback.redirectUri);
    } finally {
      await callback.close();
      this.#sdkCallback = undefined;
      this.#sdkState = undefined;
    }
  }

  saveCodeVerifier(codeVerifier: string): void {
    this.#sdkCodeVerifier = codeVerifier;
  }

  codeVerifier(): string {
    if (this.#sdkCodeVerifier === undefined) {
      throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_TOKEN", "No PKCE code_verifier was saved for this sign-in.");
    }
    return this.#sdkCodeVerifier;
  }

  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this.#sdkDiscovery = state;
  }

  async invalidateCredentials(scope: "all" | "client" | "tokens" | "verifier" | "discovery"): Promise<void> {
    debug("invalidate server=%s scope=%s", this.#options.storeKey, scope);
    if (scope === "verifier" || scope === "all") {
      this.#sdkCodeVerifier = undefined;
    }
    if (scope === "discovery" || scope === "all") {
      this.#sdkDiscovery = undefined;
    }
    const credentials = await this.#load();
    if (credentials === undefined || scope === "verifier" || scope === "discovery") {
      return;
    }
    if (scope === "all") {
      this.#credentials = undefined;
      await this.#options.store.delete(this.#options.storeKey);
      return;
    }
    delete credentials[scope === "client" ? "client" : "tokens"];
    await this.#save(credentials);
  }

  // ---- internals ----

  async #exchangeSdkCode(code: string, authorizationUrl: URL, redirectUri: string): Promise<void> {
    const credentials = await this.#credentialsFor(this.#sdkDiscovery?.authorizationServerUrl);
    const client = this.#clientOf(credentials);
    const metadata = this.#sdkDiscovery?.authorizationServerMetadata;
    const tokenEndpoint = metadata?.token_endpoint ?? new URL("/token", credentials.authorizationServer).href;
    const resource = authorizationUrl.searchParams.get("resource") ?? undefined;
    credentials.tokens = await requestTokens(
      { url: tokenEndpoint, authMethods: metadata?.token_endpoint_auth_methods_supported },
      client,
      { grant_type: "authorization_code", code, redirect_uri: redirectUri, code_verifier: this.codeVerifier() },
      resource,
      this.#options.fetch,
    );
    credentials.tokenEndpoint = tokenEndpoint;
    credentials.tokenEndpointAuthMethods = metadata?.token_endpoint_auth_methods_supported;
    credentials.resource = resource;
    await this.#save(credentials);
  }

  async #answerChallenge(challenge: BearerChallenge, sent: StoredTokens | undefined): Promise<StoredTokens | undefined> {
    if (challenge.error === "insufficient_scope") {
      // Step-up: ask for what the token had plus what the server now requires, so no access is lost.
      const scope = unionScopes(sent?.scope, challenge.scope);
      return this.#singleFlight(() => this.#signIn({ resourceMetadataUrl: challenge.resourceMetadata, scope }));
    }

    return this.#singleFlight(async () => {
      // A token the server rejects before it expired (a revoked grant, a restarted server) may still refresh.
      const refreshed = sent?.refresh_token === undefined ? undefined : await this.#refreshOrForget(await this.#load());
      return refreshed ?? this.#signIn(challengeHints(challenge));
    });
  }

  async #usableTokens(): Promise<StoredTokens | undefined> {
    if (this.#flight !== undefined) {
      return this.#flight;
    }
    const credentials = await this.#load();
    const tokens = credentials?.tokens;
    if (credentials === undefined || tokens === undefined) {
      return undefined;
    }
    if (tokens.expires_at === undefined || Date.now() / 1000 < tokens.expires_at - this.#options.refreshBefore) {
      return tokens;
    }
    return this.#singleFlight(() => this.#refreshOrForget(credentials));
  }

  async #refreshOrForget(credentials: StoredCredentials | undefined): Promise<StoredTokens | undefined> {
    const tokens = credentials?.tokens;
    if (credentials === undefined || tokens === undefined) {
      return undefined;
    }
    const stillValid = tokens.expires_at === undefined || Date.now() / 1000 < tokens.expires_at;
    if (tokens.refresh_token === undefined || credentials.tokenEndpoint === undefined) {
      return stillValid ? tokens : this.#forgetTokens(credentials);
    }

    try {
      const refreshed = await requestTokens(
        { url: credentials.tokenEndpoint, authMethods: credentials.tokenEndpointAuthMethods },
        this.#clientOf(credentials),
        { grant_type: "refresh_token", refresh_token: tokens.refresh_token },
        credentials.resource,
        this.#options.fetch,
      );
      // RFC 6749 §6: the server may keep the refresh token and the scope unchanged and leave them out.
      credentials.tokens = { refresh_token: tokens.refresh_token, ...(tokens.scope === undefined ? {} : { scope: tokens.scope }), ...refreshed };
      await this.#save(credentials);
      debug("refreshed server=%s", this.#options.storeKey);
      return credentials.tokens;
    } catch (error) {
      const rejected = error instanceof OAuthClientError && error.oauthError !== undefined && REFRESH_REJECTIONS.has(error.oauthError);
      debug("refresh failed server=%s error=%s", this.#options.storeKey, (error as Error).message);
      if (rejected) {
        return this.#forgetTokens(credentials);
      }
      // The server could not be reached: the current token serves until it expires.
      if (stillValid) {
        return tokens;
      }
      throw error;
    }
  }

  async #forgetTokens(credentials: StoredCredentials): Promise<undefined> {
    delete credentials.tokens;
    await this.#save(credentials);
    return undefined;
  }

  async #signIn(hints: SignInHints): Promise<StoredTokens> {
    const { credentials } = await signIn(this.#options, await this.#load(), hints, this.#closing.signal);
    this.#credentials = credentials;
    return credentials.tokens as StoredTokens;
  }

  // Asks the MCP endpoint without a token: a 401 carries the challenge that steers sign-in.
  async #probe(): Promise<BearerChallenge | undefined> {
    const response = await this.#options.fetch(this.#options.serverUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: "mcp-oauth-proxy-client-probe", method: "ping" }),
    }).catch((error: unknown) => {
      throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_DISCOVERY", `Could not reach the MCP server ${this.#options.serverUrl.href}: ${describeNetworkError(error)}.`, { cause: error });
    });
    await response.body?.cancel();
    debug("probe server=%s status=%d", this.#options.storeKey, response.status);
    return response.status === 401 ? parseBearerChallenge(response.headers.get("www-authenticate")) ?? emptyChallenge() : undefined;
  }

  // Concurrent requests share one refresh or sign-in instead of starting several.
  #singleFlight(run: () => Promise<StoredTokens | undefined>): Promise<StoredTokens | undefined> {
    this.#flight ??= run().finally(() => {
      this.#flight = undefined;
    });
    return this.#flight;
  }

  #clientOf(credentials: StoredCredentials): StoredClient {
    const preRegistered = this.#options.preRegistered;
    if (preRegistered !== undefined) {
      return {
        client_id: preRegistered.clientId,
        ...(preRegistered.clientSecret === undefined ? {} : { client_secret: preRegistered.clientSecret }),
        ...(preRegistered.tokenEndpointAuthMethod === undefined ? {} : { token_endpoint_auth_method: preRegistered.tokenEndpointAuthMethod }),
        kind: "pre-registered",
      };
    }
    if (credentials.client === undefined) {
      throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_REGISTRATION", `No client is registered for ${this.#options.storeKey}; sign in first.`);
    }
    return credentials.client;
  }

  async #credentialsFor(authorizationServer: string | undefined): Promise<StoredCredentials> {
    const credentials = await this.#load();
    const server = authorizationServer ?? credentials?.authorizationServer ?? this.#sdkDiscovery?.authorizationServerUrl ?? this.#options.serverUrl.origin;
    if (credentials !== undefined && sameUrl(credentials.authorizationServer, server)) {
      return credentials;
    }
    this.#credentials = { authorizationServer: server };
    return this.#credentials;
  }

  async #load(): Promise<StoredCredentials | undefined> {
    if (!this.#loaded) {
      this.#credentials = await this.#options.store.get(this.#options.storeKey);
      this.#loaded = true;
    }
    return this.#credentials;
  }

  async #save(credentials: StoredCredentials): Promise<void> {
    this.#credentials = credentials;
    this.#loaded = true;
    await this.#options.store.set(this.#options.storeKey, credentials);
  }

  #toSdkTokens(tokens: StoredTokens): OAuthTokens {
    const expiresIn = tokens.expires_at === undefined ? undefined : Math.max(0, Math.floor(tokens.expires_at - Date.now() / 1000));
    return {
      access_token: tokens.access_token,
      token_type: tokens.token_type,
      ...(tokens.refresh_token === undefined ? {} : { refresh_token: tokens.refresh_token }),
      ...(tokens.scope === undefined ? {} : { scope: tokens.scope }),
      ...(expiresIn === undefined ? {} : { expires_in: expiresIn }),
      ...(this.#credentials === undefined ? {} : { issuer: this.#credentials.authorizationServer }),
    };
  }
}

function fromSdkTokens(tokens: OAuthTokens, previous: StoredTokens | undefined): StoredTokens {
  const refreshToken = tokens.refresh_token ?? previous?.refresh_token;
  return {
    access_token: tokens.access_token,
    token_type: tokens.token_type,
    ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
    ...(tokens.scope === undefined ? {} : { scope: tokens.scope }),
    ...(tokens.expires_in === undefined ? {} : { expires_at: Math.floor(Date.now() / 1000) + tokens.expires_in }),
  };
}

// A 401 requests a new token. A 403 does so only when the token lacks scope (RFC 6750 §3.1).
function challengeToAnswer(response: Response): BearerChallenge | undefined {
  if (response.status !== 401 && response.status !== 403) {
    return undefined;
  }
  const challenge = parseBearerChallenge(response.headers.get("www-authenticate"));
  if (response.status === 403) {
    return challenge?.error === "insufficient_scope" ? challenge : undefined;
  }
  return challenge ?? emptyChallenge();
}

function challengeHints(challenge: BearerChallenge | undefined): SignInHints {
  return { resourceMetadataUrl: challenge?.resourceMetadata, scope: challenge?.scope };
}

function emptyChallenge(): BearerChallenge {
  return { resourceMetadata: undefined, scope: undefined, error: undefined };
}
