/** Stable codes of `OAuthClientError`, one per kind of failure. */
export type OAuthClientErrorCode =
  /** The authorization response carried a `state` other than the one sent (RFC 6749 §10.12). */
  | "ERR_MCP_OAUTH_CLIENT_STATE_MISMATCH"
  /** The authorization response named another issuer, or none when one is required (RFC 9207 §2.4). */
  | "ERR_MCP_OAUTH_CLIENT_ISSUER_MISMATCH"
  /** The authorization server redirected back with an error such as `access_denied` (RFC 6749 §4.1.2.1). */
  | "ERR_MCP_OAUTH_CLIENT_AUTHORIZATION_ERROR"
  /** No authorization response reached the callback server in time. */
  | "ERR_MCP_OAUTH_CLIENT_TIMEOUT"
  /** The sign-in was cancelled by `OAuthClient.close()`. */
  | "ERR_MCP_OAUTH_CLIENT_CANCELLED"
  /** The loopback callback server could not listen. */
  | "ERR_MCP_OAUTH_CLIENT_CALLBACK_SERVER"
  /** Protected resource or authorization server metadata was missing or invalid. */
  | "ERR_MCP_OAUTH_CLIENT_DISCOVERY"
  /** The protected resource metadata names a resource that does not cover the server URL (RFC 9728 §3.3). */
  | "ERR_MCP_OAUTH_CLIENT_RESOURCE_MISMATCH"
  /** The client could not be registered, and no pre-registered client was configured. */
  | "ERR_MCP_OAUTH_CLIENT_REGISTRATION"
  /** The token endpoint rejected a code exchange or refresh, or returned an invalid body. */
  | "ERR_MCP_OAUTH_CLIENT_TOKEN";

/**
 * A failure of the client-side OAuth flow, with a stable `code`, a message that
 * names what failed and what to do, and the server's RFC 6749 `error` when there is one.
 *
 * @example
 * try {
 *   await oauth.authorize();
 * } catch (error) {
 *   if (error instanceof OAuthClientError && error.oauthError === "access_denied") {
 *     console.error("Sign-in was declined.");
 *   }
 * }
 */
export class OAuthClientError extends Error {
  readonly code: OAuthClientErrorCode;
  /** The RFC 6749 `error` value the server sent, such as `access_denied` or `invalid_grant`. */
  readonly oauthError: string | undefined;

  constructor(code: OAuthClientErrorCode, message: string, options: { oauthError?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "OAuthClientError";
    this.code = code;
    this.oauthError = options.oauthError;
  }
}

/** Formats an RFC 6749 error and its description for a message, quoting the server's text. */
export function describeOAuthError(error: string, description: string | null | undefined): string {
  return description ? `${error} (${JSON.stringify(description)})` : error;
}

/** Names why a request failed to go through: undici's "fetch failed" hides the reason (such as ECONNREFUSED) in `cause`. */
export function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === "string") {
    return cause.code;
  }
  if (typeof cause?.message === "string") {
    return cause.message;
  }
  return error instanceof Error ? error.message : String(error);
}
