import createDebug from "debug";
import { describeNetworkError, OAuthClientError } from "./errors.js";

const debug = createDebug("mcp-oauth-proxy:client");

/** The fields of RFC 9728 protected resource metadata the client uses. */
export interface ResourceMetadata {
  resource: string;
  authorization_servers?: string[];
  scopes_supported?: string[];
  [name: string]: unknown;
}

/** The fields of RFC 8414 authorization server metadata the client uses. */
export interface ServerMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  registration_endpoint?: string;
  revocation_endpoint?: string;
  scopes_supported?: string[];
  token_endpoint_auth_methods_supported?: string[];
  code_challenge_methods_supported?: string[];
  authorization_response_iss_parameter_supported?: boolean;
  client_id_metadata_document_supported?: boolean;
  [name: string]: unknown;
}

/** The result of discovery for one MCP server. */
export interface Discovery {
  /** The authorization server URL, as the resource metadata names it; the key for registrations and tokens. */
  authorizationServer: string;
  /** The `resource` to send (RFC 8707), or undefined when the server publishes no resource metadata. */
  resource: string | undefined;
  resourceMetadata: ResourceMetadata | undefined;
  /** Undefined only for servers that publish no metadata at all, where the default endpoints are used. */
  metadata: ServerMetadata | undefined;
  /** The endpoints to use, from the metadata or the 2025-03-26 MCP defaults. */
  endpoints: { authorization: string; token: string; registration: string | undefined; revocation: string | undefined };
}

type Fetch = typeof fetch;

/**
 * Finds the authorization server of an MCP server and reads its metadata: the
 * resource metadata from the challenge's URL or the RFC 9728 §3.1 well-known
 * locations, then RFC 8414 or OpenID Connect discovery metadata.
 *
 * A server without resource metadata is treated as the MCP 2025-03-26 revision
 * describes: its origin is the authorization server, with `/authorize`,
 * `/token` and `/register` when it publishes no metadata either.
 */
export async function discover(serverUrl: URL, resourceMetadataUrl: string | undefined, fetchFn: Fetch): Promise<Discovery> {
  const resourceMetadata = await fetchResourceMetadata(serverUrl, resourceMetadataUrl, fetchFn);
  if (resourceMetadata === undefined) {
    return discoverLegacy(serverUrl, fetchFn);
  }

  checkResource(serverUrl, resourceMetadata.resource);
  const authorizationServer = resourceMetadata.authorization_servers?.[0];
  if (typeof authorizationServer !== "string" || !URL.canParse(authorizationServer)) {
    throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_DISCOVERY", `The protected resource metadata of ${serverUrl.href} names no authorization server in authorization_servers.`);
  }

  const metadata = await fetchServerMetadata(new URL(authorizationServer), fetchFn);
  if (metadata === undefined) {
    throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_DISCOVERY", `No authorization server metadata was found for ${authorizationServer} (tried RFC 8414 and OpenID Connect discovery).`);
  }
  return {
    authorizationServer,
    resource: resourceMetadata.resource,
    resourceMetadata,
    metadata,
    endpoints: endpointsOf(metadata),
  };
}

async function discoverLegacy(serverUrl: URL, fetchFn: Fetch): Promise<Discovery> {
  const authorizationServer = serverUrl.origin;
  debug("discovery server=%s resource_metadata=none authorization_server=%s", serverUrl.href, authorizationServer);
  const metadata = await fetchServerMetadata(new URL(authorizationServer), fetchFn, "same-origin");
  const endpoints = metadata === undefined
    ? {
      authorization: `${authorizationServer}/authorize`,
      token: `${authorizationServer}/token`,
      registration: `${authorizationServer}/register`,
      revocation: undefined,
    }
    : endpointsOf(metadata);
  return { authorizationServer, resource: undefined, resourceMetadata: undefined, metadata, endpoints };
}

function endpointsOf(metadata: ServerMetadata): Discovery["endpoints"] {
  return {
    authorization: metadata.authorization_endpoint,
    token: metadata.token_endpoint,
    registration: metadata.registration_endpoint,
    revocation: metadata.revocation_endpoint,
  };
}

async function fetchResourceMetadata(serverUrl: URL, resourceMetadataUrl: string | undefined, fetchFn: Fetch): Promise<ResourceMetadata | undefined> {
  // RFC 9728 §3.1: the path of the resource goes after the well-known segment; the root document is the fallback.
  const candidates = resourceMetadataUrl === undefined ? [] : [resourceMetadataUrl];
  const path = serverUrl.pathname.replace(/\/$/, "");
  if (path !== "") {
    candidates.push(`${serverUrl.origin}/.well-known/oauth-protected-resource${path}`);
  }
  candidates.push(`${serverUrl.origin}/.well-known/oauth-protected-resource`);

  for (const url of candidates) {
    const document = await fetchJson(url, fetchFn);
    if (document === undefined) {
      continue;
    }
    if (typeof document.resource !== "string") {
      throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_DISCOVERY", `The protected resource metadata at ${url} has no "resource" string.`);
    }
    debug("discovery resource_metadata=%s", url);
    return document as ResourceMetadata;
  }
  return undefined;
}

