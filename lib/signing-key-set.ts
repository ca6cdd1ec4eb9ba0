import type { JsonWebKey } from "node:crypto";

import createDebug from "debug";

import { DEFAULT_LEEWAY_SECONDS } from "./core/jwt.js";
import type { TokenKey } from "./core/jwt.js";
import { exportPrivateJwk, generateKeyPair, importKeyPair, signingKeyOf, StaticKeySet, verificationKeyOf } from "./core/signing-keys.js";
import type { AccessTokenKeySet, AsymmetricAlgorithm, KeyPair, PublicJwk } from "./core/signing-keys.js";
import { nowSeconds } from "./records.js";
import type { ResolvedJwtOptions } from "./signing-options.js";
import type { Storage } from "./storage/types.js";

const debug = createDebug("mcp-oauth-proxy:keys");

/** Minimum seconds between storage reloads, so tokens with made-up kids cannot flood the store. */
const RELOAD_COOLDOWN_SECONDS = 30;

/** Seconds after which loaded keys are read again in the background, so instances that diverged converge. */
const REFRESH_SECONDS = 300;

/** Extra seconds a stored key outlives the last token it can verify, for clock differences between instances. */
const STORAGE_MARGIN_SECONDS = 300;

/** A generated key as kept in storage (encrypted there like every other value). */
interface StoredSigningKey {
  kid: string;
  algorithm: AsymmetricAlgorithm;
  privateJwk: JsonWebKey;
  createdAt: number;
}

/** When generated keys rotate, in seconds. */
export interface RotationSchedule {
  algorithm: AsymmetricAlgorithm;
  /** Seconds each key signs; periods start at multiples of it since the Unix epoch, so every instance agrees on them. */
  periodSeconds: number;
  /** Lifetime of an access token: a key keeps verifying this long, plus the leeway, after it stops signing. */
  accessTokenTtl: number;
  leewaySeconds?: number;
}

/**
 * Builds the proxy's key set from the resolved `jwt` option: the HS256 keys derived from the
 * secret, the configured RS256/ES256 keys, or generated keys rotated through `storage`.
 */
export function createSigningKeySet(jwt: ResolvedJwtOptions, hmacKeys: readonly TokenKey[], storage: Storage, accessTokenTtl: number): AccessTokenKeySet {
  if (jwt.algorithm === "HS256") {
    return StaticKeySet.hmac(hmacKeys);
  }
  if (jwt.configuredKeys !== undefined) {
    const { current, next, older } = jwt.configuredKeys;
    return StaticKeySet.asymmetric(current, next, older);
  }
  return new RotatingKeySet(storage, { algorithm: jwt.algorithm, periodSeconds: jwt.rotationSeconds, accessTokenTtl });
}

/**
 * Generated RS256 or ES256 keys that rotate every period, shared by every instance through storage.
 *
 * Period `p` has its own storage key, written with `add()`, so the first instance to need a key
 * creates it and every other instance reads that one. Key `p` is published and accepted from the
 * start of period `p - 1` (as the next key), signs during period `p`, and keeps verifying until
 * the tokens it signed have expired.
 *
 * @example
 * const keys = new RotatingKeySet(storage, { algorithm: "ES256", periodSeconds: 30 * 86400, accessTokenTtl: 3600 });
 * const signingKey = await keys.signingKey();
 */
export class RotatingKeySet implements AccessTokenKeySet {
  readonly algorithm: AsymmetricAlgorithm;
  readonly #storage: Storage;
  readonly #period: number;
  readonly #retention: number;
  /** Key pairs by period index, as last loaded. */
  #keys = new Map<number, KeyPair>();
  /** Keys this instance held for a period whose stored key turned out to differ; they verify until their period's tokens expire. */
  #displaced: Array<{ period: number; pair: KeyPair }> = [];
  #loadedPeriod: number | undefined;
  #loading: Promise<void> | undefined;
  #lastLoadAt = Number.NEGATIVE_INFINITY;

  constructor(storage: Storage, schedule: RotationSchedule) {
    this.algorithm = schedule.algorithm;
    this.#storage = storage;
    this.#period = schedule.periodSeconds;
    this.#retention = schedule.accessTokenTtl + (schedule.leewaySeconds ?? DEFAULT_LEEWAY_SECONDS);
  }

  async signingKey(now = nowSeconds()): Promise<TokenKey> {
    await this.#prepare(now);
    const pair = this.#keys.get(this.#periodOf(now));
    if (pair === undefined) {
      throw new Error(`No signing key is loaded for ${this.algorithm} period ${this.#periodOf(now)}`);
    }
    return signingKeyOf(pair);
  }

  async verificationKey(kid: string | undefined, now = nowSeconds()): Promise<TokenKey | undefined> {
    if (kid === undefined) {
      return undefined;
    }

    await this.#prepare(now);
    let pair = this.#find(kid, now);
    // An unknown kid may come from a key another instance stored after this one loaded.
    if (pair === undefined && now - this.#lastLoadAt >= RELOAD_COOLDOWN_SECONDS) {
      debug("reload reason=unknown-kid");
      await this.#load(now);
      pair = this.#find(kid, now);
    }
    return pair === undefined ? undefined : verificationKeyOf(pair);
  }

  async publicKeys(now = nowSeconds()): Promise<PublicJwk[]> {
    await this.#prepare(now);
    return this.#usable(now)
      .sort((left, right) => right.period - left.period)
      .map(({ pair }) => pair.jwk);
  }

  #periodOf(now: number): number {
    return Math.floor(now / this.#period);
  }

