// RFC 3986 §2 characters, without "#" because a client id URL has no fragment.
// Everything else (space, "\", non-ASCII) is rejected, so the string compared
// with the document's client_id is the one that is fetched.
const URI_CHARACTERS = /^[A-Za-z0-9\-._~:/?[\]@!$&'()*+,;=%]+$/;

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

const MAX_LENGTH = 2000;

/**
 * Checks whether a `client_id` has a URI scheme, so it names a Client ID Metadata
 * Document rather than a registration. Sealed client ids are base64url with a dot
 * and never contain ":".
 */
export function isUrlClientId(clientId: string): boolean {
  return SCHEME.test(clientId);
}

/**
 * Checks the shape of a client id URL before anything is fetched and returns
 * why it is rejected, or `undefined` when it may be fetched.
 *
 * The rules are those of the Client ID Metadata Document draft, §3: https, a
 * path, no fragment, no user information and no "." or ".." segments. The URL
 * must also be in the form the WHATWG URL parser writes it, because the draft
 * forbids normalizing before the string comparison with the document's client_id.
 *
 * @example
 * checkClientIdUrl("https://app.example.com/client.json"); // undefined
 * checkClientIdUrl("https://app.example.com/a/../client.json"); // "The client_id URL must not contain ..."
 */
export function checkClientIdUrl(clientId: string): string | undefined {
  if (clientId.length > MAX_LENGTH) {
    return `The client_id URL is longer than ${MAX_LENGTH} characters`;
  }
  if (!clientId.startsWith("https://")) {
    return "The client_id URL must start with https://";
  }
  if (clientId.includes("#")) {
    return "The client_id URL must not contain a fragment";
  }
  if (!URI_CHARACTERS.test(clientId)) {
    return "The client_id URL contains characters that are not allowed in a URI (RFC 3986 §2)";
  }

  const afterScheme = clientId.slice("https://".length);
  const authorityEnd = afterScheme.search(/[/?]/);
  const authority = authorityEnd === -1 ? afterScheme : afterScheme.slice(0, authorityEnd);
  const rest = authorityEnd === -1 ? "" : afterScheme.slice(authorityEnd);
  if (authority.includes("@")) {
    return "The client_id URL must not contain a user name or password";
  }
  if (authority === "" || authority.startsWith(":")) {
    return "The client_id URL must have a host";
  }
  if (!rest.startsWith("/")) {
    return "The client_id URL must have a path, such as https://app.example.com/client.json";
  }

  const path = rest.split("?")[0] ?? "";
  if (path.split("/").some((segment) => DOT_SEGMENT.test(segment))) {
    return 'The client_id URL must not contain "." or ".." path segments';
  }

  return checkCanonical(clientId);
}

/** Checks a host name against `allowHosts` entries, where `*.example.com` matches every subdomain of example.com. */
export function isAllowedHost(hostname: string, allowHosts: readonly string[]): boolean {
  const host = hostname.toLowerCase();
  return allowHosts.some((entry) => (entry.startsWith("*.") ? host.endsWith(entry.slice(1)) : host === entry));
}

/** Returns the host (and port) of a client id URL, as the consent page shows it. */
export function clientIdHost(clientId: string): string | undefined {
  return URL.canParse(clientId) ? new URL(clientId).host : undefined;
}

function checkCanonical(clientId: string): string | undefined {
  if (!URL.canParse(clientId)) {
    return "The client_id URL is not a valid URL";
  }

  const canonical = new URL(clientId).href;
  if (canonical !== clientId) {
    return `The client_id URL must be written in canonical form (${canonical})`;
  }
  return undefined;
}
