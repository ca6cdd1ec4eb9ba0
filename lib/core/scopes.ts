// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/**
 * Checks that `value` is one RFC 6749 §3.3 scope-token.
 */
export function isValidScopeToken(value: string): boolean {
  return typeof value === "string" && SCOPE_TOKEN.test(value);
}

/**
 * Splits a `scope` parameter into unique scope-tokens in request order, returning `undefined` when any token is invalid.
 *
 * @example
 * parseScope("mcp:read  mcp:write mcp:read"); // ["mcp:read", "mcp:write"]
 * parseScope(undefined); // []
 * parseScope("a\"b"); // undefined
 */
export function parseScope(value: string | undefined): string[] | undefined {
  if (value === undefined || value === "") {
    return [];
  }

  // RFC 6749 §3.3 separates tokens with SP only, so a tab stays inside a token and makes it invalid.
  const tokens = value.split(/ +/).filter((token) => token !== "");
  if (!tokens.every(isValidScopeToken)) {
    return undefined;
  }

  return [...new Set(tokens)];
}

/**
 * Joins scope-tokens into a space-delimited `scope` value (RFC 6749 §3.3).
 */
export function formatScope(scopes: readonly string[]): string {
  return scopes.join(" ");
}

/**
 * Lists the scopes in `required` that `granted` lacks, once each and in `required` order.
 */
export function missingScopes(granted: readonly string[], required: readonly string[]): string[] {
  const grantedSet = new Set(granted);
  return [...new Set(required)].filter((scope) => !grantedSet.has(scope));
}
