import createDebug from "debug";

import { OptionError } from "../errors.js";
import type { Storage } from "./types.js";

const log = createDebug("mcp-oauth-proxy:storage");

/** Options for {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Maximum number of entries. Beyond it, the least recently used entry is evicted. Default 100000. */
  maxEntries?: number;
  /** Interval, in seconds, between sweeps that delete expired entries. Default 60. */
  sweepIntervalSeconds?: number;
  /** Clock in milliseconds since the epoch, which tests replace to move time forward. */
  now?: () => number;
}

interface StoredValue {
  /** The value itself when it is a string, else its JSON. */
  text: string;
  /**
   * Whether `text` is the stored string itself. Strings skip JSON because the proxy stores
   * every value as an encrypted string, and parsing a quoted copy of it cost a measurable
   * part of each `bearer()` check.
   */
  isString: boolean;
}

interface Entry extends StoredValue {
  /** Milliseconds since the epoch, or `Infinity` for no expiry. */
  expiresAt: number;
}

/**
 * Storage in the memory of one process, for development, tests and single-instance deployments.
 *
 * State is lost on restart and is not shared between processes. When the store is full, the
 * least recently used entry is evicted even if it has not expired, so a flood of writes can
 * end live grants.
 *
 * @example
 * const storage = new MemoryStore({ maxEntries: 10_000 });
 */
export class MemoryStore implements Storage {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #sweepTimer: ReturnType<typeof setInterval>;
  #evictedSinceSweep = 0;

  constructor({ maxEntries = 100_000, sweepIntervalSeconds = 60, now = () => Date.now() }: MemoryStoreOptions = {}) {
    requirePositiveInteger("maxEntries", maxEntries);
    requirePositiveInteger("sweepIntervalSeconds", sweepIntervalSeconds);
    if (typeof now !== "function") {
      throw new OptionError("now", now, "Pass a function that returns the time in milliseconds, or leave now unset.");
    }

    this.#maxEntries = maxEntries;
    this.#now = now;
    this.#sweepTimer = setInterval(() => this.#sweep(), sweepIntervalSeconds * 1000);
    // The sweep only frees memory, so it must not keep the process alive on its own.
    this.#sweepTimer.unref();
  }

  /** Number of entries held, including expired ones that no read or sweep has removed yet. */
  get size(): number {
    return this.#entries.size;
  }

  /** Returns the value stored under `key`, or `undefined` when absent or expired. */
  async get(key: string): Promise<unknown> {
    const entry = this.#read(key);
    if (entry === undefined) {
      return undefined;
    }

    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return decode(entry);
  }

  /** Stores `value` under `key`, replacing any previous value and its TTL. Without `ttlSeconds` the entry never expires. */
  async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    this.#write(key, serialize(key, value), this.#expiryFor(ttlSeconds));
  }

  /** Reads and deletes `key` in one synchronous step, so of concurrent calls only one gets the value. */
  async take(key: string): Promise<unknown> {
    const entry = this.#read(key);
    if (entry === undefined) {
      return undefined;
    }

    this.#entries.delete(key);
    return decode(entry);
  }

  /** Stores `value` only if `key` is absent or expired, and returns whether it was stored. */
  async add(key: string, value: unknown, ttlSeconds: number): Promise<boolean> {
    const stored = serialize(key, value);
    const expiresAt = this.#expiryFor(requireTtl(ttlSeconds));
    if (this.#read(key) !== undefined) {
      return false;
    }

    this.#write(key, stored, expiresAt);
    return true;
  }

  /** Increments the counter under `key` and returns the new count. The first increment sets the TTL and later ones leave it unchanged. */
  async increment(key: string, ttlSeconds: number): Promise<number> {
    const expiresAt = this.#expiryFor(requireTtl(ttlSeconds));
    const entry = this.#read(key);
    if (entry === undefined) {
      this.#write(key, { text: "1", isString: false }, expiresAt);
      return 1;
    }

    const count: unknown = decode(entry);
    if (typeof count !== "number" || !Number.isSafeInteger(count)) {
      throw new TypeError(`Cannot increment ${JSON.stringify(key)} because its value is not a counter. Use a separate key for counters.`);
    }

    this.#write(key, { text: String(count + 1), isString: false }, entry.expiresAt);
    return count + 1;
  }

  /** Deletes `key`. Deleting an absent key is not an error. */
  async delete(key: string): Promise<void> {
    this.#entries.delete(key);
  }

  /** Stops the sweep timer and drops every entry. */
  async close(): Promise<void> {
    clearInterval(this.#sweepTimer);
    this.#entries.clear();
  }

  /** Returns the live entry under `key`, deleting it first if it has expired. */
  #read(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      return undefined;
    }

    if (entry.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }

    return entry;
  }

  /** Inserts `key` as the most recently used entry, evicting the least recently used one when over the limit. */
  #write(key: string, stored: StoredValue, expiresAt: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { text: stored.text, isString: stored.isString, expiresAt });
    if (this.#entries.size <= this.#maxEntries) {
      return;
    }

    // A Map iterates in insertion order and every read re-inserts, so the first key is the least recently used.
    const oldest = this.#entries.keys().next();
    if (oldest.done !== true) {
      this.#entries.delete(oldest.value);
      this.#evictedSinceSweep += 1;
    }
  }

  #expiryFor(ttlSeconds: number | undefined): number {
    if (ttlSeconds === undefined) {
      return Infinity;
    }

    return this.#now() + requireTtl(ttlSeconds) * 1000;
  }

  #sweep(): void {
    const now = this.#now();
    let expired = 0;
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) {
        this.#entries.delete(key);
        expired += 1;
      }
    }

    // Evictions are counted here rather than logged one by one, because a full store evicts on every write.
    if (expired > 0 || this.#evictedSinceSweep > 0) {
      log("memory sweep expired=%d evicted=%d size=%d", expired, this.#evictedSinceSweep, this.#entries.size);
    }
    this.#evictedSinceSweep = 0;
  }
}

function requirePositiveInteger(option: string, value: unknown): asserts value is number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new OptionError(option, value, `Set MemoryStore's ${option} to a positive integer, or leave it unset for the default.`);
  }
}

function requireTtl(ttlSeconds: number): number {
  if (typeof ttlSeconds !== "number" || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError(`Invalid ttlSeconds ${String(ttlSeconds)}. Pass a positive number of seconds.`);
  }

  return ttlSeconds;
}

function serialize(key: string, value: unknown): StoredValue {
  if (typeof value === "string") {
    return { text: value, isString: true };
  }

  const json = JSON.stringify(value);
  if (json === undefined) {
    throw new TypeError(`Cannot store ${typeof value} under ${JSON.stringify(key)} because values must be JSON-serializable.`);
  }

  return { text: json, isString: false };
}

function decode(entry: StoredValue): unknown {
  return entry.isString ? entry.text : JSON.parse(entry.text);
}
