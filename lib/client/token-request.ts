import { describeOAuthError, describeNetworkError, OAuthClientError } from "./errors.js";
import type { StoredClient, StoredTokens } from "./token-store.js";

/** The token endpoint URL and the client authentication methods it accepts. */
export interface TokenEndpoint {
  url: string;
  /** `token_endpoint_auth_methods_supported` from the metadata, when known. */
  authMethods: string[] | undefined;
}

/**
 * Sends a token request (RFC 6749 §4.1.3 or §6) with client authentication
 * and returns the tokens with an absolute expiry. `resource` is added when set (RFC 8707 §2.2).
 */
export async function requestTokens(
  endpoint: TokenEndpoint,
  client: StoredClient,
  params: Record<string, string>,
  resource: string | undefined,
  fetchFn: typeof fetch,
): Promise<StoredTokens> {
  const body = new URLSearchParams(params);
  if (resource !== undefined) {
    body.set("resource", resource);
  }
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
  authenticate(client, endpoint.authMethods, headers, body);

  let response: Response;
  try {
    response = await fetchFn(endpoint.url, { method: "POST", headers, body });
  } catch (error) {
    throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_TOKEN", `Could not reach the token endpoint ${endpoint.url}: ${describeNetworkError(error)}`, { cause: error });
  }

  const json = await response.json().catch(() => undefined) as Record<string, unknown> | undefined;
  if (!response.ok) {
    const error = typeof json?.error === "string" ? json.error : undefined;
    const reason = error === undefined ? `status ${response.status}` : describeOAuthError(error, json?.error_description as string | undefined);
    throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_TOKEN", `The token endpoint ${endpoint.url} rejected the ${params.grant_type} request: ${reason}.`, error === undefined ? {} : { oauthError: error });
  }
  return readTokenResponse(json, endpoint.url);
}

function readTokenResponse(json: Record<string, unknown> | undefined, url: string): StoredTokens {
  if (typeof json?.access_token !== "string" || json.access_token === "") {
    throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_TOKEN", `The token endpoint ${url} returned no access_token.`);
  }
  // RFC 6749 §5.1: token_type is case-insensitive; MCP uses Bearer tokens only.
  if (typeof json.token_type !== "string" || json.token_type.toLowerCase() !== "bearer") {
    throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_TOKEN", `The token endpoint ${url} returned token_type ${JSON.stringify(json.token_type)}; only Bearer tokens are supported.`);
  }

  const tokens: StoredTokens = { access_token: json.access_token, token_type: "Bearer" };
  if (typeof json.refresh_token === "string" && json.refresh_token !== "") {
    tokens.refresh_token = json.refresh_token;
  }
  if (typeof json.scope === "string") {
    tokens.scope = json.scope;
  }
  if (typeof json.expires_in === "number" && Number.isFinite(json.expires_in) && json.expires_in >= 0) {
    tokens.expires_at = Math.floor(Date.now() / 1000) + json.expires_in;
  }
  return tokens;
}

/**
 * Adds client authentication (RFC 6749 §2.3.1): the registered method when
 * there is one, else HTTP Basic when the server accepts it, else the body.
 * Public clients send only `client_id` (RFC 6749 §3.2.1).
 */
function authenticate(client: StoredClient, serverMethods: string[] | undefined, headers: Record<string, string>, body: URLSearchParams): void {
  const method = chooseAuthMethod(client, serverMethods);
  if (method === "client_secret_basic" && client.client_secret !== undefined) {
    // RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
    const credentials = `${formEncode(client.client_id)}:${formEncode(client.client_secret)}`;
    headers.authorization = `Basic ${Buffer.from(credentials, "utf8").toString("base64")}`;
    return;
  }

  body.set("client_id", client.client_id);
  if (method === "client_secret_post" && client.client_secret !== undefined) {
    body.set("client_secret", client.client_secret);
  }
}

function chooseAuthMethod(client: StoredClient, serverMethods: string[] | undefined): string {
  if (client.token_endpoint_auth_method !== undefined) {
    return client.token_endpoint_auth_method;
  }
  if (client.client_secret === undefined) {
    return "none";
  }
  // RFC 8414 §2: an absent list means client_secret_basic only.
  const methods = serverMethods ?? ["client_secret_basic"];
  if (methods.includes("client_secret_basic")) {
    return "client_secret_basic";
  }
  return methods.includes("client_secret_post") ? "client_secret_post" : "none";
}

function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, "+");
}
