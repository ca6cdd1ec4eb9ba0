import { InvalidTargetError } from "../errors.js";

/**
 * Resolves an RFC 8707 `resource` parameter to the canonical URL of a protected
 * resource, or throws `invalid_target`.
 *
 * Scheme and host compare case-insensitively (RFC 3986 §6.2.2.1) and everything
 * else exactly, except that one trailing slash on the path is ignored: clients
 * build `https://host/mcp/` and `https://host/mcp` for the same endpoint. With a
 * single resource, its origin is accepted as an alias, because clients that fall
 * back to the root metadata document send the origin.
 */
export function resolveResource(value: string | undefined, resources: readonly string[]): string {
  const first = resources[0];
  if (first === undefined) {
    throw new InvalidTargetError("No protected resource is configured");
  }
  if (value === undefined) {
    return first;
  }

  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidTargetError("The resource must be an absolute URI");
  }
  if (value.includes("#") || url.search !== "" || url.username !== "" || url.password !== "") {
    throw new InvalidTargetError("The resource must not contain a fragment, query or credentials");
  }

  const requested = withoutTrailingSlash(url.origin + url.pathname);
  const found = resources.find((resource) => withoutTrailingSlash(resource) === requested);
  if (found !== undefined) {
    return found;
  }
  if (resources.length === 1 && requested === new URL(first).origin) {
    return first;
  }
  throw new InvalidTargetError("The resource is not protected by this server");
}

function withoutTrailingSlash(url: string): string {
  return url.endsWith("/") ? url.slice(0, -1) : url;
}
