import type { AccessTokenClaims } from "./jwt.js";

/**
 * Bounded map from an access token to the claims its signature check produced, so a repeated
 * token skips the check. An entry ends when its token expires, and the oldest entry goes when
 * the cache is full. Only tokens that passed verification are stored, so a caller without a
 * valid token cannot fill it.
 *
 * The cache replaces the signature check only. Callers must still check revocation on every
 * request, because a cached entry does not show whether the grant still exists.
 */
export class VerifiedTokenCache {
  readonly #maxEntries: number;
  readonly #entries = new Map<string, AccessTokenClaims>();

  /** Creates a cache of at most `maxEntries` tokens; 0 stores nothing. */
  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  /** Number of tokens held, including expired ones not yet looked up. */
  get size(): number {
    return this.#entries.size;
  }

  /** Returns the cached claims of `token` while it has not expired at `now` (epoch seconds). */
  get(token: string, now: number): AccessTokenClaims | undefined {
    const claims = this.#entries.get(token);
    if (claims === undefined) {
      return undefined;
    }
    if (claims.exp <= now) {
      this.#entries.delete(token);
      return undefined;
    }
    return claims;
  }

  /** Stores the verified claims of `token`, evicting the oldest entry when full. */
  set(token: string, claims: AccessTokenClaims): void {
    if (this.#maxEntries === 0) {
      return;
    }
    if (this.#entries.size >= this.#maxEntries && !this.#entries.has(token)) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) {
        this.#entries.delete(oldest.value);
      }
    }
    this.#entries.set(token, claims);
  }
}
