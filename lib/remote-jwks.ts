import createDebug from "debug";

import type { TokenKey } from "./core/jwt.js";
import { importKeyPair, verificationKeyOf } from "./core/signing-keys.js";
import type { AsymmetricAlgorithm } from "./core/signing-keys.js";
import { UpstreamError } from "./errors.js";
import { getJson, isObject } from "./providers/http.js";

const debug = createDebug("mcp-oauth-proxy:verifier");

/** Timing of a {@link RemoteKeySet}, in seconds and milliseconds as named. */
export interface RemoteKeySetOptions {
  /** How long a fetched key set is used before it is fetched again. */
  cacheSeconds: number;
  /** Minimum time between two fetches caused by unknown `kid`s or failures. */
  cooldownSeconds: number;
  timeoutMs: number;
}

/**
 * Public keys fetched from a JWKS URL, cached for `cacheSeconds`. A `kid` missing from the cache
 * causes one refetch, at most once per `cooldownSeconds`, so tokens with made-up `kid`s cannot
 * turn every request into a fetch. Concurrent requests share one fetch.
 */
export class RemoteKeySet {
  readonly #url: URL;
  readonly #options: RemoteKeySetOptions;
  #keys = new Map<string, TokenKey>();
  #fetchedAt: number | undefined;
  #attemptedAt = Number.NEGATIVE_INFINITY;
  #lastError: unknown;
  #fetching: Promise<void> | undefined;

  constructor(url: URL, options: RemoteKeySetOptions) {
    this.#url = url;
    this.#options = options;
  }

  /**
   * Returns the key with `kid`, or `undefined` when the key set lacks it.
   *
   * @throws {UpstreamError} when the key set cannot be fetched and no earlier copy exists, or when
   * an unknown `kid` needs a refetch that fails.
   */
  async find(kid: string | undefined): Promise<TokenKey | undefined> {
    const now = Date.now();
    if (this.#fetchedAt === undefined || now - this.#fetchedAt >= this.#options.cacheSeconds * 1000) {
      await this.#refreshExpired(now);
    }

    const known = kid === undefined ? undefined : this.#keys.get(kid);
    if (known !== undefined || kid === undefined) {
      return known;
    }

    // A key missing from the cached set may have been added by rotation since the last fetch.
    if (this.#fetching === undefined && now - this.#attemptedAt < this.#options.cooldownSeconds * 1000) {
      debug("jwks unknown kid within cooldown");
      return undefined;
    }
    await this.#fetch("unknown-kid");
    return this.#keys.get(kid);
  }

  /** Refetches an expired key set. A failure keeps the previous copy, and only a key set never fetched is an error. */
  async #refreshExpired(now: number): Promise<void> {
    if (this.#fetching === undefined && now - this.#attemptedAt < this.#options.cooldownSeconds * 1000) {
      if (this.#fetchedAt === undefined) {
        throw this.#lastError;
      }
      return;
    }

    try {
      await this.#fetch("expired");
    } catch (error) {
      if (this.#fetchedAt === undefined) {
        throw error;
      }
      debug("jwks refetch failed, keeping %d cached keys error=%s", this.#keys.size, error instanceof Error ? error.message : String(error));
    }
  }

  #fetch(reason: string): Promise<void> {
    this.#fetching ??= this.#fetchOnce(reason).finally(() => {
      this.#fetching = undefined;
    });
    return this.#fetching;
  }

  async #fetchOnce(reason: string): Promise<void> {
    this.#attemptedAt = Date.now();
    try {
      const document = await getJson(this.#url, { timeoutMs: this.#options.timeoutMs });
      this.#keys = readKeySet(this.#url, document);
      this.#fetchedAt = Date.now();
      debug("jwks fetched reason=%s keys=%d", reason, this.#keys.size);
    } catch (error) {
      this.#lastError = error;
      throw error;
    }
  }
}

/** Reads the RS256 and ES256 signing keys of a JWKS (RFC 7517 §5); keys of other types, without `kid`, or for encryption are skipped. */
function readKeySet(url: URL, document: Record<string, unknown>): Map<string, TokenKey> {
  if (!Array.isArray(document.keys)) {
    throw new UpstreamError("protocol", `The JWKS at ${url.origin}${url.pathname} has no keys array`);
  }

  const keys = new Map<string, TokenKey>();
  for (const jwk of document.keys.filter(isObject)) {
    const algorithm = algorithmOf(jwk);
    if (algorithm === undefined || typeof jwk.kid !== "string" || jwk.kid === "" || (jwk.use !== undefined && jwk.use !== "sig")) {
      continue;
    }
    // Only the public members are read, in case a misconfigured server publishes a private key.
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicMembers } = jwk;
    try {
      keys.set(jwk.kid, verificationKeyOf(importKeyPair({ key: publicMembers, kid: jwk.kid }, algorithm)));
    } catch (error) {
      debug("jwks key skipped kid=%s reason=%s", jwk.kid, error instanceof Error ? error.message : String(error));
    }
  }
  return keys;
}

// A key's `alg` member is optional (RFC 7517 §4.4); when present it must match the key type.
function algorithmOf(jwk: Record<string, unknown>): AsymmetricAlgorithm | undefined {
  let implied: AsymmetricAlgorithm | undefined;
  if (jwk.kty === "RSA") {
    implied = "RS256";
  } else if (jwk.kty === "EC" && jwk.crv === "P-256") {
    implied = "ES256";
  }
  return jwk.alg === undefined || jwk.alg === implied ? implied : undefined;
}
