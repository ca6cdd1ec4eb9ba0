// RFC 3986 §2: a URI consists of unreserved and reserved characters and
// percent-encodings only. Rejecting everything else up front (space, "\", "<",
// non-ASCII) means the raw string and what a browser navigates to cannot disagree.
const URI_CHARACTERS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

// scheme "://" host [":" port] [rest], read from the raw string. The host
// excludes "@", so a URI with userinfo does not split.
const AUTHORITY_URI = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(\[[^\]]*\]|[^/?#:@[\]]*)(?::(\d{1,5}))?([/?#][\s\S]*)?$/;

const LOOPBACK_IPV4 = /^127(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

const BLOCKED_SCHEMES = new Set(["javascript", "data", "file", "vbscript", "blob", "about", "ftp", "ws", "wss"]);

interface AuthorityUri {
  scheme: string;
  host: string;
  port: string | undefined;
  rest: string;
}

/**
 * Checks a redirect URI offered at client registration and returns why it is rejected, or `undefined` when it is acceptable.
 *
 * The reason does not repeat the URI, so the caller can say which entry of
 * `redirect_uris` it belongs to.
 *
 * @example
 * checkRedirectUriForRegistration("http://127.0.0.1:3000/callback"); // undefined
 * checkRedirectUriForRegistration("http://evil.example/cb"); // "The redirect URI must use https ..."
 */
export function checkRedirectUriForRegistration(uri: string): string | undefined {
  if (typeof uri !== "string" || uri === "") {
    return "The redirect URI must be a non-empty string";
  }

  // RFC 6749 §3.1.2: the redirection endpoint URI must not include a fragment.
  // URL parsing would drop an empty "#", so the raw string is checked.
  if (uri.includes("#")) {
    return "The redirect URI must not contain a fragment";
  }

  if (!URI_CHARACTERS.test(uri)) {
    return "The redirect URI contains characters that are not allowed in a URI (RFC 3986 §2)";
  }

  const scheme = SCHEME.exec(uri)?.[1]?.toLowerCase();
  if (scheme === undefined || !URL.canParse(uri)) {
    return "The redirect URI must be an absolute URI";
  }

  const authority = readAuthority(uri);
  if (authority?.includes("@")) {
    return "The redirect URI must not contain user information";
  }

  if (BLOCKED_SCHEMES.has(scheme)) {
    return `The redirect URI scheme "${scheme}:" is not allowed`;
  }

  if (scheme === "http" || scheme === "https") {
    return checkWebRedirectUri(uri, scheme);
  }

  return checkPrivateUseRedirectUri(scheme, authority);
}

/**
 * Finds `requested` among the registered redirect URIs and returns it, or `undefined` when none matches.
 *
 * Matching is exact code-point comparison (RFC 3986 §6.2.1) with one exception:
 * against a registered loopback URI the port may differ (RFC 8252 §7.3).
 *
 * @example
 * matchRedirectUri("http://127.0.0.1:54321/callback", ["http://127.0.0.1:3000/callback"]); // the requested URI
 * matchRedirectUri("https://app.example.com/cb/", ["https://app.example.com/cb"]); // undefined
 */
export function matchRedirectUri(requested: string, registered: readonly string[]): string | undefined {
  if (typeof requested !== "string" || requested.includes("#") || readAuthority(requested)?.includes("@")) {
    return undefined;
  }

  const matched = registered.some((candidate) => candidate === requested || matchesExceptPort(requested, candidate));
  return matched ? requested : undefined;
}

/**
 * Checks whether `uri` is an `http:` URI whose host is a loopback IP literal (127.0.0.0/8, [::1]) or `localhost`.
 */
export function isLoopbackRedirectUri(uri: string): boolean {
  if (typeof uri !== "string") {
    return false;
  }

  const parts = splitAuthorityUri(uri);
  return parts !== undefined && parts.scheme.toLowerCase() === "http" && isLoopbackHost(parts.host);
}

function checkWebRedirectUri(uri: string, scheme: string): string | undefined {
  const parts = splitAuthorityUri(uri);
  if (parts === undefined || parts.host === "") {
    return `The redirect URI must have the form ${scheme}://host/path with a non-empty host and a valid port`;
  }

  // RFC 6749 §3.1.2.1 recommends TLS for redirection endpoints. RFC 8252 §7.3
  // permits plain http for loopback hosts because the response never leaves the device.
  if (scheme === "http" && !isLoopbackHost(parts.host)) {
    return "The redirect URI must use https unless its host is 127.0.0.1, [::1] or localhost";
  }

  return undefined;
}

function checkPrivateUseRedirectUri(scheme: string, authority: string | undefined): string | undefined {
  // RFC 8252 §7.1: a private-use scheme should be a reverse domain name that the
  // client controls. Any app can claim a bare word such as "myapp:".
  if (scheme.includes(".") || (authority !== undefined && authority !== "")) {
    return undefined;
  }

  return `The redirect URI scheme "${scheme}:" must be a reverse domain name such as "com.example.app:" or be followed by "//" and a host`;
}

// RFC 8252 §7.3: the client picks its loopback port at request time, so only
// the port may differ. Everything else is compared byte for byte on the raw
// string, so "/x/../callback" does not match "/callback".
function matchesExceptPort(requested: string, registered: string): boolean {
  if (!isLoopbackRedirectUri(registered)) {
    return false;
  }

  const expected = splitAuthorityUri(registered);
  const actual = splitAuthorityUri(requested);
  if (expected === undefined || actual === undefined) {
    return false;
  }

  return (
    actual.scheme === expected.scheme &&
    actual.host === expected.host &&
    actual.rest === expected.rest &&
    (actual.port === undefined || Number(actual.port) <= 65535)
  );
}

function splitAuthorityUri(uri: string): AuthorityUri | undefined {
  const match = AUTHORITY_URI.exec(uri);
  if (match === null) {
    return undefined;
  }

  return { scheme: match[1] ?? "", host: match[2] ?? "", port: match[3], rest: match[4] ?? "" };
}

function readAuthority(uri: string): string | undefined {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(uri);
  return match?.[1];
}

function isLoopbackHost(host: string): boolean {
  return host.toLowerCase() === "localhost" || host === "[::1]" || LOOPBACK_IPV4.test(host);
}
