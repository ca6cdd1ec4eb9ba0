import createDebug from "debug";
import session from "express-session";

import { hashKey } from "../core/random.js";
import { OptionError } from "../errors.js";
import type { Storage } from "./types.js";

const log = createDebug("mcp-oauth-proxy:storage");

type Callback<T = void> = (error: unknown, value?: T) => void;

/** Options for {@link StorageSessionStore}. */
export interface StorageSessionStoreOptions {
  /** Prefix of every storage key the store writes. Default `"browser:"`. */
  prefix?: string;
  /** Lifetime, in seconds, of a session whose cookie has no expiry. Default 900. */
  defaultTtlSeconds?: number;
}

/**
 * express-session store that keeps browser sessions in a {@link Storage}, so they live next to the rest of the proxy's state.
 *
 * @example
 * app.use(session({ store: new StorageSessionStore(storage), secret, resave: false, saveUninitialized: false }));
 */
export class StorageSessionStore extends session.Store {
  readonly #storage: Storage;
  readonly #prefix: string;
  readonly #defaultTtlSeconds: number;

  constructor(storage: Storage, { prefix = "browser:", defaultTtlSeconds = 900 }: StorageSessionStoreOptions = {}) {
    super();

    if (typeof prefix !== "string") {
      throw new OptionError("prefix", prefix, "Set the session store's prefix to a string such as \"browser:\".");
    }

    if (typeof defaultTtlSeconds !== "number" || !Number.isSafeInteger(defaultTtlSeconds) || defaultTtlSeconds < 1) {
      throw new OptionError("defaultTtlSeconds", defaultTtlSeconds, "Set the session store's defaultTtlSeconds to a positive integer number of seconds.");
    }

    this.#storage = storage;
    this.#prefix = prefix;
    this.#defaultTtlSeconds = defaultTtlSeconds;
  }

  /** Loads the session `sid` and passes it, or `null` when absent, to `callback`. */
  override get(sid: string, callback: Callback<session.SessionData | null>): void {
    settle("get", this.#load(sid), callback);
  }

  /** Stores the session `sid` until its cookie expires. */
  override set(sid: string, sess: session.SessionData, callback?: Callback): void {
    settle("set", this.#save(sid, sess), callback);
  }

  /** Deletes the session `sid`. */
  override destroy(sid: string, callback?: Callback): void {
    settle("destroy", this.#remove(sid), callback);
  }

  /** Restarts the lifetime of the session `sid` by storing it again with the TTL of its refreshed cookie. */
  override touch(sid: string, sess: session.SessionData, callback?: Callback): void {
    settle("touch", this.#save(sid, sess), callback);
  }

  async #load(sid: string): Promise<session.SessionData | null> {
    const key = this.#key(sid);
    const stored = await this.#storage.get(key);
    if (stored === undefined) {
      return null;
    }

    // express-session rebuilds the cookie from `cookie` and throws if it is missing.
    if (!isRecord(stored) || !isRecord(stored.cookie)) {
      log("session ignored key=%s reason=not_a_session", key);
      return null;
    }

    return stored as unknown as session.SessionData;
  }

  async #save(sid: string, sess: session.SessionData): Promise<void> {
    // The JSON round trip drops the Cookie class and the session's methods, leaving data any adapter can store.
    const data: unknown = JSON.parse(JSON.stringify(sess));
    await this.#storage.set(this.#key(sid), data, this.#ttlSeconds(sess));
  }

  async #remove(sid: string): Promise<void> {
    await this.#storage.delete(this.#key(sid));
  }

  /** Hashing keeps live session ids out of the storage, so reading its keys yields no usable cookie. */
  #key(sid: string): string {
    return this.#prefix + hashKey(sid);
  }

  #ttlSeconds(sess: session.SessionData): number {
    const cookie: Partial<session.Cookie> | undefined = sess.cookie;
    let milliseconds: number;
    if (cookie?.expires !== undefined && cookie.expires !== null) {
      milliseconds = new Date(cookie.expires).getTime() - Date.now();
    } else if (typeof cookie?.maxAge === "number") {
      milliseconds = cookie.maxAge;
    } else {
      return this.#defaultTtlSeconds;
    }

    // An expiry in the past or an invalid date still stores the session briefly, because storage TTLs must be positive.
    return Number.isFinite(milliseconds) ? Math.max(1, Math.ceil(milliseconds / 1000)) : 1;
  }
}

/** Calls `callback` once with the outcome of `promise`, passing a storage failure as its error argument instead of throwing it. */
function settle<T>(operation: string, promise: Promise<T>, callback: Callback<T> | undefined): void {
  promise.then(
    (value) => callback?.(null, value),
    (error: unknown) => {
      if (callback === undefined) {
        // Only the error name is logged, because an adapter's message may quote the stored value.
        log("session %s failed without a callback error=%s", operation, error instanceof Error ? error.name : typeof error);
        return;
      }

      callback(error);
    },
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
