import { OptionError } from "../errors.js";
import type { TextOutput } from "./browser.js";
import { FileTokenStore } from "./file-token-store.js";
import type { PreRegisteredClient } from "./registration.js";
import type { TokenStore } from "./token-store.js";

/** Options of `new OAuthClient()`. */
export interface OAuthClientOptions {
  /** URL of the MCP endpoint. Stored credentials are keyed by it. */
  serverUrl: string | URL;
  /** Name shown to the user on the consent page; default `"MCP client"`. */
  clientName?: string;
  /** Further RFC 7591 metadata for dynamic registration, such as `client_uri`, `logo_uri` or `software_id`. */
  registrationMetadata?: Record<string, unknown>;
  /** Scopes to request when neither the server's challenge nor its resource metadata names any. */
  scope?: string;
  /** A client registered ahead of time; preferred over every other way of getting a client ID. */
  clientId?: string;
  clientSecret?: string;
  /** `client_secret_basic`, `client_secret_post` or `none` for the pre-registered client; chosen from the server metadata when left out. */
  tokenEndpointAuthMethod?: string;
  /**
   * HTTPS URL of this client's Client ID Metadata Document, sent as `client_id`
   * to servers that declare `client_id_metadata_document_supported`.
   */
  clientMetadataUrl?: string;
  /** Store for registrations and tokens; default a `FileTokenStore` in the user's config folder. */
  store?: TokenStore;
  /** Port of the loopback callback server on 127.0.0.1; 0 (the default) picks a free port for each sign-in. */
  callbackPort?: number;
  /** Path of the redirect URI; default `/callback`. */
  callbackPath?: string;
  /** Seconds to wait for the user to finish signing in; default 300. */
  authorizationTimeout?: number;
  /** Seconds before the access token expires at which it is refreshed; default 60. */
  refreshBefore?: number;
  /**
   * Called with the authorization URL instead of opening the browser, for
   * apps that show the URL their own way, and for tests.
   */
  onAuthorizationUrl?: (url: URL) => void | Promise<void>;
  /** Stream the authorization URL is printed to when the browser is opened; default `process.stderr`. */
  output?: TextOutput;
  /** The fetch used for discovery, registration, token requests and the MCP requests of `OAuthClient.fetch`; default the global one. */
  fetch?: typeof fetch;
}

/** Options after validation, with defaults filled in. */
export interface ResolvedClientOptions {
  serverUrl: URL;
  /** The key of this server in the token store: the server URL without a fragment. */
  storeKey: string;
  clientName: string;
  registrationMetadata: Record<string, unknown>;
  scope: string | undefined;
  preRegistered: PreRegisteredClient | undefined;
  clientMetadataUrl: string | undefined;
  store: TokenStore;
  callbackPort: number;
  callbackPath: string;
  timeoutMs: number;
  refreshBefore: number;
  onAuthorizationUrl: ((url: URL) => void | Promise<void>) | undefined;
  output: TextOutput;
  fetch: typeof fetch;
}

/** Validates `OAuthClient` options, failing with an `OptionError` that names the option and the fix. */
export function resolveClientOptions(options: OAuthClientOptions): ResolvedClientOptions {
  const serverUrl = parseServerUrl(options.serverUrl);
  checkPreRegistration(options);
  checkClientMetadataUrl(options.clientMetadataUrl);
  checkNumber("callbackPort", options.callbackPort, (value) => Number.isInteger(value) && value >= 0 && value <= 65535, "Use a port from 0 to 65535; 0 picks a free one.");
  checkNumber("authorizationTimeout", options.authorizationTimeout, (value) => value > 0, "Use a number of seconds greater than 0.");
  checkNumber("refreshBefore", options.refreshBefore, (value) => value >= 0, "Use a number of seconds, 0 or more.");
  if (options.callbackPath !== undefined && !/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/.test(options.callbackPath)) {
    throw new OptionError("callbackPath", options.callbackPath, "Use a URL path that starts with \"/\", such as \"/callback\".");
  }

  const withoutFragment = new URL(serverUrl);
  withoutFragment.hash = "";
  return {
    serverUrl,
    storeKey: withoutFragment.href,
    clientName: options.clientName ?? "MCP client",
    registrationMetadata: options.registrationMetadata ?? {},
    scope: options.scope,
    preRegistered: options.clientId === undefined
      ? undefined
      : {
        clientId: options.clientId,
        ...(options.clientSecret === undefined ? {} : { clientSecret: options.clientSecret }),
        ...(options.tokenEndpointAuthMethod === undefined ? {} : { tokenEndpointAuthMethod: options.tokenEndpointAuthMethod }),
      },
    clientMetadataUrl: options.clientMetadataUrl,
    store: options.store ?? new FileTokenStore(),
    callbackPort: options.callbackPort ?? 0,
    callbackPath: options.callbackPath ?? "/callback",
    timeoutMs: (options.authorizationTimeout ?? 300) * 1000,
    refreshBefore: options.refreshBefore ?? 60,
    onAuthorizationUrl: options.onAuthorizationUrl,
    output: options.output ?? process.stderr,
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
  };
}

function parseServerUrl(value: unknown): URL {
  let url: URL | undefined;
  if (value instanceof URL) {
    url = value;
  } else if (typeof value === "string" && URL.canParse(value)) {
    url = new URL(value);
  }
  if (url === undefined || (url.protocol !== "https:" && url.protocol !== "http:")) {
    throw new OptionError("serverUrl", value, "Pass the http(s) URL of the MCP endpoint, such as \"https://mcp.example.com/mcp\".");
  }
  return url;
}

function checkPreRegistration(options: OAuthClientOptions): void {
  if (options.clientId !== undefined && (typeof options.clientId !== "string" || options.clientId === "")) {
    throw new OptionError("clientId", options.clientId, "Pass the client ID registered at the authorization server, or leave it out.");
  }
  if (options.clientId === undefined && options.clientSecret !== undefined) {
    throw new OptionError("clientSecret", "(set)", "A clientSecret needs the clientId it belongs to; set clientId as well.");
  }
  const method = options.tokenEndpointAuthMethod;
  if (method !== undefined && !["client_secret_basic", "client_secret_post", "none"].includes(method)) {
    throw new OptionError("tokenEndpointAuthMethod", method, "Use \"client_secret_basic\", \"client_secret_post\" or \"none\".");
  }
}

// The MCP authorization spec requires an HTTPS URL with a path for a client ID metadata document.
function checkClientMetadataUrl(value: string | undefined): void {
  if (value === undefined) {
    return;
  }
  const url = typeof value === "string" && URL.canParse(value) ? new URL(value) : undefined;
  if (url === undefined || url.protocol !== "https:" || url.pathname === "/" || url.hash !== "") {
    throw new OptionError("clientMetadataUrl", value, "Pass the https URL, with a path and no fragment, where this client's metadata document is published.");
  }
}

function checkNumber(option: string, value: number | undefined, valid: (value: number) => boolean, fix: string): void {
  if (value !== undefined && (typeof value !== "number" || !Number.isFinite(value) || !valid(value))) {
    throw new OptionError(option, value, fix);
  }
}
