/** Origins a protected route accepts in an `Origin` request header; `"*"` accepts every origin. */
export type AllowedOrigins = "*" | { exact: ReadonlySet<string>; anyPort: ReadonlySet<string> };

// scheme "://" host [":" (port | "*")], with nothing after the authority (RFC 6454 §6.2 serialization).
// "*" is rejected in the host, so "https://*.example.com" is not mistaken for a subdomain wildcard.
const ORIGIN_PATTERN = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(\[[0-9A-Fa-f:.]+\]|[^/?#@:[\]\s*]+)(?::(\d{1,5}|\*))?$/;

/**
 * Parses allowed-origin entries such as `"https://app.example.com"` or
 * `"http://localhost:*"` (any port), returning the entries it could not read in `invalid`.
 */
export function parseAllowedOrigins(entries: readonly string[]): { allowed: AllowedOrigins; invalid: string[] } {
  const exact = new Set<string>();
  const anyPort = new Set<string>();
  const invalid: string[] = [];

  for (const entry of entries) {
    const match = ORIGIN_PATTERN.exec(entry);
    const scheme = match?.[1]?.toLowerCase();
    const host = match?.[2]?.toLowerCase();
    if (match === null || scheme === undefined || host === undefined) {
      invalid.push(entry);
      continue;
    }

    if (match[3] === "*") {
      anyPort.add(`${scheme}://${host}`);
      continue;
    }
    const key = originKey(entry);
    if (key === undefined) {
      invalid.push(entry);
      continue;
    }
    exact.add(key);
  }
  return { allowed: { exact, anyPort }, invalid };
}

/**
 * Checks an `Origin` header value against the allowed origins. A value that is
 * not a serialized origin, `null` included, is never allowed unless all are.
 */
export function isAllowedOrigin(allowed: AllowedOrigins, header: string): boolean {
  if (allowed === "*") {
    return true;
  }

  const match = ORIGIN_PATTERN.exec(header);
  const key = match === null || match[3] === "*" ? undefined : originKey(header);
  if (match === null || key === undefined) {
    return false;
  }
  if (allowed.exact.has(key)) {
    return true;
  }

  const url = new URL(header);
  return (url.protocol === "http:" || url.protocol === "https:") && allowed.anyPort.has(`${url.protocol}//${url.hostname}`);
}

// http and https origins compare after WHATWG URL serialization, which lowercases the
// host and drops a default port. Other schemes (browser extensions) compare as lowercase text.
function originKey(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url.origin : value.toLowerCase();
}