  /** Whether key `period` is published and accepted at `now`: from one period before it signs until its last token expires. */
  #isUsable(period: number, now: number): boolean {
    return (period - 1) * this.#period <= now && now < (period + 1) * this.#period + this.#retention;
  }

  #usable(now: number): Array<{ period: number; pair: KeyPair }> {
    const loaded = [...this.#keys].map(([period, pair]) => ({ period, pair }));
    return [...loaded, ...this.#displaced].filter(({ period }) => this.#isUsable(period, now));
  }

  #find(kid: string, now: number): KeyPair | undefined {
    return this.#usable(now).find(({ pair }) => pair.kid === kid)?.pair;
  }

  /**
   * Makes sure the current period's key is loaded. Each load reaches two periods ahead, so after
   * a boundary the previous load already contains the new current and next keys. Requests go on
   * with them while the keys ahead load in the background, as they do during the reload every
   * `REFRESH_SECONDS`.
   *
   * NOTE: when the store loses a current key while instances run (eviction, flush), an instance
   * that starts next stores a new one. Until the others reload, up to `REFRESH_SECONDS` later,
   * tokens signed with the old key fail at the new instance and clients must refresh them.
   */
  async #prepare(now: number): Promise<void> {
    const period = this.#periodOf(now);
    if (this.#loadedPeriod === period && now - this.#lastLoadAt < REFRESH_SECONDS) {
      return;
    }
    if (!this.#keys.has(period)) {
      await this.#load(now);
      return;
    }
    if (this.#loading === undefined && now - this.#lastLoadAt >= RELOAD_COOLDOWN_SECONDS) {
      this.#load(now).catch((error: unknown) => {
        debug("background reload failed error=%s", error instanceof Error ? error.message : String(error));
      });
    }
  }

  /** Loads the keys around `now` from storage, one load at a time. */
  async #load(now: number): Promise<void> {
    while (this.#loading !== undefined) {
      await this.#loading.catch(() => undefined);
      if (this.#loadedPeriod === this.#periodOf(now)) {
        return;
      }
    }

    this.#loading = this.#loadOnce(now).finally(() => {
      this.#loading = undefined;
    });
    await this.#loading;
  }

  async #loadOnce(now: number): Promise<void> {
    this.#lastLoadAt = now;
    const current = this.#periodOf(now);
    const oldest = current - Math.ceil(this.#retention / this.#period);
    // Two periods ahead are loaded, so after a boundary the new next key is already in memory.
    const periods = Array.from({ length: current + 3 - oldest }, (_, index) => oldest + index);

    const loaded = await Promise.all(periods.map(async (period) => [period, await this.#loadPeriod(period, current, now)] as const));
    this.#keys = new Map(loaded.filter((entry): entry is readonly [number, KeyPair] => entry[1] !== undefined));
    this.#displaced = this.#displaced.filter(({ period }) => this.#isUsable(period, now));
    this.#loadedPeriod = current;
    debug("loaded algorithm=%s period=%d kids=%s", this.algorithm, current, [...this.#keys.values()].map((pair) => pair.kid).join(","));
  }

  /**
   * Returns the stored key of `period`. A missing key of the current or a later period is created,
   * or written back when this instance still has it, because a memory store may have evicted it.
   * A missing older key signed nothing and stays missing.
   */
  async #loadPeriod(period: number, current: number, now: number): Promise<KeyPair | undefined> {
    const name = this.#storageKey(period);
    const known = this.#keys.get(period);
    const stored = await this.#storage.get(name);
    if (stored !== undefined) {
      return this.#adopt(period, known, this.#readStored(name, stored));
    }
    if (known === undefined && period < current) {
      return undefined;
    }

    const candidate = known ?? await generateKeyPair(this.algorithm);
    const record: StoredSigningKey = { kid: candidate.kid, algorithm: this.algorithm, privateJwk: exportPrivateJwk(candidate), createdAt: now };
    const ttl = (period + 1) * this.#period + this.#retention - now + STORAGE_MARGIN_SECONDS;
    if (await this.#storage.add(name, record, ttl)) {
      debug("stored key=%s kid=%s reason=%s", name, candidate.kid, known === undefined ? "created" : "restored");
      return candidate;
    }

    const winner = await this.#storage.get(name);
    if (winner === undefined) {
      throw new Error(`The signing key ${name} exists in storage but cannot be read. Give every instance the same secret, or delete the key so it is generated again.`);
    }
    return this.#adopt(period, known, this.#readStored(name, winner));
  }

  /** Uses the stored key of a period; a different key this instance held for it keeps verifying what it signed. */
  #adopt(period: number, known: KeyPair | undefined, stored: KeyPair): KeyPair {
    if (known !== undefined && known.kid !== stored.kid) {
      debug("replaced period=%d kid=%s by kid=%s", period, known.kid, stored.kid);
      this.#displaced.push({ period, pair: known });
    }
    return stored;
  }

  #readStored(name: string, stored: unknown): KeyPair {
    const record = stored as Partial<StoredSigningKey> | null;
    if (typeof record !== "object" || record === null || typeof record.kid !== "string" || typeof record.privateJwk !== "object" || record.privateJwk === null) {
      throw new Error(`The signing key ${name} in storage is not a stored key record`);
    }
    const pair = importKeyPair({ key: record.privateJwk, kid: record.kid }, this.algorithm);
    if (pair.privateKey === undefined) {
      throw new Error(`The signing key ${name} in storage has no private key`);
    }
    return pair;
  }

  // The algorithm and period length are part of the name, so changing either starts a new series of keys.
  #storageKey(period: number): string {
    return `signing-key:${this.algorithm}:${this.#period}:${period}`;
  }
}
