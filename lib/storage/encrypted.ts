import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from "node:crypto";
import type { KeyObject } from "node:crypto";

import createDebug from "debug";

import { OptionError } from "../errors.js";
import type { Storage } from "./types.js";

const log = createDebug("mcp-oauth-proxy:storage");

const FORMAT_PREFIX = "e1.";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID_PATTERN = /^[A-Za-z0-9_-]+$/;
/** Decrypted values kept for reuse; about 3.5 KB each for a grant with an ID token. */
const DECRYPTED_CACHE_ENTRIES = 1000;

/** AES-256 key for {@link EncryptedStore}, with the id written next to every value it encrypts. */
export interface EncryptionKey {
  /** Identifier made of letters, digits, `_` and `-`, stored in clear so the matching key can be found. */
  id: string;
  /** 32 random bytes. */
  key: Buffer;
}

/**
 * Storage wrapper that encrypts every value with AES-256-GCM before it reaches the inner store.
 *
 * The first key encrypts and every listed key decrypts, so keys rotate by putting a new key
 * first and dropping the old one once its values have expired. The storage key name is the
 * additional authenticated data, so a value copied under another key does not decrypt.
 * Counters from `increment` stay plain numbers.
 *
 * @example
 * const storage = new EncryptedStore(new MemoryStore(), [{ id: "2025-01", key: randomBytes(32) }]);
 */
export class EncryptedStore implements Storage {
  readonly encryptsValues = true;

  readonly #inner: Storage;
  readonly #encryptionKeyId: string;
  readonly #encryptionKey: KeyObject;
  readonly #keysById: ReadonlyMap<string, KeyObject>;
  /**
   * The plaintext JSON of recently read values by storage key, with the ciphertext it came
   * from. Every read still goes to the inner store, and the plaintext is reused only when the
   * stored ciphertext is exactly the one that was authenticated, so a deleted or changed value
   * is never served from here. It saves the AES-GCM work, which is most of the cost of a read.
   */
  readonly #decrypted = new Map<string, { stored: string; json: string }>();

  constructor(inner: Storage, keys: ReadonlyArray<EncryptionKey>) {
    this.#keysById = importKeys(keys);

    const encryptionKeyId = keys[0]?.id ?? "";
    const encryptionKey = this.#keysById.get(encryptionKeyId);
    if (encryptionKey === undefined) {
      throw new OptionError("keys", keys, "Pass an array with at least one { id, key } entry, the encrypting key first.");
    }

    this.#inner = inner;
    this.#encryptionKeyId = encryptionKeyId;
    this.#encryptionKey = encryptionKey;
  }

  /** Returns the decrypted value under `key`, or `undefined` when absent, expired or not decryptable. */
  async get(key: string): Promise<unknown> {
    const stored = await this.#inner.get(key);
    const cached = this.#decrypted.get(key);
    if (cached !== undefined && cached.stored === stored) {
      this.#decrypted.delete(key);
      this.#decrypted.set(key, cached);
      return JSON.parse(cached.json);
    }

    const json = this.#decryptJson(key, stored);
    if (json === undefined) {
      this.#decrypted.delete(key);
      return undefined;
    }
    this.#remember(key, stored as string, json);
    return JSON.parse(json);
  }

