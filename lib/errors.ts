/**
 * An error with an OAuth error code, an HTTP status and a description that is
 * safe to send to the client. `detail` is for logs only and never sent.
 */
export class OAuthError extends Error {
  readonly error: string;
  readonly status: number;
  readonly detail: string | undefined;

  constructor(error: string, description: string, status = 400, detail?: string) {
    super(description);
    this.name = "OAuthError";
    this.error = error;
    this.status = status;
    this.detail = detail;
  }

  /** Returns the RFC 6749 §5.2 error body. */
  toJSON(): { error: string; error_description: string } {
    return { error: this.error, error_description: sanitizeDescription(this.message) };
  }
}

export class InvalidRequestError extends OAuthError {
  constructor(description: string, detail?: string) {
    super("invalid_request", description, 400, detail);
  }
}

export class InvalidClientError extends OAuthError {
  constructor(description: string, detail?: string) {
    super("invalid_client", description, 401, detail);
  }
}

export class InvalidGrantError extends OAuthError {
  constructor(description: string, detail?: string) {
    super("invalid_grant", description, 400, detail);
  }
}

export class UnauthorizedClientError extends OAuthError {
  constructor(description: string) {
    super("unauthorized_client", description, 400);
  }
}

export class UnsupportedGrantTypeError extends OAuthError {
  constructor(description: string) {
    super("unsupported_grant_type", description, 400);
  }
}

export class UnsupportedResponseTypeError extends OAuthError {
  constructor(description: string) {
    super("unsupported_response_type", description, 400);
  }
}

export class InvalidScopeError extends OAuthError {
  constructor(description: string) {
    super("invalid_scope", description, 400);
  }
}

/** RFC 8707 §2: the `resource` parameter names a resource this server does not protect. */
export class InvalidTargetError extends OAuthError {
  constructor(description: string) {
    super("invalid_target", description, 400);
  }
}

export class AccessDeniedError extends OAuthError {
  constructor(description: string) {
    super("access_denied", description, 400);
  }
}

export class InvalidClientMetadataError extends OAuthError {
  constructor(description: string) {
    super("invalid_client_metadata", description, 400);
  }
}

export class InvalidRedirectUriError extends OAuthError {
  constructor(description: string) {
    super("invalid_redirect_uri", description, 400);
  }
}

export class ServerError extends OAuthError {
  constructor(description: string, detail?: string) {
    super("server_error", description, 500, detail);
  }
}

export class TemporarilyUnavailableError extends OAuthError {
  constructor(description: string, detail?: string) {
    super("temporarily_unavailable", description, 503, detail);
  }
}

/** Ways an upstream call can fail, each mapped to a different OAuth error. */
export type UpstreamFailure =
  /** The upstream grant is gone (revoked, expired): the proxy grant ends too. */
  | "invalid_grant"
  /** The proxy's own upstream client credentials are wrong: an operator problem. */
  | "invalid_client"
  /** Network failure, timeout or 5xx: retry later, keep the grant. */
  | "unavailable"
  /** The provider returned a response the proxy cannot use. */
  | "protocol";

/**
 * A failed call to the upstream provider. The upstream response body is never
 * carried here, only its OAuth error code, so nothing upstream leaks to clients.
 */
export class UpstreamError extends Error {
  readonly failure: UpstreamFailure;
  readonly upstreamError: string | undefined;
  readonly status: number | undefined;

  constructor(failure: UpstreamFailure, message: string, options: { upstreamError?: string; status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "UpstreamError";
    this.failure = failure;
    this.upstreamError = options.upstreamError;
    this.status = options.status;
  }
}

/** Maps an upstream failure to the error returned to the MCP client. */
export function toClientError(error: UpstreamError): OAuthError {
  switch (error.failure) {
    case "invalid_grant":
      return new InvalidGrantError("The sign-in at the upstream provider is no longer valid", error.message);
    case "unavailable":
      return new TemporarilyUnavailableError("The upstream provider is unavailable; try again later", error.message);
    case "invalid_client":
    case "protocol":
      return new ServerError("The upstream provider rejected the proxy's request", error.message);
  }
}

/** A bad option passed to `oauthProxy()` or a provider; thrown at startup. */
export class OptionError extends TypeError {
  readonly code = "ERR_MCP_OAUTH_PROXY_OPTION";
  readonly option: string;

  constructor(option: string, value: unknown, fix: string) {
    super(`Invalid option ${option}: ${describeValue(value)}. ${fix}`);
    this.name = "OptionError";
    this.option = option;
  }

  /** An option name the factory does not know, most often a misspelling; its value is not shown, since it may be a secret. */
  static unknown(option: string, fix: string): OptionError {
    const error = new OptionError(option, undefined, fix);
    error.message = `Unknown option ${option}. ${fix}`;
    return error;
  }
}

function describeValue(value: unknown): string {
  if (typeof value === "string") {
    return value.length > 60 ? `a ${value.length}-character string` : JSON.stringify(value);
  }
  if (value === undefined || value === null || typeof value === "number" || typeof value === "boolean") {
    return String(value);
  }
  // Short lists of plain values are shown as they are; anything longer, or holding objects, only by size.
  if (Array.isArray(value)) {
    const shown = value.every((item) => typeof item === "string" || typeof item === "number") ? JSON.stringify(value) : undefined;
    return shown !== undefined && shown.length <= 80 ? shown : `an array of ${value.length}`;
  }
  return typeof value === "function" ? "a function" : "an object";
}

/**
 * RFC 6749 §5.2 allows only %x20-21 / %x23-5B / %x5D-7E in `error_description`,
 * which also keeps it safe inside an RFC 6750 quoted-string.
 */
export function sanitizeDescription(text: string): string {
  return text.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, "").slice(0, 300);
}
