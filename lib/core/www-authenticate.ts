import { sanitizeDescription } from "../errors.js";
import { isValidScopeToken } from "./scopes.js";

/** Parameters of an RFC 6750 §3 Bearer challenge, where an absent or empty value omits its attribute. */
export interface BearerChallengeParams {
  realm?: string;
  error?: string;
  /** Text for `error_description`, reduced to the RFC 6749 §5.2 characters and cut to 300 characters. */
  errorDescription?: string;
  /** Scope-tokens for `scope`, dropping any with characters outside RFC 6749 §3.3. */
  scope?: readonly string[];
  /** URL of the RFC 9728 protected resource metadata document. */
  resourceMetadata?: string;
}

/** Result of reading an `Authorization` request header. */
export type AuthorizationHeader =
  | { kind: "none" }
  | { kind: "bearer"; token: string }
  | { kind: "other" }
  | { kind: "malformed"; reason: string };

// RFC 9110 §11.2: auth-scheme = token, and tchar excludes separators.
const CREDENTIALS = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?: +([\s\S]*))?$/;

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Builds a `WWW-Authenticate` Bearer challenge (RFC 6750 §3) with each attribute once, in a fixed order.
 *
 * @example
 * buildBearerChallenge({ resourceMetadata: "https://api.example.com/.well-known/oauth-protected-resource/mcp", scope: ["mcp:read"] });
 * // 'Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp:read"'
 */
export function buildBearerChallenge(params: BearerChallengeParams): string {
  const attributes: string[] = [];
  const scope = (params.scope ?? []).filter(isValidScopeToken).join(" ");

  addAttribute(attributes, "realm", params.realm);
  addAttribute(attributes, "error", params.error);
  addAttribute(attributes, "error_description", params.errorDescription && sanitizeDescription(params.errorDescription));
  addAttribute(attributes, "scope", scope);
  addAttribute(attributes, "resource_metadata", params.resourceMetadata);

  return attributes.length === 0 ? "Bearer" : `Bearer ${attributes.join(", ")}`;
}

/**
 * Reads an `Authorization` header value and extracts a Bearer token (RFC 6750 §2.1).
 *
 * @example
 * parseAuthorizationHeader("bearer abc.def"); // { kind: "bearer", token: "abc.def" }
 * parseAuthorizationHeader("Bearer a b"); // { kind: "malformed", reason: "..." }
 */
export function parseAuthorizationHeader(value: string | undefined): AuthorizationHeader {
  if (value === undefined || value === "") {
    return { kind: "none" };
  }

  // RFC 9110 §5.5: leading and trailing whitespace is not part of a field value.
  const match = CREDENTIALS.exec(value.replace(/^[ \t]+|[ \t]+$/g, ""));
  if (match === null) {
    return { kind: "malformed", reason: "The Authorization header is not a valid credentials value" };
  }

  // RFC 9110 §11.1: the auth-scheme is case-insensitive.
  if (match[1]?.toLowerCase() !== "bearer") {
    return { kind: "other" };
  }

  return readBearerToken(match[2] ?? "");
}

function readBearerToken(credentials: string): AuthorizationHeader {
  if (credentials === "") {
    return { kind: "malformed", reason: "The Authorization header has the Bearer scheme but no token" };
  }

  if (/[ \t]/.test(credentials)) {
    return { kind: "malformed", reason: "The Authorization header must contain exactly one Bearer token" };
  }

  if (!B64TOKEN.test(credentials)) {
    return { kind: "malformed", reason: "The Bearer token contains characters that are not allowed" };
  }

  return { kind: "bearer", token: credentials };
}

function addAttribute(attributes: string[], name: string, value: string | undefined): void {
  if (value !== undefined && value !== "") {
    attributes.push(`${name}=${quoteString(value)}`);
  }
}

// RFC 9110 §5.6.4: a quoted-string carries HTAB, SP and visible ASCII, with
// "\" and DQUOTE escaped. Anything else is dropped, because CR or LF would
// split the header and Node rejects them in header values.
function quoteString(value: string): string {
  const visible = value.replace(/[^\t\x20-\x7E]/g, "");
  return `"${visible.replace(/["\\]/g, "\\$&")}"`;
}