  /** Encrypts `value` and stores it under `key`. */
  async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    this.#decrypted.delete(key);
    await this.#inner.set(key, this.#encrypt(key, value), ttlSeconds);
  }

  /** Atomically reads, deletes and decrypts the value under `key`. */
  async take(key: string): Promise<unknown> {
    this.#decrypted.delete(key);
    const json = this.#decryptJson(key, await this.#inner.take(key));
    return json === undefined ? undefined : JSON.parse(json);
  }

  /** Encrypts `value` and stores it only if `key` is absent, and returns whether it was stored. */
  async add(key: string, value: unknown, ttlSeconds: number): Promise<boolean> {
    return this.#inner.add(key, this.#encrypt(key, value), ttlSeconds);
  }

  /** Increments the plain, unencrypted counter under `key` in the inner store. */
  async increment(key: string, ttlSeconds: number): Promise<number> {
    return this.#inner.increment(key, ttlSeconds);
  }

  /** Deletes `key` from the inner store. */
  async delete(key: string): Promise<void> {
    this.#decrypted.delete(key);
    await this.#inner.delete(key);
  }

  /** Closes the inner store. */
  async close(): Promise<void> {
    this.#decrypted.clear();
    await this.#inner.close?.();
  }

  #remember(key: string, stored: string, json: string): void {
    this.#decrypted.set(key, { stored, json });
    if (this.#decrypted.size > DECRYPTED_CACHE_ENTRIES) {
      const oldest = this.#decrypted.keys().next();
      if (oldest.done !== true) {
        this.#decrypted.delete(oldest.value);
      }
    }
  }

  #encrypt(key: string, value: unknown): string {
    const json = JSON.stringify(value);
    if (json === undefined) {
      throw new TypeError(`Cannot store ${typeof value} under ${JSON.stringify(key)} because values must be JSON-serializable.`);
    }

    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#encryptionKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(key, "utf8"));
    const ciphertext = Buffer.concat([cipher.update(json, "utf8"), cipher.final()]);
    const sealed = Buffer.concat([iv, ciphertext, cipher.getAuthTag()]);
    return `${FORMAT_PREFIX}${this.#encryptionKeyId}.${sealed.toString("base64url")}`;
  }

  /** Returns the plaintext JSON, or logs the key name and returns `undefined` when `stored` cannot be decrypted. */
  #decryptJson(key: string, stored: unknown): string | undefined {
    if (stored === undefined) {
      return undefined;
    }

    if (typeof stored !== "string" || !stored.startsWith(FORMAT_PREFIX)) {
      return rejectValue(key, "unknown_format");
    }

    const separator = stored.indexOf(".", FORMAT_PREFIX.length);
    const keyObject = separator === -1 ? undefined : this.#keysById.get(stored.slice(FORMAT_PREFIX.length, separator));
    if (keyObject === undefined) {
      return rejectValue(key, "unknown_key_id");
    }

    const sealed = Buffer.from(stored.slice(separator + 1), "base64url");
    if (sealed.length <= IV_BYTES + TAG_BYTES) {
      return rejectValue(key, "too_short");
    }

    const decipher = createDecipheriv("aes-256-gcm", keyObject, sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(key, "utf8"));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    let plaintext: Buffer;
    try {
      plaintext = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
    } catch {
      // GCM authentication fails alike for a tampered value, a wrong key and a value copied from another storage key.
      return rejectValue(key, "authentication_failed");
    }

    return plaintext.toString("utf8");
  }
}

/** Returns whether `store` encrypts values itself, so the proxy must not wrap it in another {@link EncryptedStore}. */
export function isEncryptingStore(store: Storage): boolean {
  return store.encryptsValues === true;
}

function importKeys(keys: ReadonlyArray<EncryptionKey>): Map<string, KeyObject> {
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new OptionError("keys", keys, "Pass an array with at least one { id, key } entry, the encrypting key first.");
  }

  const keysById = new Map<string, KeyObject>();
  for (const [index, entry] of keys.entries()) {
    const { id, key } = (entry ?? {}) as Partial<EncryptionKey>;
    if (typeof id !== "string" || !KEY_ID_PATTERN.test(id)) {
      throw new OptionError(`keys[${index}].id`, id, "Use a non-empty id made of letters, digits, '_' and '-'.");
    }

    if (keysById.has(id)) {
      throw new OptionError(`keys[${index}].id`, id, "Give every key a different id.");
    }

    // The message shows only the kind and size of the key, because a secret passed as a string would otherwise end up in logs.
    if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
      throw new OptionError(`keys[${index}].key`, "(redacted)", `Pass a Buffer of ${KEY_BYTES} random bytes instead of ${describeKeyMaterial(key)}, for example crypto.randomBytes(${KEY_BYTES}).`);
    }

    keysById.set(id, createSecretKey(key));
  }

  return keysById;
}

function describeKeyMaterial(key: unknown): string {
  if (Buffer.isBuffer(key)) {
    return `a ${key.length}-byte Buffer`;
  }

  if (key === undefined || key === null) {
    return "nothing";
  }

  return typeof key === "object" ? "an object" : `a ${typeof key}`;
}

function rejectValue(key: string, reason: string): undefined {
  log("decrypt failed key=%s reason=%s", key, reason);
  return undefined;
}
