import createDebug from "debug";
import type { Discovery } from "./discovery.js";
import { describeOAuthError, describeNetworkError, OAuthClientError } from "./errors.js";
import type { StoredClient } from "./token-store.js";

const debug = createDebug("mcp-oauth-proxy:client");

/** Client credentials configured ahead of time at the authorization server. */
export interface PreRegisteredClient {
  clientId: string;
  clientSecret?: string;
  /** `client_secret_basic`, `client_secret_post` or `none`; chosen from the server's metadata when left out. */
  tokenEndpointAuthMethod?: string;
}

/** The inputs of `chooseClient()` besides the discovery result. */
export interface ClientChoice {
  preRegistered: PreRegisteredClient | undefined;
  /** A registration stored earlier for the same authorization server. */
  stored: StoredClient | undefined;
  clientMetadataUrl: string | undefined;
  /** The RFC 7591 metadata sent for dynamic registration. */
  registrationMetadata: Record<string, unknown>;
  fetch: typeof fetch;
}

/**
 * Picks the client identity for an authorization server in the order the MCP
 * authorization spec prefers: pre-registered credentials, then a Client ID
 * Metadata Document URL when the server supports it, then dynamic registration.
 * A registration stored earlier for the same server is reused before registering again.
 */
export async function chooseClient(discovery: Discovery, choice: ClientChoice): Promise<StoredClient> {
  if (choice.preRegistered !== undefined) {
    return {
      client_id: choice.preRegistered.clientId,
      ...(choice.preRegistered.clientSecret === undefined ? {} : { client_secret: choice.preRegistered.clientSecret }),
      ...(choice.preRegistered.tokenEndpointAuthMethod === undefined ? {} : { token_endpoint_auth_method: choice.preRegistered.tokenEndpointAuthMethod }),
      kind: "pre-registered",
    };
  }

  if (choice.stored !== undefined && !isExpired(choice.stored)) {
    return choice.stored;
  }

  if (choice.clientMetadataUrl !== undefined && discovery.metadata?.client_id_metadata_document_supported === true) {
    debug("registration kind=metadata-document client_id=%s", choice.clientMetadataUrl);
    return { client_id: choice.clientMetadataUrl, token_endpoint_auth_method: "none", kind: "metadata-document" };
  }

  if (discovery.endpoints.registration === undefined) {
    throw new OAuthClientError(
      "ERR_MCP_OAUTH_CLIENT_REGISTRATION",
      `The authorization server ${discovery.authorizationServer} offers no dynamic client registration`
        + `${choice.clientMetadataUrl === undefined ? " and no client ID metadata documents" : " and does not accept client ID metadata documents"}; `
        + "register a client there and pass its clientId (and clientSecret) to OAuthClient.",
    );
  }
  return register(discovery.endpoints.registration, choice.registrationMetadata, choice.fetch);
}

async function register(endpoint: string, metadata: Record<string, unknown>, fetchFn: typeof fetch): Promise<StoredClient> {
  let response: Response;
  try {
    response = await fetchFn(endpoint, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(metadata),
    });
  } catch (error) {
    throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_REGISTRATION", `Could not reach the registration endpoint ${endpoint}: ${describeNetworkError(error)}`, { cause: error });
  }

  const body = await response.json().catch(() => undefined) as Record<string, unknown> | undefined;
  if (!response.ok) {
    const error = typeof body?.error === "string" ? body.error : undefined;
    const reason = error === undefined ? `status ${response.status}` : describeOAuthError(error, body?.error_description as string | undefined);
    throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_REGISTRATION", `Dynamic client registration at ${endpoint} failed: ${reason}.`, error === undefined ? {} : { oauthError: error });
  }
  if (typeof body?.client_id !== "string" || body.client_id === "") {
    throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_REGISTRATION", `The registration endpoint ${endpoint} returned no client_id.`);
  }

  debug("registration kind=dynamic client_id=%s", body.client_id);
  return {
    client_id: body.client_id,
    ...(typeof body.client_secret === "string" ? { client_secret: body.client_secret } : {}),
    ...(typeof body.client_secret_expires_at === "number" ? { client_secret_expires_at: body.client_secret_expires_at } : {}),
    ...(typeof body.token_endpoint_auth_method === "string" ? { token_endpoint_auth_method: body.token_endpoint_auth_method } : {}),
    kind: "dynamic",
  };
}

// RFC 7591 §3.2.1: 0 means the secret never expires.
function isExpired(client: StoredClient): boolean {
  const expiresAt = client.client_secret_expires_at;
  return expiresAt !== undefined && expiresAt !== 0 && expiresAt * 1000 <= Date.now();
}