/**
 * Fetches authorization server metadata for `issuer`, trying the locations
 * the MCP authorization spec lists in order, and checks that the document
 * names the same issuer (RFC 8414 §3.3).
 *
 * The 2025-03-26 fallback only requires the same origin, because that revision derives
 * the authorization server from the MCP server's origin and lets it publish
 * an issuer with a path, such as `https://mcp.example.com/oauth`.
 */
async function fetchServerMetadata(issuer: URL, fetchFn: Fetch, issuerMatch: "exact" | "same-origin" = "exact"): Promise<ServerMetadata | undefined> {
  const path = issuer.pathname.replace(/\/$/, "");
  const candidates = path === ""
    ? [`${issuer.origin}/.well-known/oauth-authorization-server`, `${issuer.origin}/.well-known/openid-configuration`]
    : [
      `${issuer.origin}/.well-known/oauth-authorization-server${path}`,
      `${issuer.origin}/.well-known/openid-configuration${path}`,
      `${issuer.origin}${path}/.well-known/openid-configuration`,
    ];

  for (const url of candidates) {
    const document = await fetchJson(url, fetchFn);
    if (document === undefined) {
      continue;
    }
    checkServerMetadata(document, issuer, url, issuerMatch);
    debug("discovery metadata=%s issuer=%s", url, document.issuer);
    return document as ServerMetadata;
  }
  return undefined;
}

function checkServerMetadata(document: Record<string, unknown>, issuer: URL, url: string, issuerMatch: "exact" | "same-origin"): void {
  const named = typeof document.issuer === "string" && URL.canParse(document.issuer) ? document.issuer : undefined;
  const matches = named !== undefined && (issuerMatch === "exact" ? sameUrl(named, issuer.href) : new URL(named).origin === issuer.origin);
  if (!matches) {
    throw new OAuthClientError(
      "ERR_MCP_OAUTH_CLIENT_DISCOVERY",
      `The authorization server metadata at ${url} names issuer ${JSON.stringify(document.issuer)}, but it was fetched for ${issuer.href} (RFC 8414 §3.3); the server may be misconfigured or impersonated.`,
    );
  }
  for (const field of ["authorization_endpoint", "token_endpoint"]) {
    if (typeof document[field] !== "string" || !URL.canParse(document[field])) {
      throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_DISCOVERY", `The authorization server metadata at ${url} has no valid ${field}.`);
    }
  }

  // The MCP authorization spec makes PKCE mandatory and has clients refuse servers that do not list S256.
  const methods = document.code_challenge_methods_supported;
  if (!Array.isArray(methods) || !methods.includes("S256")) {
    throw new OAuthClientError(
      "ERR_MCP_OAUTH_CLIENT_DISCOVERY",
      `The authorization server ${issuer.href} does not list S256 in code_challenge_methods_supported, so PKCE cannot be relied on; the client does not sign in there.`,
    );
  }
}

/**
 * Checks that the resource metadata covers the server URL: the same origin and
 * a path that is the server's path or a parent of it, as the MCP SDK also accepts.
 */
function checkResource(serverUrl: URL, resource: string): void {
  const resourceUrl = URL.canParse(resource) ? new URL(resource) : undefined;
  const resourcePath = resourceUrl?.pathname.replace(/\/?$/, "/");
  const serverPath = serverUrl.pathname.replace(/\/?$/, "/");
  if (resourceUrl === undefined || resourceUrl.origin !== serverUrl.origin || resourcePath === undefined || !serverPath.startsWith(resourcePath)) {
    throw new OAuthClientError(
      "ERR_MCP_OAUTH_CLIENT_RESOURCE_MISMATCH",
      `The protected resource metadata names resource ${JSON.stringify(resource)}, which does not cover ${serverUrl.href}; the client does not request tokens for another resource.`,
    );
  }
}

async function fetchJson(url: string, fetchFn: Fetch): Promise<Record<string, unknown> | undefined> {
  let response: Response;
  try {
    response = await fetchFn(url, { headers: { accept: "application/json" } });
  } catch (error) {
    throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_DISCOVERY", `Could not fetch ${url}: ${describeNetworkError(error)}`, { cause: error });
  }

  // A missing document is expected while walking the candidate locations.
  if (response.status === 404 || response.status === 405) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_DISCOVERY", `Fetching ${url} returned status ${response.status}.`);
  }

  const body: unknown = await response.json().catch(() => undefined);
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new OAuthClientError("ERR_MCP_OAUTH_CLIENT_DISCOVERY", `${url} did not return a JSON object.`);
  }
  return body as Record<string, unknown>;
}

/** Compares two URLs as parsed, treating a lone trailing slash as insignificant. */
export function sameUrl(a: string, b: string): boolean {
  if (!URL.canParse(a) || !URL.canParse(b)) {
    return a === b;
  }
  const strip = (value: string): string => new URL(value).href.replace(/\/$/, "");
  return strip(a) === strip(b);
}
