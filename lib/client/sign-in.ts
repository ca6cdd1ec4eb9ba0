import createDebug from "debug";
import { createPkcePair } from "../core/pkce.js";
import { randomToken } from "../core/random.js";
import { openBrowser } from "./browser.js";
import { CallbackServer } from "./callback-server.js";
import type { ResolvedClientOptions } from "./client-options.js";
import { discover, sameUrl } from "./discovery.js";
import type { Discovery } from "./discovery.js";
import { chooseClient } from "./registration.js";
import { requestTokens } from "./token-request.js";
import type { StoredClient, StoredCredentials, StoredTokens } from "./token-store.js";

const debug = createDebug("mcp-oauth-proxy:client");

/** Hints from the server's challenge that steer discovery and the requested scope. */
export interface SignInHints {
  resourceMetadataUrl?: string | undefined;
  scope?: string | undefined;
}

/** The result of a completed sign-in: what to store, and the discovery it used. */
export interface SignInResult {
  credentials: StoredCredentials;
  discovery: Discovery;
}

/**
 * Runs the interactive authorization code flow with PKCE (RFC 6749 §4.1,
 * RFC 7636): discovery, client registration, the browser step through a
 * loopback callback server, and the code exchange. The callback server is
 * closed on every path out of this function.
 */
export async function signIn(
  options: ResolvedClientOptions,
  stored: StoredCredentials | undefined,
  hints: SignInHints,
  signal: AbortSignal,
): Promise<SignInResult> {
  const discovery = await discover(options.serverUrl, hints.resourceMetadataUrl, options.fetch);
  const credentials: StoredCredentials = stored !== undefined && sameUrl(stored.authorizationServer, discovery.authorizationServer)
    ? { ...stored }
    : { authorizationServer: discovery.authorizationServer };

  // Listening first gives the registration the redirect URI with the real port.
  const callback = await CallbackServer.start({ port: options.callbackPort, path: options.callbackPath });
  try {
    const scope = selectScope(hints.scope, discovery, options.scope);
    const client = await chooseClient(discovery, {
      preRegistered: options.preRegistered,
      stored: credentials.client,
      clientMetadataUrl: options.clientMetadataUrl,
      registrationMetadata: registrationMetadata(options, callback.redirectUri, scope),
      fetch: options.fetch,
    });
    if (client.kind !== "pre-registered") {
      credentials.client = client;
      // Saved before the browser step, so a sign-in the user abandons does not register again next time.
      await options.store.set(options.storeKey, credentials);
    }

    const tokens = await authorizeInBrowser(options, discovery, client, callback, scope, signal);
    credentials.tokens = tokens;
    credentials.tokenEndpoint = discovery.endpoints.token;
    credentials.resource = discovery.resource;
    if (discovery.metadata?.token_endpoint_auth_methods_supported !== undefined) {
      credentials.tokenEndpointAuthMethods = discovery.metadata.token_endpoint_auth_methods_supported;
    }
    await options.store.set(options.storeKey, credentials);
    debug("signed in server=%s client_id=%s scope=%s", options.storeKey, client.client_id, tokens.scope ?? scope ?? "");
    return { credentials, discovery };
  } finally {
    await callback.close();
  }
}

async function authorizeInBrowser(
  options: ResolvedClientOptions,
  discovery: Discovery,
  client: StoredClient,
  callback: CallbackServer,
  scope: string | undefined,
  signal: AbortSignal,
): Promise<StoredTokens> {
  const pkce = createPkcePair();
  const state = randomToken(32);
  const url = new URL(discovery.endpoints.authorization);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("client_id", client.client_id);
  url.searchParams.set("redirect_uri", callback.redirectUri);
  url.searchParams.set("code_challenge", pkce.challenge);
  url.searchParams.set("code_challenge_method", "S256");
  url.searchParams.set("state", state);
  if (scope !== undefined) {
    url.searchParams.set("scope", scope);
  }
  if (discovery.resource !== undefined) {
    url.searchParams.set("resource", discovery.resource);
  }

  const code = await receiveCode(options, callback, url, {
    state,
    issuer: discovery.metadata?.issuer,
    issuerRequired: discovery.metadata?.authorization_response_iss_parameter_supported === true,
  }, signal);

  return requestTokens(
    { url: discovery.endpoints.token, authMethods: discovery.metadata?.token_endpoint_auth_methods_supported },
    client,
    { grant_type: "authorization_code", code, redirect_uri: callback.redirectUri, code_verifier: pkce.verifier },
    discovery.resource,
    options.fetch,
  );
}

/**
 * Starts waiting at the callback server, hands the authorization URL to the
 * hook or the browser, and returns the checked code.
 */
export async function receiveCode(
  options: ResolvedClientOptions,
  callback: CallbackServer,
  authorizationUrl: URL,
  expected: { state: string; issuer: string | undefined; issuerRequired: boolean },
  signal: AbortSignal,
): Promise<string> {
  // A failing hook cancels the wait, which also closes the server and clears its timer.
  const cancel = new AbortController();
  const onAbort = (): void => cancel.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  if (signal.aborted) {
    cancel.abort();
  }

  try {
    const code = callback.waitForCode({ ...expected, timeoutMs: options.timeoutMs, signal: cancel.signal });
    // The outcome is awaited below; this keeps a rejection from counting as unhandled meanwhile.
    code.catch(() => undefined);
    try {
      if (options.onAuthorizationUrl === undefined) {
        await openBrowser(authorizationUrl.href, options.output);
      } else {
        await options.onAuthorizationUrl(new URL(authorizationUrl));
      }
    } catch (error) {
      cancel.abort();
      await code.catch(() => undefined);
      throw error;
    }
    return await code;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * Picks the scope to request in the order of the MCP authorization spec: the
 * challenge's `scope`, then all of the resource's `scopes_supported`, then the
 * configured scope. Without any, the parameter is left out.
 */
export function selectScope(challengeScope: string | undefined, discovery: Discovery, configured: string | undefined): string | undefined {
  if (challengeScope !== undefined && challengeScope.trim() !== "") {
    return challengeScope.trim();
  }
  const supported = discovery.resourceMetadata?.scopes_supported;
  if (Array.isArray(supported) && supported.length > 0) {
    return supported.join(" ");
  }
  return configured;
}

/** Joins scope strings, keeping the first occurrence of each scope. */
export function unionScopes(...scopes: Array<string | undefined>): string | undefined {
  const all = new Set(scopes.flatMap((scope) => (scope ?? "").split(" ").filter((item) => item !== "")));
  return all.size === 0 ? undefined : [...all].join(" ");
}

/** Builds the RFC 7591 metadata this client registers with. */
export function registrationMetadata(options: ResolvedClientOptions, redirectUri: string, scope: string | undefined): Record<string, unknown> {
  return {
    client_name: options.clientName,
    redirect_uris: [redirectUri],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
    ...(scope === undefined ? {} : { scope }),
    ...options.registrationMetadata,
  };
}
